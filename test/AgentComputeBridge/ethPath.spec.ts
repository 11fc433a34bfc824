import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { systemFixture, quoteEthFor, instanceIdOf, startActive, System, HOUR, SPHERON, IONET, CONFIG } from "../shared/fixtures";

async function ethPaid(s: System, tx: Promise<{ wait(): Promise<{ gasUsed: bigint; gasPrice: bigint } | null> }>, before: bigint) {
  const r = (await (await tx).wait())!;
  return before - (await ethers.provider.getBalance(s.agent.address)) - r.gasUsed * r.gasPrice;
}

async function nothingLeftBehind(s: System) {
  for (const holder of [s.bridge, s.uni.router]) {
    const a = await holder.getAddress();
    expect(await ethers.provider.getBalance(a), "ETH left behind").to.equal(0n);
    expect(await s.usdc.balanceOf(a), "USDC left behind").to.equal(0n);
    expect(await s.uni.weth.balanceOf(a), "WETH left behind").to.equal(0n);
  }
}

describe("AgentComputeBridge: paying with ETH", () => {
  it("startSession with ETH escrows exactly the cost and charges the agent exactly what the swap used (the QuoterV2 quote)", async () => {
    const s = await loadFixture(systemFixture);
    const cost = await s.compute.getSessionCost(2n * HOUR, IONET);
    const quote = await quoteEthFor(s, cost);
    const sent = (quote * 103n) / 100n;
    const before = await ethers.provider.getBalance(s.agent.address);
    const tx = s.c.startSession(2n * HOUR, IONET, CONFIG, { value: sent });
    const paid = await ethPaid(s, tx, before);
    expect(paid).to.equal(quote);
    expect(await s.usdc.balanceOf(await s.compute.getAddress())).to.equal(cost);
    const id = await instanceIdOf(s, tx);
    expect((await s.compute.getSession(id)).deposited).to.equal(cost);
    await nothingLeftBehind(s);
  });

  it("emits ComputeRequested (agent, instanceId, provider, duration, usdcAmount, ethSpent) and SessionStarted", async () => {
    const s = await loadFixture(systemFixture);
    const cost = await s.compute.getSessionCost(HOUR, SPHERON);
    const quote = await quoteEthFor(s, cost);
    const tx = s.c.startSession(HOUR, SPHERON, CONFIG, { value: quote * 2n });
    const id = await instanceIdOf(s, tx);
    await expect(tx).to.emit(s.bridge, "ComputeRequested").withArgs(s.agent.address, id, SPHERON, HOUR, cost, quote);
    await expect(tx).to.emit(s.compute, "SessionStarted").withArgs(id, s.agent.address, SPHERON, HOUR, cost, CONFIG);
  });

  it("when the agent sends exactly the quote, there is nothing to refund and it succeeds", async () => {
    const s = await loadFixture(systemFixture);
    const cost = await s.compute.getSessionCost(HOUR, SPHERON);
    const quote = await quoteEthFor(s, cost);
    const before = await ethers.provider.getBalance(s.agent.address);
    expect(await ethPaid(s, s.c.startSession(HOUR, SPHERON, CONFIG, { value: quote }), before)).to.equal(quote);
    await nothingLeftBehind(s);
  });

  it("extendSession with ETH adds the extension's cost to escrow and refunds the rest", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    const cost = await s.compute.getSessionCost(HOUR, SPHERON);
    const quote = await quoteEthFor(s, cost);
    const before = await ethers.provider.getBalance(s.agent.address);
    const tx = s.c.extendSession(id, HOUR, { value: quote * 3n });
    expect(await ethPaid(s, tx, before)).to.equal(quote);
    await expect(tx).to.emit(s.bridge, "ComputeRequested").withArgs(s.agent.address, id, SPHERON, HOUR, cost, quote);
    expect((await s.compute.getSession(id)).deposited).to.equal(2n * cost);
    await nothingLeftBehind(s);
  });

  it("when the bridge is unset, ETH payments revert with BridgeNotSet", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await s.compute.connect(s.admin).setBridge(ethers.ZeroAddress);
    await expect(s.c.startSession(HOUR, SPHERON, CONFIG, { value: 10n ** 16n })).to.be.revertedWithCustomError(s.compute, "BridgeNotSet");
    await expect(s.c.extendSession(id, HOUR, { value: 10n ** 16n })).to.be.revertedWithCustomError(s.compute, "BridgeNotSet");
  });

  it("when paused, ETH payments revert with EnforcedPause and the ETH stays with the agent", async () => {
    const s = await loadFixture(systemFixture);
    await s.compute.connect(s.admin).pause();
    await expect(s.c.startSession(HOUR, SPHERON, CONFIG, { value: 10n ** 16n })).to.be.revertedWithCustomError(s.compute, "EnforcedPause");
    await nothingLeftBehind(s);
  });
});
