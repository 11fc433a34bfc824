/**
 * Finding 3 of issue 17: the treasury's share is a balance withdrawn separately and a refund that cannot
 * be delivered is credited to the agent, so a USDC blacklist can never block an agent's money leaving.
 */
import { expect } from "chai";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { blacklistFixture, systemFixture, instanceIdOf, startActive, HOUR, SPHERON, CONFIG } from "../shared/fixtures";

const FAILED = 2;

describe("AgentCompute pull payments", () => {
  describe("withdraw", () => {
    it("pays the account its whole balance, whoever calls, and emits Withdrawn(account, caller, amount)", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await time.increase(2n * HOUR);
      await s.c.endSession(id);
      expect(await s.compute.withdrawable(s.treasury.address)).to.equal(400_000n);
      const tx = s.compute.connect(s.other).withdraw(s.treasury.address);
      await expect(tx).to.emit(s.compute, "Withdrawn").withArgs(s.treasury.address, s.other.address, 400_000n);
      await expect(tx).to.changeTokenBalances(s.usdc, [s.treasury, s.compute, s.other], [400_000n, -400_000n, 0]);
      expect(await s.compute.withdrawable(s.treasury.address)).to.equal(0n);
    });

    it("returns the amount paid", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await time.increase(HOUR);
      await s.compute.connect(s.keeper).claim(id);
      expect(await s.compute.withdraw.staticCall(s.treasury.address)).to.equal(400_000n);
    });

    it("with nothing to withdraw, reverts with NothingToWithdraw(account)", async () => {
      const s = await loadFixture(systemFixture);
      await expect(s.compute.withdraw(s.treasury.address))
        .to.be.revertedWithCustomError(s.compute, "NothingToWithdraw")
        .withArgs(s.treasury.address);
    });

    it("works while paused", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await time.increase(HOUR);
      await s.compute.connect(s.keeper).claim(id);
      await s.compute.connect(s.admin).pause();
      await expect(s.compute.withdraw(s.treasury.address)).to.emit(s.compute, "Withdrawn");
    });

    it("an old treasury keeps what it earned after setTreasury", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await time.increase(1800);
      await s.compute.connect(s.keeper).claim(id);
      const earned = await s.compute.withdrawable(s.treasury.address);
      await s.compute.connect(s.admin).setTreasury(s.other.address);
      await time.increase(HOUR);
      await s.compute.connect(s.keeper).claim(id);
      expect(await s.compute.withdrawable(s.treasury.address)).to.equal(earned);
      expect(await s.compute.withdrawable(s.other.address)).to.equal(400_000n - earned);
    });
  });

  describe("with a blacklisted treasury", () => {
    async function treasuryBlacklisted() {
      const s = await blacklistFixture();
      await s.usdc.blacklist(s.treasury.address, true);
      return s;
    }

    it("the agent still ends its active session and gets its refund; the treasury's share waits", async () => {
      const s = await loadFixture(treasuryBlacklisted);
      const id = await startActive(s);
      const start = (await s.compute.getSession(id)).settledUntil;
      await time.setNextBlockTimestamp(start + 900n);
      const tx = s.c.endSession(id);
      await expect(tx)
        .to.emit(s.compute, "SessionEnded")
        .withArgs(id, s.agent.address, s.agent.address, s.treasury.address, 100_000n, 300_000n);
      await expect(tx).to.changeTokenBalance(s.usdc, s.agent, 300_000n);
      expect(await s.compute.withdrawable(s.treasury.address)).to.equal(100_000n);
    });

    it("a Failed outcome still settles and refunds", async () => {
      const s = await loadFixture(treasuryBlacklisted);
      const id = await startActive(s);
      await time.increase(899);
      await expect(s.compute.connect(s.keeper).recordOutcome(id, FAILED, "x")).to.changeTokenBalance(s.usdc, s.agent, 300_000n);
    });

    it("claim still works", async () => {
      const s = await loadFixture(treasuryBlacklisted);
      const id = await startActive(s);
      await time.increase(HOUR);
      await expect(s.compute.connect(s.keeper).claim(id)).to.emit(s.compute, "EscrowClaimed");
    });

    it("its withdrawal reverts until it is off the list, then pays", async () => {
      const s = await loadFixture(treasuryBlacklisted);
      const id = await startActive(s);
      await time.increase(HOUR);
      await s.compute.connect(s.keeper).claim(id);
      await expect(s.compute.withdraw(s.treasury.address))
        .to.be.revertedWithCustomError(s.usdc, "Blacklisted")
        .withArgs(s.treasury.address);
      await s.usdc.blacklist(s.treasury.address, false);
      await expect(s.compute.withdraw(s.treasury.address)).to.changeTokenBalance(s.usdc, s.treasury, 400_000n);
    });
  });

  describe("with a blacklisted agent", () => {
    it("its refund is deferred (RefundDeferred) and withdrawable once it is off the list", async () => {
      const s = await loadFixture(blacklistFixture);
      const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
      await s.usdc.blacklist(s.agent.address, true);
      const tx = s.c.endSession(id);
      await expect(tx).to.emit(s.compute, "RefundDeferred").withArgs(id, s.agent.address, 400_000n);
      await expect(tx).to.emit(s.compute, "SessionEnded").withArgs(id, s.agent.address, s.agent.address, s.treasury.address, 0n, 400_000n);
      expect(await s.compute.withdrawable(s.agent.address)).to.equal(400_000n);
      expect(await s.usdc.balanceOf(await s.compute.getAddress())).to.equal(400_000n);
      await expect(s.compute.withdraw(s.agent.address)).to.be.revertedWithCustomError(s.usdc, "Blacklisted");
      await s.usdc.blacklist(s.agent.address, false);
      await expect(s.compute.connect(s.other).withdraw(s.agent.address))
        .to.emit(s.compute, "Withdrawn")
        .withArgs(s.agent.address, s.other.address, 400_000n);
      expect(await s.usdc.balanceOf(await s.compute.getAddress())).to.equal(0n);
    });

    it("a Failed outcome on its session does not revert: the refund is deferred", async () => {
      const s = await loadFixture(blacklistFixture);
      const id = await startActive(s);
      await s.usdc.blacklist(s.agent.address, true);
      await expect(s.compute.connect(s.keeper).recordOutcome(id, FAILED, "x")).to.emit(s.compute, "RefundDeferred");
    });

    it("a refund delivered normally emits no RefundDeferred", async () => {
      const s = await loadFixture(systemFixture);
      const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
      await expect(s.c.endSession(id)).not.to.emit(s.compute, "RefundDeferred");
      expect(await s.compute.withdrawable(s.agent.address)).to.equal(0n);
    });
  });
});
