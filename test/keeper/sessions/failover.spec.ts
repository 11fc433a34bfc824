/**
 * Failover through the real keeper: a session paid for SPHERON whose provider misbehaves moves to the
 * next provider the agent allowed (io.net), every attempt is recorded, the on-chain outcome says
 * where it ran; when no allowed provider can run it the session is refunded with a Failed outcome.
 * Spheron and io.net are local stand-ins speaking their REST APIs.
 */
import { expect } from "chai";
import path from "node:path";
import { execFile } from "node:child_process";
import { startTestChain, TestChain } from "../shared/chain";
import { keeperEnv, startSession, startTestKeeper, until } from "../shared/keeperApp";
import { startSpheronStandin } from "../../standins/spheron/server";
import { startIonetStandin } from "../../standins/ionet/server";
import type { App } from "../../../keeper/app";
import type { SessionRow } from "../../../keeper/sessions/lifecycle";
import type { AttemptRow } from "../../../keeper/sessions/failover";

const SPHERON = 0;
const workload = (providers: string[]) =>
  JSON.stringify({ image: "agentcompute/worker:1", command: ["sh", "-c", "sleep 3600"], providers });

describe("keeper failover between cloud providers (Spheron and io.net stand-ins)", function () {
  this.timeout(120_000);
  let t: TestChain;
  let app: App & { dataDir: string };
  let spheron: Awaited<ReturnType<typeof startSpheronStandin>>;
  let ionet: Awaited<ReturnType<typeof startIonetStandin>>;
  let extra: Record<string, string>;

  before(async () => {
    t = await startTestChain();
    await t.rpc.send("evm_setIntervalMining", [100]);
    spheron = await startSpheronStandin({ apiKey: "sph-test-key", price: 0.5 });
    ionet = await startIonetStandin({ apiKey: "io-test-key", pricePerHour: 0.25 });
    extra = {
      SPHERON_API_URL: spheron.url,
      SPHERON_API_KEY: "sph-test-key",
      IONET_API_URL: ionet.url,
      IONET_API_KEY: "io-test-key",
      PROVIDER_REQUEST_TIMEOUT_MS: "300",
      PROVIDER_START_DEADLINE_MS: "3000",
      PROVIDER_POLL_MS: "50",
      PROVISION_TIMEOUT_S: "2",
      FAILOVER_BREAKER_THRESHOLD: "3",
      FAILOVER_COOLDOWN_S: "600",
    };
    app = await startTestKeeper(t, extra);
  });
  after(async () => {
    await app?.stop();
    await spheron?.close();
    await ionet?.close();
    await t?.stop();
  });

  const session = (id: string) => app.db.prepare("SELECT * FROM sessions WHERE instance_id = ?").get(id) as SessionRow | undefined;
  const attempts = (id: string) =>
    app.db.prepare("SELECT * FROM provision_attempts WHERE instance_id = ? ORDER BY seq").all(id) as AttemptRow[];
  const stateIs = (id: string, ...states: string[]) =>
    until(`session ${id.slice(0, 10)} in ${states}`, () => states.includes(session(id)?.state ?? "") && session(id), 60_000);
  const outcomes = async (id: string) => {
    const c = t.compute();
    return (await c.queryFilter(c.filters.OutcomeRecorded(id))).map((o) => ({
      outcome: Number(o.args.outcome),
      ref: o.args.providerRef as string,
    }));
  };
  const reset = () => {
    for (const f of [spheron.faults, ionet.faults]) for (const k of Object.keys(f)) delete (f as Record<string, unknown>)[k];
  };

  it("spheron's API times out: the session fails over to io.net, runs there, and Running names io.net on chain", async () => {
    reset();
    spheron.faults.hang = true;
    const id = await startSession(t, workload(["ionet"]), 3600, SPHERON);
    const row = await stateIs(id, "running");
    expect(row.provider).to.equal("ionet");
    const a = attempts(id);
    expect(a.map((x) => [x.provider, x.state])).to.deep.equal([
      ["spheron", "failed"],
      ["ionet", "running"],
    ]);
    expect(a[0].error).to.match(/timed out|no answer within|deadline passed/);
    expect(spheron.deployments.size, "spheron never rented anything").to.equal(0);
    const io = [...ionet.deployments.values()].filter((d) => d.resource_private_name === row.workload_key);
    expect(io.map((d) => d.status)).to.deep.equal(["running"]);
    expect(ionet.calls.every((c) => c.key === "io-test-key")).to.equal(true);
    // Provisioning (4) was recorded once, when spheron was first tried; then Running where it runs.
    await until("Running outcome mined", async () => (await outcomes(id)).length === 2);
    expect(await outcomes(id)).to.deep.equal([
      { outcome: 4, ref: "spheron:provisioning" },
      { outcome: 1, ref: `ionet:${io[0].id}` },
    ]);
    // The agent ends it: io.net's deployment is terminated.
    await (await t.compute().endSession(id)).wait();
    await stateIs(id, "ended");
    expect(io[0].status).to.equal("termination requested");
  });

  it("every allowed provider fails: the session is refunded in full with a Failed outcome on chain", async () => {
    reset();
    spheron.faults.noCapacity = true;
    ionet.faults.failDeploy = true;
    const id = await startSession(t, workload(["ionet"]), 3600, SPHERON);
    const row = await stateIs(id, "refunded");
    expect(row.last_error).to.match(/every allowed provider/);
    expect(attempts(id).map((x) => [x.provider, x.state])).to.deep.equal([
      ["spheron", "failed"],
      ["ionet", "failed"],
    ]);
    const o = await outcomes(id);
    expect(o.map((x) => x.outcome)).to.deep.equal([4, 2]);
    const chain = await t.compute().getSession(id);
    expect(chain.claimed).to.equal(0n);
    expect(row.refunded).to.equal(row.deposited);
  });

  it("a provider that accepts, runs, then terminates the instance: failover to the next allowed provider", async () => {
    reset();
    spheron.faults.terminateAfterReads = 2;
    const id = await startSession(t, workload(["ionet"]), 3600, SPHERON);
    await until("ran on spheron", () => attempts(id)[0]?.state === "running" || attempts(id)[0]?.state === "failed", 30_000);
    await until(
      "moved to io.net",
      () => attempts(id).length === 2 && attempts(id)[1].state === "running" && session(id)!.state === "running",
      60_000,
    );
    const a = attempts(id);
    expect(a[0].provider).to.equal("spheron");
    expect(a[0].state).to.equal("failed");
    expect(a[0].running_at, "it did run on spheron").to.be.a("number");
    expect(a[0].error).to.match(/workload lost/);
    expect(session(id)!.provider).to.equal("ionet");
    const sph = [...spheron.deployments.values()].filter((d) => d.name === session(id)!.workload_key);
    expect(sph.map((d) => d.status)).to.deep.equal(["terminated"]);
    const transitions = app.db.prepare("SELECT to_state, reason FROM session_transitions WHERE instance_id = ? ORDER BY id").all(id) as {
      to_state: string;
      reason: string;
    }[];
    expect(transitions.map((x) => x.to_state)).to.deep.equal(["requested", "provisioning", "running", "provisioning", "running"]);
    expect(transitions[3].reason).to.match(/workload lost on spheron .*failing over to ionet/);
    await (await t.compute().endSession(id)).wait();
    await stateIs(id, "ended");
  });

  it("a provider that keeps failing is marked unhealthy and skipped: later sessions go straight to io.net", async () => {
    reset();
    spheron.faults.failDeploy = true;
    const health = () =>
      app.db.prepare("SELECT * FROM provider_health WHERE provider = 'spheron'").get() as
        { consecutive_failures: number; unhealthy_until: number } | undefined;
    for (let i = 0; i < 3 && !((health()?.unhealthy_until ?? 0) > Date.now() / 1000); i++) {
      const id = await startSession(t, workload(["ionet"]), 3600, SPHERON);
      await stateIs(id, "running");
      expect(session(id)!.provider).to.equal("ionet");
    }
    expect(health()!.unhealthy_until).to.be.greaterThan(Date.now() / 1000);
    expect(health()!.consecutive_failures).to.be.at.least(3);
    const rented = spheron.deployments.size;
    const id = await startSession(t, workload(["ionet"]), 3600, SPHERON);
    await stateIs(id, "running");
    expect(
      attempts(id).map((x) => x.provider),
      "spheron not even tried",
    ).to.deep.equal(["ionet"]);
    expect(spheron.deployments.size).to.equal(rented);
  });

  it("when every allowed provider is unhealthy the session is refunded at once, nothing rented", async () => {
    // spheron's breaker is open (previous test); the agent allows nothing else.
    const rented = spheron.deployments.size;
    const id = await startSession(t, workload(["spheron"]), 3600, SPHERON);
    const row = await stateIs(id, "refunded");
    expect(row.last_error).to.match(/no allowed provider is configured and healthy/);
    expect(attempts(id)).to.have.length(0);
    expect(spheron.deployments.size).to.equal(rented);
    expect((await outcomes(id)).map((o) => o.outcome)).to.deep.equal([2]);
  });

  it("a providers list naming anything but a known provider is an invalid config: refunded, nothing called", async () => {
    const posts = () => [...spheron.calls, ...ionet.calls].filter((c) => c.method === "POST").length;
    const before = posts();
    const id = await startSession(
      t,
      JSON.stringify({ image: "agentcompute/worker:1", providers: ["http://127.0.0.1:1/evil"] }),
      3600,
      SPHERON,
    );
    const row = await stateIs(id, "refunded");
    expect(row.last_error).to.match(/^invalid config: providers\.0/);
    expect(posts() - before, "nothing rented").to.equal(0);
    expect(
      [...spheron.calls, ...ionet.calls].filter((c) => c.url.includes(row.workload_key)),
      "no provider API was called for it",
    ).to.deep.equal([]);
    expect(attempts(id)).to.have.length(0);
  });

  it("keeper status --json shows per-session costs against what the agent paid, and the margin", async () => {
    const env = {
      ...keeperEnv(t, app.dataDir, extra),
      PATH: process.env.PATH!,
      HTTP_PORT: String((app.http.server.address() as { port: number }).port),
    };
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ["-r", "ts-node/register/transpile-only", "keeper/cli.ts", "status", "--json"],
        { cwd: path.resolve(__dirname, "..", "..", ".."), env },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      ),
    );
    const status = JSON.parse(out);
    const rows = status.costs.sessions as {
      instanceId: string;
      providers: string[];
      agentPaid: string;
      providerCost: string;
      margin: string;
    }[];
    expect(rows.length).to.be.greaterThan(0);
    for (const r of rows) expect(BigInt(r.margin)).to.equal(BigInt(r.agentPaid) - BigInt(r.providerCost));
    const sum = (k: "agentPaid" | "providerCost") => rows.reduce((s, r) => s + BigInt(r[k]), 0n);
    expect(status.costs.totals.agentPaid).to.equal(sum("agentPaid").toString());
    expect(status.costs.totals.providerCost).to.equal(sum("providerCost").toString());
    // io.net's quote: 0.25 USD per hour = 250000 base units; one whole hour per attempt that ran there.
    const onIonet = rows.filter((r) => r.providers.includes("ionet") && !r.providers.includes("spheron") && BigInt(r.providerCost) > 0n);
    expect(onIonet.length).to.be.greaterThan(0);
    for (const r of onIonet) expect(r.providerCost).to.equal("250000");
    expect(status.providerHealth.find((p: { provider: string }) => p.provider === "spheron").consecutive_failures).to.be.at.least(3);
    expect(out).to.not.contain("sph-test-key");
    expect(out).to.not.contain("io-test-key");
  });
});
