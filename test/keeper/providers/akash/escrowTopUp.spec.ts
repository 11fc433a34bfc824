import { expect } from "chai";
import fc from "fast-check";
import { topUpAmount } from "../../../../keeper/providers/akash/escrow";
import { addressOf, startAkashNetwork, TENANT_MNEMONIC, type AkashNetwork } from "../../../standins/akash";
import { makeProvider, spec } from "./helpers";

const DAY = 86_400;

describe("akash escrow top-up: 24 h look-ahead plus a fixed runway", () => {
  it("does nothing while the escrow covers the look-ahead", () => {
    // 6 uakt/block at 6 s = 1 uakt/s: a day needs 86 400.
    expect(topUpAmount({ balance: 86_400, ratePerBlock: 6, blockTimeS: 6, lookaheadS: DAY, runwayS: DAY, remainingS: 10 * DAY })).to.equal(
      0,
    );
  });
  it("tops up to look-ahead + runway when the escrow would run dry within the look-ahead", () => {
    expect(topUpAmount({ balance: 50_000, ratePerBlock: 6, blockTimeS: 6, lookaheadS: DAY, runwayS: DAY, remainingS: 10 * DAY })).to.equal(
      2 * DAY - 50_000,
    );
  });
  it("never plans beyond the session's paid end plus the runway", () => {
    // 2 hours left: needs 7 200; target 7 200 + runway 3 600.
    expect(topUpAmount({ balance: 1_000, ratePerBlock: 6, blockTimeS: 6, lookaheadS: DAY, runwayS: 3_600, remainingS: 7_200 })).to.equal(
      10_800 - 1_000,
    );
    expect(topUpAmount({ balance: 7_200, ratePerBlock: 6, blockTimeS: 6, lookaheadS: DAY, runwayS: 3_600, remainingS: 7_200 })).to.equal(0);
    expect(topUpAmount({ balance: 0, ratePerBlock: 6, blockTimeS: 6, lookaheadS: DAY, runwayS: 3_600, remainingS: 0 })).to.equal(0);
  });
  it("property: after a top-up the look-ahead is covered and no more than look-ahead + runway is held", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 60, max: 7 * DAY }),
        fc.integer({ min: 0, max: 7 * DAY }),
        fc.integer({ min: 1, max: 30 * DAY }),
        (balance, rate, lookaheadS, runwayS, remainingS) => {
          const amount = topUpAmount({ balance, ratePerBlock: rate, blockTimeS: 6, lookaheadS, runwayS, remainingS });
          const perS = rate / 6;
          expect(amount).to.be.at.least(0);
          expect(Number.isInteger(amount)).to.equal(true);
          expect(balance + amount).to.be.at.least(perS * Math.min(lookaheadS, remainingS) - 1e-6);
          if (amount > 0)
            expect(balance + amount).to.be.at.most(Math.ceil(perS * Math.min(lookaheadS + runwayS, remainingS + runwayS)) + 1);
        },
      ),
      { numRuns: 500 },
    );
  });

  describe("executed against the stand-in", () => {
    let net: AkashNetwork;
    let tenant: string;
    before(async () => {
      tenant = await addressOf(TENANT_MNEMONIC);
      net = await startAkashNetwork({ blockTimeMs: 20, bidDelayMs: 20, balances: { [tenant]: 100_000_000n }, providers: [{ price: 60 }] });
    });
    after(() => net.stop());

    it("status() deposits into the deployment's escrow when the look-ahead says it would run dry, and the money adds up", async () => {
      // 60 uakt/block at 6 s = 10 uakt/s: a day needs 864 000, more than the 500 000 deposit.
      const { provider, store } = makeProvider(net);
      const endsAt = Math.floor(Date.now() / 1000) + 10 * DAY;
      await provider.provision({ idempotencyKey: "t1", spec, endsAt });
      const rec = (await store.deployment("t1"))!;
      const d = net.chain.deployments.get(`${tenant}/${rec.dseq}`)!;
      const walletBefore = net.chain.accounts.get(tenant)!.balance;
      expect((await provider.status("t1")).state).to.equal("running");
      await new Promise((r) => setTimeout(r, 60));
      expect(d.deposits).to.have.length(2);
      const topUp = d.deposits[1].amount;
      // Target: 10 uakt/s x (look-ahead + runway) = 1 728 000, minus what was left when checked.
      expect(d.escrow + d.transferred).to.be.closeTo(500_000 + topUp, 1e-6); // nothing created or lost in escrow
      expect(topUp).to.be.within(1_728_000 - 500_000, 1_728_000);
      expect((await store.deployment("t1"))!.deposited).to.equal(String(500_000 + topUp));
      // The wallet paid the top-up and one fee.
      expect(walletBefore - net.chain.accounts.get(tenant)!.balance).to.equal(BigInt(topUp) + 10_000n);
      // Covered now: the next check deposits nothing.
      await provider.status("t1");
      await new Promise((r) => setTimeout(r, 60));
      expect(d.deposits).to.have.length(2);
    });

    it("extend() tops up for the new end", async () => {
      const { provider, store } = makeProvider(net, ":memory:", { topUpCheckMs: 3_600_000, lookaheadS: 60, runwayS: 60 });
      const endsAt = Math.floor(Date.now() / 1000) + 600;
      await provider.provision({ idempotencyKey: "t2", spec, endsAt });
      const d = net.chain.deployments.get(`${tenant}/${(await store.deployment("t2"))!.dseq}`)!;
      await provider.extend("t2", endsAt + 10 * DAY);
      expect((await store.deployment("t2"))!.ends_at).to.equal(endsAt + 10 * DAY);
      // 500 000 covers 60 s look-ahead (600 uakt): nothing to add.
      expect(d.deposits).to.have.length(1);
      const big = makeProvider(net, ":memory:", { lookaheadS: DAY, runwayS: DAY, topUpCheckMs: 3_600_000 });
      await big.provider.provision({ idempotencyKey: "t3", spec, endsAt });
      const d3 = net.chain.deployments.get(`${tenant}/${(await big.store.deployment("t3"))!.dseq}`)!;
      await big.provider.extend("t3", endsAt + 10 * DAY);
      expect(d3.deposits).to.have.length(2);
    });
  });
});
