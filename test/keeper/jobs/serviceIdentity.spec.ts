/**
 * The service id signed requests name (agentAuth v2): PUBLIC_URL's origin when set, else
 * "solana:<service wallet>"; published at GET /api/v1/service and in /health. A request signed for
 * another id (another keeper, or this one under its other name) is refused.
 */
import { expect } from "chai";
import { Keypair } from "@solana/web3.js";
import { signAgentRequest } from "../../../keeper/payments/agentAuth";
import { startWattWorld, WattWorld } from "./solanaFixture";

describe("the service id of signed requests", function () {
  this.timeout(60_000);
  let w: WattWorld | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  it("without PUBLIC_URL: solana:<service wallet>, in GET /api/v1/service and /health, with the wallet, mint, prices and auth versions", async () => {
    w = await startWattWorld();
    const id = `solana:${w.service.publicKey.toBase58()}`;
    const svc = await w.h.get("/api/v1/service");
    expect(svc.body).to.include({
      success: true,
      service_id: id,
      wallet: w.service.publicKey.toBase58(),
      watt_mint: w.mint.toBase58(),
      watt_decimals: 9,
    });
    expect(svc.body.prices.scrape).to.include({ simple: 100, standard: 200 });
    expect(svc.body.auth.versions).to.deep.equal([2]);
    expect((await w.h.get("/health")).body).to.include({ service_id: id });
    expect(w.h.serviceId).to.equal(id);
  });

  it("with PUBLIC_URL: its origin; a request signed for the wallet id (or another origin) is UNAUTHORIZED, for the origin it pays", async () => {
    w = await startWattWorld({ PUBLIC_URL: "https://api.example.com/some/path", AUTH_ACCEPT_V1: "true" });
    expect((await w.h.get("/api/v1/service")).body).to.include({ service_id: "https://api.example.com" });
    expect((await w.h.get("/api/v1/service")).body.auth.versions).to.deep.equal([1, 2]);
    const a = Keypair.generate();
    await w.h.grant(a, 100);
    for (const other of [`solana:${w.service.publicKey.toBase58()}`, "https://api.example.org"]) {
      const headers = signAgentRequest(a.secretKey, other, "GET", "/api/v1/balance", "");
      const r = await w.h.get("/api/v1/balance", { headers });
      expect(r.status, other).to.equal(401);
      expect(r.body.code).to.equal("UNAUTHORIZED");
    }
    const ok = await w.h.get("/api/v1/balance", {
      headers: signAgentRequest(a.secretKey, "https://api.example.com", "GET", "/api/v1/balance", ""),
    });
    expect(ok.status, ok.text).to.equal(200);
    expect(ok.body.balance).to.equal(100);
  });
});
