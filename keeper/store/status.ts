/**
 * Read-only views of the keeper's sessions for operators and auditors: what `keeper status`,
 * `keeper sessions` and `keeper audit` show. Nothing here writes; the tables belong to the
 * lifecycle, the outbox and failover, which keep them.
 */
import type { Unit } from "./unit";

export interface StateCount {
  state: string;
  n: number;
}

export interface ProviderHealthRow {
  provider: string;
  consecutive_failures: number;
  unhealthy_until: number;
  last_error: string | null;
}

/** One line of `keeper sessions`. */
export interface SessionListRow {
  instance_id: string;
  agent: string;
  provider: string | null;
  state: string;
  duration: number;
  deposited: string;
  claimed: string;
  refunded: string;
  ends_at: number | null;
  workload_ref: string | null;
  last_error: string | null;
}

/** What the audit compares with the chain's events, per session. */

export class StatusRepo {
  constructor(private readonly unit: Unit) {}

  sessionsByState(): Promise<StateCount[]> {
    return this.unit.run((db) => db.prepare("SELECT state, count(*) n FROM sessions GROUP BY state ORDER BY state").all() as StateCount[]);
  }

  /** The outbox of chain transactions, counted by state (queued, sent, mined, ...). */
  actionsByState(): Promise<StateCount[]> {
    return this.unit.run((db) => db.prepare("SELECT state, count(*) n FROM actions GROUP BY state ORDER BY state").all() as StateCount[]);
  }

  providerHealth(): Promise<ProviderHealthRow[]> {
    return this.unit.run(
      (db) =>
        db
          .prepare("SELECT provider, consecutive_failures, unhealthy_until, last_error FROM provider_health ORDER BY provider")
          .all() as ProviderHealthRow[],
    );
  }

  /** Sessions, newest first; `agent` matches in any letter case, `state` exactly. */
  sessions(filter: { agent?: string; state?: string } = {}): Promise<SessionListRow[]> {
    const agent = filter.agent ?? null;
    const state = filter.state ?? null;
    return this.unit.run(
      (db) =>
        db
          .prepare(
            `SELECT instance_id, agent, provider, state, duration, deposited, claimed, refunded, ends_at, workload_ref, last_error
             FROM sessions WHERE (? IS NULL OR lower(agent) = lower(?)) AND (? IS NULL OR state = ?) ORDER BY created_at DESC`,
          )
          .all(agent, agent, state, state) as SessionListRow[],
    );
  }
}
