/**
 * A database written before granted WATT was tracked apart: at start the keeper replays the ledger
 * once (granted spent first, refunds give back their granted part) and finds the same granted parts
 * and operator burn shares that live tracking records, so an upgraded keeper never tries to burn
 * granted WATT from the service account.
 */
import { expect } from "chai";
import { Keypair } from "@solana/web3.js";
import { backfillGranted, credit } from "../../../keeper/payments/ledger";
import { ApiHarness, startApiHarness, startPageServer } from "./harness";

describe("backfill of granted WATT for an older database", function () {
  this.timeout(60_000);
  let h: ApiHarness;
  let site: Awaited<ReturnType<typeof startPageServer>>;
  before(async () => {
    site = await startPageServer();
    h = await startApiHarness();
  });
  after(async () => {
    await h?.close();
    await site?.close();
  });

  it("replaying the ledger gives exactly what live tracking recorded; it runs once", async () => {
    const dead = await startPageServer();
    const deadUrl = `${dead.url}/x`;
    await dead.close();
    const [a, b] = [Keypair.generate(), Keypair.generate()];
    await h.grant(a, 150);
    await h.store.tx(() => credit(h.store, a.publicKey.toBase58(), 100n * 10n ** 9n, "excess", { note: "received (test)" }));
    await h.grant(b, 40);
    await h.store.tx(() => credit(h.store, b.publicKey.toBase58(), 500n * 10n ** 9n, "excess", { note: "received (test)" }));
    let n = 0;
    const job = async (k: Keypair, url: string) => (await h.post("/api/v1/scrape", { url, job_id: `bf-${n++}` }, { agent: k })).body;
    expect((await job(a, `${site.url}/1`)).watt_charged).to.equal(100); // 100 granted
    expect((await job(a, deadUrl)).watt_refunded).to.equal(100); // 50 granted + 50 received, refunded
    expect((await job(a, `${site.url}/2`)).watt_charged).to.equal(100); // 50 granted + 50 received
    expect((await job(b, `${site.url}/3`)).watt_charged).to.equal(100); // 40 granted + 60 received
    const live = {
      balances: h.db.prepare("SELECT agent, amount, granted FROM watt_balances ORDER BY agent").all(),
      jobs: h.db.prepare("SELECT job_id, charged_granted, burn_owed FROM jobs ORDER BY job_id").all(),
    };
    expect((live.jobs as { charged_granted: string }[]).map((j) => j.charged_granted)).to.deep.equal([
      "100000000000",
      "0",
      "50000000000",
      "40000000000",
    ]);
    // As an older database: no granted tracking, no backfill mark.
    h.db.exec(
      "UPDATE watt_balances SET granted = '0'; UPDATE jobs SET charged_granted = '0', burn_owed = '0'; DELETE FROM meta WHERE key = 'granted_backfill'",
    );
    expect(await backfillGranted(h.store)).to.equal(true);
    expect({
      balances: h.db.prepare("SELECT agent, amount, granted FROM watt_balances ORDER BY agent").all(),
      jobs: h.db.prepare("SELECT job_id, charged_granted, burn_owed FROM jobs ORDER BY job_id").all(),
    }).to.deep.equal(live);
    expect(await backfillGranted(h.store), "once").to.equal(false);
    const t = await h.totals();
    expect(t.granted).to.equal(t.chargedGranted + t.balancesGranted);
  });
});
