/**
 * x402 payments that must be refused, each with its code, and nothing charged or leaked: replay,
 * one payment sent to two requests at once, wrong amount / asset / recipient / network / memo, an
 * expired blockhash, a malformed header, a reused payment-identifier, a flood of bad payments
 * (RPC calls counted against the per-IP limit). Payments are built by the real @x402/svm client.
 */
import { expect } from "chai";
import { Keypair } from "@solana/web3.js";
import type { PaymentRequirements } from "@x402/core/types";
import { startPageServer } from "./harness";
import { WATT, WattWorld } from "./solanaFixture";
import { paymentRequired, post, signedPayment, startX402World } from "./x402Fixture";

const ROUTE = "/api/v1/scrape";

describe("x402: refused payments", function () {
  this.timeout(60_000);
  let w: WattWorld;
  let pages: Awaited<ReturnType<typeof startPageServer>>;
  let n = 0;
  const body = () => ({ url: `${pages.url}/r${++n}`, job_id: `x402-refuse-${Date.now()}-${n}` });
  before(async () => {
    pages = await startPageServer();
    w = await startX402World({ X402_VERIFY_PER_IP_PER_MIN: "1000" });
  });
  after(async () => {
    await w.close();
    await pages.close();
  });

  const send = (b: unknown, paymentHeader: string, extra: Record<string, string> = {}) =>
    post(fetch, w.h.url + ROUTE, b, { "payment-signature": paymentHeader, ...extra });
  const requirementFor = async (b: unknown) => (await paymentRequired(w, ROUTE, b)).accepts[0];
  /** Nothing moved: the agent's WATT and the service's, the jobs table and the settlements. */
  const snapshot = (agent: Keypair) => ({
    agent: w.sol.tokenBalance(agent.publicKey, w.mint),
    service: w.serviceBalance(),
    jobs: (w.h.db.prepare("SELECT COUNT(*) n FROM jobs").get() as { n: number }).n,
    settled: (w.h.db.prepare("SELECT COUNT(*) n FROM x402_settlements WHERE state = 'settled'").get() as { n: number }).n,
  });

  it("a replayed PAYMENT-SIGNATURE: X402_PAYMENT_ALREADY_USED, charged once", async () => {
    const agent = w.agent(1000n);
    const b = body();
    const { header } = await signedPayment(w, agent, await requirementFor(b));
    const first = await send(b, header);
    expect(first.status).to.equal(200);
    const after1 = snapshot(agent);
    const again = await send(b, header);
    expect(again.status).to.equal(409);
    const a = await again.json();
    expect(a.code).to.equal("X402_PAYMENT_ALREADY_USED");
    expect(a).to.not.have.property("data"); // the first answer is not handed to whoever replays
    expect(snapshot(agent)).to.deep.equal(after1);
    expect(w.sol.tokenBalance(agent.publicKey, w.mint)).to.equal(900n * WATT);
  });

  it("the same payment sent to two requests at once: one job, one charge", async () => {
    const agent = w.agent(1000n);
    const b = body();
    const { header } = await signedPayment(w, agent, await requirementFor(b));
    const before = snapshot(agent);
    const answers = await Promise.all([send(b, header), send(b, header), send(b, header)]);
    const codes = await Promise.all(answers.map(async (r) => ({ status: r.status, code: (await r.json()).code })));
    expect(codes.filter((c) => c.status === 200)).to.have.length(1, JSON.stringify(codes));
    for (const c of codes.filter((c) => c.status !== 200)) expect(c.code).to.be.oneOf(["JOB_IN_PROGRESS", "X402_PAYMENT_ALREADY_USED"]);
    const now = snapshot(agent);
    expect(now.jobs - before.jobs).to.equal(1);
    expect(now.service - before.service).to.equal(100n * WATT);
    expect(now.agent).to.equal(900n * WATT);
  });

  const wrong: [string, (r: PaymentRequirements, w: WattWorld) => PaymentRequirements, string][] = [
    ["amount", (r) => ({ ...r, amount: (BigInt(r.amount) - 1n).toString() }), "wrong_amount"],
    ["asset", (r, w) => ({ ...r, asset: w.sol.createMint(9).toBase58() }), "wrong_asset"],
    ["recipient", (r) => ({ ...r, payTo: Keypair.generate().publicKey.toBase58() }), "wrong_recipient"],
    ["network", (r) => ({ ...r, network: "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp" }), "wrong_network"],
  ];
  for (const [what, alter, reason] of wrong) {
    it(`a wrong ${what} (as the client says it): X402_PAYMENT_INVALID before any RPC call`, async () => {
      const agent = w.agent(1000n);
      const b = body();
      const req = alter(await requirementFor(b), w);
      if (what === "asset") w.sol.mintTo(agent.publicKey, new (await import("@solana/web3.js")).PublicKey(req.asset), 1000n * WATT);
      const { header } =
        what === "network"
          ? await signedPayment(w, agent, { ...req, network: "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1" }, undefined, req)
          : await signedPayment(w, agent, req);
      const before = snapshot(agent);
      const calls = w.sol.requests.total;
      const r = await send(b, header);
      const a = await r.json();
      expect(r.status).to.equal(402);
      expect(a).to.include({ code: "X402_PAYMENT_INVALID", reason });
      expect(w.sol.requests.total).to.equal(calls);
      expect(r.headers.get("payment-required")).to.be.a("string"); // what would be accepted
      expect(snapshot(agent)).to.deep.equal(before);
    });
    // The network is not in the transaction: only the client's claim can be wrong.
    if (what !== "network")
      it(`a wrong ${what} hidden behind the right requirements: refused by verification, nothing charged`, async () => {
        const agent = w.agent(1000n);
        const b = body();
        const right = await requirementFor(b);
        const req = alter(right, w);
        if (what === "asset") w.sol.mintTo(agent.publicKey, new (await import("@solana/web3.js")).PublicKey(req.asset), 1000n * WATT);
        const { header } = await signedPayment(w, agent, req, undefined, right);
        const before = snapshot(agent);
        const r = await send(b, header);
        const a = await r.json();
        expect(r.status).to.equal(402);
        expect(a.code).to.equal("X402_PAYMENT_INVALID");
        expect(snapshot(agent)).to.deep.equal(before);
      });
  }

  it("a payment made for another job_id: X402_PAYMENT_INVALID (the memo binds it to its job)", async () => {
    const agent = w.agent(1000n);
    const b1 = body();
    const b2 = body();
    const { header } = await signedPayment(w, agent, await requirementFor(b1));
    const before = snapshot(agent);
    const r = await send(b2, header);
    expect(r.status).to.equal(402);
    expect(await r.json()).to.include({ code: "X402_PAYMENT_INVALID", reason: "wrong_memo" });
    expect(snapshot(agent)).to.deep.equal(before);
  });

  it("an expired blockhash: X402_PAYMENT_INVALID, nothing charged", async () => {
    const agent = w.agent(1000n);
    const b = body();
    const { header } = await signedPayment(w, agent, await requirementFor(b));
    w.sol.ledger.advance(200); // past the 150-block validity of the payment's blockhash
    const before = snapshot(agent);
    const r = await send(b, header);
    expect(r.status).to.equal(402);
    expect((await r.json()).code).to.equal("X402_PAYMENT_INVALID");
    expect(snapshot(agent)).to.deep.equal(before);
  });

  it("a malformed PAYMENT-SIGNATURE: 400 X402_PAYMENT_MALFORMED", async () => {
    for (const h of [
      "not base64!",
      Buffer.from("{").toString("base64"),
      Buffer.from(JSON.stringify({ x402Version: 1 })).toString("base64"),
      Buffer.from(JSON.stringify({ x402Version: 2, accepted: {}, payload: {} })).toString("base64"),
      "A".repeat(12_000),
    ]) {
      const r = await send(body(), h);
      expect(r.status, h.slice(0, 40)).to.equal(400);
      expect((await r.json()).code).to.equal("X402_PAYMENT_MALFORMED");
    }
  });

  it("a payment-identifier is an idempotency key: same payload -> same answer, another payload -> X402_IDEMPOTENCY_CONFLICT", async () => {
    const agent = w.agent(1000n);
    const b = body();
    const req = await requirementFor(b);
    const ext = { "payment-identifier": { info: { id: `pay_${Date.now()}_abcdefgh` } } };
    const { header } = await signedPayment(w, agent, req, ext);
    const first = await send(b, header);
    expect(first.status).to.equal(200);
    const text = await first.text();
    const again = await send(b, header);
    expect(again.status).to.equal(200);
    expect(await again.text()).to.equal(text);
    expect(again.headers.get("payment-response")).to.equal(first.headers.get("payment-response"));
    const other = await signedPayment(w, agent, req, ext); // a new transaction (new blockhash) under the same id
    const c = await send(b, other.header);
    expect(c.status).to.equal(409);
    expect((await c.json()).code).to.equal("X402_IDEMPOTENCY_CONFLICT");
    expect(w.sol.tokenBalance(agent.publicKey, w.mint)).to.equal(900n * WATT);
  });

  it("x402 and a signed request at once: INVALID_REQUEST", async () => {
    const agent = w.agent(1000n);
    const b = body();
    const { header } = await signedPayment(w, agent, await requirementFor(b));
    const r = await w.h.post(ROUTE, b, { agent, headers: { "payment-signature": header } });
    expect(r.status).to.equal(400);
    expect(r.body.code).to.equal("INVALID_REQUEST");
  });
});

