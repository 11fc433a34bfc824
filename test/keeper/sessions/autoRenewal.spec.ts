/**
 * Auto-renewal through the real keeper on a real chain (blocks every 100 ms, so chain time runs about
 * ten times faster than the wall clock and a 60 s period passes in about 6 s): the keeper sends one
 * `renew` per period RENEWAL_LEAD_S before the end, the workload keeps running through renewals, and
 * a renewal that cannot be paid (budget exhausted, no allowance) lets the session end normally with
 * the reason recorded. `keeper status` / `keeper sessions` show it.
 */
import { expect } from "chai";
import path from "node:path";
import { execFile } from "node:child_process";
import { startTestChain, TestChain } from "../shared/chain";
import { keeperEnv, startSession, startTestKeeper, until } from "../shared/keeperApp";
import { BubblewrapProvider } from "../../../keeper/providers/bubblewrap";
import type { App } from "../../../keeper/app";
import type { SessionRow } from "../../../keeper/sessions/lifecycle";
import { computeInterface, OUTCOME, RENEWAL_FAILURE } from "../../../keeper/chain/contracts";
import { renewalKey } from "../../../keeper/sessions/lifecycle";

const WORKLOAD = JSON.stringify({ command: ["sh", "-c", "echo up; sleep 3600"], cpu: 0.5, memoryMb: 64 });
const PERIOD = 60;
const LEAD = 20;

