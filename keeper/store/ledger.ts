/**
 * Prepaid WATT balances (watt_balances), their ledger (watt_ledger) and the transfers counted
 * (watt_payments). The rules (what a charge takes, what a refund gives back) are in
 * keeper/payments/ledger.ts; here each change of a balance is one `unit.run`, so its read, check and
 * write cannot interleave with another, and it joins the caller's transaction with the job or
 * payment that caused it.
 */
import type { Unit } from "./unit";
import { now, type DB } from "./db";

export type LedgerKind = "deposit" | "grant" | "charge" | "refund" | "excess";

export interface LedgerRef {
  jobId?: string;
  signature?: string;
  note?: string;
}

export interface LedgerEntry {
  kind: LedgerKind;
  amount: string;
  job_id: string | null;
  signature: string | null;
  note: string | null;
  created_at: number;
}

export interface PaymentRecord {
  signature: string;
  kind: "job" | "deposit";
  memo: string;
  payer: string;
  creditedTo: string;
  amount: bigint;
  slot: number;
  blockTime: number | null;
}

/** Sums over the whole database behind `totals` (payments/ledger.ts). */
export interface LedgerSums {
  received: bigint;
  granted: bigint;
  charged: bigint;
  chargedGranted: bigint;
  refunded: bigint;
  balances: bigint;
  balancesGranted: bigint;
  burned: bigint;
  burnOwedByOperator: bigint;
  burnExecuted: bigint;
}

const balanceRow = (db: DB, agent: string) => {
  const row = db.prepare("SELECT amount, granted FROM watt_balances WHERE agent = ?").get(agent) as
    { amount: string; granted: string } | undefined;
  return { amount: BigInt(row?.amount ?? "0"), granted: BigInt(row?.granted ?? "0") };
};

const sum = (db: DB, sql: string): bigint => (db.prepare(sql).all() as { v: string }[]).reduce((s, r) => s + BigInt(r.v), 0n);

export class LedgerRepo {
  constructor(private readonly unit: Unit) {}

  /** The agent's balance and, of it, the part granted by the operator. */
  balance(agent: string): Promise<{ amount: bigint; granted: bigint }> {
    return this.unit.run((db) => balanceRow(db, agent));
  }

  /**
   * Moves the agent's balance by `delta` (of which `grantedDelta` granted) and writes its ledger row.
   * Returns the new balance; throws (writing nothing) when it or its granted part would be out of range.
   */
  post(agent: string, delta: bigint, grantedDelta: bigint, kind: LedgerKind, ref: LedgerRef): Promise<bigint> {
    return this.unit.run((db) => {
      const before = balanceRow(db, agent);
      const next = before.amount + delta;
      const granted = before.granted + grantedDelta;
      if (next < 0n) throw new Error(`ledger: balance of ${agent} would go negative`);
      if (granted < 0n || granted > next) throw new Error(`ledger: granted part of ${agent}'s balance out of range`);
      db.transaction(() => {
        db.prepare(
          "INSERT INTO watt_balances (agent, amount, granted) VALUES (?, ?, ?) ON CONFLICT (agent) DO UPDATE SET amount = excluded.amount, granted = excluded.granted",
        ).run(agent, next.toString(), granted.toString());
        db.prepare("INSERT INTO watt_ledger (agent, kind, amount, job_id, signature, note, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)").run(
          agent,
          kind,
          delta.toString(),
          ref.jobId ?? null,
          ref.signature ?? null,
          ref.note ?? null,
          now(),
        );
      })();
      return next;
    });
  }

  /** The agent's latest ledger rows, newest first. */
  entries(agent: string, limit: number): Promise<LedgerEntry[]> {
    return this.unit.run(
      (db) =>
        db
          .prepare("SELECT kind, amount, job_id, signature, note, created_at FROM watt_ledger WHERE agent = ? ORDER BY id DESC LIMIT ?")
          .all(agent, limit) as LedgerEntry[],
    );
  }

  /** Every ledger row in the order written (the granted-WATT backfill replays them). */
  allInOrder(): Promise<{ agent: string; kind: LedgerKind; amount: string; job_id: string | null }[]> {
    return this.unit.run(
      (db) =>
        db.prepare("SELECT agent, kind, amount, job_id FROM watt_ledger ORDER BY id").all() as {
          agent: string;
          kind: LedgerKind;
          amount: string;
          job_id: string | null;
        }[],
    );
  }

  setGrantedPart(agent: string, granted: bigint): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE watt_balances SET granted = ? WHERE agent = ?").run(granted.toString(), agent);
    });
  }

  isSignatureUsed(signature: string): Promise<boolean> {
    return this.unit.run((db) => db.prepare("SELECT 1 FROM watt_payments WHERE signature = ?").get(signature) !== undefined);
  }

  /** How a counted transfer was counted, or undefined when it was not. */
  payment(signature: string): Promise<{ kind: string; credited_to: string; amount: string } | undefined> {
    return this.unit.run(
      (db) =>
        db.prepare("SELECT kind, credited_to, amount FROM watt_payments WHERE signature = ?").get(signature) as
          { kind: string; credited_to: string; amount: string } | undefined,
    );
  }

  /**
   * Records a transfer once. Returns the payment already holding its signature (or, for a job
   * payment, its memo) instead of recording it; undefined when it was recorded.
   */
  recordPayment(p: PaymentRecord): Promise<{ kind: string; memo: string } | undefined> {
    return this.unit.run((db) => {
      const dup = db
        .prepare("SELECT kind, memo FROM watt_payments WHERE signature = ? OR (kind = 'job' AND ? = 'job' AND memo = ?)")
        .get(p.signature, p.kind, p.memo) as { kind: string; memo: string } | undefined;
      if (dup) return dup;
      db.prepare(
        "INSERT INTO watt_payments (signature, kind, memo, payer, credited_to, amount, slot, block_time, verified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      ).run(p.signature, p.kind, p.memo, p.payer, p.creditedTo, p.amount.toString(), p.slot, p.blockTime, now());
      return undefined;
    });
  }

  /** All sums at one instant (one `run`: no write between two of them). */
  sums(): Promise<LedgerSums> {
    return this.unit.run((db) => ({
      received: sum(db, "SELECT amount v FROM watt_payments"),
      granted: sum(db, "SELECT amount v FROM watt_ledger WHERE kind = 'grant'"),
      charged: sum(db, "SELECT charged v FROM jobs"),
      refunded: sum(db, "SELECT refunded v FROM jobs"),
      balances: sum(db, "SELECT amount v FROM watt_balances"),
      burned: sum(db, "SELECT burned v FROM jobs"),
      burnExecuted: sum(db, "SELECT amount v FROM watt_burns WHERE state = 'confirmed'"),
      chargedGranted: sum(db, "SELECT charged_granted v FROM jobs"),
      balancesGranted: sum(db, "SELECT granted v FROM watt_balances"),
      burnOwedByOperator: sum(db, "SELECT burn_owed v FROM jobs"),
    }));
  }
}
