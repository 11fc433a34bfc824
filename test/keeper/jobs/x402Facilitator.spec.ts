/**
 * x402 through an external facilitator (X402_FACILITATOR_URL): the keeper verifies and settles over
 * the facilitator's HTTP API (test/standins/x402/facilitator.ts, the maintained facilitator code
 * behind the real routes), and the facilitator's wallet is the fee payer. A lost /settle answer
 * leaves the settlement pending; the retry finds the payment on chain: one job, one charge.
 */
import { expect } from "chai";
import { LAMPORTS_PER_SOL } from "@solana/web3.js";
import { startFacilitatorStandin, FacilitatorStandin } from "../../standins/x402/facilitator";
import { startPageServer } from "./harness";
import { WATT, WattWorld, startWattWorld } from "./solanaFixture";
import { decodePaymentResponseHeader, LOCAL_SOLANA_NETWORK, payingFetch, paymentRequired, post, signedPayment } from "./x402Fixture";

describe("x402 through an external facilitator", function () {
  this.timeout(90_000);
  let w: WattWorld;
  let fac: FacilitatorStandin;
  let pages: Awaited<ReturnType<typeof startPageServer>>;
  before(async () => {
    pages = await startPageServer();
    w = await startWattWorld(
      { X402_SOLANA_NETWORK: LOCAL_SOLANA_NETWORK },
      {
        envFrom: async (sol) => {
          fac = await startFacilitatorStandin({ solanaRpcUrl: sol.url, network: LOCAL_SOLANA_NETWORK });
          sol.airdrop(fac.feePayer.publicKey, BigInt(LAMPORTS_PER_SOL));
          return { X402_FACILITATOR_URL: fac.url };
        },
      },
    );
  });
  after(async () => {
    await w.close();
    await fac.close();
    await pages.close();
  });

  it("offers the facilitator's fee payer and settles through it", async () => {
    const agent = w.agent(1000n);
    const jobId = `fac-${Date.now()}`;
    const pr = await paymentRequired(w, "/api/v1/scrape", { url: `${pages.url}/f`, job_id: jobId });
    expect(pr.accepts[0].extra).to.deep.equal({ feePayer: fac.feePayer.publicKey.toBase58(), memo: jobId });
    const before = { ...fac.calls };
    const f = await payingFetch(w, agent);
    const r = await post(f, w.h.url + "/api/v1/scrape", { url: `${pages.url}/f`, job_id: jobId });
    expect(r.status).to.equal(200);
    const receipt = decodePaymentResponseHeader(r.headers.get("payment-response")!);
    expect(receipt.payer).to.equal(agent.publicKey.toBase58());
    expect(fac.calls.verify - before.verify).to.equal(1);
    expect(fac.calls.settle - before.settle).to.equal(1);
    const tx = w.sol.ledger.txs.get(receipt.transaction)!;
    expect(
      (tx.parsed as { transaction: { message: { accountKeys: { pubkey: string }[] } } }).transaction.message.accountKeys[0].pubkey,
    ).to.equal(fac.feePayer.publicKey.toBase58());
    expect(w.sol.tokenBalance(agent.publicKey, w.mint)).to.equal(900n * WATT);
  });

  it("a lost /settle answer: X402_SETTLEMENT_PENDING, then the retry is recovered from chain and charged once", async () => {
    const agent = w.agent(1000n);
    const b = { url: `${pages.url}/lost`, job_id: `fac-lost-${Date.now()}` };
    const req = (await paymentRequired(w, "/api/v1/scrape", b)).accepts[0];
    const { header } = await signedPayment(w, agent, req);
    // The facilitator settles but its answer is lost, and the keeper's RPC node does not show the transaction yet.
    let landed = "";
    fac.faults.loseSettleAnswers = 1;
    fac.faults.onLostSettle = (sig) => {
      landed = sig;
      w.sol.faults.hidden.add(sig);
    };
    const first = await post(fetch, w.h.url + "/api/v1/scrape", b, { "payment-signature": header });
    expect(first.status).to.equal(503);
    expect((await first.json()).code).to.equal("X402_SETTLEMENT_PENDING");
    expect(w.sol.tokenBalance(agent.publicKey, w.mint)).to.equal(900n * WATT); // it did land
    expect((w.h.db.prepare("SELECT state FROM x402_settlements WHERE job_id = ?").get(b.job_id) as { state: string }).state).to.equal(
      "pending",
    );
    w.sol.faults.hidden.delete(landed); // the RPC node catches up
    const settles = fac.calls.settle;
    const again = await post(fetch, w.h.url + "/api/v1/scrape", b, { "payment-signature": header });
    expect(again.status).to.equal(200);
    expect(decodePaymentResponseHeader(again.headers.get("payment-response")!).transaction).to.equal(landed);
    expect(fac.calls.settle).to.equal(settles); // found on chain, not settled again
    expect(w.sol.tokenBalance(agent.publicKey, w.mint)).to.equal(900n * WATT);
    expect((w.h.db.prepare("SELECT COUNT(*) n FROM jobs WHERE job_id = ?").get(b.job_id) as { n: number }).n).to.equal(1);
    expect((await w.h.totals()).discrepancy).to.equal(0n);
  });
});
