/**
 * Builds a running keeper from configuration: database, RPC, wallet, deployment, providers, HTTP.
 * With no RPC_URL this is the embedded default: a local chain is started and deployed first.
 */
import fs from "node:fs";
import path from "node:path";
import { Contract, JsonRpcProvider, Wallet } from "ethers";
import type { FastifyInstance } from "fastify";
import type { KeeperConfig } from "./config";
import { createLogger, Logger } from "./log";
import { createMetrics } from "./metrics";
import { Keeper, Deployment } from "./keeper";
import { loadDeployment } from "./deployment";
import { createHttpServer } from "./http/server";
import { chooseLocalProvider } from "./providers/local";
import { cloudProviders, ProviderRegistry } from "./providers/registry";
import { Failover } from "./sessions/failover";
import { Payouts, payoutsFromConfig } from "./payouts/payouts";
import { deployLocal, devWallet, LocalChain, startLocalChain } from "../localnet/chain";
import { JobsRuntime, startJobs } from "./jobs/runtime";
import { mountApi } from "./http/api";
import { openStore, Store } from "./store/store";

export interface App {
  keeper: Keeper;
  http: FastifyInstance;
  /** The raw connection behind the store, for tests and tools that inspect the state. */
  db: Store["db"];
  /** The one door to `db` (keeper/store/store.ts); everything outside keeper/store/ goes through it. */
  store: Store;
  log: Logger;
  deployment: Deployment;
  rpcUrl: string;
  chain?: LocalChain;
  jobs: JobsRuntime;
  stop(): Promise<void>;
}

export const dbPath = (cfg: KeeperConfig) => path.join(cfg.DATA_DIR, "keeper.sqlite");
export const embeddedDeploymentPath = (cfg: KeeperConfig) => path.join(cfg.DATA_DIR, "local-deployment.json");

/** Starts the embedded chain and writes its deployment file; the previous local database is discarded. */
async function startEmbedded(cfg: KeeperConfig, log: Logger): Promise<{ chain: LocalChain; cfg: KeeperConfig }> {
  log.info(`no RPC_URL: starting the embedded local chain (chain id 8453) on 127.0.0.1:${cfg.LOCAL_CHAIN_PORT}`);
  const chain = await startLocalChain(cfg.LOCAL_CHAIN_PORT, 1000);
  const deployment = await deployLocal(chain.rpcUrl);
  fs.mkdirSync(cfg.DATA_DIR, { recursive: true });
  fs.writeFileSync(embeddedDeploymentPath(cfg), JSON.stringify(deployment, null, 2));
  // The embedded chain is new every start: so is its keeper database.
  for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(dbPath(cfg) + suffix, { force: true });
  log.info({ contracts: deployment.contracts }, "embedded chain deployed");
  return {
    chain,
    cfg: {
      ...cfg,
      RPC_URL: chain.rpcUrl,
      KEEPER_PRIVATE_KEY: cfg.KEEPER_PRIVATE_KEY ?? devWallet(1).privateKey,
      DEPLOYMENT_FILE: embeddedDeploymentPath(cfg),
      CONFIRMATIONS: cfg.CONFIRMATIONS,
      // x402 in USDC on the local chain's USDC (EIP-3009): paid to the treasury, settled by dev account 4.
      ...(cfg.X402_USDC_ADDRESS
        ? {}
        : {
            X402_EVM_RPC_URL: chain.rpcUrl,
            X402_USDC_ADDRESS: deployment.contracts.USDC,
            X402_EVM_PAY_TO: deployment.roles.treasury,
            X402_EVM_SETTLER_KEY: devWallet(4).privateKey,
            X402_USDC_PER_WATT: cfg.X402_USDC_PER_WATT ?? "0.0001",
          }),
    },
  };
}

/** Transient RPC failures at start-up are retried with backoff (about a minute in all), like the main loop's. */
async function retrying<T>(what: string, fn: () => Promise<T>, log: Logger, attempts = 10): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw new Error(`${what} failed ${attempts} times: ${(err as Error).message}`, { cause: err });
      log.warn({ what, attempt: i, err: (err as Error).message }, "RPC call failed at start-up; retrying");
      await new Promise((r) => setTimeout(r, Math.min(10_000, 250 * 2 ** i)));
    }
  }
}

