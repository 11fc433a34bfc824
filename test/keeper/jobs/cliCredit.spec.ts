/**
 * Operators grant prepaid WATT from the CLI: recorded in the ledger with who and why, shown by
 * `keeper balance`, counted by the books in `keeper status`; bad input is refused with nothing written.
 */
import { expect } from "chai";
import path from "node:path";
import { execFile } from "node:child_process";
import { Keypair } from "@solana/web3.js";
import { openDatabase } from "../../../keeper/store/db";
import { totals } from "../../../keeper/payments/ledger";
import { Store } from "../../../keeper/store/store";
import { tempDir } from "../shared/chain";

const root = path.resolve(__dirname, "../../..");
function keeper(dataDir: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      ["-r", "ts-node/register/transpile-only", "keeper/cli.ts", ...args],
      { cwd: root, env: { PATH: process.env.PATH!, DATA_DIR: dataDir, USER: "ops-alice" } },
      (e, out, err) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, out, err }),
    ),
  );
}

describe("keeper credit / balance (operator grants)", function () {
  this.timeout(60_000);
  const dir = tempDir();
  const agent = Keypair.generate().publicKey.toBase58();
  before(() => openDatabase(path.join(dir, "keeper.sqlite")).close());

  it("grants WATT with the operator's name and the reason in the ledger", async () => {
    const r = await keeper(dir, "credit", agent, "250.5", "--reason", "support ticket 42");
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.contain(`granted 250.5 WATT to ${agent}; balance 250.5 WATT`);
    const db = openDatabase(path.join(dir, "keeper.sqlite"));
    const rows = db.prepare("SELECT kind, amount, note FROM watt_ledger WHERE agent = ?").all(agent);
    expect(rows).to.deep.equal([{ kind: "grant", amount: "250500000000", note: "by ops-alice: support ticket 42" }]);
    expect(await totals(new Store(db))).to.include({ granted: 250_500_000_000n, balances: 250_500_000_000n, discrepancy: 0n });
    db.close();
    const b = await keeper(dir, "balance", agent, "--json");
    expect(JSON.parse(b.out)).to.deep.include({ agent, balance: "250.5" });
  });

  it("refuses a bad address, more decimals than WATT has, or no reason: nothing written", async () => {
    for (const args of [
      ["credit", "not-an-address", "10", "--reason", "x"],
      ["credit", agent, "0.0000000001", "--reason", "x"],
      ["credit", agent, "10"],
    ]) {
      const r = await keeper(dir, ...args);
      expect(r.code, args.join(" ")).to.not.equal(0);
      expect(r.err, args.join(" ")).to.match(/Solana address|WATT amount|decimals|positive|reason/);
    }
    const db = openDatabase(path.join(dir, "keeper.sqlite"));
    expect((db.prepare("SELECT count(*) n FROM watt_ledger").get() as { n: number }).n).to.equal(1);
    db.close();
  });
});
