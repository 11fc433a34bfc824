/**
 * Prepaid deposits: a WATT transferChecked into the service's token account with the memo
 * "deposit:<agent address>" credits that agent's balance, verified exactly like a job payment and
 * counted once (unique signature). A memo naming no valid address credits the payer instead: WATT
 * received is never left unaccounted.
 *
 * Found by a cursor through the service account's whole history (on a timer, and before answering
 * GET /api/v1/balance): getSignaturesForAddress pages back (`before`) until the newest signature
 * already processed (`until`, kept in watt_scan_cursor), and the new ones are processed oldest first,
 * the cursor moving in the same database transaction as their credits. So no volume of traffic
 * between two scans loses a deposit, and a crash repeats at most the unfinished chunk (idempotent).
 *
 * Every other transfer in (a job payment waiting for its request, a rejected deposit, one not yet
 * visible) is kept in watt_unsettled and re-examined once WATT_UNMATCHED_GRACE_S has passed since
 * its block time, without a restart: if it has not been counted meanwhile, what it moved into the
 * service account is credited to its payer. An agent can also claim a deposit by naming its
 * signature (POST /api/v1/deposits).
 */
import { PublicKey, type ConfirmedSignatureInfo } from "@solana/web3.js";
import type { Logger } from "pino";
import { ServiceError } from "../services/jobService";
import { now } from "../clock";
import type { Store } from "../store/store";
import type { UnsettledRow } from "../store/wattScan";
import { credit, recordPayment } from "./ledger";
import { MEMO_PROGRAMS, inspectPayment, VerifiedTransfer, WattSettings, WattVerifier } from "./verifier";
import { parseMemoField } from "./memo";
import type { ParsedTransactionWithMeta } from "@solana/web3.js";

export const DEPOSIT_PREFIX = "deposit:";
/** Transactions fetched per getTransaction batch. */
const FETCH_CHUNK = 100;
/** Unsettled transfers read from the database at a time (a scan goes through all that are due). */
const SWEEP_PAGE = 1000;

function depositTarget(memo: string, payer: string): string {
  try {
    return new PublicKey(memo.slice(DEPOSIT_PREFIX.length)).toBase58();
  } catch {
    return payer;
  }
}

export interface ClaimResult {
  signature: string;
  credited_to: string;
  amount: bigint;
  /** Counted before this claim (the answer is the same: idempotent). */
  already: boolean;
  note?: string;
}

export class DepositScanner {
  private inflight?: Promise<number>;

  constructor(
    private readonly store: Store,
    private readonly verifier: WattVerifier,
    private readonly log: Logger,
    private readonly unmatchedGraceS = 3600,
  ) {}

