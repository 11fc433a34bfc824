import { expect } from "chai";
import { ethers } from "hardhat";
import type { Contract } from "ethers";
import { loadFixture, impersonateAccount, setBalance, stopImpersonatingAccount } from "@nomicfoundation/hardhat-network-helpers";
import { systemFixture, instanceIdOf, quoteEthFor, System, HOUR, SPHERON, CONFIG, USDC } from "../shared/fixtures";
import { createWethUsdcPool } from "../../localnet/uniswap";
import { AgentComputeBridge__factory } from "../../typechain-types";
import { withSlippage, ethOf, mined, ledger, expectNothingLeftBehind, feeOfLastTx } from "./helpers";

const DEFAULT_ADMIN_ROLE = ethers.ZeroHash;

async function constructorArgs(s: System) {
  return [
    await s.uni.router.getAddress(),
    await s.uni.weth.getAddress(),
    await s.usdc.getAddress(),
    await s.compute.getAddress(),
    500,
    s.admin.address,
  ] as [string, string, string, string, number, string];
}

describe("AgentComputeBridge: access and configuration", () => {
  describe("buyUsdc", () => {
    it("when called by the agent directly (with ETH), reverts with OnlyCompute(agent)", async () => {
      const s = await loadFixture(systemFixture);
      const cost = await s.compute.getSessionCost(HOUR, SPHERON);
      const value = withSlippage(await quoteEthFor(s, cost), 50n);
      await expect(s.bridge.connect(s.agent).buyUsdc(s.agent.address, ethers.ZeroHash, cost, HOUR, SPHERON, { value }))
        .to.be.revertedWithCustomError(s.bridge, "OnlyCompute")
        .withArgs(s.agent.address);
      expectNothingLeftBehind(await ledger(s));
    });

    it("when called by the bridge's own admin, reverts with OnlyCompute(admin)", async () => {
      const s = await loadFixture(systemFixture);
      await expect(s.bridge.connect(s.admin).buyUsdc(s.admin.address, ethers.ZeroHash, 1n, HOUR, SPHERON))
        .to.be.revertedWithCustomError(s.bridge, "OnlyCompute")
        .withArgs(s.admin.address);
    });

    it("when called by the keeper, reverts with OnlyCompute(keeper)", async () => {
      const s = await loadFixture(systemFixture);
      await expect(s.bridge.connect(s.keeper).buyUsdc(s.keeper.address, ethers.ZeroHash, 1n, HOUR, SPHERON, { value: 1n }))
        .to.be.revertedWithCustomError(s.bridge, "OnlyCompute")
        .withArgs(s.keeper.address);
    });

    it("when AgentCompute calls it, buys exactly usdcAmount into AgentCompute and refunds the rest to `agent`", async () => {
      const s = await loadFixture(systemFixture);
      const computeAddress = await s.compute.getAddress();
      const cost = USDC(5);
      const quote = await quoteEthFor(s, cost);
      const value = withSlippage(quote, 100n);
      const id = ethers.zeroPadValue("0x1234", 32);
      await impersonateAccount(computeAddress);
      await setBalance(computeAddress, ethers.parseEther("1") + value);
      try {
        const asCompute = await ethers.getSigner(computeAddress);
        const before = await ledger(s, s.other.address);
        const tx = s.bridge.connect(asCompute).buyUsdc(s.other.address, id, cost, 120n, 7, { value });
        await expect(tx)
          .to.emit(s.bridge, "ComputeRequested")
          .withArgs(s.other.address, id, 7, 120n, cost, value, quote, value - quote);
        const after = await ledger(s, s.other.address);
        expect(after.computeUsdc - before.computeUsdc).to.equal(cost);
        expect(after.agentEth - before.agentEth).to.equal(value - quote);
        expect(after.bridgeEth).to.equal(0n);
        expect(after.bridgeUsdc).to.equal(0n);
        expect(after.routerEth).to.equal(0n);
      } finally {
        await stopImpersonatingAccount(computeAddress);
      }
    });
  });

  describe("receive", () => {
    it("when an EOA sends plain ETH, reverts with UnexpectedEth(sender)", async () => {
      const s = await loadFixture(systemFixture);
      const balance = await ethOf(s.agent.address);
      await expect(s.agent.sendTransaction({ to: await s.bridge.getAddress(), value: ethers.parseEther("1") }))
        .to.be.revertedWithCustomError(s.bridge, "UnexpectedEth")
        .withArgs(s.agent.address);
      expect(balance - (await ethOf(s.agent.address))).to.equal(await feeOfLastTx(s.agent.address));
      expect(await ethOf(s.bridge)).to.equal(0n);
    });

    it("when the admin sends plain ETH, reverts with UnexpectedEth(admin)", async () => {
      const s = await loadFixture(systemFixture);
      await expect(s.admin.sendTransaction({ to: await s.bridge.getAddress(), value: 1n }))
        .to.be.revertedWithCustomError(s.bridge, "UnexpectedEth")
        .withArgs(s.admin.address);
    });

    it("when AgentCompute's address sends plain ETH (outside buyUsdc), reverts with UnexpectedEth(compute)", async () => {
      const s = await loadFixture(systemFixture);
      const computeAddress = await s.compute.getAddress();
      await impersonateAccount(computeAddress);
      await setBalance(computeAddress, ethers.parseEther("1"));
      try {
        const asCompute = await ethers.getSigner(computeAddress);
        await expect(asCompute.sendTransaction({ to: await s.bridge.getAddress(), value: 1n }))
          .to.be.revertedWithCustomError(s.bridge, "UnexpectedEth")
          .withArgs(computeAddress);
      } finally {
        await stopImpersonatingAccount(computeAddress);
      }
    });

    it("when the router sends ETH (its refundETH), accepts it", async () => {
      const s = await loadFixture(systemFixture);
      const routerAddress = await s.uni.router.getAddress();
      await impersonateAccount(routerAddress);
      await setBalance(routerAddress, ethers.parseEther("1"));
      try {
        const asRouter = await ethers.getSigner(routerAddress);
        await mined(asRouter.sendTransaction({ to: await s.bridge.getAddress(), value: 12345n }));
        expect(await ethOf(s.bridge)).to.equal(12345n);
      } finally {
        await stopImpersonatingAccount(routerAddress);
      }
    });
  });

  describe("constructor", () => {
    const NAMES = ["router", "weth", "usdc", "compute"] as const;
    NAMES.forEach((name, index) => {
      it(`when ${name} is the zero address, reverts with ZeroAddress`, async () => {
        const s = await loadFixture(systemFixture);
        const args = await constructorArgs(s);
        args[index] = ethers.ZeroAddress;
        const factory = new AgentComputeBridge__factory(s.deployer);
        await expect(factory.deploy(...args)).to.be.revertedWithCustomError(factory, "ZeroAddress");
      });
    });

    it("when admin is the zero address, reverts with ZeroAddress", async () => {
      const s = await loadFixture(systemFixture);
      const args = await constructorArgs(s);
      args[5] = ethers.ZeroAddress;
      const factory = new AgentComputeBridge__factory(s.deployer);
      await expect(factory.deploy(...args)).to.be.revertedWithCustomError(factory, "ZeroAddress");
    });

    for (const fee of [0, 1_000_000]) {
      it(`when the pool fee is ${fee}, reverts with InvalidPoolFee(${fee})`, async () => {
        const s = await loadFixture(systemFixture);
        const args = await constructorArgs(s);
        args[4] = fee;
        const factory = new AgentComputeBridge__factory(s.deployer);
        await expect(factory.deploy(...args))
          .to.be.revertedWithCustomError(factory, "InvalidPoolFee")
          .withArgs(fee);
      });
    }

    it("with valid arguments, stores them, emits PoolFeeSet and makes only `admin` an admin", async () => {
      const s = await loadFixture(systemFixture);
      const args = await constructorArgs(s);
      const factory = new AgentComputeBridge__factory(s.deployer);
      const bridge = await factory.deploy(...args);
      await expect(bridge.deploymentTransaction()).to.emit(bridge, "PoolFeeSet").withArgs(500);
      expect(await bridge.router()).to.equal(args[0]);
      expect(await bridge.weth()).to.equal(args[1]);
      expect(await bridge.usdc()).to.equal(args[2]);
      expect(await bridge.compute()).to.equal(args[3]);
      expect(await bridge.poolFee()).to.equal(500n);
      expect(await bridge.hasRole(DEFAULT_ADMIN_ROLE, s.admin.address)).to.equal(true);
      expect(await bridge.hasRole(DEFAULT_ADMIN_ROLE, s.deployer.address)).to.equal(false);
    });

    it("the fixture's bridge is wired to the fixture's router, WETH, USDC and AgentCompute, on the 0.05% pool", async () => {
      const s = await loadFixture(systemFixture);
      const args = await constructorArgs(s);
      expect(await s.bridge.router()).to.equal(args[0]);
      expect(await s.bridge.weth()).to.equal("0x4200000000000000000000000000000000000006");
      expect(await s.bridge.usdc()).to.equal(args[2]);
      expect(await s.bridge.compute()).to.equal(args[3]);
      expect(await s.bridge.poolFee()).to.equal(500n);
      expect(await s.compute.bridge()).to.equal(await s.bridge.getAddress());
      expect(await s.bridge.hasRole(DEFAULT_ADMIN_ROLE, s.admin.address)).to.equal(true);
      expect(await s.bridge.hasRole(DEFAULT_ADMIN_ROLE, s.deployer.address)).to.equal(false);
    });
  });

  describe("setPoolFee", () => {
    /** The fixture plus a 0.3% WETH/USDC pool at a different price ($2,500), so which pool was used shows in the amounts. */
    async function twoPoolsFixture() {
      const s = await loadFixture(systemFixture); // derived from its snapshot: a fresh systemFixture() spends another 2,000 ETH of the deployer's
      const pool3000 = await createWethUsdcPool(s.deployer, s.uni, s.usdc as unknown as Contract, {
        usdcPerEth: 2500_000000n,
        wethLiquidity: ethers.parseEther("500"),
        fee: 3000,
      });
      return { ...s, pool3000 };
    }

    describe("when called by the admin", () => {
      it("emits PoolFeeSet(3000) and ETH payments then swap through the 0.3% pool, at its price", async () => {
        const s = await loadFixture(twoPoolsFixture);
        await expect(s.bridge.connect(s.admin).setPoolFee(3000)).to.emit(s.bridge, "PoolFeeSet").withArgs(3000);
        expect(await s.bridge.poolFee()).to.equal(3000n);
        const cost = await s.compute.getSessionCost(HOUR, SPHERON);
        const quote3000 = await quoteEthFor(s, cost, 3000);
        const quote500 = await quoteEthFor(s, cost, 500);
        expect(quote3000).to.not.equal(quote500);
        const pool3000 = await s.pool3000.getAddress();
        const pool500 = await s.pool.getAddress();
        const weth3000 = (await s.uni.weth.balanceOf(pool3000)) as bigint;
        const weth500 = (await s.uni.weth.balanceOf(pool500)) as bigint;
        const before = await ledger(s);
        const value = withSlippage(quote3000, 50n);
        const tx = s.c.startSession(HOUR, SPHERON, CONFIG, { value });
        const receipt = await mined(tx);
        await expect(tx)
          .to.emit(s.bridge, "ComputeRequested")
          .withArgs(s.agent.address, await instanceIdOf(s, tx), SPHERON, HOUR, cost, value, quote3000, value - quote3000);
        expect(((await s.uni.weth.balanceOf(pool3000)) as bigint) - weth3000).to.equal(quote3000);
        expect(await s.uni.weth.balanceOf(pool500)).to.equal(weth500);
        const after = await ledger(s);
        expect(before.agentEth - after.agentEth).to.equal(quote3000 + receipt.fee);
        expect(after.computeUsdc - before.computeUsdc).to.equal(cost);
        expectNothingLeftBehind(after);
      });

      it("when the new tier has no pool (1%), ETH payments revert with SwapFailed('0x') and the agent loses only gas", async () => {
        const s = await loadFixture(systemFixture);
        await expect(s.bridge.connect(s.admin).setPoolFee(10_000)).to.emit(s.bridge, "PoolFeeSet").withArgs(10_000);
        const before = await ledger(s);
        await expect(s.c.startSession(HOUR, SPHERON, CONFIG, { value: ethers.parseEther("0.01") }))
          .to.be.revertedWithCustomError(s.bridge, "SwapFailed")
          .withArgs("0x");
        const fee = await feeOfLastTx(s.agent.address);
        expect(before.agentEth - (await ethOf(s.agent.address))).to.equal(fee);
      });

      it("accepts the largest valid fee, 999_999", async () => {
        const s = await loadFixture(systemFixture);
        await expect(s.bridge.connect(s.admin).setPoolFee(999_999)).to.emit(s.bridge, "PoolFeeSet").withArgs(999_999);
        expect(await s.bridge.poolFee()).to.equal(999_999n);
      });

      for (const fee of [0, 1_000_000]) {
        it(`when the fee is ${fee}, reverts with InvalidPoolFee(${fee}) and keeps the old fee`, async () => {
          const s = await loadFixture(systemFixture);
          await expect(s.bridge.connect(s.admin).setPoolFee(fee)).to.be.revertedWithCustomError(s.bridge, "InvalidPoolFee").withArgs(fee);
          expect(await s.bridge.poolFee()).to.equal(500n);
        });
      }
    });

    describe("when called by anyone but the admin", () => {
      for (const who of ["agent", "keeper", "deployer", "treasury"] as const) {
        it(`(${who}) reverts with AccessControlUnauthorizedAccount(${who}, DEFAULT_ADMIN_ROLE)`, async () => {
          const s = await loadFixture(systemFixture);
          const signer = s[who];
          await expect(s.bridge.connect(signer).setPoolFee(3000))
            .to.be.revertedWithCustomError(s.bridge, "AccessControlUnauthorizedAccount")
            .withArgs(signer.address, DEFAULT_ADMIN_ROLE);
          expect(await s.bridge.poolFee()).to.equal(500n);
        });
      }
    });
  });
});
