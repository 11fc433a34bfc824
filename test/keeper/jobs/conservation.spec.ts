/**
 * Money is conserved (issues 4 and 10): after many random sequences of paid jobs (on chain exact,
 * over and under the price; prepaid; x402 on Solana, with replayed and invalid x402 payments), outcomes (success, charged failure, refunded failure),
 * deposits, operator grants, replays, stray and failed transfers, and the burn executed on chain,
 * every WATT is accounted for:
 *   received + granted = charged + balances (refunds and excess are part of balances);
 *   granted = charged from granted + granted still held (grants are tracked apart);
 *   burned = 0.15 % of what was charged = burned from the service account + owed by the operator,
 *   where burned from the service account = 0.15 % of the charged WATT that was received, and the
 *   burn executed on chain equals it; the service account holds received - burned on chain;
 *   refunded = the price of every refunded job; each balance = the sum of its ledger entries.
 */
import { expect } from "chai";
import fc from "fast-check";
import { Keypair } from "@solana/web3.js";
import { createTransferCheckedInstruction, getAssociatedTokenAddressSync } from "@solana/spl-token";
import { startPageServer } from "./harness";
import { startWattWorld, WattWorld, WATT } from "./solanaFixture";
import { burnOf } from "../../../keeper/payments/watt";
import { LOCAL_SOLANA_NETWORK, paymentRequired, post, signedPayment } from "./x402Fixture";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 40);

type Outcome = "ok" | "upstream404" | "unreachable";
type Action =
  | { kind: "payJob"; agent: number; pay: "exact" | "over" | "under"; outcome: Outcome }
  | { kind: "prepaidJob"; agent: number; outcome: Outcome }
  | { kind: "deposit"; agent: number; watt: number }
  | { kind: "grant"; agent: number; watt: number }
  | { kind: "replay" }
  | { kind: "stray"; agent: number; watt: number }
  | { kind: "failedPayment"; agent: number }
  | { kind: "x402Job"; agent: number; outcome: Outcome }
  | { kind: "x402Replay" }
  | { kind: "x402Invalid"; agent: number };