export async function startApp(initial: KeeperConfig, opts: { listen?: boolean } = {}): Promise<App> {
  const log = createLogger(initial.LOG_LEVEL, initial.LOG_PRETTY);
  let cfg = initial;
  let chain: LocalChain | undefined;
  if (!cfg.RPC_URL) ({ chain, cfg } = await startEmbedded(cfg, log));
  if (!cfg.KEEPER_PRIVATE_KEY) throw new Error("KEEPER_PRIVATE_KEY is required when RPC_URL is set");
  const deployment = loadDeployment(cfg);
  // No batching stall: ethers would hold every call 10 ms to batch it, on the path from event to provision.
  const rpc = new JsonRpcProvider(cfg.RPC_URL, deployment.chainId, { staticNetwork: true, cacheTimeout: -1, batchStallTime: 0 });
  const reported = Number(await retrying("eth_chainId", () => rpc.send("eth_chainId", []), log));
  if (reported !== deployment.chainId)
    throw new Error(`RPC_URL serves chain ${reported}, the deployment is on chain ${deployment.chainId}`);

  const store = openStore(dbPath(cfg));
  const db = store.db;
  const identity = `${deployment.chainId}:${deployment.compute.toLowerCase()}:${deployment.startBlock}`;
  // Read and claimed in one transaction: two keepers started on one file cannot both claim it.
  const stored = await store.tx(async () => {
    const found = await store.meta.get("deployment");
    if (!found) await store.meta.set("deployment", identity);
    return found;
  });
  if (stored && stored !== identity) {
    store.close();
    throw new Error(`${dbPath(cfg)} belongs to deployment ${stored}, not ${identity}: use another DATA_DIR`);
  }

  const metrics = createMetrics();
  const local = await chooseLocalProvider(cfg, log);
  const registry = new ProviderRegistry(local, cloudProviders(cfg, log, store));
  const failover = new Failover(
    store,
    registry,
    {
      deadlineSeconds: cfg.FAILOVER_DEADLINE_S,
      breakerThreshold: cfg.FAILOVER_BREAKER_THRESHOLD,
      cooldownSeconds: cfg.FAILOVER_COOLDOWN_S,
      quoteTimeoutMs: cfg.PROVIDER_REQUEST_TIMEOUT_MS,
    },
    log,
  );
  const keeper = new Keeper(
    store,
    rpc,
    new Wallet(cfg.KEEPER_PRIVATE_KEY),
    deployment,
    registry.idMap(),
    local,
    {
      confirmations: cfg.CONFIRMATIONS,
      logRange: cfg.LOG_RANGE,
      reorgWindow: cfg.REORG_WINDOW,
      pollIntervalMs: cfg.POLL_INTERVAL_MS,
      claimIntervalSeconds: cfg.CLAIM_INTERVAL_S,
      provisionTimeoutSeconds: cfg.PROVISION_TIMEOUT_S,
      bumpAfterSeconds: cfg.TX_BUMP_AFTER_S,
      failover,
      renewalLeadSeconds: cfg.RENEWAL_LEAD_S,
      treasurySweepBlocks: cfg.TREASURY_SWEEP_BLOCKS,
    },
    log,
    metrics,
  );
  const jobs = await startJobs(cfg, store, log);
  const http = createHttpServer(metrics, {
    async health() {
      const [k, j] = await Promise.all([keeper.health(), jobs.health()]);
      return { ...k, ok: k.ok && j.ok, services: j };
    },
  });
  mountApi(http, jobs);
  await jobs.ready();
  if (opts.listen !== false) {
    await http.listen({ host: cfg.HTTP_HOST, port: cfg.HTTP_PORT });
    log.info({ url: `http://${cfg.HTTP_HOST}:${(http.server.address() as { port: number }).port}` }, "HTTP API listening");
  }
  keeper.start();
  // Paying providers: claimed USDC paid out through LI.FI (disabled unless configured).
  const usdc = cfg.PAYOUT_PRIVATE_KEY
    ? String(await new Contract(deployment.compute, ["function usdc() view returns (address)"], rpc).usdc())
    : undefined;
  const payouts: Payouts | undefined = payoutsFromConfig(cfg, store, rpc, deployment, log, usdc);
  payouts?.start();
  log.info(
    { compute: deployment.compute, chainId: deployment.chainId, provider: local.name, confirmations: cfg.CONFIRMATIONS },
    "keeper started",
  );
  return {
    keeper,
    http,
    db,
    store,
    log,
    deployment,
    rpcUrl: cfg.RPC_URL!,
    chain,
    jobs,
    async stop() {
      // Running jobs are aborted first (they settle, refunded per their service, and answer), then HTTP stops.
      await jobs.close();
      await http.close();
      await keeper.stop();
      await payouts?.stop();
      rpc.destroy();
      store.close();
      await chain?.stop();
    },
  };
}
