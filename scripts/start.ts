/**
 * `npm start`: the keeper (keeper/cli.ts start). With neither RPC_URL nor SOLANA_RPC_URL set this is
 * the embedded default, all on 127.0.0.1 with no keys and no internet: the keeper starts its local
 * EVM chain itself, and this script first starts the Solana stand-in (localnet/solana) with a
 * WATT mint, a service wallet and a funded demo agent (data/solana-local.json), and points the WATT
 * services at it. Only in that embedded default may the scraper reach 127.0.0.1 (the demo scrapes a
 * page it serves itself); set SCRAPE_ALLOWED_CIDRS to override. x402 is offered on both: WATT on the
 * stand-in (as solana devnet) and USDC by EIP-3009 on the embedded chain (keeper/app.ts).
 */
import { startApp } from "../keeper/app";
import { ConfigError, loadConfig } from "../keeper/config";
import { startLocalSolana } from "../localnet/solana/cli";

async function main() {
  const env = { ...process.env };
  let stopSolana: (() => Promise<void>) | undefined;
  if (!env.RPC_URL && !env.SOLANA_RPC_URL) {
    const { standin, info, file } = await startLocalSolana({
      port: Number(env.SOLANA_LOCAL_PORT ?? 8899),
      dataDir: env.DATA_DIR ?? "./data",
    });
    stopSolana = () => standin.close();
    Object.assign(env, {
      SOLANA_RPC_URL: info.rpcUrl,
      WATT_MINT: info.wattMint,
      WATT_DECIMALS: String(info.wattDecimals),
      WATT_SERVICE_WALLET: info.serviceWallet,
      WATT_SERVICE_SECRET: info.serviceWalletSecret,
      SCRAPE_ALLOWED_CIDRS: env.SCRAPE_ALLOWED_CIDRS ?? "127.0.0.1/32",
      JOB_BATCH_MAX_AGE_S: env.JOB_BATCH_MAX_AGE_S ?? "5",
      WATT_BURN_INTERVAL_S: env.WATT_BURN_INTERVAL_S ?? "10",
      WATT_DEPOSIT_SCAN_S: env.WATT_DEPOSIT_SCAN_S ?? "2",
      // x402 clients know the public clusters only: the stand-in is offered under devnet's CAIP-2 id
      // (clients are pointed at its URL); the service wallet co-signs x402 payments as fee payer.
      X402_SOLANA_NETWORK: env.X402_SOLANA_NETWORK ?? "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
    });
    console.log(
      `local Solana stand-in at ${info.rpcUrl}: WATT mint ${info.wattMint}, service wallet ${info.serviceWallet}, demo agent ${info.agent} (${file})`,
    );
  }
  const app = await startApp(loadConfig(env));
  const shutdown = async (signal: string) => {
    app.log.info({ signal }, "stopping");
    await app.stop();
    await stopSolana?.();
    process.exit(0);
  };
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : `start: ${(err as Error).message}`);
  process.exit(2);
});
