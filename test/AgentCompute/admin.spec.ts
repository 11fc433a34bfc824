import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { AgentCompute__factory } from "../../typechain-types";
import { systemFixture, startActive, System, HOUR, SPHERON, CONFIG, USDC } from "../shared/fixtures";

const ZERO = ethers.ZeroAddress;

describe("AgentCompute administration", () => {
  describe("constructor", () => {
    it("registers SPHERON, AKASH and IONET as active with their prices and emits ProviderSet for each", async () => {
      const [d] = await ethers.getSigners();
      const c = await new AgentCompute__factory(d).deploy(d.address, d.address, d.address, [1n, 2n, 3n]);
      const tx = c.deploymentTransaction()!;
      for (const [id, price] of [
        [0, 1n],
        [1, 2n],
        [2, 3n],
      ] as const) {
        await expect(tx).to.emit(c, "ProviderSet").withArgs(id, price, true);
      }
      await expect(tx).to.emit(c, "TreasurySet").withArgs(d.address);
      expect(await c.SPHERON()).to.equal(0);
      expect(await c.AKASH()).to.equal(1);
      expect(await c.IONET()).to.equal(2);
    });

    it("rejects a zero USDC or admin address with ZeroAddress, and a zero treasury with InvalidTreasury", async () => {
      const [d] = await ethers.getSigners();
      const f = new AgentCompute__factory(d);
      for (const args of [
        [ZERO, d.address, d.address],
        [d.address, ZERO, d.address],
      ] as const) {
        await expect(f.deploy(args[0], args[1], args[2], [1n, 1n, 1n])).to.be.revertedWithCustomError(f, "ZeroAddress");
      }
      await expect(f.deploy(d.address, d.address, ZERO, [1n, 1n, 1n]))
        .to.be.revertedWithCustomError(f, "InvalidTreasury")
        .withArgs(ZERO);
    });

    it("rejects its own future address as treasury with InvalidTreasury (escrow would be stuck)", async () => {
      const [d] = await ethers.getSigners();
      const f = new AgentCompute__factory(d);
      const self = ethers.getCreateAddress({ from: d.address, nonce: await ethers.provider.getTransactionCount(d.address) });
      await expect(f.deploy(d.address, d.address, self, [1n, 1n, 1n]))
        .to.be.revertedWithCustomError(f, "InvalidTreasury")
        .withArgs(self);
    });

    it("rejects a zero seed price with InvalidPrice", async () => {
      const [d] = await ethers.getSigners();
      const f = new AgentCompute__factory(d);
      await expect(f.deploy(d.address, d.address, d.address, [1n, 0n, 1n])).to.be.revertedWithCustomError(f, "InvalidPrice");
    });
  });

  describe("setProvider", () => {
    it("adds a new provider without a redeploy, usable at once", async () => {
      const s = await loadFixture(systemFixture);
      await expect(s.compute.connect(s.admin).setProvider(7, USDC("0.25"), true))
        .to.emit(s.compute, "ProviderSet")
        .withArgs(7, USDC("0.25"), true);
      expect(await s.compute.getProvider(7)).to.deep.equal([USDC("0.25"), true]);
      await expect(s.c.startSession(HOUR, 7, CONFIG)).to.emit(s.compute, "SessionStarted");
    });

    it("rejects a zero price and one above MAX_PRICE_PER_HOUR with InvalidPrice", async () => {
      const s = await loadFixture(systemFixture);
      const max = await s.compute.MAX_PRICE_PER_HOUR();
      await expect(s.compute.connect(s.admin).setProvider(3, 0, true)).to.be.revertedWithCustomError(s.compute, "InvalidPrice");
      await expect(s.compute.connect(s.admin).setProvider(3, max + 1n, true)).to.be.revertedWithCustomError(s.compute, "InvalidPrice");
      await expect(s.compute.connect(s.admin).setProvider(3, max, true)).to.emit(s.compute, "ProviderSet");
    });
  });

  describe("setTreasury and setBridge", () => {
    it("setTreasury changes the treasury and rejects zero and the contract itself with InvalidTreasury", async () => {
      const s = await loadFixture(systemFixture);
      await expect(s.compute.connect(s.admin).setTreasury(s.other.address)).to.emit(s.compute, "TreasurySet").withArgs(s.other.address);
      expect(await s.compute.treasury()).to.equal(s.other.address);
      await expect(s.compute.connect(s.admin).setTreasury(ZERO)).to.be.revertedWithCustomError(s.compute, "InvalidTreasury").withArgs(ZERO);
      const self = await s.compute.getAddress();
      await expect(s.compute.connect(s.admin).setTreasury(self)).to.be.revertedWithCustomError(s.compute, "InvalidTreasury").withArgs(self);
      expect(await s.compute.treasury()).to.equal(s.other.address);
    });

    it("setBridge to zero disables ETH payments with BridgeNotSet; USDC still works", async () => {
      const s = await loadFixture(systemFixture);
      await expect(s.compute.connect(s.admin).setBridge(ZERO)).to.emit(s.compute, "BridgeSet").withArgs(ZERO);
      await expect(s.c.startSession(HOUR, SPHERON, CONFIG, { value: 1n })).to.be.revertedWithCustomError(s.compute, "BridgeNotSet");
      await expect(s.c.startSession(HOUR, SPHERON, CONFIG)).to.emit(s.compute, "SessionStarted");
    });
  });

  describe("pause", () => {
    it("gates every payment (starts, extensions, renewals on every path) and nothing that lets money leave or sets terms", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await s.c.setAutoRenewal(id, HOUR, 1_000_000n, 1_000_000n);
      await time.increase(1800);
      await s.compute.connect(s.admin).pause();
      const permit = { value: 1n, deadline: 1n, v: 27, r: ethers.ZeroHash, s: ethers.ZeroHash };
      const max = ethers.MaxUint256;
      const gated: [string, () => Promise<unknown>][] = [
        ["startSession", () => s.c.startSession(HOUR, SPHERON, CONFIG)],
        ["startSessionWithMaxCost", () => s.c.startSessionWithMaxCost(HOUR, SPHERON, CONFIG, max)],
        ["startSessionWithPermit", () => s.c.startSessionWithPermit(HOUR, SPHERON, CONFIG, max, permit)],
        ["extendSession", () => s.c.extendSession(id, HOUR)],
        ["extendSessionWithMaxCost", () => s.c.extendSessionWithMaxCost(id, HOUR, max)],
        ["extendSessionWithPermit", () => s.c.extendSessionWithPermit(id, HOUR, max, permit)],
        ["renew", () => s.compute.connect(s.keeper).renew(id)],
      ];
      for (const [name, call] of gated) await expect(call(), name).to.be.revertedWithCustomError(s.compute, "EnforcedPause");
      await expect(s.c.setAutoRenewal(id, HOUR, 1n, 1n)).to.emit(s.compute, "AutoRenewalSet");
      await expect(s.c.stopAutoRenewal(id)).to.emit(s.compute, "AutoRenewalStopped");
      await expect(s.compute.connect(s.keeper).claim(id)).to.emit(s.compute, "EscrowClaimed");
      await expect(s.compute.withdraw(s.treasury.address)).to.emit(s.compute, "Withdrawn");
      await expect(s.compute.connect(s.keeper).recordOutcome(id, 4, "x")).to.emit(s.compute, "OutcomeRecorded");
      await expect(s.c.endSession(id)).to.emit(s.compute, "SessionEnded");
    });

    it("pause and unpause by the admin emit Paused / Unpaused and gate new payments only", async () => {
      const s = await loadFixture(systemFixture);
      const id = await startActive(s);
      await expect(s.compute.connect(s.admin).pause()).to.emit(s.compute, "Paused").withArgs(s.admin.address);
      await expect(s.c.startSession(HOUR, SPHERON, CONFIG)).to.be.revertedWithCustomError(s.compute, "EnforcedPause");
      await expect(s.c.extendSession(id, HOUR)).to.be.revertedWithCustomError(s.compute, "EnforcedPause");
      await expect(s.compute.connect(s.admin).pause()).to.be.revertedWithCustomError(s.compute, "EnforcedPause");
      await expect(s.compute.connect(s.admin).unpause()).to.emit(s.compute, "Unpaused").withArgs(s.admin.address);
      await expect(s.compute.connect(s.admin).unpause()).to.be.revertedWithCustomError(s.compute, "ExpectedPause");
      await expect(s.c.extendSession(id, HOUR)).to.emit(s.compute, "SessionExtended");
    });
  });

  describe("access control matrix", () => {
    type Call = (s: System, id: string) => Promise<unknown>;
    const KEEPER = ethers.id("KEEPER_ROLE");
    const ADMIN = ethers.ZeroHash;
    // Every privileged function, with the role it needs.
    const matrix: [string, string, Call][] = [
      ["setProvider", ADMIN, (s) => s.compute.setProvider(5, 1n, true)],
      ["setTreasury", ADMIN, (s) => s.compute.setTreasury(s.other.address)],
      ["setBridge", ADMIN, (s) => s.compute.setBridge(s.other.address)],
      ["pause", ADMIN, (s) => s.compute.pause()],
      ["unpause", ADMIN, (s) => s.compute.unpause()],
      ["grantRole(KEEPER)", ADMIN, (s) => s.compute.grantRole(KEEPER, s.other.address)],
      ["recordOutcome", KEEPER, (s, id) => s.compute.recordOutcome(id, 1, "x")],
      ["recordOutcome(Provisioning)", KEEPER, (s, id) => s.compute.recordOutcome(id, 4, "x")],
      ["claim", KEEPER, (s, id) => s.compute.claim(id)],
      ["renew", KEEPER, (s, id) => s.compute.renew(id)],
      ["recordJobBatch", KEEPER, (s) => s.compute.recordJobBatch(ethers.id("root"), 1, 1n)],
    ];
    const callers = ["deployer", "admin", "keeper", "treasury", "agent", "other"] as const;
    const holds: Record<string, (typeof callers)[number][]> = { [ADMIN]: ["admin"], [KEEPER]: ["keeper"] };

    for (const [name, role, call] of matrix) {
      for (const who of callers) {
        const allowed = holds[role].includes(who);
        it(`${name} from ${who}: ${allowed ? "allowed" : "AccessControlUnauthorizedAccount"}`, async () => {
          const s = await loadFixture(systemFixture);
          const id = await startActive(s);
          if (name === "unpause") await s.compute.connect(s.admin).pause();
          if (name === "claim") await ethers.provider.send("evm_increaseTime", [60]);
          if (name === "renew") await s.c.setAutoRenewal(id, HOUR, HOUR * 1_000_000n, HOUR * 1_000_000n);
          const signer = s[who];
          const connected = { ...s, compute: s.compute.connect(signer) } as System;
          if (allowed) {
            await expect(call(connected, id)).not.to.be.reverted;
          } else {
            await expect(call(connected, id))
              .to.be.revertedWithCustomError(s.compute, "AccessControlUnauthorizedAccount")
              .withArgs(signer.address, role);
          }
        });
      }
    }

    it("the deployer renounced its admin role when handing over to the admin", async () => {
      const s = await loadFixture(systemFixture);
      expect(await s.compute.hasRole(ADMIN, s.deployer.address)).to.equal(false);
      expect(await s.compute.hasRole(ADMIN, s.admin.address)).to.equal(true);
      expect(await s.compute.hasRole(KEEPER, s.keeper.address)).to.equal(true);
    });
  });
});
