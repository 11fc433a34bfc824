/**
 * Deploys the real Uniswap V3 stack on a local Hardhat chain from the npm packages' own artifacts:
 * UniswapV3Factory, NonfungiblePositionManager, QuoterV2, SwapRouter02 and WETH9 placed at Base's
 * WETH address. The pool init code hash in these artifacts matches the factory, so swaps route for real.
 */
import { Contract, ContractFactory, Signer, Interface, InterfaceAbi } from "ethers";

import factoryArtifact from "@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json";
import positionManagerArtifact from "@uniswap/v3-periphery/artifacts/contracts/NonfungiblePositionManager.sol/NonfungiblePositionManager.json";
import quoterArtifact from "@uniswap/v3-periphery/artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json";
import routerArtifact from "@uniswap/swap-router-contracts/artifacts/contracts/SwapRouter02.sol/SwapRouter02.json";
import weth9Artifact from "@uniswap/v2-periphery/build/WETH9.json";

/** Base mainnet's WETH (an OP-stack predeploy); the local chain puts WETH9 at the same address. */
export const BASE_WETH = "0x4200000000000000000000000000000000000006";

/** JSON-RPC access to the node's Hardhat-only methods (hardhat_setCode, hardhat_setStorageAt). */
export interface DevRpc {
  send(method: string, params: unknown[]): Promise<unknown>;
}

export interface UniswapStack {
  weth: Contract;
  factory: Contract;
  positionManager: Contract;
  quoter: Contract;
  router: Contract;
}

async function deploy(signer: Signer, abi: InterfaceAbi, bytecode: string, args: unknown[] = []): Promise<Contract> {
  const code = bytecode.startsWith("0x") ? bytecode : `0x${bytecode}`;
  const contract = await new ContractFactory(abi, code, signer).deploy(...args);
  await contract.waitForDeployment();
  return contract as Contract;
}

/** Deploys WETH9 and moves it to 0x42..06: runtime code, then the storage slots it set (name, symbol, decimals). */
export async function deployWethAtBaseAddress(signer: Signer, rpc: DevRpc): Promise<Contract> {
  const temp = await deploy(signer, weth9Artifact.abi, weth9Artifact.bytecode);
  const provider = signer.provider!;
  const code = await provider.getCode(await temp.getAddress());
  await rpc.send("hardhat_setCode", [BASE_WETH, code]);
  for (let slot = 0; slot < 3; slot++) {
    const value = await provider.getStorage(await temp.getAddress(), slot);
    await rpc.send("hardhat_setStorageAt", [BASE_WETH, `0x${slot.toString(16)}`, value]);
  }
  return new Contract(BASE_WETH, weth9Artifact.abi, signer);
}

export async function deployUniswap(signer: Signer, rpc: DevRpc): Promise<UniswapStack> {
  const weth = await deployWethAtBaseAddress(signer, rpc);
  const factory = await deploy(signer, factoryArtifact.abi, factoryArtifact.bytecode);
  const factoryAddress = await factory.getAddress();
  // The token descriptor only renders NFT metadata, which nothing here reads.
  const positionManager = await deploy(signer, positionManagerArtifact.abi, positionManagerArtifact.bytecode, [
    factoryAddress,
    BASE_WETH,
    "0x0000000000000000000000000000000000000000",
  ]);
  const quoter = await deploy(signer, quoterArtifact.abi, quoterArtifact.bytecode, [factoryAddress, BASE_WETH]);
  // No Uniswap V2 here: SwapRouter02's V2 half is never used, so its factory address is a placeholder.
  const router = await deploy(signer, routerArtifact.abi, routerArtifact.bytecode, [
    "0x0000000000000000000000000000000000000000",
    factoryAddress,
    await positionManager.getAddress(),
    BASE_WETH,
  ]);
  return { weth, factory, positionManager, quoter, router };
}

function sqrtBig(n: bigint): bigint {
  if (n < 2n) return n;
  let x = n;
  let y = (x + 1n) / 2n;
  while (y < x) {
    x = y;
    y = (x + n / x) / 2n;
  }
  return x;
}

/** sqrtPriceX96 for a pool where one `token0` base unit is worth `amount1 / amount0` `token1` base units. */
export function encodeSqrtPriceX96(amount1: bigint, amount0: bigint): bigint {
  return sqrtBig((amount1 << 192n) / amount0);
}

export const FEE_LOW = 500;
const TICK_SPACING: Record<number, number> = { 100: 1, 500: 10, 3000: 60, 10000: 200 };
const MAX_TICK = 887272;

export interface PoolSpec {
  /** USDC base units per whole ETH, e.g. 3000_000000n for $3,000. */
  usdcPerEth: bigint;
  /** Liquidity provided, in wei of WETH; USDC alongside it at the same price. */
  wethLiquidity: bigint;
  fee?: number;
}

/**
 * Creates and initialises the WETH/USDC pool at the given price and adds full-range liquidity from
 * `signer` (which must hold the USDC; its ETH is wrapped here).
 */
export async function createWethUsdcPool(signer: Signer, uni: UniswapStack, usdc: Contract, spec: PoolSpec): Promise<Contract> {
  const fee = spec.fee ?? FEE_LOW;
  const usdcAddress = await usdc.getAddress();
  const wethFirst = BASE_WETH.toLowerCase() < usdcAddress.toLowerCase();
  const [token0, token1] = wethFirst ? [BASE_WETH, usdcAddress] : [usdcAddress, BASE_WETH];
  const oneEth = 10n ** 18n;
  const sqrtPriceX96 = wethFirst ? encodeSqrtPriceX96(spec.usdcPerEth, oneEth) : encodeSqrtPriceX96(oneEth, spec.usdcPerEth);
  await (await uni.positionManager.createAndInitializePoolIfNecessary(token0, token1, fee, sqrtPriceX96)).wait();

  const usdcLiquidity = (spec.wethLiquidity * spec.usdcPerEth) / oneEth;
  await (await uni.weth.deposit({ value: spec.wethLiquidity })).wait();
  const pm = await uni.positionManager.getAddress();
  await (await uni.weth.approve(pm, spec.wethLiquidity)).wait();
  await (await usdc.approve(pm, usdcLiquidity)).wait();
  const spacing = TICK_SPACING[fee];
  const maxTick = Math.floor(MAX_TICK / spacing) * spacing;
  const [amount0, amount1] = wethFirst ? [spec.wethLiquidity, usdcLiquidity] : [usdcLiquidity, spec.wethLiquidity];
  await (
    await uni.positionManager.mint({
      token0,
      token1,
      fee,
      tickLower: -maxTick,
      tickUpper: maxTick,
      amount0Desired: amount0,
      amount1Desired: amount1,
      amount0Min: 0,
      amount1Min: 0,
      recipient: await signer.getAddress(),
      deadline: 2n ** 40n,
    })
  ).wait();
  const poolAddress: string = await uni.factory.getPool(token0, token1, fee);
  return new Contract(
    poolAddress,
    new Interface([
      "function slot0() view returns (uint160 sqrtPriceX96, int24 tick, uint16, uint16, uint16, uint8, bool)",
      "function liquidity() view returns (uint128)",
    ]),
    signer,
  );
}
