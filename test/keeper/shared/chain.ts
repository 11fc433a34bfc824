/**
 * A real local chain for keeper tests: a `hardhat node` child on a free 127.0.0.1 port, with the real
 * Uniswap stack and the contracts deployed (the embedded default's own code). Blocks are mined by
 * the tests (no interval mining) so confirmations and reorgs are deterministic.
 */
import net from "node:net";
import os from "node:os";
import fs from "node:fs";
import path from "node:path";
import { JsonRpcProvider, Wallet, Contract } from "ethers";
import pino from "pino";
import { MarginWallet } from "../../../scripts/lib/marginWallet";
import { deployLocal, devWallet, LocalChain, LocalDeployment, startLocalChain } from "../../../localnet/chain";
import { AgentCompute__factory, LocalUSDC__factory } from "../../../typechain-types";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface TestChain {
  chain: LocalChain;
  deployment: LocalDeployment;
  rpc: JsonRpcProvider;
  keeper: Wallet;
  agent: Wallet;
  admin: Wallet;
  mine(n?: number): Promise<void>;
  compute(signer?: Wallet): ReturnType<typeof AgentCompute__factory.connect>;
  usdc(signer?: Wallet): ReturnType<typeof LocalUSDC__factory.connect>;
  stop(): Promise<void>;
}

export async function startTestChain(): Promise<TestChain> {
  const chain = await startLocalChain(await freePort(), 0);
  const deployment = await deployLocal(chain.rpcUrl);
  const rpc = new JsonRpcProvider(chain.rpcUrl, deployment.chainId, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 50 });
  // Margin wallets: the keeper under test mines its own transactions between a test's estimate and block.
  const [admin, keeper, , agent] = [0, 1, 2, 3].map((i) => new MarginWallet(devWallet(i).privateKey, rpc));
  return {
    chain,
    deployment,
    rpc,
    keeper,
    agent,
    admin,
    async mine(n = 1) {
      await rpc.send("hardhat_mine", [`0x${n.toString(16)}`]);
    },
    compute: (signer = agent) => AgentCompute__factory.connect(deployment.contracts.AgentCompute, signer),
    usdc: (signer = agent) => LocalUSDC__factory.connect(deployment.contracts.USDC, signer),
    async stop() {
      rpc.destroy();
      await chain.stop();
    },
  };
}

export const silentLog = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });

export function tempDir(prefix = "keeper-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export const CONFIG = '{"command":["sh","-c","echo started; sleep 3600"],"cpu":0.5,"memoryMb":64}';
export type { Contract };
