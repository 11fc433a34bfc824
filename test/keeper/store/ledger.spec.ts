/**
 * The ledger and x402 repositories on real SQLite, under concurrency: a read-check-write that the
 * keeper relies on (a charge, a payment counted once, a settlement inserted once) holds when several
 * async callers interleave, and a transaction that fails takes its ledger rows with it.
 */
import { expect } from "chai";
import { openStore, Store } from "../../../keeper/store/store";
import { charge, credit, recordPayment, totals } from "../../../keeper/payments/ledger";
import { ServiceError } from "../../../keeper/services/jobService";
import type { NewSettlement } from "../../../keeper/store/x402";

const tick = () => new Promise((r) => setTimeout(r, 2));
const fmt = (x: bigint) => Number(x);
const rows = (store: Store, sql: string) => store.db.prepare(sql).all();

describe("ledger and x402 repositories", () => {
  it("concurrent charges that await inside their transactions never overdraw: one is charged, the others are PAYMENT_INSUFFICIENT", async () => {
    const store = openStore(":memory:");
    await store.tx(() => credit(store, "a", 100n, "grant"));
    const results = await Promise.allSettled(
      [1, 2, 3, 4].map((i) =>
        store.tx(async () => {
          await tick(); // another request could run here if the transaction did not hold it off
          return charge(store, "a", 100n, `job-${i}`, fmt);
        }),
      ),
    );
    expect(results.filter((r) => r.status === "fulfilled")).to.have.length(1);
    for (const r of results.filter((x) => x.status === "rejected"))
      expect(((r as PromiseRejectedResult).reason as ServiceError).code).to.equal("PAYMENT_INSUFFICIENT");
    expect((await store.ledger.balance("a")).amount).to.equal(0n);
    expect(rows(store, "SELECT kind FROM watt_ledger WHERE kind = 'charge'")).to.have.length(1);
    store.close();
  });

  it("a granted balance is spent first and a charge that fails later in its transaction leaves balance and ledger untouched", async () => {
    const store = openStore(":memory:");
    await store.tx(() => credit(store, "a", 30n, "grant"));
    await store.tx(() => credit(store, "a", 70n, "deposit"));
    const err = new Error("the job row could not be written");
    let caught: unknown;
    try {
      await store.tx(async () => {
        await charge(store, "a", 50n, "job-1", fmt);
        throw err;
      });
    } catch (e) {
      caught = e;
    }
    expect(caught).to.equal(err);
    expect(await store.ledger.balance("a")).to.deep.equal({ amount: 100n, granted: 30n });
    expect(await store.tx(() => charge(store, "a", 50n, "job-2", fmt)), "paid from granted WATT").to.equal(30n);
    expect(await store.ledger.balance("a")).to.deep.equal({ amount: 50n, granted: 0n });
    const t = await totals(store);
    expect(t).to.include({ granted: 30n, balances: 50n, balancesGranted: 0n });
    store.close();
  });

  it("a payment is counted once however many callers record it at the same time", async () => {
    const store = openStore(":memory:");
    const v = { signature: "sig-1", memo: "job-1", payer: "p", authorities: ["p"], amount: 10n, slot: 1, blockTime: null };
    const results = await Promise.allSettled(
      [1, 2, 3].map(() => store.tx(async () => (await tick(), recordPayment(store, v, "job", "p")))),
    );
    expect(results.filter((r) => r.status === "fulfilled")).to.have.length(1);
    for (const r of results.filter((x) => x.status === "rejected"))
      expect(((r as PromiseRejectedResult).reason as ServiceError).code).to.equal("PAYMENT_ALREADY_USED");
    expect(await store.ledger.isSignatureUsed("sig-1")).to.equal(true);
    // Another transfer naming the same job memo is a second payment for one job: refused too.
    let second: unknown;
    await recordPayment(store, { ...v, signature: "sig-2" }, "job", "p").catch((e) => (second = e));
    expect((second as ServiceError).code).to.equal("PAYMENT_ALREADY_USED");
    store.close();
  });

  it("an x402 settlement is inserted once: concurrent inserts of one payment, job or payment id get the row that holds it", async () => {
    const store = openStore(":memory:");
    const s = (key: string, job: string, id: string | null): NewSettlement => ({
      payment_key: key,
      rail: "svm",
      network: "solana:test",
      job_id: job,
      service: "scrape",
      request_hash: "-",
      payer: "p",
      asset: "mint",
      amount: "1",
      payload_hash: "h",
      payment_id: id,
      tx_signature: null,
      valid_until: null,
    });
    const clashes = await Promise.all([store.x402.insertPending(s("k1", "j1", "id1")), store.x402.insertPending(s("k1", "j1", "id1"))]);
    expect(clashes.filter((c) => c === undefined)).to.have.length(1);
    expect((await store.x402.insertPending(s("k2", "j1", null)))?.payment_key, "the job is held").to.equal("k1");
    expect((await store.x402.insertPending(s("k3", "j3", "id1")))?.payment_key, "the payment id is held").to.equal("k1");
    expect(await store.x402.decide("k1", "settled", { txSignature: "tx" })).to.equal(true);
    expect(await store.x402.decide("k1", "failed"), "a decided outcome never changes").to.equal(false);
    expect(await store.x402.markCredited("k1")).to.equal(true);
    expect((await store.x402.byJob("j1"))?.state).to.equal("credited");
    store.close();
  });
});
