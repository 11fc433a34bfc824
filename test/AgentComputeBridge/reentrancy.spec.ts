import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { systemFixture, instanceIdOf, quoteEthFor, System, HOUR, SPHERON, AKASH, CONFIG, USDC } from "../shared/fixtures";
import { RefundReentrantAgent__factory, NoReceiveAgent__factory, UndeliveringBridge__factory } from "../../typechain-types";
import type { TransactionReceipt } from "ethers";
import { withSlippage, ethOf, mined, feeOfLastTx, ledger, expectNothingLeftBehind, expectUnchangedExcept } from "./helpers";

const SLIPPAGE_BPS = 50n;

/** RefundReentrantAgent.Attack */
const Attack = { None: 0, StartSession: 1, ExtendSession: 2, EndSession: 3, BuyUsdc: 4 } as const;
/** UndeliveringBridge.Mode */
const Mode = { Shortchange: 0, ReenterEnd: 1, ReenterStart: 2 } as const;

async function payment(s: System, duration = HOUR, provider = SPHERON) {
  const cost = await s.compute.getSessionCost(duration, provider);
  const quote = await quoteEthFor(s, cost);
  return { cost, quote, maxIn: withSlippage(quote, SLIPPAGE_BPS) };
}

function count(s: System, receipt: TransactionReceipt, contract: "compute" | "bridge", event: string): number {
  const iface = contract === "compute" ? s.compute.interface : s.bridge.interface;
  return receipt.logs.filter((log) => iface.parseLog(log)?.name === event).length;
}

/** The system plus an attacker agent contract, operated by `other`, that already owns one session (paid in ETH, exact amount). */
async function attackerFixture() {
  const s = await loadFixture(systemFixture); // derived from its snapshot: a fresh systemFixture() spends another 2,000 ETH of the deployer's
  const attacker = await new RefundReentrantAgent__factory(s.other).deploy(await s.compute.getAddress(), await s.bridge.getAddress());
  await attacker.waitForDeployment();
  const { quote } = await payment(s);
  const target = await instanceIdOf(s, attacker.start(HOUR, SPHERON, CONFIG, { value: quote }));
  expect(await s.compute.agentOf(target)).to.equal(await attacker.getAddress());
  return { ...s, attacker, target };
}

const REENTRIES = [
  { name: "AgentCompute.startSession", attack: Attack.StartSession },
  { name: "AgentCompute.extendSession", attack: Attack.ExtendSession },
  { name: "AgentCompute.endSession", attack: Attack.EndSession },
  { name: "AgentComputeBridge.buyUsdc", attack: Attack.BuyUsdc },
] as const;

const TRIGGERS = ["startSession", "extendSession"] as const;

