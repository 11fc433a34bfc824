import { expect } from "chai";
import { startTestChain, TestChain } from "../shared/chain";
import { startTestKeeper, startSession, until } from "../shared/keeperApp";
import { BubblewrapProvider } from "../../../keeper/providers/bubblewrap";
import type { App } from "../../../keeper/app";
import type { SessionRow } from "../../../keeper/sessions/lifecycle";
import { runAudit } from "../../../keeper/audit";
import path from "node:path";
import { execFile } from "node:child_process";
import { keeperEnv } from "../shared/keeperApp";

const WORKLOAD = JSON.stringify({ command: ["sh", "-c", "echo up; sleep 3600"], cpu: 0.5, memoryMb: 64 });

describe("keeper session lifecycle, end to end (real chain, real sandbox)", function () {
  this.timeout(120_000);
  let t: TestChain;
  let app: App & { dataDir: string };
  let provider: BubblewrapProvider;

  before(async () => {
    t = await startTestChain();
    await t.rpc.send("evm_setIntervalMining", [100]);
    app = await startTestKeeper(t);
    provider = new BubblewrapProvider({ stateDir: path.join(app.dataDir, "process-provider") });
  });
  after(async () => {
    await app?.stop();
    for (const s of app.db.open ? [] : []) void s;
    await t?.stop();
  });

  const session = (id: string) => app.db.prepare("SELECT * FROM sessions WHERE instance_id = ?").get(id) as SessionRow | undefined;
  const chainSession = (id: string) => t.compute().getSession(id);
  const stateIs = (id: string, ...states: string[]) =>
    until(`session ${id.slice(0, 10)} in ${states}`, () => states.includes(session(id)?.state ?? "") && session(id));

  it("start -> provisioned and Running on chain -> extend keeps the same workload -> end stops it and refunds", async () => {
    const id = await startSession(t, WORKLOAD);
    const running = await stateIs(id, "running");
    expect(running.provider).to.equal("bubblewrap");
    await until("SessionActivated on chain", async () => (await chainSession(id)).status === 2n);
    const before = await provider.status(running.workload_key);
    expect(before.state).to.equal("running");

    await (await t.compute().extendSession(id, 1800)).wait();
    await until("extension applied", () => session(id)!.duration === 3600 + 1800 && session(id)!.state === "running");
    const after = await provider.status(running.workload_key);
    expect(after.ref, "same workload after the extension").to.equal(before.ref);
    expect(after.state).to.equal("running");
    const chainEnd = (await chainSession(id)).endTime;
    expect(session(id)!.ends_at).to.equal(Number(chainEnd));

    const usdcBefore = await t.usdc().balanceOf(t.agent.address);
    const receipt = await (await t.compute().endSession(id)).wait();
    const ended = receipt!.logs.map((l) => t.compute().interface.parseLog(l)).find((e) => e?.name === "SessionEnded")!;
    await stateIs(id, "ended");
    expect((await provider.status(running.workload_key)).state).to.not.equal("running");
    expect(await t.usdc().balanceOf(t.agent.address)).to.equal(usdcBefore + ended.args.refunded);
    const row = session(id)!;
    expect(row.refunded).to.equal(ended.args.refunded.toString());
    expect(BigInt(row.claimed) + BigInt(row.refunded)).to.equal(BigInt(row.deposited));
  });

  it("a config that does not parse is refunded in full, with a Failed outcome on chain", async () => {
    const id = await startSession(t, "not json at all");
    await stateIs(id, "refunded");
    const c = t.compute();
    const outcomes = await c.queryFilter(c.filters.OutcomeRecorded(id));
    expect(outcomes.map((o) => Number(o.args.outcome))).to.deep.equal([2]);
    expect(outcomes[0].args.providerRef).to.match(/^invalid config/);
    const ended = (await c.queryFilter(c.filters.SessionEnded(id)))[0];
    expect(ended.args.refunded).to.equal((await chainSession(id)).deposited);
  });

  it("a session the provider cannot run (no command for the bubblewrap provider) is refunded", async () => {
    const id = await startSession(t, JSON.stringify({ image: "python:3.12-slim" }));
    const row = await stateIs(id, "refunded");
    expect(row.last_error).to.match(/config.command is required/);
    expect((await chainSession(id)).claimed).to.equal(0n);
  });

  it("a session asking for a GPU or open ports cannot run on the operator's own hardware: refunded, saying why", async () => {
    const gpu = await startSession(t, JSON.stringify({ command: ["sh", "-c", "sleep 60"], gpu: { count: 1, model: "h100" } }));
    const ports = await startSession(t, JSON.stringify({ command: ["sh", "-c", "sleep 60"], ports: [8080] }));
    expect((await stateIs(gpu, "refunded")).last_error).to.match(/config\.gpu: the operator's own hardware has no GPU/);
    expect((await stateIs(ports, "refunded")).last_error).to.match(/config\.ports/);
    const bad = await startSession(t, JSON.stringify({ command: ["true"], gpu: { count: 0 } }));
    expect((await stateIs(bad, "refunded")).last_error).to.match(/invalid config: gpu\.count/);
  });

  it("when the paid time is over, the workload is stopped and the escrow settled (Completed)", async () => {
    const id = await startSession(t, WORKLOAD, 120);
    const running = await stateIs(id, "running");
    await until("activated", async () => (await chainSession(id)).status === 2n);
    await t.rpc.send("evm_increaseTime", [121]);
    await stateIs(id, "ended");
    expect((await provider.status(running.workload_key)).state).to.not.equal("running");
    const c = t.compute();
    expect((await c.queryFilter(c.filters.OutcomeRecorded(id))).map((o) => Number(o.args.outcome))).to.deep.equal([1, 3]);
    const s = await chainSession(id);
    expect(s.claimed).to.equal(s.deposited);
  });

  it("a workload that exits early ends the session with a Failed outcome and the unused part refunded", async () => {
    const id = await startSession(t, JSON.stringify({ command: ["sh", "-c", "exit 3"], cpu: 0.5, memoryMb: 64 }));
    const row = await stateIs(id, "refunded");
    expect(row.last_error ?? "").to.equal("");
    const c = t.compute();
    const outcomes = await c.queryFilter(c.filters.OutcomeRecorded(id));
    expect(outcomes.at(-1)!.args.providerRef).to.equal("workload exited (exit 3)");
    const s = await chainSession(id);
    expect(s.claimed < s.deposited).to.equal(true);
  });

  it("serves /health and Prometheus /metrics", async () => {
    const base = `http://127.0.0.1:${(app.http.server.address() as { port: number }).port}`;
    const health = await (await fetch(`${base}/health`)).json();
    expect(health.ok, `/health: ${JSON.stringify(health)}`).to.equal(true);
    expect(health.providers.bubblewrap.ok).to.equal(true);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).to.match(/keeper_events_ingested_total \d+/);
    expect(metrics).to.match(/keeper_session_transitions_total\{to="ended"\} [1-9]/);
  });

  it("audit agrees with the chain, and reports a tampered database", async () => {
    const ok = await runAudit(app.store, t.rpc, app.deployment, 2);
    expect(ok.ok, JSON.stringify(ok)).to.equal(true);
    expect(ok.sessionsOnChain).to.be.greaterThan(3);
    const victim = app.db.prepare("SELECT instance_id, refunded FROM sessions LIMIT 1").get() as { instance_id: string; refunded: string };
    app.db.prepare("UPDATE sessions SET refunded = '1' WHERE instance_id = ?").run(victim.instance_id);
    const tampered = await runAudit(app.store, t.rpc, app.deployment, 2);
    expect(tampered.ok).to.equal(false);
    expect(tampered.amountMismatches).to.deep.include({
      instanceId: victim.instance_id,
      field: "refunded",
      chain: victim.refunded,
      database: "1",
    });
    app.db.prepare("UPDATE sessions SET refunded = ? WHERE instance_id = ?").run(victim.refunded, victim.instance_id);
  });

  it("the CLI: sessions and status read the database; audit exits 0, then 1 once the database is tampered with", async () => {
    const env = {
      ...keeperEnv(t, app.dataDir),
      PATH: process.env.PATH!,
      HTTP_PORT: String((app.http.server.address() as { port: number }).port),
    };
    // Asynchronous on purpose: the keeper under test runs in this process and must keep answering /health.
    const cli = (...args: string[]) =>
      new Promise<{ status: number; stdout: string; stderr: string }>((resolve) =>
        execFile(
          process.execPath,
          ["-r", "ts-node/register/transpile-only", "keeper/cli.ts", ...args],
          { cwd: path.resolve(__dirname, "..", "..", ".."), env },
          (err, stdout, stderr) => resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        ),
      );

    const sessions = JSON.parse((await cli("sessions", "--json", "--agent", t.agent.address)).stdout) as {
      instance_id: string;
      state: string;
    }[];
    const inDb = app.db.prepare("SELECT instance_id, state FROM sessions ORDER BY created_at DESC").all() as {
      instance_id: string;
      state: string;
    }[];
    // Sessions of earlier tests may still be moving between states, so compare the set of sessions and the settled ones.
    expect(sessions.map((x) => x.instance_id)).to.have.members(inDb.map((x) => x.instance_id));
    const settled = (rows: { instance_id: string; state: string }[]) => rows.filter((x) => x.state === "ended" || x.state === "refunded");
    expect(settled(inDb).map((x) => x.instance_id)).to.include.members(settled(sessions).map((x) => x.instance_id));
    const refundedOut = await cli("sessions", "--json", "--state", "refunded");
    const refunded = JSON.parse(refundedOut.stdout) as { instance_id: string; state: string }[];
    expect(refunded.length, "the config and unrunnable tests left refunded sessions").to.be.greaterThanOrEqual(2);
    expect(new Set(refunded.map((x) => x.state))).to.deep.equal(new Set(["refunded"]));
    expect(inDb.filter((x) => x.state === "refunded").map((x) => x.instance_id)).to.include.members(refunded.map((x) => x.instance_id));

    const status = JSON.parse((await cli("status", "--json")).stdout);
    expect(status.sessions.ended).to.be.greaterThan(0);
    expect(status.keeper.ok, JSON.stringify(status)).to.equal(true);
    expect(status.lagBlocks).to.be.a("number");

    const ok = await cli("audit");
    expect(ok.status, ok.stdout + ok.stderr).to.equal(0);
    expect(ok.stdout).to.contain("OK: chain and database agree");
    const victim = app.db.prepare("SELECT instance_id FROM sessions LIMIT 1").get() as { instance_id: string };
    const saved = app.db.prepare("SELECT * FROM sessions WHERE instance_id = ?").get(victim.instance_id) as Record<string, unknown>;
    app.db.prepare("DELETE FROM sessions WHERE instance_id = ?").run(victim.instance_id);
    try {
      const bad = await cli("audit");
      expect(bad.status).to.equal(1);
      expect(bad.stdout).to.contain("paid sessions missing from the keeper database (1):");
      expect(bad.stdout).to.contain(victim.instance_id);
    } finally {
      const cols = Object.keys(saved);
      app.db
        .prepare(`INSERT INTO sessions (${cols.join(",")}) VALUES (${cols.map(() => "?").join(",")})`)
        .run(...cols.map((c) => saved[c]));
    }
  });
});
