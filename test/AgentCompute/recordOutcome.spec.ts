import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { systemFixture, instanceIdOf, startActive, HOUR, SPHERON, CONFIG } from "../shared/fixtures";

const RUNNING = 1;
const FAILED = 2;
const COMPLETED = 3;

describe("AgentCompute.recordOutcome", () => {
  describe("Running", () => {
    it("on a pending session, activates it and starts its clock now, with every second it paid for", async () => {
      const s = await loadFixture(systemFixture);
      const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
      await time.increase(300); // provisioning took five minutes
      const tx = s.compute.connect(s.keeper).recordOutcome(id, RUNNING, "akash:dseq/123");
      await expect(tx).to.emit(s.compute, "OutcomeRecorded").withArgs(id, RUNNING, s.keeper.address, "akash:dseq/123");
      const now = BigInt(await time.latest());
      await expect(tx)
        .to.emit(s.compute, "SessionActivated")
        .withArgs(id, now, now + HOUR);
      const session = await s.compute.getSession(id);
      expect(session.status).to.equal(2n);
      expect(session.settledUntil).to.equal(now);
      expect(session.endTime).to.equal(now + HOUR);
    });

    it("on an active session (failover to another provider), records without moving the clock", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      const before = await s.compute.getSession(id);
      await time.increase(100);
      const tx = s.compute.connect(s.keeper).recordOutcome(id, RUNNING, "spheron:abc");
      await expect(tx).to.emit(s.compute, "OutcomeRecorded");
      await expect(tx).not.to.emit(s.compute, "SessionActivated");
      expect(await s.compute.getSession(id)).to.deep.equal(before);
    });

    it("on an ended session, reverts with SessionNotOpen", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await s.c.endSession(id);
      await expect(s.compute.connect(s.keeper).recordOutcome(id, RUNNING, "x"))
        .to.be.revertedWithCustomError(s.compute, "SessionNotOpen")
        .withArgs(id);
    });
  });

  describe("Failed", () => {
    it("on a pending session (provisioning failed), refunds everything", async () => {
      const s = await loadFixture(systemFixture);
      const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
      const tx = s.compute.connect(s.keeper).recordOutcome(id, FAILED, "no bids");
      await expect(tx).to.emit(s.compute, "SessionEnded").withArgs(id, s.agent.address, s.keeper.address, s.treasury.address, 0, 400_000n);
      await expect(tx).to.emit(s.compute, "OutcomeRecorded").withArgs(id, FAILED, s.keeper.address, "no bids");
      await expect(tx).to.changeTokenBalances(s.usdc, [s.agent, s.treasury], [400_000n, 0]);
    });

    it("on an active session (workload lost), credits the time used to the treasury and refunds the rest", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      const start = (await s.compute.getSession(id)).settledUntil;
      await time.setNextBlockTimestamp(start + 2700n);
      await expect(s.compute.connect(s.keeper).recordOutcome(id, FAILED, "lease closed")).to.changeTokenBalances(
        s.usdc,
        [s.agent, s.treasury],
        [100_000n, 0],
      );
      expect(await s.compute.withdrawable(s.treasury.address)).to.equal(300_000n);
    });

    it("on an ended session, reverts with SessionNotOpen", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await s.c.endSession(id);
      await expect(s.compute.connect(s.keeper).recordOutcome(id, FAILED, "x")).to.be.revertedWithCustomError(s.compute, "SessionNotOpen");
    });
  });

  describe("Completed", () => {
    it("on an expired active session, settles it with everything to the treasury", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await time.increase(HOUR);
      const tx = s.compute.connect(s.keeper).recordOutcome(id, COMPLETED, "exit 0");
      await expect(tx).to.emit(s.compute, "SessionEnded").withArgs(id, s.agent.address, s.keeper.address, s.treasury.address, 400_000n, 0);
      await expect(tx).to.changeTokenBalance(s.usdc, s.treasury, 0);
      expect(await s.compute.withdrawable(s.treasury.address)).to.equal(400_000n);
    });

    it("on an ended session, only records", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await s.c.endSession(id);
      const tx = s.compute.connect(s.keeper).recordOutcome(id, COMPLETED, "terminated");
      await expect(tx).to.emit(s.compute, "OutcomeRecorded").withArgs(id, COMPLETED, s.keeper.address, "terminated");
      await expect(tx).not.to.emit(s.compute, "SessionEnded");
      await expect(tx).to.changeTokenBalances(s.usdc, [s.agent, s.treasury], [0, 0]);
    });

    it("on an active session still running, reverts with SessionStillRunning", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await expect(s.compute.connect(s.keeper).recordOutcome(id, COMPLETED, "x"))
        .to.be.revertedWithCustomError(s.compute, "SessionStillRunning")
        .withArgs(id);
    });

    it("on a pending session, reverts with SessionNotActive", async () => {
      const s = await loadFixture(systemFixture);
      const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
      await expect(s.compute.connect(s.keeper).recordOutcome(id, COMPLETED, "x"))
        .to.be.revertedWithCustomError(s.compute, "SessionNotActive")
        .withArgs(id);
    });
  });

  it("with outcome None, reverts with InvalidOutcome", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await expect(s.compute.connect(s.keeper).recordOutcome(id, 0, "x")).to.be.revertedWithCustomError(s.compute, "InvalidOutcome");
  });

  it("with an outcome outside the enum, reverts (ABI decoding rejects it)", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await expect(s.compute.connect(s.keeper).recordOutcome(id, 5, "x")).to.be.reverted;
  });

  it("on an unknown session, reverts with UnknownSession", async () => {
    const s = await loadFixture(systemFixture);
    await expect(s.compute.connect(s.keeper).recordOutcome(ethers.id("x"), RUNNING, "x")).to.be.revertedWithCustomError(
      s.compute,
      "UnknownSession",
    );
  });

  it("from anyone but the keeper, reverts with AccessControlUnauthorizedAccount", async () => {
    const s = await loadFixture(systemFixture);
    const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
    await expect(s.c.recordOutcome(id, FAILED, "refund me")).to.be.revertedWithCustomError(s.compute, "AccessControlUnauthorizedAccount");
  });

  it("works while paused, so failed provisioning can still be refunded", async () => {
    const s = await loadFixture(systemFixture);
    const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
    await s.compute.connect(s.admin).pause();
    await expect(s.compute.connect(s.keeper).recordOutcome(id, FAILED, "paused")).to.changeTokenBalance(s.usdc, s.agent, 400_000n);
  });
});
