/**
 * Deploys AgentCompute and AgentComputeBridge.
 *
 *   npx hardhat run scripts/deploy.ts --network hardhat|localhost|baseSepolia|base
 *
 * Local networks (hardhat, localhost) first get the real Uniswap V3 stack from npm artifacts, a
 * 6-decimal USDC and a funded WETH/USDC pool. Live networks use design.md's addresses (overridable
 * with USDC_ADDRESS, SWAP_ROUTER_ADDRESS, WETH_ADDRESS, QUOTER_ADDRESS) and need BASE_RPC_URL or
 * BASE_SEPOLIA_RPC_URL, DEPLOYER_PRIVATE_KEY, ADMIN_ADDRESS, TREASURY_ADDRESS and KEEPER_ADDRESS; the
 * script refuses to deploy when any is missing or when the chain disagrees (chain id, no code at an
 * address, the router's WETH9(), USDC's decimals()). Writes deployments/<network>.json.
 */
import fs from "node:fs";
import path from "node:path";
import { execSync } from "node:child_process";
import { Contract, Provider, Signer } from "ethers";
import { deploySystem } from "./lib/system";
import { createWethUsdcPool, deployUniswap, DevRpc } from "./lib/uniswap";
import { checkChainFacts, ChainFacts, DeployRefused, LIVE_NETWORKS, LivePlan, planLiveDeploy } from "./lib/deployConfig";
import { TestUSDC__factory } from "../typechain-types";

export interface DeploymentRecord {
  network: string;
  chainId: number;
  startBlock: number;
  contracts: { AgentCompute: string; AgentComputeBridge: string; USDC: string; WETH: string; SwapRouter02: string; QuoterV2?: string };
  constructorArgs: { AgentCompute: unknown[]; AgentComputeBridge: unknown[] };
  roles: { admin: string; treasury: string; keeper: string };
  deployer: string;
  commit: string | null;
  deployedAt: string;
}

export interface DeployOptions {
  network: string;
  signer: Signer;
  /** The node, for reads and (local networks) hardhat_setCode. */
  rpc: Provider & DevRpc;
  env?: Record<string, string | undefined>;
  /** Where <network>.json goes (default: deployments/). */
  outDir?: string;
  log?: (line: string) => void;
}

function gitCommit(): string | null {
  try {
    return execSync("git rev-parse HEAD", { stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
  } catch {
    return null;
  }
}

export async function readChainFacts(rpc: Provider, plan: LivePlan): Promise<ChainFacts> {
  const code = async (a: string) => (await rpc.getCode(a)) !== "0x";
  const [chainId, usdc, router, weth] = await Promise.all([rpc.getNetwork().then((n) => Number(n.chainId)), code(plan.usdc), code(plan.router), code(plan.weth)]);
  const facts: ChainFacts = { chainId, hasCode: { usdc, router, weth } };
  if (router) facts.routerWeth = await new Contract(plan.router, ["function WETH9() view returns (address)"], rpc).WETH9().catch(() => undefined);
  if (usdc) facts.usdcDecimals = await new Contract(plan.usdc, ["function decimals() view returns (uint8)"], rpc).decimals().then(Number).catch(() => undefined);
  return facts;
}

async function deployLocalStack(o: DeployOptions) {
  const uni = await deployUniswap(o.signer, o.rpc);
  const usdc = await new TestUSDC__factory(o.signer).deploy();
  await usdc.waitForDeployment();
  await (await usdc.mint(await o.signer.getAddress(), 10_000_000n * 10n ** 6n)).wait();
  await createWethUsdcPool(o.signer, uni, usdc as unknown as Contract, { usdcPerEth: 3000_000000n, wethLiquidity: 1000n * 10n ** 18n });
  return {
    usdc: await usdc.getAddress(),
    router: await uni.router.getAddress(),
    weth: await uni.weth.getAddress(),
    quoter: await uni.quoter.getAddress(),
  };
}

export async function deploy(o: DeployOptions): Promise<DeploymentRecord> {
  const env = o.env ?? process.env;
  const log = o.log ?? console.log;
  const deployer = await o.signer.getAddress();
  let plan: Omit<LivePlan, "network" | "chainId">;
  if (o.network === "hardhat" || o.network === "localhost") {
    log(`${o.network}: deploying the real Uniswap V3 stack, a test USDC and a funded WETH/USDC pool`);
    const stack = await deployLocalStack(o);
    plan = { ...stack, admin: env.ADMIN_ADDRESS ?? deployer, treasury: env.TREASURY_ADDRESS ?? deployer, keeper: env.KEEPER_ADDRESS ?? deployer, poolFee: 500 };
  } else {
    const { plan: live, problems } = planLiveDeploy(o.network, env);
    if (!live) throw new DeployRefused(problems);
    const chainProblems = checkChainFacts(live, await readChainFacts(o.rpc, live));
    if (chainProblems.length) throw new DeployRefused(chainProblems);
    plan = live;
  }
  const system = await deploySystem(o.signer, { ...plan, keeper: plan.keeper });
  const chainId = Number((await o.rpc.getNetwork()).chainId);
  const record: DeploymentRecord = {
    network: o.network,
    chainId,
    startBlock: system.deployBlock,
    contracts: {
      AgentCompute: await system.compute.getAddress(),
      AgentComputeBridge: await system.bridge.getAddress(),
      USDC: plan.usdc,
      WETH: plan.weth,
      SwapRouter02: plan.router,
      QuoterV2: plan.quoter,
    },
    constructorArgs: system.constructorArgs,
    roles: { admin: plan.admin, treasury: plan.treasury, keeper: plan.keeper },
    deployer,
    commit: gitCommit(),
    deployedAt: new Date().toISOString(),
  };
  const outDir = o.outDir ?? path.join(__dirname, "..", "deployments");
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${o.network}.json`);
  fs.writeFileSync(file, JSON.stringify(record, null, 2) + "\n");
  log(`AgentCompute        ${record.contracts.AgentCompute}`);
  log(`AgentComputeBridge  ${record.contracts.AgentComputeBridge}`);
  log(`deploy block ${record.startBlock} on chain ${chainId}; written to ${path.relative(process.cwd(), file)}`);
  if (LIVE_NETWORKS[o.network]) {
    const args = (a: unknown[]) => a.map((x) => (Array.isArray(x) ? `'${JSON.stringify(x)}'` : String(x))).join(" ");
    log("verify on the block explorer (ETHERSCAN_API_KEY set; array arguments go through --constructor-args with a module file):");
    log(`  npx hardhat verify --network ${o.network} ${record.contracts.AgentCompute} ${args(record.constructorArgs.AgentCompute)}`);
    log(`  npx hardhat verify --network ${o.network} ${record.contracts.AgentComputeBridge} ${args(record.constructorArgs.AgentComputeBridge)}`);
  }
  return record;
}

async function main() {
  // Loaded here, not at the top, so tests can import deploy() without a Hardhat runtime of their own.
  const hre = await import("hardhat");
  const network = hre.network.name;
  const defaults = LIVE_NETWORKS[network];
  if (defaults) {
    // Hardhat would fail on an empty URL with a less helpful message: check the environment first.
    const { problems } = planLiveDeploy(network, process.env);
    if (problems.length) throw new DeployRefused(problems);
  }
  const [signer] = await hre.ethers.getSigners();
  const rpc = Object.assign(hre.ethers.provider, { send: (m: string, p: unknown[]) => hre.network.provider.send(m, p) });
  await deploy({ network, signer, rpc });
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof DeployRefused ? err.message : err);
    process.exitCode = 1;
  });
}
