/**
 * Prepaid WATT balances and the ledger behind them. Every function here is synchronous and meant to
 * run inside the caller's database transaction, so a balance, its ledger row and the job or payment
 * that caused them are written together or not at all.
 *
 * Where every WATT is (checked by `totals` and the conservation test):
 *   received (verified transfers in) + granted (operator credits) = charged (jobs) + balances
 * Refunds and the excess of an overpayment are credited to the payer's balance, so they are part of
 * `balances`; `refunded` reports them separately. burned = 0.15 % of each job's charge.
 *
 * Granted WATT is tracked apart (issue 10 item 7): each balance knows how much of it was granted by
 * the operator (watt_balances.granted, spent first), each job how much of its charge was paid from
 * granted WATT (jobs.charged_granted). Only the burn share of WATT that was received is burned from
 * the service account; the share of granted WATT (jobs.burn_owed) is owed by the operator:
 *   granted = charged from granted + granted still held
 *   burned = burned from the service account (0.15 % of the received part) + owed by the operator
 */
import { ServiceError } from "../services/jobService";
import { DB, getMeta, now, setMeta } from "../store/db";
import { burnOf } from "./watt";
import type { VerifiedTransfer } from "./verifier";

export type LedgerKind = "deposit" | "grant" | "charge" | "refund" | "excess";

export function balanceOf(db: DB, agent: string): bigint {
  const row = db.prepare("SELECT amount FROM watt_balances WHERE agent = ?").get(agent) as { amount: string } | undefined;
  return BigInt(row?.amount ?? "0");
}

/** How much of the agent's balance was granted by the operator (spent first). */
export function grantedOf(db: DB, agent: string): bigint {
  const row = db.prepare("SELECT granted FROM watt_balances WHERE agent = ?").get(agent) as { granted: string } | undefined;
  return BigInt(row?.granted ?? "0");
}

function post(db: DB, agent: string, delta: bigint, kind: LedgerKind, ref: { jobId?: string; signature?: string; note?: string }, grantedDelta = 0n): bigint {
  const next = balanceOf(db, agent) + delta;
  const granted = grantedOf(db, agent) + grantedDelta;
  if (next < 0n) throw new Error(`ledger: balance of ${agent} would go negative`);
  if (granted < 0n || granted > next) throw new Error(`ledger: granted part of ${agent}'s balance out of range`);
  db.prepare("INSERT INTO watt_balances (agent, amount, granted) VALUES (?, ?, ?) ON CONFLICT (agent) DO UPDATE SET amount = excluded.amount, granted = excluded.granted").run(agent, next.toString(), granted.toString());
  db.prepare("INSERT INTO watt_ledger (agent, kind, amount, job_id, signature, note, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)").run(
    agent,
    kind,
    delta.toString(),
    ref.jobId ?? null,
    ref.signature ?? null,
    ref.note ?? null,
    now(),
  );
  return next;
}

/**
 * Credits a balance. A grant is granted WATT; a refund gives back `ref.granted` of it as granted (the
 * granted part of the refunded charge); everything else was received.
 */
export function credit(db: DB, agent: string, amount: bigint, kind: Exclude<LedgerKind, "charge">, ref: { jobId?: string; signature?: string; note?: string; granted?: bigint } = {}): bigint {
  if (amount < 0n) throw new Error("ledger: negative credit");
  if (amount === 0n) return balanceOf(db, agent);
  const granted = kind === "grant" ? amount : kind === "refund" ? (ref.granted ?? 0n) : 0n;
  return post(db, agent, amount, kind, ref, granted);
}

/**
 * Takes a job's price from a prepaid balance (granted WATT first), or answers PAYMENT_INSUFFICIENT
 * with both figures. Returns the part of the price paid from granted WATT.
 */
export function charge(db: DB, agent: string, amount: bigint, jobId: string, fmt: (x: bigint) => number): bigint {
  const have = balanceOf(db, agent);
  if (have < amount) {
    throw new ServiceError("PAYMENT_INSUFFICIENT", `prepaid balance ${fmt(have)} WATT is below the price ${fmt(amount)} WATT; deposit WATT with memo "deposit:${agent}"`, 402, {
      balance: fmt(have),
      price: fmt(amount),
    });
  }
  const fromGranted = grantedOf(db, agent) < amount ? grantedOf(db, agent) : amount;
  post(db, agent, -amount, "charge", { jobId }, -fromGranted);
  return fromGranted;
}

/**
 * Records a verified transfer once. A signature seen before (or a second payment for the same job_id)
 * is PAYMENT_ALREADY_USED: the unique keys decide, inside the caller's transaction, so two concurrent
 * requests cannot both count it.
 */
export function recordPayment(db: DB, v: VerifiedTransfer, kind: "job" | "deposit", creditedTo: string): void {
  const dup = db.prepare("SELECT kind, memo FROM watt_payments WHERE signature = ? OR (kind = 'job' AND ? = 'job' AND memo = ?)").get(v.signature, kind, v.memo) as { kind: string; memo: string } | undefined;
  if (dup) throw new ServiceError("PAYMENT_ALREADY_USED", `this payment was already counted (${dup.kind} "${dup.memo}"); a transfer pays for one job only`, 409);
  db.prepare("INSERT INTO watt_payments (signature, kind, memo, payer, credited_to, amount, slot, block_time, verified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)").run(
    v.signature,
    kind,
    v.memo,
    v.payer,
    creditedTo,
    v.amount.toString(),
    v.slot,
    v.blockTime,
    now(),
  );
}

