import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { systemFixture, instanceIdOf, startActive, HOUR, SPHERON, CONFIG } from "../shared/fixtures";

describe("AgentCompute.endSession", () => {
  it("on a pending session (never provisioned), refunds everything to the agent", async () => {
    const s = await loadFixture(systemFixture);
    const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
    await time.increase(1000);
    const tx = s.c.endSession(id);
    await expect(tx).to.emit(s.compute, "SessionEnded").withArgs(id, s.agent.address, s.agent.address, s.treasury.address, 0, 400_000n);
    await expect(tx).to.changeTokenBalances(s.usdc, [s.agent, s.treasury, s.compute], [400_000n, 0, -400_000n]);
    expect((await s.compute.getSession(id)).status).to.equal(3n); // Ended
  });

  it("on an active session, credits the elapsed part to the treasury and refunds the rest", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    const start = (await s.compute.getSession(id)).settledUntil;
    await time.setNextBlockTimestamp(start + 900n); // a quarter of the hour
    const tx = s.c.endSession(id);
    await expect(tx)
      .to.emit(s.compute, "SessionEnded")
      .withArgs(id, s.agent.address, s.agent.address, s.treasury.address, 100_000n, 300_000n);
    await expect(tx).to.changeTokenBalances(s.usdc, [s.agent, s.treasury, s.compute], [300_000n, 0, -300_000n]);
    expect(await s.compute.withdrawable(s.treasury.address)).to.equal(100_000n);
    const session = await s.compute.getSession(id);
    expect(session.claimed).to.equal(100_000n);
    expect(session.settledUntil).to.equal(start + 900n);
  });

  it("after earlier claims, settles only what was not yet claimed", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    const start = (await s.compute.getSession(id)).settledUntil;
    await time.setNextBlockTimestamp(start + 900n);
    await s.compute.connect(s.keeper).claim(id); // 100,000
    await time.setNextBlockTimestamp(start + 1800n);
    await expect(s.c.endSession(id)).to.changeTokenBalances(s.usdc, [s.agent, s.treasury], [200_000n, 0]);
    expect(await s.compute.withdrawable(s.treasury.address)).to.equal(200_000n);
  });

  it("after expiry, credits everything to the treasury and refunds nothing", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await time.increase(2n * HOUR);
    await expect(s.c.endSession(id)).to.changeTokenBalances(s.usdc, [s.agent, s.treasury], [0, 0]);
    expect(await s.compute.withdrawable(s.treasury.address)).to.equal(400_000n);
  });

  it("when the keeper ends an expired session, settles it", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await time.increase(HOUR);
    await expect(s.compute.connect(s.keeper).endSession(id))
      .to.emit(s.compute, "SessionEnded")
      .withArgs(id, s.agent.address, s.keeper.address, s.treasury.address, 400_000n, 0);
  });

  it("when the keeper tries to end a session still running, reverts with NotSessionAgent", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await expect(s.compute.connect(s.keeper).endSession(id))
      .to.be.revertedWithCustomError(s.compute, "NotSessionAgent")
      .withArgs(id, s.keeper.address);
  });

  it("when the keeper tries to end a pending session, reverts with NotSessionAgent (it must report Failed)", async () => {
    const s = await loadFixture(systemFixture);
    const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
    await time.increase(2n * HOUR);
    await expect(s.compute.connect(s.keeper).endSession(id)).to.be.revertedWithCustomError(s.compute, "NotSessionAgent");
  });

  it("when a stranger tries to end an expired session, reverts with NotSessionAgent", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await time.increase(2n * HOUR);
    await expect(s.compute.connect(s.other).endSession(id))
      .to.be.revertedWithCustomError(s.compute, "NotSessionAgent")
      .withArgs(id, s.other.address);
  });

  it("when already ended, reverts with SessionNotOpen", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await s.c.endSession(id);
    await expect(s.c.endSession(id)).to.be.revertedWithCustomError(s.compute, "SessionNotOpen").withArgs(id);
  });

  it("when the session is unknown, reverts with UnknownSession", async () => {
    const s = await loadFixture(systemFixture);
    await expect(s.c.endSession(ethers.ZeroHash)).to.be.revertedWithCustomError(s.compute, "UnknownSession");
  });

  it("while paused, still works: an agent's money can always leave", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await s.compute.connect(s.admin).pause();
    await expect(s.c.endSession(id)).to.emit(s.compute, "SessionEnded");
  });
});
