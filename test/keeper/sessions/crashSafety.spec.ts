/**
 * Crash safety: the keeper is SIGKILLed at random points of the session lifecycle (at least 20 times)
 * and restarted on the same database while an agent starts, extends and ends sessions. Afterwards:
 * every session reaches the end state a run without kills reaches, each workload was started once
 * (the workloads' own output says so), no outcome was mined twice, no event was missed or stored
 * twice, and the escrow sums match (keeper audit).
 */
import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { startTestChain, TestChain, tempDir } from "../shared/chain";
import { keeperEnv, startSession, until } from "../shared/keeperApp";
import { startKeeper, KeeperChild } from "../shared/keeperProcess";
import { runAudit } from "../../../keeper/audit";
import { openDatabase } from "../../../keeper/store/db";
import { Store } from "../../../keeper/store/store";
import { loadDeployment } from "../../../keeper/deployment";
import { ConfigSchema } from "../../../keeper/config";
import { WATCHED_EVENTS } from "../../../keeper/chain/contracts";

const KILLS = Number(process.env.CRASH_KILLS ?? 20);
const workload = (tag: string) =>
  JSON.stringify({ command: ["sh", "-c", `echo workload-start ${tag}; sleep 3600`], cpu: 0.25, memoryMb: 64 });

type Expect = "ended" | "refunded";

