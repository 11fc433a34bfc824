import { expect } from "chai";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { ethers } from "hardhat";
import { systemFixture, instanceIdOf, startActive, HOUR, SPHERON, CONFIG, USDC } from "../shared/fixtures";

describe("AgentCompute.extendSession (USDC)", () => {
  it("on an active session, adds time and escrow at the current price and emits SessionExtended", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    const before = await s.compute.getSession(id);
    const tx = s.c.extendSession(id, 1800);
    await expect(tx)
      .to.emit(s.compute, "SessionExtended")
      .withArgs(id, s.agent.address, 1800, 200_000n, before.endTime + 1800n);
    await expect(tx).to.changeTokenBalances(s.usdc, [s.agent, s.compute], [-200_000n, 200_000n]);
    const after = await s.compute.getSession(id);
    expect(after.endTime).to.equal(before.endTime + 1800n);
    expect(after.deposited).to.equal(before.deposited + 200_000n);
  });

  it("on a pending session, adds time that the clock will count from activation", async () => {
    const s = await loadFixture(systemFixture);
    const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
    await s.c.extendSession(id, HOUR);
    await time.increase(500);
    await s.compute.connect(s.keeper).recordOutcome(id, 1, "local");
    const session = await s.compute.getSession(id);
    expect(session.endTime - session.settledUntil).to.equal(2n * HOUR);
  });

  it("after a price change, charges the new price for the extension only", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await s.compute.connect(s.admin).setProvider(SPHERON, USDC("2"), true);
    await expect(s.c.extendSession(id, HOUR)).to.changeTokenBalance(s.usdc, s.agent, -USDC("2"));
  });

  it("when the caller is not the session's agent, reverts with NotSessionAgent", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await expect(s.compute.connect(s.other).extendSession(id, HOUR))
      .to.be.revertedWithCustomError(s.compute, "NotSessionAgent")
      .withArgs(id, s.other.address);
  });

  it("when the session does not exist, reverts with UnknownSession", async () => {
    const s = await loadFixture(systemFixture);
    const id = ethers.id("nope");
    await expect(s.c.extendSession(id, HOUR)).to.be.revertedWithCustomError(s.compute, "UnknownSession").withArgs(id);
  });

  it("when the session has ended, reverts with SessionNotOpen", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await s.c.endSession(id);
    await expect(s.c.extendSession(id, HOUR)).to.be.revertedWithCustomError(s.compute, "SessionNotOpen").withArgs(id);
  });

  it("when the active session's paid time is over, reverts with SessionExpired", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await time.increase(HOUR);
    await expect(s.c.extendSession(id, HOUR)).to.be.revertedWithCustomError(s.compute, "SessionExpired").withArgs(id);
  });

  it("when the additional time is out of range, reverts with DurationOutOfRange", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await expect(s.c.extendSession(id, 1)).to.be.revertedWithCustomError(s.compute, "DurationOutOfRange").withArgs(1);
  });

  it("when the provider has been deactivated, reverts with ProviderInactive", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await s.compute.connect(s.admin).setProvider(SPHERON, 400_000n, false);
    await expect(s.c.extendSession(id, HOUR)).to.be.revertedWithCustomError(s.compute, "ProviderInactive").withArgs(SPHERON);
  });

  it("when paused, reverts with EnforcedPause", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await s.compute.connect(s.admin).pause();
    await expect(s.c.extendSession(id, HOUR)).to.be.revertedWithCustomError(s.compute, "EnforcedPause");
  });
});
