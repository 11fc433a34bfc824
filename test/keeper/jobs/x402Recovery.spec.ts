/**
 * A pending x402 settlement left by a keeper killed between recording it and knowing its outcome
 * (the state the keeper writes before it sends: store/x402.ts) is resolved from chain at the retry:
 * sent and landed -> the job runs, charged once; never sent and its blockhash expired ->
 * X402_SETTLEMENT_FAILED, nothing charged; never sent and still valid -> sent now, charged once.
 */
import crypto from "node:crypto";
import { expect } from "chai";
import { Keypair, VersionedTransaction } from "@solana/web3.js";
import { encodeBase58 } from "ethers";
import { payloadHashOf } from "../../../keeper/payments/x402";
import { startPageServer } from "./harness";
import { WATT, WattWorld } from "./solanaFixture";
import { paymentRequired, post, signedPayment, startX402World } from "./x402Fixture";

describe("x402: pending settlements after a crash", function () {
  this.timeout(60_000);
  let w: WattWorld;
  let pages: Awaited<ReturnType<typeof startPageServer>>;
  before(async () => {
    pages = await startPageServer();
    w = await startX402World();
  });
  after(async () => {
    await w.close();
    await pages.close();
  });

  /** A payment and the pending row the keeper wrote for it before it died; returns the co-signed transaction. */
  async function crashedAfterRecording(agent: Keypair, b: { job_id: string }) {
    const req = (await paymentRequired(w, "/api/v1/scrape", b)).accepts[0];
    const { header, payload } = await signedPayment(w, agent, req);
    const tx = VersionedTransaction.deserialize(Buffer.from((payload.payload as { transaction: string }).transaction, "base64"));
    const message = tx.message.serialize();
    tx.sign([w.service]); // the fee payer's co-signature (ed25519: the same bytes the keeper would make)
    const signature = encodeBase58(tx.signatures[0]);
    await w.h.store.x402.insertPending({
      payment_key: `svm:${crypto.createHash("sha256").update(message).digest("hex")}`,
      rail: "svm",
      network: req.network,
      job_id: b.job_id,
      service: "scrape",
      request_hash: "-",
      payer: agent.publicKey.toBase58(),
      asset: req.asset,
      amount: req.amount,
      payload_hash: payloadHashOf(payload),
      payment_id: null,
      tx_signature: signature,
      valid_until: null,
    });
    return { header, tx, signature };
  }
  const state = (jobId: string) =>
    (w.h.db.prepare("SELECT state FROM x402_settlements WHERE job_id = ?").get(jobId) as { state: string }).state;

  it("sent before the crash: found on chain, the job runs and is charged once", async () => {
    const agent = w.agent(1000n);
    const b = { url: `${pages.url}/c1`, job_id: `crash-sent-${Date.now()}` };
    const { header, tx, signature } = await crashedAfterRecording(agent, b);
    await w.conn.sendRawTransaction(tx.serialize(), { skipPreflight: true });
    const service = w.serviceBalance();
    const r = await post(fetch, w.h.url + "/api/v1/scrape", b, { "payment-signature": header });
    expect(r.status).to.equal(200);
    expect(state(b.job_id)).to.equal("settled");
    expect(w.serviceBalance()).to.equal(service); // nothing more moved: it had landed already
    expect(w.sol.tokenBalance(agent.publicKey, w.mint)).to.equal(900n * WATT);
    expect((w.h.db.prepare("SELECT signature FROM jobs WHERE job_id = ?").get(b.job_id) as { signature: string }).signature).to.equal(
      signature,
    );
    expect((await w.h.totals()).discrepancy).to.equal(0n);
  });

  it("never sent and its blockhash expired: X402_SETTLEMENT_FAILED, nothing charged, decided for good", async () => {
    const agent = w.agent(1000n);
    const b = { url: `${pages.url}/c2`, job_id: `crash-expired-${Date.now()}` };
    const { header } = await crashedAfterRecording(agent, b);
    w.sol.ledger.advance(200);
    for (let i = 0; i < 2; i++) {
      const r = await post(fetch, w.h.url + "/api/v1/scrape", b, { "payment-signature": header });
      expect(r.status).to.equal(402);
      expect((await r.json()).code).to.equal("X402_SETTLEMENT_FAILED");
    }
    expect(state(b.job_id)).to.equal("failed");
    expect(w.sol.tokenBalance(agent.publicKey, w.mint)).to.equal(1000n * WATT);
  });

  it("never sent and still valid: sent at the retry, charged once", async () => {
    const agent = w.agent(1000n);
    const b = { url: `${pages.url}/c3`, job_id: `crash-unsent-${Date.now()}` };
    const { header } = await crashedAfterRecording(agent, b);
    const r = await post(fetch, w.h.url + "/api/v1/scrape", b, { "payment-signature": header });
    expect(r.status).to.equal(200);
    expect(state(b.job_id)).to.equal("settled");
    expect(w.sol.tokenBalance(agent.publicKey, w.mint)).to.equal(900n * WATT);
  });
});
