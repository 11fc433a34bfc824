/**
 * The 0.15 % burn executed on chain (SPL burnChecked from the service's token account) in batches,
 * exactly once: the supply falls by exactly what the jobs owe, a second tick burns nothing, and a
 * burn signed but never sent (the process died, or the network failed) is sent as the same bytes by
 * the next tick instead of being signed again. Only the share of WATT that was received is burned;
 * the share of operator grants is owed by the operator. A failing burn backs off exponentially and
 * is logged once per failure streak.
 */
import { expect } from "chai";
import { Connection, Keypair } from "@solana/web3.js";
import { getAssociatedTokenAddressSync } from "@solana/spl-token";
import { createLogger } from "../../../keeper/log";
import { burnHealth, WattBurner } from "../../../keeper/payments/burner";
import pino from "pino";
import { Writable } from "node:stream";
import { startPageServer } from "./harness";
import { startWattWorld, WattWorld, WATT } from "./solanaFixture";

describe("the batched WATT burn", function () {
  this.timeout(60_000);
  let w: WattWorld;
  let site: Awaited<ReturnType<typeof startPageServer>>;
  let n = 0;
  before(async () => {
    site = await startPageServer();
    w = await startWattWorld(
      { RATE_LIMIT_URL_PER_HOUR: "1000", RATE_LIMIT_AGENT_PER_HOUR: "1000", WATT_BURN_MIN: "1" },
      { withSecret: true },
    );
  });
  after(async () => {
    await w?.close();
    await site?.close();
  });
  const prepaidJob = async (agent: Keypair) => {
    const job = `burn-pre-${n++}`;
    const r = await w.h.post("/api/v1/scrape", { url: `${site.url}/b/${job}`, job_id: job }, { agent });
    expect(r.body.watt_burned, r.text).to.equal(0.15);
  };
  const paidJob = async (agent: Keypair) => {
    const job = `burn-${n++}`;
    await w.pay(agent, 100n, job);
    const r = await w.h.post("/api/v1/scrape", { url: `${site.url}/b/${job}`, job_id: job }, { agent });
    expect(r.body.watt_burned, r.text).to.equal(0.15);
  };
  const burns = () =>
    w.h.db.prepare("SELECT id, amount, state, signature FROM watt_burns ORDER BY id").all() as {
      id: number;
      amount: string;
      state: string;
      signature: string;
    }[];

  it("waits for WATT_BURN_MIN, then burns exactly what is owed, once", async () => {
    const a = w.agent();
    for (let i = 0; i < 6; i++) await paidJob(a); // 0.9 WATT owed: below the minimum
    const burner = w.h.rt.burner!;
    await burner.tick();
    expect(burns()).to.deep.equal([]);
    await paidJob(a); // 1.05 WATT owed
    const supply = await w.supply();
    const held = w.serviceBalance();
    await burner.tick();
    const [b] = burns();
    expect(b.amount).to.equal(((7n * 15n * WATT) / 100n).toString());
    await burner.tick(); // confirms
    expect(burns().map((x) => x.state)).to.deep.equal(["confirmed"]);
    expect(await w.supply()).to.equal(supply - BigInt(b.amount));
    expect(w.serviceBalance()).to.equal(held - BigInt(b.amount));
    const tx = (await w.conn.getParsedTransaction(b.signature, { maxSupportedTransactionVersion: 0 }))!;
    const ix = tx.transaction.message.instructions[0] as { parsed: { type: string; info: Record<string, unknown> } };
    expect(ix.parsed.type).to.equal("burnChecked");
    expect(ix.parsed.info.account).to.equal(getAssociatedTokenAddressSync(w.mint, w.service.publicKey).toBase58());
    // Nothing more owed: further ticks burn nothing.
    await burner.tick();
    await burner.tick();
    expect(burns()).to.have.length(1);
    const t = await w.h.totals();
    expect(t.burnExecuted).to.equal(t.burned);
    expect(w.serviceBalance(), "what the service holds = received - burned on chain").to.equal(t.received - t.burnExecuted);
  });

  it("a burn signed but not sent is sent as the same bytes after a restart, never signed twice", async () => {
    const a = w.agent();
    for (let i = 0; i < 7; i++) await paidJob(a);
    const real = w.conn;
    // The first process signs and stores the burn, then its network dies before the send.
    const broken = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === "sendRawTransaction") return () => Promise.reject(new Error("socket hang up"));
        if (prop === "getSignatureStatuses") return (sigs: string[]) => target.getSignatureStatuses(sigs);
        return Reflect.get(target, prop, receiver);
      },
    }) as Connection;
    const settings = {
      mint: w.mint,
      decimals: 9,
      serviceTokenAccount: getAssociatedTokenAddressSync(w.mint, w.service.publicKey),
      owner: w.service,
      minBatch: WATT,
      commitment: "confirmed" as const,
    };
    const log = createLogger("silent");
    await new WattBurner(w.h.store, broken, settings, log).tick();
    const stored = burns().at(-1)!;
    expect(stored.state).to.equal("sent"); // marked sent; the network ate it
    expect(await real.getSignatureStatuses([stored.signature]).then((r) => r.value[0])).to.equal(null);
    const supply = await w.supply();
    // The restarted process (a new burner on the same database) re-sends the stored bytes.
    const again = new WattBurner(w.h.store, real, settings, log);
    await again.tick();
    await again.tick();
    const after = burns().at(-1)!;
    expect(after).to.include({ id: stored.id, signature: stored.signature, state: "confirmed" });
    expect(await w.supply()).to.equal(supply - BigInt(stored.amount));
    expect(burns().filter((b) => b.state === "confirmed")).to.have.length(2);
  });

  it("granted WATT: its burn share is owed by the operator and never burned; a job paid partly from a grant burns only the received part", async () => {
    const burner = w.h.rt.burner!;
    await burner.tick();
    await burner.tick();
    const before = await w.h.totals();
    const supply = await w.supply();
    const granted = Keypair.generate();
    await w.h.grant(granted, 1000);
    for (let i = 0; i < 7; i++) await prepaidJob(granted); // 1.05 WATT of burn share, all of granted WATT
    expect(await burner.owed(), "nothing to burn from the service account").to.equal(0n);
    await burner.tick();
    expect(await w.supply(), "no burn attempted").to.equal(supply);
    const t = await w.h.totals();
    expect(t.burnOwedByOperator - before.burnOwedByOperator).to.equal((7n * 15n * WATT) / 100n);
    expect(t.burnFromService).to.equal(before.burnFromService);
    // Half granted, half received: 50 WATT granted + 100 WATT received (an overpayment's excess).
    const mixed = w.agent();
    await w.h.grant(mixed, 50);
    const job = `burn-mixed-${n++}`;
    await w.pay(mixed, 200n, job);
    expect((await w.h.post("/api/v1/scrape", { url: `${site.url}/b/${job}`, job_id: job }, { agent: mixed })).status).to.equal(200);
    const mixedJob = `burn-mixed-${n++}`;
    expect((await w.h.post("/api/v1/scrape", { url: `${site.url}/b/${mixedJob}`, job_id: mixedJob }, { agent: mixed })).status).to.equal(
      200,
    );
    const row = w.h.db.prepare("SELECT charged_granted, burned, burn_owed FROM jobs WHERE job_id = ?").get(mixedJob) as Record<
      string,
      string
    >;
    expect(row).to.deep.equal({
      charged_granted: (50n * WATT).toString(),
      burned: ((15n * WATT) / 100n).toString(),
      burn_owed: ((75n * WATT) / 1000n).toString(),
    });
    const owed = await burner.owed();
    expect(owed, "0.15 (memo-paid job) + 0.075 (the received half)").to.equal((15n * WATT) / 100n + (75n * WATT) / 1000n);
    const supply2 = await w.supply();
    // Below WATT_BURN_MIN (1 WATT): burned by a burner with a minimum of one base unit.
    const small = new WattBurner(
      w.h.store,
      w.conn,
      {
        mint: w.mint,
        decimals: 9,
        serviceTokenAccount: getAssociatedTokenAddressSync(w.mint, w.service.publicKey),
        owner: w.service,
        minBatch: 1n,
        commitment: "confirmed",
      },
      createLogger("silent"),
    );
    await small.tick();
    await small.tick();
    expect(await w.supply()).to.equal(supply2 - owed);
    const after = await w.h.totals();
    expect(after.burnExecuted, "executed = the share of received WATT").to.equal(after.burnFromService);
    expect(after.granted).to.equal(after.chargedGranted + after.balancesGranted);
    expect(w.serviceBalance()).to.equal(after.received - after.burnExecuted);
  });

  it("a failing burn backs off exponentially (at most WATT_BURN_BACKOFF_MAX_S), logged once per failure streak, and recovers", async () => {
    const a = w.agent();
    for (let i = 0; i < 7; i++) await paidJob(a);
    let failing = true;
    let calls = 0;
    const flaky = new Proxy(w.conn, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => {
          calls++;
          if (failing) return Promise.reject(new Error("503 Service Unavailable"));
          return (v as (...x: unknown[]) => unknown).apply(target, args);
        };
      },
    }) as Connection;
    const lines: string[] = [];
    const log = pino({ level: "info" }, new Writable({ write: (c, _e, cb) => (lines.push(c.toString()), cb()) }));
    const settings = {
      mint: w.mint,
      decimals: 9,
      serviceTokenAccount: getAssociatedTokenAddressSync(w.mint, w.service.publicKey),
      owner: w.service,
      minBatch: WATT / 2n,
      commitment: "confirmed" as const,
      backoffMaxS: 5,
    };
    const burner = new WattBurner(w.h.store, flaky, settings, log);
    const t0 = 1_800_000_000_000;
    const attempts: number[] = [];
    // Ticks every 500 ms for 20 s: attempts at 0, 2, 6, 11, 16 s (waits 2, 4, then capped at 5).
    for (let t = 0; t <= 20_000; t += 500) {
      const c = calls;
      await burner.tick(t0 + t);
      if (calls > c) attempts.push(t / 1000);
    }
    expect(attempts).to.deep.equal([0, 2, 6, 11, 16]);
    const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.level === 40);
    expect(warnings, "one warning for the whole streak").to.have.length(1);
    expect(warnings[0].msg).to.match(/burn failed/);
    expect(await burnHealth(w.h.store)).to.include({ failures: 5 });
    failing = false;
    await burner.tick(t0 + 21_000);
    await burner.tick(t0 + 21_000);
    expect((await burnHealth(w.h.store)).failures).to.equal(0);
    expect(lines.map((l) => JSON.parse(l).msg)).to.include("burn works again");
    expect(await burner.owed()).to.equal(0n);
  });
});
