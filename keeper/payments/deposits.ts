/**
 * Prepaid deposits: a WATT transferChecked into the service's token account with the memo
 * "deposit:<agent address>" credits that agent's balance, verified exactly like a job payment and
 * counted once (unique signature). A memo naming no valid address credits the payer instead: WATT
 * received is never left unaccounted.
 *
 * Found by scanning the newest signatures of the service account (on a timer, and before answering
 * GET /api/v1/balance). Rejected transactions are remembered for the process's life so a scan does
 * not fetch them again. Transfers that pay for nothing (no memo, a memo that matches no job, an
 * invalid payment) are credited to their payer after WATT_UNMATCHED_GRACE_S.
 */
import { PublicKey } from "@solana/web3.js";
import type { Logger } from "pino";
import { ServiceError } from "../services/jobService";
import type { DB } from "../store/db";
import { credit, isSignatureUsed, recordPayment } from "./ledger";
import { parseMemoField } from "./memo";
import { inspectPayment, VerifiedTransfer, WattSettings, WattVerifier } from "./verifier";
import type { ParsedTransactionWithMeta } from "@solana/web3.js";

export const DEPOSIT_PREFIX = "deposit:";

function depositTarget(memo: string, payer: string): string {
  try {
    return new PublicKey(memo.slice(DEPOSIT_PREFIX.length)).toBase58();
  } catch {
    return payer;
  }
}

export class DepositScanner {
  private readonly rejected = new Set<string>();
  private inflight?: Promise<number>;

  constructor(
    private readonly db: DB,
    private readonly verifier: WattVerifier,
    private readonly log: Logger,
    private readonly unmatchedGraceS = 3600,
  ) {}

  /**
   * One scan (concurrent callers share it). Returns the number of transfers credited. Transfers into
   * the service account that are neither a deposit nor a counted job payment, older than
   * `unmatchedGraceS` (a job's payment may still be on its way to its request), are credited to
   * their payer too: every WATT that reaches the service account ends up accounted for.
   */
  scan(unmatchedGraceS = this.unmatchedGraceS): Promise<number> {
    this.inflight ??= this.scanOnce(unmatchedGraceS).finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async scanOnce(graceS: number): Promise<number> {
    const s = this.verifier.settings;
    const sigs = await this.verifier.connection.getSignaturesForAddress(s.serviceTokenAccount, { limit: 1000 }, s.commitment);
    const cutoff = Math.floor(Date.now() / 1000) - graceS;
    const todo = sigs
      .filter((x) => !this.rejected.has(x.signature) && !isSignatureUsed(this.db, x.signature))
      .map((x) => ({ signature: x.signature, memo: parseMemoField(x.memo).find((m) => m.startsWith(DEPOSIT_PREFIX)), old: (x.blockTime ?? 0) <= cutoff }))
      .filter((x) => x.memo !== undefined || x.old)
      .reverse();
    if (todo.length === 0) return 0;
    const txs = await this.verifier.connection.getParsedTransactions(
      todo.map((t) => t.signature),
      { commitment: s.commitment, maxSupportedTransactionVersion: 0 },
    );
    let credited = 0;
    todo.forEach((t, i) => {
      const tx = txs[i];
      if (!tx) return; // not visible at our commitment yet: next scan
      let v: VerifiedTransfer | undefined;
      let note: string | undefined;
      if (t.memo !== undefined) {
        try {
          v = inspectPayment(tx, t.signature, t.memo, s);
        } catch (e) {
          if (!(e instanceof ServiceError)) throw e;
          this.log.warn({ signature: t.signature, code: e.code, err: e.message }, "deposit rejected");
        }
      }
      if (!v && t.old) {
        v = netTransferIn(tx, t.signature, s);
        note = "unmatched transfer (neither a paid job nor a deposit): credited to the payer";
      }
      if (!v) {
        this.rejected.add(t.signature);
        return;
      }
      const verified = v;
      const agent = t.memo !== undefined && !note ? depositTarget(t.memo, verified.payer) : verified.payer;
      if (!note && t.memo !== undefined && agent === verified.payer && !t.memo.endsWith(agent)) note = "memo named no valid address: credited to the payer";
      this.db.transaction(() => {
        if (isSignatureUsed(this.db, verified.signature)) return;
        recordPayment(this.db, verified, "deposit", agent);
        credit(this.db, agent, verified.amount, "deposit", { signature: verified.signature, note });
        credited++;
      })();
      this.log.info({ agent, amount: verified.amount.toString(), signature: verified.signature, note }, "WATT credited to a prepaid balance");
    });
    return credited;
  }
}

/**
 * What a transaction that is not a valid payment still moved into the service account: the net
 * increase of its WATT balance, credited to the authority of the first WATT transfer into it (else
 * the fee payer). Undefined when nothing arrived (failed, outgoing, or another mint).
 */
export function netTransferIn(tx: ParsedTransactionWithMeta, signature: string, s: Pick<WattSettings, "mint" | "serviceTokenAccount">): VerifiedTransfer | undefined {
  if (!tx.meta || tx.meta.err) return undefined;
  const service = s.serviceTokenAccount.toBase58();
  const mint = s.mint.toBase58();
  const index = tx.transaction.message.accountKeys.findIndex((k) => k.pubkey.toBase58() === service);
  if (index < 0) return undefined;
  const bal = (list: typeof tx.meta.preTokenBalances) => BigInt(list?.find((b) => b.accountIndex === index && b.mint === mint)?.uiTokenAmount.amount ?? "0");
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
