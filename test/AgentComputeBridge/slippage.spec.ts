import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { systemFixture, quoteEthFor, System, HOUR, IONET, CONFIG } from "../shared/fixtures";

/** Someone buys a lot of USDC with ETH through the same pool just before the agent: the price moves. */
async function frontRun(s: System, ethIn: bigint) {
  const [, , , , , , , whale] = await ethers.getSigners();
  await s.uni.router.connect(whale).getFunction("exactInputSingle")(
    {
      tokenIn: await s.uni.weth.getAddress(),
      tokenOut: await s.usdc.getAddress(),
      fee: 500,
      recipient: whale.address,
      amountIn: ethIn,
      amountOutMinimum: 1n,
      sqrtPriceLimitX96: 0,
    },
    { value: ethIn },
  );
}

describe("AgentComputeBridge: the agent's maximum bounds the swap", () => {
  it("when the price moved against the agent beyond its slippage (a sandwich), the payment reverts with SwapFailed and the agent loses only gas", async () => {
    const s = await loadFixture(systemFixture);
    const cost = await s.compute.getSessionCost(10n * HOUR, IONET);
    const maxIn = ((await quoteEthFor(s, cost)) * 1005n) / 1000n; // quote + 0.5%
    await frontRun(s, ethers.parseEther("200")); // ~10% of the pool
    expect(await quoteEthFor(s, cost)).to.be.greaterThan(maxIn);
    const usdcBefore = await s.usdc.balanceOf(await s.compute.getAddress());
    await expect(s.c.startSession(10n * HOUR, IONET, CONFIG, { value: maxIn })).to.be.revertedWithCustomError(s.bridge, "SwapFailed");
    expect(await s.usdc.balanceOf(await s.compute.getAddress())).to.equal(usdcBefore);
    expect(await ethers.provider.getBalance(await s.bridge.getAddress())).to.equal(0n);
  });

  it("after the price moved, the same payment with a fresh quote goes through at the new price", async () => {
    const s = await loadFixture(systemFixture);
    const cost = await s.compute.getSessionCost(10n * HOUR, IONET);
    const oldQuote = await quoteEthFor(s, cost);
    await frontRun(s, ethers.parseEther("200"));
    const fresh = await quoteEthFor(s, cost);
    expect(fresh).to.be.greaterThan(oldQuote);
    await expect(s.c.startSession(10n * HOUR, IONET, CONFIG, { value: (fresh * 1005n) / 1000n }))
      .to.emit(s.bridge, "ComputeRequested")
      .withArgs(s.agent.address, (x: string) => x.length === 66, IONET, 10n * HOUR, cost, fresh);
  });

  it("when the ETH sent is below the quote from the start, reverts with SwapFailed", async () => {
    const s = await loadFixture(systemFixture);
    const cost = await s.compute.getSessionCost(HOUR, IONET);
    const quote = await quoteEthFor(s, cost);
    await expect(s.c.startSession(HOUR, IONET, CONFIG, { value: quote - 1n })).to.be.revertedWithCustomError(s.bridge, "SwapFailed");
    await expect(s.c.startSession(HOUR, IONET, CONFIG, { value: 1n })).to.be.revertedWithCustomError(s.bridge, "SwapFailed");
  });

  it("when the configured pool does not exist, reverts with SwapFailed", async () => {
    const s = await loadFixture(systemFixture);
    await s.bridge.connect(s.admin).setPoolFee(10_000);
    await expect(s.c.startSession(HOUR, IONET, CONFIG, { value: 10n ** 18n })).to.be.revertedWithCustomError(s.bridge, "SwapFailed");
  });
});
