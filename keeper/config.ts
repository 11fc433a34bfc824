/**
 * Keeper configuration: environment variables, optionally a JSON file (KEEPER_CONFIG_FILE or
 * --config) whose keys are the same names; the environment wins. Validated with zod at start, and
 * every wrong or missing setting is named in one error.
 */
import fs from "node:fs";
import os from "node:os";
import { z } from "zod";
import { applyRenames, Deprecation, emitDeprecationWarning, RENAMED_KEYS } from "./configRenames";

const bool = z.union([z.boolean(), z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1")]);
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "must be a 0x-prefixed 20-byte hex address");

export const ConfigSchema = z
  .object({
    /** Chain JSON-RPC URL. Unset: the embedded local chain (npm start). */
    RPC_URL: z.string().url().optional(),
    /** Hex private key of the keeper account (KEEPER_ROLE). Secret: never logged. */
    KEEPER_PRIVATE_KEY: z
      .string()
      .regex(/^0x[0-9a-fA-F]{64}$/, "must be 0x followed by 64 hex digits")
      .optional(),
    /** deployments/<network>.json written by scripts/deploy.ts. */
    DEPLOYMENT_FILE: z.string().optional(),
    AGENT_COMPUTE_ADDRESS: address.optional(),
    START_BLOCK: int(0, Number.MAX_SAFE_INTEGER).optional(),
    CHAIN_ID: int(1, 2 ** 32).optional(),
    CONFIRMATIONS: int(0, 1000).default(3),
    /** Largest eth_getLogs block range per request. */
    LOG_RANGE: int(1, 100_000).default(2_000),
    /** How often the keeper looks for new blocks: the latency from confirmation to provisioning is about half of it. */
    POLL_INTERVAL_MS: int(50, 600_000).default(250),
    /** Blocks of hashes kept to detect reorgs. */
    REORG_WINDOW: int(8, 100_000).default(256),
    DATA_DIR: z.string().default("./data"),
    HTTP_HOST: z.string().default("127.0.0.1"),
    HTTP_PORT: int(0, 65535).default(8787),
    /** Local providers: docker (dockerode), bubblewrap. auto: docker if reachable, else bubblewrap. ("process": bubblewrap's old name, still read.) */
    LOCAL_PROVIDER: z.enum(["auto", "docker", "bubblewrap"]).default("auto"),
    DOCKER_HOST: z.string().optional(),
    // --- Code execution (keeper/services/execute, POST /api/v1/execute)
    /** auto: docker when an engine answers at DOCKER_HOST and EXECUTE_DOCKER_IMAGE exists, else bubblewrap. ("bwrap": bubblewrap's old name, still read.) */
    EXECUTE_BACKEND: z.enum(["auto", "docker", "bubblewrap"]).default("auto"),
    /** Runtime image with python3, node and bash (scripts/build-runtime-images.sh, no registry). */
    EXECUTE_DOCKER_IMAGE: z.string().min(1).default("agentcompute/runtime:local"),
    /** Prices in whole WATT: quick (<= 5 s, <= 128 MB), standard (<= 30 s, <= 256 MB), extended (<= 60 s, <= 512 MB). */
    EXECUTE_PRICE_QUICK: int(0, 1e12).default(300),
    EXECUTE_PRICE_STANDARD: int(0, 1e12).default(500),
    EXECUTE_PRICE_EXTENDED: int(0, 1e12).default(1000),
    /** Jobs running at once (the rest wait in a FIFO queue of EXECUTE_QUEUE_MAX, then CAPACITY_EXCEEDED). */
    EXECUTE_CONCURRENCY: int(1, 256).default(2),
    EXECUTE_QUEUE_MAX: int(0, 100_000).default(32),
    /** Per stream (stdout, stderr); more is dropped, the job killed and output.<stream>_truncated set. */
    EXECUTE_MAX_OUTPUT_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
    // --- Scraper (keeper/services/scrape, POST /api/v1/scrape; docs/scraper.md)
    /** Prices in whole WATT. simple: text/html without selectors; standard: selectors or json; js: options.javascript; a screenshot adds SCRAPE_PRICE_SCREENSHOT. */
    SCRAPE_PRICE_SIMPLE: int(0, 1e12).default(100),
    SCRAPE_PRICE_STANDARD: int(0, 1e12).default(200),
    SCRAPE_PRICE_JS: int(0, 1e12).default(500),
    SCRAPE_PRICE_SCREENSHOT: int(0, 1e12).default(300),
    /** Comma-separated CIDRs the scraper may reach although not public unicast (operator setting, e.g. an intranet mirror). Default: none. */
    SCRAPE_ALLOWED_CIDRS: z.string().default(""),
    /** Comma-separated domain suffixes never scraped (an entry blocks the name and every subdomain). */
    SCRAPE_BLOCKED_DOMAINS: z.string().default("localhost,localdomain,local,internal,intranet,lan,home.arpa,metadata.goog,instance-data"),
    /** Largest response body (after decompression) and largest rendered page, bytes. */
    SCRAPE_MAX_BYTES: int(1024, 256 * 1024 * 1024).default(5 * 1024 * 1024),
    /** options.timeout (seconds) is bounded by this; its default is SCRAPE_DEFAULT_TIMEOUT_S. */
    SCRAPE_MAX_TIMEOUT_S: int(1, 600).default(60),
    SCRAPE_DEFAULT_TIMEOUT_S: int(1, 600).default(30),
    SCRAPE_MAX_REDIRECTS: int(0, 20).default(5),
    /** Debian's Chromium, driven by playwright-core (never a downloaded browser). */
    SCRAPE_CHROMIUM_PATH: z.string().min(1).default("/usr/bin/chromium"),
    /** Worker threads that parse pages and extract data (0: on the event loop). Default: the machine's cores, at most 4. */
    SCRAPE_PARSE_WORKERS: int(0, 64).default(Math.min(4, Math.max(1, os.availableParallelism()))),
    /** Browser pages kept open per kind (JavaScript on / off): also how many browser jobs run at once. */
    SCRAPE_BROWSER_PAGES: int(1, 32).default(2),
    // --- Paid jobs and WATT (keeper/jobs, keeper/payments; docs/payments.md)
    /** Services mounted under POST /api/v1/<name> (comma-separated; empty: none). */
    SERVICES: z
      .string()
      .regex(/^((scrape|execute)(,(scrape|execute))*)?$/, "comma-separated: scrape, execute")
      .default("scrape,execute"),
    /** Solana JSON-RPC URL for WATT payments. Unset: only prepaid balances (operator credits) pay. */
    SOLANA_RPC_URL: z.string().url().optional(),
    SOLANA_COMMITMENT: z.enum(["confirmed", "finalized"]).default("confirmed"),
    /** getSignaturesForAddress pages (1000 each) searched for a job's payment memo. */
    SOLANA_SCAN_PAGES: int(1, 100).default(2),
    /** The WATT SPL mint (base58). */
    WATT_MINT: z
      .string()
      .regex(/^[1-9A-HJ-NP-Za-km-z]{32,44}$/, "a base58 Solana address")
      .optional(),
    WATT_DECIMALS: int(0, 18).default(9),
    /** The service wallet (owner of the token account payments go to; its associated token account is used). */
    WATT_SERVICE_WALLET: z
      .string()
      .regex(/^[1-9A-HJ-NP-Za-km-z]{32,44}$/, "a base58 Solana address")
      .optional(),
    /** The service wallet's secret key (JSON array of 64 bytes, as solana-keygen writes it): enables the batched burn. Secret: never logged. */
    WATT_SERVICE_SECRET: z
      .string()
      .regex(/^\[\s*\d+(\s*,\s*\d+){63}\s*\]$/, "a JSON array of 64 numbers (solana-keygen format)")
      .optional(),
    /** Whole WATT: the burn share is burned once this much is owed. */
    WATT_BURN_MIN: z.coerce.number().nonnegative().default(1),
    WATT_BURN_INTERVAL_S: int(1, 86_400).default(60),
    /** Deposits (memo "deposit:<agent>") are looked for this often. */
    WATT_DEPOSIT_SCAN_S: int(1, 86_400).default(15),
    /** WATT that reached the service account without paying for anything is credited to its payer after this long. */
    WATT_UNMATCHED_GRACE_S: int(0, 30 * 86_400).default(3600),
    /** The service's public URL (https://api.example.com): its origin is the service id signed requests name. Unset: "solana:<WATT_SERVICE_WALLET>". */
    PUBLIC_URL: z
      .string()
      .url()
      .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), "an http(s) URL")
      .optional(),
    /** Also accept signed requests of version 1 (no service id in the message). Default off: AUTH_V1_REFUSED. */
    AUTH_ACCEPT_V1: bool.default(false),
    /** A memo lookup that found no payment for a job_id is not repeated for this long (the answer is PAYMENT_NOT_FOUND, no RPC). */
    WATT_MEMO_NEGATIVE_TTL_S: int(0, 3_600).default(10),
    /** Per client address: Solana lookups for payments (memo searches, named signatures, deposit claims) per minute. */
    PAYMENT_LOOKUPS_PER_MIN: int(1, 1_000_000).default(30),
    /** Per client address: deposit scans triggered by GET /api/v1/balance per minute. */
    BALANCE_SCANS_PER_MIN: int(1, 1_000_000).default(6),
    /** A failing burn is retried after 2, 4, 8, ... seconds, at most this long. */
    WATT_BURN_BACKOFF_MAX_S: int(1, 86_400).default(3_600),
    // --- x402 (keeper/payments/x402.ts; docs/x402.md). Offered on Solana when SOLANA_RPC_URL is set and
    // either WATT_SERVICE_SECRET (self-facilitated: the service wallet co-signs as fee payer) or X402_FACILITATOR_URL.
    X402_ENABLED: bool.default(true),
    /** CAIP-2 id of the Solana cluster SOLANA_RPC_URL serves (x402 clients pick their RPC by it). Default mainnet-beta; devnet solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1. */
    X402_SOLANA_NETWORK: z
      .string()
      .regex(/^solana:[1-9A-HJ-NP-Za-km-z]{32}$/, "solana:<first 32 characters of the genesis hash>")
      .default("solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"),
    /** External x402 facilitator (its POST /verify, POST /settle, GET /supported). Unset: self-facilitated. */
    X402_FACILITATOR_URL: z.string().url().optional(),
    /** maxTimeoutSeconds offered in PAYMENT-REQUIRED. */
    X402_MAX_TIMEOUT_S: int(10, 3_600).default(60),
    /** x402 payment verifications (the step that costs an RPC call) per client IP per minute. */
    X402_VERIFY_PER_IP_PER_MIN: int(1, 1_000_000).default(30),
    // x402 on EVM (USDC by EIP-3009, keeper/payments/x402Evm.ts): offered when X402_USDC_ADDRESS, X402_EVM_PAY_TO,
    // X402_EVM_SETTLER_KEY and X402_USDC_PER_WATT are set.
    /** EVM JSON-RPC URL for USDC (Base). Unset: RPC_URL. */
    X402_EVM_RPC_URL: z.string().url().optional(),
    /** eip155:<chain id> (Base eip155:8453, Base Sepolia eip155:84532); checked against the RPC. Unset: the RPC's chain id. */
    X402_EVM_NETWORK: z
      .string()
      .regex(/^eip155:\d{1,12}$/, "eip155:<chain id>")
      .optional(),
    /** The USDC contract (EIP-3009; its EIP-712 name and version are read from eip712Domain()). */
    X402_USDC_ADDRESS: address.optional(),
    /** Who receives the USDC. */
    X402_EVM_PAY_TO: address.optional(),
    /** Hex key of the wallet that submits transferWithAuthorization and pays its gas (holds no USDC). Secret: never logged. */
    X402_EVM_SETTLER_KEY: z
      .string()
      .regex(/^0x[0-9a-fA-F]{64}$/, "must be 0x followed by 64 hex digits")
      .optional(),
    /** The USDC price of a job: its WATT price x this rate, rounded up to a USDC base unit ("0.0001": a 100 WATT scrape is 0.01 USDC). */
    X402_USDC_PER_WATT: z
      .string()
      .regex(/^\d{1,12}(\.\d{1,18})?$/, "a decimal number")
      .optional(),
    /** maxTimeoutSeconds offered for EVM (the authorization's validity), and the least validity left that is accepted (the job runs before settlement). */
    X402_EVM_MAX_TIMEOUT_S: int(60, 86_400).default(300),
    X402_EVM_MIN_VALIDITY_S: int(10, 86_400).default(90),
    /** design.md section 5: per agent and service, per URL, and per service for everyone, per hour. */
    RATE_LIMIT_AGENT_PER_HOUR: int(1, 10_000_000).default(100),
    RATE_LIMIT_URL_PER_HOUR: int(1, 10_000_000).default(10),
    RATE_LIMIT_GLOBAL_PER_HOUR: int(1, 100_000_000).default(10_000),
    /** Finished jobs go on chain (recordJobBatch) in batches of this many, or when the oldest waited JOB_BATCH_MAX_AGE_S. */
    JOB_BATCH_SIZE: int(1, 100_000).default(256),
    JOB_BATCH_MAX_AGE_S: int(1, 86_400).default(300),
    /** Claim streamed escrow of running sessions this often. */
    CLAIM_INTERVAL_S: int(1, 86_400).default(600),
    /** Give up provisioning after this long and refund. */
    PROVISION_TIMEOUT_S: int(1, 86_400).default(300),
    /** Auto-renewal: the keeper sends `renew` this long before a session on auto-renewal ends (capped at the session's renewal period). */
    RENEWAL_LEAD_S: int(1, 365 * 86_400).default(300),
    /** Withdraw the treasury's pull balance (withdraw(treasury)) at most every this many blocks; 0 turns the sweep off. */
    TREASURY_SWEEP_BLOCKS: int(0, 10_000_000).default(100),
    /** The embedded local chain's port on 127.0.0.1 (no RPC_URL only). */
    LOCAL_CHAIN_PORT: int(1, 65535).default(8545),
    /** A transaction not mined after this long is re-sent with higher fees. */
    TX_BUMP_AFTER_S: int(1, 3_600).default(30),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    LOG_PRETTY: bool.default(false),
    // --- Akash (keeper/providers/akash). The provider is enabled when AKASH_REST_URL and AKASH_MNEMONIC are set.
    /** Chain REST (LCD / gRPC-gateway) URL: queries and tx broadcast. */
    AKASH_REST_URL: z.string().url().optional(),
    /** Tendermint RPC URL (informational; the keeper uses REST). */
    AKASH_RPC_URL: z.string().url().optional(),
    AKASH_CHAIN_ID: z.string().min(1).max(64).default("akashnet-2"),
    /** BIP-39 mnemonic of the operator's Akash account. Secret: never logged. */
    AKASH_MNEMONIC: z.string().min(1).optional(),
    /** Escrow deposit at deployment creation, uakt (Akash's minimum is 0.5 AKT). */
    AKASH_DEPOSIT_UAKT: int(1, Number.MAX_SAFE_INTEGER).default(500_000),
    /** How long bids are collected before the cheapest acceptable one is chosen. */
    AKASH_BID_WINDOW_MS: int(1, 600_000).default(60_000),
    /** Highest acceptable bid, uakt per block. */
    AKASH_MAX_PRICE_UAKT_PER_BLOCK: z.coerce.number().positive().default(10_000),
    /** Comma-separated key=value provider attributes every chosen provider must have. */
    AKASH_PROVIDER_ATTRIBUTES: z.string().default(""),
    /** Comma-separated auditor addresses; when set, only providers audited by one of them are accepted. */
    AKASH_AUDITORS: z.string().default(""),
    /** Escrow top-up: keep enough for this look-ahead, then add this runway (Akash Console's rule). */
    AKASH_TOPUP_LOOKAHEAD_S: int(60, 30 * 86_400).default(86_400),
    AKASH_TOPUP_RUNWAY_S: int(0, 30 * 86_400).default(86_400),
    /** Every provision step (chain, provider API) must finish within this; a stuck one fails fast. */
    AKASH_REQUEST_TIMEOUT_MS: int(100, 600_000).default(30_000),
    /** Whole provision() budget: bids + lease + manifest + service up. */
    AKASH_PROVISION_DEADLINE_MS: int(1_000, 3_600_000).default(600_000),
    /** Seconds per block, for price per hour and escrow look-ahead (Akash: about 6.1 s). */
    AKASH_BLOCK_TIME_S: z.coerce.number().positive().max(600).default(6.117),
    /** USDC base units per AKT, for quotes in the session's currency (set from a price feed by the operator). */
    AKASH_USDC_PER_AKT: int(0, Number.MAX_SAFE_INTEGER).default(1_000_000),
    // --- Spheron and io.net (keeper/providers/spheron.ts, ionet.ts): enabled when their API key is set.
    SPHERON_API_URL: z.string().url().default("https://app.spheron.ai"),
    /** Spheron API key (Bearer). Secret: never logged. */
    SPHERON_API_KEY: z.string().min(1).optional(),
    SPHERON_INSTANCE_TYPE: z.enum(["SPOT", "DEDICATED", "CLUSTER"]).default("DEDICATED"),
    SPHERON_SSH_KEY_ID: z.string().optional(),
    SPHERON_OS: z.string().default("ubuntu-22.04"),
    IONET_API_URL: z.string().url().default("https://api.io.solutions"),
    /** io.net API key (x-api-key). Secret: never logged. */
    IONET_API_KEY: z.string().min(1).optional(),
    /** Hardware and location ids from io.net's inventory API. */
    IONET_HARDWARE_ID: int(0, Number.MAX_SAFE_INTEGER).default(0),
    IONET_LOCATION_IDS: z
      .string()
      .regex(/^\d+(,\d+)*$/, "comma-separated integers")
      .default("1"),
    IONET_GPUS_PER_CONTAINER: int(1, 64).default(1),
    /** One request to a cloud provider's API may take this long. */
    PROVIDER_REQUEST_TIMEOUT_MS: int(100, 600_000).default(15_000),
    /** A new instance must be running within this, else provisioning gives up on that provider. */
    PROVIDER_START_DEADLINE_MS: int(100, 3_600_000).default(300_000),
    PROVIDER_POLL_MS: int(10, 60_000).default(5_000),
    // --- Failover (keeper/sessions/failover.ts)
    /** One provider's whole provisioning budget (all its retries) before the next allowed provider is tried. */
    FAILOVER_DEADLINE_S: int(1, 86_400).default(600),
    /** Consecutive failures after which a provider is skipped for FAILOVER_COOLDOWN_S. */
    FAILOVER_BREAKER_THRESHOLD: int(1, 1_000).default(3),
    FAILOVER_COOLDOWN_S: int(1, 86_400).default(900),
    // --- Payouts to providers (keeper/payouts): LI.FI; enabled when PAYOUT_PRIVATE_KEY and PAYOUT_DESTINATIONS are set.
    LIFI_API_URL: z.string().url().default("https://li.quest/v1"),
    LIFI_INTEGRATOR: z.string().min(1).max(64).default("agentcompute"),
    /** Key of the wallet that receives claimed escrow (the treasury) and pays providers. Secret: never logged. */
    PAYOUT_PRIVATE_KEY: z
      .string()
      .regex(/^0x[0-9a-fA-F]{64}$/, "must be 0x followed by 64 hex digits")
      .optional(),
    /** JSON: {"<provider>": {"chain": <LI.FI chain id or key>, "token": "<address>", "address": "<recipient>"}}. */
    PAYOUT_DESTINATIONS: z.string().default("{}"),
    /** USDC base units: what is owed to one provider is paid out once it reaches this. */
    PAYOUT_MIN_USDC: int(1, Number.MAX_SAFE_INTEGER).default(50_000_000),
    /** Largest slippage accepted by a LI.FI quote (0.005 = 0.5 %). */
    PAYOUT_MAX_SLIPPAGE: z.coerce.number().min(0).max(0.5).default(0.005),
    /** A transfer that ended FAILED is retried this many times, then alerted (error log, keeper status). */
    PAYOUT_MAX_ATTEMPTS: int(1, 100).default(3),
    PAYOUT_POLL_S: int(1, 3_600).default(30),
  })
  .strict();

