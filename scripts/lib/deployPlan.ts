/**
 * What a deployment needs, and every reason to refuse one. Pure functions, no network: the deploy
 * script gathers the facts (environment, then what the chain answers) and these decide, so every
 * refusal can be tested without a chain. A problem refuses the deployment; a warning is printed.
 */
import { computeAddress, getAddress, isAddress, ZeroAddress } from "ethers";

export type Env = Record<string, string | undefined>;

export type ProblemCode =
  | "UNKNOWN_NETWORK"
  | "RPC_URL_MISSING"
  | "RPC_URL_MALFORMED"
  | "RPC_UNREACHABLE"
  | "KEY_MISSING"
  | "KEY_MALFORMED"
  | "ADDRESS_UNSET"
  | "ADDRESS_MALFORMED"
  | "POOL_FEE_INVALID"
  | "CHAIN_ID_MISMATCH"
  | "NO_CODE"
  | "ROUTER_NOT_SWAPROUTER02"
  | "ROUTER_WETH_MISMATCH"
  | "USDC_NOT_ERC20"
  | "USDC_DECIMALS"
  | "DEPLOYER_NO_ETH";

export type WarningCode = "POOL_MISSING" | "POOL_EMPTY";

export interface Problem {
  code: ProblemCode;
  message: string;
}

export interface Warning {
  code: WarningCode;
  message: string;
}

export interface StackAddresses {
  usdc: string;
  router: string;
  weth: string;
  quoter?: string;
}

interface NetworkSpec {
  chainId: number;
  live: boolean;
  /** Live networks: the env var hardhat.config.ts reads the RPC URL from. */
  rpcEnv?: string;
  /** Live networks: design.md section 3's addresses. */
  defaults?: Required<StackAddresses>;
}

/** Base's WETH, an OP-stack predeploy; the local chain puts WETH9 at the same address. */
export const BASE_WETH = "0x4200000000000000000000000000000000000006";

/** The networks of hardhat.config.ts. Local chains use Base's chain id (8453) there, on purpose. */
export const NETWORKS: Record<string, NetworkSpec> = {
  hardhat: { chainId: 8453, live: false },
  localhost: { chainId: 8453, live: false },
  baseSepolia: {
    chainId: 84532,
    live: true,
    rpcEnv: "BASE_SEPOLIA_RPC_URL",
    defaults: {
      usdc: "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
      router: "0x94cC0AaC535CCDB3C01d6787D6413C739ae12bc4",
      weth: BASE_WETH,
      quoter: "0xC5290058841028F1614F3A6F0F5816cAd0df5E27",
    },
  },
  base: {
    chainId: 8453,
    live: true,
    rpcEnv: "BASE_RPC_URL",
    defaults: {
      usdc: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
      router: "0x2626664c2603336E57B271c5C0b26F421741e481",
      weth: BASE_WETH,
      quoter: "0x3d4e44Eb1374240CE5F1B871ab261CD16335B76a",
    },
  },
};

export interface Roles {
  admin: string;
  treasury: string;
  keeper: string;
}

export interface DeployPlan {
  network: string;
  chainId: number;
  live: boolean;
  /** Contracts already on the chain to build on; undefined: a local network deploys its own stack first. */
  stack?: StackAddresses;
  roles: Roles;
  poolFee: number;
}

/** The fee tiers a fresh Uniswap V3 factory enables; the local pool is created in one of them. */
export const UNISWAP_FEE_TIERS = [100, 500, 3000, 10000];

const STACK_VARS = [
  ["USDC_ADDRESS", "usdc"],
  ["SWAP_ROUTER_ADDRESS", "router"],
  ["WETH_ADDRESS", "weth"],
  ["QUOTER_ADDRESS", "quoter"],
] as const;