describe("AgentComputeBridge: reentrancy and hostile counterparties on the ETH path", () => {
  describe("an agent contract whose receive() (run by the ETH refund) re-enters", () => {
    for (const trigger of TRIGGERS) {
      describe(`when the refund comes from ${trigger} paid in ETH`, () => {
        for (const { name, attack } of REENTRIES) {
          describe(`and receive() calls ${name}`, () => {
            it("when the attacker catches the revert: the reentry fails with ReentrancyGuardReentrantCall, the payment goes through once and money is conserved", async () => {
              const s = await loadFixture(attackerFixture);
              const attackerAddress = await s.attacker.getAddress();
              await s.attacker.configure(attack, false, s.target);
              const targetBefore = await s.compute.getSession(s.target);
              const { cost, quote, maxIn } = await payment(s);
              const before = await ledger(s, attackerAddress);
              const operatorBefore = await ethOf(s.other.address);

              const tx =
                trigger === "startSession"
                  ? s.attacker.start(HOUR, SPHERON, CONFIG, { value: maxIn })
                  : s.attacker.extend(s.target, HOUR, { value: maxIn });
              const receipt = await mined(tx);

              // The reentry was attempted once, failed, and its revert was the reentrancy guard's.
              expect(await s.attacker.attempts()).to.equal(1n);
              expect(await s.attacker.reentrySucceeded()).to.equal(false);
              const guard = (attack === Attack.BuyUsdc ? s.bridge.interface : s.compute.interface).encodeErrorResult(
                "ReentrancyGuardReentrantCall",
              );
              expect(await s.attacker.lastRevert()).to.equal(guard);
              expect(await s.attacker.lastRefund()).to.equal(maxIn - quote);

              // Exactly one payment happened.
              expect(count(s, receipt, "bridge", "ComputeRequested")).to.equal(1);
              expect(count(s, receipt, "compute", "SessionStarted")).to.equal(trigger === "startSession" ? 1 : 0);
              expect(count(s, receipt, "compute", "SessionExtended")).to.equal(trigger === "extendSession" ? 1 : 0);
              expect(count(s, receipt, "compute", "SessionEnded")).to.equal(0);

              // Money: the operator paid maxIn + gas, the attacker kept the refund, the escrow got the cost, the pool the quote.
              const after = await ledger(s, attackerAddress);
              expect(operatorBefore - (await ethOf(s.other.address))).to.equal(maxIn + receipt.fee);
              expect(after.agentEth - before.agentEth).to.equal(maxIn - quote);
              expect(after.computeUsdc - before.computeUsdc).to.equal(cost);
              expect(after.poolWeth - before.poolWeth).to.equal(quote);
              expect(after.agentUsdc).to.equal(before.agentUsdc);
              expectNothingLeftBehind(after);

              // The targeted session was neither ended nor extended by the reentry.
              const targetAfter = await s.compute.getSession(s.target);
              expect(targetAfter.status).to.equal(targetBefore.status);
              expect(targetAfter.deposited).to.equal(targetBefore.deposited + (trigger === "extendSession" ? cost : 0n));
              expect(targetAfter.endTime).to.equal(targetBefore.endTime + (trigger === "extendSession" ? HOUR : 0n));
            });

            it("when the attacker lets the revert bubble: the refund fails, the whole payment reverts with RefundFailed(agent, unspent) and nothing moves", async () => {
              const s = await loadFixture(attackerFixture);
              const attackerAddress = await s.attacker.getAddress();
              await s.attacker.configure(attack, true, s.target);
              const targetBefore = await s.compute.getSession(s.target);
              const { quote, maxIn } = await payment(s);
              const before = await ledger(s, attackerAddress);
              const operatorBefore = await ethOf(s.other.address);

              const tx =
                trigger === "startSession"
                  ? s.attacker.start(HOUR, SPHERON, CONFIG, { value: maxIn })
                  : s.attacker.extend(s.target, HOUR, { value: maxIn });
              await expect(tx)
                .to.be.revertedWithCustomError(s.bridge, "RefundFailed")
                .withArgs(attackerAddress, maxIn - quote);

              const fee = await feeOfLastTx(s.other.address);
              expect(operatorBefore - (await ethOf(s.other.address))).to.equal(fee);
              const after = await ledger(s, attackerAddress);
              expectUnchangedExcept(before, after, []);
              expect(await s.attacker.attempts()).to.equal(0n);
              const targetAfter = await s.compute.getSession(s.target);
              expect(targetAfter.deposited).to.equal(targetBefore.deposited);
              expect(targetAfter.endTime).to.equal(targetBefore.endTime);
            });
          });
        }
      });
    }

    it("outside a payment (no guard held), the same buyUsdc call from the attacker fails with OnlyCompute(attacker)", async () => {
      const s = await loadFixture(attackerFixture);
      const attackerAddress = await s.attacker.getAddress();
      await s.attacker.configure(Attack.BuyUsdc, false, s.target);
      await mined(s.other.sendTransaction({ to: attackerAddress, value: ethers.parseEther("0.01") }));
      expect(await s.attacker.attempts()).to.equal(1n);
      expect(await s.attacker.reentrySucceeded()).to.equal(false);
      expect(await s.attacker.lastRevert()).to.equal(s.bridge.interface.encodeErrorResult("OnlyCompute", [attackerAddress]));
      expect(await ethOf(attackerAddress)).to.equal(ethers.parseEther("0.01"));
      expectNothingLeftBehind(await ledger(s, attackerAddress));
    });

    it("outside a payment, endSession from receive() succeeds: the guard, not the caller, is what stopped it above", async () => {
      const s = await loadFixture(attackerFixture);
      const attackerAddress = await s.attacker.getAddress();
      await s.attacker.configure(Attack.EndSession, false, s.target);
      const deposited = (await s.compute.getSession(s.target)).deposited;
      await expect(s.other.sendTransaction({ to: attackerAddress, value: 1n })).to.changeTokenBalances(
        s.usdc,
        [s.compute, s.attacker],
        [-deposited, deposited],
      );
      expect(await s.attacker.reentrySucceeded()).to.equal(true);
      expect((await s.compute.getSession(s.target)).status).to.equal(3n); // Ended
    });
  });

  describe("an agent contract that cannot receive ETH", () => {
    async function rejectingFixture() {
      const s = await loadFixture(systemFixture); // derived from its snapshot: a fresh systemFixture() spends another 2,000 ETH of the deployer's
      const agent = await new NoReceiveAgent__factory(s.other).deploy(await s.compute.getAddress());
      await agent.waitForDeployment();
      await agent.deposit({ value: ethers.parseEther("1") });
      return { ...s, rejecting: agent };
    }

    describe("when its payment leaves ETH to refund", () => {
      it("startSession reverts with RefundFailed(agent, unspent) and nothing is charged", async () => {
        const s = await loadFixture(rejectingFixture);
        const agentAddress = await s.rejecting.getAddress();
        const { quote, maxIn } = await payment(s);
        const before = await ledger(s, agentAddress);
        await expect(s.rejecting.start(maxIn, HOUR, SPHERON, CONFIG))
          .to.be.revertedWithCustomError(s.bridge, "RefundFailed")
          .withArgs(agentAddress, maxIn - quote);
        const after = await ledger(s, agentAddress);
        expect(after.agentEth).to.equal(ethers.parseEther("1"));
        expectUnchangedExcept(before, after, []);
        expectNothingLeftBehind(after);
      });

      it("extendSession reverts with RefundFailed(agent, unspent) and the session is unchanged", async () => {
        const s = await loadFixture(rejectingFixture);
        const agentAddress = await s.rejecting.getAddress();
        const first = await payment(s);
        const id = await instanceIdOf(s, s.rejecting.start(first.quote, HOUR, SPHERON, CONFIG));
        const session = await s.compute.getSession(id);
        const { quote, maxIn } = await payment(s, 2n * HOUR);
        const before = await ledger(s, agentAddress);
        await expect(s.rejecting.extend(maxIn, id, 2n * HOUR))
          .to.be.revertedWithCustomError(s.bridge, "RefundFailed")
          .withArgs(agentAddress, maxIn - quote);
        expectUnchangedExcept(before, await ledger(s, agentAddress), []);
        expect((await s.compute.getSession(id)).deposited).to.equal(session.deposited);
      });
    });

    describe("when it pays exactly the quote (nothing to refund)", () => {
      it("startSession and extendSession succeed and cost it exactly the quotes", async () => {
        const s = await loadFixture(rejectingFixture);
        const agentAddress = await s.rejecting.getAddress();
        const start = await payment(s, HOUR, AKASH);
        const before = await ledger(s, agentAddress);
        const tx = s.rejecting.start(start.quote, HOUR, AKASH, CONFIG);
        const id = await instanceIdOf(s, tx);
        await expect(tx)
          .to.emit(s.bridge, "ComputeRequested")
          .withArgs(agentAddress, id, AKASH, HOUR, start.cost, start.quote, start.quote, 0n);
        expect(await s.compute.agentOf(id)).to.equal(agentAddress);
        const extend = await payment(s, HOUR, AKASH);
        await expect(s.rejecting.extend(extend.quote, id, HOUR))
          .to.emit(s.bridge, "ComputeRequested")
          .withArgs(agentAddress, id, AKASH, HOUR, extend.cost, extend.quote, extend.quote, 0n);
        const after = await ledger(s, agentAddress);
        expect(before.agentEth - after.agentEth).to.equal(start.quote + extend.quote);
        expect(after.computeUsdc - before.computeUsdc).to.equal(start.cost + extend.cost);
        expect((await s.compute.getSession(id)).deposited).to.equal(start.cost + extend.cost);
        expectNothingLeftBehind(after);
      });
    });
  });

  describe("a malicious bridge set by the admin", () => {
    async function maliciousFixture() {
      const s = await loadFixture(systemFixture); // derived from its snapshot: a fresh systemFixture() spends another 2,000 ETH of the deployer's
      const evil = await new UndeliveringBridge__factory(s.other).deploy(await s.usdc.getAddress(), await s.compute.getAddress());
      await evil.waitForDeployment();
      await s.usdc.mint(await evil.getAddress(), USDC(1_000));
      await s.compute.connect(s.admin).setBridge(await evil.getAddress());
      return { ...s, evil };
    }

    describe("when it keeps the ETH and delivers no USDC", () => {
      it("startSession reverts with UsdcNotReceived(cost, 0): no session, the agent loses only gas", async () => {
        const s = await loadFixture(maliciousFixture);
        await s.evil.configure(Mode.Shortchange, ethers.MaxUint256);
        const cost = await s.compute.getSessionCost(HOUR, SPHERON);
        const evilEth = await ethOf(s.evil);
        const before = await ledger(s);
        await expect(s.c.startSession(HOUR, SPHERON, CONFIG, { value: ethers.parseEther("1") }))
          .to.be.revertedWithCustomError(s.compute, "UsdcNotReceived")
          .withArgs(cost, 0n);
        const fee = await feeOfLastTx(s.agent.address);
        const after = await ledger(s);
        expect(before.agentEth - after.agentEth).to.equal(fee);
        expectUnchangedExcept(before, after, ["agentEth"]);
        expect(await ethOf(s.evil)).to.equal(evilEth);
      });

      it("extendSession reverts with UsdcNotReceived(cost, 0) and the session is unchanged", async () => {
        const s = await loadFixture(maliciousFixture);
        await s.evil.configure(Mode.Shortchange, ethers.MaxUint256);
        const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG)); // paid in USDC
        const deposited = (await s.compute.getSession(id)).deposited;
        const cost = await s.compute.getSessionCost(3n * HOUR, SPHERON);
        await expect(s.c.extendSession(id, 3n * HOUR, { value: ethers.parseEther("1") }))
          .to.be.revertedWithCustomError(s.compute, "UsdcNotReceived")
          .withArgs(cost, 0n);
        expect((await s.compute.getSession(id)).deposited).to.equal(deposited);
      });
    });

    describe("when it delivers 1 base unit less than the cost", () => {
      it("reverts with UsdcNotReceived(cost, cost - 1)", async () => {
        const s = await loadFixture(maliciousFixture);
        await s.evil.configure(Mode.Shortchange, 1n);
        const cost = await s.compute.getSessionCost(HOUR, SPHERON);
        await expect(s.c.startSession(HOUR, SPHERON, CONFIG, { value: ethers.parseEther("1") }))
          .to.be.revertedWithCustomError(s.compute, "UsdcNotReceived")
          .withArgs(cost, cost - 1n);
        expect(await s.usdc.balanceOf(await s.compute.getAddress())).to.equal(0n);
      });
    });

    describe("when it delivers exactly the cost", () => {
      it("the payment goes through: AgentCompute checks the USDC it received, not what the bridge says", async () => {
        const s = await loadFixture(maliciousFixture);
        await s.evil.configure(Mode.Shortchange, 0n);
        const cost = await s.compute.getSessionCost(HOUR, SPHERON);
        const tx = s.c.startSession(HOUR, SPHERON, CONFIG, { value: 1n });
        await expect(tx).to.changeTokenBalances(s.usdc, [s.evil, s.compute], [-cost, cost]);
        expect((await s.compute.getSession(await instanceIdOf(s, tx))).deposited).to.equal(cost);
      });
    });

    describe("when it re-enters AgentCompute while paying", () => {
      it("endSession on the session being paid for reverts with ReentrancyGuardReentrantCall", async () => {
        const s = await loadFixture(maliciousFixture);
        await s.evil.configure(Mode.ReenterEnd, 0n);
        await expect(s.c.startSession(HOUR, SPHERON, CONFIG, { value: 1n })).to.be.revertedWithCustomError(
          s.compute,
          "ReentrancyGuardReentrantCall",
        );
        expect(await s.usdc.balanceOf(await s.compute.getAddress())).to.equal(0n);
      });

      it("startSession paid in USDC from the bridge (to pass the balance check with one deposit for two sessions) reverts with ReentrancyGuardReentrantCall", async () => {
        const s = await loadFixture(maliciousFixture);
        await s.evil.configure(Mode.ReenterStart, ethers.MaxUint256);
        await expect(s.c.startSession(HOUR, SPHERON, CONFIG, { value: 1n })).to.be.revertedWithCustomError(
          s.compute,
          "ReentrancyGuardReentrantCall",
        );
        expect(await s.usdc.balanceOf(await s.compute.getAddress())).to.equal(0n);
      });
    });
  });
});
