/**
 * Auto-renewal state per session (table auto_renewals, migration "auto-renewal"), written only from
 * the chain's events and from the outcome of the keeper's own `renew` actions.
 */
import type { Unit } from "./unit";
import { now } from "./db";

export interface AutoRenewalRow {
  instance_id: string;
  period: number;
  max_per_renewal: string;
  budget_left: string;
  enabled: number;
  set_by: string | null;
  renewals: number;
  last_renewed_at: number | null;
  last_cost: string | null;
  last_failure: string | null;
  last_failure_at: number | null;
  updated_at: number;
}

export interface RenewalListRow extends AutoRenewalRow {
  state: string;
  ends_at: number | null;
}

export class AutoRenewalRepo {
  constructor(private readonly unit: Unit) {}

  get(instanceId: string): Promise<AutoRenewalRow | undefined> {
    return this.unit.run(
      (db) => db.prepare("SELECT * FROM auto_renewals WHERE instance_id = ?").get(instanceId) as AutoRenewalRow | undefined,
    );
  }

  /** AutoRenewalSet: new terms replace the old ones; the last failure is history, kept until a new one. */
  set(instanceId: string, t: { period: number; maxPerRenewal: string; budget: string; setBy: string }): Promise<void> {
    return this.unit.run((db) => {
      db.prepare(
        `INSERT INTO auto_renewals (instance_id, period, max_per_renewal, budget_left, enabled, set_by, updated_at)
         VALUES (?, ?, ?, ?, 1, ?, ?)
         ON CONFLICT (instance_id) DO UPDATE SET period = excluded.period, max_per_renewal = excluded.max_per_renewal,
           budget_left = excluded.budget_left, enabled = 1, set_by = excluded.set_by, updated_at = excluded.updated_at`,
      ).run(instanceId, t.period, t.maxPerRenewal, t.budget, t.setBy, now());
    });
  }

  /** AutoRenewalStopped. */
  stop(instanceId: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE auto_renewals SET enabled = 0, updated_at = ? WHERE instance_id = ?").run(now(), instanceId);
    });
  }

  /** SessionRenewed: the budget left is the chain's figure. */
  recordRenewal(instanceId: string, r: { cost: string; newEndTime: number; budgetLeft: string }): Promise<void> {
    return this.unit.run((db) => {
      db.prepare(
        `UPDATE auto_renewals SET renewals = renewals + 1, budget_left = ?, last_cost = ?, last_renewed_at = ?, updated_at = ?
         WHERE instance_id = ?`,
      ).run(r.budgetLeft, r.cost, r.newEndTime, now(), instanceId);
    });
  }

  /**
   * A renewal that did not happen. `disable`: the chain turned renewal off (RenewalFailed); a renew the
   * keeper could not send (RenewalTooEarly, say) only records why, the session then ends normally.
   */
  recordFailure(instanceId: string, reason: string, disable: boolean): Promise<void> {
    return this.unit.run((db) => {
      db.prepare(
        `UPDATE auto_renewals SET last_failure = ?, last_failure_at = ?, enabled = CASE WHEN ? THEN 0 ELSE enabled END, updated_at = ?
         WHERE instance_id = ?`,
      ).run(reason, now(), disable ? 1 : 0, now(), instanceId);
    });
  }

  /** Every session with auto-renewal terms, with its state and end (for `keeper status` / `sessions`). */
  list(): Promise<RenewalListRow[]> {
    return this.unit.run(
      (db) =>
        db
          .prepare("SELECT r.*, s.state, s.ends_at FROM auto_renewals r JOIN sessions s USING (instance_id) ORDER BY s.ends_at")
          .all() as RenewalListRow[],
    );
  }
}
