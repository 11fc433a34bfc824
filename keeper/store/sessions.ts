/**
 * Sessions (table sessions), their history (session_transitions) and the workloads left behind by
 * payments reorged out of the chain (orphaned_workloads). The state machine that writes them is
 * keeper/sessions/lifecycle.ts; each method here is one of its moves.
 */
import type { Unit } from "./unit";
import { now } from "./db";

export type SessionState = "requested" | "provisioning" | "running" | "renewing" | "ending" | "ended" | "failed" | "refunded";

export interface SessionRow {
  instance_id: string;
  agent: string;
  provider_id: number;
  provider: string | null;
  state: SessionState;
  duration: number;
  deposited: string;
  claimed: string;
  refunded: string;
  config: string;
  ends_at: number | null;
  ended_on_chain: number;
  workload_stopped: number;
  last_claim_at: number | null;
  next_attempt_at: number;
  workload_ref: string | null;
  attempts: number;
  last_error: string | null;
  started_block: number;
  start_tx: string;
  workload_key: string;
  created_at: number;
  updated_at: number;
}

export interface NewSession {
  instanceId: string;
  agent: string;
  providerId: number;
  duration: number;
  deposited: string;
  config: string;
  startedBlock: number;
  startTx: string;
  workloadKey: string;
}

export interface RetiredWorkload {
  workload_key: string;
  provider_id: number;
  provider: string | null;
}

export class SessionsRepo {
  constructor(private readonly unit: Unit) {}

  get(instanceId: string): Promise<SessionRow | undefined> {
    return this.unit.run((db) => db.prepare("SELECT * FROM sessions WHERE instance_id = ?").get(instanceId) as SessionRow | undefined);
  }

  /** Every session, oldest first. */
  all(): Promise<SessionRow[]> {
    return this.unit.run((db) => db.prepare("SELECT * FROM sessions ORDER BY created_at").all() as SessionRow[]);
  }

  /** Sessions in one of `states` whose next attempt is due, oldest first. */
  due(states: readonly SessionState[]): Promise<SessionRow[]> {
    return this.unit.run(
      (db) =>
        db
          .prepare(
            `SELECT * FROM sessions WHERE state IN (${states.map(() => "?").join(",")}) AND next_attempt_at <= ? ORDER BY created_at`,
          )
          .all(...states, now()) as SessionRow[],
    );
  }

  countByState(): Promise<{ state: string; n: number }[]> {
    return this.unit.run(
      (db) => db.prepare("SELECT state, count(*) n FROM sessions GROUP BY state").all() as { state: string; n: number }[],
    );
  }