export type KeeperConfig = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid keeper configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

const KEYS = Object.keys(ConfigSchema.shape) as (keyof KeeperConfig)[];

/** The keeper's own names, current and renamed (configRenames.ts). */
const ACCEPTED: readonly string[] = [...KEYS, ...Object.keys(RENAMED_KEYS)];

/**
 * Reads the file (if any) and the environment, keeping only the keeper's own variables. Renamed
 * settings are read under their old names too; each old name in use is reported once to `onDeprecated`.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  file = env.KEEPER_CONFIG_FILE,
  onDeprecated: (d: Deprecation) => void = emitDeprecationWarning,
): KeeperConfig {
  let rawFile: Record<string, unknown> = {};
  if (file) {
    try {
      rawFile = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (err) {
      throw new ConfigError([`config file ${file}: ${(err as Error).message}`]);
    }
    const unknown = Object.keys(rawFile).filter((k) => !ACCEPTED.includes(k));
    if (unknown.length) throw new ConfigError(unknown.map((k) => `${k} (in ${file}): unknown setting`));
  }
  const rawEnv = Object.fromEntries(ACCEPTED.filter((k) => env[k] !== undefined && env[k] !== "").map((k) => [k, env[k]]));
  const fromFile = applyRenames(rawFile, `in ${file}`);
  const fromEnv = applyRenames(rawEnv, "in the environment");
  const reported = new Set<string>();
  for (const d of [...fromEnv.deprecations, ...fromFile.deprecations]) {
    if (reported.has(d.old)) continue;
    reported.add(d.old);
    onDeprecated(d);
  }
  const parsed = ConfigSchema.safeParse({ ...fromFile.settings, ...fromEnv.settings });
  if (!parsed.success) {
    // Values are never echoed: one of them may be a key.
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`));
  }
  const c = parsed.data;
  const problems: string[] = [];
  if (c.SOLANA_RPC_URL && !c.WATT_MINT) problems.push("WATT_MINT: required when SOLANA_RPC_URL is set");
  if (c.SOLANA_RPC_URL && !c.WATT_SERVICE_WALLET) problems.push("WATT_SERVICE_WALLET: required when SOLANA_RPC_URL is set");
  if (c.WATT_SERVICE_SECRET && !c.SOLANA_RPC_URL) problems.push("WATT_SERVICE_SECRET: set SOLANA_RPC_URL too (the burn is sent there)");
  if (c.RENEWAL_LEAD_S * 1000 <= c.POLL_INTERVAL_MS * 2) {
    problems.push(
      `RENEWAL_LEAD_S: must be longer than two keeper polls (POLL_INTERVAL_MS ${c.POLL_INTERVAL_MS} ms), else a renewal may be sent after the session ended`,
    );
  }
  if (problems.length) throw new ConfigError(problems);
  return c;
}