describe("WATT conservation under random sequences of jobs and payments", function () {
  this.timeout(600_000);
  let w: WattWorld;
  let site: Awaited<ReturnType<typeof startPageServer>>;
  let deadUrl: string;
  const agents: Keypair[] = [];
  const expected = { refunded: 0n, runs: 0 };
  const done: { body: Record<string, unknown>; text: string; agent: Keypair }[] = [];
  const x402Done: { body: Record<string, unknown>; header: string }[] = [];
  let n = 0;

  before(async () => {
    site = await startPageServer();
    const dead = await startPageServer();
    deadUrl = dead.url;
    await dead.close();
    w = await startWattWorld(
      {
        PAYMENT_LOOKUPS_PER_MIN: "1000000",
        RATE_LIMIT_URL_PER_HOUR: "10000000",
        RATE_LIMIT_AGENT_PER_HOUR: "10000000",
        RATE_LIMIT_GLOBAL_PER_HOUR: "100000000",
        WATT_BURN_MIN: "0",
        X402_SOLANA_NETWORK: LOCAL_SOLANA_NETWORK,
        X402_VERIFY_PER_IP_PER_MIN: "1000000",
      },
      { withSecret: true },
    );
    for (let i = 0; i < 4; i++) agents.push(w.agent(1_000_000n));
  });
  after(async () => {
    await w?.close();
    await site?.close();
  });

  const urlFor = (o: Outcome, job: string) =>
    o === "ok" ? `${site.url}/ok/${job}` : o === "upstream404" ? `${site.url}/missing` : `${deadUrl}/x`;

  async function apply(a: Action): Promise<void> {
    const job = `c-${n++}`;
    switch (a.kind) {
      case "payJob": {
        const paid = a.pay === "exact" ? 100n : a.pay === "over" ? 137n : 61n;
        const sig = await w.pay(agents[a.agent], paid, job);
        const body = { url: urlFor(a.outcome, job), job_id: job };
        const r = await w.h.post("/api/v1/scrape", body, { agent: agents[a.agent], headers: { "x-payment-signature": sig } });
        if (a.pay === "under") {
          expect(r.body.code).to.equal("PAYMENT_INSUFFICIENT");
          return;
        }
        expect(r.body.watt_charged, r.text).to.equal(a.outcome === "unreachable" ? 0 : 100);
        if (a.outcome === "unreachable") expected.refunded += 100n * WATT;
        done.push({ body, text: r.text, agent: agents[a.agent] });
        return;
      }
      case "prepaidJob": {
        const body = { url: urlFor(a.outcome, job), job_id: job };
        const r = await w.h.post("/api/v1/scrape", body, { agent: agents[a.agent] });
        // A balance below the price: the memo lookup finds no payment for this job_id either.
        if (r.body.code === "PAYMENT_NOT_FOUND") return;
        expect(r.body.watt_charged, r.text).to.equal(a.outcome === "unreachable" ? 0 : 100);
        if (a.outcome === "unreachable") expected.refunded += 100n * WATT;
        done.push({ body, text: r.text, agent: agents[a.agent] });
        return;
      }
      case "deposit":
        await w.pay(agents[a.agent], BigInt(a.watt), `deposit:${agents[a.agent].publicKey.toBase58()}`);
        return;
      case "grant":
        await w.h.grant(agents[a.agent], a.watt);
        return;
      case "replay": {
        if (done.length === 0) return;
        const last = done[done.length - 1];
        const r = await w.h.post("/api/v1/scrape", last.body, { agent: last.agent });
        expect(r.text).to.equal(last.text);
        return;
      }
      case "stray": {
        const k = agents[a.agent];
        await w.send(
          [k],
          [
            createTransferCheckedInstruction(
              getAssociatedTokenAddressSync(w.mint, k.publicKey),
              w.mint,
              getAssociatedTokenAddressSync(w.mint, w.service.publicKey),
              k.publicKey,
              BigInt(a.watt) * WATT,
              9,
            ),
          ],
        );
        return;
      }
      case "x402Job": {
        const body = { url: urlFor(a.outcome, job), job_id: job };
        const { header } = await signedPayment(w, agents[a.agent], (await paymentRequired(w, "/api/v1/scrape", body)).accepts[0]);
        const r = await post(fetch, w.h.url + "/api/v1/scrape", body, { "payment-signature": header });
        const answer = await r.json();
        expect(answer.watt_charged, JSON.stringify(answer)).to.equal(a.outcome === "unreachable" ? 0 : 100);
        expect(r.headers.get("payment-response")).to.be.a("string");
        if (a.outcome === "unreachable") expected.refunded += 100n * WATT;
        x402Done.push({ body, header });
        return;
      }
      case "x402Replay": {
        if (x402Done.length === 0) return;
        const last = x402Done[x402Done.length - 1];
        const r = await post(fetch, w.h.url + "/api/v1/scrape", last.body, { "payment-signature": last.header });
        expect((await r.json()).code).to.equal("X402_PAYMENT_ALREADY_USED");
        return;
      }
      case "x402Invalid": {
        // transfers 1 base unit while claiming the price: refused, nothing moves
        const body = { url: urlFor("ok", job), job_id: job };
        const right = (await paymentRequired(w, "/api/v1/scrape", body)).accepts[0];
        const { header } = await signedPayment(w, agents[a.agent], { ...right, amount: "1" }, undefined, right);
        const r = await post(fetch, w.h.url + "/api/v1/scrape", body, { "payment-signature": header });
        expect((await r.json()).code).to.equal("X402_PAYMENT_INVALID");
        return;
      }
      case "failedPayment": {
        const sig = await w.pay(agents[a.agent], 10n ** 12n, job, { skipPreflight: true });
        expect(
          (
            await w.h.post(
              "/api/v1/scrape",
              { url: urlFor("ok", job), job_id: job },
              { agent: agents[a.agent], headers: { "x-payment-signature": sig } },
            )
          ).body.code,
        ).to.equal("PAYMENT_FAILED");
        return;
      }
    }
  }

  const agent = fc.integer({ min: 0, max: 3 });
  const outcome = fc.constantFrom<Outcome>("ok", "ok", "upstream404", "unreachable");
  const action: fc.Arbitrary<Action> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant("payJob" as const),
        agent,
        pay: fc.constantFrom("exact" as const, "over" as const, "under" as const),
        outcome,
      }),
    },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant("prepaidJob" as const), agent, outcome }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("deposit" as const), agent, watt: fc.integer({ min: 1, max: 500 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("grant" as const), agent, watt: fc.integer({ min: 1, max: 300 }) }) },
    { weight: 1, arbitrary: fc.constant({ kind: "replay" as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("stray" as const), agent, watt: fc.integer({ min: 1, max: 50 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("failedPayment" as const), agent }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("x402Job" as const), agent, outcome }) },
    { weight: 1, arbitrary: fc.constant({ kind: "x402Replay" as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("x402Invalid" as const), agent }) },
  );

  async function checkBooks(): Promise<void> {
    const t = await w.h.totals();
    expect(t.discrepancy, "received + granted = charged + balances").to.equal(0n);
    expect(t.refunded, "refunds = the prices of refunded jobs").to.equal(expected.refunded);
    expect(t.burned, "burned = 0.15 % of charged").to.equal((t.charged * 15n) / 10_000n);
    expect(t.granted, "granted = charged from granted + granted held").to.equal(t.chargedGranted + t.balancesGranted);
    expect(t.burned, "burned = from the service account + owed by the operator").to.equal(t.burnFromService + t.burnOwedByOperator);
    const jobs = w.h.db.prepare("SELECT price, charged, charged_granted, refunded, burned, burn_owed, state FROM jobs").all() as Record<
      string,
      string
    >[];
    let fromService = 0n;
    for (const j of jobs) {
      expect(BigInt(j.charged) + BigInt(j.refunded)).to.equal(BigInt(j.price));
      expect(BigInt(j.burned)).to.equal((BigInt(j.charged) * 15n) / 10_000n);
      expect(BigInt(j.charged_granted)).to.be.at.most(BigInt(j.charged));
      fromService += burnOf(BigInt(j.charged) - BigInt(j.charged_granted));
    }
    expect(t.burnFromService, "burned from the service account = 0.15 % of charged received WATT (per job)").to.equal(fromService);
    // Every x402 payment is decided and, when settled, counted once as a received payment of its job.
    const x402 = w.h.db
      .prepare(
        "SELECT s.state, s.amount, p.amount paid, j.signature FROM x402_settlements s LEFT JOIN watt_payments p ON p.signature = s.tx_signature LEFT JOIN jobs j ON j.job_id = s.job_id",
      )
      .all() as Record<string, string | null>[];
    for (const x of x402) {
      expect(x.state).to.equal("settled");
      expect(x.paid, "a settled x402 payment is a received payment").to.equal(x.amount);
      expect(x.signature, "and pays its job").to.be.a("string");
    }
    const balances = w.h.db.prepare("SELECT agent, amount, granted FROM watt_balances").all() as {
      agent: string;
      amount: string;
      granted: string;
    }[];
    for (const b of balances) {
      expect(BigInt(b.granted)).to.be.at.most(BigInt(b.amount));
      const sum = (w.h.db.prepare("SELECT amount FROM watt_ledger WHERE agent = ?").all(b.agent) as { amount: string }[]).reduce(
        (s, r) => s + BigInt(r.amount),
        0n,
      );
      expect(sum, `ledger of ${b.agent}`).to.equal(BigInt(b.amount));
    }
  }

  it(`${RUNS} random sequences: the books balance after each, the burn takes only received WATT, and the service account holds exactly received - burned`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 3, maxLength: 12 }), async (actions) => {
        for (const a of actions) await apply(a);
        await w.h.rt.deposits!.scan(0); // deposits and stray transfers credited
        await w.h.rt.burner!.tick(); // the burn of what is owed: signed and sent
        await w.h.rt.burner!.tick(); // confirmed
        await checkBooks();
        const t = await w.h.totals();
        expect(t.burnExecuted, "burned on chain = the share of received WATT").to.equal(t.burnFromService);
        expect(w.serviceBalance(), "on chain = received - burned").to.equal(t.received - t.burnExecuted);
      }),
      { numRuns: RUNS },
    );
    const t = await w.h.totals();
    // The run exercised what it claims to.
    expect(t.charged).to.be.greaterThan(0n);
    expect(t.refunded).to.be.greaterThan(0n);
    expect(t.granted).to.be.greaterThan(0n);
    expect(t.chargedGranted, "some jobs were paid from grants").to.be.greaterThan(0n);
    expect(t.burnOwedByOperator).to.be.greaterThan(0n);
    expect(t.burnExecuted).to.be.greaterThan(0n);
    expect(x402Done.length, "some jobs were paid by x402").to.be.greaterThan(0);
  });
});
