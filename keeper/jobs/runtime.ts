/**
 * Everything behind the paid APIs, built from configuration: the services (scrape, execute), WATT
 * verification on Solana (when SOLANA_RPC_URL is set), prepaid balances, rate limits, the pipeline,
 * Merkle batches for the chain, deposit scanning and the batched burn, with their timers.
 */
import { Connection, Keypair, PublicKey } from "@solana/web3.js";
import { getAssociatedTokenAddressSync } from "@solana/spl-token";
import type { Logger } from "pino";
import type { KeeperConfig } from "../config";
import crypto from "node:crypto";
import type { Store } from "../store/store";
import type { AuthPolicy } from "../payments/agentAuth";
import type { JobService } from "../services/jobService";
import { createScrapeService } from "../services/scrape";
import { createExecuteService } from "../services/execute";
import { WattVerifier, WattSettings } from "../payments/verifier";
import { DepositScanner } from "../payments/deposits";
import { WattBurner } from "../payments/burner";
import { parseWatt } from "../payments/watt";
import { backfillGranted } from "../payments/ledger";
import { JobPipeline } from "./pipeline";
import { JobBatcher } from "./batcher";
import { RateLimiter, WindowLimiter } from "./rateLimiter";
import { X402Solana } from "../payments/x402";
import { X402Evm } from "../payments/x402Evm";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyService = JobService<any, any>;

