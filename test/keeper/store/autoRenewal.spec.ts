/**
 * The "auto-renewal" migration and keeper/store/autoRenewal.ts (AutoRenewalRepo) on real SQLite: a database written by
 * the previous schema gains the table without losing anything, and the state follows the events.
 */
import { expect } from "chai";
import path from "node:path";
import Database from "better-sqlite3";
import { openDatabase } from "../../../keeper/store/db";
import { Store } from "../../../keeper/store/store";
import { tempDir } from "../shared/chain";

const ID = "0x" + "ab".repeat(32);

describe("auto-renewal store (migration 'auto-renewal')", () => {
  it("migrates a database of the previous schema in place, keeping its rows", async () => {
    const file = path.join(tempDir(), "keeper.sqlite");
    const db = openDatabase(file);
    const version = db.pragma("user_version", { simple: true }) as number;
    db.prepare("INSERT INTO meta (key, value) VALUES ('kept', 'yes')").run();
    db.exec("DROP TABLE auto_renewals");
    db.pragma(`user_version = ${version - 1}`);
    db.close();
    const raw = new Database(file);
    expect(raw.prepare("SELECT count(*) n FROM sqlite_master WHERE name = 'auto_renewals'").get()).to.deep.equal({ n: 0 });
    raw.close();
    const again = openDatabase(file);
    expect(again.pragma("user_version", { simple: true })).to.equal(version);
    expect(again.prepare("SELECT value FROM meta WHERE key = 'kept'").get()).to.deep.equal({ value: "yes" });
    expect(await new Store(again).autoRenewals.get(ID)).to.equal(undefined);
    again.close();
  });

  it("follows AutoRenewalSet, SessionRenewed, RenewalFailed and AutoRenewalStopped", async () => {
    const db = openDatabase(":memory:");
    const renewals = new Store(db).autoRenewals;
    await renewals.set(ID, { period: 90, maxPerRenewal: "20000", budget: "50000", setBy: "0xagent" });
    let r = (await renewals.get(ID))!;
    expect([r.enabled, r.period, r.max_per_renewal, r.budget_left, r.renewals]).to.deep.equal([1, 90, "20000", "50000", 0]);
    await renewals.recordRenewal(ID, { cost: "10000", newEndTime: 1_000_090, budgetLeft: "40000" });
    r = (await renewals.get(ID))!;
    expect([r.renewals, r.budget_left, r.last_cost, r.last_renewed_at]).to.deep.equal([1, "40000", "10000", 1_000_090]);
    // A renew the keeper could not send is recorded but does not turn renewal off (the chain decides).
    await renewals.recordFailure(ID, "RenewalTooEarly", false);
    r = (await renewals.get(ID))!;
    expect([r.enabled, r.last_failure]).to.deep.equal([1, "RenewalTooEarly"]);
    await renewals.recordFailure(ID, "BudgetExhausted", true);
    r = (await renewals.get(ID))!;
    expect([r.enabled, r.last_failure]).to.deep.equal([0, "BudgetExhausted"]);
    // New terms turn it on again, with the new budget.
    await renewals.set(ID, { period: 120, maxPerRenewal: "30000", budget: "90000", setBy: "0xguardian" });
    r = (await renewals.get(ID))!;
    expect([r.enabled, r.period, r.budget_left, r.set_by, r.renewals]).to.deep.equal([1, 120, "90000", "0xguardian", 1]);
    await renewals.stop(ID);
    expect((await renewals.get(ID))!.enabled).to.equal(0);
    // Listed only with its session (joined for status).
    expect(await renewals.list()).to.deep.equal([]);
    db.close();
  });
});
