/**
 * Deploys AgentCompute and AgentComputeBridge and writes deployments/<network>.json.
 *
 *   npx hardhat run scripts/deploy.ts --network hardhat|localhost|baseSepolia|base
 *
 * hardhat, localhost: deploys the real Uniswap V3 stack, a local USDC (LocalUSDC) and a funded WETH/USDC pool
 *   first, unless USDC_ADDRESS and SWAP_ROUTER_ADDRESS name contracts already there. Roles default to
 *   the deployer.
 * baseSepolia, base: design.md's USDC, SwapRouter02, WETH and QuoterV2 (override with USDC_ADDRESS,
 *   SWAP_ROUTER_ADDRESS, WETH_ADDRESS, QUOTER_ADDRESS); needs BASE_SEPOLIA_RPC_URL or BASE_RPC_URL,
 *   DEPLOYER_PRIVATE_KEY, ADMIN_ADDRESS, TREASURY_ADDRESS and KEEPER_ADDRESS.
 * Both: POOL_FEE (default 500); DEPLOYMENTS_DIR (default deployments/). The script refuses (exit 2), naming every problem, when a setting is
 * missing or malformed or the chain disagrees (chain id, no code, the router's WETH9(), USDC's
 * decimals(), a deployer without ETH). The rules are in scripts/lib/deployPlan.ts.
 */
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { FetchRequest, getAddress, Interface, JsonRpcProvider, Network, NonceManager, Signer, Wallet, ZeroAddress } from "ethers";
import { deploySystem } from "../localnet/system";
import { deployLocalStack } from "../localnet/stack";
import {
  ChainFacts,
  checkChainFacts,
  constructorArgsModule,
  DeployPlan,
  DeployRefused,
  Env,
  NETWORKS,
  parsePrivateKey,
  planDeploy,
  Roles,
  StackAddresses,
  verifyCommands,
} from "./lib/deployPlan";

/** The JSON-RPC calls the script makes itself (reads; hardhat_setCode on a local chain). */
export interface JsonRpc {
  send(method: string, params: unknown[]): Promise<unknown>;
}

/** deployments/<network>.json. The keeper reads chainId, contracts and startBlock (keeper/deployment.ts). */
export interface DeploymentRecord {
  network: string;
  chainId: number;
  /** Block of AgentCompute's deployment: where an event reader starts. */
  startBlock: number;
  contracts: {
    AgentCompute: string;
    AgentComputeBridge: string;
    USDC: string;
    WETH: string;
    SwapRouter02: string;
    QuoterV2?: string;
  };
  poolFee: number;
  /** True when this script deployed Uniswap and USDC too (a local chain). */
  stackDeployedHere: boolean;
  constructorArgs: { AgentCompute: unknown[]; AgentComputeBridge: unknown[] };
  roles: Roles;
  deployer: string;
  commit: string | null;
  /** Uncommitted changes to tracked files: the commit alone does not reproduce the bytecode. */
  commitDirty: boolean | null;
  deployedAt: string;
}

export interface DeployOptions {
  network: string;
  signer: Signer;
  /** The node the signer's transactions go to; on a local chain it also takes hardhat_setCode. */
  rpc: JsonRpc;
  /** Where the checks read from (default: rpc). */
  reader?: JsonRpc;
  env?: Env;
  /** Where <network>.json goes (default: env DEPLOYMENTS_DIR, else deployments/ of this repository). */
  outDir?: string;
  log?: (line: string) => void;
}

const REPO_ROOT = path.join(__dirname, "..");

const READ_ABI = new Interface([
  "function WETH9() view returns (address)",
  "function factory() view returns (address)",
  "function decimals() view returns (uint8)",
  "function getPool(address, address, uint24) view returns (address)",
  "function liquidity() view returns (uint128)",
]);

/** A view call's single result; undefined when it reverts or returns nothing decodable (not that contract). */
async function view<T>(rpc: JsonRpc, to: string, fn: string, args: unknown[] = []): Promise<T | undefined> {
  try {
    const data = (await rpc.send("eth_call", [{ to, data: READ_ABI.encodeFunctionData(fn, args) }, "latest"])) as string;
    return READ_ABI.decodeFunctionResult(fn, data)[0] as T;
  } catch {
    return undefined;
  }
}

async function hasCode(rpc: JsonRpc, address: string): Promise<boolean> {
  return ((await rpc.send("eth_getCode", [address, "latest"])) as string) !== "0x";
}

