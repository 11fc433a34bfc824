import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import {
  systemFixture,
  instanceIdOf,
  quoteEthFor,
  startActive,
  System,
  HOUR,
  SPHERON,
  AKASH,
  IONET,
  CONFIG,
  USDC,
} from "../shared/fixtures";
import { withSlippage, ethOf, mined, feeOfLastTx, ledger, expectNothingLeftBehind, expectUnchangedExcept } from "./helpers";

/** The agent's maximum in these tests: the QuoterV2 quote plus 0.5%. */
const SLIPPAGE_BPS = 50n;

async function ethPaymentFor(s: System, duration: bigint, provider: number) {
  const cost = await s.compute.getSessionCost(duration, provider);
  const quote = await quoteEthFor(s, cost);
  return { cost, quote, maxIn: withSlippage(quote, SLIPPAGE_BPS) };
}

describe("AgentCompute: paying in ETH through AgentComputeBridge", () => {
  describe("startSession with msg.value > 0", () => {
    describe("when msg.value is the quote plus 0.5% slippage", () => {
      it("escrows exactly getSessionCost in USDC and takes none of the agent's USDC although it approved the escrow", async () => {
        const s = await loadFixture(systemFixture);
        const { cost, maxIn } = await ethPaymentFor(s, HOUR, SPHERON);
        expect(cost).to.equal(400_000n);
        const before = await ledger(s);
        const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG, { value: maxIn }));
        const after = await ledger(s);
        expect(after.computeUsdc - before.computeUsdc).to.equal(cost);
        expect(after.agentUsdc).to.equal(before.agentUsdc);
        const session = await s.compute.getSession(id);
        expect(session.deposited).to.equal(cost);
        expect(session.claimed).to.equal(0n);
        expect(session.status).to.equal(1n); // Pending
        expect(await s.compute.agentOf(id)).to.equal(s.agent.address);
      });

      it("costs the agent exactly the QuoterV2 quote plus gas: the unspent ETH comes back in the same transaction", async () => {
        const s = await loadFixture(systemFixture);
        const { cost, quote, maxIn } = await ethPaymentFor(s, HOUR, SPHERON);
        expect(maxIn - quote).to.be.gt(0n);
        const before = await ledger(s);
        const receipt = await mined(s.c.startSession(HOUR, SPHERON, CONFIG, { value: maxIn }));
        const after = await ledger(s);
        expect(before.agentEth - after.agentEth).to.equal(quote + receipt.fee);
        // The pool received exactly the quote in WETH and paid out exactly the cost in USDC.
        expect(after.poolWeth - before.poolWeth).to.equal(quote);
        expect(before.poolUsdc - after.poolUsdc).to.equal(cost);
      });

      it("emits SessionStarted(instanceId, agent, provider, duration, cost, config) and the bridge's ComputeRequested(agent, instanceId, provider, duration, usdcAmount, ethIn, ethSpent, ethRefunded)", async () => {
        const s = await loadFixture(systemFixture);
        const { cost, quote, maxIn } = await ethPaymentFor(s, 2n * HOUR, IONET);
        const tx = s.c.startSession(2n * HOUR, IONET, CONFIG, { value: maxIn });
        const id = await instanceIdOf(s, tx);
        await expect(tx)
          .to.emit(s.compute, "SessionStarted")
          .withArgs(id, s.agent.address, IONET, 2n * HOUR, cost, CONFIG);
        await expect(tx)
          .to.emit(s.bridge, "ComputeRequested")
          .withArgs(s.agent.address, id, IONET, 2n * HOUR, cost, maxIn, quote, maxIn - quote);
      });

      it("leaves no ETH in AgentCompute, no ETH, WETH or USDC in the bridge and nothing in the router", async () => {
        const s = await loadFixture(systemFixture);
        const { maxIn } = await ethPaymentFor(s, HOUR, AKASH);
        await mined(s.c.startSession(HOUR, AKASH, CONFIG, { value: maxIn }));
        expectNothingLeftBehind(await ledger(s));
      });
    });

    describe("when msg.value is exactly the quote (no leftover)", () => {
      it("spends all of it, refunds nothing, escrows exactly the cost and leaves nothing behind", async () => {
        const s = await loadFixture(systemFixture);
        const { cost, quote } = await ethPaymentFor(s, HOUR, SPHERON);
        const before = await ledger(s);
        const tx = s.c.startSession(HOUR, SPHERON, CONFIG, { value: quote });
        const receipt = await mined(tx);
        const id = await instanceIdOf(s, tx);
        await expect(tx).to.emit(s.bridge, "ComputeRequested").withArgs(s.agent.address, id, SPHERON, HOUR, cost, quote, quote, 0n);
        const after = await ledger(s);
        expect(before.agentEth - after.agentEth).to.equal(quote + receipt.fee);
        expect(after.computeUsdc - before.computeUsdc).to.equal(cost);
        expectNothingLeftBehind(after);
      });
    });

    describe("when msg.value is far more than needed (10 ETH for a $0.40 session)", () => {
      it("refunds all but the quote", async () => {
        const s = await loadFixture(systemFixture);
        const { cost, quote } = await ethPaymentFor(s, HOUR, SPHERON);
        const value = ethers.parseEther("10");
        const before = await ledger(s);
        const receipt = await mined(s.c.startSession(HOUR, SPHERON, CONFIG, { value }));
        const after = await ledger(s);
        expect(before.agentEth - after.agentEth).to.equal(quote + receipt.fee);
        expect(after.computeUsdc - before.computeUsdc).to.equal(cost);
        expectNothingLeftBehind(after);
      });
    });

    describe("when the duration is not a whole number of hours (61 s, cost rounded up)", () => {
      it("buys and escrows exactly the rounded-up cost", async () => {
        const s = await loadFixture(systemFixture);
        const { cost, quote, maxIn } = await ethPaymentFor(s, 61n, SPHERON);
        expect(cost).to.equal((400_000n * 61n + 3599n) / 3600n); // 6778
        const before = await ledger(s);
        const tx = s.c.startSession(61n, SPHERON, CONFIG, { value: maxIn });
        const receipt = await mined(tx);
        await expect(tx)
          .to.emit(s.bridge, "ComputeRequested")
          .withArgs(s.agent.address, await instanceIdOf(s, tx), SPHERON, 61n, cost, maxIn, quote, maxIn - quote);
        const after = await ledger(s);
        expect(after.computeUsdc - before.computeUsdc).to.equal(cost);
        expect(before.agentEth - after.agentEth).to.equal(quote + receipt.fee);
      });
    });

    describe("when the agent's daily spending cap would be passed", () => {
      it("reverts with DailyCapExceeded before swapping: the agent loses only gas", async () => {
        const s = await loadFixture(systemFixture);
        const { cost, maxIn } = await ethPaymentFor(s, HOUR, SPHERON);
        await s.c.setSpendingCaps(s.agent.address, cost - 1n, USDC(1000));
        const before = await ledger(s);
        await expect(s.c.startSession(HOUR, SPHERON, CONFIG, { value: maxIn }))
          .to.be.revertedWithCustomError(s.compute, "DailyCapExceeded")
          .withArgs(s.agent.address, cost, cost - 1n);
        const fee = await feeOfLastTx(s.agent.address);
        const after = await ledger(s);
        expect(before.agentEth - after.agentEth).to.equal(fee);
        expectUnchangedExcept(before, after, ["agentEth"]);
      });
    });
  });

  describe("extendSession with msg.value > 0", () => {
    describe("when the session is pending and was paid in USDC", () => {
      it("escrows exactly the extension's cost bought with ETH, moves endTime and emits SessionExtended and ComputeRequested", async () => {
        const s = await loadFixture(systemFixture);
        const id = await instanceIdOf(s, s.c.startSession(HOUR, AKASH, CONFIG));
        const sessionBefore = await s.compute.getSession(id);
        const { cost, quote, maxIn } = await ethPaymentFor(s, 30n * 60n, AKASH);
        const before = await ledger(s);
        const tx = s.c.extendSession(id, 30n * 60n, { value: maxIn });
        const receipt = await mined(tx);
        const newEnd = sessionBefore.endTime + 30n * 60n;
        await expect(tx)
          .to.emit(s.compute, "SessionExtended")
          .withArgs(id, s.agent.address, 30n * 60n, cost, newEnd);
        await expect(tx)
          .to.emit(s.bridge, "ComputeRequested")
          .withArgs(s.agent.address, id, AKASH, 30n * 60n, cost, maxIn, quote, maxIn - quote);
        const after = await ledger(s);
        expect(after.computeUsdc - before.computeUsdc).to.equal(cost);
        expect(after.agentUsdc).to.equal(before.agentUsdc);
        expect(before.agentEth - after.agentEth).to.equal(quote + receipt.fee);
        expectNothingLeftBehind(after);
        const sessionAfter = await s.compute.getSession(id);
        expect(sessionAfter.deposited).to.equal(sessionBefore.deposited + cost);
        expect(sessionAfter.endTime).to.equal(newEnd);
      });
    });

    describe("when the session is active and was itself paid in ETH", () => {
      it("escrows exactly the cost and refunds the agent's unspent ETH", async () => {
        const s = await loadFixture(systemFixture);
        const first = await ethPaymentFor(s, HOUR, SPHERON);
        const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG, { value: first.maxIn }));
        await s.compute.connect(s.keeper).recordOutcome(id, 1, "local-1");
        await time.increase(600);
        const { cost, quote, maxIn } = await ethPaymentFor(s, 2n * HOUR, SPHERON);
        const before = await ledger(s);
        const tx = s.c.extendSession(id, 2n * HOUR, { value: maxIn });
        const receipt = await mined(tx);
        await expect(tx)
          .to.emit(s.bridge, "ComputeRequested")
          .withArgs(s.agent.address, id, SPHERON, 2n * HOUR, cost, maxIn, quote, maxIn - quote);
        const after = await ledger(s);
        expect(after.computeUsdc - before.computeUsdc).to.equal(cost);
        expect(before.agentEth - after.agentEth).to.equal(quote + receipt.fee);
        expect((await s.compute.getSession(id)).deposited).to.equal(first.cost + cost);
        expectNothingLeftBehind(after);
      });
    });

    describe("when msg.value is exactly the quote (no leftover)", () => {
      it("spends all of it and escrows exactly the cost", async () => {
        const s = await loadFixture(systemFixture);
        const id = await startActive(s);
        const { cost, quote } = await ethPaymentFor(s, HOUR, SPHERON);
        const before = await ledger(s);
        const tx = s.c.extendSession(id, HOUR, { value: quote });
        const receipt = await mined(tx);
        await expect(tx).to.emit(s.bridge, "ComputeRequested").withArgs(s.agent.address, id, SPHERON, HOUR, cost, quote, quote, 0n);
        const after = await ledger(s);
        expect(before.agentEth - after.agentEth).to.equal(quote + receipt.fee);
        expect(after.computeUsdc - before.computeUsdc).to.equal(cost);
        expectNothingLeftBehind(after);
      });
    });

    describe("when the caller is not the session's agent", () => {
      it("reverts with NotSessionAgent before swapping: the caller loses only gas", async () => {
        const s = await loadFixture(systemFixture);
        const id = await startActive(s);
        const { maxIn } = await ethPaymentFor(s, HOUR, SPHERON);
        const before = await ledger(s, s.other.address);
        await expect(s.compute.connect(s.other).extendSession(id, HOUR, { value: maxIn }))
          .to.be.revertedWithCustomError(s.compute, "NotSessionAgent")
          .withArgs(id, s.other.address);
        const fee = await feeOfLastTx(s.other.address);
        const after = await ledger(s, s.other.address);
        expect(before.agentEth - after.agentEth).to.equal(fee);
        expectUnchangedExcept(before, after, ["agentEth"]);
      });
    });
  });

  describe("when the admin has set the bridge to the zero address", () => {
    async function bridgeUnset() {
      const s = await loadFixture(systemFixture); // derived from its snapshot: a fresh systemFixture() spends another 2,000 ETH of the deployer's
      await expect(s.compute.connect(s.admin).setBridge(ethers.ZeroAddress)).to.emit(s.compute, "BridgeSet").withArgs(ethers.ZeroAddress);
      return s;
    }

    it("startSession with ETH reverts with BridgeNotSet and the agent loses only gas", async () => {
      const s = await loadFixture(bridgeUnset);
      expect(await s.compute.bridge()).to.equal(ethers.ZeroAddress);
      const before = await ledger(s);
      await expect(s.c.startSession(HOUR, SPHERON, CONFIG, { value: ethers.parseEther("0.01") })).to.be.revertedWithCustomError(
        s.compute,
        "BridgeNotSet",
      );
      const fee = await feeOfLastTx(s.agent.address);
      const after = await ledger(s);
      expect(before.agentEth - after.agentEth).to.equal(fee);
      expectUnchangedExcept(before, after, ["agentEth"]);
    });

    it("extendSession with ETH reverts with BridgeNotSet", async () => {
      const s = await loadFixture(bridgeUnset);
      const id = await startActive(s);
      const deposited = (await s.compute.getSession(id)).deposited;
      await expect(s.c.extendSession(id, HOUR, { value: ethers.parseEther("0.01") })).to.be.revertedWithCustomError(
        s.compute,
        "BridgeNotSet",
      );
      expect((await s.compute.getSession(id)).deposited).to.equal(deposited);
    });

    it("paying in USDC still works", async () => {
      const s = await loadFixture(bridgeUnset);
      const cost = await s.compute.getSessionCost(HOUR, SPHERON);
      const tx = s.c.startSession(HOUR, SPHERON, CONFIG);
      await expect(tx).to.changeTokenBalances(s.usdc, [s.agent, s.compute], [-cost, cost]);
      await expect(s.c.extendSession(await instanceIdOf(s, tx), HOUR)).to.changeTokenBalances(s.usdc, [s.agent, s.compute], [-cost, cost]);
    });

    it("when the admin sets the bridge back, ETH payments work again", async () => {
      const s = await loadFixture(bridgeUnset);
      await s.compute.connect(s.admin).setBridge(await s.bridge.getAddress());
      const { cost, quote, maxIn } = await ethPaymentFor(s, HOUR, SPHERON);
      const tx = s.c.startSession(HOUR, SPHERON, CONFIG, { value: maxIn });
      await expect(tx)
        .to.emit(s.bridge, "ComputeRequested")
        .withArgs(s.agent.address, await instanceIdOf(s, tx), SPHERON, HOUR, cost, maxIn, quote, maxIn - quote);
    });
  });

  describe("when AgentCompute is paused", () => {
    it("startSession and extendSession with ETH revert with EnforcedPause and the agent loses only gas", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await s.compute.connect(s.admin).pause();
      const { maxIn } = await ethPaymentFor(s, HOUR, SPHERON);
      const before = await ledger(s);
      await expect(s.c.startSession(HOUR, SPHERON, CONFIG, { value: maxIn })).to.be.revertedWithCustomError(s.compute, "EnforcedPause");
      const fee1 = await feeOfLastTx(s.agent.address);
      await expect(s.c.extendSession(id, HOUR, { value: maxIn })).to.be.revertedWithCustomError(s.compute, "EnforcedPause");
      const fee2 = await feeOfLastTx(s.agent.address);
      const after = await ledger(s);
      expect(before.agentEth - after.agentEth).to.equal(fee1 + fee2);
      expectUnchangedExcept(before, after, ["agentEth"]);
    });

    it("after unpause, paying in ETH works again", async () => {
      const s = await loadFixture(systemFixture);
      await s.compute.connect(s.admin).pause();
      await s.compute.connect(s.admin).unpause();
      const { cost, maxIn } = await ethPaymentFor(s, HOUR, SPHERON);
      const before = await ledger(s);
      await mined(s.c.startSession(HOUR, SPHERON, CONFIG, { value: maxIn }));
      expect((await ledger(s)).computeUsdc - before.computeUsdc).to.equal(cost);
    });
  });

  describe("when the router holds ETH stranded there by someone else", () => {
    // SwapRouter02's refundETH() sends the router's whole balance to its caller, so the bridge receives
    // the stranded ETH too. The bridge keeps nothing (it has no sweep): the agent gets its own unspent ETH
    // plus what was stranded, and ComputeRequested says so (ethRefunded > ethIn - ethSpent).
    it("refunds the agent msg.value minus the quote plus the stranded ETH; the bridge and the router keep nothing", async () => {
      const s = await loadFixture(systemFixture);
      const stranded = ethers.parseEther("0.3");
      // Someone overpays an exact-input swap and forgets refundETH: the router keeps the excess.
      const params = {
        tokenIn: await s.uni.weth.getAddress(),
        tokenOut: await s.usdc.getAddress(),
        fee: 500,
        recipient: s.other.address,
        amountIn: ethers.parseEther("0.2"),
        amountOutMinimum: 0n,
        sqrtPriceLimitX96: 0n,
      };
      await mined(s.uni.router.connect(s.other).getFunction("exactInputSingle")(params, { value: ethers.parseEther("0.5") }));
      expect(await ethOf(s.uni.router)).to.equal(stranded);
      const { cost, quote, maxIn } = await ethPaymentFor(s, HOUR, SPHERON);
      const before = await ledger(s);
      const tx = s.c.startSession(HOUR, SPHERON, CONFIG, { value: maxIn });
      const receipt = await mined(tx);
      await expect(tx)
        .to.emit(s.bridge, "ComputeRequested")
        .withArgs(s.agent.address, await instanceIdOf(s, tx), SPHERON, HOUR, cost, maxIn, quote, maxIn - quote + stranded);
      const after = await ledger(s);
      expect(after.agentEth - before.agentEth).to.equal(stranded - quote - receipt.fee);
      expect(after.computeUsdc - before.computeUsdc).to.equal(cost);
      expect(after.routerEth).to.equal(0n);
      expect(after.bridgeEth).to.equal(0n);
    });
  });
});
