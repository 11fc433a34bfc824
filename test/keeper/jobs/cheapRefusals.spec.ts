/**
 * Unpaid requests are cheap to refuse (issue 10 item 5): the Solana stand-in counts every JSON-RPC
 * call the keeper makes while it is flooded. Unsigned requests make none; a job_id whose lookup found
 * nothing is not looked up again within WATT_MEMO_NEGATIVE_TTL_S; lookups and balance scans are
 * limited per client address (PAYMENT_LOOKUPS_PER_MIN, BALANCE_SCANS_PER_MIN) and answered 429
 * RATE_LIMITED with Retry-After. The counts are printed for docs/payments.md.
 */
import { expect } from "chai";
import { Keypair } from "@solana/web3.js";
import { startWattWorld, WattWorld } from "./solanaFixture";

describe("floods of unpaid requests: RPC calls counted on the Solana stand-in", function () {
  this.timeout(120_000);
  let w: WattWorld | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });
  const body = (job: string) => ({ url: "https://example.com/", job_id: job });
  const calls = () => w!.sol.requests.total;
  const codes = (rs: { body: { code?: string } }[]) =>
    rs.reduce<Record<string, number>>((m, r) => ({ ...m, [r.body.code ?? "ok"]: (m[r.body.code ?? "ok"] ?? 0) + 1 }), {});

  it("300 unsigned unpaid requests: 402 PAYMENT_REQUIRED each, 0 RPC calls", async () => {
    w = await startWattWorld();
    const before = calls();
    const rs = [];
    for (let i = 0; i < 300; i += 50)
      rs.push(...(await Promise.all(Array.from({ length: 50 }, (_, k) => w!.h.post("/api/v1/scrape", body(`flood-u-${i + k}`))))));
    expect(codes(rs)).to.deep.equal({ PAYMENT_REQUIRED: 300 });
    const made = calls() - before;
    console.log(`      RPC calls for 300 unsigned unpaid requests: ${made}`);
    expect(made).to.equal(0);
  });

  it("200 signed unpaid requests from 20 agents on one address, PAYMENT_LOOKUPS_PER_MIN=10: at most 10 RPC calls, the rest 429 with Retry-After", async () => {
    w = await startWattWorld({ PAYMENT_LOOKUPS_PER_MIN: "10" });
    const agents = Array.from({ length: 20 }, () => Keypair.generate());
    const before = calls();
    const rs = [];
    for (let i = 0; i < 200; i++) rs.push(await w.h.post("/api/v1/scrape", body(`flood-s-${i}`), { agent: agents[i % 20] }));
    const made = calls() - before;
    console.log(`      RPC calls for 200 signed unpaid requests (20 agents, one address): ${made}; answers ${JSON.stringify(codes(rs))}`);
    expect(made).to.be.at.most(10);
    expect(codes(rs)).to.deep.equal({ PAYMENT_NOT_FOUND: 10, RATE_LIMITED: 190 });
    const limited = rs.find((r) => r.body.code === "RATE_LIMITED")!;
    expect(limited.status).to.equal(429);
    expect(Number(limited.headers["retry-after"])).to.be.within(1, 60);
    expect(limited.body).to.include({ limit: "client" });
  });

  it("100 signed requests for one unpaid job_id, at once and then one after another: 1 RPC call (negative cache)", async () => {
    w = await startWattWorld();
    const agents = Array.from({ length: 10 }, () => Keypair.generate());
    const before = calls();
    const first = await Promise.all(
      Array.from({ length: 50 }, (_, i) => w!.h.post("/api/v1/scrape", body("flood-one"), { agent: agents[i % 10] })),
    );
    const rest = [];
    for (let i = 0; i < 50; i++) rest.push(await w.h.post("/api/v1/scrape", body("flood-one"), { agent: agents[i % 10] }));
    const made = calls() - before;
    console.log(
      `      RPC calls for 100 signed requests for one unpaid job_id: ${made}; answers ${JSON.stringify(codes([...first, ...rest]))}`,
    );
    expect(made).to.equal(1);
    // At once: one looks up, the others wait for it (JOB_IN_PROGRESS) or find the cached miss.
    for (const r of first) expect(r.body.code).to.be.oneOf(["JOB_IN_PROGRESS", "PAYMENT_NOT_FOUND"]);
    expect(codes(rest)).to.deep.equal({ PAYMENT_NOT_FOUND: 50 });
    expect(Number(rest[0].headers["retry-after"])).to.be.within(1, 10);
  });

  it("30 signed GET /api/v1/balance with BALANCE_SCANS_PER_MIN=3: 3 deposit scans, the rest 429 with Retry-After", async () => {
    w = await startWattWorld({ BALANCE_SCANS_PER_MIN: "3" });
    const a = Keypair.generate();
    const before = w.sol.requests.byMethod.getSignaturesForAddress ?? 0;
    const rs = [];
    for (let i = 0; i < 30; i++) rs.push(await w.h.get("/api/v1/balance", { agent: a }));
    const scans = (w.sol.requests.byMethod.getSignaturesForAddress ?? 0) - before;
    console.log(`      deposit scans (getSignaturesForAddress) for 30 GET /balance: ${scans}`);
    expect(scans).to.equal(3);
    expect(rs.filter((r) => r.status === 200)).to.have.length(3);
    const limited = rs.filter((r) => r.status === 429);
    expect(limited).to.have.length(27);
    expect(limited[0].body.code).to.equal("RATE_LIMITED");
    expect(Number(limited[0].headers["retry-after"])).to.be.within(1, 60);
  });
});
