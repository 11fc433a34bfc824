/**
 * The "auto-renewal" migration and keeper/store/autoRenewal.ts on real SQLite: a database written by
 * the previous schema gains the table without losing anything, and the state follows the events.
 */
import { expect } from "chai";
import path from "node:path";
import Database from "better-sqlite3";
import { openDatabase } from "../../../keeper/store/db";
import {
  getAutoRenewal,
  listAutoRenewals,
  recordRenewal,
  recordRenewalFailure,
  setAutoRenewal,
  stopAutoRenewal,
} from "../../../keeper/store/autoRenewal";
import { tempDir } from "../shared/chain";

const ID = "0x" + "ab".repeat(32);

describe("auto-renewal store (migration 'auto-renewal')", () => {
  it("migrates a database of the previous schema in place, keeping its rows", () => {
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
    expect(getAutoRenewal(again, ID)).to.equal(undefined);
    again.close();
  });

  it("follows AutoRenewalSet, SessionRenewed, RenewalFailed and AutoRenewalStopped", () => {
    const db = openDatabase(":memory:");
    setAutoRenewal(db, ID, { period: 90, maxPerRenewal: "20000", budget: "50000", setBy: "0xagent" });
    let r = getAutoRenewal(db, ID)!;
    expect([r.enabled, r.period, r.max_per_renewal, r.budget_left, r.renewals]).to.deep.equal([1, 90, "20000", "50000", 0]);
    recordRenewal(db, ID, { cost: "10000", newEndTime: 1_000_090, budgetLeft: "40000" });
    r = getAutoRenewal(db, ID)!;
    expect([r.renewals, r.budget_left, r.last_cost, r.last_renewed_at]).to.deep.equal([1, "40000", "10000", 1_000_090]);
    // A renew the keeper could not send is recorded but does not turn renewal off (the chain decides).
    recordRenewalFailure(db, ID, "RenewalTooEarly", false);
    r = getAutoRenewal(db, ID)!;
    expect([r.enabled, r.last_failure]).to.deep.equal([1, "RenewalTooEarly"]);
    recordRenewalFailure(db, ID, "BudgetExhausted", true);
    r = getAutoRenewal(db, ID)!;
    expect([r.enabled, r.last_failure]).to.deep.equal([0, "BudgetExhausted"]);
    // New terms turn it on again, with the new budget.
    setAutoRenewal(db, ID, { period: 120, maxPerRenewal: "30000", budget: "90000", setBy: "0xguardian" });
    r = getAutoRenewal(db, ID)!;
    expect([r.enabled, r.period, r.budget_left, r.set_by, r.renewals]).to.deep.equal([1, 120, "90000", "0xguardian", 1]);
    stopAutoRenewal(db, ID);
    expect(getAutoRenewal(db, ID)!.enabled).to.equal(0);
    // Listed only with its session (joined for status).
    expect(listAutoRenewals(db)).to.deep.equal([]);
    db.close();
  });
});
