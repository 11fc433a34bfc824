/**
 * The local network's chain, which the keeper starts as its embedded default (`npm start` with no
 * RPC_URL): a Hardhat node as a child process on 127.0.0.1 (chain id 8453, from hardhat.config.ts),
 * mining a block every `blockTimeMs` so confirmations advance, with the real Uniswap V3 stack, a
 * 6-decimal USDC (LocalUSDC), a funded WETH/USDC pool and both contracts deployed.
 */
import { ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { Contract, HDNodeWallet, JsonRpcProvider } from "ethers";
import { createWethUsdcPool, deployUniswap } from "./uniswap";
import { deploySystem } from "./system";
import { LocalUSDC__factory } from "../typechain-types";

/** Hardhat's development mnemonic: its accounts are funded on every local Hardhat chain. Local only. */
const DEV_MNEMONIC = "test test test test test test test test test test test junk";

/** Hardhat dev account `i`: 0 deployer/admin, 1 keeper, 2 treasury, 3 the demo agent. */
export function devWallet(i: number): HDNodeWallet {
  return HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`);
}

export interface LocalDeployment {
  network: "localhost";
  chainId: number;
  rpcUrl: string;
  startBlock: number;
  contracts: { AgentCompute: string; AgentComputeBridge: string; USDC: string; WETH: string; SwapRouter02: string; QuoterV2: string };
  roles: { admin: string; keeper: string; treasury: string };
}

export interface LocalChain {
  rpcUrl: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

const ROOT = path.resolve(__dirname, "..");

async function rpcCall(url: string, method: string, params: unknown[] = []): Promise<unknown> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = (await res.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(body.error.message);
  return body.result;
}

/** Starts `hardhat node` and resolves once it answers JSON-RPC. */
export async function startLocalChain(port = 8545, blockTimeMs = 1000): Promise<LocalChain> {
  const rpcUrl = `http://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [require.resolve("hardhat/internal/cli/cli"), "node", "--hostname", "127.0.0.1", "--port", String(port)],
    {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, HARDHAT_DISABLE_TELEMETRY_PROMPT: "true" },
    },
  );
  let output = "";
  child.stdout!.on("data", (d) => (output = (output + d).slice(-4000)));
  child.stderr!.on("data", (d) => (output = (output + d).slice(-4000)));
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code) => reject(new Error(`hardhat node exited (${code}):\n${output}`))),
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await Promise.race([rpcCall(rpcUrl, "eth_blockNumber"), exited]);
      break;
    } catch (err) {
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill("SIGKILL");
        throw new Error(`local chain did not start on ${rpcUrl}: ${(err as Error).message}\n${output}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  exited.catch(() => undefined);
  if (blockTimeMs > 0) await rpcCall(rpcUrl, "evm_setIntervalMining", [blockTimeMs]);
  return {
    rpcUrl,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        // A child killed by a signal has exitCode null but signalCode set: it has exited all the same.
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 3000).unref();
      }),
  };
}

/** Deploys Uniswap, USDC, a funded pool and the system on a local chain; the demo agent gets USDC. */
export async function deployLocal(rpcUrl: string): Promise<LocalDeployment> {
  const rpc = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
  const [deployer, keeper, treasury, agent] = [0, 1, 2, 3].map((i) => devWallet(i).connect(rpc));
  // NonceManager-free: each deploy awaits its receipt, so the provider's pending nonce is exact.
  const uni = await deployUniswap(deployer, rpc);
  const usdc = await new LocalUSDC__factory(deployer).deploy();
  await usdc.waitForDeployment();
  await (await usdc.mint(deployer.address, 10_000_000n * 10n ** 6n)).wait();
  await (await usdc.mint(agent.address, 10_000n * 10n ** 6n)).wait();
  await createWethUsdcPool(deployer, uni, usdc as unknown as Contract, { usdcPerEth: 3000_000000n, wethLiquidity: 1000n * 10n ** 18n });
  const system = await deploySystem(deployer, {
    usdc: await usdc.getAddress(),
    weth: await uni.weth.getAddress(),
    router: await uni.router.getAddress(),
    admin: deployer.address,
    treasury: treasury.address,
    keeper: keeper.address,
  });
  const network = await rpc.getNetwork();
  const deployment: LocalDeployment = {
    network: "localhost",
    chainId: Number(network.chainId),
    rpcUrl,
    startBlock: system.deployBlock,
    contracts: {
      AgentCompute: await system.compute.getAddress(),
      AgentComputeBridge: await system.bridge.getAddress(),
      USDC: await usdc.getAddress(),
      WETH: await uni.weth.getAddress(),
      SwapRouter02: await uni.router.getAddress(),
      QuoterV2: await uni.quoter.getAddress(),
    },
    roles: { admin: deployer.address, keeper: keeper.address, treasury: treasury.address },
  };
  rpc.destroy();
  return deployment;
}
