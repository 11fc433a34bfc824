/**
 * Auto-renewal (issue 17): an agent or its guardian authorises renewals in advance (period, most per
 * renewal, total budget); the keeper renews within one period of the end, paying from the agent's USDC
 * at the price in force. A renewal that cannot be paid does not revert: it says why and turns renewal off.
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { systemFixture, blacklistFixture, instanceIdOf, startActive, signPermit, System, HOUR, SPHERON, CONFIG } from "../shared/fixtures";

enum Failure {
  None,
  BudgetExhausted,
  AboveMaxPerRenewal,
  CapExceeded,
  ProviderInactive,
  PaymentFailed,
}

/** An active 1 h session on renewal: 1 h periods, at most 500,000 each, 1,000,000 in total. */
async function renewing(s: System) {
  const id = await startActive(s);
  await s.c.setAutoRenewal(id, HOUR, 500_000n, 1_000_000n);
  return id;
}

async function renewingFixture() {
  const s = await systemFixture();
  const id = await renewing(s);
  return { ...s, id };
}

describe("AgentCompute auto-renewal", () => {
  describe("setAutoRenewal", () => {
    it("by the agent: stores the terms and emits AutoRenewalSet(id, agent, setBy, period, maxPerRenewal, budget)", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await expect(s.c.setAutoRenewal(id, HOUR, 500_000n, 1_000_000n))
        .to.emit(s.compute, "AutoRenewalSet")
        .withArgs(id, s.agent.address, s.agent.address, HOUR, 500_000n, 1_000_000n);
      expect(await s.compute.autoRenewalOf(id)).to.deep.equal([HOUR, 500_000n, 1_000_000n]);
    });

    it("by the agent's guardian: allowed, and the event names the guardian", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await s.c.setGuardian(s.agent.address, s.guardian.address);
      await expect(s.compute.connect(s.guardian).setAutoRenewal(id, 600, 1n, 2n))
        .to.emit(s.compute, "AutoRenewalSet")
        .withArgs(id, s.agent.address, s.guardian.address, 600, 1n, 2n);
    });

    it("on a pending session: allowed (renewals start once it runs)", async () => {
      const s = await loadFixture(systemFixture);
      const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
      await expect(s.c.setAutoRenewal(id, HOUR, 1n, 1n)).to.emit(s.compute, "AutoRenewalSet");
    });

    it("while paused: allowed (no money moves)", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await s.compute.connect(s.admin).pause();
      await expect(s.c.setAutoRenewal(id, HOUR, 1n, 1n)).to.emit(s.compute, "AutoRenewalSet");
    });

    it("by anyone else (the keeper, another agent), reverts with NotAgentOrGuardian", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      for (const who of [s.keeper, s.other, s.guardian]) {
        await expect(s.compute.connect(who).setAutoRenewal(id, HOUR, 1n, 1n))
          .to.be.revertedWithCustomError(s.compute, "NotAgentOrGuardian")
          .withArgs(id, who.address);
      }
    });

    it("with a period outside MIN_DURATION..MAX_DURATION, reverts with DurationOutOfRange", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      const max = await s.compute.MAX_DURATION();
      for (const p of [0n, 59n, max + 1n]) {
        await expect(s.c.setAutoRenewal(id, p, 1n, 1n))
          .to.be.revertedWithCustomError(s.compute, "DurationOutOfRange")
          .withArgs(p);
      }
    });

    it("with an amount above uint96, reverts with SafeCastOverflowedUintDowncast", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      const big = 2n ** 96n;
      await expect(s.c.setAutoRenewal(id, HOUR, big, 1n)).to.be.revertedWithCustomError(s.compute, "SafeCastOverflowedUintDowncast");
      await expect(s.c.setAutoRenewal(id, HOUR, 1n, big)).to.be.revertedWithCustomError(s.compute, "SafeCastOverflowedUintDowncast");
    });

    it("on an ended or unknown session, reverts with SessionNotOpen / UnknownSession", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await s.c.endSession(id);
      await expect(s.c.setAutoRenewal(id, HOUR, 1n, 1n))
        .to.be.revertedWithCustomError(s.compute, "SessionNotOpen")
        .withArgs(id);
      await expect(s.c.setAutoRenewal(ethers.ZeroHash, HOUR, 1n, 1n)).to.be.revertedWithCustomError(s.compute, "UnknownSession");
    });
  });

  describe("setAutoRenewalWithPermit", () => {
    it("the guardian sends the agent's permit: terms set, allowance granted, and a renewal then pays from the agent", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await s.usdc.connect(s.agent).approve(await s.compute.getAddress(), 0);
      await s.c.setGuardian(s.agent.address, s.guardian.address);
      const permit = await signPermit(s, s.agent, 1_000_000n, BigInt(await time.latest()) + HOUR);
      await expect(s.compute.connect(s.guardian).setAutoRenewalWithPermit(id, HOUR, 500_000n, 1_000_000n, permit))
        .to.emit(s.compute, "AutoRenewalSet")
        .withArgs(id, s.agent.address, s.guardian.address, HOUR, 500_000n, 1_000_000n);
      expect(await s.usdc.allowance(s.agent.address, await s.compute.getAddress())).to.equal(1_000_000n);
      await expect(s.compute.connect(s.keeper).renew(id)).to.changeTokenBalance(s.usdc, s.agent, -400_000n);
    });

    it("a bad permit does not revert the settings (the renewal later reports PaymentFailed)", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await s.usdc.connect(s.agent).approve(await s.compute.getAddress(), 0);
      const permit = await signPermit(s, s.other, 1_000_000n, BigInt(await time.latest()) + HOUR); // wrong signer
      await expect(s.c.setAutoRenewalWithPermit(id, HOUR, 500_000n, 1_000_000n, permit)).to.emit(s.compute, "AutoRenewalSet");
      await expect(s.compute.connect(s.keeper).renew(id)).to.emit(s.compute, "RenewalFailed").withArgs(id, Failure.PaymentFailed);
    });

    it("by someone else, reverts with NotAgentOrGuardian", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      const permit = await signPermit(s, s.agent, 1n, BigInt(await time.latest()) + HOUR);
      await expect(s.compute.connect(s.other).setAutoRenewalWithPermit(id, HOUR, 1n, 1n, permit)).to.be.revertedWithCustomError(
        s.compute,
        "NotAgentOrGuardian",
      );
    });
  });

  describe("stopAutoRenewal", () => {
    it("by the agent or its guardian: clears the terms, emits AutoRenewalStopped, and renew then reverts with AutoRenewalOff", async () => {
      const s = await loadFixture(renewingFixture);
      await s.c.setGuardian(s.agent.address, s.guardian.address);
      await expect(s.compute.connect(s.guardian).stopAutoRenewal(s.id))
        .to.emit(s.compute, "AutoRenewalStopped")
        .withArgs(s.id, s.guardian.address);
      expect(await s.compute.autoRenewalOf(s.id)).to.deep.equal([0n, 0n, 0n]);
      await expect(s.compute.connect(s.keeper).renew(s.id)).to.be.revertedWithCustomError(s.compute, "AutoRenewalOff").withArgs(s.id);
      await expect(s.c.stopAutoRenewal(s.id)).to.emit(s.compute, "AutoRenewalStopped").withArgs(s.id, s.agent.address);
    });

    it("works while paused", async () => {
      const s = await loadFixture(renewingFixture);
      await s.compute.connect(s.admin).pause();
      await expect(s.c.stopAutoRenewal(s.id)).to.emit(s.compute, "AutoRenewalStopped");
    });

    it("by anyone else, reverts with NotAgentOrGuardian; on an unknown session, with UnknownSession", async () => {
      const s = await loadFixture(renewingFixture);
      await expect(s.compute.connect(s.keeper).stopAutoRenewal(s.id))
        .to.be.revertedWithCustomError(s.compute, "NotAgentOrGuardian")
        .withArgs(s.id, s.keeper.address);
      await expect(s.c.stopAutoRenewal(ethers.ZeroHash)).to.be.revertedWithCustomError(s.compute, "UnknownSession");
    });
  });

  describe("renew", () => {
    it("extends by the period at the price in force, paid by the agent, and emits SessionRenewed(id, agent, period, cost, newEndTime, budgetLeft)", async () => {
      const s = await loadFixture(renewingFixture);
      await s.compute.connect(s.admin).setProvider(SPHERON, 450_000n, true);
      const before = await s.compute.getSession(s.id);
      const tx = s.compute.connect(s.keeper).renew(s.id);
      await expect(tx)
        .to.emit(s.compute, "SessionRenewed")
        .withArgs(s.id, s.agent.address, HOUR, 450_000n, before.endTime + HOUR, 550_000n);
      await expect(tx).to.changeTokenBalances(s.usdc, [s.agent, s.compute, s.keeper], [-450_000n, 450_000n, 0]);
      expect(await s.compute.autoRenewalOf(s.id)).to.deep.equal([HOUR, 500_000n, 550_000n]);
      expect(await s.compute.queuedTranches(s.id)).to.deep.equal([[HOUR, 450_000n]]);
      const after = await s.compute.getSession(s.id);
      expect(after.deposited).to.equal(before.deposited + 450_000n);
    });

    it("returns true when renewed", async () => {
      const s = await loadFixture(renewingFixture);
      expect(await s.compute.connect(s.keeper).renew.staticCall(s.id)).to.equal(true);
    });

    it("the renewed hour streams at its own price after the first", async () => {
      const s = await loadFixture(renewingFixture);
      await s.compute.connect(s.admin).setProvider(SPHERON, 36_000n, true);
      await s.compute.connect(s.keeper).renew(s.id);
      const start = (await s.compute.getSession(s.id)).endTime - 2n * HOUR;
      await time.setNextBlockTimestamp(start + HOUR + 1800n);
      await expect(s.compute.connect(s.keeper).claim(s.id))
        .to.emit(s.compute, "EscrowClaimed")
        .withArgs(s.id, s.treasury.address, 418_000n, start + HOUR + 1800n);
    });

    it("once per period: right after a renewal, the next one reverts with RenewalTooEarly(id, endTime)", async () => {
      const s = await loadFixture(renewingFixture);
      await s.compute.connect(s.keeper).renew(s.id);
      const { endTime } = await s.compute.getSession(s.id);
      await expect(s.compute.connect(s.keeper).renew(s.id))
        .to.be.revertedWithCustomError(s.compute, "RenewalTooEarly")
        .withArgs(s.id, endTime);
    });

    it("when the end is more than one period away, reverts with RenewalTooEarly", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s, 2n * HOUR);
      await s.c.setAutoRenewal(id, HOUR, 500_000n, 1_000_000n);
      const { endTime } = await s.compute.getSession(id);
      await expect(s.compute.connect(s.keeper).renew(id)).to.be.revertedWithCustomError(s.compute, "RenewalTooEarly").withArgs(id, endTime);
      await time.increaseTo(endTime - HOUR);
      await expect(s.compute.connect(s.keeper).renew(id)).to.emit(s.compute, "SessionRenewed");
    });

    it("on a pending session, reverts with SessionNotActive", async () => {
      const s = await loadFixture(systemFixture);
      const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
      await s.c.setAutoRenewal(id, HOUR, 1n, 1n);
      await expect(s.compute.connect(s.keeper).renew(id)).to.be.revertedWithCustomError(s.compute, "SessionNotActive").withArgs(id);
    });

    it("on an expired session, reverts with SessionExpired", async () => {
      const s = await loadFixture(renewingFixture);
      await time.increase(HOUR);
      await expect(s.compute.connect(s.keeper).renew(s.id)).to.be.revertedWithCustomError(s.compute, "SessionExpired").withArgs(s.id);
    });

    it("on an ended session, reverts with SessionNotOpen; on an unknown one, with UnknownSession", async () => {
      const s = await loadFixture(renewingFixture);
      await s.c.endSession(s.id);
      await expect(s.compute.connect(s.keeper).renew(s.id)).to.be.revertedWithCustomError(s.compute, "SessionNotOpen").withArgs(s.id);
      await expect(s.compute.connect(s.keeper).renew(ethers.ZeroHash)).to.be.revertedWithCustomError(s.compute, "UnknownSession");
    });

    it("without auto-renewal, reverts with AutoRenewalOff", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await expect(s.compute.connect(s.keeper).renew(id)).to.be.revertedWithCustomError(s.compute, "AutoRenewalOff").withArgs(id);
    });

    it("from anyone but the keeper (the agent included), reverts with AccessControlUnauthorizedAccount", async () => {
      const s = await loadFixture(renewingFixture);
      await expect(s.c.renew(s.id))
        .to.be.revertedWithCustomError(s.compute, "AccessControlUnauthorizedAccount")
        .withArgs(s.agent.address, await s.compute.KEEPER_ROLE());
    });

    it("while paused, reverts with EnforcedPause (the keeper retries later)", async () => {
      const s = await loadFixture(renewingFixture);
      await s.compute.connect(s.admin).pause();
      await expect(s.compute.connect(s.keeper).renew(s.id)).to.be.revertedWithCustomError(s.compute, "EnforcedPause");
    });

    it("counts against the agent's spending caps", async () => {
      const s = await loadFixture(renewingFixture);
      await s.c.setSpendingCaps(s.agent.address, 1_000_000n, 5_000_000n);
      await s.compute.connect(s.keeper).renew(s.id);
      const [daily] = await s.compute.remainingAllowance(s.agent.address);
      expect(daily).to.equal(600_000n);
    });
  });

  describe("a renewal that cannot be paid: RenewalFailed(reason), renewal off, nothing paid, the session ends normally", () => {
    async function expectFailure(s: System & { id: string }, reason: Failure) {
      const before = await s.compute.getSession(s.id);
      expect(await s.compute.connect(s.keeper).renew.staticCall(s.id)).to.equal(false);
      const tx = s.compute.connect(s.keeper).renew(s.id);
      await expect(tx).to.emit(s.compute, "RenewalFailed").withArgs(s.id, reason);
      await expect(tx).not.to.emit(s.compute, "SessionRenewed");
      await expect(tx).to.changeTokenBalances(s.usdc, [s.agent, s.compute], [0, 0]);
      expect(await s.compute.getSession(s.id)).to.deep.equal(before);
      expect(await s.compute.autoRenewalOf(s.id)).to.deep.equal([0n, 0n, 0n]);
      await expect(s.compute.connect(s.keeper).renew(s.id)).to.be.revertedWithCustomError(s.compute, "AutoRenewalOff");
      await time.increase(HOUR);
      await expect(s.compute.connect(s.keeper).endSession(s.id))
        .to.emit(s.compute, "SessionEnded")
        .withArgs(s.id, s.agent.address, s.keeper.address, s.treasury.address, before.deposited - before.claimed, 0n);
    }

    it("BudgetExhausted: the budget left is below the cost", async () => {
      const s = await loadFixture(renewingFixture);
      await s.compute.connect(s.keeper).renew(s.id); // 600,000 left
      await time.increase(HOUR);
      await s.c.setAutoRenewal(s.id, HOUR, 500_000n, 399_999n);
      await expectFailure(s, Failure.BudgetExhausted);
    });

    it("AboveMaxPerRenewal: the price rose above the per-renewal maximum", async () => {
      const s = await loadFixture(renewingFixture);
      await s.compute.connect(s.admin).setProvider(SPHERON, 500_001n, true);
      await expectFailure(s, Failure.AboveMaxPerRenewal);
    });

    it("CapExceeded: the guardian's daily cap is reached", async () => {
      const s = await loadFixture(renewingFixture);
      await s.c.setSpendingCaps(s.agent.address, 399_999n, 10_000_000n);
      await expectFailure(s, Failure.CapExceeded);
    });

    it("CapExceeded: the weekly cap is reached", async () => {
      const s = await loadFixture(renewingFixture);
      await s.c.setSpendingCaps(s.agent.address, 10_000_000n, 399_999n);
      await expectFailure(s, Failure.CapExceeded);
    });

    it("ProviderInactive: the provider was switched off", async () => {
      const s = await loadFixture(renewingFixture);
      await s.compute.connect(s.admin).setProvider(SPHERON, 400_000n, false);
      await expectFailure(s, Failure.ProviderInactive);
    });

    it("PaymentFailed: no allowance", async () => {
      const s = await loadFixture(renewingFixture);
      await s.usdc.connect(s.agent).approve(await s.compute.getAddress(), 0);
      await expectFailure(s, Failure.PaymentFailed);
    });

    it("PaymentFailed: no balance", async () => {
      const s = await loadFixture(renewingFixture);
      await s.usdc.connect(s.agent).transfer(s.other.address, await s.usdc.balanceOf(s.agent.address));
      await expectFailure(s, Failure.PaymentFailed);
    });

    it("PaymentFailed: the agent is blacklisted by USDC", async () => {
      const s = await loadFixture(blacklistFixture);
      const id = await renewing(s as unknown as System);
      await s.usdc.blacklist(s.agent.address, true);
      await expect(s.compute.connect(s.keeper).renew(id)).to.emit(s.compute, "RenewalFailed").withArgs(id, Failure.PaymentFailed);
    });
  });

  describe("ending a session turns its renewal off", () => {
    it("endSession clears the terms and emits AutoRenewalStopped(id, endedBy)", async () => {
      const s = await loadFixture(renewingFixture);
      await expect(s.c.endSession(s.id)).to.emit(s.compute, "AutoRenewalStopped").withArgs(s.id, s.agent.address);
      expect(await s.compute.autoRenewalOf(s.id)).to.deep.equal([0n, 0n, 0n]);
    });

    it("a Failed outcome clears it too", async () => {
      const s = await loadFixture(renewingFixture);
      await expect(s.compute.connect(s.keeper).recordOutcome(s.id, 2, "x"))
        .to.emit(s.compute, "AutoRenewalStopped")
        .withArgs(s.id, s.keeper.address);
    });

    it("a session without renewal ends without AutoRenewalStopped", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await expect(s.c.endSession(id)).not.to.emit(s.compute, "AutoRenewalStopped");
    });
  });
});
