import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { addressOf, startAkashNetwork, TENANT_MNEMONIC, type AkashNetwork } from "../../../standins/akash";
import { makeProvider, spec } from "./helpers";

describe("akash client certificate: created and published once, kept across restarts", () => {
  let net: AkashNetwork;
  let tenant: string;
  let dir: string;
  before(async () => {
    tenant = await addressOf(TENANT_MNEMONIC);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "akash-cert-"));
    net = await startAkashNetwork({ blockTimeMs: 20, bidDelayMs: 20, balances: { [tenant]: 100_000_000n }, providers: [{ price: 10 }] });
  });
  after(async () => {
    await net.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const certTxs = () =>
    [...net.chain.txs.values()].filter((t) => t.code === 0 && t.typeUrls.includes("/akash.cert.v1.MsgCreateCertificate"));

  it("publishes the certificate with the first deployment and reuses it after a restart", async () => {
    const file = path.join(dir, "keeper.sqlite");
    const first = makeProvider(net, file);
    await first.provider.provision({ idempotencyKey: "c1", spec, endsAt: Math.floor(Date.now() / 1000) + 3600 });
    const cert = (await first.store.certificate(tenant))!;
    expect(cert.published).to.equal(1);
    expect(certTxs()).to.have.length(1);
    first.db.close();

    const second = makeProvider(net, file); // a restarted keeper: same database file
    await second.provider.provision({ idempotencyKey: "c2", spec, endsAt: Math.floor(Date.now() / 1000) + 3600 });
    expect(certTxs()).to.have.length(1);
    expect((await second.store.certificate(tenant))!.cert_pem).to.equal(cert.cert_pem);
    // The manifest of the second deployment was accepted with that same certificate.
    expect(net.providers[0].manifests.has((await second.store.deployment("c2"))!.dseq)).to.equal(true);
    second.db.close();
  });

  it("after a crash between publishing and recording it, finds it on chain instead of publishing again", async () => {
    const file = path.join(dir, "keeper.sqlite");
    const p = makeProvider(net, file);
    p.db.prepare("UPDATE akash_certificates SET published = 0").run();
    await p.provider.ensureCertificate(await p.provider.chain());
    expect(certTxs()).to.have.length(1);
    expect((await p.store.certificate(tenant))!.published).to.equal(1);
    p.db.close();
  });
});
