import { expect } from "chai";
import https from "node:https";
import { chainSdk } from "../../../../keeper/providers/akash/sdk";
import { ProviderApi, pemToDer } from "../../../../keeper/providers/akash/providerApi";
import { buildSdl } from "../../../../keeper/providers/akash/sdl";
import { addressOf, startAkashNetwork, TENANT_MNEMONIC, type AkashNetwork } from "../../../standins/akash";
import { makeProvider, spec } from "./helpers";

describe("akash provider gateway: mTLS and the manifest hash", () => {
  let net: AkashNetwork;
  let tenant: string;
  let dseq: string;
  let identity: { certPem: string; keyPem: string };
  before(async () => {
    tenant = await addressOf(TENANT_MNEMONIC);
    net = await startAkashNetwork({ blockTimeMs: 20, bidDelayMs: 20, balances: { [tenant]: 100_000_000n }, providers: [{ price: 10 }] });
    const { provider, store } = makeProvider(net);
    await provider.provision({
      idempotencyKey: "m1",
      spec: { ...spec, ports: [8080] } as never,
      endsAt: Math.floor(Date.now() / 1000) + 3600,
    });
    dseq = (await store.deployment("m1"))!.dseq;
    const c = (await store.certificate(tenant))!;
    identity = { certPem: c.cert_pem, keyPem: c.key_pem };
  });
  after(() => net.stop());

  const trusted = () => [pemToDer(net.providers[0].certPem)];

  it("reports services and forwarded ports to the tenant's certificate", async () => {
    const api = new ProviderApi(net.providers[0].hostUri, identity, trusted(), 2_000);
    const st = await api.leaseStatus(dseq, 1, 1);
    expect(st!.services.app.available_replicas).to.equal(1);
    expect(st!.forwarded_ports!.app[0]).to.include({ port: 8080, proto: "TCP" });
  });

  it("refuses a client without a certificate (401)", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      https
        .request(`${net.providers[0].hostUri}/lease/${dseq}/1/1/status`, { rejectUnauthorized: false, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        })
        .on("error", reject)
        .end();
    });
    expect(status).to.equal(401);
    expect(net.providers[0].refusals).to.include("client certificate required");
  });

  it("refuses a certificate that is not published on chain for its owner (403)", async () => {
    const stranger = await chainSdk.certificateManager.generatePEM(tenant); // right CN, never published
    const api = new ProviderApi(net.providers[0].hostUri, { certPem: stranger.cert, keyPem: stranger.privateKey }, trusted(), 2_000);
    const err = await api.sendManifest(dseq, "[]").then(
      () => undefined,
      (e) => e,
    );
    expect(err?.code).to.equal("AKASH_PROVIDER_ERROR");
    expect(err?.status).to.equal(403);
  });

  it("rejects a manifest whose hash differs from the deployment's (AKASH_MANIFEST_REJECTED)", async () => {
    const other = await buildSdl({ ...spec, image: "nginx:1.26" }, 100);
    const api = new ProviderApi(net.providers[0].hostUri, identity, trusted(), 2_000);
    const err = await api.sendManifest(dseq, other.manifestJson).then(
      () => undefined,
      (e) => e,
    );
    expect(err?.code).to.equal("AKASH_MANIFEST_REJECTED");
    expect(net.providers[0].refusals).to.include("manifest version mismatch");
  });

  it("refuses to talk to a server whose certificate the provider did not publish (AKASH_PROVIDER_UNTRUSTED)", async () => {
    const api = new ProviderApi(net.providers[0].hostUri, identity, [pemToDer(identity.certPem)], 2_000);
    const err = await api.leaseStatus(dseq, 1, 1).then(
      () => undefined,
      (e) => e,
    );
    expect(err?.code).to.equal("AKASH_PROVIDER_UNTRUSTED");
  });

  it("refuses a plain-http provider URI", () => {
    expect(() => new ProviderApi("http://127.0.0.1:1", identity, trusted(), 1_000)).to.throw(/not https/);
  });
});