export interface JobsRuntime {
  store: Store;
  services: Map<string, AnyService>;
  pipeline: JobPipeline;
  batcher: JobBatcher;
  verifier?: WattVerifier;
  deposits?: DepositScanner;
  burner?: WattBurner;
  decimals: number;
  /** Signed requests: this service's id (GET /api/v1/service) and the accepted versions. */
  auth: AuthPolicy;
  /** Per client address: deposit scans that GET /api/v1/balance may trigger per minute. */
  balanceScans: WindowLimiter;
  balanceScansPerMin: number;
  /** What GET /api/v1/service publishes. */
  serviceInfo(): Record<string, unknown>;
  health(): Promise<{ ok: boolean } & Record<string, unknown>>;
  /** Resolves once what the 402s need without an RPC call is known (x402: the USDC domain, a facilitator's fee payer); never rejects. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

export function wattSettings(cfg: KeeperConfig): WattSettings | undefined {
  if (!cfg.SOLANA_RPC_URL || !cfg.WATT_MINT || !cfg.WATT_SERVICE_WALLET) return undefined;
  const mint = new PublicKey(cfg.WATT_MINT);
  return {
    mint,
    decimals: cfg.WATT_DECIMALS,
    serviceTokenAccount: getAssociatedTokenAddressSync(mint, new PublicKey(cfg.WATT_SERVICE_WALLET), true),
    commitment: cfg.SOLANA_COMMITMENT,
    scanPages: cfg.SOLANA_SCAN_PAGES,
  };
}

/**
 * The id signed requests name (agentAuth v2): PUBLIC_URL's origin when set, else
 * "solana:<service wallet>"; a keeper with neither gets a random "keeper:<hex>" id kept in its
 * database (stable across restarts, unique per keeper).
 */
export async function serviceIdentity(cfg: KeeperConfig, store: Store): Promise<string> {
  if (cfg.PUBLIC_URL) return new URL(cfg.PUBLIC_URL).origin;
  if (cfg.WATT_SERVICE_WALLET) return `solana:${cfg.WATT_SERVICE_WALLET}`;
  // In one transaction: two keepers starting on one file agree on one id.
  return store.tx(async () => {
    let id = await store.meta.get("service_id");
    if (!id) {
      id = `keeper:${crypto.randomBytes(16).toString("hex")}`;
      await store.meta.set("service_id", id);
    }
    return id;
  });
}

const serviceKey = (cfg: KeeperConfig): Keypair | undefined =>
  cfg.WATT_SERVICE_SECRET ? Keypair.fromSecretKey(Uint8Array.from(JSON.parse(cfg.WATT_SERVICE_SECRET) as number[])) : undefined;

/** x402 on Solana: offered when WATT is verified on Solana and a fee payer exists (ours, or the facilitator's). */
function x402Solana(
  cfg: KeeperConfig,
  store: Store,
  verifier: WattVerifier | undefined,
  feePayer: Keypair | undefined,
  log: Logger,
): X402Solana | undefined {
  if (!cfg.X402_ENABLED || !verifier || (!feePayer && !cfg.X402_FACILITATOR_URL)) return undefined;
  return new X402Solana(
    store,
    verifier,
    {
      network: cfg.X402_SOLANA_NETWORK,
      mint: verifier.settings.mint,
      payTo: new PublicKey(cfg.WATT_SERVICE_WALLET!),
      rpcUrl: cfg.SOLANA_RPC_URL!,
      feePayer: cfg.X402_FACILITATOR_URL ? undefined : feePayer,
      facilitatorUrl: cfg.X402_FACILITATOR_URL,
      maxTimeoutSeconds: cfg.X402_MAX_TIMEOUT_S,
      verifyPerIpPerMinute: cfg.X402_VERIFY_PER_IP_PER_MIN,
    },
    log.child({ svc: "x402" }),
  );
}

export async function startJobs(
  cfg: KeeperConfig,
  store: Store,
  log: Logger,
  extra: { services?: AnyService[] } = {},
): Promise<JobsRuntime> {
  const decimals = cfg.WATT_DECIMALS;
  const services = new Map<string, AnyService>();
  for (const s of extra.services ?? []) services.set(s.name, s);
  const names = cfg.SERVICES.split(",").filter(Boolean);
  if (names.includes("scrape") && !services.has("scrape"))
    services.set("scrape", createScrapeService(cfg, log.child({ svc: "scrape" }), { wattDecimals: decimals }));
  if (names.includes("execute") && !services.has("execute"))
    services.set("execute", createExecuteService(cfg, log.child({ svc: "execute" }), { wattDecimals: decimals }));

  const settings = wattSettings(cfg);
  const connection = settings
    ? new Connection(cfg.SOLANA_RPC_URL!, { commitment: settings.commitment, disableRetryOnRateLimit: true })
    : undefined;
  const verifier = settings && connection ? new WattVerifier(connection, settings) : undefined;
  const deposits = verifier ? new DepositScanner(store, verifier, log.child({ svc: "deposits" }), cfg.WATT_UNMATCHED_GRACE_S) : undefined;
  let burner: WattBurner | undefined;
  if (settings && connection && cfg.WATT_SERVICE_SECRET) {
    const owner = Keypair.fromSecretKey(Uint8Array.from(JSON.parse(cfg.WATT_SERVICE_SECRET) as number[]));
    if (owner.publicKey.toBase58() !== cfg.WATT_SERVICE_WALLET)
      throw new Error("WATT_SERVICE_SECRET is not the key of WATT_SERVICE_WALLET");
    burner = new WattBurner(
      store,
      connection,
      { ...settings, owner, minBatch: parseWatt(String(cfg.WATT_BURN_MIN), decimals), backoffMaxS: cfg.WATT_BURN_BACKOFF_MAX_S },
      log.child({ svc: "burn" }),
    );
  }
  // A database from before granted WATT was tracked apart: its grants are found from the ledger, once.
  if (await backfillGranted(store))
    log.info("granted WATT backfilled from the ledger (balances' granted part, jobs' charged_granted and burn_owed)");
  const auth: AuthPolicy = { serviceId: await serviceIdentity(cfg, store), acceptV1: cfg.AUTH_ACCEPT_V1 };
  const x402 = x402Solana(cfg, store, verifier, serviceKey(cfg), log);
  const evmRpc = cfg.X402_EVM_RPC_URL ?? cfg.RPC_URL;
  const x402Evm =
    cfg.X402_ENABLED && evmRpc && cfg.X402_USDC_ADDRESS && cfg.X402_EVM_PAY_TO && cfg.X402_EVM_SETTLER_KEY && cfg.X402_USDC_PER_WATT
      ? new X402Evm(
          store,
          {
            rpcUrl: evmRpc,
            network: cfg.X402_EVM_NETWORK,
            usdc: cfg.X402_USDC_ADDRESS,
            payTo: cfg.X402_EVM_PAY_TO,
            settlerKey: cfg.X402_EVM_SETTLER_KEY,
            usdcPerWatt: cfg.X402_USDC_PER_WATT,
            wattDecimals: decimals,
            maxTimeoutSeconds: cfg.X402_EVM_MAX_TIMEOUT_S,
            minValidityS: cfg.X402_EVM_MIN_VALIDITY_S,
            verifyPerIpPerMinute: cfg.X402_VERIFY_PER_IP_PER_MIN,
          },
          log.child({ svc: "x402-evm" }),
        )
      : undefined;
  const pipeline = new JobPipeline(
    store,
    services,
    verifier,
    new RateLimiter(store),
    {
      decimals,
      limits: {
        agentPerHour: cfg.RATE_LIMIT_AGENT_PER_HOUR,
        urlPerHour: cfg.RATE_LIMIT_URL_PER_HOUR,
        globalPerHour: cfg.RATE_LIMIT_GLOBAL_PER_HOUR,
      },
      auth,
      negativeTtlS: cfg.WATT_MEMO_NEGATIVE_TTL_S,
      lookupsPerMin: cfg.PAYMENT_LOOKUPS_PER_MIN,
      x402,
      x402Evm,
    },
    log.child({ svc: "jobs" }),
  );
  const authVersions = cfg.AUTH_ACCEPT_V1 ? [1, 2] : [2];
  const serviceInfo = () => ({
    service_id: auth.serviceId,
    wallet: cfg.WATT_SERVICE_WALLET ?? null,
    watt_mint: cfg.WATT_MINT ?? null,
    watt_decimals: decimals,
    token_account: settings?.serviceTokenAccount.toBase58() ?? null,
    services: [...services.keys()],
    prices: {
      scrape: {
        simple: cfg.SCRAPE_PRICE_SIMPLE,
        standard: cfg.SCRAPE_PRICE_STANDARD,
        javascript: cfg.SCRAPE_PRICE_JS,
        screenshot: cfg.SCRAPE_PRICE_SCREENSHOT,
      },
      execute: { quick: cfg.EXECUTE_PRICE_QUICK, standard: cfg.EXECUTE_PRICE_STANDARD, extended: cfg.EXECUTE_PRICE_EXTENDED },
    },
    payments: {
      memo: verifier !== undefined,
      prepaid: true,
      x402: x402 || x402Evm ? [x402?.settings.network, x402Evm?.network ?? x402Evm?.settings.network].filter(Boolean) : false,
    },
    auth: {
      versions: authVersions,
      message: "AgentCompute v2\n<service_id>\n<METHOD>\n<path>\n<timestamp ms>\n<sha256 hex of the body>",
      headers: ["X-Agent-Pubkey", "X-Agent-Timestamp", "X-Agent-Signature"],
      key: "ed25519 (Solana)",
    },
  });
  await pipeline.recoverInterrupted();
  const batcher = new JobBatcher(
    store,
    { maxJobs: cfg.JOB_BATCH_SIZE, maxAgeSeconds: cfg.JOB_BATCH_MAX_AGE_S },
    log.child({ svc: "batches" }),
  );

  // Timers: each tick is idempotent, errors are logged and the next tick retries.
  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, what: string, f: () => unknown) => {
    let busy = false;
    // Never rejects: a failed run is logged here, so the interval can drop the promise.
    const tick = async () => {
      if (busy) return;
      busy = true;
      try {
        await f();
      } catch (e) {
        log.warn({ what, err: (e as Error).message.replace(/https?:\/\/\S+/g, "<url>") }, "periodic job failed; will retry");
      } finally {
        busy = false;
      }
    };
    const t = setInterval(() => void tick(), ms);
    t.unref();
    timers.push(t);
  };
  every(1000, "job batches", () => batcher.tick());
  if (deposits) every(cfg.WATT_DEPOSIT_SCAN_S * 1000, "deposit scan", () => deposits.scan());
  if (burner) every(cfg.WATT_BURN_INTERVAL_S * 1000, "burn", () => burner!.tick());

