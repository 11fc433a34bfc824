/**
 * Issue 17, smaller finding: an agent could end a pending session for a full refund after the keeper had
 * paid a provider for it. Rule: once the keeper reports Provisioning, an agent ending the still-pending
 * session within PROVISIONING_WINDOW pays the time since that report (at the session's prices, capped by
 * its deposit); after the window, a session the keeper never activated is refunded in full.
 */
import { expect } from "chai";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { systemFixture, instanceIdOf, startActive, System, HOUR, SPHERON, CONFIG } from "../shared/fixtures";

const RUNNING = 1;
const FAILED = 2;
const PROVISIONING = 4;

async function provisioning(s: System, duration = HOUR): Promise<{ id: string; at: bigint }> {
  const id = await instanceIdOf(s, s.c.startSession(duration, SPHERON, CONFIG));
  await s.compute.connect(s.keeper).recordOutcome(id, PROVISIONING, "akash:dseq-42");
  return { id, at: BigInt(await time.latest()) };
}

describe("AgentCompute provisioning window", () => {
  it("PROVISIONING_WINDOW is 15 minutes", async () => {
    const s = await loadFixture(systemFixture);
    expect(await s.compute.PROVISIONING_WINDOW()).to.equal(900n);
  });

  it("recordOutcome(Provisioning) on a pending session records the time and emits OutcomeRecorded", async () => {
    const s = await loadFixture(systemFixture);
    const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
    const tx = s.compute.connect(s.keeper).recordOutcome(id, PROVISIONING, "akash:dseq-42");
    await expect(tx).to.emit(s.compute, "OutcomeRecorded").withArgs(id, PROVISIONING, s.keeper.address, "akash:dseq-42");
    expect(await s.compute.provisioningStartedAt(id)).to.equal(BigInt(await time.latest()));
    expect((await s.compute.getSession(id)).status).to.equal(1n); // still Pending
  });

  it("a repeated Provisioning report (a retry) keeps the first time", async () => {
    const s = await loadFixture(systemFixture);
    const { id, at } = await provisioning(s);
    await time.increase(300);
    await s.compute.connect(s.keeper).recordOutcome(id, PROVISIONING, "retry");
    expect(await s.compute.provisioningStartedAt(id)).to.equal(at);
  });

  it("on an active session, only records", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await expect(s.compute.connect(s.keeper).recordOutcome(id, PROVISIONING, "x")).to.emit(s.compute, "OutcomeRecorded");
    expect(await s.compute.provisioningStartedAt(id)).to.equal(0n);
  });

  it("on an ended session, reverts with SessionNotOpen", async () => {
    const s = await loadFixture(systemFixture);
    const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
    await s.c.endSession(id);
    await expect(s.compute.connect(s.keeper).recordOutcome(id, PROVISIONING, "x"))
      .to.be.revertedWithCustomError(s.compute, "SessionNotOpen")
      .withArgs(id);
  });

  it("from anyone but the keeper, reverts with AccessControlUnauthorizedAccount", async () => {
    const s = await loadFixture(systemFixture);
    const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
    await expect(s.c.recordOutcome(id, PROVISIONING, "x")).to.be.revertedWithCustomError(s.compute, "AccessControlUnauthorizedAccount");
  });

  it("the agent ending within the window pays the 300 s since the report (33,333) and gets the rest", async () => {
    const s = await loadFixture(systemFixture);
    const { id, at } = await provisioning(s);
    await time.setNextBlockTimestamp(at + 300n);
    const tx = s.c.endSession(id);
    await expect(tx)
      .to.emit(s.compute, "SessionEnded")
      .withArgs(id, s.agent.address, s.agent.address, s.treasury.address, 33_333n, 366_667n);
    await expect(tx).to.changeTokenBalance(s.usdc, s.agent, 366_667n);
    expect(await s.compute.withdrawable(s.treasury.address)).to.equal(33_333n);
    expect((await s.compute.getSession(id)).claimed).to.equal(33_333n);
  });

  it("the charge is capped by the deposit: a 60 s session ended 600 s after the report pays its 6,667 in full", async () => {
    const s = await loadFixture(systemFixture);
    const { id, at } = await provisioning(s, 60n);
    await time.setNextBlockTimestamp(at + 600n);
    await expect(s.c.endSession(id))
      .to.emit(s.compute, "SessionEnded")
      .withArgs(id, s.agent.address, s.agent.address, s.treasury.address, 6_667n, 0n);
  });

  it("an extension bought while pending is charged after the start's seconds, at its own price", async () => {
    const s = await loadFixture(systemFixture);
    const { id, at } = await provisioning(s, 120n); // 13,334
    await s.compute.connect(s.admin).setProvider(SPHERON, 3_600_000n, true);
    await s.c.extendSession(id, HOUR); // 3,600,000
    await time.setNextBlockTimestamp(at + 180n);
    // 120 s of the start (13,334) + 60 s of the extension at 1,000/s.
    await expect(s.c.endSession(id))
      .to.emit(s.compute, "SessionEnded")
      .withArgs(id, s.agent.address, s.agent.address, s.treasury.address, 73_334n, 3_540_000n);
  });

  it("after the window without activation (the keeper failed), the agent gets everything back", async () => {
    const s = await loadFixture(systemFixture);
    const { id, at } = await provisioning(s);
    await time.setNextBlockTimestamp(at + 900n);
    await expect(s.c.endSession(id))
      .to.emit(s.compute, "SessionEnded")
      .withArgs(id, s.agent.address, s.agent.address, s.treasury.address, 0n, 400_000n);
  });

  it("without a Provisioning report, ending a pending session refunds everything", async () => {
    const s = await loadFixture(systemFixture);
    const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
    await time.increase(300);
    await expect(s.c.endSession(id))
      .to.emit(s.compute, "SessionEnded")
      .withArgs(id, s.agent.address, s.agent.address, s.treasury.address, 0n, 400_000n);
  });

  it("a Failed report within the window refunds everything: the keeper's failure is not the agent's cost", async () => {
    const s = await loadFixture(systemFixture);
    const { id } = await provisioning(s);
    await time.increase(300);
    await expect(s.compute.connect(s.keeper).recordOutcome(id, FAILED, "no bids")).to.changeTokenBalance(s.usdc, s.agent, 400_000n);
  });

  it("once Running, the session gets every second it paid for: provisioning time is not charged twice", async () => {
    const s = await loadFixture(systemFixture);
    const { id } = await provisioning(s);
    await time.increase(300);
    await s.compute.connect(s.keeper).recordOutcome(id, RUNNING, "akash:dseq-42");
    const session = await s.compute.getSession(id);
    expect(session.endTime - session.settledUntil).to.equal(HOUR);
    await time.setNextBlockTimestamp(session.settledUntil + 900n);
    await expect(s.c.endSession(id))
      .to.emit(s.compute, "SessionEnded")
      .withArgs(id, s.agent.address, s.agent.address, s.treasury.address, 100_000n, 300_000n);
  });
});
