/**
 * Auto-renewal state per session (table auto_renewals, migration "auto-renewal"), written only from
 * the chain's events and from the outcome of the keeper's own `renew` actions, plus the few reads of
 * the outbox that renewal scheduling and the treasury sweep need.
 */
import { DB, getMeta, now, setMeta } from "./db";

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

export function getAutoRenewal(db: DB, instanceId: string): AutoRenewalRow | undefined {
  return db.prepare("SELECT * FROM auto_renewals WHERE instance_id = ?").get(instanceId) as AutoRenewalRow | undefined;
}

/** AutoRenewalSet: new terms replace the old ones; the last failure is history, kept until a new one. */
export function setAutoRenewal(db: DB, instanceId: string, t: { period: number; maxPerRenewal: string; budget: string; setBy: string }): void {
  db.prepare(
    `INSERT INTO auto_renewals (instance_id, period, max_per_renewal, budget_left, enabled, set_by, updated_at)
     VALUES (?, ?, ?, ?, 1, ?, ?)
     ON CONFLICT (instance_id) DO UPDATE SET period = excluded.period, max_per_renewal = excluded.max_per_renewal,
       budget_left = excluded.budget_left, enabled = 1, set_by = excluded.set_by, updated_at = excluded.updated_at`,
  ).run(instanceId, t.period, t.maxPerRenewal, t.budget, t.setBy, now());
}

/** AutoRenewalStopped. */
export function stopAutoRenewal(db: DB, instanceId: string): void {
  db.prepare("UPDATE auto_renewals SET enabled = 0, updated_at = ? WHERE instance_id = ?").run(now(), instanceId);
}

/** SessionRenewed: the budget left is the chain's figure. */
export function recordRenewal(db: DB, instanceId: string, r: { cost: string; newEndTime: number; budgetLeft: string }): void {
  db.prepare(
    `UPDATE auto_renewals SET renewals = renewals + 1, budget_left = ?, last_cost = ?, last_renewed_at = ?, updated_at = ?
     WHERE instance_id = ?`,
  ).run(r.budgetLeft, r.cost, r.newEndTime, now(), instanceId);
}

/**
 * A renewal that did not happen. `disable`: the chain turned renewal off (RenewalFailed); a renew the
 * keeper could not send (RenewalTooEarly, say) only records why, the session then ends normally.
 */
export function recordRenewalFailure(db: DB, instanceId: string, reason: string, disable: boolean): void {
  db.prepare(
    `UPDATE auto_renewals SET last_failure = ?, last_failure_at = ?, enabled = CASE WHEN ? THEN 0 ELSE enabled END, updated_at = ?
     WHERE instance_id = ?`,
  ).run(reason, now(), disable ? 1 : 0, now(), instanceId);
}

export interface RenewalListRow extends AutoRenewalRow {
  state: string;
  ends_at: number | null;
}

/** Every session with auto-renewal terms, with its state and end (for `keeper status` / `sessions`). */
export function listAutoRenewals(db: DB): RenewalListRow[] {
  return db
    .prepare("SELECT r.*, s.state, s.ends_at FROM auto_renewals r JOIN sessions s USING (instance_id) ORDER BY s.ends_at")
    .all() as RenewalListRow[];
}

// ------------------------------------------------------------ outbox reads

export interface ActionStateRow {
  state: "queued" | "sent" | "mined" | "reverted" | "skipped";
  mined_block: number | null;
  error: string | null;
}

export function actionByKey(db: DB, key: string): ActionStateRow | undefined {
  return db.prepare("SELECT state, mined_block, error FROM actions WHERE idempotency_key = ?").get(key) as ActionStateRow | undefined;
}

/** Actions of `kind` not settled yet (queued or sent). */
export function unsettledActions(db: DB, kind: string): number {
  return (db.prepare("SELECT count(*) n FROM actions WHERE kind = ? AND state IN ('queued', 'sent')").get(kind) as { n: number }).n;
}

/** Events of a session ingested but not applied yet, up to `block`. */
export function unappliedEvents(db: DB, instanceId: string, block: number): number {
  return (db.prepare("SELECT count(*) n FROM events WHERE instance_id = ? AND status = 'new' AND block_number <= ?").get(instanceId, block) as { n: number }).n;
}

/** Last block the event reader ingested (-1: none). */
export function ingestedUpTo(db: DB): number {
  return Number(getMeta(db, "cursor.block") ?? -1);
}

// ------------------------------------------------------------ treasury sweep

const SWEEP_BLOCK = "sweep.lastBlock";

export function lastSweepBlock(db: DB): number | undefined {
  const v = getMeta(db, SWEEP_BLOCK);
  return v === undefined ? undefined : Number(v);
}

export function setLastSweepBlock(db: DB, block: number): void {
  setMeta(db, SWEEP_BLOCK, String(block));
}
