import { expect } from "chai";
import { addressOf, startAkashNetwork, TENANT_MNEMONIC, type AkashNetwork } from "../../../standins/akash";
import { makeProvider, spec } from "./helpers";

describe("akash provider: the whole flow against the stand-in", () => {
  let net: AkashNetwork;
  let tenant: string;
  before(async () => {
    tenant = await addressOf(TENANT_MNEMONIC);
    net = await startAkashNetwork({
      blockTimeMs: 20,
      bidDelayMs: 30,
      balances: { [tenant]: 100_000_000n },
      providers: [{ price: 50 }, { price: 20 }, { price: 80 }],
    });
  });
  after(() => net.stop());

  it("deploys with a deposit, leases the cheapest bid, sends the manifest over mTLS, runs, and closes at terminate", async () => {
    const { provider, store } = makeProvider(net);
    const endsAt = Math.floor(Date.now() / 1000) + 3600;
    const r = await provider.provision({ idempotencyKey: "s1", spec: { ...spec, ports: [8080] } as never, endsAt });
    expect(r.created).to.equal(true);
    const rec = (await store.deployment("s1"))!;
    expect(rec.state).to.equal("running");
    const cheapest = net.providers[1];
    expect(rec.provider).to.equal(cheapest.owner);
    const d = net.chain.deployments.get(`${tenant}/${rec.dseq}`)!;
    expect(d.state).to.equal("active");
    expect(d.deposits[0].amount).to.equal(500_000);
    expect(cheapest.manifests.has(rec.dseq)).to.equal(true);
    expect(net.chain.leases.filter((l) => l.dseq === rec.dseq && l.state === "active")).to.have.length(1);
    expect((await provider.status("s1")).state).to.equal("running");
    const balanceBefore = net.chain.accounts.get(tenant)!.balance;
    await provider.terminate("s1");
    await new Promise((r) => setTimeout(r, 60));
    expect(net.chain.deployments.get(`${tenant}/${rec.dseq}`)!.state).to.equal("closed");
    expect(net.chain.accounts.get(tenant)!.balance > balanceBefore).to.equal(true);
    expect((await store.deployment("s1"))!.state).to.equal("closed");
  });

  it("provisions several sessions at once from one account (txs serialised, no sequence mismatch)", async () => {
    const { provider, store } = makeProvider(net);
    const endsAt = Math.floor(Date.now() / 1000) + 3600;
    const keys = ["p1", "p2", "p3"];
    const results = await Promise.all(keys.map((k) => provider.provision({ idempotencyKey: k, spec, endsAt })));
    expect(results.every((r) => r.created)).to.equal(true);
    const recs = await Promise.all(keys.map(async (k) => (await store.deployment(k))!));
    expect(new Set(recs.map((r) => r.dseq)).size).to.equal(3);
    expect(recs.every((r) => r.state === "running")).to.equal(true);
    expect(net.chain.log.filter((l) => l.code === 32)).to.have.length(0);
  });
});
