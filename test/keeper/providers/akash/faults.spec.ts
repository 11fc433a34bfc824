/**
 * The faults the lifecycle must be able to fail over from: each ends in a ProvisionError with a code
 * and a retry decision, within the deadline, and with the deployment closed so the escrow comes back.
 */
import { expect } from "chai";
import { ProvisionError } from "../../../../keeper/providers/provider";
import { addressOf, startAkashNetwork, TENANT_MNEMONIC, type AkashNetwork } from "../../../standins/akash";
import { makeProvider, spec } from "./helpers";

const endsAt = () => Math.floor(Date.now() / 1000) + 3600;
const settle = () => new Promise((r) => setTimeout(r, 80));

async function failure(p: Promise<unknown>): Promise<ProvisionError & { code: string }> {
  const err = await p.then(
    () => undefined,
    (e) => e,
  );
  expect(err, "expected provisioning to fail").to.be.instanceOf(ProvisionError);
  return err;
}

describe("akash faults: no bids, lease closed by the provider, API timeouts", () => {
  let net: AkashNetwork;
  let tenant: string;
  beforeEach(async () => {
    tenant = await addressOf(TENANT_MNEMONIC);
    net = await startAkashNetwork({ blockTimeMs: 20, bidDelayMs: 20, balances: { [tenant]: 100_000_000n }, providers: [{ price: 10 }] });
  });
  afterEach(() => net.stop());

  it("no bids: AKASH_NO_BIDS, not retryable, the deployment is closed and its deposit returned", async () => {
    net.chain.faults.noBids = true;
    const { provider, store } = makeProvider(net);
    const walletBefore = net.chain.accounts.get(tenant)!.balance;
    const err = await failure(provider.provision({ idempotencyKey: "nb", spec, endsAt: endsAt() }));
    expect(err.code).to.equal("AKASH_NO_BIDS");
    expect(err.retryable).to.equal(false);
    await settle();
    const rec = (await store.deployment("nb"))!;
    expect(rec.state).to.equal("failed");
    const d = net.chain.deployments.get(`${tenant}/${rec.dseq}`)!;
    expect(d.state).to.equal("closed");
    expect(d.escrow).to.equal(0);
    // Only the fees are gone: certificate, create, close.
    expect(walletBefore - net.chain.accounts.get(tenant)!.balance).to.equal(3n * 10_000n);
    expect((await provider.status("nb")).state).to.equal("failed");
  });

  it("bids above the price ceiling count as no acceptable bid", async () => {
    const { provider } = makeProvider(net, ":memory:", { maxPricePerBlock: 5 });
    const err = await failure(provider.provision({ idempotencyKey: "cheap", spec, endsAt: endsAt() }));
    expect(err.code).to.equal("AKASH_NO_BIDS");
  });

  it("the provider accepts the manifest, then closes the lease before the service is up: AKASH_LEASE_CLOSED, retryable, deployment closed", async () => {
    net.providers[0].faults.closeLeaseAfterManifestMs = 0;
    net.providers[0].faults.startupMs = 10_000;
    const { provider, store } = makeProvider(net);
    const err = await failure(provider.provision({ idempotencyKey: "lc", spec, endsAt: endsAt() }));
    expect(err.code).to.equal("AKASH_LEASE_CLOSED");
    expect(err.retryable).to.equal(true);
    await settle();
    const rec = (await store.deployment("lc"))!;
    expect(rec.state).to.equal("failed");
    expect(net.chain.deployments.get(`${tenant}/${rec.dseq}`)!.state).to.equal("closed");
    // A retry with the same key starts a fresh deployment (new dseq), it does not reuse the dead one.
    net.providers[0].faults.closeLeaseAfterManifestMs = undefined;
    net.providers[0].faults.startupMs = 0;
    const r = await provider.provision({ idempotencyKey: "lc", spec, endsAt: endsAt() });
    expect(r.created).to.equal(true);
    expect((await store.deployment("lc"))!.dseq).to.not.equal(rec.dseq);
    expect((await store.deployment("lc"))!.attempt).to.equal(1);
  });

  it("the provider closes the lease after the workload is running: status() reports failed", async () => {
    const { provider, store } = makeProvider(net);
    await provider.provision({ idempotencyKey: "late", spec, endsAt: endsAt() });
    const rec = (await store.deployment("late"))!;
    net.chain.providerClosesLease(tenant, rec.dseq, rec.provider!);
    const st = await provider.status("late");
    expect(st.state).to.equal("failed");
    expect(st.detail).to.match(/AKASH_LEASE_CLOSED/);
    await provider.terminate("late");
    await settle();
    expect(net.chain.deployments.get(`${tenant}/${rec.dseq}`)!.state).to.equal("closed");
  });

  it("chain API slower than the request timeout: AKASH_API_TIMEOUT, retryable, within the deadline", async () => {
    const { provider } = makeProvider(net, ":memory:", {
      chain: { restUrl: net.restUrl, chainId: net.chain.chainId, mnemonic: TENANT_MNEMONIC, timeoutMs: 150, txPollMs: 10 },
    });
    net.chain.faults.slowMs = 1_000;
    const t0 = Date.now();
    const err = await failure(provider.provision({ idempotencyKey: "slow", spec, endsAt: endsAt() }));
    expect(err.code).to.equal("AKASH_API_TIMEOUT");
    expect(err.retryable).to.equal(true);
    expect(Date.now() - t0).to.be.below(5_000);
    expect((await provider.health()).ok).to.equal(false);
  });

  it("provider gateway slower than the request timeout: AKASH_PROVIDER_TIMEOUT, retryable; a retry resumes the same deployment", async () => {
    const { provider, store } = makeProvider(net, ":memory:", { requestTimeoutMs: 150 });
    net.providers[0].faults.slowMs = 1_000;
    const err = await failure(provider.provision({ idempotencyKey: "pslow", spec, endsAt: endsAt() }));
    expect(err.code).to.equal("AKASH_PROVIDER_TIMEOUT");
    expect(err.retryable).to.equal(true);
    const rec = (await store.deployment("pslow"))!;
    expect(rec.state).to.equal("sending_manifest");
    net.providers[0].faults.slowMs = 0;
    const r = await provider.provision({ idempotencyKey: "pslow", spec, endsAt: endsAt() });
    expect(r.created).to.equal(false);
    expect((await store.deployment("pslow"))!.dseq).to.equal(rec.dseq);
    expect(net.chain.leases.filter((l) => l.dseq === rec.dseq)).to.have.length(1);
  });

  it("txs that landed but cannot be confirmed (tx index down): each step is verified on chain instead, one deployment, one lease", async () => {
    const { provider, store } = makeProvider(net, ":memory:", {
      chain: { restUrl: net.restUrl, chainId: net.chain.chainId, mnemonic: TENANT_MNEMONIC, timeoutMs: 1_000, txPollMs: 10, txWaitMs: 200 },
    });
    await provider.ensureCertificate(await provider.chain());
    net.chain.faults.hideTxs = true;
    const r = await provider.provision({ idempotencyKey: "hidden", spec, endsAt: endsAt() });
    expect(r.created).to.equal(true);
    expect((await store.deployment("hidden"))!.state).to.equal("running");
    expect([...net.chain.deployments.values()].filter((d) => d.owner === tenant)).to.have.length(1);
    expect(net.chain.leases).to.have.length(1);
    expect([...net.chain.txs.values()].filter((t) => t.typeUrls.includes("/akash.deployment.v1beta4.MsgCreateDeployment"))).to.have.length(
      1,
    );
  });

  it("a certificate tx that cannot be confirmed: AKASH_TX_NOT_INCLUDED, retryable; the retry finds it on chain and does not publish twice", async () => {
    const { provider } = makeProvider(net, ":memory:", {
      chain: { restUrl: net.restUrl, chainId: net.chain.chainId, mnemonic: TENANT_MNEMONIC, timeoutMs: 1_000, txPollMs: 10, txWaitMs: 200 },
    });
    net.chain.faults.hideTxs = true;
    // The certificate tx lands but the keeper cannot confirm it: the step fails fast and retryable.
    const err = await failure(provider.provision({ idempotencyKey: "lost-tx", spec, endsAt: endsAt() }));
    expect(err.code).to.equal("AKASH_TX_NOT_INCLUDED");
    expect(err.retryable).to.equal(true);
    net.chain.faults.hideTxs = false;
    await provider.provision({ idempotencyKey: "lost-tx", spec, endsAt: endsAt() });
    const certTxs = [...net.chain.txs.values()].filter((t) => t.code === 0 && t.typeUrls.includes("/akash.cert.v1.MsgCreateCertificate"));
    expect(certTxs).to.have.length(1); // found on chain on the retry, not published twice
  });

  it("a service that never comes up: AKASH_PROVISION_DEADLINE, deployment closed", async () => {
    net.providers[0].faults.startupMs = 60_000;
    const { provider, store } = makeProvider(net, ":memory:", { provisionDeadlineMs: 1_000 });
    const err = await failure(provider.provision({ idempotencyKey: "never", spec, endsAt: endsAt() }));
    expect(err.code).to.equal("AKASH_PROVISION_DEADLINE");
    await settle();
    expect(net.chain.deployments.get(`${tenant}/${(await store.deployment("never"))!.dseq}`)!.state).to.equal("closed");
  });
});
