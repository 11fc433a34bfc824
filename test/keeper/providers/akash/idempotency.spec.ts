import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { dseqFor } from "../../../../keeper/providers/akash/akashProvider";
import { addressOf, startAkashNetwork, TENANT_MNEMONIC, type AkashNetwork } from "../../../standins/akash";
import { makeProvider, spec } from "./helpers";

const endsAt = () => Math.floor(Date.now() / 1000) + 3600;

describe("akash idempotency: one deployment per session key, resumed after a restart", () => {
  let net: AkashNetwork;
  let tenant: string;
  let dir: string;
  beforeEach(async () => {
    tenant = await addressOf(TENANT_MNEMONIC);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "akash-idem-"));
    net = await startAkashNetwork({
      blockTimeMs: 20,
      bidDelayMs: 20,
      balances: { [tenant]: 100_000_000n },
      providers: [{ price: 10 }, { price: 11 }],
    });
  });
  afterEach(async () => {
    await net.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const deploymentsOf = () => [...net.chain.deployments.values()].filter((d) => d.owner === tenant);

  it("dseq is derived from the key and the attempt, and is a positive safe integer", () => {
    expect(dseqFor("k", 0)).to.equal(dseqFor("k", 0));
    expect(dseqFor("k", 0)).to.not.equal(dseqFor("k", 1));
    expect(dseqFor("k", 0)).to.not.equal(dseqFor("l", 0));
    const n = Number(dseqFor("k", 0));
    expect(Number.isSafeInteger(n) && n > 0).to.equal(true);
  });

  it("provision twice with the same key returns the same workload (created: false)", async () => {
    const { provider } = makeProvider(net);
    const a = await provider.provision({ idempotencyKey: "same", spec, endsAt: endsAt() });
    const b = await provider.provision({ idempotencyKey: "same", spec, endsAt: endsAt() });
    expect(a.created).to.equal(true);
    expect(b.created).to.equal(false);
    expect(b.ref).to.equal(a.ref);
    expect(deploymentsOf()).to.have.length(1);
    expect(net.chain.leases).to.have.length(1);
  });

  it("concurrent provision calls with one key create one deployment", async () => {
    const { provider } = makeProvider(net);
    const [a, b] = await Promise.all([
      provider.provision({ idempotencyKey: "race", spec, endsAt: endsAt() }),
      provider.provision({ idempotencyKey: "race", spec, endsAt: endsAt() }),
    ]);
    expect([a.created, b.created].sort()).to.deep.equal([false, true]);
    expect(deploymentsOf()).to.have.length(1);
  });

  it("a keeper that lost its record after broadcasting finds the deployment on chain and resumes it", async () => {
    const file = path.join(dir, "k.sqlite");
    const first = makeProvider(net, file);
    await first.provider.provision({ idempotencyKey: "lost", spec, endsAt: endsAt() });
    const dseq = (await first.store.deployment("lost"))!.dseq;
    // Simulate a crash right after MsgCreateDeployment was broadcast, before anything else was recorded.
    first.db
      .prepare("UPDATE akash_deployments SET state = 'creating', provider = NULL, gseq = NULL, oseq = NULL WHERE workload_key = 'lost'")
      .run();
    first.db.close();
    const second = makeProvider(net, file);
    const r = await second.provider.provision({ idempotencyKey: "lost", spec, endsAt: endsAt() });
    expect(r.created).to.equal(false);
    expect((await second.store.deployment("lost"))!.dseq).to.equal(dseq);
    expect((await second.store.deployment("lost"))!.state).to.equal("running");
    expect(deploymentsOf()).to.have.length(1);
    expect(net.chain.leases.filter((l) => l.dseq === dseq)).to.have.length(1);
    const creates = [...net.chain.txs.values()].filter((t) => t.typeUrls.includes("/akash.deployment.v1beta4.MsgCreateDeployment"));
    expect(creates).to.have.length(1);
    second.db.close();
  });

  it("a keeper whose database lost the session entirely finds the deployment by its derived dseq", async () => {
    const first = makeProvider(net);
    await first.provider.provision({ idempotencyKey: "gone", spec, endsAt: endsAt() });
    const fresh = makeProvider(net); // empty database, same operator account
    const r = await fresh.provider.provision({ idempotencyKey: "gone", spec, endsAt: endsAt() });
    expect(r.created).to.equal(false);
    expect((await fresh.store.deployment("gone"))!.dseq).to.equal((await first.store.deployment("gone"))!.dseq);
    expect(r.ref).to.equal((await first.provider.provision({ idempotencyKey: "gone", spec, endsAt: endsAt() })).ref);
    expect(deploymentsOf()).to.have.length(1);
    expect(net.chain.leases).to.have.length(1);
  });

  it("terminate is idempotent and succeeds for an unknown key", async () => {
    const { provider, store } = makeProvider(net);
    await provider.terminate("never-seen");
    await provider.provision({ idempotencyKey: "t", spec, endsAt: endsAt() });
    await provider.terminate("t");
    await provider.terminate("t");
    await new Promise((r) => setTimeout(r, 60));
    expect(net.chain.deployments.get(`${tenant}/${(await store.deployment("t"))!.dseq}`)!.state).to.equal("closed");
    const closes = [...net.chain.txs.values()].filter((t) => t.typeUrls.includes("/akash.deployment.v1beta4.MsgCloseDeployment"));
    expect(closes.filter((t) => t.code === 0)).to.have.length(1);
    expect((await provider.status("t")).state).to.equal("exited");
  });
});