describe("x402: a flood of bad payments is bounded per client", function () {
  this.timeout(60_000);
  it("20 payments from an empty wallet (only the simulation can refuse them) cost 5 RPC verifications (X402_VERIFY_PER_IP_PER_MIN=5), the rest RATE_LIMITED", async () => {
    const pages = await startPageServer();
    const w = await startX402World({ X402_VERIFY_PER_IP_PER_MIN: "5" });
    try {
      const agent = w.agent(0n); // has a WATT account, holds no WATT: only the simulation can tell
      const headers: { b: unknown; h: string }[] = [];
      for (let i = 0; i < 20; i++) {
        const b = { url: `${pages.url}/f${i}`, job_id: `flood-${i}` };
        const right = (await paymentRequired(w, ROUTE, b)).accepts[0];
        const { header } = await signedPayment(w, agent, right);
        headers.push({ b, h: header });
      }
      const before = { ...w.sol.requests.byMethod };
      const codes: string[] = [];
      for (const { b, h } of headers) codes.push((await (await post(fetch, w.h.url + ROUTE, b, { "payment-signature": h })).json()).code);
      const sims = (w.sol.requests.byMethod.simulateTransaction ?? 0) - (before.simulateTransaction ?? 0);
      const total = Object.keys(w.sol.requests.byMethod).reduce((s, k) => s + (w.sol.requests.byMethod[k] - (before[k] ?? 0)), 0);
      expect(codes.filter((c) => c === "X402_PAYMENT_INVALID")).to.have.length(5);
      expect(codes.filter((c) => c === "RATE_LIMITED")).to.have.length(15);
      expect(sims).to.equal(5);
      expect(total).to.be.at.most(10);
      console.log(`      flood of 20 bad x402 payments: ${total} Solana RPC calls (${sims} simulateTransaction)`);
      expect(w.sol.tokenBalance(agent.publicKey, w.mint)).to.equal(0n);
      expect((w.h.db.prepare("SELECT COUNT(*) n FROM x402_settlements").get() as { n: number }).n).to.equal(0);
    } finally {
      await w.close();
      await pages.close();
    }
  });
});
