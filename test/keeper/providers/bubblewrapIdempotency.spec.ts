/**
 * The bubblewrap provider never runs a second copy of a session's workload: the same key returns the
 * same workload, also from a new provider object and after the keeper process was killed.
 */
import { expect } from "chai";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { BubblewrapProvider } from "../../../keeper/providers/bubblewrap";
import type { ProvisionRequest } from "../../../keeper/providers/provider";
import { Cleanup, inSeconds, marker, pidAlive, sleepers, REPO, tempDir, uniqueKey, waitUntil } from "./helpers";

function request(key: string, m: string): ProvisionRequest {
  return { idempotencyKey: key, endsAt: inSeconds(300), spec: { command: ["sleep", m], cpu: 1, memoryMb: 64, env: {} } };
}

describe("bubblewrap provider: idempotent provisioning", function () {
  this.timeout(60_000);
  const cleanup = new Cleanup();
  let dir: string;

  beforeEach(() => {
    dir = cleanup.dir(tempDir());
  });
  afterEach(() => cleanup.run());

  it("a second provision with the same key returns the running workload (created: false), still one process", async () => {
    const p = new BubblewrapProvider({ stateDir: dir });
    const key = cleanup.track(p, uniqueKey("again"));
    const m = marker();
    const first = await p.provision(request(key, m));
    const second = await p.provision(request(key, m));
    expect(first.created).to.equal(true);
    expect(second).to.deep.equal({ ref: first.ref, created: false });
    await waitUntil(() => sleepers(m).length === 1);
    expect(sleepers(m)).to.have.length(1);
  });

  it("concurrent provisions of one key start exactly one workload", async () => {
    const p = new BubblewrapProvider({ stateDir: dir });
    const key = cleanup.track(p, uniqueKey("concurrent"));
    const m = marker();
    const results = await Promise.all([1, 2, 3].map(() => p.provision(request(key, m))));
    expect(results.filter((r) => r.created)).to.have.length(1);
    expect(new Set(results.map((r) => r.ref)).size).to.equal(1);
    await waitUntil(() => sleepers(m).length === 1);
  });

  it("a new provider object on the same state directory (a restarted keeper) finds the workload", async () => {
    const before = new BubblewrapProvider({ stateDir: dir });
    const key = uniqueKey("restart");
    const m = marker();
    const first = await before.provision(request(key, m));
    const after = new BubblewrapProvider({ stateDir: dir });
    cleanup.track(after, key);
    expect(await after.provision(request(key, m))).to.deep.equal({ ref: first.ref, created: false });
    expect((await after.status(key)).state).to.equal("running");
    expect(sleepers(m)).to.have.length(1);
  });

  it("the workload survives the keeper process being killed (SIGKILL), and the next keeper adopts it", async () => {
    const key = uniqueKey("crash");
    const m = marker();
    const req = request(key, m);
    cleanup.track(new BubblewrapProvider({ stateDir: dir }), key);
    const script = `
      const { BubblewrapProvider } = require(${JSON.stringify(path.join(REPO, "keeper/providers/bubblewrap.ts"))});
      const p = new BubblewrapProvider({ stateDir: ${JSON.stringify(dir)} });
      p.provision(${JSON.stringify(req)}).then(
        (r) => { process.stdout.write(JSON.stringify(r) + "\\n"); setInterval(() => {}, 1000); },
        (e) => { console.error(e); process.exit(1); });`;
    const keeper = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    keeper.stdout.on("data", (d) => (out += d));
    keeper.stderr.on("data", (d) => (err += d));
    const exited = new Promise((r) => keeper.on("exit", r));
    try {
      await waitUntil(() => out.includes("\n") || keeper.exitCode !== null, 30_000);
      expect(out, `keeper stderr: ${err}`).to.include("\n");
      const first = JSON.parse(out) as { ref: string; created: boolean };
      expect(first.created).to.equal(true);
      keeper.kill("SIGKILL");
      await exited;

      expect(sleepers(m)).to.have.length(1); // still running without its keeper
      const next = new BubblewrapProvider({ stateDir: dir });
      expect(await next.provision(req)).to.deep.equal({ ref: first.ref, created: false });
      expect((await next.status(key)).state).to.equal("running");
      expect(sleepers(m)).to.have.length(1);
    } finally {
      keeper.kill("SIGKILL");
    }
  });

  it("a workload whose setup was interrupted (record still 'starting') is replaced, not duplicated", async () => {
    const p = new BubblewrapProvider({ stateDir: dir });
    const key = cleanup.track(p, uniqueKey("starting"));
    const m = marker();
    const first = await p.provision(request(key, m));
    const old = p.processes(key)!;
    // what a keeper killed between spawning and finishing setup leaves behind
    const stateFile = path.join(dir, key, "state.json");
    fs.writeFileSync(stateFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(stateFile, "utf8")), phase: "starting" }));
    expect((await p.status(key)).state).to.equal("starting");
    const second = await p.provision(request(key, m));
    expect(second.created).to.equal(true);
    expect(second.ref).not.to.equal(first.ref);
    expect(pidAlive(old.pid)).to.equal(false);
    await waitUntil(() => sleepers(m).length === 1);
  });
});
