/**
 * Prepaid deposits: a WATT transferChecked into the service's token account with the memo
 * "deposit:<agent address>" credits that agent's balance, verified exactly like a job payment and
 * counted once (unique signature). A memo naming no valid address credits the payer instead: WATT
 * received is never left unaccounted.
 *
 * Found by scanning the newest signatures of the service account (on a timer, and before answering
 * GET /api/v1/balance). Rejected transactions are remembered for the process's life so a scan does
 * not fetch them again.
 */
import { PublicKey } from "@solana/web3.js";
import type { Logger } from "pino";
import { ServiceError } from "../services/jobService";
import type { DB } from "../store/db";
import { credit, isSignatureUsed, recordPayment } from "./ledger";
import { parseMemoField } from "./memo";
import { inspectPayment, WattVerifier } from "./verifier";

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
  ) {}

  /** One scan (concurrent callers share it). Returns the number of deposits credited. */
  scan(): Promise<number> {
    this.inflight ??= this.scanOnce().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async scanOnce(): Promise<number> {
    const s = this.verifier.settings;
    const sigs = await this.verifier.connection.getSignaturesForAddress(s.serviceTokenAccount, { limit: 1000 }, s.commitment);
    const todo = sigs
      .filter((x) => !this.rejected.has(x.signature) && !isSignatureUsed(this.db, x.signature))
      .map((x) => ({ signature: x.signature, memo: parseMemoField(x.memo).find((m) => m.startsWith(DEPOSIT_PREFIX)) }))
      .filter((x): x is { signature: string; memo: string } => x.memo !== undefined)
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
      try {
        const v = inspectPayment(tx, t.signature, t.memo, s);
        const agent = depositTarget(t.memo, v.payer);
        this.db.transaction(() => {
          if (isSignatureUsed(this.db, v.signature)) return;
          recordPayment(this.db, v, "deposit", agent);
          credit(this.db, agent, v.amount, "deposit", { signature: v.signature, note: agent === v.payer && !t.memo.endsWith(agent) ? "memo named no valid address: credited to the payer" : undefined });
          credited++;
        })();
        this.log.info({ agent, amount: v.amount.toString(), signature: v.signature }, "WATT deposit credited");
      } catch (e) {
        if (!(e instanceof ServiceError)) throw e;
        this.rejected.add(t.signature);
        this.log.warn({ signature: t.signature, code: e.code, err: e.message }, "deposit rejected");
      }
    });
    return credited;
  }
}
