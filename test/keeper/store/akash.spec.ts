/**
 * keeper/store/akash.ts on real SQLite: each write returns the record as stored, a restart clears
 * the previous attempt's lease, deposits add to the stored figure, and the first certificate is kept.
 */
import { expect } from "chai";
import { openStore, type Store } from "../../../keeper/store/store";

describe("store: akash deployments and certificate", () => {
  let store: Store;
  beforeEach(() => (store = openStore(":memory:")));
  afterEach(() => store.close());

  const first = { workload_key: "k", owner: "akash1owner", dseq: "11", attempt: 0, ends_at: 1_000, manifest_hash: "aa" };

  it("records a deployment, updates it, and restarts it as a fresh attempt", async () => {
    const r = await store.akash.insertDeployment(first);
    expect(r).to.include({ state: "creating", dseq: "11", deposited: "0", provider: null });
    const leased = await store.akash.updateDeployment("k", {
      state: "leasing",
      provider: "akash1prov",
      gseq: 1,
      oseq: 1,
      price: "12",
      deposited: "500",
    });
    expect(leased).to.include({ state: "leasing", provider: "akash1prov", price: "12", deposited: "500" });
    expect(await store.akash.activeDeployments()).to.have.length(1);
    await store.akash.updateDeployment("k", { state: "failed", last_error: "AKASH_LEASE_CLOSED" });
    expect(await store.akash.activeDeployments()).to.deep.equal([]);
    const again = await store.akash.restartDeployment("k", "22", 1, "bb");
    expect(again).to.include({
      state: "creating",
      dseq: "22",
      attempt: 1,
      provider: null,
      price: null,
      deposited: "0",
      manifest_hash: "bb",
      last_error: null,
    });
    expect(await store.akash.deployment("nope")).to.equal(undefined);
  });

  it("adds a top-up to the deposit as stored, not as the caller last saw it", async () => {
    await store.akash.insertDeployment(first);
    await store.akash.updateDeployment("k", { deposited: "500000" });
    await store.akash.addDeposit("k", 1_000);
    expect((await store.akash.addDeposit("k", 250)).deposited).to.equal("501250");
  });

  it("keeps the first certificate saved for an owner and marks it published", async () => {
    const c = await store.akash.saveCertificate({ owner: "akash1owner", cert_pem: "C1", pubkey_pem: "P1", key_pem: "K1" });
    expect(c).to.include({ cert_pem: "C1", published: 0 });
    const kept = await store.akash.saveCertificate({ owner: "akash1owner", cert_pem: "C2", pubkey_pem: "P2", key_pem: "K2" });
    expect(kept).to.include({ cert_pem: "C1", key_pem: "K1" });
    await store.akash.markCertificatePublished("akash1owner");
    expect((await store.akash.certificate("akash1owner"))!.published).to.equal(1);
    expect(await store.akash.certificate("akash1other")).to.equal(undefined);
  });
});