describe("keeper crash safety (SIGKILL at random points, restart on the same database)", function () {
  this.timeout(600_000);
  let t: TestChain;
  let dataDir: string;
  let env: Record<string, string>;
  let keeper: KeeperChild | undefined;
  let kills = 0;
  let chaos = true;
  const logs: Record<string, unknown>[] = [];

  before(async () => {
    t = await startTestChain();
    await t.rpc.send("evm_setIntervalMining", [150]);
    dataDir = tempDir("keeper-crash-");
    env = keeperEnv(t, dataDir, { CLAIM_INTERVAL_S: "2", LOG_LEVEL: "info" });
  });
  after(async () => {
    chaos = false;
    await keeper?.kill("SIGKILL");
    // Leave no workload behind.
    const { BubblewrapProvider } = await import("../../../keeper/providers/bubblewrap");
    const p = new BubblewrapProvider({ stateDir: path.join(dataDir, "process-provider") });
    for (const key of fs.existsSync(path.join(dataDir, "process-provider")) ? fs.readdirSync(path.join(dataDir, "process-provider")) : []) {
      await p.terminate(key).catch(() => undefined);
    }
    await t?.stop();
  });

  /** Restarts the keeper until told to stop, killing each one a random 0-1.5 s after it started work. */
  async function chaosLoop(): Promise<void> {
    let seed = Number(process.env.CRASH_SEED ?? 12345);
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    while (chaos) {
      keeper = startKeeper(env, logs);
      const k = keeper;
      await until("keeper started", () => k.logs.some((l) => l.msg === "keeper started") || k.process.exitCode !== null, 60_000);
      await new Promise((r) => setTimeout(r, rand() * 1500));
      if (!chaos) break;
      await keeper.kill("SIGKILL");
      kills++;
    }
  }

  function readDb() {
    return new Database(path.join(dataDir, "keeper.sqlite"), { readonly: true, fileMustExist: true });
  }
  function stateOf(id: string): string | undefined {
    if (!fs.existsSync(path.join(dataDir, "keeper.sqlite"))) return undefined;
    const db = readDb();
    try {
      return (db.prepare("SELECT state FROM sessions WHERE instance_id = ?").get(id) as { state: string } | undefined)?.state;
    } finally {
      db.close();
    }
  }
  const chainStatus = async (id: string) => Number((await t.compute().getSession(id)).status);

  it(`converges to the same end states after ${KILLS}+ kills`, async () => {
    const loop = chaosLoop();
    const expected = new Map<string, Expect>();
    const tags = new Map<string, string>();

    // Agents act while the keeper keeps dying.
    const endEarly: string[] = [];
    for (let i = 0; i < 4; i++) {
      const id = await startSession(t, workload(`early-${i}`));
      expected.set(id, "ended");
      tags.set(id, `early-${i}`);
      endEarly.push(id);
    }
    const expire: string[] = [];
    for (let i = 0; i < 2; i++) {
      const id = await startSession(t, workload(`expire-${i}`), 90);
      expected.set(id, "ended");
      tags.set(id, `expire-${i}`);
      expire.push(id);
    }
    for (let i = 0; i < 2; i++) expected.set(await startSession(t, `{"broken": ${i}`), "refunded");

    // Once running on chain: extend one, end the early ones, let the others' paid time run out.
    for (const id of [...endEarly, ...expire])
      await until(`activation of ${id.slice(-4)}`, async () => (await chainStatus(id)) === 2, 240_000);
    await (await t.compute().extendSession(endEarly[0], 600)).wait();
    for (const id of endEarly) await (await t.compute().endSession(id)).wait();
    await t.rpc.send("evm_increaseTime", [120]);

    // Keep killing until the quota is met, then let one keeper finish the work.
    await until(`${KILLS} kills`, () => kills >= KILLS, 300_000);
    chaos = false;
    await loop;
    keeper = startKeeper(env, logs);
    for (const [id, want] of expected) await until(`${id.slice(-4)} ${want}`, () => stateOf(id) === want, 120_000);
    await until(
      "outbox drained",
      () => {
        const db = readDb();
        try {
          return (db.prepare("SELECT count(*) n FROM actions WHERE state IN ('queued','sent')").get() as { n: number }).n === 0;
        } finally {
          db.close();
        }
      },
      60_000,
    );
    await keeper.kill("SIGTERM");
    expect(kills).to.be.gte(KILLS);

    // Every workload that ran was started exactly once: its own output has one start line.
    const providerDir = path.join(dataDir, "process-provider");
    const db = openDatabase(path.join(dataDir, "keeper.sqlite"));
    try {
      for (const [id, tag] of tags) {
        const key = (db.prepare("SELECT workload_key FROM sessions WHERE instance_id = ?").get(id) as { workload_key: string })
          .workload_key;
        const out = fs.readFileSync(path.join(providerDir, key, "stdout.log"), "utf8");
        expect(
          out.split("\n").filter((l) => l === `workload-start ${tag}`),
          `starts of ${tag}`,
        ).to.have.length(1);
      }
      // The keeper's own record agrees: one fresh provisioning per session.
      const fresh = db
        .prepare("SELECT instance_id, count(*) n FROM session_transitions WHERE reason = 'provisioned' GROUP BY instance_id")
        .all() as { instance_id: string; n: number }[];
      for (const f of fresh) expect(f.n, `fresh provisions of ${f.instance_id}`).to.equal(1);

      // No outcome mined twice.
      const c = t.compute();
      for (const id of expected.keys()) {
        const outcomes = (await c.queryFilter(c.filters.OutcomeRecorded(id))).map((o) => Number(o.args.outcome));
        expect(new Set(outcomes).size, `outcomes of ${id}: ${outcomes}`).to.equal(outcomes.length);
        if (expected.get(id) === "refunded") expect(outcomes).to.deep.equal([2]);
      }
      // No event missed or stored twice: the chain's logs up to the cursor, one row each.
      const cursor = Number((db.prepare("SELECT value FROM meta WHERE key = 'cursor.block'").get() as { value: string }).value);
      const chainLogs = await t.rpc.getLogs({
        address: [t.deployment.contracts.AgentCompute, t.deployment.contracts.AgentComputeBridge],
        fromBlock: t.deployment.startBlock,
        toBlock: cursor,
      });
      const rows = db.prepare("SELECT tx_hash, log_index, status FROM events").all() as {
        tx_hash: string;
        log_index: number;
        status: string;
      }[];
      const watched = chainLogs.filter(
        (l) => c.interface.parseLog(l) && (WATCHED_EVENTS as readonly string[]).includes(c.interface.parseLog(l)!.name),
      );
      expect(rows.filter((r) => r.status !== "applied")).to.deep.equal([]);
      expect(new Set(rows.map((r) => `${r.tx_hash}:${r.log_index}`))).to.deep.equal(
        new Set(watched.map((l) => `${l.transactionHash}:${l.index}`)),
      );

      // And the money adds up, per session and in total.
      const cfg = ConfigSchema.parse(env);
      const report = await runAudit(new Store(db), t.rpc, loadDeployment(cfg), cfg.CONFIRMATIONS);
      expect(report.ok, JSON.stringify(report, null, 2)).to.equal(true);
      expect(report.sessionsOnChain).to.equal(expected.size);
    } finally {
      db.close();
    }
  });
});
