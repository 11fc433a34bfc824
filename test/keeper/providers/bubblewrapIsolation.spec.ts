/** The bubblewrap provider's workload runs sandboxed: uid 65534, no network, a clean environment. */
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { BubblewrapProvider } from "../../../keeper/providers/bubblewrap";
import type { WorkloadSpec } from "../../../keeper/providers/provider";
import { Cleanup, inSeconds, listener, sleep, tempDir, uniqueKey, waitUntil } from "./helpers";

const spec = (command: string[], env: Record<string, string> = {}): WorkloadSpec => ({ command, cpu: 1, memoryMb: 64, env });

describe("bubblewrap provider: isolation of the workload", function () {
  this.timeout(60_000);
  const cleanup = new Cleanup();
  let p: BubblewrapProvider;

  beforeEach(() => {
    p = new BubblewrapProvider({ stateDir: cleanup.dir(tempDir()) });
  });
  afterEach(() => cleanup.run());

  async function output(key: string, until: string): Promise<string> {
    return waitUntil(() => (p.logs(key).stdout.includes(until) ? p.logs(key).stdout : ""), 10_000);
  }

  it("runs the command as uid/gid 65534 without capabilities, with no-new-privileges and seccomp", async () => {
    const key = cleanup.track(p, uniqueKey("uid"));
    await p.provision({
      idempotencyKey: key,
      endsAt: inSeconds(300),
      spec: spec(["sh", "-c", "id -u; id -g; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; echo END; sleep 30"]),
    });
    const out = await output(key, "END");
    const [uid, gid, ...rest] = out.trim().split("\n");
    expect([uid, gid]).to.deep.equal(["65534", "65534"]);
    expect(rest).to.deep.equal(["CapEff:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2", "END"]);
    // and from the host's side: every process of the workload is owned by 65534
    const { pid, childPid } = p.processes(key)!;
    for (const q of [pid, childPid!])
      expect(execFileSync("ps", ["-o", "uid=", "-p", String(q)], { encoding: "utf8" }).trim()).to.equal("65534");
  });

  it("has no network: a TCP connect to a 127.0.0.1 listener opened by the test fails", async () => {
    const l = await listener();
    try {
      const probe = `if exec 3<>/dev/tcp/127.0.0.1/${l.port}; then echo CONNECTED; else echo REFUSED; fi`;
      expect(execFileSync("bash", ["-c", probe], { encoding: "utf8" }).trim()).to.equal("CONNECTED"); // control, outside
      await waitUntil(() => l.connections() === 1, 5000);
      const key = cleanup.track(p, uniqueKey("net"));
      await p.provision({ idempotencyKey: key, endsAt: inSeconds(300), spec: spec(["bash", "-c", `${probe}; echo END; sleep 30`]) });
      const out = await output(key, "END");
      expect(out).to.include("REFUSED");
      expect(out).not.to.include("CONNECTED");
      await sleep(100);
      expect(l.connections()).to.equal(1);
    } finally {
      await l.close();
    }
  });

  it("sees only the agent's environment: a secret in the keeper's environment is not visible inside", async () => {
    process.env.AGENTCOMPUTE_KEEPER_SECRET = "0xkeeper-secret-never-inside";
    try {
      const key = cleanup.track(p, uniqueKey("env"));
      await p.provision({
        idempotencyKey: key,
        endsAt: inSeconds(300),
        spec: spec(["sh", "-c", "env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'; echo END; sleep 30"], { AGENT_VAR: "agent-value" }),
      });
      const out = await output(key, "END");
      expect(out).to.include("AGENT_VAR=agent-value");
      expect(out).not.to.include("0xkeeper-secret-never-inside");
      expect(out).not.to.include("AGENTCOMPUTE_KEEPER_SECRET");
    } finally {
      delete process.env.AGENTCOMPUTE_KEEPER_SECRET;
    }
  });

  it("cannot write outside its small /tmp", async () => {
    const key = cleanup.track(p, uniqueKey("fs"));
    await p.provision({
      idempotencyKey: key,
      endsAt: inSeconds(300),
      spec: spec(["sh", "-c", "touch /x 2>&1; touch /usr/bin/x 2>&1; echo ok > /tmp/f && cat /tmp/f; echo END; sleep 30"]),
    });
    const out = await output(key, "END");
    expect(out.match(/Read-only file system/g)).to.have.length(2);
    expect(out).to.include("ok\n");
  });
});
