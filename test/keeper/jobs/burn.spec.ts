/**
 * The 0.15 % burn executed on chain (SPL burnChecked from the service's token account) in batches,
 * exactly once: the supply falls by exactly what the jobs owe, a second tick burns nothing, and a
 * burn signed but never sent (the process died, or the network failed) is sent as the same bytes by
 * the next tick instead of being signed again.
 */
import { expect } from "chai";
import { Connection, Keypair } from "@solana/web3.js";
import { getAssociatedTokenAddressSync } from "@solana/spl-token";
import { createLogger } from "../../../keeper/log";
import { WattBurner } from "../../../keeper/payments/burner";
import { startPageServer } from "./harness";
import { startWattWorld, WattWorld, WATT } from "./solanaFixture";

describe("the batched WATT burn", function () {
  this.timeout(60_000);
  let w: WattWorld;
  let site: Awaited<ReturnType<typeof startPageServer>>;
  let n = 0;
  before(async () => {
    site = await startPageServer();
    w = await startWattWorld({ RATE_LIMIT_URL_PER_HOUR: "1000", RATE_LIMIT_AGENT_PER_HOUR: "1000", WATT_BURN_MIN: "1" }, { withSecret: true });
  });
  after(async () => {
    await w?.close();
    await site?.close();
  });
  const paidJob = async (agent: Keypair) => {
    const job = `burn-${n++}`;
    await w.pay(agent, 100n, job);
    const r = await w.h.post("/api/v1/scrape", { url: `${site.url}/b/${job}`, job_id: job }, { agent });
    expect(r.body.watt_burned, r.text).to.equal(0.15);
  };
  const burns = () => w.h.db.prepare("SELECT id, amount, state, signature FROM watt_burns ORDER BY id").all() as { id: number; amount: string; state: string; signature: string }[];

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
    const t = w.h.totals();
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
    const settings = { mint: w.mint, decimals: 9, serviceTokenAccount: getAssociatedTokenAddressSync(w.mint, w.service.publicKey), owner: w.service, minBatch: WATT, commitment: "confirmed" as const };
    const log = createLogger("silent");
    await new WattBurner(w.h.db, broken, settings, log).tick();
    const stored = burns().at(-1)!;
    expect(stored.state).to.equal("sent"); // marked sent; the network ate it
    expect(await real.getSignatureStatuses([stored.signature]).then((r) => r.value[0])).to.equal(null);
    const supply = await w.supply();
    // The restarted process (a new burner on the same database) re-sends the stored bytes.
    const again = new WattBurner(w.h.db, real, settings, log);
    await again.tick();
    await again.tick();
    const after = burns().at(-1)!;
    expect(after).to.include({ id: stored.id, signature: stored.signature, state: "confirmed" });
    expect(await w.supply()).to.equal(supply - BigInt(stored.amount));
    expect(burns().filter((b) => b.state === "confirmed")).to.have.length(2);
  });
});
