/** Deploys AgentCompute and AgentComputeBridge and wires them together: on the local network (chain.ts,
 * stack.ts callers) and, through scripts/deploy.ts, on Base itself. */
import type { Signer } from "ethers";
import { AgentCompute__factory, AgentComputeBridge__factory } from "../typechain-types";
import type { AgentCompute, AgentComputeBridge } from "../typechain-types";

/** Launch prices in USDC base units (6 decimals) per hour: SPHERON, AKASH, IONET. */
export const DEFAULT_PRICES: [bigint, bigint, bigint] = [400_000n, 300_000n, 1_200_000n];

export interface SystemParams {
  usdc: string;
  weth: string;
  router: string;
  admin: string;
  treasury: string;
  keeper?: string;
  poolFee?: number;
  prices?: [bigint, bigint, bigint];
}

export interface DeployedSystem {
  compute: AgentCompute;
  bridge: AgentComputeBridge;
  constructorArgs: { AgentCompute: unknown[]; AgentComputeBridge: unknown[] };
  /** Block of AgentCompute's deployment: where an event reader starts. */
  deployBlock: number;
}

export async function deploySystem(deployer: Signer, p: SystemParams): Promise<DeployedSystem> {
  const prices = p.prices ?? DEFAULT_PRICES;
  const computeArgs = [p.usdc, await deployer.getAddress(), p.treasury, prices] as const;
  const compute = await new AgentCompute__factory(deployer).deploy(...computeArgs);
  const receipt = await compute.deploymentTransaction()!.wait();
  const computeAddress = await compute.getAddress();
  const bridgeArgs = [p.router, p.weth, p.usdc, computeAddress, p.poolFee ?? 500, p.admin] as const;
  const bridge = await new AgentComputeBridge__factory(deployer).deploy(...bridgeArgs);
  await bridge.waitForDeployment();
  await (await compute.setBridge(await bridge.getAddress())).wait();
  if (p.keeper) await (await compute.grantRole(await compute.KEEPER_ROLE(), p.keeper)).wait();
  // The deployer set things up; hand administration to the admin if that is someone else.
  const deployerAddress = await deployer.getAddress();
  if (p.admin.toLowerCase() !== deployerAddress.toLowerCase()) {
    const adminRole = await compute.DEFAULT_ADMIN_ROLE();
    await (await compute.grantRole(adminRole, p.admin)).wait();
    await (await compute.renounceRole(adminRole, deployerAddress)).wait();
  }
  return {
    compute,
    bridge,
    constructorArgs: {
      AgentCompute: [p.usdc, deployerAddress, p.treasury, prices.map(String)],
      AgentComputeBridge: [...bridgeArgs],
    },
    deployBlock: receipt!.blockNumber,
  };
}
