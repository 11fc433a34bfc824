/**
 * Rate limits (design.md section 5: per agent, per URL, global per hour), answered RATE_LIMITED with
 * Retry-After, never charged, and kept across a restart (same database). Limits are lowered by
 * configuration so the tests stay short; the window arithmetic is tested on the limiter directly.
 */
import { expect } from "chai";
import { Keypair } from "@solana/web3.js";
import { ApiHarness, startApiHarness, startPageServer } from "./harness";
import { RateLimiter, WINDOW_MS } from "../../../keeper/jobs/rateLimiter";
import { openStore } from "../../../keeper/store/store";
import { tempDir } from "../shared/chain";
import path from "node:path";
import { ServiceError } from "../../../keeper/services/jobService";

describe("rate limits", function () {
  this.timeout(60_000);
  let site: Awaited<ReturnType<typeof startPageServer>>;
  before(async () => (site = await startPageServer()));
  after(async () => site?.close());
  let n = 0;
  const id = () => `rl-${Date.now()}-${n++}`;

  describe("through the API", () => {
    let h: ApiHarness;
    const env = { RATE_LIMIT_URL_PER_HOUR: "3", RATE_LIMIT_AGENT_PER_HOUR: "5", RATE_LIMIT_GLOBAL_PER_HOUR: "8" };
    afterEach(async () => h?.close());

    it("per URL: the 4th scrape of one URL within the hour is RATE_LIMITED with Retry-After; another URL still works", async () => {
      h = await startApiHarness(env);
      const a = Keypair.generate();
      await h.grant(a, 100_000);
      for (let i = 0; i < 3; i++)
        expect((await h.post("/api/v1/scrape", { url: `${site.url}/same`, job_id: id() }, { agent: a })).status).to.equal(200);
      const bal = h.balance(a);
      const hits = site.hits();
      const r = await h.post("/api/v1/scrape", { url: `${site.url}/same`, job_id: id() }, { agent: a });
      expect(r.status).to.equal(429);
      expect(r.body).to.include({ success: false, code: "RATE_LIMITED", limit: "url" });
      const retry = Number(r.headers["retry-after"]);
      expect(retry).to.be.within(3590, 3600);
      expect(r.body.retry_after_s).to.equal(retry);
      expect(h.balance(a), "not charged").to.equal(bal);
      expect(site.hits(), "not fetched").to.equal(hits);
      // A query string or different spelling of the host does not get around it (the key is scheme, host, port, path)...
      expect((await h.post("/api/v1/scrape", { url: `${site.url}/same?x=1`, job_id: id() }, { agent: a })).body.code).to.equal(
        "RATE_LIMITED",
      );
      expect(
        (await h.post("/api/v1/scrape", { url: `${site.url.toUpperCase().replace("HTTP", "http")}/same#frag`, job_id: id() }, { agent: a }))
          .body.code,
      ).to.equal("RATE_LIMITED");
      // ...while another page of the same site is its own URL.
      expect((await h.post("/api/v1/scrape", { url: `${site.url}/other`, job_id: id() }, { agent: a })).status).to.equal(200);
    });

    it("per agent (5) and global (8): each refused with its own scope; other agents go on until the global cap", async () => {
      h = await startApiHarness(env);
      const a = Keypair.generate();
      const b = Keypair.generate();
      await h.grant(a, 100_000);
      await h.grant(b, 100_000);
      for (let i = 0; i < 5; i++)
        expect((await h.post("/api/v1/scrape", { url: `${site.url}/a${i}`, job_id: id() }, { agent: a })).status).to.equal(200);
      const r = await h.post("/api/v1/scrape", { url: `${site.url}/a9`, job_id: id() }, { agent: a });
      expect(r.body).to.include({ code: "RATE_LIMITED", limit: "agent" });
      for (let i = 0; i < 3; i++)
        expect((await h.post("/api/v1/scrape", { url: `${site.url}/b${i}`, job_id: id() }, { agent: b })).status).to.equal(200);
      const g = await h.post("/api/v1/scrape", { url: `${site.url}/b9`, job_id: id() }, { agent: b });
      expect(g.body).to.include({ code: "RATE_LIMITED", limit: "global" });
      // Limits are per service: execute has its own counters.
      const x = await h.post("/api/v1/execute", { job_id: id(), language: "bash", code: "echo ok" }, { agent: a });
      expect(x.status, x.text).to.equal(200);
    });

    it("survives a restart: the same database keeps the hour's hits", async () => {
      h = await startApiHarness(env);
      const dir = h.dataDir;
      const a = Keypair.generate();
      await h.grant(a, 100_000);
      for (let i = 0; i < 3; i++) await h.post("/api/v1/scrape", { url: `${site.url}/persist`, job_id: id() }, { agent: a });
      await h.close();
      h = await startApiHarness(env, dir);
      const r = await h.post("/api/v1/scrape", { url: `${site.url}/persist`, job_id: id() }, { agent: a });
      expect(r.body.code).to.equal("RATE_LIMITED");
    });

    it("a replayed answer does not count against any limit", async () => {
      h = await startApiHarness(env);
      const a = Keypair.generate();
      await h.grant(a, 100_000);
      const body = { url: `${site.url}/replay`, job_id: id() };
      for (let i = 0; i < 10; i++) expect((await h.post("/api/v1/scrape", body, { agent: a })).status).to.equal(200);
      expect((await h.post("/api/v1/scrape", { url: `${site.url}/replay`, job_id: id() }, { agent: a })).status).to.equal(200);
    });
  });

  describe("the sliding window", () => {
    const limiter = () => new RateLimiter(openStore(path.join(tempDir(), "k.sqlite")));
    const refused = async (f: () => Promise<void>): Promise<ServiceError | undefined> => {
      try {
        await f();
        return undefined;
      } catch (e) {
        return e as ServiceError;
      }
    };

    it("at the boundary: a hit exactly one hour old no longer counts; one a millisecond younger does", async () => {
      const l = limiter();
      const t0 = 1_700_000_000_000;
      await l.record(["k"], t0);
      await l.record(["k"], t0 + 1000);
      expect((await refused(() => l.check([{ key: "k", max: 2 }], t0 + WINDOW_MS - 1)))?.code).to.equal("RATE_LIMITED");
      expect(await refused(() => l.check([{ key: "k", max: 2 }], t0 + WINDOW_MS))).to.equal(undefined);
    });

    it("Retry-After points at when the oldest hit that must leave the window leaves it", async () => {
      const l = limiter();
      const t0 = 1_700_000_000_000;
      for (let i = 0; i < 5; i++) await l.record(["k"], t0 + i * 60_000); // t0, +1 min, ... +4 min
      const e = (await refused(() => l.check([{ key: "k", max: 3 }], t0 + 10 * 60_000)))!;
      // 5 hits, max 3: the 3rd oldest (t0 + 2 min) must leave: at t0 + 62 min, 52 min from now.
      expect(e.details!.retry_after_s).to.equal(52 * 60);
    });
  });
});
