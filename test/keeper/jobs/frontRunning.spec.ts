/**
 * The front-running attack of issue 10: a WATT payment's memo (the job_id) is public on chain the
 * moment it lands. Whoever sees it must not be able to spend it: an unsigned request gets 402 / 401
 * and no RPC call, a request signed by another key gets 403 PAYMENT_NOT_YOURS, a job_id used first by
 * someone else is 409 JOB_ID_TAKEN (revealing nothing) and the payer's transfer is credited to the
 * payer's balance. The payer's own signed request runs and is charged once. For /scrape and /execute.
 */
import { expect } from "chai";
import { Keypair } from "@solana/web3.js";
import { createTransferCheckedInstruction, getAssociatedTokenAddressSync } from "@solana/spl-token";
import { createMemoInstruction } from "@solana/spl-memo";
import { startPageServer } from "./harness";
import { startWattWorld, WattWorld, WATT } from "./solanaFixture";

describe("front-running a memo payment (issue 10)", function () {
  this.timeout(60_000);
  let w: WattWorld;
  let site: Awaited<ReturnType<typeof startPageServer>>;
  let n = 0;
  const id = () => `fr-${n++}-${Date.now()}`;
  const jobRow = (job: string) =>
    w.h.db.prepare("SELECT agent, payment, signature, charged FROM jobs WHERE job_id = ?").get(job) as Record<string, string> | undefined;
  const paymentRows = (sig: string) =>
    (w.h.db.prepare("SELECT count(*) n FROM watt_payments WHERE signature = ?").get(sig) as { n: number }).n;

  before(async () => {
    site = await startPageServer();
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

  const services = [
    {
      route: "/api/v1/scrape",
      price: 100n,
      victimBody: (job: string) => ({ url: `${site.url}/victim/${job}`, job_id: job }),
      attackerBody: (job: string) => ({ url: `${site.url}/attacker/${job}`, job_id: job }),
    },
    {
      route: "/api/v1/execute",
      price: 300n,
      victimBody: (job: string) => ({ job_id: job, language: "python", code: "print('victim')" }),
      attackerBody: (job: string) => ({ job_id: job, language: "python", code: "print('attacker')" }),
    },
  ];

  for (const s of services) {
    it(`${s.route}: the attacker's unsigned and signed requests with the victim's job_id get nothing and run nothing; the victim's own request runs, charged once`, async () => {
      const victim = w.agent();
      const attacker = w.agent(0n);
      const job = id();
      const sig = await w.pay(victim, s.price, job);
      const hits = site.hits();
      const rpc = w.sol.requests.total;

      // Unsigned: x402 is the only unsigned rail; without it, 402 and no RPC call at all.
      const unsigned = await w.h.post(s.route, s.attackerBody(job));
      expect(unsigned.status, unsigned.text).to.equal(402);
      expect(unsigned.body.code).to.equal("PAYMENT_REQUIRED");
      // Unsigned, naming the victim's transaction: refused before anything looks at it.
      const named = await w.h.post(s.route, s.attackerBody(job), { headers: { "x-payment-signature": sig } });
      expect(named.status, named.text).to.equal(401);
      expect(named.body.code).to.equal("SIGNATURE_REQUIRED");
      expect(w.sol.requests.total - rpc, "no RPC call for unsigned requests").to.equal(0);

      // Signed by the attacker: found by memo or named, the transfer is not the attacker's.
      const byMemo = await w.h.post(s.route, s.attackerBody(job), { agent: attacker });
      expect(byMemo.status, byMemo.text).to.equal(403);
      expect(byMemo.body.code).to.equal("PAYMENT_NOT_YOURS");
      const byName = await w.h.post(s.route, s.attackerBody(job), { agent: attacker, headers: { "x-payment-signature": sig } });
      expect(byName.status, byName.text).to.equal(403);
      expect(byName.body.code).to.equal("PAYMENT_NOT_YOURS");

      expect(site.hits(), "nothing fetched").to.equal(hits);
      expect(jobRow(job), "no job").to.equal(undefined);
      expect(paymentRows(sig), "the payment untouched").to.equal(0);
      expect(w.h.balance(attacker)).to.equal(0n);

      // The victim's own signed request: runs, paid by its transfer, charged once.
      const own = await w.h.post(s.route, s.victimBody(job), { agent: victim });
      expect(own.status, own.text).to.equal(200);
      expect(own.body.watt_charged).to.equal(Number(s.price));
      if (s.route.endsWith("execute")) expect(own.body.output.stdout).to.equal("victim\n");
      expect(jobRow(job)).to.deep.include({
        agent: victim.publicKey.toBase58(),
        payment: "onchain",
        signature: sig,
        charged: (s.price * WATT).toString(),
      });
      const again = await w.h.post(s.route, s.victimBody(job), { agent: victim });
      expect(again.text, "a retry gets the stored answer").to.equal(own.text);
      expect(w.h.balance(victim), "no second charge, nothing left over").to.equal(0n);
      expect(paymentRows(sig)).to.equal(1);

      // After the job ran, the attacker learns nothing with the job_id, signed or not.
      for (const r of [await w.h.post(s.route, s.victimBody(job)), await w.h.post(s.route, s.victimBody(job), { agent: attacker })]) {
        expect(r.status).to.equal(409);
        expect(r.body).to.deep.equal({
          success: false,
          error: `job_id ${job} is already taken; use a new job_id`,
          code: "JOB_ID_TAKEN",
          job_id: job,
        });
      }
      expect((await w.h.totals()).discrepancy).to.equal(0n);
    });
  }

  it("a job_id used first by another agent (its own money): JOB_ID_TAKEN for the payer, whose transfer is credited to its balance, once", async () => {
    const victim = w.agent();
    const squatter = Keypair.generate();
    await w.h.grant(squatter, 500);
    const job = id();
    const sig = await w.pay(victim, 100n, job);
    const squat = await w.h.post("/api/v1/scrape", { url: `${site.url}/squat/${job}`, job_id: job }, { agent: squatter });
    expect(squat.status, squat.text).to.equal(200); // paid from the squatter's own balance
    const r = await w.h.post("/api/v1/scrape", { url: `${site.url}/victim/${job}`, job_id: job }, { agent: victim });
    expect(r.status).to.equal(409);
    expect(r.body).to.include({ code: "JOB_ID_TAKEN", watt_credited: 100 });
    expect(r.body).to.not.have.any.keys("data", "result", "agent");
    expect(w.h.balance(victim)).to.equal(100n * WATT);
    const again = await w.h.post("/api/v1/scrape", { url: `${site.url}/victim/${job}`, job_id: job }, { agent: victim });
    expect(again.body.code).to.equal("JOB_ID_TAKEN");
    expect(again.body).to.not.have.property("watt_credited");
    expect(w.h.balance(victim), "credited once").to.equal(100n * WATT);
    expect(paymentRows(sig)).to.equal(1);
    expect((await w.h.totals()).discrepancy).to.equal(0n);
  });

  it("the fee payer is not the payer: a transfer the attacker paid the fee for but the victim signed is not the attacker's", async () => {
    const victim = w.agent();
    const attacker = w.agent(0n);
    const job = id();
    const from = getAssociatedTokenAddressSync(w.mint, victim.publicKey);
    const to = getAssociatedTokenAddressSync(w.mint, w.service.publicKey);
    // signers[0] pays the fee: the attacker.
    const sig = await w.send(
      [attacker, victim],
      [
        createTransferCheckedInstruction(from, w.mint, to, victim.publicKey, 100n * WATT, 9),
        createMemoInstruction(job, [victim.publicKey]),
      ],
    );
    const r = await w.h.post(
      "/api/v1/scrape",
      { url: `${site.url}/fee/${job}`, job_id: job },
      { agent: attacker, headers: { "x-payment-signature": sig } },
    );
    expect(r.status, r.text).to.equal(403);
    expect(r.body.code).to.equal("PAYMENT_NOT_YOURS");
    const own = await w.h.post("/api/v1/scrape", { url: `${site.url}/fee/${job}`, job_id: job }, { agent: victim });
    expect(own.status, own.text).to.equal(200);
  });
});
