/**
 * Is this a WATT payment to us? The check of design.md section 5, over Solana JSON-RPC
 * (`@solana/web3.js` Connection: getSignaturesForAddress, getParsedTransaction(s) with jsonParsed):
 *
 * 1. the transaction is visible at the configured commitment, else PAYMENT_NOT_FOUND (pending:
 *    nothing is recorded, the same request can be retried);
 * 2. it succeeded (`meta.err` null), else PAYMENT_FAILED;
 * 3. it carries exactly one memo and it equals the expected one (the job_id, or "deposit:<agent>"),
 *    else PAYMENT_MEMO_MISMATCH: one transfer can never pay for two jobs;
 * 4. it holds a `transferChecked` of the WATT mint into the service's token account (top-level or
 *    inner instruction), else PAYMENT_WRONG_MINT / PAYMENT_WRONG_RECIPIENT / PAYMENT_INVALID;
 * 5. the service account's token balance rose by exactly the sum of those transfers
 *    (post - pre token balances), else PAYMENT_INVALID.
 * Whether the amount covers the price, and whether the signature was used before, is decided by the
 * caller inside the database transaction that records it (unique signature, unique job memo).
 */
import {
  Connection,
  ParsedInstruction,
  ParsedTransactionWithMeta,
  PartiallyDecodedInstruction,
  PublicKey,
  type Commitment,
  type TokenBalance,
} from "@solana/web3.js";
import { ServiceError } from "../services/jobService";
import { parseMemoField } from "./memo";

export const TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";
export const MEMO_PROGRAMS = new Set(["MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr", "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo"]);

export interface WattSettings {
  mint: PublicKey;
  decimals: number;
  /** The service wallet's WATT token account (its associated token account). */
  serviceTokenAccount: PublicKey;
  commitment: Extract<Commitment, "confirmed" | "finalized">;
  /** getSignaturesForAddress pages (1000 signatures each) searched for a memo. */
  scanPages: number;
}

export interface VerifiedTransfer {
  signature: string;
  memo: string;
  /** Authority of the transfer: the agent's wallet. */
  payer: string;
  /**
   * Who signed for the transfer: the keys that are an authority of every WATT transfer into the
   * service in it (the source account's owner, or a multisig authority and its signers). Never the
   * fee payer as such. A payment found by its memo pays only for a request signed by one of these.
   */
  authorities: string[];
  /** Net increase of the service token account, base units. */
  amount: bigint;
  slot: number;
  blockTime: number | null;
}

const paymentError = (code: string, message: string, status = 402, details: Record<string, unknown> = {}) =>
  new ServiceError(code, message, status, details);

export const pendingError = (memo: string) =>
  paymentError(
    "PAYMENT_NOT_FOUND",
    `no confirmed WATT payment with memo "${memo}" is visible yet; nothing was charged: send the payment (or wait for it to confirm) and retry the same request`,
    402,
    { pending: true, retry_after_s: 2 },
  );

type AnyInstruction = ParsedInstruction | PartiallyDecodedInstruction;
const isParsed = (i: AnyInstruction): i is ParsedInstruction => "parsed" in i;

function allInstructions(tx: ParsedTransactionWithMeta): AnyInstruction[] {
  const inner = (tx.meta?.innerInstructions ?? []).flatMap((g) => g.instructions);
  return [...tx.transaction.message.instructions, ...inner];
}

function memosOf(tx: ParsedTransactionWithMeta): string[] {
  return allInstructions(tx)
    .filter((i) => MEMO_PROGRAMS.has(i.programId.toBase58()))
    .map((i) => (isParsed(i) && typeof i.parsed === "string" ? i.parsed : "\u0000unreadable"));
}

interface TransferInfo {
  source: string;
  destination: string;
  mint?: string;
  authority?: string;
  multisigAuthority?: string;
  signers?: string[];
  amount: bigint;
  checked: boolean;
}