  /** SessionStarted: a new session, `requested`. */
  create(s: NewSession): Promise<void> {
    return this.unit.run((db) => {
      const t = now();
      db.prepare(
        `INSERT INTO sessions (instance_id, agent, provider_id, state, duration, deposited, config, started_block, start_tx, workload_key, created_at, updated_at)
         VALUES (?, ?, ?, 'requested', ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(s.instanceId, s.agent, s.providerId, s.duration, s.deposited, s.config, s.startedBlock, s.startTx, s.workloadKey, t, t);
    });
  }

  /** The session's payment is gone from the chain (its id reused by another after a deep reorg). */
  forget(instanceId: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("DELETE FROM sessions WHERE instance_id = ?").run(instanceId);
    });
  }

  /** The payment was mined again after a reorg had dropped it: the session is to be served again. */
  revive(instanceId: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE sessions SET last_error = NULL, workload_stopped = 0, updated_at = ? WHERE instance_id = ?").run(
        now(),
        instanceId,
      );
    });
  }

  /** SessionActivated: paid time runs until `endsAt`. */
  activate(instanceId: string, endsAt: number): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE sessions SET ends_at = ?, updated_at = ? WHERE instance_id = ?").run(endsAt, now(), instanceId);
    });
  }

  /** SessionExtended: more time paid; the end moves only once the session is active (has one). */
  extend(instanceId: string, e: { additional: number; deposited: string; newEndTime: number }): Promise<void> {
    return this.unit.run((db) => {
      db.prepare(
        "UPDATE sessions SET duration = duration + ?, deposited = ?, ends_at = CASE WHEN ends_at IS NULL THEN NULL ELSE ? END, updated_at = ? WHERE instance_id = ?",
      ).run(e.additional, e.deposited, e.newEndTime, now(), instanceId);
    });
  }

  /** SessionRenewed: another period paid, the end moves. */
  renew(instanceId: string, r: { period: number; deposited: string; newEndTime: number }): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE sessions SET duration = duration + ?, deposited = ?, ends_at = ?, updated_at = ? WHERE instance_id = ?").run(
        r.period,
        r.deposited,
        r.newEndTime,
        now(),
        instanceId,
      );
    });
  }

  /** EscrowClaimed: the treasury's total claimed so far. */
  setClaimed(instanceId: string, claimed: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE sessions SET claimed = ?, updated_at = ? WHERE instance_id = ?").run(claimed, now(), instanceId);
    });
  }

  /** SessionEnded: the escrow is settled. */
  endOnChain(instanceId: string, claimed: string, refunded: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE sessions SET ended_on_chain = 1, claimed = ?, refunded = ?, updated_at = ? WHERE instance_id = ?").run(
        claimed,
        refunded,
        now(),
        instanceId,
      );
    });
  }

  setState(instanceId: string, to: SessionState): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE sessions SET state = ?, updated_at = ? WHERE instance_id = ?").run(to, now(), instanceId);
    });
  }

  recordTransition(instanceId: string, from: SessionState | null, to: SessionState, reason: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("INSERT INTO session_transitions (instance_id, from_state, to_state, reason, at) VALUES (?, ?, ?, ?, ?)").run(
        instanceId,
        from,
        to,
        reason,
        now(),
      );
    });
  }

  /** A step failed: try again at `at` (unix seconds; 0: on the next pass), remembering why. */
  retryAt(instanceId: string, at: number, error: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE sessions SET next_attempt_at = ?, last_error = ? WHERE instance_id = ?").run(at, error, instanceId);
    });
  }

  /** One more provisioning call is about to be made. */
  countAttempt(instanceId: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE sessions SET attempts = attempts + 1 WHERE instance_id = ?").run(instanceId);
    });
  }

  /** The session runs (or is to run) on `provider`. */
  assignProvider(instanceId: string, provider: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE sessions SET provider = ?, updated_at = ? WHERE instance_id = ?").run(provider, now(), instanceId);
    });
  }

  /** The provider lost the workload; the session moves to `provider`, to be provisioned there next pass. */
  moveToProvider(instanceId: string, provider: string, error: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare(
        "UPDATE sessions SET provider = ?, workload_ref = NULL, next_attempt_at = 0, last_error = ?, updated_at = ? WHERE instance_id = ?",
      ).run(provider, error, now(), instanceId);
    });
  }

  /** The provider runs the workload, known to it as `ref`. */
  markProvisioned(instanceId: string, ref: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE sessions SET workload_ref = ?, last_error = NULL, updated_at = ? WHERE instance_id = ?").run(
        ref,
        now(),
        instanceId,
      );
    });
  }

  markWorkloadStopped(instanceId: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE sessions SET workload_stopped = 1, updated_at = ? WHERE instance_id = ?").run(now(), instanceId);
    });
  }

  /** The workload is stopped (or never to start) for `reason`. */
  stopWorkload(instanceId: string, reason: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE sessions SET last_error = ?, workload_stopped = 1, updated_at = ? WHERE instance_id = ?").run(
        reason,
        now(),
        instanceId,
      );
    });
  }

  markClaimRequested(instanceId: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE sessions SET last_claim_at = ? WHERE instance_id = ?").run(now(), instanceId);
    });
  }

  /** A workload whose payment is off the chain: to be terminated (once; idempotent on its key). */
  retireWorkload(s: Pick<SessionRow, "workload_key" | "provider_id" | "provider">, reason: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare(
        "INSERT INTO orphaned_workloads (workload_key, provider_id, reason, provider) VALUES (?, ?, ?, ?) ON CONFLICT (workload_key) DO NOTHING",
      ).run(s.workload_key, s.provider_id, reason, s.provider);
    });
  }

  /** Retired workloads not terminated yet. */
  retiredWorkloads(): Promise<RetiredWorkload[]> {
    return this.unit.run(
      (db) => db.prepare("SELECT workload_key, provider_id, provider FROM orphaned_workloads WHERE done = 0").all() as RetiredWorkload[],
    );
  }

  markRetiredWorkloadTerminated(workloadKey: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE orphaned_workloads SET done = 1 WHERE workload_key = ?").run(workloadKey);
    });
  }
}
