/**
 * Keeper configuration: environment variables, optionally a JSON file (KEEPER_CONFIG_FILE or
 * --config) whose keys are the same names; the environment wins. Validated with zod at start, and
 * every wrong or missing setting is named in one error.
 */
import fs from "node:fs";
import { z } from "zod";

const bool = z.union([z.boolean(), z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1")]);
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "must be a 0x-prefixed 20-byte hex address");

export const ConfigSchema = z
  .object({
    /** Chain JSON-RPC URL. Unset: the embedded local chain (npm start). */
    RPC_URL: z.string().url().optional(),
    /** Hex private key of the keeper account (KEEPER_ROLE). Secret: never logged. */
    KEEPER_PRIVATE_KEY: z.string().regex(/^0x[0-9a-fA-F]{64}$/, "must be 0x followed by 64 hex digits").optional(),
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
    /** Local providers: docker (dockerode), process (bubblewrap). auto: docker if reachable, else process. */
    LOCAL_PROVIDER: z.enum(["auto", "docker", "process"]).default("auto"),
    DOCKER_HOST: z.string().optional(),
    /** Claim streamed escrow of running sessions this often. */
    CLAIM_INTERVAL_S: int(1, 86_400).default(600),
    /** Give up provisioning after this long and refund. */
    PROVISION_TIMEOUT_S: int(1, 86_400).default(300),
    /** A transaction not mined after this long is re-sent with higher fees. */
    TX_BUMP_AFTER_S: int(1, 3_600).default(30),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    LOG_PRETTY: bool.default(false),
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

/** Reads the file (if any) and the environment, keeping only the keeper's own variables. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, file = env.KEEPER_CONFIG_FILE): KeeperConfig {
  let fromFile: Record<string, unknown> = {};
  if (file) {
    try {
      fromFile = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (err) {
      throw new ConfigError([`config file ${file}: ${(err as Error).message}`]);
    }
    const unknown = Object.keys(fromFile).filter((k) => !(KEYS as string[]).includes(k));
    if (unknown.length) throw new ConfigError(unknown.map((k) => `${k} (in ${file}): unknown setting`));
  }
  const fromEnv = Object.fromEntries(KEYS.filter((k) => env[k] !== undefined && env[k] !== "").map((k) => [k, env[k]]));
  const parsed = ConfigSchema.safeParse({ ...fromFile, ...fromEnv });
  if (!parsed.success) {
    // Values are never echoed: one of them may be a key.
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`));
  }
  return parsed.data;
}
