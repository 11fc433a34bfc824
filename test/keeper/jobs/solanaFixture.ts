/** A Solana stand-in with a WATT mint, a service wallet and funded agents, plus the API harness wired to it. */
import { Connection, Keypair, LAMPORTS_PER_SOL, PublicKey, Transaction, TransactionInstruction } from "@solana/web3.js";
import { createTransferCheckedInstruction, getAssociatedTokenAddressSync } from "@solana/spl-token";
import { createMemoInstruction } from "@solana/spl-memo";
import { startSolanaStandin } from "../../../localnet/solana/server";
import { ApiHarness, startApiHarness } from "./harness";

type SolanaStandin = Awaited<ReturnType<typeof startSolanaStandin>>;

/** Signs, sends and polls getSignatureStatuses until confirmed (no websocket needed). */
export async function sendAndConfirm(
  conn: Connection,
  signers: Keypair[],
  ixs: TransactionInstruction[],
  opts: { skipPreflight?: boolean } = {},
): Promise<string> {
  const { blockhash, lastValidBlockHeight } = await conn.getLatestBlockhash("confirmed");
  const tx = new Transaction({ feePayer: signers[0].publicKey, blockhash, lastValidBlockHeight }).add(...ixs);
  tx.sign(...signers);
  const sig = await conn.sendRawTransaction(tx.serialize(), { skipPreflight: opts.skipPreflight ?? false, maxRetries: 0 });
  for (let i = 0; i < 200; i++) {
    const s = (await conn.getSignatureStatuses([sig])).value[0];
    if (s && (s.confirmationStatus === "confirmed" || s.confirmationStatus === "finalized")) return sig;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`transaction ${sig} not confirmed`);
}

export const WATT = 10n ** 9n;

export interface WattWorld {
  sol: SolanaStandin;
  conn: Connection;
  mint: PublicKey;
  service: Keypair;
  h: ApiHarness;
  agent(watt?: bigint): Keypair;
  pay(from: Keypair, watt: bigint, memo: string, opts?: { skipPreflight?: boolean; baseUnits?: boolean }): Promise<string>;
  send(signers: Keypair[], ixs: TransactionInstruction[], opts?: { skipPreflight?: boolean }): Promise<string>;
  /** WATT in the service's token account on chain. */
  serviceBalance(): bigint;
  /** The mint's supply, read over RPC (jsonParsed mint account). */
  supply(): Promise<bigint>;
  close(): Promise<void>;
}

export async function startWattWorld(
  env: Record<string, string> = {},
  opts: { withSecret?: boolean; envFrom?: (sol: SolanaStandin) => Promise<Record<string, string>> } = {},
): Promise<WattWorld> {
  const sol = await startSolanaStandin();
  if (opts.envFrom) env = { ...env, ...(await opts.envFrom(sol)) };
  const conn = new Connection(sol.url, "confirmed");
  const mint = sol.createMint(9);
  const service = Keypair.generate();
  sol.airdrop(service.publicKey, BigInt(LAMPORTS_PER_SOL));
  sol.mintTo(service.publicKey, mint, 0n);
  const h = await startApiHarness({
    SOLANA_RPC_URL: sol.url,
    WATT_MINT: mint.toBase58(),
    WATT_SERVICE_WALLET: service.publicKey.toBase58(),
    ...(opts.withSecret ? { WATT_SERVICE_SECRET: JSON.stringify([...service.secretKey]), WATT_BURN_INTERVAL_S: "3600" } : {}),
    WATT_DEPOSIT_SCAN_S: "3600", // scans happen on GET /balance in tests, not on a timer
    ...env,
  });
  return {
    sol,
    conn,
    mint,
    service,
    h,
    agent(watt = 100_000n) {
      const k = Keypair.generate();
      sol.airdrop(k.publicKey, BigInt(LAMPORTS_PER_SOL));
      sol.mintTo(k.publicKey, mint, watt * WATT);
      return k;
    },
    pay(from, amount, memo, o = {}) {
      const src = getAssociatedTokenAddressSync(mint, from.publicKey, true);
      const dst = getAssociatedTokenAddressSync(mint, service.publicKey, true);
      return sendAndConfirm(
        conn,
        [from],
        [
          createTransferCheckedInstruction(src, mint, dst, from.publicKey, o.baseUnits ? amount : amount * WATT, 9),
          createMemoInstruction(memo, [from.publicKey]),
        ],
        o,
      );
    },
    send: (signers, ixs, o) => sendAndConfirm(conn, signers, ixs, o),
    serviceBalance: () => sol.tokenBalance(service.publicKey, mint),
    async supply() {
      const info = await conn.getParsedAccountInfo(mint);
      return BigInt((info.value!.data as { parsed: { info: { supply: string } } }).parsed.info.supply);
    },
    async close() {
      await h.close();
      await sol.close();
    },
  };
}
