/**
 * The paid-job pipeline with prepaid balances, through HTTP: charging, the spec's answer shapes,
 * idempotent retries, refunds by outcome, signed-request checks, and the ledger behind it.
 */
import { expect } from "chai";
import { Keypair } from "@solana/web3.js";
import { outcomeHash } from "../../../keeper/jobs/pipeline";
import { ApiHarness, startApiHarness, startPageServer } from "./harness";

const WATT = 10n ** 9n;

describe("paid jobs from a prepaid balance (POST /api/v1/scrape, /execute)", function () {
  this.timeout(60_000);
  let h: ApiHarness;
  let site: Awaited<ReturnType<typeof startPageServer>>;
  const agent = Keypair.generate();
  let n = 0;
  const id = () => `pre-${Date.now()}-${n++}`;

  before(async () => {
    site = await startPageServer();
    h = await startApiHarness();
    await h.grant(agent, 10_000);
  });
  after(async () => {
    await h?.close();
    await site?.close();
  });

  it("a static scrape answers the spec's shape and charges the simple price, 0.15 % of it burned", async () => {
    const before = h.balance(agent);
    const job = id();
    const r = await h.post("/api/v1/scrape", { url: `${site.url}/page`, job_id: job, output_format: "text" }, { agent });
    expect(r.status, r.text).to.equal(200);
    expect(r.body).to.include({ success: true, job_id: job, watt_charged: 100, watt_burned: 0.15 });
    expect(r.body.data.text).to.contain("Hello /page");
    expect(r.body.metadata).to.include.keys("url", "scraped_at", "size_bytes", "execution_ms");
    expect(h.balance(agent)).to.equal(before - 100n * WATT);
    const row = h.db.prepare("SELECT * FROM jobs WHERE job_id = ?").get(job) as Record<string, string>;
    expect(row).to.include({
      state: "succeeded",
      payment: "prepaid",
      charged: (100n * WATT).toString(),
      burned: (15n * WATT) / 100n + "",
      refunded: "0",
    });
    expect(row.outcome_hash).to.equal(outcomeHash(r.text));
  });

  it("selectors are the standard tier (200 WATT)", async () => {
    const r = await h.post(
      "/api/v1/scrape",
      { url: `${site.url}/page`, job_id: id(), output_format: "json", selectors: { title: "h1.t", price: ".price" } },
      { agent },
    );
    expect(r.status, r.text).to.equal(200);
    expect(r.body.watt_charged).to.equal(200);
    expect(JSON.stringify(r.body.data)).to.contain("42");
  });

  it("a retried job returns the first answer byte for byte and is not charged again", async () => {
    const job = id();
    const body = { url: `${site.url}/page`, job_id: job, output_format: "html" };
    const first = await h.post("/api/v1/scrape", body, { agent });
    const bal = h.balance(agent);
    const hits = site.hits();
    const again = await h.post("/api/v1/scrape", body, { agent });
    expect(again.status).to.equal(first.status);
    expect(again.text).to.equal(first.text);
    expect(again.headers["x-job-replayed"]).to.equal("true");
    expect(h.balance(agent)).to.equal(bal);
    expect(site.hits(), "the page was not fetched again").to.equal(hits);
    // Unsigned, or signed by another agent: the answer is the agent's own, JOB_ID_TAKEN reveals nothing.
    for (const other of [await h.post("/api/v1/scrape", body), await h.post("/api/v1/scrape", body, { agent: Keypair.generate() })]) {
      expect(other.status).to.equal(409);
      expect(other.body).to.deep.equal({
        success: false,
        error: `job_id ${job} is already taken; use a new job_id`,
        code: "JOB_ID_TAKEN",
        job_id: job,
      });
    }
  });

  it("the same job_id with another body is JOB_ID_CONFLICT, nothing charged", async () => {
    const job = id();
    await h.post("/api/v1/scrape", { url: `${site.url}/page`, job_id: job }, { agent });
    const bal = h.balance(agent);
    const r = await h.post("/api/v1/scrape", { url: `${site.url}/other`, job_id: job }, { agent });
    expect(r.status).to.equal(409);
    expect(r.body).to.include({ success: false, code: "JOB_ID_CONFLICT" });
    const x = await h.post("/api/v1/execute", { job_id: job, language: "bash", code: "echo hi" }, { agent });
    expect(x.body.code).to.equal("JOB_ID_CONFLICT");
    expect(h.balance(agent)).to.equal(bal);
  });

  it("an upstream 404 is SCRAPE_FAILED and charged (the fetch was made); an unreachable site is refunded", async () => {
    const bal = h.balance(agent);
    const r = await h.post("/api/v1/scrape", { url: `${site.url}/missing`, job_id: id() }, { agent });
    expect(r.body).to.include({ success: false, code: "SCRAPE_FAILED", watt_charged: 100, watt_burned: 0.15 });
    expect(h.balance(agent)).to.equal(bal - 100n * WATT);
    const closed = await startPageServer();
    const deadUrl = `${closed.url}/page`;
    await closed.close();
    const job = id();
    const u = await h.post("/api/v1/scrape", { url: deadUrl, job_id: job }, { agent });
    expect(u.body).to.include({ success: false, code: "SCRAPE_FAILED", watt_charged: 0, watt_refunded: 100 });
    expect(u.body).to.not.have.property("refund");
    expect(h.balance(agent)).to.equal(bal - 100n * WATT);
    const led = h.db.prepare("SELECT kind, amount FROM watt_ledger WHERE job_id = ? ORDER BY id").all(job);
    expect(led).to.deep.equal([
      { kind: "charge", amount: (-100n * WATT).toString() },
      { kind: "refund", amount: (100n * WATT).toString() },
    ]);
  });

  it("DOMAIN_BLOCKED is answered before payment: nothing charged, no job recorded", async () => {
    const bal = h.balance(agent);
    for (const url of [
      "http://10.0.0.1/",
      "http://169.254.169.254/latest/meta-data/",
      "http://localhost:1/",
      "http://[::ffff:10.0.0.1]/",
      "http://167772161/", // 10.0.0.1 in decimal
      "http://012.0.0.1/", // 10.0.0.1 in octal
      "http://0xc0.0xa8.0.1/", // 192.168.0.1 in hex
      "file:///etc/passwd",
    ]) {
      const job = id();
      const r = await h.post("/api/v1/scrape", { url, job_id: job }, { agent });
      expect(r.status, url).to.be.oneOf([400, 403]);
      expect(r.body.code, url).to.equal(url.startsWith("file:") ? "INVALID_REQUEST" : "DOMAIN_BLOCKED");
      expect(h.db.prepare("SELECT 1 FROM jobs WHERE job_id = ?").get(job), url).to.equal(undefined);
    }
    expect(h.balance(agent)).to.equal(bal);
  });

  it("execute: quick tier 300 WATT, stdout and exit code; a timeout is EXECUTION_TIMEOUT and charged", async () => {
    const bal = h.balance(agent);
    const r = await h.post(
      "/api/v1/execute",
      { job_id: id(), language: "python", code: "print(6*7)", timeout: 5, memory_mb: 64 },
      { agent },
    );
    expect(r.status, r.text).to.equal(200);
    expect(r.body).to.include({ success: true, watt_charged: 300 });
    expect(r.body.output).to.include({ stdout: "42\n", exit_code: 0 });
    expect(r.body.metadata).to.include({ language: "python" });
    const t = await h.post("/api/v1/execute", { job_id: id(), language: "bash", code: "while :; do :; done", timeout: 1 }, { agent });
    expect(t.body).to.include({ success: false, code: "EXECUTION_TIMEOUT", watt_charged: 300 });
    expect(h.balance(agent)).to.equal(bal - 600n * WATT);
  });

  it("a balance below the price is PAYMENT_INSUFFICIENT with both figures; nothing is charged or run", async () => {
    const poor = Keypair.generate();
    await h.grant(poor, "99.5");
    const hits = site.hits();
    const job = id();
    const r = await h.post("/api/v1/scrape", { url: `${site.url}/page`, job_id: job }, { agent: poor });
    expect(r.status).to.equal(402);
    expect(r.body).to.include({ success: false, code: "PAYMENT_INSUFFICIENT", balance: 99.5, price: 100 });
    expect(h.balance(poor)).to.equal((995n * WATT) / 10n);
    expect(site.hits()).to.equal(hits);
    expect(h.db.prepare("SELECT 1 FROM jobs WHERE job_id = ?").get(job)).to.equal(undefined);
  });

  it("signed requests: a wrong signature, a stale timestamp, a missing header, a changed body or another service's signature is UNAUTHORIZED; v1 is AUTH_V1_REFUSED", async () => {
    const body = JSON.stringify({ url: `${site.url}/page`, job_id: id() });
    const { signAgentRequest, signAgentRequestV1 } = await import("../../../keeper/payments/agentAuth");
    const good = signAgentRequest(agent.secretKey, h.serviceId, "POST", "/api/v1/scrape", body);
    const cases: Record<string, Record<string, string>> = {
      "other key": { ...good, "x-agent-pubkey": Keypair.generate().publicKey.toBase58() },
      stale: signAgentRequest(agent.secretKey, h.serviceId, "POST", "/api/v1/scrape", body, Date.now() - 10 * 60_000),
      "no signature": { "x-agent-pubkey": good["x-agent-pubkey"], "x-agent-timestamp": good["x-agent-timestamp"] },
      "other path": signAgentRequest(agent.secretKey, h.serviceId, "POST", "/api/v1/execute", body),
      "other service": signAgentRequest(agent.secretKey, "https://another-keeper.example", "POST", "/api/v1/scrape", body),
      garbage: { ...good, "x-agent-signature": "AAAA" },
    };
    const bal = h.balance(agent);
    for (const [name, headers] of Object.entries(cases)) {
      const r = await h.post("/api/v1/scrape", body, { headers });
      expect(r.status, name).to.equal(401);
      expect(r.body.code, name).to.equal("UNAUTHORIZED");
    }
    const changed = await h.post("/api/v1/scrape", body.replace("/page", "/pag2"), { headers: good });
    expect(changed.body.code).to.equal("UNAUTHORIZED");
    const v1 = await h.post("/api/v1/scrape", body, { headers: signAgentRequestV1(agent.secretKey, "POST", "/api/v1/scrape", body) });
    expect(v1.status).to.equal(401);
    expect(v1.body.code).to.equal("AUTH_V1_REFUSED");
    expect(h.balance(agent)).to.equal(bal);
  });

  it("unsigned: 402 PAYMENT_REQUIRED with the price, saying how to pay", async () => {
    const r = await h.post("/api/v1/scrape", { url: `${site.url}/page`, job_id: id() });
    expect(r.status).to.equal(402);
    expect(r.body).to.include({ code: "PAYMENT_REQUIRED", price: 100 });
    expect(r.body.error).to.match(/prepaid/);
  });

  it("GET /api/v1/balance needs a signature and shows the balance and ledger", async () => {
    expect((await h.get("/api/v1/balance")).status).to.equal(401);
    const r = await h.get("/api/v1/balance", { agent });
    expect(r.status, r.text).to.equal(200);
    expect(r.body.agent).to.equal(agent.publicKey.toBase58());
    expect(BigInt(r.body.balance_base_units)).to.equal(h.balance(agent));
    expect(r.body.ledger[r.body.ledger.length - 1]).to.include({ kind: "grant", amount: 10_000 });
    expect(r.body.deposit_memo).to.equal(`deposit:${agent.publicKey.toBase58()}`);
  });

  it("GET /api/v1/jobs/:id returns the stored result; unknown ids are JOB_NOT_FOUND", async () => {
    const job = id();
    const r = await h.post("/api/v1/scrape", { url: `${site.url}/page`, job_id: job }, { agent });
    const j = await h.get(`/api/v1/jobs/${job}`, { agent });
    expect(j.body).to.include({
      success: true,
      view: "agent",
      job_id: job,
      service: "scrape",
      state: "succeeded",
      watt_charged: 100,
      agent: agent.publicKey.toBase58(),
    });
    expect(j.body.result).to.deep.equal(r.body);
    expect(j.body.batch).to.equal(null); // not cut yet (JOB_BATCH_MAX_AGE_S)
    expect((await h.get("/api/v1/jobs/nope")).body.code).to.equal("JOB_NOT_FOUND");
  });

  it("every WATT is accounted for: granted = charged + balances", async () => {
    const t = await h.totals();
    expect(t.discrepancy).to.equal(0n);
    expect(t.received).to.equal(0n);
    expect(t.granted).to.equal(t.charged + t.balances);
    const jobs = h.db.prepare("SELECT charged, burned FROM jobs").all() as { charged: string; burned: string }[];
    for (const j of jobs) expect(BigInt(j.burned)).to.equal((BigInt(j.charged) * 15n) / 10_000n);
  });
});
