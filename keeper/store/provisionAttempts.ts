/**
 * Provisioning attempts (table provision_attempts): one row per provider a session was tried on, with
 * its deadline and, once it stops, what the keeper owes that provider. Written by sessions/failover.ts.
 */
import type { Unit } from "./unit";
import { now } from "./db";

export interface AttemptRow {
  instance_id: string;
  seq: number;
  provider: string;
  state: "provisioning" | "running" | "failed" | "stopped";
  price_per_hour: string;
  started_at: number;
  deadline_at: number;
  running_at: number | null;
  stopped_at: number | null;
  cost: string | null;
  bridge_transfer_id: number | null;
  tries: number;
  error: string | null;
}

export class ProvisionAttemptsRepo {
  constructor(private readonly unit: Unit) {}

  /** The session's latest attempt. */
  current(instanceId: string): Promise<AttemptRow | undefined> {
    return this.unit.run(
      (db) =>
        db.prepare("SELECT * FROM provision_attempts WHERE instance_id = ? ORDER BY seq DESC LIMIT 1").get(instanceId) as
          AttemptRow | undefined,
    );
  }

  /** Providers the session was tried on. */
  providersTried(instanceId: string): Promise<Set<string>> {
    return this.unit.run((db) => {
      const rows = db.prepare("SELECT provider FROM provision_attempts WHERE instance_id = ?").all(instanceId) as { provider: string }[];
      return new Set(rows.map((r) => r.provider));
    });
  }

  /** Every attempt, by session then in order. */
  all(): Promise<AttemptRow[]> {
    return this.unit.run((db) => db.prepare("SELECT * FROM provision_attempts ORDER BY instance_id, seq").all() as AttemptRow[]);
  }

  /** Starts the session's next attempt on `provider`, due within `deadlineSeconds`; returns it. */
  begin(instanceId: string, provider: string, pricePerHour: bigint, deadlineSeconds: number): Promise<AttemptRow> {
    return this.unit.run((db) => {
      const t = now();
      const last = db.prepare("SELECT max(seq) m FROM provision_attempts WHERE instance_id = ?").get(instanceId) as { m: number | null };
      db.prepare(
        "INSERT INTO provision_attempts (instance_id, seq, provider, state, price_per_hour, started_at, deadline_at) VALUES (?, ?, ?, 'provisioning', ?, ?, ?)",
      ).run(instanceId, (last.m ?? 0) + 1, provider, pricePerHour.toString(), t, t + deadlineSeconds);
      return db.prepare("SELECT * FROM provision_attempts WHERE instance_id = ? ORDER BY seq DESC LIMIT 1").get(instanceId) as AttemptRow;
    });
  }

  countTry(a: Pick<AttemptRow, "instance_id" | "seq">): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE provision_attempts SET tries = tries + 1 WHERE instance_id = ? AND seq = ?").run(a.instance_id, a.seq);
    });
  }

  markRunning(a: Pick<AttemptRow, "instance_id" | "seq">): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE provision_attempts SET state = 'running', running_at = ?, error = NULL WHERE instance_id = ? AND seq = ?").run(
        now(),
        a.instance_id,
        a.seq,
      );
    });
  }

  /** Ends an attempt still provisioning or running, with what it cost (no-op once ended). */
  stop(
    a: Pick<AttemptRow, "instance_id" | "seq">,
    state: "failed" | "stopped",
    at: number,
    cost: bigint,
    error: string | undefined,
  ): Promise<void> {
    return this.unit.run((db) => {
      db.prepare(
        "UPDATE provision_attempts SET state = ?, stopped_at = ?, cost = ?, error = COALESCE(?, error) WHERE instance_id = ? AND seq = ? AND state IN ('provisioning', 'running')",
      ).run(state, at, cost.toString(), error ?? null, a.instance_id, a.seq);
    });
  }
}