/** Reads, in raw JSON-RPC so the same code works on Hardhat's provider and a plain connection. */
export async function readChainFacts(rpc: JsonRpc, plan: DeployPlan, stack: StackAddresses, deployer: string): Promise<ChainFacts> {
  const chainId = Number(BigInt((await rpc.send("eth_chainId", [])) as string));
  const [usdc, router, weth] = await Promise.all([hasCode(rpc, stack.usdc), hasCode(rpc, stack.router), hasCode(rpc, stack.weth)]);
  const facts: ChainFacts = {
    chainId,
    hasCode: { usdc, router, weth },
    deployer,
    deployerBalance: BigInt((await rpc.send("eth_getBalance", [deployer, "latest"])) as string),
  };
  if (usdc) facts.usdcDecimals = await view<bigint>(rpc, stack.usdc, "decimals").then((d) => (d === undefined ? undefined : Number(d)));
  if (router) {
    facts.routerWeth = await view<string>(rpc, stack.router, "WETH9");
    const factory = await view<string>(rpc, stack.router, "factory");
    if (factory !== undefined && (await hasCode(rpc, factory))) {
      const pool = (await view<string>(rpc, factory, "getPool", [stack.weth, stack.usdc, plan.poolFee])) ?? ZeroAddress;
      facts.pool = { factory, address: pool };
      if (pool !== ZeroAddress) facts.pool.liquidity = await view<bigint>(rpc, pool, "liquidity");
    }
  }
  return facts;
}

/** An error's gist without URLs: an RPC URL usually carries an API key, and logs travel. */
export function describeError(err: unknown): string {
  const e = err as { shortMessage?: string; message?: string };
  const text = e?.shortMessage ?? e?.message ?? String(err);
  return text.split("\n")[0].replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, "<url>");
}

/** Checks the plan's existing stack against the chain; refuses on any problem, logs warnings. */
async function checkExistingStack(
  o: DeployOptions,
  plan: DeployPlan,
  stack: StackAddresses,
  deployer: string,
  log: (l: string) => void,
): Promise<void> {
  let facts: ChainFacts;
  try {
    facts = await readChainFacts(o.reader ?? o.rpc, plan, stack, deployer);
  } catch (err) {
    throw new DeployRefused([{ code: "RPC_UNREACHABLE", message: `cannot read ${plan.network} through its RPC: ${describeError(err)}` }]);
  }
  const { problems, warnings } = checkChainFacts(plan, stack, facts);
  if (problems.length) throw new DeployRefused(problems);
  for (const w of warnings) log(`warning: ${w.message}`);
}

/** Relative to the working directory when inside it (the verify command resolves it from there), else absolute. */
function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith("..") || path.isAbsolute(rel) ? file : rel;
}

