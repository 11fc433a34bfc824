/**
 * Deposits are never lost (issue 10 item 6): the scan follows a persisted cursor through the whole
 * history of the service account, a transfer rejected once is re-examined after the grace period
 * without a restart, and an agent can claim a deposit by naming its signature.
 */
import { expect } from "chai";
import { Transaction } from "@solana/web3.js";
import { createTransferCheckedInstruction, createTransferInstruction, getAssociatedTokenAddressSync } from "@solana/spl-token";
import { createMemoInstruction } from "@solana/spl-memo";
import { startWattWorld, WattWorld, WATT } from "./solanaFixture";

describe("WATT deposits: cursor through the whole history, re-examination, claims", function () {
  this.timeout(180_000);
  let w: WattWorld;
  before(async () => {
    w = await startWattWorld({ BALANCE_SCANS_PER_MIN: "1000", PAYMENT_LOOKUPS_PER_MIN: "1000" });
  });
  after(async () => w?.close());
  const cursor = () =>
    (w.h.db.prepare("SELECT last_signature FROM watt_scan_cursor").get() as { last_signature: string } | undefined)?.last_signature;
  const sigCalls = () => w.sol.requests.byMethod.getSignaturesForAddress ?? 0;

  it("a deposit followed by 5,000 other transfers before the next scan is credited (6 pages back to the cursor)", async () => {
    const depositor = w.agent();
    await w.pay(w.agent(), 5n, `deposit:${depositor.publicKey.toBase58()}`);
    await w.h.get("/api/v1/balance", { agent: depositor }); // a first scan: the cursor is set
    const start = cursor();
    expect(start).to.be.a("string");
    await w.pay(depositor, 1000n, `deposit:${depositor.publicKey.toBase58()}`);
    // 5,000 real signed transfers into the service account, executed by the stand-in without HTTP.
    const busy = w.agent(1_000_000n);
    const from = getAssociatedTokenAddressSync(w.mint, busy.publicKey);
    const to = getAssociatedTokenAddressSync(w.mint, w.service.publicKey);
    let bh = w.sol.latestBlockhash();
    for (let i = 0; i < 5000; i++) {
      if (i % 100 === 0) bh = w.sol.latestBlockhash();
      const tx = new Transaction({ feePayer: busy.publicKey, ...bh }).add(
        createTransferCheckedInstruction(from, w.mint, to, busy.publicKey, 1n, 9),
        createMemoInstruction(`traffic-${i}`, [busy.publicKey]),
      );
      tx.sign(busy);
      w.sol.submit(tx.serialize());
    }
    const calls = sigCalls();
    const b = await w.h.get("/api/v1/balance", { agent: depositor });
    expect(b.status, b.text).to.equal(200);
    expect(b.body).to.include({ balance: 1005, deposit_scan: "ok" });
    expect(sigCalls() - calls, "pages of 1,000 back to the cursor").to.equal(6);
    expect(cursor()).to.not.equal(start);
    // The next scan reads one empty page: nothing is processed twice.
    const again = sigCalls();
    await w.h.rt.deposits!.scan();
    expect(sigCalls() - again).to.equal(1);
    expect(w.h.balance(depositor)).to.equal(1005n * WATT);
    // The 5,000 job-memo transfers wait (unsettled) for their requests or the grace period.
    expect(
      (w.h.db.prepare("SELECT count(*) n FROM watt_unsettled WHERE reason = 'not counted yet'").get() as { n: number }).n,
    ).to.be.at.least(5000);
  });

  it("a deposit rejected once is kept and re-examined after the grace period, without a restart", async () => {
    const a = w.agent();
    // An unchecked SPL transfer: not a valid deposit (transferChecked is required).
    const sig = await w.send(
      [a],
      [
        createTransferInstruction(
          getAssociatedTokenAddressSync(w.mint, a.publicKey),
          getAssociatedTokenAddressSync(w.mint, w.service.publicKey),
          a.publicKey,
          70n * WATT,
        ),
        createMemoInstruction(`deposit:${a.publicKey.toBase58()}`, [a.publicKey]),
      ],
    );
    await w.h.rt.deposits!.scan();
    expect(w.h.balance(a)).to.equal(0n);
    const row = w.h.db.prepare("SELECT reason FROM watt_unsettled WHERE signature = ?").get(sig) as { reason: string };
    expect(row.reason).to.equal("deposit rejected: PAYMENT_INVALID");
    // Within the grace period: still waiting. After it (scan(0)): what arrived is credited to the payer.
    await w.h.rt.deposits!.scan();
    expect(w.h.balance(a)).to.equal(0n);
    await w.h.rt.deposits!.scan(0);
    expect(w.h.balance(a)).to.equal(70n * WATT);
    expect(w.h.db.prepare("SELECT 1 FROM watt_unsettled WHERE signature = ?").get(sig)).to.equal(undefined);
    expect((await w.h.totals()).discrepancy).to.equal(0n);
    expect(w.serviceBalance(), "the service account holds exactly what was received").to.equal((await w.h.totals()).received);
  });

  it("POST /api/v1/deposits {signature}: a signed claim credits the deposit once; idempotent; unsigned is SIGNATURE_REQUIRED", async () => {
    const a = w.agent();
    const sig = await w.pay(a, 250n, `deposit:${a.publicKey.toBase58()}`);
    const unsigned = await w.h.post("/api/v1/deposits", { signature: sig });
    expect(unsigned.status).to.equal(401);
    expect(unsigned.body.code).to.equal("SIGNATURE_REQUIRED");
    const r = await w.h.post("/api/v1/deposits", { signature: sig }, { agent: a });
    expect(r.status, r.text).to.equal(200);
    expect(r.body).to.include({
      success: true,
      signature: sig,
      credited_to: a.publicKey.toBase58(),
      amount: 250,
      already_credited: false,
      balance: 250,
    });
    const again = await w.h.post("/api/v1/deposits", { signature: sig }, { agent: a });
    expect(again.status).to.equal(200);
    expect(again.body).to.include({ amount: 250, already_credited: true, balance: 250 });
    await w.h.rt.deposits!.scan(0);
    expect(w.h.balance(a), "the scan does not count it again").to.equal(250n * WATT);
    const bad = await w.h.post("/api/v1/deposits", { signature: "not-a-signature" }, { agent: a });
    expect(bad.body.code).to.equal("INVALID_REQUEST");
  });

  it("a claim of a transfer that is not a deposit: only its payer may claim it (PAYMENT_NOT_YOURS), then it pays for no job", async () => {
    const payer = w.agent();
    const other = w.agent(0n);
    const job = `claimed-${Date.now()}`;
    const sig = await w.send(
      [payer],
      [
        createTransferCheckedInstruction(
          getAssociatedTokenAddressSync(w.mint, payer.publicKey),
          w.mint,
          getAssociatedTokenAddressSync(w.mint, w.service.publicKey),
          payer.publicKey,
          100n * WATT,
          9,
        ),
        createMemoInstruction(job, [payer.publicKey]),
      ],
    );
    const stolen = await w.h.post("/api/v1/deposits", { signature: sig }, { agent: other });
    expect(stolen.status).to.equal(403);
    expect(stolen.body.code).to.equal("PAYMENT_NOT_YOURS");
    expect(w.h.balance(other)).to.equal(0n);
    const own = await w.h.post("/api/v1/deposits", { signature: sig }, { agent: payer });
    expect(own.status, own.text).to.equal(200);
    expect(own.body).to.include({ credited_to: payer.publicKey.toBase58(), amount: 100 });
    expect((await w.h.totals()).discrepancy).to.equal(0n);
  });
});
