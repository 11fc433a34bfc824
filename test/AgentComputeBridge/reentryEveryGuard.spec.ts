import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { systemFixture, quoteEthFor, System, HOUR, SPHERON } from "../shared/fixtures";
import { ReentrantAgent__factory } from "../../typechain-types";

const REENTRANT = ethers.id("ReentrancyGuardReentrantCall()").slice(0, 10);

async function attackerFixture() {
  const s = await systemFixture();
  const attacker = await new ReentrantAgent__factory(s.other).deploy();
  await attacker.waitForDeployment();
  // Even holding the keeper role would not let a re-entry through.
  await s.compute.connect(s.admin).grantRole(await s.compute.KEEPER_ROLE(), await attacker.getAddress());
  return { ...s, attacker };
}

type Fixture = Awaited<ReturnType<typeof attackerFixture>>;

/** A payment whose refund triggers the attacker's re-entry. */
async function overpay(s: System): Promise<bigint> {
  return (await quoteEthFor(s, await s.compute.getSessionCost(HOUR, SPHERON))) * 2n;
}

function reentryCalls(s: Fixture): [string, string, string][] {
  const c = s.compute.interface;
  const compute = s.compute.target as string;
  const permit = { value: 1n, deadline: 1n, v: 27, r: ethers.ZeroHash, s: ethers.ZeroHash };
  return [
    ["AgentCompute.startSession", compute, c.encodeFunctionData("startSession", [HOUR, SPHERON, "0x"])],
    [
      "AgentCompute.startSessionWithPermit",
      compute,
      c.encodeFunctionData("startSessionWithPermit", [HOUR, SPHERON, "0x", ethers.MaxUint256, permit]),
    ],
    ["AgentCompute.extendSession", compute, c.encodeFunctionData("extendSession", [ethers.ZeroHash, HOUR])],
    [
      "AgentCompute.startSessionWithMaxCost",
      compute,
      c.encodeFunctionData("startSessionWithMaxCost", [HOUR, SPHERON, "0x", ethers.MaxUint256]),
    ],
    [
      "AgentCompute.extendSessionWithMaxCost",
      compute,
      c.encodeFunctionData("extendSessionWithMaxCost", [ethers.ZeroHash, HOUR, ethers.MaxUint256]),
    ],
    [
      "AgentCompute.setAutoRenewalWithPermit",
      compute,
      c.encodeFunctionData("setAutoRenewalWithPermit", [ethers.ZeroHash, HOUR, 1n, 1n, permit]),
    ],
    ["AgentCompute.withdraw", compute, c.encodeFunctionData("withdraw", [ethers.ZeroAddress])],
    ["AgentCompute.renew", compute, c.encodeFunctionData("renew", [ethers.ZeroHash])],
    [
      "AgentCompute.extendSessionWithPermit",
      compute,
      c.encodeFunctionData("extendSessionWithPermit", [ethers.ZeroHash, HOUR, ethers.MaxUint256, permit]),
    ],
    ["AgentCompute.endSession", compute, c.encodeFunctionData("endSession", [ethers.ZeroHash])],
    ["AgentCompute.recordOutcome", compute, c.encodeFunctionData("recordOutcome", [ethers.ZeroHash, 2, "x"])],
    ["AgentCompute.claim", compute, c.encodeFunctionData("claim", [ethers.ZeroHash])],
    [
      "AgentComputeBridge.buyUsdc",
      s.bridge.target as string,
      s.bridge.interface.encodeFunctionData("buyUsdc", [ethers.ZeroAddress, ethers.ZeroHash, 1n, HOUR, SPHERON]),
    ],
  ];
}

/**
 * Re-entry through the ETH refund into every nonReentrant function of both contracts, including the
 * keeper-only ones (the attacker even holds KEEPER_ROLE). reentrancy.spec.ts covers the payment
 * flows in depth; this file makes sure no guarded entry point is left out.
 */
describe("re-entry into every guarded function", () => {
  describe("re-entry through the ETH refund", () => {
    it("into every guarded function is refused with ReentrancyGuardReentrantCall (the attacker records it)", async () => {
      const s = await loadFixture(attackerFixture);
      for (const [name, target, payload] of reentryCalls(s)) {
        await s.attacker.arm(target, payload, true);
        const value = await overpay(s);
        await s.attacker.start(await s.compute.getAddress(), HOUR, SPHERON, { value });
        expect(await s.attacker.attempted(), name).to.equal(true);
        expect(await s.attacker.attemptSucceeded(), `${name} re-entry must fail`).to.equal(false);
        expect((await s.attacker.attemptRevertData()).slice(0, 10), name).to.equal(REENTRANT);
      }
    });

    it("when the attacker lets the re-entry's revert bubble, the whole payment reverts with RefundFailed and nothing is charged", async () => {
      const s = await loadFixture(attackerFixture);
      const [, target, payload] = reentryCalls(s)[0];
      await s.attacker.arm(target, payload, false);
      const value = await overpay(s);
      const escrowBefore = await s.usdc.balanceOf(await s.compute.getAddress());
      await expect(s.attacker.start(await s.compute.getAddress(), HOUR, SPHERON, { value })).to.be.revertedWithCustomError(
        s.bridge,
        "RefundFailed",
      );
      expect(await s.usdc.balanceOf(await s.compute.getAddress())).to.equal(escrowBefore);
      expect(await ethers.provider.getBalance(await s.attacker.getAddress())).to.equal(0n);
    });

    it("after refused re-entries, money is conserved: escrow holds exactly the sessions' deposits and the attacker got its change", async () => {
      const s = await loadFixture(attackerFixture);
      const [, target, payload] = reentryCalls(s)[2];
      await s.attacker.arm(target, payload, true);
      const cost = await s.compute.getSessionCost(HOUR, SPHERON);
      const quote = await quoteEthFor(s, cost);
      await s.attacker.start(await s.compute.getAddress(), HOUR, SPHERON, { value: quote * 2n });
      expect(await s.usdc.balanceOf(await s.compute.getAddress())).to.equal(cost);
      expect(await ethers.provider.getBalance(await s.attacker.getAddress())).to.equal(quote);
      expect(await ethers.provider.getBalance(await s.bridge.getAddress())).to.equal(0n);
    });

    it("re-entry during an ETH extension is refused too", async () => {
      const s = await loadFixture(attackerFixture);
      const value = await overpay(s);
      const tx = await s.attacker.start(await s.compute.getAddress(), HOUR, SPHERON, { value });
      const receipt = await tx.wait();
      const started = receipt!.logs.map((l) => s.compute.interface.parseLog(l)).find((e) => e?.name === "SessionStarted")!;
      const [, target, payload] = reentryCalls(s)[4];
      await s.attacker.arm(target, payload, true);
      await s.attacker.extend(await s.compute.getAddress(), started.args.instanceId, HOUR, { value });
      expect(await s.attacker.attemptSucceeded()).to.equal(false);
      expect((await s.attacker.attemptRevertData()).slice(0, 10)).to.equal(REENTRANT);
    });
  });
});
