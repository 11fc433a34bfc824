/**
 * The agent's side of a WATT payment (the demo and the tests use it; any Solana wallet does the same):
 * one transaction with a transferChecked of the WATT mint from the agent's token account to the
 * service wallet's, and an SPL Memo naming the job (or "deposit:<agent>").
 */
import { Connection, Keypair, PublicKey, Transaction, TransactionInstruction } from "@solana/web3.js";
import { createTransferCheckedInstruction, getAssociatedTokenAddressSync } from "@solana/spl-token";
import { createMemoInstruction } from "@solana/spl-memo";

export interface WattPayment {
  mint: PublicKey;
  decimals: number;
  /** The service wallet (owner of the receiving token account). */
  recipientOwner: PublicKey;
  amount: bigint;
  memo: string;
}

export function paymentInstructions(payer: PublicKey, p: WattPayment): TransactionInstruction[] {
  const from = getAssociatedTokenAddressSync(p.mint, payer, true);
  const to = getAssociatedTokenAddressSync(p.mint, p.recipientOwner, true);
  return [createTransferCheckedInstruction(from, p.mint, to, payer, p.amount, p.decimals), createMemoInstruction(p.memo, [payer])];
}

/** Signs and sends a transaction made of `instructions`, waits until it is confirmed; returns the signature. */
export async function sendAndConfirm(
  connection: Connection,
  signers: Keypair[],
  instructions: TransactionInstruction[],
  opts: { skipPreflight?: boolean } = {},
): Promise<string> {
  const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash("confirmed");
  const tx = new Transaction({ feePayer: signers[0].publicKey, blockhash, lastValidBlockHeight }).add(...instructions);
  tx.sign(...signers);
  const sig = await connection.sendRawTransaction(tx.serialize(), { skipPreflight: opts.skipPreflight ?? false, maxRetries: 0 });
  await confirm(connection, sig, lastValidBlockHeight);
  return sig;
}

/** Polls getSignatureStatuses (no websocket needed) until confirmed or the blockhash expired. */
export async function confirm(connection: Connection, signature: string, lastValidBlockHeight?: number, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const { value } = await connection.getSignatureStatuses([signature]);
    const s = value[0];
    if (s && (s.confirmationStatus === "confirmed" || s.confirmationStatus === "finalized")) return;
    if (lastValidBlockHeight !== undefined && (await connection.getBlockHeight("confirmed")) > lastValidBlockHeight)
      throw new Error(`transaction ${signature} expired before it was confirmed`);
    if (Date.now() > end) throw new Error(`transaction ${signature} not confirmed within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function payWatt(connection: Connection, payer: Keypair, p: WattPayment, opts: { skipPreflight?: boolean } = {}): Promise<string> {
  return sendAndConfirm(connection, [payer], paymentInstructions(payer.publicKey, p), opts);
}