export const isSignatureUsed = (db: DB, signature: string): boolean => db.prepare("SELECT 1 FROM watt_payments WHERE signature = ?").get(signature) !== undefined;

export interface Totals {
  received: bigint;
  granted: bigint;
  charged: bigint;
  /** Of `charged`, paid from granted WATT. */
  chargedGranted: bigint;
  refunded: bigint;
  balances: bigint;
  /** Of `balances`, granted WATT still held. */
  balancesGranted: bigint;
  burned: bigint;
  /** Of `burned`: the share of received WATT, burned from the service account. */
  burnFromService: bigint;
  /** Of `burned`: the share of granted WATT, owed by the operator (never burned from the service account). */
  burnOwedByOperator: bigint;
  burnExecuted: bigint;
  /** received + granted - charged - balances: zero when every WATT is accounted for. */
  discrepancy: bigint;
}

const sum = (db: DB, sql: string, ...args: unknown[]): bigint =>
  (db.prepare(sql).all(...args) as { v: string }[]).reduce((s, r) => s + BigInt(r.v), 0n);

export function totals(db: DB): Totals {
  const received = sum(db, "SELECT amount v FROM watt_payments");
  const granted = sum(db, "SELECT amount v FROM watt_ledger WHERE kind = 'grant'");
  const charged = sum(db, "SELECT charged v FROM jobs");
  const refunded = sum(db, "SELECT refunded v FROM jobs");
  const balances = sum(db, "SELECT amount v FROM watt_balances");
  const burned = sum(db, "SELECT burned v FROM jobs");
  const burnExecuted = sum(db, "SELECT amount v FROM watt_burns WHERE state = 'confirmed'");
  const chargedGranted = sum(db, "SELECT charged_granted v FROM jobs");
  const balancesGranted = sum(db, "SELECT granted v FROM watt_balances");
  const burnOwedByOperator = sum(db, "SELECT burn_owed v FROM jobs");
  return {
    received,
    granted,
    charged,
    chargedGranted,
    refunded,
    balances,
    balancesGranted,
    burned,
    burnFromService: burned - burnOwedByOperator,
    burnOwedByOperator,
    burnExecuted,
    discrepancy: received + granted - charged - balances,
  };
}

/**
 * Once, for a database written before granted WATT was tracked apart (issue 10): replays every
 * agent's ledger in order with the same rule as `charge` (granted WATT is spent first, a refund gives
 * back the granted part of its charge) and sets balances' granted part, jobs' charged_granted and
 * the operator's share of their burn (burn_owed) for jobs whose burn was not executed yet. One
 * transaction, marked done in meta: a crash repeats it whole, a restart skips it.
 */
export function backfillGranted(db: DB): boolean {
  if (getMeta(db, "granted_backfill") === "done") return false;
  db.transaction(() => {
    const rows = db.prepare("SELECT agent, kind, amount, job_id FROM watt_ledger ORDER BY id").all() as { agent: string; kind: LedgerKind; amount: string; job_id: string | null }[];
    const held = new Map<string, bigint>();
    const fromGranted = new Map<string, bigint>();
    for (const r of rows) {
      const g = held.get(r.agent) ?? 0n;
      const amount = BigInt(r.amount);
      if (r.kind === "grant") held.set(r.agent, g + amount);
      else if (r.kind === "charge" && r.job_id) {
        const take = g < -amount ? g : -amount;
        fromGranted.set(r.job_id, take);
        held.set(r.agent, g - take);
      } else if (r.kind === "refund" && r.job_id) {
        held.set(r.agent, g + (fromGranted.get(r.job_id) ?? 0n));
        fromGranted.set(r.job_id, 0n);
      }
    }
    const setBalance = db.prepare("UPDATE watt_balances SET granted = ? WHERE agent = ?");
    for (const [agent, g] of held) {
      const bal = balanceOf(db, agent);
      setBalance.run((g < bal ? g : bal).toString(), agent);
    }
    const jobs = db.prepare("SELECT job_id, state, charged, burned, burn_id FROM jobs WHERE payment = 'prepaid'").all() as { job_id: string; state: string; charged: string; burned: string; burn_id: number | null }[];
    const setJob = db.prepare("UPDATE jobs SET charged_granted = ?, burn_owed = ? WHERE job_id = ?");
    for (const j of jobs) {
      const g = fromGranted.get(j.job_id) ?? 0n;
      const charged = BigInt(j.charged);
      const cg = j.state === "running" ? g : g < charged ? g : charged;
      // A burn already batched keeps its amount; the rest: only the received share is burned.
      const owed = j.state === "running" || j.burn_id !== null ? 0n : BigInt(j.burned) - burnOf(charged - cg);
      setJob.run(cg.toString(), owed.toString(), j.job_id);
    }
    setMeta(db, "granted_backfill", "done");
  })();
  return true;
}
