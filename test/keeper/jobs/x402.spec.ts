/**
 * x402 WATT payments on /scrape and /execute, paid by @x402/fetch with the @x402/svm signer against
 * the Solana stand-in; self-facilitated keeper (the service wallet co-signs as fee payer).
 */
import { expect } from "chai";
import { decodePaymentRequiredHeader } from "@x402/core/http";
import { startPageServer } from "./harness";
import { WATT, WattWorld } from "./solanaFixture";
import { decodePaymentResponseHeader, LOCAL_SOLANA_NETWORK, payingFetch, post, startX402World } from "./x402Fixture";

describe("x402: WATT on Solana with @x402/fetch", function () {
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

  it("answers an unpaid request 402 with PAYMENT-REQUIRED: exact on Solana for this job", async () => {
    const body = { url: `${pages.url}/a`, job_id: "x402-req-1" };
    const r = await post(fetch, w.h.url + "/api/v1/scrape", body);
    expect(r.status).to.equal(402);
    const pr = decodePaymentRequiredHeader(r.headers.get("payment-required")!);
    expect(pr.x402Version).to.equal(2);
    expect(pr.resource.url).to.match(/\/api\/v1\/scrape$/);
    expect(pr.accepts).to.have.length(1);
    const a = pr.accepts[0];
    expect(a).to.include({
      scheme: "exact",
      network: LOCAL_SOLANA_NETWORK,
      asset: w.mint.toBase58(),
      payTo: w.service.publicKey.toBase58(),
      amount: (100n * WATT).toString(),
    });
    expect(a.extra).to.deep.equal({ feePayer: w.service.publicKey.toBase58(), memo: "x402-req-1" });
    expect(pr.extensions).to.have.property("payment-identifier");
  });

  for (const [route, body, price] of [
    ["/api/v1/scrape", (id: string) => ({ url: `${pages?.url}/paid`, job_id: id }), 100n],
    ["/api/v1/execute", (id: string) => ({ job_id: id, language: "python", code: "print(6*7)" }), 300n],
  ] as const) {
    it(`pays ${route} in WATT, charged once, answered with PAYMENT-RESPONSE`, async () => {
      const agent = w.agent(1000n);
      const before = w.serviceBalance();
      const f = await payingFetch(w, agent);
      const jobId = `x402-${route.split("/").pop()}-${Date.now()}`;
      const r = await post(f, w.h.url + route, body(jobId));
      const answer = await r.json();
      expect(r.status, JSON.stringify(answer)).to.equal(200);
      expect(answer).to.include({ success: true, job_id: jobId, watt_charged: Number(price) });
      if (route.endsWith("execute")) expect(answer.output.stdout).to.equal("42\n");
      const receipt = decodePaymentResponseHeader(r.headers.get("payment-response")!);
      expect(receipt).to.include({ success: true, network: LOCAL_SOLANA_NETWORK, payer: agent.publicKey.toBase58() });
      // the money moved once, on chain, from the agent to the service; the job is the payer's
      expect(w.serviceBalance() - before).to.equal(price * WATT);
      expect(w.sol.tokenBalance(agent.publicKey, w.mint)).to.equal((1000n - price) * WATT);
      const job = w.h.db.prepare("SELECT agent, payment, signature, charged FROM jobs WHERE job_id = ?").get(jobId) as Record<
        string,
        string
      >;
      expect(job).to.deep.equal({
        agent: agent.publicKey.toBase58(),
        payment: "onchain",
        signature: receipt.transaction,
        charged: (price * WATT).toString(),
      });
      const s = w.h.db.prepare("SELECT state, tx_signature, payer FROM x402_settlements WHERE job_id = ?").get(jobId);
      expect(s).to.deep.equal({ state: "settled", tx_signature: receipt.transaction, payer: agent.publicKey.toBase58() });
      // the fee payer is the service wallet: the agent paid no SOL
      const tx = w.sol.ledger.txs.get(receipt.transaction)!;
      expect(
        (tx.parsed as { transaction: { message: { accountKeys: { pubkey: string }[] } } }).transaction.message.accountKeys[0].pubkey,
      ).to.equal(w.service.publicKey.toBase58());
      expect((await w.h.totals()).discrepancy).to.equal(0n);
    });
  }

  it("a job that fails and is refunded keeps the payment in the payer's prepaid balance", async () => {
    const agent = w.agent(1000n);
    const f = await payingFetch(w, agent);
    const r = await post(f, w.h.url + "/api/v1/scrape", { url: "http://nonexistent-host.invalid/x", job_id: `x402-fail-${Date.now()}` });
    const a = await r.json();
    expect(a).to.include({ code: "SCRAPE_FAILED", reason: "unreachable", watt_charged: 0, watt_refunded: 100 });
    expect(r.headers.get("payment-response")).to.be.a("string"); // the WATT moved before the job ran
    expect(w.h.balance(agent)).to.equal(100n * WATT);
    expect((await w.h.totals()).discrepancy).to.equal(0n);
  });
});
