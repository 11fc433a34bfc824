/**
 * The keeper records Provisioning on chain (once per session, through the outbox) when it starts
 * paying a cloud provider for a pending session, before Running; an agent ending the session while it
 * is still pending then pays for the time since (the contract's PROVISIONING_WINDOW), and the keeper
 * follows the chain. A local workload costs the operator nothing: no Provisioning transaction.
 */
import { expect } from "chai";
import { startTestChain, TestChain, CONFIG } from "../shared/chain";
import { startSession, startTestKeeper, until } from "../shared/keeperApp";
import { startSpheronStandin } from "../../standins/spheron/server";
import type { App } from "../../../keeper/app";
import type { SessionRow } from "../../../keeper/sessions/lifecycle";
import { OUTCOME } from "../../../keeper/chain/contracts";
import { runAudit, formatAudit } from "../../../keeper/audit";

const SPHERON = 0;
const CLOUD = JSON.stringify({ image: "agentcompute/worker:1", command: ["sh", "-c", "sleep 3600"], providers: ["spheron"] });

describe("keeper records Provisioning for cloud sessions (provisioning window)", function () {
  this.timeout(120_000);
  let t: TestChain;
  let app: App & { dataDir: string };
  let spheron: Awaited<ReturnType<typeof startSpheronStandin>>;

  before(async () => {
    t = await startTestChain();
    await t.rpc.send("evm_setIntervalMining", [100]);
    spheron = await startSpheronStandin({ apiKey: "sph-test-key", price: 0.5 });
    app = await startTestKeeper(t, {
      SPHERON_API_URL: spheron.url,
      SPHERON_API_KEY: "sph-test-key",
      PROVIDER_REQUEST_TIMEOUT_MS: "300",
      PROVIDER_START_DEADLINE_MS: "3000",
      PROVIDER_POLL_MS: "50",
      PROVISION_TIMEOUT_S: "4",
    });
  });
  after(async () => {
    await app?.stop();
    await spheron?.close();
    await t?.stop();
  });

  const session = (id: string) => app.db.prepare("SELECT * FROM sessions WHERE instance_id = ?").get(id) as SessionRow | undefined;
  const stateIs = (id: string, ...states: string[]) =>
    until(`session ${id.slice(0, 10)} in ${states}`, () => states.includes(session(id)?.state ?? "") && session(id), 60_000);
  const outcomes = async (id: string) => {
    const c = t.compute();
    return (await c.queryFilter(c.filters.OutcomeRecorded(id))).map((o) => [Number(o.args.outcome), o.args.providerRef as string]);
  };

  it("Provisioning is recorded once, before Running, when a cloud provider is paid", async () => {
    const id = await startSession(t, CLOUD, 3600, SPHERON);
    const row = await stateIs(id, "running");
    await until("Running mined", async () => (await outcomes(id)).length === 2);
    const dep = [...spheron.deployments.values()].find((d) => d.name === row.workload_key)!;
    expect(await outcomes(id)).to.deep.equal([
      [OUTCOME.Provisioning, "spheron:provisioning"],
      [OUTCOME.Running, `spheron:${dep.id}`],
    ]);
    expect(await t.compute().provisioningStartedAt(id)).to.be.greaterThan(0n);
    await until(
      "both outcomes settled in the outbox",
      () =>
        (app.db
          .prepare("SELECT count(*) FROM actions WHERE instance_id = ? AND kind = 'recordOutcome' AND state = 'mined'")
          .pluck()
          .get(id) as number) === 2,
    );
    const keys = app.db
      .prepare("SELECT idempotency_key, state FROM actions WHERE instance_id = ? AND kind = 'recordOutcome' ORDER BY id")
      .all(id);
    expect(keys).to.deep.equal([
      { idempotency_key: `outcome:${id}:provisioning`, state: "mined" },
      { idempotency_key: `outcome:${id}:running`, state: "mined" },
    ]);
    await (await t.compute().endSession(id)).wait();
    await stateIs(id, "ended");
  });

  it("an agent ending a session still provisioning pays for the time since the record; the keeper stops and follows the chain", async () => {
    spheron.faults.hang = true;
    try {
      const c = t.compute();
      const id = await startSession(t, CLOUD, 3600, SPHERON);
      await until("Provisioning mined", async () => (await outcomes(id)).some(([o]) => o === OUTCOME.Provisioning), 30_000);
      expect((await c.getSession(id)).status, "still pending").to.equal(1n);
      const receipt = await (await c.endSession(id)).wait();
      const ended = receipt!.logs.map((l) => c.interface.parseLog(l)).find((e) => e?.name === "SessionEnded")!;
      const deposited = (await c.getSession(id)).deposited;
      expect(ended.args.paidToTreasury, "the time since Provisioning").to.be.greaterThan(0n);
      expect(ended.args.paidToTreasury + ended.args.refunded).to.equal(deposited);
      spheron.faults.hang = false; // the provider answers again: the keeper can stop what it asked for
      const row = await stateIs(id, "ended");
      expect([row.claimed, row.refunded]).to.deep.equal([ended.args.paidToTreasury.toString(), ended.args.refunded.toString()]);
      // Whatever the keeper had queued for it (a Failed outcome) is not mined on an ended session.
      expect((await outcomes(id)).map(([o]) => o)).to.deep.equal([OUTCOME.Provisioning]);
    } finally {
      spheron.faults.hang = false;
    }
  });

  it("a local (bubblewrap) workload records no Provisioning: only Running", async () => {
    const id = await startSession(t, CONFIG, 3600, 2);
    await stateIs(id, "running");
    await until("Running mined", async () => (await outcomes(id)).length > 0);
    expect((await outcomes(id)).map(([o]) => o)).to.deep.equal([OUTCOME.Running]);
    await (await t.compute().endSession(id)).wait();
    await stateIs(id, "ended");
    await t.mine(3);
    await until(
      "ingested",
      async () =>
        Number(app.db.prepare("SELECT value FROM meta WHERE key = 'cursor.block'").pluck().get()) >= (await t.rpc.getBlockNumber()) - 2,
    );
    const report = await runAudit(app.store, t.rpc, app.deployment, 2);
    expect(report.ok, formatAudit(report)).to.equal(true);
  });
});