function git(args: string[]): string | null {
  try {
    return execFileSync("git", args, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
  } catch {
    return null;
  }
}

/** Written to a temporary name first, so a crash never leaves half a file for the keeper to read. */
function writeFileAtomic(file: string, text: string): void {
  fs.writeFileSync(`${file}.tmp`, text);
  fs.renameSync(`${file}.tmp`, file);
}

export async function deploy(o: DeployOptions): Promise<DeploymentRecord> {
  const env = o.env ?? process.env;
  const log = o.log ?? console.log;
  const deployer = getAddress(await o.signer.getAddress());
  const { plan, problems } = planDeploy(o.network, env, deployer);
  if (!plan) throw new DeployRefused(problems);

  let stack: StackAddresses;
  if (plan.stack) {
    await checkExistingStack(o, plan, plan.stack, deployer, log);
    stack = plan.stack;
  } else {
    stack = (await deployLocalStack(o.signer, o.rpc, { fee: plan.poolFee })).addresses;
    log(`${o.network}: deployed Uniswap V3, a local USDC (LocalUSDC) and a WETH/USDC pool (fee ${plan.poolFee}, $3,000)`);
  }

  const system = await deploySystem(o.signer, { ...stack, ...plan.roles, poolFee: plan.poolFee });
  const record: DeploymentRecord = {
    network: o.network,
    chainId: Number(BigInt((await o.rpc.send("eth_chainId", [])) as string)),
    startBlock: system.deployBlock,
    contracts: {
      AgentCompute: await system.compute.getAddress(),
      AgentComputeBridge: await system.bridge.getAddress(),
      USDC: stack.usdc,
      WETH: stack.weth,
      SwapRouter02: stack.router,
      ...(stack.quoter ? { QuoterV2: stack.quoter } : {}),
    },
    poolFee: plan.poolFee,
    stackDeployedHere: !plan.stack,
    constructorArgs: system.constructorArgs,
    roles: plan.roles,
    deployer,
    commit: git(["rev-parse", "HEAD"]),
    commitDirty: ((s) => (s === null ? null : s !== ""))(git(["status", "--porcelain", "--untracked-files=no"])),
    deployedAt: new Date().toISOString(),
  };

  const outDir = o.outDir ?? env.DEPLOYMENTS_DIR ?? path.join(REPO_ROOT, "deployments");
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${o.network}.json`);
  writeFileAtomic(file, JSON.stringify(record, null, 2) + "\n");

  log(`AgentCompute        ${record.contracts.AgentCompute}`);
  log(`AgentComputeBridge  ${record.contracts.AgentComputeBridge}`);
  log(
    `  on chain ${record.chainId} from block ${record.startBlock}; USDC ${stack.usdc}, SwapRouter02 ${stack.router}, pool fee ${plan.poolFee}`,
  );
  log(`  deployer ${deployer}; ${describeRoles(plan.roles, deployer)}`);
  log(`written to ${displayPath(file)}`);
  if (plan.live) logVerification(o.network, record, outDir, env, log);
  return record;
}

/** Roles for the summary; "the deployer" rather than the same address three times on a local chain. */
function describeRoles(roles: Roles, deployer: string): string {
  const who = (a: string) => (a === deployer ? "the deployer" : a);
  return `admin ${who(roles.admin)}; treasury ${who(roles.treasury)}; keeper ${who(roles.keeper)}`;
}

/** The explorer can only verify live contracts; the array argument needs a module file next to the record. */
function logVerification(network: string, record: DeploymentRecord, outDir: string, env: Env, log: (l: string) => void): void {
  const argsFile = path.join(outDir, `${network}.AgentCompute.args.js`);
  writeFileAtomic(argsFile, constructorArgsModule(record.constructorArgs.AgentCompute));
  const needsKey = env.ETHERSCAN_API_KEY ? "" : " (set ETHERSCAN_API_KEY first)";
  log(`verify on the explorer${needsKey}:`);
  for (const cmd of verifyCommands(network, record.contracts, record.constructorArgs.AgentComputeBridge, displayPath(argsFile))) {
    log(`  ${cmd}`);
  }
}

/**
 * A direct connection to a live network's RPC, not Hardhat's: Hardhat would stop at the first
 * request with HH101 on a wrong chain, before this script could name the problem.
 */
function liveConnection(url: string, chainId: number): JsonRpcProvider {
  const request = new FetchRequest(url);
  request.timeout = 30_000;
  // No response cache: a cached eth_getTransactionCount would hand the next deployment a used nonce.
  return new JsonRpcProvider(request, Network.from(chainId), { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 });
}

/** What the node itself said, when an ethers error carries it. */
function rpcReason(err: unknown): string {
  const reason = (err as { info?: { error?: { message?: string } } })?.info?.error?.message;
  return reason ? `: ${describeError(new Error(reason))}` : "";
}

/** The node behind `localhost` must be up (and on the configured chain) before anything is sent. */
async function probeLocalNode(rpc: JsonRpc): Promise<void> {
  try {
    await rpc.send("eth_chainId", []);
  } catch (err) {
    throw new DeployRefused([
      {
        code: "RPC_UNREACHABLE",
        message: `localhost does not answer as configured (${describeError(err)}): start \`npx hardhat node\`, or set LOCAL_RPC_URL`,
      },
    ]);
  }
}

/** The `npx hardhat run` entry point: the network comes from --network, settings from the environment. */
export async function main(env: Env = process.env): Promise<DeploymentRecord> {
  // Loaded here so tests can import deploy() from their own Hardhat runtime.
  const hre = await import("hardhat");
  const network = hre.network.name;
  const spec = NETWORKS[network];
  if (spec?.live) {
    // Checked before any connection: a missing URL or key would otherwise surface as a Hardhat error.
    const { problems } = planDeploy(network, env, ZeroAddress);
    if (problems.length) throw new DeployRefused(problems);
    const connection = liveConnection(env[spec.rpcEnv!]!.trim(), spec.chainId);
    try {
      // Nonces counted here: a load-balanced RPC may still report the old pending count after a receipt.
      const signer = new NonceManager(new Wallet(parsePrivateKey(env.DEPLOYER_PRIVATE_KEY!.trim())!, connection));
      return await deploy({ network, signer, rpc: connection, env });
    } finally {
      connection.destroy();
    }
  }
  const rpc: JsonRpc = { send: (method, params) => hre.network.provider.send(method, params) };
  if (network === "localhost") await probeLocalNode(rpc);
  const [signer] = await hre.ethers.getSigners();
  return deploy({ network, signer, rpc, env });
}

if (require.main === module) {
  main().catch((err) => {
    if (err instanceof DeployRefused) {
      console.error(err.message);
      process.exitCode = 2;
    } else {
      // Short by default: an ethers error carries the whole signed transaction (the bytecode).
      console.error(process.env.DEBUG ? err : `deploy failed: ${describeError(err)}${rpcReason(err)} (DEBUG=1 for the full error)`);
      process.exitCode = 1;
    }
  });
}
