/** terminate() ends every process of a workload, gracefully first, and is idempotent. */
import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { BubblewrapProvider } from "../../../keeper/providers/bubblewrap";
import type { WorkloadSpec } from "../../../keeper/providers/provider";
import { sandboxHost } from "../../../keeper/sandbox/host";
import { Cleanup, inSeconds, marker, pidAlive, sleepers, tempDir, uniqueKey, waitUntil } from "./helpers";

const spec = (command: string[]): WorkloadSpec => ({ command, cpu: 1, memoryMb: 64, env: {} });

describe("bubblewrap provider: terminate", function () {
  this.timeout(60_000);
  const cleanup = new Cleanup();
  let p: BubblewrapProvider;

  beforeEach(() => {
    p = new BubblewrapProvider({ stateDir: cleanup.dir(tempDir()), terminateGraceMs: 1000 });
  });
  afterEach(() => cleanup.run());

  it("kills the whole tree: children, grandchildren, and processes that left the group with setsid", async () => {
    const key = cleanup.track(p, uniqueKey("tree"));
    const m = marker();
    const cmd = `sleep ${m} & sleep ${m} & (setsid sleep ${m} &); bash -c "sleep ${m} & wait" & sleep ${m}`;
    await p.provision({ idempotencyKey: key, endsAt: inSeconds(300), spec: spec(["sh", "-c", cmd]) });
    await waitUntil(() => sleepers(m).length === 5);
    const { pid, childPid } = p.processes(key)!;

    await p.terminate(key);

    expect(sleepers(m)).to.deep.equal([]);
    expect(pidAlive(pid)).to.equal(false);
    expect(pidAlive(childPid!)).to.equal(false);
    for (const parent of Object.values(sandboxHost().cgroups?.parents ?? {})) {
      expect(fs.existsSync(path.join(parent, `session-${key}`)), parent).to.equal(false);
    }
    expect(await p.status(key)).to.deep.equal({ state: "unknown", ref: "" });
  });

  it("sends SIGTERM first, so the workload can shut down cleanly", async () => {
    const key = cleanup.track(p, uniqueKey("term"));
    await p.provision({
      idempotencyKey: key,
      endsAt: inSeconds(300),
      spec: spec(["sh", "-c", "trap 'echo got-TERM; exit 0' TERM; echo ready; while :; do sleep 0.1; done"]),
    });
    await waitUntil(() => p.logs(key).stdout.includes("ready"));
    await p.terminate(key);
    expect(p.logs(key).stdout).to.include("got-TERM");
  });

  it("SIGKILLs what ignores SIGTERM after the grace period", async () => {
    const key = cleanup.track(p, uniqueKey("stubborn"));
    const m = marker();
    await p.provision({ idempotencyKey: key, endsAt: inSeconds(300), spec: spec(["sh", "-c", `trap '' TERM; sleep ${m} & sleep ${m}`]) });
    await waitUntil(() => sleepers(m).length === 2);
    const t = Date.now();
    await p.terminate(key);
    expect(Date.now() - t).to.be.within(900, 8000);
    expect(sleepers(m)).to.deep.equal([]);
  });

  it("is idempotent: a second terminate, or one for an unknown key, succeeds", async () => {
    const key = cleanup.track(p, uniqueKey("twice"));
    await p.provision({ idempotencyKey: key, endsAt: inSeconds(300), spec: spec(["sleep", marker()]) });
    await p.terminate(key);
    await p.terminate(key);
    await p.terminate(uniqueKey("never-provisioned"));
    expect((await p.status(key)).state).to.equal("unknown");
  });
});
