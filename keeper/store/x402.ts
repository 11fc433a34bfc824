/**
 * x402 settlements (table x402_settlements, migration "x402" in db.ts): the durable record of every
 * x402 payment the keeper tried to settle, keyed by the payment itself, so that one payment moves
 * money at most once whatever happens to the request that carried it (retries, two requests at
 * once, a client timeout, a keeper restart between sending and confirming).
 */
import { now, type DB } from "./db";
import type { Unit } from "./unit";

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

const byKey = (db: DB, key: string): SettlementRow | undefined =>
  db.prepare("SELECT * FROM x402_settlements WHERE payment_key = ?").get(key) as SettlementRow | undefined;
const byJob = (db: DB, jobId: string): SettlementRow | undefined =>
  db.prepare("SELECT * FROM x402_settlements WHERE job_id = ?").get(jobId) as SettlementRow | undefined;
const byPaymentId = (db: DB, id: string): SettlementRow | undefined =>
  db.prepare("SELECT * FROM x402_settlements WHERE payment_id = ?").get(id) as SettlementRow | undefined;

export class X402Repo {
  constructor(private readonly unit: Unit) {}

  byKey(key: string): Promise<SettlementRow | undefined> {
    return this.unit.run((db) => byKey(db, key));
  }

  byJob(jobId: string): Promise<SettlementRow | undefined> {
    return this.unit.run((db) => byJob(db, jobId));
  }

  byPaymentId(id: string): Promise<SettlementRow | undefined> {
    return this.unit.run((db) => byPaymentId(db, id));
  }

  inState(state: SettlementState): Promise<SettlementRow[]> {
    return this.unit.run(
      (db) => db.prepare("SELECT * FROM x402_settlements WHERE state = ? ORDER BY created_at").all(state) as SettlementRow[],
    );
  }

  /**
   * Inserts a pending settlement. Returns the row that holds the payment, the job or the payment id
   * when one already exists (the caller decides what that means); undefined when this one was
   * inserted. The check and the insert are one `run`: two requests cannot both insert.
   */
  insertPending(s: NewSettlement): Promise<SettlementRow | undefined> {
    return this.unit.run((db) => {
      const clash = byKey(db, s.payment_key) ?? byJob(db, s.job_id) ?? (s.payment_id ? byPaymentId(db, s.payment_id) : undefined);
      if (clash) return clash;
      const t = now();
      db.prepare(
        `INSERT INTO x402_settlements (payment_key, rail, network, job_id, service, request_hash, payer, asset, amount, payload_hash, payment_id, state, tx_signature, valid_until, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)`,
      ).run(
        s.payment_key,
        s.rail,
        s.network,
        s.job_id,
        s.service,
        s.request_hash,
        s.payer,
        s.asset,
        s.amount,
        s.payload_hash,
        s.payment_id,
        s.tx_signature,
        s.valid_until,
        t,
        t,
      );
      return undefined;
    });
  }

  /** Moves a settlement out of 'pending' (only from 'pending': a decided outcome never changes). */
  decide(
    key: string,
    state: Exclude<SettlementState, "pending">,
    f: { txSignature?: string | null; error?: string | null } = {},
  ): Promise<boolean> {
    return this.unit.run(
      (db) =>
        db
          .prepare(
            "UPDATE x402_settlements SET state = ?, tx_signature = COALESCE(?, tx_signature), error = ?, updated_at = ? WHERE payment_key = ? AND state = 'pending'",
          )
          .run(state, f.txSignature ?? null, f.error ?? null, now(), key).changes === 1,
    );
  }

  /** The transaction a pending settlement is about to send (stored before it is sent: a crash then finds it). */
  setTx(key: string, txSignature: string): Promise<boolean> {
    return this.unit.run(
      (db) =>
        db
          .prepare("UPDATE x402_settlements SET tx_signature = ?, updated_at = ? WHERE payment_key = ? AND state = 'pending'")
          .run(txSignature, now(), key).changes === 1,
    );
  }

  /** A settled payment whose job never ran, credited to the payer's balance instead (in the caller's transaction). */
  markCredited(key: string): Promise<boolean> {
    return this.unit.run(
      (db) =>
        db
          .prepare(
            "UPDATE x402_settlements SET state = 'credited', updated_at = ? WHERE payment_key = ? AND state IN ('settled', 'pending')",
          )
          .run(now(), key).changes === 1,
    );
  }
}