/** Why each role matters, so the refusal says what a wrong value would hand over. */
const ROLE_VARS = [
  ["ADMIN_ADDRESS", "admin", "it controls prices, treasury, bridge, pause and roles"],
  ["TREASURY_ADDRESS", "treasury", "it receives the claimed escrow"],
  ["KEEPER_ADDRESS", "keeper", "it provisions sessions and claims escrow"],
] as const;

/** Empty counts as unset: `FOO= npx hardhat ...` and an empty line in .env mean "not given". */
function envValue(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

/** The address in `name`, checksummed; a problem (and undefined) when it is malformed or zero. */
function parseAddress(name: string, value: string, problems: Problem[]): string | undefined {
  // ethers rejects a mixed-case address whose checksum is wrong, which catches most typos.
  if (!isAddress(value)) {
    problems.push({ code: "ADDRESS_MALFORMED", message: `${name} is not a valid address: ${value}` });
    return undefined;
  }
  if (getAddress(value) === ZeroAddress) {
    problems.push({ code: "ADDRESS_MALFORMED", message: `${name} is the zero address` });
    return undefined;
  }
  return getAddress(value);
}

/** Secret values (RPC URLs often embed an API key; the private key) are never echoed back. */
function checkRpcUrl(network: string, rpcEnv: string, env: Env, problems: Problem[]): void {
  const url = envValue(env, rpcEnv);
  if (url === undefined) {
    problems.push({ code: "RPC_URL_MISSING", message: `${rpcEnv} is not set: the JSON-RPC URL of ${network}` });
    return;
  }
  let protocol = "";
  try {
    protocol = new URL(url).protocol;
  } catch {
    // reported below
  }
  // Hardhat's HTTP provider is the only transport hardhat.config.ts sets up.
  if (protocol !== "http:" && protocol !== "https:") {
    problems.push({ code: "RPC_URL_MALFORMED", message: `${rpcEnv} is not an http(s) URL` });
  }
}

const SECP256K1_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** The deployer's key as Hardhat accepts it (64 hex digits, 0x optional), normalised to 0x form. */
export function parsePrivateKey(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const hex = value.startsWith("0x") ? value.slice(2) : value;
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return undefined;
  const n = BigInt(`0x${hex}`);
  return n > 0n && n < SECP256K1_ORDER ? `0x${hex}` : undefined;
}

function checkKey(env: Env, problems: Problem[]): void {
  const key = envValue(env, "DEPLOYER_PRIVATE_KEY");
  if (key === undefined) {
    problems.push({
      code: "KEY_MISSING",
      message: "DEPLOYER_PRIVATE_KEY is not set: the key of the account that deploys and pays the gas",
    });
  } else if (parsePrivateKey(key) === undefined) {
    problems.push({ code: "KEY_MALFORMED", message: "DEPLOYER_PRIVATE_KEY is not a private key (64 hex digits, 0x optional)" });
  }
}

/** The deployer's address on a live network: the one the key in the environment controls. */
export function deployerFromEnv(env: Env): string | undefined {
  const key = parsePrivateKey(envValue(env, "DEPLOYER_PRIVATE_KEY"));
  return key === undefined ? undefined : computeAddress(key);
}

function parsePoolFee(env: Env, live: boolean, problems: Problem[]): number {
  const raw = envValue(env, "POOL_FEE");
  if (raw === undefined) return 500;
  const fee = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (live) {
    // The bridge's own bounds; whether a pool exists at this fee is checked against the chain.
    if (!(fee >= 1 && fee <= 999_999)) {
      problems.push({
        code: "POOL_FEE_INVALID",
        message: `POOL_FEE must be a whole number from 1 to 999999 (hundredths of a basis point), got ${raw}`,
      });
    }
  } else if (!UNISWAP_FEE_TIERS.includes(fee)) {
    problems.push({ code: "POOL_FEE_INVALID", message: `POOL_FEE must be one of ${UNISWAP_FEE_TIERS.join(", ")}, got ${raw}` });
  }
  return fee;
}

/**
 * The stack to build on: on a live network design.md's addresses unless overridden; on a local one
 * nothing (deploy a fresh stack) unless some *_ADDRESS is given, in which case USDC and router are required.
 */
function planStack(network: string, spec: NetworkSpec, env: Env, problems: Problem[]): StackAddresses | undefined {
  const given = STACK_VARS.some(([name]) => envValue(env, name) !== undefined);
  if (!spec.live && !given) return undefined;
  const fallback: Partial<StackAddresses> = spec.defaults ?? { weth: BASE_WETH };
  const stack: Partial<StackAddresses> = {};
  for (const [name, field] of STACK_VARS) {
    const value = envValue(env, name) ?? fallback[field];
    if (value !== undefined) stack[field] = parseAddress(name, value, problems);
    else if (field !== "quoter") {
      const why = spec.live
        ? ""
        : ` (to build on contracts already on ${network}; unset every *_ADDRESS of the stack to deploy a fresh one)`;
      problems.push({ code: "ADDRESS_UNSET", message: `${name} is not set${why}` });
    }
  }
  return stack as StackAddresses;
}

/** Roles default to the deployer on a throwaway local chain; on a live one a wrong default would hand over the contracts. */
function planRoles(network: string, spec: NetworkSpec, env: Env, deployer: string, problems: Problem[]): Roles {
  const roles: Partial<Roles> = {};
  for (const [name, field, why] of ROLE_VARS) {
    const value = envValue(env, name);
    if (value !== undefined) roles[field] = parseAddress(name, value, problems);
    else if (!spec.live) roles[field] = getAddress(deployer);
    else problems.push({ code: "ADDRESS_UNSET", message: `${name} is not set: on ${network} it must be named explicitly (${why})` });
  }
  return roles as Roles;
}

/**
 * Everything the environment alone can tell: no plan when there is any problem.
 * @param deployer the deploying account (on local networks, the default for every role)
 */
export function planDeploy(network: string, env: Env, deployer: string): { plan?: DeployPlan; problems: Problem[] } {
  const spec = NETWORKS[network];
  if (!spec) {
    const known = Object.keys(NETWORKS).join(", ");
    return { problems: [{ code: "UNKNOWN_NETWORK", message: `${network} is not a network this script deploys to (${known})` }] };
  }
  const problems: Problem[] = [];
  if (spec.live) {
    checkRpcUrl(network, spec.rpcEnv!, env, problems);
    checkKey(env, problems);
  }
  const stack = planStack(network, spec, env, problems);
  const roles = planRoles(network, spec, env, deployer, problems);
  const poolFee = parsePoolFee(env, spec.live, problems);
  if (problems.length) return { problems };
  return { plan: { network, chainId: spec.chainId, live: spec.live, stack, roles, poolFee }, problems };
}

/** What the chain answers about a plan's stack, read just before deploying. */
export interface ChainFacts {
  /** eth_chainId of the RPC actually used. */
  chainId: number;
  hasCode: { usdc: boolean; router: boolean; weth: boolean };
  /** SwapRouter02.WETH9(); undefined when the call failed. */
  routerWeth?: string;
  /** USDC.decimals(); undefined when the call failed. */
  usdcDecimals?: number;
  deployer: string;
  deployerBalance: bigint;
  /** The WETH/USDC pool at the plan's fee on the router's factory, when the router names a factory. */
  pool?: { factory: string; address: string; liquidity?: bigint };
}

const STACK_LABELS = { usdc: "USDC", router: "SwapRouter02", weth: "WETH" } as const;

/** Problems that refuse the deployment, and warnings that do not (ETH payments need a pool; USDC ones do not). */
export function checkChainFacts(plan: DeployPlan, stack: StackAddresses, facts: ChainFacts): { problems: Problem[]; warnings: Warning[] } {
  if (facts.chainId !== plan.chainId) {
    // Every other answer came from the wrong chain: reporting them would only mislead.
    return {
      problems: [
        { code: "CHAIN_ID_MISMATCH", message: `the RPC serves chain ${facts.chainId}, but ${plan.network} is chain ${plan.chainId}` },
      ],
      warnings: [],
    };
  }
  const problems: Problem[] = [];
  for (const k of ["usdc", "router", "weth"] as const) {
    if (!facts.hasCode[k])
      problems.push({ code: "NO_CODE", message: `no contract at the ${STACK_LABELS[k]} address ${stack[k]} on ${plan.network}` });
  }
  if (facts.hasCode.router) {
    if (facts.routerWeth === undefined) {
      problems.push({ code: "ROUTER_NOT_SWAPROUTER02", message: `${stack.router} does not answer WETH9(): not a Uniswap SwapRouter02` });
    } else if (getAddress(facts.routerWeth) !== getAddress(stack.weth)) {
      problems.push({
        code: "ROUTER_WETH_MISMATCH",
        message: `the router's WETH9() is ${getAddress(facts.routerWeth)}, but the WETH address is ${stack.weth}`,
      });
    }
  }
  if (facts.hasCode.usdc) {
    if (facts.usdcDecimals === undefined) {
      problems.push({ code: "USDC_NOT_ERC20", message: `${stack.usdc} does not answer decimals(): not an ERC-20` });
    } else if (facts.usdcDecimals !== 6) {
      problems.push({ code: "USDC_DECIMALS", message: `the USDC at ${stack.usdc} has ${facts.usdcDecimals} decimals, not 6` });
    }
  }
  if (facts.deployerBalance === 0n) {
    problems.push({ code: "DEPLOYER_NO_ETH", message: `the deployer ${facts.deployer} has no ETH on ${plan.network} to pay for gas` });
  }
  return { problems, warnings: poolWarnings(plan, facts) };
}

function poolWarnings(plan: DeployPlan, facts: ChainFacts): Warning[] {
  if (!facts.pool) return [];
  const { factory, address, liquidity } = facts.pool;
  if (address === ZeroAddress) {
    return [
      {
        code: "POOL_MISSING",
        message: `no WETH/USDC pool with fee ${plan.poolFee} on the router's factory ${factory}: ETH payments will revert until one exists (check POOL_FEE)`,
      },
    ];
  }
  if (liquidity === 0n) {
    return [
      { code: "POOL_EMPTY", message: `the WETH/USDC pool ${address} (fee ${plan.poolFee}) has no liquidity: ETH payments will revert` },
    ];
  }
  return [];
}

/** Raised by the deploy script with every problem found; `codes` lets callers and tests tell them apart. */
export class DeployRefused extends Error {
  constructor(readonly problems: Problem[]) {
    super(`refusing to deploy:\n${problems.map((p) => `  - ${p.message}`).join("\n")}`);
    this.name = "DeployRefused";
  }

  get codes(): ProblemCode[] {
    return this.problems.map((p) => p.code);
  }
}

/**
 * hardhat-verify commands for both contracts. AgentCompute's constructor takes an array (the launch
 * prices), which the command line cannot express: its arguments go through a module file.
 */
export function verifyCommands(
  network: string,
  addresses: { AgentCompute: string; AgentComputeBridge: string },
  bridgeArgs: readonly unknown[],
  computeArgsFile: string,
): string[] {
  return [
    `npx hardhat verify --network ${network} --constructor-args ${computeArgsFile} ${addresses.AgentCompute}`,
    `npx hardhat verify --network ${network} ${addresses.AgentComputeBridge} ${bridgeArgs.map(String).join(" ")}`,
  ];
}

/** The module `--constructor-args` loads: hardhat-verify takes its default export (module.exports). */
export function constructorArgsModule(args: readonly unknown[]): string {
  return `// Constructor arguments for \`npx hardhat verify --constructor-args\`; written by scripts/deploy.ts.\nmodule.exports = ${JSON.stringify(args, null, 2)};\n`;
}
