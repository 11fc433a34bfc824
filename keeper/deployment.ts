/**
 * Which contracts the keeper serves: from a deployment file (deployments/<network>.json, written by
 * scripts/deploy.ts or the embedded default) or from AGENT_COMPUTE_ADDRESS + START_BLOCK + CHAIN_ID.
 */
import fs from "node:fs";
import { z } from "zod";
import type { KeeperConfig } from "./config";
import type { Deployment } from "./keeper";

const addr = z.string().regex(/^0x[0-9a-fA-F]{40}$/);
const DeploymentFile = z.object({
  chainId: z.coerce.number().int().positive(),
  contracts: z.object({ AgentCompute: addr, AgentComputeBridge: addr.optional() }).passthrough().optional(),
  addresses: z.object({ AgentCompute: addr, AgentComputeBridge: addr.optional() }).passthrough().optional(),
  startBlock: z.coerce.number().int().nonnegative().optional(),
  deployBlock: z.coerce.number().int().nonnegative().optional(),
  block: z.coerce.number().int().nonnegative().optional(),
});

export function loadDeployment(cfg: KeeperConfig): Deployment {
  if (cfg.DEPLOYMENT_FILE) {
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(cfg.DEPLOYMENT_FILE, "utf8"));
    } catch (err) {
      throw new Error(`DEPLOYMENT_FILE ${cfg.DEPLOYMENT_FILE}: ${(err as Error).message}`, { cause: err });
    }
    const parsed = DeploymentFile.safeParse(raw);
    if (!parsed.success)
      throw new Error(
        `DEPLOYMENT_FILE ${cfg.DEPLOYMENT_FILE}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      );
    const d = parsed.data;
    const contracts = d.contracts ?? d.addresses;
    const startBlock = d.startBlock ?? d.deployBlock ?? d.block;
    if (!contracts || startBlock === undefined)
      throw new Error(`DEPLOYMENT_FILE ${cfg.DEPLOYMENT_FILE}: needs contract addresses and a deploy block`);
    return {
      chainId: d.chainId,
      compute: contracts.AgentCompute,
      bridge: contracts.AgentComputeBridge,
      startBlock: cfg.START_BLOCK ?? startBlock,
    };
  }
  const missing = (["AGENT_COMPUTE_ADDRESS", "START_BLOCK", "CHAIN_ID"] as const).filter((k) => cfg[k] === undefined);
  if (missing.length)
    throw new Error(`set DEPLOYMENT_FILE, or all of AGENT_COMPUTE_ADDRESS, START_BLOCK and CHAIN_ID (missing: ${missing.join(", ")})`);
  return { chainId: cfg.CHAIN_ID!, compute: cfg.AGENT_COMPUTE_ADDRESS!, startBlock: cfg.START_BLOCK! };
}