  /**
   * One scan (concurrent callers share it): the new history since the cursor, then the unsettled
   * transfers whose grace period (`unmatchedGraceS`) is over. Returns the number of transfers credited.
   */
  scan(unmatchedGraceS = this.unmatchedGraceS): Promise<number> {
    this.inflight ??= this.scanOnce(unmatchedGraceS).finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private get account(): string {
    return this.verifier.settings.serviceTokenAccount.toBase58();
  }

  private fetch(signatures: string[]): Promise<(ParsedTransactionWithMeta | null)[]> {
    const s = this.verifier.settings;
    return this.verifier.connection.getParsedTransactions(signatures, { commitment: s.commitment, maxSupportedTransactionVersion: 0 });
  }

  /** The signatures after the cursor, oldest first. */
  private async newHistory(): Promise<ConfirmedSignatureInfo[]> {
    const s = this.verifier.settings;
    const until = await this.store.wattScan.cursor(this.account);
    const out: ConfirmedSignatureInfo[] = [];
    let before: string | undefined;
    for (;;) {
      const page = await this.verifier.connection.getSignaturesForAddress(
        s.serviceTokenAccount,
        { limit: 1000, before, until },
        s.commitment,
      );
      out.push(...page);
      if (page.length < 1000) break;
      before = page[page.length - 1].signature;
    }
    return out.reverse();
  }

  private async scanOnce(graceS: number): Promise<number> {
    let credited = 0;
    const history = await this.newHistory();
    for (let i = 0; i < history.length; i += FETCH_CHUNK) {
      const chunk = history.slice(i, i + FETCH_CHUNK);
      const deposits: ConfirmedSignatureInfo[] = [];
      for (const x of chunk) {
        if (x.err === null && parseMemoField(x.memo).some((m) => m.startsWith(DEPOSIT_PREFIX)) && !(await this.used(x.signature)))
          deposits.push(x);
      }
      const txs = deposits.length ? await this.fetch(deposits.map((d) => d.signature)) : [];
      const bySig = new Map(deposits.map((d, k) => [d.signature, txs[k]]));
      await this.store.tx(async () => {
        for (const x of chunk) {
          if (x.err !== null || (await this.used(x.signature))) continue; // failed: nothing arrived
          const memo = parseMemoField(x.memo).find((m) => m.startsWith(DEPOSIT_PREFIX));
          const tx = bySig.get(x.signature);
          if (memo !== undefined && tx) {
            try {
              credited += await this.creditDeposit(inspectPayment(tx, x.signature, memo, this.verifier.settings), memo);
              continue;
            } catch (e) {
              if (!(e instanceof ServiceError)) throw e;
              this.log.warn(
                { signature: x.signature, code: e.code, err: e.message },
                "deposit rejected; kept, re-examined after the grace period",
              );
              await this.store.wattScan.keepUnsettled({
                signature: x.signature,
                memo,
                blockTime: x.blockTime ?? null,
                reason: `deposit rejected: ${e.code}`,
              });
              continue;
            }
          }
          await this.store.wattScan.keepUnsettled({
            signature: x.signature,
            memo: memo ?? null,
            blockTime: x.blockTime ?? null,
            reason: memo !== undefined ? "deposit not visible yet" : "not counted yet",
          });
        }
        await this.store.wattScan.setCursor(this.account, chunk[chunk.length - 1].signature);
      });
    }
    return credited + (await this.sweep(graceS));
  }

  /** Unsettled transfers past their grace period: credited to their deposit target or payer, or dropped. */
  private async sweep(graceS: number): Promise<number> {
    let credited = 0;
    for (;;) {
      const due = await this.store.wattScan.dueUnsettled(now() - graceS, SWEEP_PAGE);
      credited += await this.sweepPage(due);
      if (due.length < SWEEP_PAGE) return credited;
    }
  }

  private async sweepPage(due: UnsettledRow[]): Promise<number> {
    let credited = 0;
    for (let i = 0; i < due.length; i += FETCH_CHUNK) {
      const chunk: UnsettledRow[] = [];
      for (const r of due.slice(i, i + FETCH_CHUNK)) {
        if (!(await this.used(r.signature))) chunk.push(r);
        else await this.store.wattScan.dropUnsettled(r.signature);
      }
      if (chunk.length === 0) continue;
      const txs = await this.fetch(chunk.map((r) => r.signature));
      await this.store.tx(async () => {
        for (const [k, r] of chunk.entries()) {
          const tx = txs[k];
          if (await this.used(r.signature)) {
            await this.store.wattScan.dropUnsettled(r.signature);
            continue;
          }
          if (!tx) {
            await this.store.wattScan.postponeUnsettled(r.signature, 60, "not visible at our commitment");
            continue;
          }
          if (r.memo !== null) {
            try {
              credited += await this.creditDeposit(inspectPayment(tx, r.signature, r.memo, this.verifier.settings), r.memo);
              await this.store.wattScan.dropUnsettled(r.signature);
              continue;
            } catch (e) {
              if (!(e instanceof ServiceError)) throw e;
            }
          }
          const v = netTransferIn(tx, r.signature, this.verifier.settings);
          if (v) {
            await recordPayment(this.store, v, "deposit", v.payer);
            await credit(this.store, v.payer, v.amount, "deposit", {
              signature: v.signature,
              note: "unmatched transfer (neither a paid job nor a deposit): credited to the payer",
            });
            credited++;
            this.log.info({ agent: v.payer, amount: v.amount.toString(), signature: v.signature }, "unmatched WATT credited to its payer");
          }
          await this.store.wattScan.dropUnsettled(r.signature);
        }
      });
    }
    return credited;
  }

  private used(signature: string): Promise<boolean> {
    return this.store.ledger.isSignatureUsed(signature);
  }

  /** Inside a transaction: a verified deposit credited to its memo's target (else the payer). */
  private async creditDeposit(v: VerifiedTransfer, memo: string): Promise<number> {
    if (await this.used(v.signature)) return 0;
    const agent = depositTarget(memo, v.payer);
    const note = !memo.endsWith(agent) ? "memo named no valid address: credited to the payer" : undefined;
    await recordPayment(this.store, v, "deposit", agent);
    await credit(this.store, agent, v.amount, "deposit", { signature: v.signature, note });
    await this.store.wattScan.dropUnsettled(v.signature);
    this.log.info({ agent, amount: v.amount.toString(), signature: v.signature, note }, "WATT credited to a prepaid balance");
    return 1;
  }

  /**
   * POST /api/v1/deposits: `agent` (a signed request) names a transaction. A deposit (memo
   * "deposit:<x>") is credited to its memo's target, whoever claims it; any other transfer in is
   * credited to the claimer only if the claimer signed it (PAYMENT_NOT_YOURS otherwise), and can then
   * pay for no job. Idempotent: a deposit already credited answers the same, `already` set.
   */
  async claim(signature: string, agent: string): Promise<ClaimResult> {
    if (!/^[1-9A-HJ-NP-Za-km-z]{64,90}$/.test(signature))
      throw new ServiceError("INVALID_REQUEST", "signature: not a base58 transaction signature", 400, { problems: ["signature: base58"] });
    const counted = () => this.store.ledger.payment(signature);
    const before = await counted();
    if (before) return this.claimedAlready(signature, agent, before);
    const tx = await this.verifier.connection
      .getParsedTransaction(signature, { commitment: this.verifier.settings.commitment, maxSupportedTransactionVersion: 0 })
      .catch((err: Error) => {
        throw new ServiceError(
          "PAYMENT_UNAVAILABLE",
          `Solana RPC getTransaction failed (${err.message.replace(/https?:\/\/\S+/g, "<rpc>").slice(0, 160)}); retry later`,
          503,
          { retry_after_s: 5 },
        );
      });
    if (!tx)
      throw new ServiceError(
        "PAYMENT_NOT_FOUND",
        `transaction ${signature} is not visible (yet) at our commitment; retry once it is confirmed`,
        402,
        { pending: true, retry_after_s: 2 },
      );
    const memos = (tx.transaction.message.instructions as { programId: PublicKey; parsed?: unknown }[])
      .filter((i) => MEMO_PROGRAMS.has(i.programId.toBase58()))
      .map((i) => (typeof i.parsed === "string" ? i.parsed : ""));
    const memo = memos.length === 1 && memos[0].startsWith(DEPOSIT_PREFIX) ? memos[0] : undefined;
    let result: ClaimResult | undefined;
    if (memo !== undefined) {
      const v = inspectPayment(tx, signature, memo, this.verifier.settings);
      await this.store.tx(async () => {
        if (await this.creditDeposit(v, memo))
          result = { signature, credited_to: depositTarget(memo, v.payer), amount: v.amount, already: false };
      });
    } else {
      const v = netTransferIn(tx, signature, this.verifier.settings);
      if (!v) throw new ServiceError("PAYMENT_NOT_FOUND", `transaction ${signature} moved no WATT into the service account`, 402);
      const authorities = authoritiesIn(tx, this.verifier.settings);
      if (!authorities.includes(agent))
        throw new ServiceError("PAYMENT_NOT_YOURS", `transaction ${signature} was not signed by the key that signed this request`, 403);
      await this.store.tx(async () => {
        if (await this.used(signature)) return;
        await recordPayment(this.store, { ...v, payer: agent }, "deposit", agent);
        await credit(this.store, agent, v.amount, "deposit", { signature, note: "claimed by its payer (POST /api/v1/deposits)" });
        await this.store.wattScan.dropUnsettled(signature);
        result = {
          signature,
          credited_to: agent,
          amount: v.amount,
          already: false,
          note: "not a deposit memo: credited to its payer, it pays for no job",
        };
      });
    }
    if (result) return result;
    return this.claimedAlready(signature, agent, (await counted())!); // counted meanwhile (a scan or a job)
  }

  private claimedAlready(signature: string, agent: string, row: { kind: string; credited_to: string; amount: string }): ClaimResult {
    if (row.kind === "deposit" && row.credited_to === agent)
      return { signature, credited_to: agent, amount: BigInt(row.amount), already: true };
    throw new ServiceError("PAYMENT_ALREADY_USED", `transaction ${signature} was already counted`, 409);
  }
}

/** The keys that are an authority of every WATT transfer into the service account in `tx`. */
function authoritiesIn(tx: ParsedTransactionWithMeta, s: Pick<WattSettings, "mint" | "serviceTokenAccount">): string[] {
  const service = s.serviceTokenAccount.toBase58();
  const inner = (tx.meta?.innerInstructions ?? []).flatMap((g) => g.instructions);
  const sets: string[][] = [];
  for (const ix of [...tx.transaction.message.instructions, ...inner]) {
    const p = "parsed" in ix ? (ix.parsed as { type?: string; info?: Record<string, unknown> }) : undefined;
    if (!p?.info || p.info.destination !== service) continue;
    sets.push(
      p.info.multisigAuthority
        ? [String(p.info.multisigAuthority), ...((p.info.signers as string[] | undefined) ?? [])]
        : p.info.authority
          ? [String(p.info.authority)]
          : [],
    );
  }
  if (sets.length === 0) return [];
  return sets.slice(1).reduce((acc, x) => acc.filter((k) => x.includes(k)), sets[0]);
}

/**
 * What a transaction that is not a valid payment still moved into the service account: the net
 * increase of its WATT balance, credited to the authority of the first WATT transfer into it (else
 * the fee payer). Undefined when nothing arrived (failed, outgoing, or another mint).
 */
export function netTransferIn(
  tx: ParsedTransactionWithMeta,
  signature: string,
  s: Pick<WattSettings, "mint" | "serviceTokenAccount">,
): VerifiedTransfer | undefined {
  if (!tx.meta || tx.meta.err) return undefined;
  const service = s.serviceTokenAccount.toBase58();
  const mint = s.mint.toBase58();
  const index = tx.transaction.message.accountKeys.findIndex((k) => k.pubkey.toBase58() === service);
  if (index < 0) return undefined;
  const bal = (list: typeof tx.meta.preTokenBalances) =>
    BigInt(list?.find((b) => b.accountIndex === index && b.mint === mint)?.uiTokenAmount.amount ?? "0");
  const delta = bal(tx.meta.postTokenBalances) - bal(tx.meta.preTokenBalances);
  if (delta <= 0n) return undefined;
  const inner = (tx.meta.innerInstructions ?? []).flatMap((g) => g.instructions);
  let payer = tx.transaction.message.accountKeys[0].pubkey.toBase58();
  for (const ix of [...tx.transaction.message.instructions, ...inner]) {
    const p = "parsed" in ix ? (ix.parsed as { type?: string; info?: Record<string, string> }) : undefined;
    if (p?.info?.destination === service && (p.info.authority || p.info.multisigAuthority)) {
      payer = p.info.multisigAuthority ?? p.info.authority;
      break;
    }
  }
  return { signature, memo: "", payer, authorities: [payer], amount: delta, slot: tx.slot, blockTime: tx.blockTime ?? null };
}
