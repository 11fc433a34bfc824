import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { systemFixture, instanceIdOf, HOUR, SPHERON, IONET, CONFIG, USDC } from "../shared/fixtures";

describe("AgentCompute.startSession (USDC)", () => {
  it("escrows the cost, stores a pending session and emits SessionStarted with the config", async () => {
    const s = await loadFixture(systemFixture);
    const cost = await s.compute.getSessionCost(2n * HOUR, IONET);
    const tx = s.c.startSession(2n * HOUR, IONET, CONFIG);
    const id = await instanceIdOf(s, tx);
    await expect(tx)
      .to.emit(s.compute, "SessionStarted")
      .withArgs(id, s.agent.address, IONET, 2n * HOUR, cost, CONFIG);
    await expect(tx).to.changeTokenBalances(s.usdc, [s.agent, s.compute], [-cost, cost]);
    const now = BigInt(await time.latest());
    const session = await s.compute.getSession(id);
    expect(session.provider).to.equal(IONET);
    expect(session.status).to.equal(1n); // Pending
    expect(session.settledUntil).to.equal(now);
    expect(session.endTime).to.equal(now + 2n * HOUR);
    expect(session.deposited).to.equal(cost);
    expect(session.claimed).to.equal(0n);
    expect(await s.compute.agentOf(id)).to.equal(s.agent.address);
  });

  it("gives each session a distinct id that encodes its agent", async () => {
    const s = await loadFixture(systemFixture);
    const a = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
    const b = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
    const c = await instanceIdOf(s, s.compute.connect(s.other).startSession(HOUR, SPHERON, CONFIG));
    expect(new Set([a, b, c]).size).to.equal(3);
    expect(await s.compute.agentOf(c)).to.equal(s.other.address);
  });

  it("accepts an empty config and one of exactly MAX_CONFIG_BYTES", async () => {
    const s = await loadFixture(systemFixture);
    await expect(s.c.startSession(HOUR, SPHERON, "0x")).to.emit(s.compute, "SessionStarted");
    await expect(s.c.startSession(HOUR, SPHERON, new Uint8Array(4096))).to.emit(s.compute, "SessionStarted");
  });

  it("when the config is over MAX_CONFIG_BYTES, reverts with ConfigTooLarge", async () => {
    const s = await loadFixture(systemFixture);
    await expect(s.c.startSession(HOUR, SPHERON, new Uint8Array(4097)))
      .to.be.revertedWithCustomError(s.compute, "ConfigTooLarge")
      .withArgs(4097);
  });

  it("when the duration or provider is invalid, reverts before taking any money", async () => {
    const s = await loadFixture(systemFixture);
    await expect(s.c.startSession(10, SPHERON, CONFIG)).to.be.revertedWithCustomError(s.compute, "DurationOutOfRange");
    await expect(s.c.startSession(HOUR, 9, CONFIG)).to.be.revertedWithCustomError(s.compute, "UnknownProvider");
    expect(await s.usdc.balanceOf(await s.compute.getAddress())).to.equal(0n);
  });

  it("when the agent has not approved enough USDC, reverts with the token's ERC20InsufficientAllowance", async () => {
    const s = await loadFixture(systemFixture);
    await s.usdc.connect(s.agent).approve(await s.compute.getAddress(), 1n);
    await expect(s.c.startSession(HOUR, SPHERON, CONFIG)).to.be.revertedWithCustomError(s.usdc, "ERC20InsufficientAllowance");
  });

  it("when the agent's USDC balance is short, reverts with ERC20InsufficientBalance", async () => {
    const s = await loadFixture(systemFixture);
    const [, , , , , , , poor] = await ethers.getSigners();
    await s.usdc.connect(poor).approve(await s.compute.getAddress(), ethers.MaxUint256);
    await expect(s.compute.connect(poor).startSession(HOUR, SPHERON, CONFIG)).to.be.revertedWithCustomError(
      s.usdc,
      "ERC20InsufficientBalance",
    );
  });

  it("when paused, reverts with EnforcedPause", async () => {
    const s = await loadFixture(systemFixture);
    await s.compute.connect(s.admin).pause();
    await expect(s.c.startSession(HOUR, SPHERON, CONFIG)).to.be.revertedWithCustomError(s.compute, "EnforcedPause");
  });

  it("uses the provider's current price: a price change applies to new sessions only", async () => {
    const s = await loadFixture(systemFixture);
    const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
    await s.compute.connect(s.admin).setProvider(SPHERON, USDC("1"), true);
    const id2 = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
    expect((await s.compute.getSession(id)).deposited).to.equal(400_000n);
    expect((await s.compute.getSession(id2)).deposited).to.equal(1_000_000n);
  });
});
