/**
 * Signed agent requests (keeper/payments/agentAuth.ts): version 2 names the service, so a signature
 * is worthless at another service; version 1 (no service) only behind AUTH_ACCEPT_V1.
 */
import { expect } from "chai";
import { Keypair } from "@solana/web3.js";
import { Wallet, verifyMessage } from "ethers";
import {
  AUTH_MAX_SKEW_MS,
  AuthPolicy,
  authMessage,
  signAgentRequest,
  signAgentRequestEvm,
  signAgentRequestV1,
  verifyAgentRequest,
} from "../../../keeper/payments/agentAuth";
import { ServiceError } from "../../../keeper/services/jobService";

describe("signed agent requests (v2: the message names the service)", () => {
  const k = Keypair.generate();
  const body = '{"job_id":"x"}';
  const here: AuthPolicy = { serviceId: "solana:HereWa11et1111111111111111111111111111111", acceptV1: false };
  const code = (f: () => unknown) => {
    try {
      f();
      return "ok";
    } catch (e) {
      return (e as ServiceError).code;
    }
  };

  it("the message is 'AgentCompute v2', the service id, method, path, timestamp and the body's sha256, one per line", () => {
    expect(authMessage("https://api.example.com", "post", "/api/v1/scrape", 1700000000000, "{}").toString()).to.equal(
      "AgentCompute v2\nhttps://api.example.com\nPOST\n/api/v1/scrape\n1700000000000\n44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    );
  });

  it("verifies for exactly the signed service, method, path, time window and body", () => {
    const h = signAgentRequest(k.secretKey, here.serviceId, "POST", "/api/v1/scrape", body);
    expect(verifyAgentRequest(h, here, "POST", "/api/v1/scrape", body)).to.equal(k.publicKey.toBase58());
    expect(verifyAgentRequest({}, here, "POST", "/api/v1/scrape", body), "unsigned").to.equal(undefined);
    expect(code(() => verifyAgentRequest(h, here, "GET", "/api/v1/scrape", body))).to.equal("UNAUTHORIZED");
    expect(code(() => verifyAgentRequest(h, here, "POST", "/api/v1/execute", body))).to.equal("UNAUTHORIZED");
    expect(code(() => verifyAgentRequest(h, here, "POST", "/api/v1/scrape", body + " "))).to.equal("UNAUTHORIZED");
    const t = Number(h["x-agent-timestamp"]);
    expect(code(() => verifyAgentRequest(h, here, "POST", "/api/v1/scrape", body, t + AUTH_MAX_SKEW_MS + 1))).to.equal("UNAUTHORIZED");
    expect(code(() => verifyAgentRequest(h, here, "POST", "/api/v1/scrape", body, t + AUTH_MAX_SKEW_MS))).to.equal("ok");
    expect(code(() => verifyAgentRequest({ ...h, "x-agent-pubkey": "0xnot" }, here, "POST", "/api/v1/scrape", body))).to.equal(
      "UNAUTHORIZED",
    );
  });

  it("a signature made for another service is refused (UNAUTHORIZED naming this service), even with v1 accepted", () => {
    const elsewhere = signAgentRequest(k.secretKey, "https://other.example", "POST", "/api/v1/scrape", body);
    for (const policy of [here, { ...here, acceptV1: true }]) {
      let err: ServiceError | undefined;
      try {
        verifyAgentRequest(elsewhere, policy, "POST", "/api/v1/scrape", body);
      } catch (e) {
        err = e as ServiceError;
      }
      expect(err?.code).to.equal("UNAUTHORIZED");
      expect(err?.httpStatus).to.equal(401);
      expect(err?.message).to.contain(here.serviceId);
    }
  });

  it("v1 (no service id) is AUTH_V1_REFUSED by default and accepted with AUTH_ACCEPT_V1", () => {
    const v1 = signAgentRequestV1(k.secretKey, "POST", "/api/v1/scrape", body);
    let err: ServiceError | undefined;
    try {
      verifyAgentRequest(v1, here, "POST", "/api/v1/scrape", body);
    } catch (e) {
      err = e as ServiceError;
    }
    expect(err?.code).to.equal("AUTH_V1_REFUSED");
    expect(err?.httpStatus).to.equal(401);
    expect(verifyAgentRequest(v1, { ...here, acceptV1: true }, "POST", "/api/v1/scrape", body)).to.equal(k.publicKey.toBase58());
    // A v1 signature of another body is still just wrong, not "v1".
    expect(code(() => verifyAgentRequest(v1, { ...here, acceptV1: true }, "POST", "/api/v1/scrape", "{}"))).to.equal("UNAUTHORIZED");
  });

  describe("EVM agents (EIP-191 over the same v2 message)", () => {
    const w = Wallet.createRandom();

    it("verifies to the checksummed address for exactly the signed service, method, path, time and body", async () => {
      const h = await signAgentRequestEvm(w, here.serviceId, "GET", "/api/v1/jobs/j1", "");
      expect(h["x-agent-address"]).to.equal(w.address);
      // The signature is an ordinary personal_sign of the v2 message: any EVM wallet can make it.
      expect(
        verifyMessage(authMessage(here.serviceId, "GET", "/api/v1/jobs/j1", Number(h["x-agent-timestamp"]), ""), h["x-agent-signature"]),
      ).to.equal(w.address);
      expect(verifyAgentRequest(h, here, "GET", "/api/v1/jobs/j1", "")).to.equal(w.address);
      expect(
        verifyAgentRequest({ ...h, "x-agent-address": w.address.toLowerCase() }, here, "GET", "/api/v1/jobs/j1", ""),
        "any case of the address",
      ).to.equal(w.address);
      expect(code(() => verifyAgentRequest(h, here, "GET", "/api/v1/jobs/j2", ""))).to.equal("UNAUTHORIZED");
      expect(
        code(() => verifyAgentRequest(h, { ...here, serviceId: "https://other.example" }, "GET", "/api/v1/jobs/j1", "")),
        "another service",
      ).to.equal("UNAUTHORIZED");
      const t = Number(h["x-agent-timestamp"]);
      expect(code(() => verifyAgentRequest(h, here, "GET", "/api/v1/jobs/j1", "", t + AUTH_MAX_SKEW_MS + 1))).to.equal("UNAUTHORIZED");
    });

    it("refuses another address, a malformed address or signature, a missing header, and both key kinds at once", async () => {
      const h = await signAgentRequestEvm(w, here.serviceId, "POST", "/api/v1/scrape", body);
      const v = (x: Record<string, string>) => code(() => verifyAgentRequest(x, here, "POST", "/api/v1/scrape", body));
      expect(v({ ...h, "x-agent-address": Wallet.createRandom().address }), "signed by someone else").to.equal("UNAUTHORIZED");
      expect(v({ ...h, "x-agent-address": "0x1234" })).to.equal("UNAUTHORIZED");
      expect(v({ ...h, "x-agent-signature": "0x" + "00".repeat(65) })).to.equal("UNAUTHORIZED");
      expect(v({ ...h, "x-agent-signature": Buffer.from(h["x-agent-signature"].slice(2), "hex").toString("base64") })).to.equal(
        "UNAUTHORIZED",
      );
      expect(v({ "x-agent-address": h["x-agent-address"], "x-agent-timestamp": h["x-agent-timestamp"] })).to.equal("UNAUTHORIZED");
      expect(v({ ...h, "x-agent-pubkey": k.publicKey.toBase58() })).to.equal("UNAUTHORIZED");
      expect(v(h)).to.equal("ok");
    });
  });
});
