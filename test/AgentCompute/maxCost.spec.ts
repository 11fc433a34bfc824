/**
 * Finding 2 of issue 17: USDC and permit payments carry a caller-set maximum cost, so a price change
 * mined just before the agent's transaction cannot charge it more than it agreed to.
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { systemFixture, instanceIdOf, startActive, signPermit, System, HOUR, SPHERON, CONFIG } from "../shared/fixtures";

async function deadline(): Promise<bigint> {
  return BigInt(await time.latest()) + 3600n;
}

/** The admin's price change lands before the agent's payment (quoted at 400,000 for the hour). */
async function priceRaisedAfterQuote(s: System) {
  const quoted = await s.compute.getSessionCost(HOUR, SPHERON);
  await s.compute.connect(s.admin).setProvider(SPHERON, 400_000_000n, true);
  return quoted;
}

describe("AgentCompute maximum cost", () => {
  describe("startSessionWithMaxCost", () => {
    it("at or under the maximum, starts the session and takes exactly the cost", async () => {
      const s = await loadFixture(systemFixture);
      const cost = await s.compute.getSessionCost(HOUR, SPHERON);
      const tx = s.c.startSessionWithMaxCost(HOUR, SPHERON, CONFIG, cost);
      await expect(tx)
        .to.emit(s.compute, "SessionStarted")
        .withArgs(await instanceIdOf(s, tx), s.agent.address, SPHERON, HOUR, cost, CONFIG);
      await expect(tx).to.changeTokenBalances(s.usdc, [s.agent, s.compute], [-cost, cost]);
    });

    it("after a price raise mined first (quoted 400,000, now 400,000,000), reverts with CostAboveMaximum and takes nothing", async () => {
      const s = await loadFixture(systemFixture);
      const quoted = await priceRaisedAfterQuote(s);
      const before = await s.usdc.balanceOf(s.agent.address);
      await expect(s.c.startSessionWithMaxCost(HOUR, SPHERON, CONFIG, quoted))
        .to.be.revertedWithCustomError(s.compute, "CostAboveMaximum")
        .withArgs(400_000_000n, quoted);
      expect(await s.usdc.balanceOf(s.agent.address)).to.equal(before);
    });

    it("when paused, reverts with EnforcedPause", async () => {
      const s = await loadFixture(systemFixture);
      await s.compute.connect(s.admin).pause();
      await expect(s.c.startSessionWithMaxCost(HOUR, SPHERON, CONFIG, ethers.MaxUint256)).to.be.revertedWithCustomError(
        s.compute,
        "EnforcedPause",
      );
    });

    it("checks the duration and provider like startSession", async () => {
      const s = await loadFixture(systemFixture);
      await expect(s.c.startSessionWithMaxCost(59, SPHERON, CONFIG, ethers.MaxUint256)).to.be.revertedWithCustomError(
        s.compute,
        "DurationOutOfRange",
      );
      await expect(s.c.startSessionWithMaxCost(HOUR, 9, CONFIG, ethers.MaxUint256)).to.be.revertedWithCustomError(
        s.compute,
        "UnknownProvider",
      );
    });
  });

  describe("extendSessionWithMaxCost", () => {
    it("at or under the maximum, extends by its own tranche and takes exactly the cost", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      const before = await s.compute.getSession(id);
      const tx = s.c.extendSessionWithMaxCost(id, HOUR, 400_000n);
      await expect(tx)
        .to.emit(s.compute, "SessionExtended")
        .withArgs(id, s.agent.address, HOUR, 400_000n, before.endTime + HOUR);
      await expect(tx).to.changeTokenBalances(s.usdc, [s.agent, s.compute], [-400_000n, 400_000n]);
      expect(await s.compute.queuedTranches(id)).to.deep.equal([[HOUR, 400_000n]]);
    });

    it("after a price raise mined first, reverts with CostAboveMaximum and the session is unchanged", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      const quoted = await priceRaisedAfterQuote(s);
      const before = await s.compute.getSession(id);
      await expect(s.c.extendSessionWithMaxCost(id, HOUR, quoted))
        .to.be.revertedWithCustomError(s.compute, "CostAboveMaximum")
        .withArgs(400_000_000n, quoted);
      expect(await s.compute.getSession(id)).to.deep.equal(before);
    });

    it("by someone other than the agent, reverts with NotSessionAgent", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await expect(s.compute.connect(s.other).extendSessionWithMaxCost(id, HOUR, ethers.MaxUint256))
        .to.be.revertedWithCustomError(s.compute, "NotSessionAgent")
        .withArgs(id, s.other.address);
    });

    it("when paused, reverts with EnforcedPause", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await s.compute.connect(s.admin).pause();
      await expect(s.c.extendSessionWithMaxCost(id, HOUR, ethers.MaxUint256)).to.be.revertedWithCustomError(s.compute, "EnforcedPause");
    });
  });

  describe("permit payments with a maximum", () => {
    async function noAllowance() {
      const s = await systemFixture();
      await s.usdc.connect(s.agent).approve(await s.compute.getAddress(), 0);
      return s;
    }

    it("startSessionWithPermit above the maximum reverts with CostAboveMaximum, leaving the permit unused", async () => {
      const s = await loadFixture(noAllowance);
      const quoted = await priceRaisedAfterQuote(s);
      const permit = await signPermit(s, s.agent, 400_000_000n, await deadline());
      await expect(s.c.startSessionWithPermit(HOUR, SPHERON, CONFIG, quoted, permit))
        .to.be.revertedWithCustomError(s.compute, "CostAboveMaximum")
        .withArgs(400_000_000n, quoted);
      expect(await s.usdc.allowance(s.agent.address, await s.compute.getAddress())).to.equal(0n);
    });

    it("extendSessionWithPermit above the maximum reverts with CostAboveMaximum", async () => {
      const s = await loadFixture(noAllowance);
      const cost = await s.compute.getSessionCost(HOUR, SPHERON);
      const id = await instanceIdOf(
        s,
        s.c.startSessionWithPermit(HOUR, SPHERON, CONFIG, cost, await signPermit(s, s.agent, cost, await deadline())),
      );
      const quoted = await priceRaisedAfterQuote(s);
      await expect(s.c.extendSessionWithPermit(id, HOUR, quoted, await signPermit(s, s.agent, 400_000_000n, await deadline())))
        .to.be.revertedWithCustomError(s.compute, "CostAboveMaximum")
        .withArgs(400_000_000n, quoted);
    });

    it("at the maximum, both permit paths pay", async () => {
      const s = await loadFixture(noAllowance);
      const cost = await s.compute.getSessionCost(HOUR, SPHERON);
      const id = await instanceIdOf(
        s,
        s.c.startSessionWithPermit(HOUR, SPHERON, CONFIG, cost, await signPermit(s, s.agent, cost, await deadline())),
      );
      await expect(s.c.extendSessionWithPermit(id, HOUR, cost, await signPermit(s, s.agent, cost, await deadline()))).to.changeTokenBalance(
        s.usdc,
        s.compute,
        cost,
      );
    });
  });
});
