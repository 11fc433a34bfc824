import { expect } from "chai";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { network, ethers } from "hardhat";
import { systemFixture, instanceIdOf, startActive, HOUR, SPHERON, CONFIG } from "../shared/fixtures";

describe("AgentCompute.claim", () => {
  it("credits the treasury's withdrawable balance with the escrow streamed so far (no transfer) and emits EscrowClaimed", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    const start = (await s.compute.getSession(id)).settledUntil;
    await time.setNextBlockTimestamp(start + 1200n);
    const tx = s.compute.connect(s.keeper).claim(id);
    await expect(tx)
      .to.emit(s.compute, "EscrowClaimed")
      .withArgs(id, s.treasury.address, 133_333n, start + 1200n);
    await expect(tx).to.changeTokenBalances(s.usdc, [s.treasury, s.compute], [0, 0]);
    expect(await s.compute.withdrawable(s.treasury.address)).to.equal(133_333n);
  });

  it("claimable() agrees with what claim pays", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await time.increase(777);
    const expected = await s.compute.claimable(id);
    expect(expected).to.be.gt(0n);
    // The claim is mined one second later, so it streams one more second's worth at most.
    const paid = await s.compute.connect(s.keeper).claim.staticCall(id);
    expect(paid - expected).to.be.lte(112n); // 400,000 / 3,600 per second, rounded
  });

  it("after an extension at a new price, streams the rest of the first hour at its old price, then the extension at its own", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await s.compute.connect(s.admin).setProvider(SPHERON, 800_000n, true);
    const start = (await s.compute.getSession(id)).settledUntil;
    await time.setNextBlockTimestamp(start + 1800n);
    await s.compute.connect(s.keeper).claim(id); // 200,000 of 400,000
    await time.setNextBlockTimestamp(start + 1801n);
    await s.c.extendSession(id, 1800); // its own tranche: +400,000 for 30 min
    await time.setNextBlockTimestamp(start + HOUR);
    // The first hour's last 1,800 s at 400,000/h, not a blend with the new price.
    await expect(s.compute.connect(s.keeper).claim(id))
      .to.emit(s.compute, "EscrowClaimed")
      .withArgs(id, s.treasury.address, 200_000n, start + HOUR);
    await time.setNextBlockTimestamp(start + HOUR + 900n);
    await expect(s.compute.connect(s.keeper).claim(id))
      .to.emit(s.compute, "EscrowClaimed")
      .withArgs(id, s.treasury.address, 200_000n, start + HOUR + 900n);
    await time.setNextBlockTimestamp(start + HOUR + 1800n);
    await s.compute.connect(s.keeper).claim(id);
    expect(await s.compute.withdrawable(s.treasury.address)).to.equal(800_000n);
    const session = await s.compute.getSession(id);
    expect(session.claimed).to.equal(session.deposited);
  });

  it("after the end time, pays all that is left and never more", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await time.increase(333);
    await s.compute.connect(s.keeper).claim(id);
    await time.increase(5n * HOUR);
    await s.compute.connect(s.keeper).claim(id);
    const session = await s.compute.getSession(id);
    expect(session.claimed).to.equal(400_000n);
    expect(await s.compute.withdrawable(s.treasury.address)).to.equal(400_000n);
    await expect(s.compute.connect(s.keeper).claim(id)).to.be.revertedWithCustomError(s.compute, "NothingToClaim").withArgs(id);
    expect(await s.compute.claimable(id)).to.equal(0n);
  });

  it("when nothing has streamed since the last claim (same block), reverts with NothingToClaim", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await time.increase(100);
    await network.provider.send("evm_setAutomine", [false]);
    try {
      const k = s.compute.connect(s.keeper);
      const first = await k.claim(id, { gasLimit: 200_000 });
      const second = await k.claim(id, { gasLimit: 200_000 });
      await network.provider.send("evm_mine", []);
      const r1 = await first.wait();
      const r2 = await ethers.provider.getTransactionReceipt(second.hash);
      expect(r2!.blockNumber).to.equal(r1!.blockNumber);
      expect(r1!.status).to.equal(1);
      expect(r2!.status).to.equal(0);
      // A mined revert's data is only in the trace; decode it to name the error.
      const trace = await network.provider.send("debug_traceTransaction", [second.hash, { disableStorage: true, disableStack: true }]);
      const err = s.compute.interface.parseError(`0x${trace.returnValue.replace(/^0x/, "")}`);
      expect(err?.name).to.equal("NothingToClaim");
      expect(err?.args[0]).to.equal(id);
    } finally {
      await network.provider.send("evm_setAutomine", [true]);
    }
  });

  it("when the session is pending (never ran), reverts with SessionNotActive: nothing is owed", async () => {
    const s = await loadFixture(systemFixture);
    const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
    await time.increase(HOUR);
    expect(await s.compute.claimable(id)).to.equal(0n);
    await expect(s.compute.connect(s.keeper).claim(id)).to.be.revertedWithCustomError(s.compute, "SessionNotActive").withArgs(id);
  });

  it("when the session has ended, reverts with SessionNotActive", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await s.c.endSession(id);
    await expect(s.compute.connect(s.keeper).claim(id)).to.be.revertedWithCustomError(s.compute, "SessionNotActive");
  });

  it("when called by anyone but the keeper, reverts with AccessControlUnauthorizedAccount", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await time.increase(100);
    await expect(s.c.claim(id))
      .to.be.revertedWithCustomError(s.compute, "AccessControlUnauthorizedAccount")
      .withArgs(s.agent.address, await s.compute.KEEPER_ROLE());
  });

  it("credits the treasury in force at claim time", async () => {
    const s = await loadFixture(systemFixture);
    const id = await startActive(s);
    await s.compute.connect(s.admin).setTreasury(s.other.address);
    await time.increase(HOUR);
    await s.compute.connect(s.keeper).claim(id);
    expect(await s.compute.withdrawable(s.other.address)).to.equal(400_000n);
    expect(await s.compute.withdrawable(s.treasury.address)).to.equal(0n);
  });
});
