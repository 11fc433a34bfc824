import { expect } from "chai";
import { chooseBid, parseAttributes, type BidView, type ProviderView } from "../../../../keeper/providers/akash/bids";
import { addressOf, startAkashNetwork, TENANT_MNEMONIC, type AkashNetwork } from "../../../standins/akash";
import { makeProvider, spec } from "./helpers";

const bid = (provider: string, price: number, createdAt = 1): BidView => ({ provider, price, createdAt, gseq: 1, oseq: 1, bseq: 0 });

describe("akash bid choice: cheapest acceptable", () => {
  const providers = new Map<string, ProviderView>([
    ["a", { attributes: { region: "eu" }, auditedBy: ["aud1"] }],
    ["b", { attributes: { region: "us" }, auditedBy: [] }],
    ["c", { attributes: { region: "eu" }, auditedBy: [] }],
  ]);
  const open = { maxPricePerBlock: 100, requiredAttributes: {}, auditors: [] };

  it("takes the cheapest bid", () => {
    expect(chooseBid([bid("a", 30), bid("b", 10), bid("c", 20)], providers, open).bid?.provider).to.equal("b");
  });
  it("skips bids above the ceiling", () => {
    const r = chooseBid([bid("b", 101), bid("a", 30)], providers, open);
    expect(r.bid?.provider).to.equal("a");
    expect(r.rejected).to.deep.equal([{ provider: "b", reason: "price" }]);
  });
  it("requires every configured attribute", () => {
    const r = chooseBid([bid("b", 10), bid("c", 20)], providers, { ...open, requiredAttributes: { region: "eu" } });
    expect(r.bid?.provider).to.equal("c");
    expect(r.rejected[0]).to.deep.equal({ provider: "b", reason: "attributes" });
  });
  it("requires an audit by a configured auditor", () => {
    const r = chooseBid([bid("c", 10), bid("a", 40)], providers, { ...open, auditors: ["aud1"] });
    expect(r.bid?.provider).to.equal("a");
  });
  it("returns no bid when none is acceptable, and ties go to the earliest bid", () => {
    expect(chooseBid([bid("b", 500)], providers, open).bid).to.equal(undefined);
    expect(chooseBid([bid("c", 10, 5), bid("a", 10, 3)], providers, open).bid?.provider).to.equal("a");
  });
  it("parses key=value attribute lists and refuses malformed ones", () => {
    expect(parseAttributes("region=eu, tier = community")).to.deep.equal({ region: "eu", tier: "community" });
    expect(() => parseAttributes("region")).to.throw(/key=value/);
  });

  describe("against the stand-in", () => {
    let net: AkashNetwork;
    before(async () => {
      const tenant = await addressOf(TENANT_MNEMONIC);
      net = await startAkashNetwork({
        blockTimeMs: 20,
        bidDelayMs: 20,
        balances: { [tenant]: 100_000_000n },
        providers: [
          { price: 5, attributes: { region: "us" }, auditedBy: ["akash1auditor"] }, // cheapest, wrong region
          { price: 8, attributes: { region: "eu" } }, // right region, not audited
          { price: 12, attributes: { region: "eu" }, auditedBy: ["akash1auditor"] }, // acceptable
          { price: 9, attributes: { region: "eu" }, auditedBy: ["akash1auditor"], silent: true }, // never bids
        ],
      });
    });
    after(() => net.stop());

    it("leases from the cheapest provider with the attributes and audit asked for", async () => {
      const { provider, store } = makeProvider(net, ":memory:", { requiredAttributes: { region: "eu" }, auditors: ["akash1auditor"] });
      await provider.provision({ idempotencyKey: "filtered", spec, endsAt: Math.floor(Date.now() / 1000) + 3600 });
      expect((await store.deployment("filtered"))!.provider).to.equal(net.providers[2].owner);
      expect((await store.deployment("filtered"))!.price).to.equal("12");
    });

    it("without filters takes the cheapest of all", async () => {
      const { provider, store } = makeProvider(net, ":memory:");
      await provider.provision({ idempotencyKey: "open", spec, endsAt: Math.floor(Date.now() / 1000) + 3600 });
      expect((await store.deployment("open"))!.provider).to.equal(net.providers[0].owner);
    });
  });
});
