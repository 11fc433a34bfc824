/**
 * WATT payments on Solana (a local JSON-RPC stand-in executing real signed SPL transfers), through
 * the API: the honest path, a payment not yet visible, and each attack of the issue, rejected with
 * its code and nothing charged.
 */
import { expect } from "chai";
import { Keypair } from "@solana/web3.js";
import { createTransferCheckedInstruction, createTransferInstruction, getAssociatedTokenAddressSync } from "@solana/spl-token";
import { createMemoInstruction } from "@solana/spl-memo";
import { startPageServer } from "./harness";
import { startWattWorld, WattWorld, WATT } from "./solanaFixture";

describe("WATT payments on Solana (stand-in) through the API", function () {
  this.timeout(60_000);
  let w: WattWorld;
  let site: Awaited<ReturnType<typeof startPageServer>>;
  let n = 0;
  const id = () => `pay-${n++}-${Date.now()}`;
  /** A scrape signed by `agent` (a memo payment pays only for its payer's signed request). */
  const scrape = (job: string, agent: Keypair, headers: Record<string, string> = {}) =>
    w.h.post("/api/v1/scrape", { url: `${site.url}/p/${job}`, job_id: job }, { agent, headers });
  const jobs = () => (w.h.db.prepare("SELECT count(*) n FROM jobs").get() as { n: number }).n;

  before(async () => {
    site = await startPageServer();
    // No negative cache here (a lookup before the payment is followed at once by one after it) and no
    // per-client lookup limit: both are tested in cheapRefusals.spec.ts.
    w = await startWattWorld({
      RATE_LIMIT_URL_PER_HOUR: "1000",
      RATE_LIMIT_AGENT_PER_HOUR: "1000",
      WATT_MEMO_NEGATIVE_TTL_S: "0",
      PAYMENT_LOOKUPS_PER_MIN: "100000",
    });
  });
  after(async () => {
    await w?.close();
    await site?.close();
  });

  it("pays with a transfer whose memo is the job_id and a request signed by its payer: found by memo, charged once, the payer is the agent", async () => {
    const a = w.agent();
    const job = id();
    const sig = await w.pay(a, 100n, job);
    const r = await scrape(job, a);
    expect(r.status, r.text).to.equal(200);
    expect(r.body).to.include({ success: true, job_id: job, watt_charged: 100, watt_burned: 0.15 });
    const row = w.h.db.prepare("SELECT agent, payment, signature FROM jobs WHERE job_id = ?").get(job);
    expect(row).to.deep.equal({ agent: a.publicKey.toBase58(), payment: "onchain", signature: sig });
    // A retry returns the first answer; the payment is not counted twice.
    const again = await scrape(job, a);
    expect(again.text).to.equal(r.text);
    expect((await w.h.totals()).received).to.equal(100n * WATT);
  });

  it("also by X-Payment-Signature naming the transaction", async () => {
    const a = w.agent();
    const job = id();
    const sig = await w.pay(a, 100n, job);
    const r = await scrape(job, a, { "x-payment-signature": sig });
    expect(r.status, r.text).to.equal(200);
  });

  it("a payment not visible yet: 402 PAYMENT_NOT_FOUND pending with Retry-After, nothing recorded; the same request works once it is", async () => {
    const a = w.agent();
    const job = id();
    const none = await scrape(job, a);
    expect(none.status).to.equal(402);
    expect(none.body).to.include({ code: "PAYMENT_NOT_FOUND", pending: true });
    expect(none.headers["retry-after"]).to.equal("2");
    const sig = await w.pay(a, 100n, job);
    w.sol.faults.hidden.add(sig); // sent, not yet confirmed
    expect((await scrape(job, a)).body).to.include({ code: "PAYMENT_NOT_FOUND", pending: true });
    expect(w.h.db.prepare("SELECT 1 FROM watt_payments WHERE signature = ?").get(sig)).to.equal(undefined);
    w.sol.faults.hidden.delete(sig);
    expect((await scrape(job, a)).status).to.equal(200);
  });

  it("replayed signature: a paid transaction named for another job is PAYMENT_ALREADY_USED", async () => {
    const a = w.agent();
    const job = id();
    const sig = await w.pay(a, 100n, job);
    expect((await scrape(job, a)).status).to.equal(200);
    const before = jobs();
    const r = await scrape(id(), a, { "x-payment-signature": sig });
    expect(r.status).to.equal(409);
    expect(r.body.code).to.equal("PAYMENT_ALREADY_USED");
    expect(jobs()).to.equal(before);
  });

  it("one payment for two job_ids (two memos, one transfer) is PAYMENT_MEMO_MISMATCH for both", async () => {
    const a = w.agent();
    const [j1, j2] = [id(), id()];
    const from = getAssociatedTokenAddressSync(w.mint, a.publicKey);
    const to = getAssociatedTokenAddressSync(w.mint, w.service.publicKey);
    await w.send(
      [a],
      [
        createTransferCheckedInstruction(from, w.mint, to, a.publicKey, 100n * WATT, 9),
        createMemoInstruction(j1, [a.publicKey]),
        createMemoInstruction(j2, [a.publicKey]),
      ],
    );
    for (const j of [j1, j2]) {
      const r = await scrape(j, a);
      expect(r.status, j).to.equal(402);
      expect(r.body.code).to.equal("PAYMENT_MEMO_MISMATCH");
    }
    expect((await w.h.totals()).charged).to.equal(
      BigInt((w.h.db.prepare("SELECT count(*) n FROM jobs WHERE state = 'succeeded'").get() as { n: number }).n) * 100n * WATT,
    );
  });

  it("memo in one transaction, transfer in another: not a payment", async () => {
    const a = w.agent();
    const job = id();
    const memoOnly = await w.send([a], [createMemoInstruction(job, [a.publicKey])]);
    const from = getAssociatedTokenAddressSync(w.mint, a.publicKey);
    const to = getAssociatedTokenAddressSync(w.mint, w.service.publicKey);
    const transferOnly = await w.send([a], [createTransferCheckedInstruction(from, w.mint, to, a.publicKey, 100n * WATT, 9)]);
    expect((await scrape(job, a)).body.code).to.equal("PAYMENT_NOT_FOUND");
    const m = await scrape(job, a, { "x-payment-signature": memoOnly });
    expect(m.body.code).to.equal("PAYMENT_NOT_FOUND");
    expect(m.body.error).to.match(/no WATT transferChecked/);
    expect((await scrape(job, a, { "x-payment-signature": transferOnly })).body.code).to.equal("PAYMENT_MEMO_MISMATCH");
    expect(w.h.db.prepare("SELECT 1 FROM jobs WHERE job_id = ?").get(job)).to.equal(undefined);
  });

  it("wrong mint: another token sent with the memo is PAYMENT_WRONG_MINT", async () => {
    const a = w.agent();
    const fake = w.sol.createMint(9);
    w.sol.mintTo(a.publicKey, fake, 1000n * WATT);
    w.sol.mintTo(w.service.publicKey, fake, 0n);
    const job = id();
    const sig = await w.send(
      [a],
      [
        createTransferCheckedInstruction(
          getAssociatedTokenAddressSync(fake, a.publicKey),
          fake,
          getAssociatedTokenAddressSync(fake, w.service.publicKey),
          a.publicKey,
          100n * WATT,
          9,
        ),
        createMemoInstruction(job, [a.publicKey]),
      ],
    );
    expect((await scrape(job, a, { "x-payment-signature": sig })).body.code).to.equal("PAYMENT_WRONG_MINT");
    expect((await scrape(job, a)).body.code, "not in the service account's history").to.equal("PAYMENT_NOT_FOUND");
  });

  it("transfer to another account: PAYMENT_WRONG_RECIPIENT", async () => {
    const a = w.agent();
    const other = w.agent(0n);
    const job = id();
    const sig = await w.send(
      [a],
      [
        createTransferCheckedInstruction(
          getAssociatedTokenAddressSync(w.mint, a.publicKey),
          w.mint,
          getAssociatedTokenAddressSync(w.mint, other.publicKey),
          a.publicKey,
          100n * WATT,
          9,
        ),
        createMemoInstruction(job, [a.publicKey]),
      ],
    );
    expect((await scrape(job, a, { "x-payment-signature": sig })).body.code).to.equal("PAYMENT_WRONG_RECIPIENT");
  });

  it("failed transaction: recorded on chain with an error, PAYMENT_FAILED", async () => {
    const a = w.agent(10n);
    const job = id();
    await w.pay(a, 100n, job, { skipPreflight: true }); // 10 WATT held: the transfer fails
    const r = await scrape(job, a);
    expect(r.body.code).to.equal("PAYMENT_FAILED");
    expect(w.h.db.prepare("SELECT 1 FROM watt_payments WHERE memo = ?").get(job)).to.equal(undefined);
  });

  it("an unchecked SPL transfer is PAYMENT_INVALID (transferChecked is required)", async () => {
    const a = w.agent();
    const job = id();
    const sig = await w.send(
      [a],
      [
        createTransferInstruction(
          getAssociatedTokenAddressSync(w.mint, a.publicKey),
          getAssociatedTokenAddressSync(w.mint, w.service.publicKey),
          a.publicKey,
          100n * WATT,
        ),
        createMemoInstruction(job, [a.publicKey]),
      ],
    );
    expect((await scrape(job, a, { "x-payment-signature": sig })).body.code).to.equal("PAYMENT_INVALID");
  });

  it("underpayment: PAYMENT_INSUFFICIENT, nothing run or charged, the amount credited to the payer's balance", async () => {
    const a = w.agent();
    const job = id();
    const hits = site.hits();
    await w.pay(a, 40n, job);
    const r = await scrape(job, a);
    expect(r.status).to.equal(402);
    expect(r.body).to.include({ code: "PAYMENT_INSUFFICIENT", paid: 40, price: 100, watt_charged: 0 });
    expect(site.hits()).to.equal(hits);
    expect(w.h.balance(a)).to.equal(40n * WATT);
    expect((await scrape(job, a)).body.code, "the same transfer is not counted again").to.equal("PAYMENT_ALREADY_USED");
    expect(w.h.balance(a)).to.equal(40n * WATT);
  });

  it("overpayment: the job runs and the excess goes to the payer's balance", async () => {
    const a = w.agent();
    const job = id();
    await w.pay(a, 130n, job);
    expect((await scrape(job, a)).status).to.equal(200);
    expect(w.h.balance(a)).to.equal(30n * WATT);
  });

  it("two concurrent requests with the same job_id: one runs, the other is JOB_IN_PROGRESS; charged once", async () => {
    const a = w.agent();
    const job = id();
    await w.pay(a, 100n, job);
    const hits = site.hits();
    const [x, y] = await Promise.all([scrape(job, a), scrape(job, a)]);
    expect([x.status, y.status].sort()).to.deep.equal([200, 409]);
    expect([x, y].find((r) => r.status === 409)!.body.code).to.equal("JOB_IN_PROGRESS");
    expect(site.hits() - hits).to.equal(1);
    expect((w.h.db.prepare("SELECT count(*) n FROM watt_payments WHERE memo = ?").get(job) as { n: number }).n).to.equal(1);
    expect((await scrape(job, a)).text).to.equal((x.status === 200 ? x : y).text);
  });

  it("a deposit (memo deposit:<agent>) becomes a prepaid balance that signed requests spend", async () => {
    const a = w.agent();
    const beneficiary = Keypair.generate();
    await w.pay(a, 1000n, `deposit:${beneficiary.publicKey.toBase58()}`);
    const b = await w.h.get("/api/v1/balance", { agent: beneficiary });
    expect(b.status, b.text).to.equal(200);
    expect(b.body).to.include({ balance: 1000, deposit_scan: "ok" });
    expect(b.body.ledger[0]).to.include({ kind: "deposit", amount: 1000 });
    const r = await w.h.post("/api/v1/execute", { job_id: id(), language: "python", code: "print('paid')" }, { agent: beneficiary });
    expect(r.status, r.text).to.equal(200);
    expect(r.body.output.stdout).to.equal("paid\n");
    expect(w.h.balance(beneficiary)).to.equal(700n * WATT);
    // Scanning again credits nothing twice.
    await w.h.get("/api/v1/balance", { agent: beneficiary });
    expect(w.h.balance(beneficiary)).to.equal(700n * WATT);
  });

  it("Solana RPC down: 503 PAYMENT_UNAVAILABLE, nothing charged; the same request works after", async () => {
    const a = w.agent();
    const job = id();
    await w.pay(a, 100n, job);
    w.sol.faults.failNext = 10;
    const r = await scrape(job, a);
    expect(r.status).to.equal(503);
    expect(r.body.code).to.equal("PAYMENT_UNAVAILABLE");
    expect(r.body.error).to.not.contain(w.sol.url);
    w.sol.faults.failNext = 0;
    expect((await scrape(job, a)).status).to.equal(200);
  });

  it("every WATT that reached the service account is accounted for: transfers that paid for nothing are credited to their payer", async () => {
    const before = await w.h.totals();
    expect(w.serviceBalance(), "the memo-less, double-memo and unchecked transfers above").to.be.greaterThan(before.received);
    // Within the grace period nothing is swept (a payment may be on its way to its request)...
    expect(await w.h.rt.deposits!.scan()).to.equal(0);
    // ...after it, each is credited to whoever sent it, once.
    const swept = await w.h.rt.deposits!.scan(0);
    expect(swept).to.equal(3);
    expect(await w.h.rt.deposits!.scan(0)).to.equal(0);
    const notes = w.h.db.prepare("SELECT note FROM watt_ledger WHERE note LIKE 'unmatched%'").all();
    expect(notes).to.have.length(3);
    const t = await w.h.totals();
    expect(t.discrepancy).to.equal(0n);
    expect(w.serviceBalance()).to.equal(t.received);
  });
});