function tokenTransfers(tx: ParsedTransactionWithMeta): TransferInfo[] {
  const out: TransferInfo[] = [];
  for (const i of allInstructions(tx)) {
    if (!isParsed(i) || i.programId.toBase58() !== TOKEN_PROGRAM || typeof i.parsed !== "object" || i.parsed === null) continue;
    const { type, info } = i.parsed as { type: string; info: Record<string, unknown> };
    if (type === "transferChecked") {
      const amt = (info.tokenAmount as { amount?: string } | undefined)?.amount;
      out.push({
        source: String(info.source),
        destination: String(info.destination),
        mint: String(info.mint),
        authority: info.authority as string | undefined,
        multisigAuthority: info.multisigAuthority as string | undefined,
        signers: Array.isArray(info.signers) ? info.signers.map(String) : undefined,
        amount: BigInt(amt ?? "0"),
        checked: true,
      });
    } else if (type === "transfer") {
      out.push({
        source: String(info.source),
        destination: String(info.destination),
        authority: info.authority as string | undefined,
        amount: BigInt(String(info.amount ?? "0")),
        checked: false,
      });
    }
  }
  return out;
}

function tokenBalance(list: TokenBalance[] | null | undefined, index: number, mint: string): bigint {
  const row = (list ?? []).find((b) => b.accountIndex === index && b.mint === mint);
  return BigInt(row?.uiTokenAmount.amount ?? "0");
}

/** The checks 2-5 on a transaction already fetched (pure: no RPC). */
export function inspectPayment(
  tx: ParsedTransactionWithMeta,
  signature: string,
  expectedMemo: string,
  s: Pick<WattSettings, "mint" | "serviceTokenAccount">,
): VerifiedTransfer {
  const meta = tx.meta;
  if (!meta) throw paymentError("PAYMENT_INVALID", `transaction ${signature} has no status metadata`);
  if (meta.err !== null && meta.err !== undefined) {
    throw paymentError("PAYMENT_FAILED", `transaction ${signature} failed on chain (${JSON.stringify(meta.err)}): nothing was transferred`);
  }
  const memos = memosOf(tx);
  if (memos.length !== 1 || memos[0] !== expectedMemo) {
    const seen = memos.length === 0 ? "no memo" : `memo(s) ${memos.map((m) => JSON.stringify(m.slice(0, 140))).join(", ")}`;
    throw paymentError(
      "PAYMENT_MEMO_MISMATCH",
      `transaction ${signature} carries ${seen}; exactly one memo equal to "${expectedMemo}" is required`,
    );
  }
  const mint = s.mint.toBase58();
  const service = s.serviceTokenAccount.toBase58();
  const transfers = tokenTransfers(tx);
  const valid = transfers.filter((t) => t.checked && t.mint === mint && t.destination === service);
  if (valid.length === 0) {
    if (transfers.some((t) => t.checked && t.mint !== mint))
      throw paymentError("PAYMENT_WRONG_MINT", `transaction ${signature} transfers another token than WATT (${mint})`);
    if (transfers.some((t) => t.checked && t.destination !== service))
      throw paymentError("PAYMENT_WRONG_RECIPIENT", `transaction ${signature} sends WATT to another account than the service's ${service}`);
    if (transfers.some((t) => !t.checked))
      throw paymentError(
        "PAYMENT_INVALID",
        `transaction ${signature} uses an unchecked SPL transfer; pay with transferChecked of mint ${mint}`,
      );
    throw paymentError("PAYMENT_NOT_FOUND", `transaction ${signature} carries the memo but no WATT transferChecked into ${service}`);
  }
  const claimed = valid.reduce((sum, t) => sum + t.amount, 0n);
  const index = tx.transaction.message.accountKeys.findIndex((k) => k.pubkey.toBase58() === service);
  const delta = index < 0 ? 0n : tokenBalance(meta.postTokenBalances, index, mint) - tokenBalance(meta.preTokenBalances, index, mint);
  if (delta !== claimed) {
    throw paymentError(
      "PAYMENT_INVALID",
      `transaction ${signature}: the service account's WATT balance changed by ${delta}, its transfers claim ${claimed}`,
    );
  }
  const authorityKeys = (t: TransferInfo): string[] =>
    t.multisigAuthority ? [t.multisigAuthority, ...(t.signers ?? [])] : t.authority ? [t.authority] : [];
  const authorities = valid.slice(1).reduce((acc, t) => acc.filter((k) => authorityKeys(t).includes(k)), authorityKeys(valid[0]));
  return {
    signature,
    memo: expectedMemo,
    payer: valid[0].multisigAuthority ?? valid[0].authority ?? valid[0].source,
    authorities,
    amount: claimed,
    slot: tx.slot,
    blockTime: tx.blockTime ?? null,
  };
}

