/**
 * `npm run solana:local`: the Solana stand-in on 127.0.0.1:8899 (SOLANA_LOCAL_PORT) with a WATT mint
 * (9 decimals), a service wallet and a demo agent holding 1,000,000 WATT. Writes
 * DATA_DIR/solana-local.json (secrets included: it is a local, throwaway ledger) for the keeper and
 * the demo. `startLocalSolana` does the same in-process (npm start uses it).
 */
import fs from "node:fs";
import path from "node:path";
import { Keypair, LAMPORTS_PER_SOL } from "@solana/web3.js";
import { getAssociatedTokenAddressSync } from "@solana/spl-token";
import { startSolanaStandin, SolanaStandin } from "./server";

export interface LocalSolanaInfo {
  rpcUrl: string;
  wattMint: string;
  wattDecimals: number;
  serviceWallet: string;
  /** JSON array of the 64 secret-key bytes (solana-keygen format), as WATT_SERVICE_SECRET wants it. */
  serviceWalletSecret: string;
  serviceTokenAccount: string;
  agent: string;
  agentSecret: string;
  agentTokenAccount: string;
}

export async function startLocalSolana(opts: {
  port?: number;
  dataDir: string;
}): Promise<{ standin: SolanaStandin; info: LocalSolanaInfo; file: string }> {
  const standin = await startSolanaStandin({ port: opts.port ?? 8899 });
  const mintAuthority = Keypair.generate();
  const service = Keypair.generate();
  const agent = Keypair.generate();
  const mint = standin.createMint(9, mintAuthority.publicKey);
  for (const k of [service, agent]) standin.airdrop(k.publicKey, 10n * BigInt(LAMPORTS_PER_SOL));
  standin.mintTo(service.publicKey, mint, 0n);
  standin.mintTo(agent.publicKey, mint, 1_000_000n * 10n ** 9n);
  const info: LocalSolanaInfo = {
    rpcUrl: standin.url,
    wattMint: mint.toBase58(),
    wattDecimals: 9,
    serviceWallet: service.publicKey.toBase58(),
    serviceWalletSecret: JSON.stringify([...service.secretKey]),
    serviceTokenAccount: getAssociatedTokenAddressSync(mint, service.publicKey, true).toBase58(),
    agent: agent.publicKey.toBase58(),
    agentSecret: JSON.stringify([...agent.secretKey]),
    agentTokenAccount: getAssociatedTokenAddressSync(mint, agent.publicKey, true).toBase58(),
  };
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const file = path.join(opts.dataDir, "solana-local.json");
  fs.writeFileSync(file, JSON.stringify(info, null, 2), { mode: 0o600 });
  return { standin, info, file };
}

if (require.main === module) {
  const port = Number(process.env.SOLANA_LOCAL_PORT ?? 8899);
  startLocalSolana({ port, dataDir: process.env.DATA_DIR ?? "./data" }).then(
    ({ standin, info, file }) => {
      // eslint-disable-next-line @typescript-eslint/no-unused-vars
      const { serviceWalletSecret, agentSecret, ...shown } = info;
      console.log(`Solana stand-in at ${info.rpcUrl}: WATT mint (9 decimals), service wallet, agent with 1,000,000 WATT`);
      console.log(JSON.stringify(shown, null, 2));
      console.log(`wrote ${file} (with the local keys); Ctrl-C stops it`);
      const stop = () => void standin.close().then(() => process.exit(0));
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    },
    (e: Error) => {
      console.error(`solana:local could not start on 127.0.0.1:${port}: ${e.message}`);
      process.exit(1);
    },
  );
}
