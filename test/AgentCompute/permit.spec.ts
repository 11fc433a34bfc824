import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { systemFixture, instanceIdOf, signPermit, HOUR, SPHERON, CONFIG } from "../shared/fixtures";

/** An agent with USDC but no approval: only a permit can pay. */
async function permitFixture() {
  const s = await systemFixture();
  await s.usdc.connect(s.agent).approve(await s.compute.getAddress(), 0);
  return s;
}

describe("AgentCompute permit payments (EIP-2612)", () => {
  it("startSessionWithPermit pays from a signature alone", async () => {
    const s = await loadFixture(permitFixture);
    const cost = await s.compute.getSessionCost(HOUR, SPHERON);
    const permit = await signPermit(s, s.agent, cost, BigInt(await time.latest()) + 3600n);
    const tx = s.c.startSessionWithPermit(HOUR, SPHERON, CONFIG, ethers.MaxUint256, permit);
    await expect(tx).to.changeTokenBalances(s.usdc, [s.agent, s.compute], [-cost, cost]);
    await expect(tx).to.emit(s.compute, "SessionStarted");
  });

  it("extendSessionWithPermit pays an extension from a signature alone", async () => {
    const s = await loadFixture(permitFixture);
    const cost = await s.compute.getSessionCost(HOUR, SPHERON);
    const deadline = BigInt(await time.latest()) + 3600n;
    const id = await instanceIdOf(
      s,
      s.c.startSessionWithPermit(HOUR, SPHERON, CONFIG, ethers.MaxUint256, await signPermit(s, s.agent, cost, deadline)),
    );
    const tx = s.c.extendSessionWithPermit(id, HOUR, ethers.MaxUint256, await signPermit(s, s.agent, cost, deadline));
    await expect(tx).to.changeTokenBalances(s.usdc, [s.agent, s.compute], [-cost, cost]);
    expect((await s.compute.getSession(id)).deposited).to.equal(2n * cost);
  });

  it("when the permit was front-run (already used), still succeeds on the allowance it created", async () => {
    const s = await loadFixture(permitFixture);
    const cost = await s.compute.getSessionCost(HOUR, SPHERON);
    const permit = await signPermit(s, s.agent, cost, BigInt(await time.latest()) + 3600n);
    // Someone watching the mempool submits the permit first.
    await s.usdc
      .connect(s.other)
      .permit(s.agent.address, await s.compute.getAddress(), permit.value, permit.deadline, permit.v, permit.r, permit.s);
    await expect(s.c.startSessionWithPermit(HOUR, SPHERON, CONFIG, ethers.MaxUint256, permit)).to.emit(s.compute, "SessionStarted");
  });

  it("when the permit is expired and there is no allowance, reverts with ERC20InsufficientAllowance and takes nothing", async () => {
    const s = await loadFixture(permitFixture);
    const cost = await s.compute.getSessionCost(HOUR, SPHERON);
    const permit = await signPermit(s, s.agent, cost, BigInt(await time.latest()) - 1n);
    await expect(s.c.startSessionWithPermit(HOUR, SPHERON, CONFIG, ethers.MaxUint256, permit)).to.be.revertedWithCustomError(
      s.usdc,
      "ERC20InsufficientAllowance",
    );
  });

  it("when the permit was signed by someone else, reverts: a stolen signature cannot pay for another agent", async () => {
    const s = await loadFixture(permitFixture);
    const cost = await s.compute.getSessionCost(HOUR, SPHERON);
    const permit = await signPermit(s, s.agent, cost, BigInt(await time.latest()) + 3600n);
    await s.usdc.connect(s.other).approve(await s.compute.getAddress(), 0);
    await expect(
      s.compute.connect(s.other).startSessionWithPermit(HOUR, SPHERON, CONFIG, ethers.MaxUint256, permit),
    ).to.be.revertedWithCustomError(s.usdc, "ERC20InsufficientAllowance");
    expect(await s.usdc.allowance(s.agent.address, await s.compute.getAddress())).to.equal(0n);
  });

  it("when paused, reverts with EnforcedPause", async () => {
    const s = await loadFixture(permitFixture);
    const cost = await s.compute.getSessionCost(HOUR, SPHERON);
    const permit = await signPermit(s, s.agent, cost, BigInt(await time.latest()) + 3600n);
    await s.compute.connect(s.admin).pause();
    await expect(s.c.startSessionWithPermit(HOUR, SPHERON, CONFIG, ethers.MaxUint256, permit)).to.be.revertedWithCustomError(
      s.compute,
      "EnforcedPause",
    );
    await expect(s.c.extendSessionWithPermit(ethers.ZeroHash, HOUR, ethers.MaxUint256, permit)).to.be.revertedWithCustomError(
      s.compute,
      "EnforcedPause",
    );
  });
});
