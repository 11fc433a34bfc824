/**
 * Finding 1 of issue 17: every purchase (start, extension, renewal) is its own tranche of seconds at its
 * own cost, and escrow streams through the tranches in order, so each second is charged at the price in
 * force when it was bought, whatever the order of extend, claim, end, Failed and price changes.
 */
import { expect } from "chai";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { systemFixture, instanceIdOf, startActive, System, HOUR, SPHERON, CONFIG } from "../shared/fixtures";

const FAILED = 2;

async function activeAt(s: System): Promise<{ id: string; start: bigint }> {
  const id = await startActive(s); // 1 h at 0.40 USDC/h = 400,000
  return { id, start: (await s.compute.getSession(id)).settledUntil };
}

async function treasuryEarned(s: System): Promise<bigint> {
  return s.compute.withdrawable(s.treasury.address);
}

describe("AgentCompute per-tranche pricing", () => {
  describe("the issue's scenarios", () => {
    it("a price drop and an extension at 1,191 s, claim one second later: 1,192 s at 0.40 USDC/h = 132,444 (v1: 72,844)", async () => {
      const s = await loadFixture(systemFixture);
      const { id, start } = await activeAt(s);
      await s.compute.connect(s.admin).setProvider(SPHERON, 40_000n, true); // 0.04 USDC/h
      await time.setNextBlockTimestamp(start + 1191n);
      await s.c.extendSession(id, HOUR); // +40,000
      await time.setNextBlockTimestamp(start + 1192n);
      // 1,192 s at 0.40 USDC/h: 132,444 (the extension block's second is not due yet).
      await expect(s.compute.connect(s.keeper).claim(id))
        .to.emit(s.compute, "EscrowClaimed")
        .withArgs(id, s.treasury.address, 132_444n, start + 1192n);
      expect((400_000n * 1192n) / 3600n).to.equal(132_444n);
    });

    it("1,191 s used at 0.40 USDC/h, then a price drop and an extension: the treasury gets the fair 132,333 (v1: 72,783)", async () => {
      const s = await loadFixture(systemFixture);
      const { id, start } = await activeAt(s);
      await s.compute.connect(s.admin).setProvider(SPHERON, 40_000n, true);
      await time.setNextBlockTimestamp(start + 1190n);
      await s.c.extendSession(id, HOUR);
      await time.setNextBlockTimestamp(start + 1191n);
      await s.compute.connect(s.keeper).claim(id);
      expect(await treasuryEarned(s)).to.equal(132_333n);
    });

    it("price raised 10x, an extension, then the provider fails at 1,200 s: the agent pays 133,333, not a blend (v1: 733,333)", async () => {
      const s = await loadFixture(systemFixture);
      const { id, start } = await activeAt(s);
      await s.compute.connect(s.admin).setProvider(SPHERON, 4_000_000n, true);
      await time.setNextBlockTimestamp(start + 1100n);
      await s.c.extendSession(id, HOUR); // +4,000,000
      await time.setNextBlockTimestamp(start + 1200n);
      const tx = s.compute.connect(s.keeper).recordOutcome(id, FAILED, "lease lost");
      await expect(tx)
        .to.emit(s.compute, "SessionEnded")
        .withArgs(id, s.agent.address, s.keeper.address, s.treasury.address, 133_333n, 4_266_667n);
      await expect(tx).to.changeTokenBalance(s.usdc, s.agent, 4_266_667n);
      expect(await treasuryEarned(s)).to.equal(133_333n);
    });
  });

  describe("every ordering charges each second at its purchase price", () => {
    it("claim, then extend at a new price, then claim across the boundary: old seconds at the old price, new at the new", async () => {
      const s = await loadFixture(systemFixture);
      const { id, start } = await activeAt(s);
      await time.setNextBlockTimestamp(start + 900n);
      await s.compute.connect(s.keeper).claim(id); // 100,000
      await s.compute.connect(s.admin).setProvider(SPHERON, 1_200_000n, true);
      await time.setNextBlockTimestamp(start + 1000n);
      await s.c.extendSession(id, HOUR); // +1,200,000
      await time.setNextBlockTimestamp(start + HOUR + 600n);
      // Rest of hour 1 (300,000) + 600 s of hour 2 at 1.20/h (200,000).
      await expect(s.compute.connect(s.keeper).claim(id))
        .to.emit(s.compute, "EscrowClaimed")
        .withArgs(id, s.treasury.address, 500_000n, start + HOUR + 600n);
      expect(await s.compute.queuedTranches(id)).to.deep.equal([]);
      expect(await s.compute.claimable(id)).to.equal(0n);
    });

    it("extend twice at two prices, then one claim crossing both boundaries", async () => {
      const s = await loadFixture(systemFixture);
      const { id, start } = await activeAt(s);
      await s.compute.connect(s.admin).setProvider(SPHERON, 800_000n, true);
      await s.c.extendSession(id, 1800); // 400,000
      await s.compute.connect(s.admin).setProvider(SPHERON, 3_600_000n, true);
      await s.c.extendSession(id, 600); // 600,000
      expect(await s.compute.queuedTranches(id)).to.deep.equal([
        [1800n, 400_000n],
        [600n, 600_000n],
      ]);
      await time.setNextBlockTimestamp(start + HOUR + 1800n + 300n);
      // 400,000 + 400,000 + half of 600,000.
      await expect(s.compute.connect(s.keeper).claim(id))
        .to.emit(s.compute, "EscrowClaimed")
        .withArgs(id, s.treasury.address, 1_100_000n, start + HOUR + 1800n + 300n);
      expect(await s.compute.queuedTranches(id)).to.deep.equal([]);
      await time.setNextBlockTimestamp(start + HOUR + 1800n + 450n);
      await expect(s.c.endSession(id))
        .to.emit(s.compute, "SessionEnded")
        .withArgs(id, s.agent.address, s.agent.address, s.treasury.address, 150_000n, 150_000n);
      expect(await treasuryEarned(s)).to.equal(1_250_000n);
    });

    it("extend while pending at a new price, then activate: the start's seconds first, at the start's price", async () => {
      const s = await loadFixture(systemFixture);
      const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
      await s.compute.connect(s.admin).setProvider(SPHERON, 7_200_000n, true);
      await s.c.extendSession(id, HOUR); // 7,200,000
      await time.increase(500); // provisioning takes a while: not charged
      await s.compute.connect(s.keeper).recordOutcome(id, 1, "r");
      const start = (await s.compute.getSession(id)).settledUntil;
      expect((await s.compute.getSession(id)).endTime).to.equal(start + 2n * HOUR);
      await time.setNextBlockTimestamp(start + HOUR + 1n);
      await expect(s.c.endSession(id))
        .to.emit(s.compute, "SessionEnded")
        .withArgs(id, s.agent.address, s.agent.address, s.treasury.address, 402_000n, 7_198_000n);
    });

    it("end after expiry pays every tranche in full and nothing more", async () => {
      const s = await loadFixture(systemFixture);
      const { id } = await activeAt(s);
      await s.compute.connect(s.admin).setProvider(SPHERON, 123_457n, true);
      await s.c.extendSession(id, 61); // ceil(123,457 * 61 / 3,600) = 2,092
      await time.increase(3n * HOUR);
      await expect(s.compute.connect(s.keeper).endSession(id))
        .to.emit(s.compute, "SessionEnded")
        .withArgs(id, s.agent.address, s.keeper.address, s.treasury.address, 402_092n, 0n);
    });

    it("Failed in the middle of the second tranche: the first in full, the second pro rata at its own price", async () => {
      const s = await loadFixture(systemFixture);
      const { id, start } = await activeAt(s);
      await s.compute.connect(s.admin).setProvider(SPHERON, 36_000n, true);
      await s.c.extendSession(id, HOUR); // 36,000
      await time.setNextBlockTimestamp(start + HOUR + 100n);
      await expect(s.compute.connect(s.keeper).recordOutcome(id, FAILED, "x"))
        .to.emit(s.compute, "SessionEnded")
        .withArgs(id, s.agent.address, s.keeper.address, s.treasury.address, 401_000n, 35_000n);
    });

    it("claimable() follows the tranches without changing them", async () => {
      const s = await loadFixture(systemFixture);
      const { id, start } = await activeAt(s);
      await s.compute.connect(s.admin).setProvider(SPHERON, 3_600n, true);
      await s.c.extendSession(id, HOUR);
      await time.increaseTo(start + HOUR + 1800n);
      expect(await s.compute.claimable(id)).to.equal(401_800n);
      expect(await s.compute.queuedTranches(id)).to.deep.equal([[3600n, 3_600n]]);
    });
  });

  describe("the queue of unstreamed tranches", () => {
    it(`holds at most 64; the 65th extension reverts with TooManyQueuedExtensions`, async () => {
      const s = await loadFixture(systemFixture);
      const { id } = await activeAt(s);
      expect(await s.compute.MAX_QUEUED_TRANCHES()).to.equal(64n);
      for (let i = 0; i < 64; i++) await s.c.extendSession(id, 60);
      await expect(s.c.extendSession(id, 60)).to.be.revertedWithCustomError(s.compute, "TooManyQueuedExtensions").withArgs(id);
      expect((await s.compute.queuedTranches(id)).length).to.equal(64);
    });

    it("frees places as tranches are consumed, wraps around its ring, and streams every tranche at its own price", async () => {
      const s = await loadFixture(systemFixture);
      const { id, start } = await activeAt(s);
      let expected = 400_000n;
      // 64 one-minute tranches at rising prices.
      for (let i = 0; i < 64; i++) {
        await s.compute.connect(s.admin).setProvider(SPHERON, 3_600n * BigInt(i + 1), true);
        await s.c.extendSession(id, 60);
        expected += 60n * BigInt(i + 1);
      }
      // Consume the hour, 11 tranches and half the 12th, then queue 11 more: positions wrap around.
      await time.setNextBlockTimestamp(start + HOUR + 690n);
      await s.compute.connect(s.keeper).claim(id);
      expect((await s.compute.queuedTranches(id)).length).to.equal(52);
      for (let i = 0; i < 12; i++) {
        await s.compute.connect(s.admin).setProvider(SPHERON, 360_000n + BigInt(i), true);
        await s.c.extendSession(id, 120);
        expected += (BigInt(360_000 + i) * 120n + 3599n) / 3600n;
      }
      const queued = await s.compute.queuedTranches(id);
      expect(queued.length).to.equal(64);
      expect(queued[0]).to.deep.equal([60n, 780n]); // the 13th minute tranche
      expect(queued[63]).to.deep.equal([120n, (360_011n * 120n + 3599n) / 3600n]);
      await expect(s.c.extendSession(id, 60)).to.be.revertedWithCustomError(s.compute, "TooManyQueuedExtensions");
      await time.increase(10n * HOUR);
      await s.compute.connect(s.keeper).claim(id);
      expect(await treasuryEarned(s)).to.equal(expected);
      expect((await s.compute.getSession(id)).deposited).to.equal(expected);
    });
  });
});
