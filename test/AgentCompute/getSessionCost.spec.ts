import { expect } from "chai";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { systemFixture, HOUR, SPHERON, AKASH, IONET } from "../shared/fixtures";

describe("AgentCompute.getSessionCost", () => {
  it("prices each seed provider per hour in USDC base units", async () => {
    const { compute } = await loadFixture(systemFixture);
    expect(await compute.getSessionCost(HOUR, SPHERON)).to.equal(400_000n);
    expect(await compute.getSessionCost(HOUR, AKASH)).to.equal(300_000n);
    expect(await compute.getSessionCost(HOUR, IONET)).to.equal(1_200_000n);
    expect(await compute.getSessionCost(3n * HOUR, IONET)).to.equal(3_600_000n);
  });

  it("when the duration is not a whole number of hours, rounds the cost up to the next base unit", async () => {
    const { compute } = await loadFixture(systemFixture);
    // 61 s at 400,000/h = 6,777.7… -> 6,778
    expect(await compute.getSessionCost(61, SPHERON)).to.equal(6_778n);
    // 90 s at 400,000/h = 10,000 exactly
    expect(await compute.getSessionCost(90, SPHERON)).to.equal(10_000n);
  });

  it("when the duration is below MIN_DURATION, reverts with DurationOutOfRange", async () => {
    const { compute } = await loadFixture(systemFixture);
    await expect(compute.getSessionCost(59, SPHERON)).to.be.revertedWithCustomError(compute, "DurationOutOfRange").withArgs(59);
    expect(await compute.getSessionCost(60, SPHERON)).to.equal(6_667n);
  });

  it("when the duration is above MAX_DURATION, reverts with DurationOutOfRange", async () => {
    const { compute } = await loadFixture(systemFixture);
    const max = await compute.MAX_DURATION();
    expect(await compute.getSessionCost(max, SPHERON)).to.equal(400_000n * 24n * 365n);
    await expect(compute.getSessionCost(max + 1n, SPHERON))
      .to.be.revertedWithCustomError(compute, "DurationOutOfRange")
      .withArgs(max + 1n);
  });

  it("when the provider was never set, reverts with UnknownProvider", async () => {
    const { compute } = await loadFixture(systemFixture);
    await expect(compute.getSessionCost(HOUR, 3)).to.be.revertedWithCustomError(compute, "UnknownProvider").withArgs(3);
  });

  it("when the provider is inactive, reverts with ProviderInactive", async () => {
    const { compute, admin } = await loadFixture(systemFixture);
    await compute.connect(admin).setProvider(AKASH, 300_000n, false);
    await expect(compute.getSessionCost(HOUR, AKASH)).to.be.revertedWithCustomError(compute, "ProviderInactive").withArgs(AKASH);
  });
});
