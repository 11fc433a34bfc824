/**
 * `keeper audit` reconciles every USDC and ETH movement of sessions from the logs alone, on a real
 * chain with the real keeper: sessions paid in USDC (with a bounded-cost extension), in ETH (through
 * the bridge and Uniswap), renewed automatically, claimed, ended, and the treasury's balance swept.
 * Then unbalanced cases are reported: logs tampered with one at a time, and USDC sent to the contract
 * outside any session.
 */
import { expect } from "chai";
import { toUtf8Bytes } from "ethers";
import { startTestChain, TestChain } from "./shared/chain";
import { startSession, startTestKeeper, until } from "./shared/keeperApp";
import type { App } from "../../keeper/app";
import { AuditLog, decodeLogs, formatAudit, reconcileLogs, runAudit } from "../../keeper/audit";
import { AgentComputeBridge__factory } from "../../typechain-types";

const WORKLOAD = JSON.stringify({ command: ["sh", "-c", "echo up; sleep 3600"], cpu: 0.25, memoryMb: 64 });

describe("keeper audit: every USDC and ETH movement from the logs", function () {
  this.timeout(180_000);
  let t: TestChain;
  let app: App & { dataDir: string };
  let logs: AuditLog[];
  const ids: Record<string, string> = {};

  before(async () => {
    t = await startTestChain();
    await t.rpc.send("evm_setIntervalMining", [100]);
    app = await startTestKeeper(t, { RENEWAL_LEAD_S: "20", TREASURY_SWEEP_BLOCKS: "5", CLAIM_INTERVAL_S: "1" });
  });
  after(async () => {
    await app?.stop();
    await t?.stop();
  });

  const state = (id: string) =>
    (app.db.prepare("SELECT state FROM sessions WHERE instance_id = ?").get(id) as { state: string } | undefined)?.state;
  const stateIs = (id: string, s: string) => until(`session ${id.slice(0, 10)} ${s}`, () => state(id) === s, 90_000);

  it("balances sessions paid in USDC and ETH, extended, renewed, claimed, ended, and the swept treasury", async () => {
    const c = t.compute();
    // USDC, then a bounded-cost extension.
    ids.usdc = await startSession(t, WORKLOAD, 3600);
    await stateIs(ids.usdc, "running");
    const extCost = await c.getSessionCost(600, 0);
    await (await c.extendSessionWithMaxCost(ids.usdc, 600, extCost)).wait();
    // ETH through the bridge: 1 ETH sent, the swap uses what the session costs, the rest comes back.
    const ethTx = await (await c.startSession(600, 0, toUtf8Bytes(WORKLOAD), { value: 10n ** 18n })).wait();
    ids.eth = ethTx!.logs.map((l) => c.interface.parseLog(l)).find((e) => e?.name === "SessionStarted")!.args.instanceId;
    // Auto-renewed once, then out of budget.
    ids.renewed = await startSession(t, WORKLOAD, 60);
    await stateIs(ids.renewed, "running");
    const periodCost = await c.getSessionCost(60, 0);
    await (await c.setAutoRenewal(ids.renewed, 60, periodCost, periodCost)).wait();
    await stateIs(ids.eth, "running");
    await stateIs(ids.renewed, "ended");
    await new Promise((r) => setTimeout(r, 1500)); // a few claims
    await (await c.endSession(ids.usdc)).wait();
    await (await c.endSession(ids.eth)).wait();
    await stateIs(ids.usdc, "ended");
    await stateIs(ids.eth, "ended");

    // The sweep: the keeper withdrew the treasury's balance to it (Withdrawn, caller the keeper).
    const treasury = await c.treasury();
    // Also wait for the keeper to have read the receipt of its last sweep: one mined a moment ago is
    // still 'sent' in its outbox until its next pass.
    const unsettledSweeps = () =>
      app.db.prepare("SELECT count(*) FROM actions WHERE kind = 'withdraw' AND state IN ('queued', 'sent')").pluck().get() as number;
    const withdrawn = await until("a treasury sweep", async () => {
      if (unsettledSweeps() > 0) return undefined;
      const w = await c.queryFilter(c.filters.Withdrawn(treasury));
      return w.length > 0 && (await c.withdrawable(treasury)) === 0n ? w : undefined;
    });
    expect(withdrawn.every((w) => w.args.caller === t.keeper.address)).to.equal(true);
    const sweeps = app.db.prepare("SELECT idempotency_key, state FROM actions WHERE kind = 'withdraw'").all() as {
      idempotency_key: string;
      state: string;
    }[];
    expect(sweeps.filter((s) => s.state === "mined")).to.have.length(withdrawn.length);
    expect(sweeps.every((s) => s.idempotency_key.startsWith(`withdraw:${treasury.toLowerCase()}:`))).to.equal(true);

    await until(
      "the keeper has ingested everything",
      async () =>
        Number(app.db.prepare("SELECT value FROM meta WHERE key = 'cursor.block'").pluck().get()) >= (await t.rpc.getBlockNumber()) - 2,
    );
    const report = await runAudit(app.store, t.rpc, app.deployment, 2);
    const raw = await t.rpc.getLogs({
      address: [t.deployment.contracts.AgentCompute, t.deployment.contracts.AgentComputeBridge],
      fromBlock: t.deployment.startBlock,
      toBlock: report.checkedUpToBlock,
    });
    logs = decodeLogs(raw, app.deployment);
    expect(report.ok, formatAudit(report)).to.equal(true);
    expect(report.sessionsOnChain).to.equal(3);
    expect(report.ledgerProblems).to.deep.equal([]);
    // The ETH payment's figures are the bridge's event's.
    const bridge = AgentComputeBridge__factory.connect(t.deployment.contracts.AgentComputeBridge, t.rpc);
    const [req] = await bridge.queryFilter(bridge.filters.ComputeRequested(undefined, ids.eth));
    expect(report.eth).to.deep.equal({
      payments: 1,
      ethIn: (10n ** 18n).toString(),
      ethSpent: req.args.ethSpent.toString(),
      ethRefunded: req.args.ethRefunded.toString(),
      strandedReturned: "0",
    });
    expect(req.args.ethSpent + req.args.ethRefunded).to.equal(10n ** 18n);
    // Deposits include the extension and the renewal; what the contract holds is held escrow + balances.
    const renewed = (await c.queryFilter(c.filters.SessionRenewed(ids.renewed)))[0];
    expect(renewed.args.cost).to.equal(periodCost);
    const started = await c.queryFilter(c.filters.SessionStarted());
    const deposits = started.reduce((a, e) => a + e.args.cost, 0n) + extCost + periodCost;
    expect(report.escrow.deposited).to.equal(deposits.toString());
    expect(report.escrow.held).to.equal("0");
    const balance = await t.usdc().balanceOf(t.deployment.contracts.AgentCompute, { blockTag: report.checkedUpToBlock });
    expect(BigInt(report.escrow.pull)).to.equal(balance);
    const tre = report.pullBalances.find((b) => b.account === treasury.toLowerCase())!;
    expect(BigInt(tre.withdrawn)).to.equal(withdrawn.reduce((a, w) => a + w.args.amount, 0n));
    expect(tre.matches).to.equal(true);
  });

  /** The real logs with one changed: reconcileLogs must name what no longer adds up. */
  function tampered(name: string, change: (args: Record<string, unknown>) => void, which = 0): AuditLog[] {
    let seen = 0;
    return logs.map((l) => {
      if (l.name !== name || seen++ !== which) return l;
      const args = { ...l.args };
      change(args);
      return { ...l, args };
    });
  }

  it("reports logs that do not add up: a refund, an ETH refund, the USDC an ETH payment bought, a withdrawal, a deferred refund", () => {
    expect(reconcileLogs(logs).problems).to.deep.equal([]);
    const problems = (l: AuditLog[]) => reconcileLogs(l).problems.map((p) => p.problem);

    // The SessionEnded of a session ended early (something refunded).
    const early = logs.filter((l) => l.name === "SessionEnded").findIndex((l) => (l.args.refunded as bigint) > 0n);
    expect(early).to.be.at.least(0);
    expect(problems(tampered("SessionEnded", (a) => (a.refunded = (a.refunded as bigint) + 1n), early))).to.satisfy(
      (p: string[]) => p.length === 1 && /exceeds deposited/.test(p[0]),
    );
    expect(problems(tampered("SessionEnded", (a) => (a.refunded = (a.refunded as bigint) - 1n), early))).to.satisfy(
      (p: string[]) => p.length === 1 && /ended with 1 of its deposit/.test(p[0]),
    );
    expect(problems(tampered("ComputeRequested", (a) => (a.ethRefunded = (a.ethRefunded as bigint) - 1n)))).to.satisfy(
      (p: string[]) => p.length === 1 && /^ETH unaccounted/.test(p[0]),
    );
    expect(problems(tampered("ComputeRequested", (a) => (a.ethSpent = (a.ethIn as bigint) + 1n)))).to.satisfy(
      (p: string[]) => p.length === 1 && /exceeds ETH in/.test(p[0]),
    );
    expect(problems(tampered("ComputeRequested", (a) => (a.usdcAmount = (a.usdcAmount as bigint) + 1n)))).to.satisfy(
      (p: string[]) => p.length === 1 && /but the session's deposit in that transaction is/.test(p[0]),
    );
    expect(problems(tampered("SessionRenewed", (a) => (a.cost = (a.cost as bigint) - 1n)))).to.satisfy(
      (p: string[]) => p.length === 1 && /exceeds deposited/.test(p[0]),
    );
    const last = logs.filter((l) => l.name === "Withdrawn").length - 1;
    expect(problems(tampered("Withdrawn", (a) => (a.amount = (a.amount as bigint) * 1000n), last))).to.satisfy(
      (p: string[]) => p.length === 1 && /withdrew .* more than the .* credited/.test(p[0]),
    );
    // A refund deferred to the agent's balance is part of the refund, never more than it.
    const ended = logs.find((l) => l.name === "SessionEnded" && (l.args.refunded as bigint) > 0n)!;
    const deferred = (amount: bigint): AuditLog => ({
      name: "RefundDeferred",
      source: "compute",
      txHash: ended.txHash,
      args: { instanceId: ended.args.instanceId, agent: ended.args.agent, amount },
    });
    const i = logs.indexOf(ended);
    const withDeferred = (amount: bigint) => [...logs.slice(0, i + 1), deferred(amount), ...logs.slice(i + 1)];
    const ok = reconcileLogs(withDeferred(ended.args.refunded as bigint));
    expect(ok.problems).to.deep.equal([]);
    expect(ok.pull.get(String(ended.args.agent).toLowerCase())).to.deep.equal({ credited: ended.args.refunded, withdrawn: 0n });
    expect(problems(withDeferred((ended.args.refunded as bigint) + 1n))).to.satisfy(
      (p: string[]) => p.length === 1 && /deferred refunds .* exceed the refund/.test(p[0]),
    );
  });

  it("reports USDC in the contract that no session or balance accounts for", async () => {
    await (await t.usdc().transfer(t.deployment.contracts.AgentCompute, 1n)).wait();
    await t.mine(3);
    await until(
      "ingested",
      async () =>
        Number(app.db.prepare("SELECT value FROM meta WHERE key = 'cursor.block'").pluck().get()) >= (await t.rpc.getBlockNumber()) - 2,
    );
    const report = await runAudit(app.store, t.rpc, app.deployment, 2);
    expect(report.ok).to.equal(false);
    expect(report.escrow.balanced).to.equal(false);
    expect(BigInt(report.escrow.usdcBalance) - BigInt(report.escrow.held) - BigInt(report.escrow.pull)).to.equal(1n);
    expect(formatAudit(report)).to.contain("(MISMATCH)");
  });
});
