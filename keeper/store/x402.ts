/**
 * x402 settlements (table x402_settlements, migration "x402" in db.ts): the durable record of every
 * x402 payment the keeper tried to settle, keyed by the payment itself, so that one payment moves
 * money at most once whatever happens to the request that carried it (retries, two requests at
 * once, a client timeout, a keeper restart between sending and confirming).
 */
import { DB, now } from "./db";

export type SettlementState = "pending" | "settled" | "failed" | "credited";

export interface SettlementRow {
  payment_key: string;
  rail: "svm" | "evm";
  network: string;
  job_id: string;
  service: string;
  request_hash: string;
  payer: string;
  asset: string;
  amount: string;
  payload_hash: string;
  payment_id: string | null;
  state: SettlementState;
  tx_signature: string | null;
  valid_until: number | null;
  error: string | null;
  created_at: number;
  updated_at: number;
}

export type NewSettlement = Omit<SettlementRow, "state" | "error" | "created_at" | "updated_at">;

export const settlementByKey = (db: DB, key: string): SettlementRow | undefined =>
  db.prepare("SELECT * FROM x402_settlements WHERE payment_key = ?").get(key) as SettlementRow | undefined;

export const settlementByJob = (db: DB, jobId: string): SettlementRow | undefined =>
  db.prepare("SELECT * FROM x402_settlements WHERE job_id = ?").get(jobId) as SettlementRow | undefined;

export const settlementByPaymentId = (db: DB, id: string): SettlementRow | undefined =>
  db.prepare("SELECT * FROM x402_settlements WHERE payment_id = ?").get(id) as SettlementRow | undefined;

export const settlementsInState = (db: DB, state: SettlementState): SettlementRow[] =>
  db.prepare("SELECT * FROM x402_settlements WHERE state = ? ORDER BY created_at").all(state) as SettlementRow[];

/**
 * Inserts a pending settlement. Returns the row that holds the payment, the job or the payment id
 * when one already exists (the caller decides what that means); undefined when this one was inserted.
 */
export function insertPendingSettlement(db: DB, s: NewSettlement): SettlementRow | undefined {
  return db.transaction(() => {
    const clash =
      settlementByKey(db, s.payment_key) ?? settlementByJob(db, s.job_id) ?? (s.payment_id ? settlementByPaymentId(db, s.payment_id) : undefined);
    if (clash) return clash;
    const t = now();
    db.prepare(
      `INSERT INTO x402_settlements (payment_key, rail, network, job_id, service, request_hash, payer, asset, amount, payload_hash, payment_id, state, tx_signature, valid_until, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)`,
    ).run(s.payment_key, s.rail, s.network, s.job_id, s.service, s.request_hash, s.payer, s.asset, s.amount, s.payload_hash, s.payment_id, s.tx_signature, s.valid_until, t, t);
    return undefined;
  })();
}

/** Moves a settlement out of 'pending' (only from 'pending': a decided outcome never changes). */
export function decideSettlement(db: DB, key: string, state: Exclude<SettlementState, "pending">, f: { txSignature?: string | null; error?: string | null } = {}): boolean {
  const r = db
    .prepare("UPDATE x402_settlements SET state = ?, tx_signature = COALESCE(?, tx_signature), error = ?, updated_at = ? WHERE payment_key = ? AND state = 'pending'")
    .run(state, f.txSignature ?? null, f.error ?? null, now(), key);
  return r.changes === 1;
}

/** The transaction a pending settlement is about to send (stored before it is sent: a crash then finds it). */
export function setSettlementTx(db: DB, key: string, txSignature: string): boolean {
  return db.prepare("UPDATE x402_settlements SET tx_signature = ?, updated_at = ? WHERE payment_key = ? AND state = 'pending'").run(txSignature, now(), key).changes === 1;
}

/** A settled payment whose job never ran, credited to the payer's balance instead (in the caller's transaction). */
export function markSettlementCredited(db: DB, key: string): boolean {
  return db.prepare("UPDATE x402_settlements SET state = 'credited', updated_at = ? WHERE payment_key = ? AND state IN ('settled', 'pending')").run(now(), key).changes === 1;
}