export class WattVerifier {
  constructor(
    readonly connection: Connection,
    readonly settings: WattSettings,
  ) {}

  private async rpc<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      // The RPC URL may carry an API key: the message names the call, not the endpoint.
      throw new ServiceError(
        "PAYMENT_UNAVAILABLE",
        `Solana RPC ${what} failed (${(err as Error).message.replace(/https?:\/\/\S+/g, "<rpc>").slice(0, 200)}); nothing was charged, retry later`,
        503,
        { retry_after_s: 5 },
      );
    }
  }

  /** One named transaction (the request's X-Payment-Signature). */
  async check(signature: string, expectedMemo: string): Promise<VerifiedTransfer> {
    if (!/^[1-9A-HJ-NP-Za-km-z]{64,90}$/.test(signature))
      throw new ServiceError("INVALID_REQUEST", "X-Payment-Signature: not a base58 transaction signature", 400);
    const tx = await this.rpc("getTransaction", () =>
      this.connection.getParsedTransaction(signature, { commitment: this.settings.commitment, maxSupportedTransactionVersion: 0 }),
    );
    if (!tx) throw pendingError(expectedMemo);
    return inspectPayment(tx, signature, expectedMemo, this.settings);
  }

  /**
   * The transactions into the service account whose memo field lists `memo`, oldest first, skipping
   * signatures `isUsed` says were counted already. Returns the verified ones and the errors of the
   * others (a failed attempt before a good one is normal).
   */
  async findByMemo(
    memo: string,
    isUsed: (sig: string) => boolean | Promise<boolean>,
  ): Promise<{ verified: VerifiedTransfer[]; rejected: ServiceError[]; used: number }> {
    const candidates: string[] = [];
    let before: string | undefined;
    let used = 0;
    for (let page = 0; page < this.settings.scanPages; page++) {
      const sigs = await this.rpc("getSignaturesForAddress", () =>
        this.connection.getSignaturesForAddress(this.settings.serviceTokenAccount, { limit: 1000, before }, this.settings.commitment),
      );
      for (const s of sigs) {
        if (!parseMemoField(s.memo).includes(memo)) continue;
        if (await isUsed(s.signature)) used++;
        else candidates.push(s.signature);
      }
      if (sigs.length < 1000) break;
      before = sigs[sigs.length - 1].signature;
    }
    candidates.reverse(); // newest first from the RPC: oldest payment first here
    const verified: VerifiedTransfer[] = [];
    const rejected: ServiceError[] = [];
    if (candidates.length === 0) return { verified, rejected, used };
    const txs = await this.rpc("getTransaction", () =>
      this.connection.getParsedTransactions(candidates, { commitment: this.settings.commitment, maxSupportedTransactionVersion: 0 }),
    );
    txs.forEach((tx, i) => {
      if (!tx) return; // listed but not yet visible at this commitment: pending
      try {
        verified.push(inspectPayment(tx, candidates[i], memo, this.settings));
      } catch (e) {
        if (e instanceof ServiceError) rejected.push(e);
        else throw e;
      }
    });
    return { verified, rejected, used };
  }
}
