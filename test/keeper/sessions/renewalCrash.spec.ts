/**
 * Auto-renewal is exactly once per period across crashes: the keeper (a real child process) is
 * SIGKILLed right after it has sent a `renew` (stored, then broadcast) and before the chain mines it; restarted on the same
 * database, it neither renews that period again nor skips the next one. Second period: killed after
 * sending, and the node then drops the transaction, so the restarted keeper must broadcast the same
 * signed bytes again (one nonce, one transaction per period).
 */
import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { startTestChain, TestChain, tempDir } from "../shared/chain";
import { keeperEnv, startSession, until } from "../shared/keeperApp";
import { startKeeper, KeeperChild } from "../shared/keeperProcess";

const WORKLOAD = JSON.stringify({ command: ["sh", "-c", "echo up; sleep 3600"], cpu: 0.25, memoryMb: 64 });
// A long lead, so a restarted keeper (slow on a loaded machine) still finds the period unexpired.
const PERIOD = 300;
const LEAD = 200;

describe("keeper auto-renewal across crashes (SIGKILL between send and mine)", function () {
  this.timeout(240_000);
  let t: TestChain;
  let dataDir: string;
  let env: Record<string, string>;
  let keeper: KeeperChild | undefined;
  const logs: Record<string, unknown>[] = [];

  before(async () => {
    t = await startTestChain();
    // One block a second: chain time follows the wall clock, and the test jumps it where it needs.
    await t.rpc.send("evm_setIntervalMining", [1000]);
    dataDir = tempDir("keeper-renew-crash-");
    env = keeperEnv(t, dataDir, { RENEWAL_LEAD_S: String(LEAD), LOG_LEVEL: "info" });
  });
  after(async () => {
    await keeper?.kill("SIGKILL");
    const { BubblewrapProvider } = await import("../../../keeper/providers/bubblewrap");
    const dir = path.join(dataDir, "process-provider");
    const p = new BubblewrapProvider({ stateDir: dir });
    for (const key of fs.existsSync(dir) ? fs.readdirSync(dir) : []) await p.terminate(key).catch(() => undefined);
    await t?.stop();
  });

  function query<T>(sql: string, ...args: unknown[]): T[] {
    const file = path.join(dataDir, "keeper.sqlite");
    if (!fs.existsSync(file)) return [];
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      return db.prepare(sql).all(...args) as T[];
    } finally {
      db.close();
    }
  }
  const session = (id: string) =>
    query<{ state: string; ends_at: number | null }>("SELECT state, ends_at FROM sessions WHERE instance_id = ?", id)[0];
  const action = (key: string) =>
    query<{ id: number; state: string; nonce: number | null }>("SELECT id, state, nonce FROM actions WHERE idempotency_key = ?", key)[0];
  const txsOf = (key: string) =>
    query<{ tx_hash: string }>("SELECT t.tx_hash FROM action_txs t JOIN actions a ON a.id = t.action_id WHERE a.idempotency_key = ?", key);
  /** The action is stored as sent (its signed transaction written first) and the node has it. */
  async function broadcast(key: string): Promise<boolean> {
    if (action(key)?.state !== "sent") return false;
    const [tx] = txsOf(key);
    return tx !== undefined && (await t.rpc.getTransaction(tx.tx_hash)) !== null;
  }
  async function startKeeperAndWait(): Promise<void> {
    keeper = startKeeper(env, logs);
    const k = keeper;
    await until("keeper started", () => k.logs.some((l) => l.msg === "keeper started") || k.process.exitCode !== null, 60_000);
    expect(k.process.exitCode).to.equal(null);
  }
  /** Freezes the chain: blocks only when the test mines them, transactions wait in the mempool. */
  async function freeze(): Promise<void> {
    await t.rpc.send("evm_setIntervalMining", [0]);
    await t.rpc.send("evm_setAutomine", [false]);
  }
  async function thaw(): Promise<void> {
    await t.rpc.send("evm_setAutomine", [true]);
    await t.rpc.send("evm_setIntervalMining", [1000]);
  }
  /** Mines one block at `timestamp`, so the keeper's chain time reaches the renewal lead. */
  async function mineAt(timestamp: number): Promise<void> {
    await t.rpc.send("evm_setNextBlockTimestamp", [timestamp]);
    await t.mine(1);
  }

  it("renews each period once: kill after send (mined while down), kill after send (dropped while down)", async () => {
    await startKeeperAndWait();
    const c = t.compute();
    const id = await startSession(t, WORKLOAD, PERIOD);
    await until("running with its end known", () => session(id)?.state === "running" && session(id)!.ends_at !== null, 60_000);
    const cost = await c.getSessionCost(PERIOD, 0);
    await (await c.setAutoRenewal(id, PERIOD, cost, 10n * cost)).wait();
    await until(
      "AutoRenewalSet applied",
      () => query("SELECT 1 FROM auto_renewals WHERE instance_id = ? AND enabled = 1", id).length === 1,
      30_000,
    );
    const end1 = session(id)!.ends_at!;

    // Period 1: sent, keeper killed, the transaction mined while it is down.
    await freeze();
    await mineAt(end1 - LEAD + 5);
    const key1 = `renew:${id}:${end1}`;
    await until("renew 1 sent", () => broadcast(key1), 30_000);
    await keeper!.kill("SIGKILL");
    await t.mine(1);
    const renewed1 = await c.queryFilter(c.filters.SessionRenewed(id));
    expect(renewed1.map((e) => Number(e.args.newEndTime))).to.deep.equal([end1 + PERIOD]);
    await thaw();
    await startKeeperAndWait();
    await until("renewal 1 applied", () => session(id)?.ends_at === end1 + PERIOD, 30_000);
    await until("renew 1 settled", () => action(key1)?.state === "mined", 30_000);

    // Period 2: sent, keeper killed, the node drops the transaction: the restart sends the same bytes.
    const end2 = end1 + PERIOD;
    const key2 = `renew:${id}:${end2}`;
    await freeze();
    const latest = (await t.rpc.getBlock("latest"))!.timestamp;
    expect(latest, "period 2's lead not reached yet").to.be.lessThan(end2 - LEAD);
    await mineAt(end2 - LEAD + 5);
    await until("renew 2 sent", () => broadcast(key2), 30_000);
    await keeper!.kill("SIGKILL");
    const [sent2] = txsOf(key2);
    expect(await t.rpc.send("hardhat_dropTransaction", [sent2.tx_hash])).to.equal(true);
    await t.mine(1);
    expect(await t.rpc.getTransactionReceipt(sent2.tx_hash)).to.equal(null);
    await thaw();
    await startKeeperAndWait();
    await until("renewal 2 applied", () => session(id)?.ends_at === end2 + PERIOD, 60_000);
    await freeze(); // no third period while the test looks
    await until("renew 2 settled", () => action(key2)?.state === "mined", 30_000);
    expect(txsOf(key2).map((x) => x.tx_hash)).to.deep.equal([sent2.tx_hash]);
    expect((await t.rpc.getTransactionReceipt(sent2.tx_hash))!.status).to.equal(1);

    // Exactly one renewal per period on chain, one action and one signed transaction each.
    const renewed = await c.queryFilter(c.filters.SessionRenewed(id));
    expect(renewed.map((e) => Number(e.args.newEndTime))).to.deep.equal([end1 + PERIOD, end2 + PERIOD]);
    expect(renewed.map((e) => e.args.budgetLeft)).to.deep.equal([9n * cost, 8n * cost]);
    expect(txsOf(key1)).to.have.length(1);
    expect(
      query("SELECT idempotency_key FROM actions WHERE kind = 'renew' AND instance_id = ? AND idempotency_key IN (?, ?)", id, key1, key2),
    ).to.have.length(2);
    expect(query("SELECT 1 FROM sessions WHERE instance_id = ? AND state IN ('running', 'renewing')", id)).to.have.length(1);
    expect(logs.filter((l) => l.msg === "auto-renewal: renew enqueued" && l.instanceId === id).map((l) => l.endsAt)).to.deep.equal([
      end1,
      end2,
    ]);

    await thaw();
    await (await c.stopAutoRenewal(id)).wait();
    await (await c.endSession(id)).wait();
    await until("ended", () => session(id)?.state === "ended", 30_000);
  });
});
