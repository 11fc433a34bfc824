/** status() transitions and exit codes; endsAt enforcement and extend(); log caps; quote/health. */
import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { BubblewrapProvider } from "../../../keeper/providers/bubblewrap";
import { ProvisionError, WorkloadSpec } from "../../../keeper/providers/provider";
import { Cleanup, inSeconds, marker, sleepers, sleep, tempDir, uniqueKey, waitUntil } from "./helpers";

const spec = (command: string[]): WorkloadSpec => ({ command, cpu: 1, memoryMb: 64, env: {} });

describe("bubblewrap provider: status, deadline, extend, logs, quote", function () {
  this.timeout(60_000);
  const cleanup = new Cleanup();
  let dir: string;
  let p: BubblewrapProvider;

  beforeEach(() => {
    dir = cleanup.dir(tempDir());
    p = new BubblewrapProvider({ stateDir: dir, deadlinePollSeconds: 1, pricePerHour: 123n, maxMemoryMb: 1024 });
  });
  afterEach(() => cleanup.run());

  it("unknown -> running -> exited with the exit code -> unknown after terminate", async () => {
    const key = cleanup.track(p, uniqueKey("status"));
    expect(await p.status(key)).to.deep.equal({ state: "unknown", ref: "" });
    const { ref } = await p.provision({ idempotencyKey: key, endsAt: inSeconds(300), spec: spec(["sh", "-c", "sleep 1; exit 3"]) });
    const running = await p.status(key);
    expect(running.state).to.equal("running");
    expect(running.ref).to.equal(ref);
    const done = await waitUntil(async () => {
      const s = await p.status(key);
      return s.state === "running" ? undefined : s;
    });
    expect(done).to.deep.equal({ state: "exited", ref, exitCode: 3 });
    // a finished workload is still the session's workload: no second run
    expect((await p.provision({ idempotencyKey: key, endsAt: inSeconds(300), spec: spec(["sh", "-c", "exit 0"]) })).created).to.equal(
      false,
    );
    await p.terminate(key);
    expect((await p.status(key)).state).to.equal("unknown");
  });

  it("reports failed when the sandbox was killed from outside (no exit code)", async () => {
    const key = cleanup.track(p, uniqueKey("killed"));
    await p.provision({ idempotencyKey: key, endsAt: inSeconds(300), spec: spec(["sleep", marker()]) });
    process.kill(-p.processes(key)!.pid, "SIGKILL");
    const s = await waitUntil(async () => {
      const st = await p.status(key);
      return st.state === "running" ? undefined : st;
    });
    expect(s.state).to.equal("failed");
  });

  it("stops the workload at endsAt by itself (the watchdog needs no keeper)", async () => {
    const key = cleanup.track(p, uniqueKey("deadline"));
    const m = marker();
    await p.provision({ idempotencyKey: key, endsAt: inSeconds(2), spec: spec(["sleep", m]) });
    expect((await p.status(key)).state).to.equal("running");
    const s = await waitUntil(async () => {
      const st = await p.status(key);
      return st.state === "running" ? undefined : st;
    }, 8000);
    expect(s.state).to.equal("exited");
    expect(s.detail).to.match(/deadline watchdog/);
    expect(sleepers(m)).to.deep.equal([]);
  });

  it("extend() moves endsAt without restarting the workload", async () => {
    const key = cleanup.track(p, uniqueKey("extend"));
    const m = marker();
    const { ref } = await p.provision({ idempotencyKey: key, endsAt: inSeconds(2), spec: spec(["sleep", m]) });
    await p.extend(key, inSeconds(120));
    await sleep(4000);
    expect(await p.status(key)).to.include({ state: "running", ref });
    expect(sleepers(m)).to.have.length(1);
    expect(JSON.parse(fs.readFileSync(path.join(dir, key, "state.json"), "utf8")).endsAt).to.be.greaterThan(inSeconds(100));
    // and back to the past: the watchdog stops it
    await p.extend(key, inSeconds(-1));
    await waitUntil(async () => (await p.status(key)).state === "exited", 8000);
  });

  it("extend() of an unknown key is rejected", async () => {
    let err: unknown;
    await p.extend(uniqueKey("nobody"), inSeconds(100)).catch((e) => (err = e));
    expect(err).to.be.instanceOf(ProvisionError);
  });

  it("keeps the first maxLogBytes of output and does not kill a chatty workload", async () => {
    const small = new BubblewrapProvider({ stateDir: dir, maxLogBytes: 1000 });
    const key = cleanup.track(small, uniqueKey("logs"));
    await small.provision({ idempotencyKey: key, endsAt: inSeconds(300), spec: spec(["sh", "-c", "yes | head -c 200000; echo done >&2"]) });
    const s = await waitUntil(async () => {
      const st = await small.status(key);
      return st.state === "running" ? undefined : st;
    });
    expect(s).to.include({ state: "exited", exitCode: 0 });
    expect(small.logs(key).stdout).to.have.length(1000);
    expect(small.logs(key).stderr).to.equal("done\n");
  });

  it("rejects what it cannot run, without retry", async () => {
    for (const bad of [
      { idempotencyKey: uniqueKey("nocmd"), endsAt: inSeconds(100), spec: { image: "x", cpu: 1, memoryMb: 64, env: {} } },
      { idempotencyKey: uniqueKey("past"), endsAt: inSeconds(-10), spec: spec(["true"]) },
      { idempotencyKey: uniqueKey("env"), endsAt: inSeconds(100), spec: { ...spec(["true"]), env: { "NOT-A-NAME": "x" } } },
    ]) {
      let err: unknown;
      await p.provision(bad).catch((e) => (err = e));
      expect(err, bad.idempotencyKey).to.be.instanceOf(ProvisionError);
      expect((err as ProvisionError).retryable).to.equal(false);
    }
  });

  it("health() runs a trivial sandbox; quote() prices from the option and checks it can run the spec", async () => {
    const h = await p.health();
    expect(h.ok, h.detail).to.equal(true);
    expect(h.detail).to.match(/uid 65534/);
    expect(await p.quote(spec(["true"]), 2)).to.deep.equal({ pricePerHour: 123n, available: true });
    expect((await p.quote({ image: "x", cpu: 1, memoryMb: 64, env: {} }, 1)).available).to.equal(false);
    expect((await p.quote({ ...spec(["true"]), memoryMb: 4096 }, 1)).available).to.equal(false);
    const priced = new BubblewrapProvider({ stateDir: dir, pricePerHour: (s) => BigInt(s.memoryMb) * 10n });
    expect((await priced.quote(spec(["true"]), 1)).pricePerHour).to.equal(640n);
  });
});