  return {
    store,
    services,
    pipeline,
    batcher,
    verifier,
    deposits,
    burner,
    decimals,
    auth,
    balanceScans: new WindowLimiter(60_000),
    balanceScansPerMin: cfg.BALANCE_SCANS_PER_MIN,
    serviceInfo,
    async health() {
      const out: Record<string, unknown> = {};
      let ok = true;
      await Promise.all(
        [...services.values()].map(async (s) => {
          const h = s.health
            ? await Promise.race([
                s.health(),
                new Promise<{ ok: boolean; detail: string }>((r) =>
                  setTimeout(() => r({ ok: false, detail: "health check timed out" }), 2000).unref(),
                ),
              ]).catch((e: Error) => ({ ok: false, detail: e.message }))
            : { ok: true };
          out[s.name] = h;
          ok &&= h.ok;
        }),
      );
      return {
        ok,
        ...out,
        payments: verifier ? "solana" : "prepaid only",
        service_id: auth.serviceId,
        auth_versions: authVersions,
        x402: [x402?.settings.network, x402Evm?.network ?? x402Evm?.settings.network].filter(Boolean),
      };
    },
    async ready() {
      // Bounded: an unreachable RPC or facilitator must not hold the keeper's start (they are retried on use).
      const all = Promise.all([x402Evm?.init(), x402?.feePayer()].map((p) => p?.catch(() => undefined)));
      await Promise.race([all, new Promise((r) => setTimeout(r, 5000).unref())]);
    },
    async close() {
      for (const t of timers) clearInterval(t);
      await pipeline.close();
      x402Evm?.provider.destroy();
      for (const s of services.values()) await s.close?.().catch(() => undefined);
    },
  };
}
