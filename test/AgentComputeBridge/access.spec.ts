import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { Contract } from "ethers";
import { AgentComputeBridge__factory } from "../../typechain-types";
import { createWethUsdcPool } from "../../scripts/lib/uniswap";
import { systemFixture, quoteEthFor, ETH_PRICE_USDC, HOUR, SPHERON, CONFIG } from "../shared/fixtures";

describe("AgentComputeBridge access and configuration", () => {
  it("buyUsdc from anyone but AgentCompute reverts with OnlyCompute", async () => {
    const s = await loadFixture(systemFixture);
    for (const who of [s.agent, s.admin, s.keeper]) {
      await expect(s.bridge.connect(who).buyUsdc(who.address, ethers.ZeroHash, 1n, HOUR, SPHERON, { value: 10n ** 15n }))
        .to.be.revertedWithCustomError(s.bridge, "OnlyCompute")
        .withArgs(who.address);
    }
  });

  it("plain ETH sent to the bridge by anyone but the router reverts with UnexpectedEth", async () => {
    const s = await loadFixture(systemFixture);
    await expect(s.agent.sendTransaction({ to: await s.bridge.getAddress(), value: 1n }))
      .to.be.revertedWithCustomError(s.bridge, "UnexpectedEth")
      .withArgs(s.agent.address);
  });

  it("the constructor rejects a zero address for each argument with ZeroAddress, and an invalid fee", async () => {
    const [d] = await ethers.getSigners();
    const f = new AgentComputeBridge__factory(d);
    const a = d.address;
    const Z = ethers.ZeroAddress;
    for (const args of [[Z, a, a, a, 500, a], [a, Z, a, a, 500, a], [a, a, Z, a, 500, a], [a, a, a, Z, 500, a], [a, a, a, a, 500, Z]] as const) {
      await expect(f.deploy(...args)).to.be.revertedWithCustomError(f, "ZeroAddress");
    }
    await expect(f.deploy(a, a, a, a, 0, a)).to.be.revertedWithCustomError(f, "InvalidPoolFee").withArgs(0);
  });

  it("exposes its immutable configuration", async () => {
    const s = await loadFixture(systemFixture);
    expect(await s.bridge.router()).to.equal(await s.uni.router.getAddress());
    expect(await s.bridge.weth()).to.equal("0x4200000000000000000000000000000000000006");
    expect(await s.bridge.usdc()).to.equal(await s.usdc.getAddress());
    expect(await s.bridge.compute()).to.equal(await s.compute.getAddress());
    expect(await s.bridge.poolFee()).to.equal(500);
  });

  it("setPoolFee by the admin switches the pool the swap uses; the 0.3% pool then charges its own price", async () => {
    const s = await loadFixture(systemFixture);
    await createWethUsdcPool(s.deployer, s.uni, s.usdc as unknown as Contract, { usdcPerEth: ETH_PRICE_USDC, wethLiquidity: ethers.parseEther("500"), fee: 3000 });
    await expect(s.bridge.connect(s.admin).setPoolFee(3000)).to.emit(s.bridge, "PoolFeeSet").withArgs(3000);
    const cost = await s.compute.getSessionCost(HOUR, SPHERON);
    const quote3000 = await quoteEthFor(s, cost, 3000);
    expect(quote3000).to.not.equal(await quoteEthFor(s, cost, 500));
    await expect(s.c.startSession(HOUR, SPHERON, CONFIG, { value: quote3000 * 2n }))
      .to.emit(s.bridge, "ComputeRequested")
      .withArgs(s.agent.address, (x: string) => x.length === 66, SPHERON, HOUR, cost, quote3000);
  });

  it("setPoolFee by anyone else reverts with AccessControlUnauthorizedAccount", async () => {
    const s = await loadFixture(systemFixture);
    for (const who of [s.agent, s.keeper, s.deployer]) {
      await expect(s.bridge.connect(who).setPoolFee(3000))
        .to.be.revertedWithCustomError(s.bridge, "AccessControlUnauthorizedAccount")
        .withArgs(who.address, ethers.ZeroHash);
    }
  });

  it("setPoolFee rejects 0 and 1,000,000 (100%) with InvalidPoolFee", async () => {
    const s = await loadFixture(systemFixture);
    await expect(s.bridge.connect(s.admin).setPoolFee(0)).to.be.revertedWithCustomError(s.bridge, "InvalidPoolFee").withArgs(0);
    await expect(s.bridge.connect(s.admin).setPoolFee(1_000_000)).to.be.revertedWithCustomError(s.bridge, "InvalidPoolFee").withArgs(1_000_000);
    await expect(s.bridge.connect(s.admin).setPoolFee(999_999)).to.emit(s.bridge, "PoolFeeSet");
  });
});
