/**
 * What a deployment to a live network needs, and every reason to refuse one. Pure functions: the
 * deploy script gathers the facts (environment, chain reads) and these decide.
 */
import { getAddress, isAddress } from "ethers";

export interface NetworkDefaults {
  chainId: number;
  rpcEnv: string;
  usdc: string;
  router: string;
  weth: string;
  quoter: string;
}

/** Base and Base Sepolia: Circle's USDC, Uniswap's SwapRouter02 and QuoterV2, the OP-stack WETH. */
export const LIVE_NETWORKS: Record<string, NetworkDefaults> = {
  base: {
    chainId: 8453,
    rpcEnv: "BASE_RPC_URL",
    usdc: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
    router: "0x2626664c2603336E57B271c5C0b26F421741e481",
    weth: "0x4200000000000000000000000000000000000006",
    quoter: "0x3d4e44Eb1374240CE5F1B871ab261CD16335B76a",
  },
  baseSepolia: {
    chainId: 84532,
    rpcEnv: "BASE_SEPOLIA_RPC_URL",
    usdc: "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
    router: "0x94cC0AaC535CCDB3C01d6787D6413C739ae12bc4",
    weth: "0x4200000000000000000000000000000000000006",
    quoter: "0xC5290058841028F1614F3A6F0F5816cAd0df5E27",
  },
};

export interface LivePlan {
  network: string;
  chainId: number;
  usdc: string;
  router: string;
  weth: string;
  quoter: string;
  admin: string;
  treasury: string;
  keeper: string;
  poolFee: number;
}

/** Env var -> plan field, with the default from LIVE_NETWORKS where there is one. */
const ADDRESS_VARS = [
  ["USDC_ADDRESS", "usdc"],
  ["SWAP_ROUTER_ADDRESS", "router"],
  ["WETH_ADDRESS", "weth"],
  ["QUOTER_ADDRESS", "quoter"],
] as const;
const ROLE_VARS = [
  ["ADMIN_ADDRESS", "admin"],
  ["TREASURY_ADDRESS", "treasury"],
  ["KEEPER_ADDRESS", "keeper"],
] as const;

export function planLiveDeploy(network: string, env: Record<string, string | undefined>): { plan?: LivePlan; problems: string[] } {
  const defaults = LIVE_NETWORKS[network];
  if (!defaults) return { problems: [`${network} is not a live network this script knows (base, baseSepolia)`] };
  const problems: string[] = [];
  if (!env[defaults.rpcEnv]) problems.push(`${defaults.rpcEnv} is not set: the RPC URL of ${network}`);
  if (!env.DEPLOYER_PRIVATE_KEY) problems.push("DEPLOYER_PRIVATE_KEY is not set: the deploying account's key");
  else if (!/^0x[0-9a-fA-F]{64}$/.test(env.DEPLOYER_PRIVATE_KEY)) problems.push("DEPLOYER_PRIVATE_KEY must be 0x followed by 64 hex digits");
  const address = (name: string, value: string | undefined, fallback?: string): string | undefined => {
    const v = value === undefined || value === "" ? fallback : value;
    if (v === undefined) {
      problems.push(`${name} is not set`);
      return undefined;
    }
    if (!isAddress(v) || BigInt(v) === 0n) {
      problems.push(`${name} is not a valid non-zero address: ${v}`);
      return undefined;
    }
    return getAddress(v);
  };
  const plan: Partial<LivePlan> = { network, chainId: defaults.chainId };
  for (const [name, field] of ADDRESS_VARS) plan[field] = address(name, env[name], defaults[field]);
  // Roles have no default on a live network: a mistake here hands over the contracts.
  for (const [name, field] of ROLE_VARS) plan[field] = address(name, env[name]);
  const fee = Number(env.POOL_FEE ?? 500);
  if (!Number.isInteger(fee) || fee <= 0 || fee >= 1_000_000) problems.push(`POOL_FEE must be an integer in 1..999999, got ${env.POOL_FEE}`);
  plan.poolFee = fee;
  return problems.length ? { problems } : { plan: plan as LivePlan, problems };
}

/** What the deploy script reads from the chain before deploying. */
export interface ChainFacts {
  chainId: number;
  hasCode: { usdc: boolean; router: boolean; weth: boolean };
  /** SwapRouter02.WETH9(), or undefined if the call failed. */
  routerWeth?: string;
  /** USDC.decimals(), or undefined if the call failed. */
  usdcDecimals?: number;
}

export function checkChainFacts(plan: LivePlan, facts: ChainFacts): string[] {
  const problems: string[] = [];
  if (facts.chainId !== plan.chainId) problems.push(`the RPC serves chain ${facts.chainId}, but ${plan.network} is chain ${plan.chainId}`);
  for (const k of ["usdc", "router", "weth"] as const) {
    if (!facts.hasCode[k]) problems.push(`no contract code at the ${k} address ${plan[k]}`);
  }
  if (facts.hasCode.router) {
    if (facts.routerWeth === undefined) problems.push(`${plan.router} does not answer WETH9(): not a SwapRouter02`);
    else if (getAddress(facts.routerWeth) !== plan.weth) problems.push(`the router's WETH9() is ${facts.routerWeth}, not the WETH address ${plan.weth}`);
  }
  if (facts.hasCode.usdc) {
    if (facts.usdcDecimals === undefined) problems.push(`${plan.usdc} does not answer decimals(): not an ERC-20`);
    else if (facts.usdcDecimals !== 6) problems.push(`the USDC address ${plan.usdc} has ${facts.usdcDecimals} decimals, not 6`);
  }
  return problems;
}

export class DeployRefused extends Error {
  constructor(readonly problems: string[]) {
    super(`refusing to deploy:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "DeployRefused";
  }
}
