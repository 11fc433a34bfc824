/**
 * Helpers shared by the bridge (ETH payment) specs: exact balance bookkeeping, gas of a mined
 * (possibly reverted) transaction, the revert payloads SwapRouter02 produces, and a whale swap
 * that moves the WETH/USDC pool price.
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import type { Signer, TransactionReceipt } from "ethers";
import type { System } from "../shared/fixtures";

/** `quote` plus `bps` basis points of slippage (rounded down), what an agent sends as its maximum. */
export function withSlippage(quote: bigint, bps: bigint): bigint {
  return (quote * (10_000n + bps)) / 10_000n;
}

export async function ethOf(who: string | { getAddress(): Promise<string> }): Promise<bigint> {
  const address = typeof who === "string" ? who : await who.getAddress();
  return ethers.provider.getBalance(address);
}

/** Receipt of a transaction that succeeded. */
export async function mined(tx: Promise<{ wait(): Promise<TransactionReceipt | null> }>): Promise<TransactionReceipt> {
  const receipt = await (await tx).wait();
  return receipt!;
}

/**
 * Fee (gasUsed * effective gas price) of the last transaction mined: used after a transaction that
 * reverted, whose sender still paid for its gas.
 */
export async function feeOfLastTx(from: string): Promise<bigint> {
  const block = await ethers.provider.getBlock("latest");
  expect(block!.transactions.length, "one transaction in the last block").to.equal(1);
  const receipt = await ethers.provider.getTransactionReceipt(block!.transactions[0]);
  expect(receipt!.from).to.equal(from);
  expect(receipt!.status, "the last transaction reverted").to.equal(0);
  return receipt!.fee;
}

const ERROR_STRING = new ethers.Interface(["function Error(string)"]);

/** The revert data of Solidity's `require(cond, message)`, e.g. SwapRouter02's "STF" or "Too much requested". */
export function errorString(message: string): string {
  return ERROR_STRING.encodeFunctionData("Error", [message]);
}

/** What the router reverts with when the ETH it holds does not cover the swap: it tries to pull WETH from the bridge. */
export const STF = errorString("STF");
/** SwapRouter02's exact-output check `amountIn <= amountInMaximum`. */
export const TOO_MUCH_REQUESTED = errorString("Too much requested");

/** Balances of everything an ETH payment touches, for exact before/after comparisons. */
export interface Ledger {
  agentEth: bigint;
  agentUsdc: bigint;
  computeUsdc: bigint;
  computeEth: bigint;
  bridgeEth: bigint;
  bridgeWeth: bigint;
  bridgeUsdc: bigint;
  routerEth: bigint;
  routerWeth: bigint;
  routerUsdc: bigint;
  poolWeth: bigint;
  poolUsdc: bigint;
}

export async function ledger(s: System, agent: string = s.agent.address): Promise<Ledger> {
  const compute = await s.compute.getAddress();
  const bridge = await s.bridge.getAddress();
  const router = await s.uni.router.getAddress();
  const pool = await s.pool.getAddress();
  return {
    agentEth: await ethOf(agent),
    agentUsdc: await s.usdc.balanceOf(agent),
    computeUsdc: await s.usdc.balanceOf(compute),
    computeEth: await ethOf(compute),
    bridgeEth: await ethOf(bridge),
    bridgeWeth: (await s.uni.weth.balanceOf(bridge)) as bigint,
    bridgeUsdc: await s.usdc.balanceOf(bridge),
    routerEth: await ethOf(router),
    routerWeth: (await s.uni.weth.balanceOf(router)) as bigint,
    routerUsdc: await s.usdc.balanceOf(router),
    poolWeth: (await s.uni.weth.balanceOf(pool)) as bigint,
    poolUsdc: await s.usdc.balanceOf(pool),
  };
}

/** Nothing stays behind in AgentCompute (ETH), the bridge (ETH, WETH, USDC) or the router (ETH, WETH, USDC). */
export function expectNothingLeftBehind(l: Ledger): void {
  expect(l.computeEth, "AgentCompute ETH").to.equal(0n);
  expect(l.bridgeEth, "bridge ETH").to.equal(0n);
  expect(l.bridgeWeth, "bridge WETH").to.equal(0n);
  expect(l.bridgeUsdc, "bridge USDC").to.equal(0n);
  expect(l.routerEth, "router ETH").to.equal(0n);
  expect(l.routerWeth, "router WETH").to.equal(0n);
  expect(l.routerUsdc, "router USDC").to.equal(0n);
}

/** Asserts two ledgers are equal except for the listed fields. */
export function expectUnchangedExcept(before: Ledger, after: Ledger, changed: (keyof Ledger)[]): void {
  for (const key of Object.keys(before) as (keyof Ledger)[]) {
    if (changed.includes(key)) continue;
    expect(after[key], `${key} unchanged`).to.equal(before[key]);
  }
}

/** Buys USDC with `ethIn` ETH through SwapRouter02 (exactInputSingle; no refund), moving the price against ETH buyers. */
export async function whaleBuysUsdc(s: System, whale: Signer, ethIn: bigint, fee = 500): Promise<TransactionReceipt> {
  const params = {
    tokenIn: await s.uni.weth.getAddress(),
    tokenOut: await s.usdc.getAddress(),
    fee,
    recipient: await whale.getAddress(),
    amountIn: ethIn,
    amountOutMinimum: 0n,
    sqrtPriceLimitX96: 0n,
  };
  return mined(s.uni.router.connect(whale).getFunction("exactInputSingle")(params, { value: ethIn }));
}

/** Sells `usdcIn` USDC for WETH through SwapRouter02 (the whale must have approved the router), moving the price in ETH buyers' favour. */
export async function whaleSellsUsdc(s: System, whale: Signer, usdcIn: bigint): Promise<TransactionReceipt> {
  const params = {
    tokenIn: await s.usdc.getAddress(),
    tokenOut: await s.uni.weth.getAddress(),
    fee: 500,
    recipient: await whale.getAddress(),
    amountIn: usdcIn,
    amountOutMinimum: 0n,
    sqrtPriceLimitX96: 0n,
  };
  return mined(s.uni.router.connect(whale).getFunction("exactInputSingle")(params));
}
