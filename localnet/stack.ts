/**
 * What a local chain lacks and Base has: the real Uniswap V3 stack, a 6-decimal USDC and a funded
 * WETH/USDC pool. Shared by scripts/deploy.ts (hardhat, localhost) and scripts/local-demo.ts.
 */
import { Contract, Signer } from "ethers";
import { createWethUsdcPool, deployUniswap, DevRpc, FEE_LOW, UniswapStack } from "./uniswap";
import { LocalUSDC, LocalUSDC__factory } from "../typechain-types";

export interface LocalStack {
  uni: UniswapStack;
  usdc: LocalUSDC;
  pool: Contract;
  addresses: { usdc: string; router: string; weth: string; quoter: string; factory: string; pool: string };
}

export interface LocalPoolSpec {
  /** USDC base units per ETH (default $3,000). */
  usdcPerEth?: bigint;
  /** WETH the deployer puts in the pool, in wei (default 100 ETH: deep enough, and a dev account can do it ~90 times). */
  wethLiquidity?: bigint;
  fee?: number;
}

export async function deployLocalStack(deployer: Signer, rpc: DevRpc, spec: LocalPoolSpec = {}): Promise<LocalStack> {
  const usdcPerEth = spec.usdcPerEth ?? 3000_000000n;
  const wethLiquidity = spec.wethLiquidity ?? 100n * 10n ** 18n;
  const uni = await deployUniswap(deployer, rpc);
  const usdc = await new LocalUSDC__factory(deployer).deploy();
  await usdc.waitForDeployment();
  await (await usdc.mint(await deployer.getAddress(), (wethLiquidity * usdcPerEth) / 10n ** 18n)).wait();
  const pool = await createWethUsdcPool(deployer, uni, usdc as unknown as Contract, {
    usdcPerEth,
    wethLiquidity,
    fee: spec.fee ?? FEE_LOW,
  });
  return {
    uni,
    usdc,
    pool,
    addresses: {
      usdc: await usdc.getAddress(),
      router: await uni.router.getAddress(),
      weth: await uni.weth.getAddress(),
      quoter: await uni.quoter.getAddress(),
      factory: await uni.factory.getAddress(),
      pool: await pool.getAddress(),
    },
  };
}