describe("keeper auto-renewal, end to end (real chain, real sandbox)", function () {
  this.timeout(180_000);
  let t: TestChain;
  let app: App & { dataDir: string };
  let provider: BubblewrapProvider;

  before(async () => {
    t = await startTestChain();
    await t.rpc.send("evm_setIntervalMining", [100]);
    app = await startTestKeeper(t, { RENEWAL_LEAD_S: String(LEAD) });
    provider = new BubblewrapProvider({ stateDir: path.join(app.dataDir, "process-provider") });
  });
  after(async () => {
    await app?.stop();
    await t?.stop();
  });

  const session = (id: string) => app.db.prepare("SELECT * FROM sessions WHERE instance_id = ?").get(id) as SessionRow | undefined;
  const stateIs = (id: string, ...states: string[]) =>
    until(`session ${id.slice(0, 10)} in ${states}`, () => states.includes(session(id)?.state ?? "") && session(id), 60_000);
  const renewActions = (id: string) =>
    app.db.prepare("SELECT idempotency_key, state FROM actions WHERE kind = 'renew' AND instance_id = ? ORDER BY id").all(id) as {
      idempotency_key: string;
      state: string;
    }[];

  async function runningSession(): Promise<{ id: string; row: SessionRow; cost: bigint }> {
    const id = await startSession(t, WORKLOAD, PERIOD);
    const row = await stateIs(id, "running");
    await until("SessionActivated applied", () => session(id)!.ends_at !== null);
    return { id, row, cost: await t.compute().getSessionCost(PERIOD, 0) };
  }

  it("renews exactly once per period until the budget is exhausted, then the session ends normally", async () => {
    const c = t.compute();
    const { id, row, cost } = await runningSession();
    const firstEnd = session(id)!.ends_at!;
    await (await c.setAutoRenewal(id, PERIOD, cost, 2n * cost)).wait();
    const failed = await until("RenewalFailed on chain", async () => (await c.queryFilter(c.filters.RenewalFailed(id)))[0], 90_000);
    expect(Number(failed.args.reason)).to.equal(RENEWAL_FAILURE.indexOf("BudgetExhausted"));

    const renewed = await c.queryFilter(c.filters.SessionRenewed(id));
    expect(renewed.map((e) => Number(e.args.newEndTime))).to.deep.equal([firstEnd + PERIOD, firstEnd + 2 * PERIOD]);
    expect(renewed.map((e) => e.args.cost)).to.deep.equal([cost, cost]);
    expect(renewed.map((e) => e.args.budgetLeft)).to.deep.equal([cost, 0n]);
    // One renew per period, keyed by the end it renews: the third found the budget spent.
    await until("the renew actions settled", () => renewActions(id).every((x) => x.state === "mined"));
    expect(renewActions(id)).to.deep.equal([
      { idempotency_key: `renew:${id}:${firstEnd}`, state: "mined" },
      { idempotency_key: `renew:${id}:${firstEnd + PERIOD}`, state: "mined" },
      { idempotency_key: `renew:${id}:${firstEnd + 2 * PERIOD}`, state: "mined" },
    ]);
    // Each renewal was sent no earlier than RENEWAL_LEAD_S before the end it renewed.
    for (const [i, e] of renewed.entries()) {
      const block = await t.rpc.getBlock(e.blockNumber);
      expect(block!.timestamp).to.be.within(firstEnd + i * PERIOD - LEAD, firstEnd + i * PERIOD);
    }

    // The same workload ran through both renewals, then the session ended at its paid end.
    const ended = await stateIs(id, "ended");
    expect(ended.workload_ref).to.equal(row.workload_ref);
    expect(ended.duration).to.equal(3 * PERIOD);
    expect(BigInt(ended.deposited)).to.equal(3n * cost);
    const outcomes = (await c.queryFilter(c.filters.OutcomeRecorded(id))).map((o) => Number(o.args.outcome));
    expect(outcomes).to.deep.equal([OUTCOME.Running, OUTCOME.Completed]);
    const sessionEnded = (await c.queryFilter(c.filters.SessionEnded(id)))[0];
    expect(Number((await t.rpc.getBlock(sessionEnded.blockNumber))!.timestamp)).to.be.at.least(firstEnd + 2 * PERIOD);
    expect((await provider.status(row.workload_key)).state).to.not.equal("running");

    const r = (await app.store.autoRenewals.get(id))!;
    expect([r.enabled, r.renewals, r.budget_left, r.last_failure]).to.deep.equal([0, 2, "0", "BudgetExhausted"]);
    const transitions = app.db.prepare("SELECT to_state, reason FROM session_transitions WHERE instance_id = ? ORDER BY id").all(id) as {
      to_state: string;
      reason: string;
    }[];
    expect(transitions.filter((x) => x.to_state === "renewing").map((x) => x.reason)).to.deep.equal([
      `SessionRenewed for ${PERIOD} s`,
      `SessionRenewed for ${PERIOD} s`,
    ]);
  });

  it("a renewal without allowance fails on chain (PaymentFailed), is recorded, and the session ends normally", async () => {
    const c = t.compute();
    const { id, cost } = await runningSession();
    const end = session(id)!.ends_at!;
    await (await c.setAutoRenewal(id, PERIOD, cost, 10n * cost)).wait();
    await (await t.usdc().approve(await c.getAddress(), 0)).wait();
    const failed = await until("RenewalFailed on chain", async () => (await c.queryFilter(c.filters.RenewalFailed(id)))[0], 60_000);
    expect(RENEWAL_FAILURE[Number(failed.args.reason)]).to.equal("PaymentFailed");
    expect(await c.queryFilter(c.filters.SessionRenewed(id))).to.deep.equal([]);
    const ended = await stateIs(id, "ended");
    expect(ended.ends_at).to.equal(end);
    expect(ended.duration).to.equal(PERIOD);
    const r = (await app.store.autoRenewals.get(id))!;
    expect([r.enabled, r.renewals, r.last_failure]).to.deep.equal([0, 0, "PaymentFailed"]);
    await until("the renew action settled", () => renewActions(id).every((x) => x.state === "mined"));
    expect(renewActions(id)).to.deep.equal([{ idempotency_key: `renew:${id}:${end}`, state: "mined" }]);
    await (await t.usdc().approve(await c.getAddress(), 10n ** 12n)).wait();
  });

  it("an agent stopping renewal before the lead time: no renew is sent and the session ends normally", async () => {
    const c = t.compute();
    const { id, cost } = await runningSession();
    const end = session(id)!.ends_at!;
    await (await c.setAutoRenewal(id, PERIOD, cost, 10n * cost)).wait();
    await (await c.stopAutoRenewal(id)).wait();
    await until("AutoRenewalStopped applied", async () => (await app.store.autoRenewals.get(id))?.enabled === 0);
    const ended = await stateIs(id, "ended");
    expect(ended.ends_at).to.equal(end);
    expect(await c.queryFilter(c.filters.SessionRenewed(id))).to.deep.equal([]);
    // Nothing was sent for a session whose renewal was off by its lead time.
    expect(renewActions(id)).to.deep.equal([]);
  });

  it("keeper status and keeper sessions show auto-renewal (period, budget left, next renewal, last failure) and the treasury's withdrawable balance", async () => {
    const c = t.compute();
    const id = await startSession(t, WORKLOAD, 3600);
    await stateIs(id, "running");
    const cost = await c.getSessionCost(PERIOD, 0);
    await (await c.setAutoRenewal(id, PERIOD, cost, 5n * cost)).wait();
    await until("AutoRenewalSet applied", async () => (await app.store.autoRenewals.get(id))?.enabled === 1);
    const endsAt = session(id)!.ends_at!;

    const env = {
      ...keeperEnv(t, app.dataDir),
      PATH: process.env.PATH!,
      RENEWAL_LEAD_S: String(LEAD),
      HTTP_PORT: String((app.http.server.address() as { port: number }).port),
    };
    const cli = (...args: string[]) =>
      new Promise<{ status: number; stdout: string; stderr: string }>((resolve) =>
        execFile(
          process.execPath,
          ["-r", "ts-node/register/transpile-only", "keeper/cli.ts", ...args],
          { cwd: path.resolve(__dirname, "..", "..", ".."), env },
          (err, stdout, stderr) => resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        ),
      );
    // The keeper may sweep (or claim) while the CLI runs: the status must show the balance as it was
    // just before or just after the call, nothing else.
    const treasury = await c.treasury();
    const before = (await c.withdrawable(treasury)).toString();
    const status = JSON.parse((await cli("status", "--json")).stdout);
    const after = (await c.withdrawable(treasury)).toString();
    const mine = status.autoRenewal.sessions.find((s: { instanceId: string }) => s.instanceId === id);
    expect(mine).to.deep.include({
      on: true,
      period: PERIOD,
      budgetLeft: (5n * cost).toString(),
      maxPerRenewal: cost.toString(),
      nextRenewalAt: endsAt - LEAD,
      lastFailure: null,
    });
    const exhausted = status.autoRenewal.sessions.find((s: { lastFailure: string | null }) => s.lastFailure === "BudgetExhausted");
    expect(exhausted, "the first test's session is listed with its failure").to.deep.include({
      on: false,
      nextRenewalAt: null,
      budgetLeft: "0",
    });
    expect(status.treasury.address).to.equal(treasury);
    expect([before, after]).to.include(status.treasury.withdrawable);

    const text = (await cli("status")).stdout;
    expect(text).to.match(/auto-renewal +\d+ on, \d+ off/);
    expect(text).to.contain(`treasury          ${treasury} withdrawable`);
    const sessions = (await cli("sessions", "--agent", t.agent.address)).stdout;
    expect(sessions).to.contain(
      `auto-renewal on: every ${PERIOD} s, max ${cost}, budget left ${5n * cost}, renewed 0x, next ${new Date((endsAt - LEAD) * 1000).toISOString()}`,
    );
    expect(sessions).to.contain(", last failure BudgetExhausted at ");
    const json = JSON.parse((await cli("sessions", "--json")).stdout) as { instance_id: string; autoRenewal: unknown }[];
    expect(json.find((s) => s.instance_id === id)!.autoRenewal).to.deep.include({ on: true, period: PERIOD });
  });

  it("a renew that would revert (RenewalTooEarly) costs no transaction: skipped, recorded, renewal stays on", async () => {
    const c = t.compute();
    const row = (app.db.prepare("SELECT * FROM sessions WHERE state = 'running' AND duration = 3600 ORDER BY created_at DESC").get() as
      SessionRow | undefined)!;
    const id = row.instance_id;
    expect((await app.store.autoRenewals.get(id))!.enabled).to.equal(1);
    // As if the keeper's clock were off by most of an hour: its renew is simulated and refused.
    await app.store.outbox.enqueue(renewalKey(id, row.ends_at!), "renew", id, computeInterface.encodeFunctionData("renew", [id]));
    await until("the early renew settled", () => renewActions(id).find((a) => a.state !== "queued"));
    expect(renewActions(id)).to.deep.equal([{ idempotency_key: `renew:${id}:${row.ends_at}`, state: "skipped" }]);
    const r = (await app.store.autoRenewals.get(id))!;
    expect([r.enabled, r.last_failure]).to.deep.equal([1, "RenewalTooEarly"]);
    expect(await c.queryFilter(c.filters.SessionRenewed(id))).to.deep.equal([]);
    await (await c.endSession(id)).wait();
    await stateIs(id, "ended");
  });
});
