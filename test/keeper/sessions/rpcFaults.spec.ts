/**
 * The whole keeper behind a misbehaving RPC: requests dropped, answered 500 or with JSON-RPC
 * errors, delayed. Sessions still run their full course, each outcome is mined once, and the
 * database agrees with the chain.
 */
import { expect } from "chai";
import { ConfigSchema } from "../../../keeper/config";
import { startApp, App } from "../../../keeper/app";
import { runAudit } from "../../../keeper/audit";
import type { SessionRow } from "../../../keeper/sessions/lifecycle";
import { startTestChain, TestChain, tempDir } from "../shared/chain";
import { startFaultyRpc, FaultyRpc } from "../shared/faultyRpc";
import { keeperEnv, startSession, until } from "../shared/keeperApp";

const WORKLOAD = JSON.stringify({ command: ["sh", "-c", "sleep 3600"], cpu: 0.25, memoryMb: 64 });

describe("keeper behind a faulty RPC", function () {
  this.timeout(180_000);
  let t: TestChain;
  let proxy: FaultyRpc;
  let app: App;

  before(async () => {
    t = await startTestChain();
    await t.rpc.send("evm_setIntervalMining", [100]);
    proxy = await startFaultyRpc(t.chain.rpcUrl, { drop: 0.04, error500: 0.04, rpcError: 0.04, delay: 0.1, delayMs: 200 }, 7);
    const env = keeperEnv(t, tempDir(), {});
    app = await startApp(ConfigSchema.parse({ ...env, RPC_URL: proxy.url }), { listen: false });
  });
  after(async () => {
    await app?.stop();
    await proxy?.close();
    await t?.stop();
  });

  const session = (id: string) => app.db.prepare("SELECT * FROM sessions WHERE instance_id = ?").get(id) as SessionRow | undefined;

  it("starts, runs and ends sessions, with every outcome recorded exactly once", async () => {
    const ids = [await startSession(t, WORKLOAD), await startSession(t, WORKLOAD), await startSession(t, "{bad")];
    await until("provisioned", () => ids.slice(0, 2).every((id) => session(id)?.state === "running"), 120_000);
    for (const id of ids.slice(0, 2)) {
      await until("activated on chain", async () => (await t.compute().getSession(id)).status === 2n, 120_000);
      await (await t.compute().endSession(id)).wait();
    }
    await until("all settled", () => ["ended", "ended", "refunded"].every((want, i) => session(ids[i])?.state === want), 120_000);
    await until("outbox drained", async () => (await app.keeper.sender.pending()) === 0, 60_000);
    expect(proxy.stats.dropped + proxy.stats.errors, "faults were injected").to.be.greaterThan(5);
    const c = t.compute();
    for (const id of ids) {
      const outcomes = (await c.queryFilter(c.filters.OutcomeRecorded(id))).map((o) => Number(o.args.outcome));
      expect(new Set(outcomes).size, `outcomes of ${id}`).to.equal(outcomes.length);
    }
    const report = await runAudit(app.store, t.rpc, app.deployment, 2);
    expect(report.ok, JSON.stringify(report)).to.equal(true);
  });
});
