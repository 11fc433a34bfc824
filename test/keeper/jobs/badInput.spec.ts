/**
 * Bad input, as an attacker or a buggy agent sends it: every malformed body is a 4xx with a code and a
 * message naming what is wrong; never a 500, never a charge. A property-based run throws thousands of
 * random bodies (random JSON, mutations of valid bodies, wrong types, huge strings) at both services.
 */
import { expect } from "chai";
import fc from "fast-check";
import { Keypair } from "@solana/web3.js";
import { ApiHarness, startApiHarness, startPageServer } from "./harness";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 3000);

describe("bad input to the paid APIs", function () {
  this.timeout(300_000);
  let h: ApiHarness;
  let site: Awaited<ReturnType<typeof startPageServer>>;
  const agent = Keypair.generate();

  before(async () => {
    site = await startPageServer();
    // Rate limits out of the way: this is about input, not volume.
    h = await startApiHarness({
      RATE_LIMIT_URL_PER_HOUR: "10000000",
      RATE_LIMIT_AGENT_PER_HOUR: "10000000",
      RATE_LIMIT_GLOBAL_PER_HOUR: "100000000",
    });
    await h.grant(agent, 1);
  });
  after(async () => {
    await h?.close();
    await site?.close();
  });

  const named: [string, string, unknown, RegExp][] = [
    ["scrape", "missing url", { job_id: "a1" }, /url/],
    ["scrape", "missing job_id", { url: "http://example.com/" }, /job_id/],
    ["scrape", "url not a string", { url: 42, job_id: "a2" }, /url/],
    ["scrape", "ftp url", { url: "ftp://example.com/x", job_id: "a3" }, /url/],
    ["scrape", "unknown output_format", { url: "http://example.com/", job_id: "a4", output_format: "pdf" }, /output_format/],
    ["scrape", "negative timeout", { url: "http://example.com/", job_id: "a5", options: { timeout: -1 } }, /timeout/],
    ["scrape", "selectors not a map", { url: "http://example.com/", job_id: "a6", selectors: ["h1"] }, /selectors/],
    ["scrape", "huge url", { url: `http://example.com/${"a".repeat(100_000)}`, job_id: "a7" }, /url/],
    ["scrape", "job_id with spaces", { url: "http://example.com/", job_id: "a b" }, /job_id/],
    ["scrape", "job_id too long", { url: "http://example.com/", job_id: "x".repeat(200) }, /job_id/],
    ["scrape", "reserved deposit prefix", { url: "http://example.com/", job_id: "deposit:abc" }, /job_id/],
    ["execute", "unknown language", { job_id: "b1", language: "ruby", code: "puts 1" }, /language/],
    ["execute", "code not a string", { job_id: "b2", language: "python", code: { x: 1 } }, /code/],
    ["execute", "negative timeout", { job_id: "b3", language: "bash", code: "true", timeout: -5 }, /timeout/],
    ["execute", "timeout above extended", { job_id: "b4", language: "bash", code: "true", timeout: 3600 }, /timeout/],
    ["execute", "memory as text", { job_id: "b5", language: "bash", code: "true", memory_mb: "lots" }, /memory_mb/],
    ["execute", "body is an array", [1, 2, 3], /body|job_id/],
    ["execute", "body is null", null, /body|job_id/],
  ];
  for (const [svc, what, body, field] of named) {
    it(`${svc}: ${what} -> 400 INVALID_REQUEST naming the field`, async () => {
      const r = await h.post(`/api/v1/${svc}`, body, { agent });
      expect(r.status, r.text).to.equal(400);
      expect(r.body).to.include({ success: false, code: "INVALID_REQUEST" });
      expect(r.body.error).to.match(field);
    });
  }

  it("not JSON, empty, wrong content type, too large: 4xx with a code, never a 500", async () => {
    const send = (body: string, type = "application/json") =>
      fetch(`${h.url}/api/v1/scrape`, { method: "POST", headers: { "content-type": type }, body });
    for (const [body, type, status] of [
      ["{not json", "application/json", 400],
      ["", "application/json", 400],
      ["url=x", "application/x-www-form-urlencoded", 415],
      [JSON.stringify({ url: "http://example.com/", job_id: "z", pad: "x".repeat(2 * 1024 * 1024) }), "application/json", 413],
    ] as const) {
      const r = await send(body, type);
      const j = (await r.json()) as { success: boolean; code: string };
      expect(r.status, `${type} ${body.slice(0, 20)}`).to.equal(status);
      expect(j.success).to.equal(false);
      expect(j.code).to.equal("INVALID_REQUEST");
    }
    const nf = await fetch(`${h.url}/api/v1/nothing`, { method: "POST" });
    expect(nf.status).to.equal(404);
    expect(((await nf.json()) as { code: string }).code).to.equal("NOT_FOUND");
  });

  it(`${RUNS} random bodies: always a 4xx with a documented code; nothing charged, nothing run`, async () => {
    const valid = {
      scrape: {
        url: `${site.url}/page`,
        job_id: "fuzz",
        output_format: "text",
        selectors: { t: "h1" },
        options: { javascript: false, screenshots: false, timeout: 5 },
      },
      execute: { job_id: "fuzz", language: "python", code: "print(1)", timeout: 5, memory_mb: 64 },
    };
    const anyValue = fc.oneof(
      fc.constant(null),
      fc.boolean(),
      fc.integer(),
      fc.double(),
      fc.string({ maxLength: 50 }),
      fc.constantFrom(
        "",
        " ",
        "\u0000",
        "http://10.0.0.1/",
        "javascript:alert(1)",
        "x".repeat(70_000),
        "-1",
        "1e309",
        "__proto__",
        "python",
        "bash",
      ),
      fc.array(fc.integer(), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
    );
    const mutated = (svc: "scrape" | "execute") =>
      fc
        .record({
          key: fc.constantFrom(...Object.keys(valid[svc]), "options", "extra", "constructor"),
          value: anyValue,
          drop: fc.boolean(),
        })
        .map(({ key, value, drop }) => {
          const b: Record<string, unknown> = JSON.parse(JSON.stringify(valid[svc]));
          if (drop) delete b[key];
          else b[key] = value;
          return b;
        });
    const codes = new Set([
      "INVALID_REQUEST",
      "DOMAIN_BLOCKED",
      "PAYMENT_NOT_FOUND",
      "PAYMENT_INSUFFICIENT",
      "PAYMENT_REQUIRED",
      "JOB_ID_CONFLICT",
    ]);
    const seen: Record<string, number> = {};
    const before = h.balance(agent);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("scrape" as const, "execute" as const),
        fc.oneof(anyValue, fc.jsonValue({ maxDepth: 3 }), mutated("scrape"), mutated("execute")),
        fc.boolean(),
        async (svc, body, signed) => {
          const r = await h.post(`/api/v1/${svc}`, body, signed ? { agent } : {});
          seen[r.body.code] = (seen[r.body.code] ?? 0) + 1;
          expect(r.status, r.text.slice(0, 300)).to.be.within(400, 499);
          expect(r.body.success).to.equal(false);
          expect(codes.has(r.body.code), r.text.slice(0, 300)).to.equal(true);
          expect(r.body.error).to.be.a("string").and.not.equal("");
        },
      ),
      { numRuns: RUNS },
    );
    expect(h.balance(agent), "a balance of 1 WATT pays for nothing").to.equal(before);
    expect((h.db.prepare("SELECT count(*) n FROM jobs").get() as { n: number }).n).to.equal(0);
    expect(seen.INVALID_REQUEST, JSON.stringify(seen)).to.be.greaterThan(RUNS / 3);
  });
});
