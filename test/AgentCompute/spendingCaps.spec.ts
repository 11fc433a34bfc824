import { expect } from "chai";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { systemFixture, instanceIdOf, HOUR, SPHERON, CONFIG, USDC } from "../shared/fixtures";

const DAY = 86_400n;
const WEEK = 7n * DAY;
const MAX = 2n ** 256n - 1n;

/** Moves the chain to `offset` seconds after the start of the next UTC day that begins a week. */
async function goToWeekStart(offset = 0n) {
  const now = BigInt(await time.latest());
  await time.setNextBlockTimestamp((now / WEEK + 1n) * WEEK + offset);
}

describe("AgentCompute spending caps", () => {
  describe("who sets them", () => {
    it("with no guardian, the agent itself sets its caps", async () => {
      const s = await loadFixture(systemFixture);
      expect(await s.compute.guardianOf(s.agent.address)).to.equal(s.agent.address);
      await expect(s.c.setSpendingCaps(s.agent.address, USDC(1), USDC(5)))
        .to.emit(s.compute, "SpendingCapsSet")
        .withArgs(s.agent.address, s.agent.address, USDC(1), USDC(5), true);
      const caps = await s.compute.spendingCaps(s.agent.address);
      expect([caps.dailyCap, caps.weeklyCap, caps.enabled]).to.deep.equal([USDC(1), USDC(5), true]);
    });

    it("once a guardian is set, only the guardian can change caps or the guardian", async () => {
      const s = await loadFixture(systemFixture);
      await expect(s.c.setGuardian(s.agent.address, s.guardian.address))
        .to.emit(s.compute, "GuardianSet")
        .withArgs(s.agent.address, s.guardian.address);
      await expect(s.c.setSpendingCaps(s.agent.address, USDC(100), USDC(100)))
        .to.be.revertedWithCustomError(s.compute, "NotGuardian")
        .withArgs(s.agent.address, s.agent.address);
      await expect(s.c.clearSpendingCaps(s.agent.address)).to.be.revertedWithCustomError(s.compute, "NotGuardian");
      await expect(s.c.setGuardian(s.agent.address, s.agent.address)).to.be.revertedWithCustomError(s.compute, "NotGuardian");
      await s.compute.connect(s.guardian).setSpendingCaps(s.agent.address, USDC(1), USDC(1));
      // The guardian hands control back to the agent.
      await s.compute.connect(s.guardian).setGuardian(s.agent.address, "0x0000000000000000000000000000000000000000");
      expect(await s.compute.guardianOf(s.agent.address)).to.equal(s.agent.address);
      await expect(s.c.clearSpendingCaps(s.agent.address))
        .to.emit(s.compute, "SpendingCapsSet")
        .withArgs(s.agent.address, s.agent.address, 0, 0, false);
    });

    it("a stranger can set neither caps nor guardian; not even the admin", async () => {
      const s = await loadFixture(systemFixture);
      for (const who of [s.other, s.admin, s.keeper]) {
        await expect(s.compute.connect(who).setSpendingCaps(s.agent.address, 0, 0))
          .to.be.revertedWithCustomError(s.compute, "NotGuardian")
          .withArgs(s.agent.address, who.address);
        await expect(s.compute.connect(who).setGuardian(s.agent.address, who.address)).to.be.revertedWithCustomError(
          s.compute,
          "NotGuardian",
        );
      }
    });
  });

  describe("enforcement", () => {
    it("without caps, remainingAllowance is unlimited", async () => {
      const s = await loadFixture(systemFixture);
      expect(await s.compute.remainingAllowance(s.agent.address)).to.deep.equal([MAX, MAX]);
    });

    it("a start within the daily cap passes and reduces what remains; the next over it reverts with DailyCapExceeded", async () => {
      const s = await loadFixture(systemFixture);
      await goToWeekStart(HOUR);
      await s.c.setSpendingCaps(s.agent.address, USDC(1), USDC(10));
      await s.c.startSession(2n * HOUR, SPHERON, CONFIG); // 0.8
      expect(await s.compute.remainingAllowance(s.agent.address)).to.deep.equal([USDC("0.2"), USDC("9.2")]);
      await expect(s.c.startSession(HOUR, SPHERON, CONFIG))
        .to.be.revertedWithCustomError(s.compute, "DailyCapExceeded")
        .withArgs(s.agent.address, USDC("1.2"), USDC(1));
      await expect(s.c.startSession(1800, SPHERON, CONFIG)).to.emit(s.compute, "SessionStarted"); // exactly 1.0
      expect(await s.compute.remainingAllowance(s.agent.address)).to.deep.equal([0n, USDC(9)]);
    });

    it("extensions count against the caps too", async () => {
      const s = await loadFixture(systemFixture);
      await goToWeekStart(HOUR);
      const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
      await s.c.setSpendingCaps(s.agent.address, USDC("0.5"), USDC(10));
      await s.c.extendSession(id, HOUR); // 0.4
      await expect(s.c.extendSession(id, HOUR)).to.be.revertedWithCustomError(s.compute, "DailyCapExceeded");
    });

    it("at the UTC day boundary, the daily allowance resets but the weekly one does not", async () => {
      const s = await loadFixture(systemFixture);
      await goToWeekStart(DAY - 120n); // two minutes before midnight, day 1 of the week
      await s.c.setSpendingCaps(s.agent.address, USDC("0.4"), USDC("1.0"));
      await s.c.startSession(HOUR, SPHERON, CONFIG); // 0.4: daily cap used up
      await expect(s.c.startSession(HOUR, SPHERON, CONFIG)).to.be.revertedWithCustomError(s.compute, "DailyCapExceeded");
      const midnight = (BigInt(await time.latest()) / DAY + 1n) * DAY;
      await time.setNextBlockTimestamp(midnight - 1n);
      await expect(s.c.startSession(HOUR, SPHERON, CONFIG)).to.be.revertedWithCustomError(s.compute, "DailyCapExceeded");
      await time.setNextBlockTimestamp(midnight);
      await expect(s.c.startSession(HOUR, SPHERON, CONFIG)).to.emit(s.compute, "SessionStarted"); // new day
      expect(await s.compute.remainingAllowance(s.agent.address)).to.deep.equal([0n, USDC("0.2")]);
      await time.setNextBlockTimestamp(midnight + DAY);
      // Day three: the daily cap allows 0.4 but only 0.2 is left this week.
      await expect(s.c.startSession(HOUR, SPHERON, CONFIG))
        .to.be.revertedWithCustomError(s.compute, "WeeklyCapExceeded")
        .withArgs(s.agent.address, USDC("1.0") + USDC("0.2"), USDC("1.0"));
    });

    it("at the week boundary (Thursday 00:00 UTC), the weekly allowance resets", async () => {
      const s = await loadFixture(systemFixture);
      await goToWeekStart(WEEK - DAY + HOUR); // the week's last day
      await s.c.setSpendingCaps(s.agent.address, USDC(1), USDC(1));
      await s.c.startSession(2n * HOUR, SPHERON, CONFIG); // 0.8
      await expect(s.c.startSession(HOUR, SPHERON, CONFIG)).to.be.revertedWithCustomError(s.compute, "DailyCapExceeded");
      const weekStart = (BigInt(await time.latest()) / WEEK + 1n) * WEEK;
      expect(new Date(Number(weekStart) * 1000).getUTCDay()).to.equal(4); // Thursday
      await time.setNextBlockTimestamp(weekStart);
      await expect(s.c.startSession(2n * HOUR, SPHERON, CONFIG)).to.emit(s.compute, "SessionStarted");
      expect(await s.compute.remainingAllowance(s.agent.address)).to.deep.equal([USDC("0.2"), USDC("0.2")]);
    });

    it("a weekly cap below the daily cap binds first, with WeeklyCapExceeded", async () => {
      const s = await loadFixture(systemFixture);
      await goToWeekStart(HOUR);
      await s.c.setSpendingCaps(s.agent.address, USDC(10), USDC("0.5"));
      await expect(s.c.startSession(2n * HOUR, SPHERON, CONFIG))
        .to.be.revertedWithCustomError(s.compute, "WeeklyCapExceeded")
        .withArgs(s.agent.address, USDC("0.8"), USDC("0.5"));
    });

    it("caps of zero freeze the agent's spending; clearing them lifts it", async () => {
      const s = await loadFixture(systemFixture);
      await s.c.setSpendingCaps(s.agent.address, 0, 0);
      await expect(s.c.startSession(HOUR, SPHERON, CONFIG)).to.be.revertedWithCustomError(s.compute, "DailyCapExceeded");
      await s.c.clearSpendingCaps(s.agent.address);
      await expect(s.c.startSession(HOUR, SPHERON, CONFIG)).to.emit(s.compute, "SessionStarted");
    });

    it("a guardian lowering caps below what was already spent leaves nothing to spend (remaining 0, not an underflow)", async () => {
      const s = await loadFixture(systemFixture);
      await goToWeekStart(HOUR);
      await s.c.setSpendingCaps(s.agent.address, USDC(10), USDC(10));
      await s.c.startSession(5n * HOUR, SPHERON, CONFIG); // 2.0
      await s.c.setSpendingCaps(s.agent.address, USDC(1), USDC(1));
      expect(await s.compute.remainingAllowance(s.agent.address)).to.deep.equal([0n, 0n]);
      await expect(s.c.startSession(60, SPHERON, CONFIG)).to.be.revertedWithCustomError(s.compute, "DailyCapExceeded");
    });

    it("refunds do not give allowance back", async () => {
      const s = await loadFixture(systemFixture);
      await goToWeekStart(HOUR);
      await s.c.setSpendingCaps(s.agent.address, USDC("0.4"), USDC(10));
      const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
      await s.c.endSession(id); // full refund
      await expect(s.c.startSession(HOUR, SPHERON, CONFIG)).to.be.revertedWithCustomError(s.compute, "DailyCapExceeded");
    });

    it("caps bind the ETH path as well", async () => {
      const s = await loadFixture(systemFixture);
      await s.c.setSpendingCaps(s.agent.address, USDC("0.1"), USDC(10));
      await expect(s.c.startSession(HOUR, SPHERON, CONFIG, { value: 10n ** 18n })).to.be.revertedWithCustomError(
        s.compute,
        "DailyCapExceeded",
      );
    });
  });
});
