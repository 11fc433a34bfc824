/**
 * Prepaid WATT balances and the ledger behind them. Each function is meant to run inside the caller's
 * transaction (`store.tx`), so a balance, its ledger row and the job or payment that caused them are
 * written together or not at all; the queries are in keeper/store/ledger.ts.
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
import type { Store } from "../store/store";
import type { LedgerKind, LedgerRef } from "../store/ledger";
import { burnOf } from "./watt";
import type { VerifiedTransfer } from "./verifier";

export type { LedgerKind } from "../store/ledger";

export async function balanceOf(store: Store, agent: string): Promise<bigint> {
  return (await store.ledger.balance(agent)).amount;
}

/**
 * Credits a balance. A grant is granted WATT; a refund gives back `ref.granted` of it as granted (the
 * granted part of the refunded charge); everything else was received.
 */
export async function credit(
  store: Store,
  agent: string,
  amount: bigint,
  kind: Exclude<LedgerKind, "charge">,
  ref: LedgerRef & { granted?: bigint } = {},
): Promise<bigint> {
  if (amount < 0n) throw new Error("ledger: negative credit");
  if (amount === 0n) return balanceOf(store, agent);
  const granted = kind === "grant" ? amount : kind === "refund" ? (ref.granted ?? 0n) : 0n;
  const { granted: _g, ...rest } = ref;
  return store.ledger.post(agent, amount, granted, kind, rest);
}

/**
 * Takes a job's price from a prepaid balance (granted WATT first), or answers PAYMENT_INSUFFICIENT
 * with both figures. Returns the part of the price paid from granted WATT.
 */
export async function charge(store: Store, agent: string, amount: bigint, jobId: string, fmt: (x: bigint) => number): Promise<bigint> {
  const have = await store.ledger.balance(agent);
  if (have.amount < amount) {
    throw new ServiceError(
      "PAYMENT_INSUFFICIENT",
      `prepaid balance ${fmt(have.amount)} WATT is below the price ${fmt(amount)} WATT; deposit WATT with memo "deposit:${agent}"`,
      402,
      {
        balance: fmt(have.amount),
        price: fmt(amount),
      },
    );
  }
  const fromGranted = have.granted < amount ? have.granted : amount;
  await store.ledger.post(agent, -amount, -fromGranted, "charge", { jobId });
  return fromGranted;
}

/**
 * Records a verified transfer once. A signature seen before (or a second payment for the same job_id)
 * is PAYMENT_ALREADY_USED: the unique keys decide, inside the caller's transaction, so two concurrent
 * requests cannot both count it.
 */
export async function recordPayment(store: Store, v: VerifiedTransfer, kind: "job" | "deposit", creditedTo: string): Promise<void> {
  const dup = await store.ledger.recordPayment({
    signature: v.signature,
    kind,
    memo: v.memo,
    payer: v.payer,
    creditedTo,
    amount: v.amount,
    slot: v.slot,
    blockTime: v.blockTime,
  });
  if (dup)
    throw new ServiceError(
      "PAYMENT_ALREADY_USED",
      `this payment was already counted (${dup.kind} "${dup.memo}"); a transfer pays for one job only`,
      409,
    );
}

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

export async function totals(store: Store): Promise<Totals> {
  const s = await store.ledger.sums();
  return {
    ...s,
    burnFromService: s.burned - s.burnOwedByOperator,
    discrepancy: s.received + s.granted - s.charged - s.balances,
  };
}

/**
 * Once, for a database written before granted WATT was tracked apart (issue 10): replays every
 * agent's ledger in order with the same rule as `charge` (granted WATT is spent first, a refund gives
 * back the granted part of its charge) and sets balances' granted part, jobs' charged_granted and
 * the operator's share of their burn (burn_owed) for jobs whose burn was not executed yet. One
 * transaction, marked done in meta: a crash repeats it whole, a restart skips it.
 */
export function backfillGranted(store: Store): Promise<boolean> {
  return store.tx(async () => {
    if ((await store.meta.get("granted_backfill")) === "done") return false;
    const rows = await store.ledger.allInOrder();
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
    for (const [agent, g] of held) {
      const bal = await balanceOf(store, agent);
      await store.ledger.setGrantedPart(agent, g < bal ? g : bal);
    }
    for (const j of await store.jobs.prepaidForBackfill()) {
      const g = fromGranted.get(j.job_id) ?? 0n;
      const charged = BigInt(j.charged);
      const cg = j.state === "running" ? g : g < charged ? g : charged;
      // A burn already batched keeps its amount; the rest: only the received share is burned.
      const owed = j.state === "running" || j.burn_id !== null ? 0n : BigInt(j.burned) - burnOf(charged - cg);
      await store.jobs.setGrantedShare(j.job_id, cg, owed);
    }
    await store.meta.set("granted_backfill", "done");
    return true;
  });
}
