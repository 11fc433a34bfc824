/**
 * The one-shot sandbox (runSandboxed) on the real host: what the code-execution API will use and
 * what the bubblewrap provider's health check runs. Needs bubblewrap (apt-get install bubblewrap).
 */
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { probeSandboxHost, sandboxHost } from "../../../keeper/sandbox/host";
import { runSandboxed, RunOptions } from "../../../keeper/sandbox/launch";
import { listener, marker, sleepers, sleep, waitUntil } from "./helpers";

const OPTS: RunOptions = { timeoutMs: 10_000, maxOutputBytes: 64 * 1024 };

describe("sandbox: one-shot runs in bubblewrap", function () {
  this.timeout(60_000);

  before(() => {
    const host = sandboxHost();
    if (host.problems.length) throw new Error(`the sandbox cannot run on this host: ${host.problems.join("; ")}`);
  });

  it("runs as uid/gid 65534 with no capabilities, no-new-privileges and the seccomp filter", async () => {
    const r = await runSandboxed(
      { command: ["sh", "-c", "id -u; id -g; grep -E '^(CapEff|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status"] },
      OPTS,
    );
    expect(r.exitCode).to.equal(0);
    const [uid, gid, ...status] = r.stdout.trim().split("\n");
    expect([uid, gid]).to.deep.equal(["65534", "65534"]);
    const fields = Object.fromEntries(status.map((l) => l.split(/:\s+/)));
    expect(fields).to.deep.equal({ CapPrm: "0000000000000000", CapEff: "0000000000000000", NoNewPrivs: "1", Seccomp: "2" });
  });

  it("has no network: a listener on the host's 127.0.0.1 cannot be reached, only its own loopback exists", async () => {
    const l = await listener();
    try {
      const probe = `if exec 3<>/dev/tcp/127.0.0.1/${l.port}; then echo CONNECTED; else echo REFUSED; fi`;
      // control: the same probe outside the sandbox does connect
      expect(execFileSync("bash", ["-c", probe], { encoding: "utf8" }).trim()).to.equal("CONNECTED");
      await waitUntil(() => l.connections() === 1, 5000);
      const r = await runSandboxed({ command: ["bash", "-c", `${probe}; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '`] }, OPTS);
      expect(r.stdout.trim().split("\n")).to.deep.equal(["REFUSED", "lo"]);
      await sleep(100);
      expect(l.connections()).to.equal(1);
    } finally {
      await l.close();
    }
  });

  it("sees only the environment it was given, never the keeper's", async () => {
    process.env.AGENTCOMPUTE_TEST_KEEPER_SECRET = "keeper-private-key-must-not-leak";
    try {
      const r = await runSandboxed(
        { command: ["sh", "-c", "env; cat /proc/1/environ | tr '\\0' '\\n'"], env: { AGENT_VAR: "agent-value" } },
        OPTS,
      );
      expect(r.stdout).to.include("AGENT_VAR=agent-value");
      expect(r.stdout).not.to.include("keeper-private-key-must-not-leak");
      const names = new Set(
        r.stdout
          .split("\n")
          .filter(Boolean)
          .map((l) => l.slice(0, l.indexOf("="))),
      );
      for (const n of names) expect(["AGENT_VAR", "PATH", "HOME", "LANG", "PWD", "SHLVL", "_"], n).to.include(n);
    } finally {
      delete process.env.AGENTCOMPUTE_TEST_KEEPER_SECRET;
    }
  });

  it("has a read-only root, a writable but size-capped /tmp, and no inherited file descriptors", async () => {
    const r = await runSandboxed(
      {
        command: [
          "sh",
          "-c",
          "touch /x 2>&1; touch /usr/x 2>&1; echo hi > /tmp/ok && cat /tmp/ok; head -c 3000000 /dev/zero > /tmp/big; echo big=$?; ls /proc/self/fd | tr '\\n' ' '",
        ],
        tmpSizeMb: 1,
      },
      OPTS,
    );
    expect(r.stdout).to.match(/Read-only file system[\s\S]*Read-only file system/);
    expect(r.stdout).to.include("hi\n");
    expect(r.stdout).to.match(/big=[1-9]/);
    expect(r.stdout.trim().split("\n").pop()!.trim().split(" ").map(Number)).to.deep.equal([0, 1, 2, 3]); // 3: ls's own directory
  });

  it("kills the whole process tree at the wall-clock limit", async () => {
    const m = marker();
    const started = Date.now();
    const r = await runSandboxed({ command: ["sh", "-c", `sleep ${m} & (setsid sleep ${m} &); sleep ${m}`] }, { ...OPTS, timeoutMs: 700 });
    expect(r.timedOut).to.equal(true);
    expect(Date.now() - started).to.be.lessThan(5000);
    expect(sleepers(m)).to.deep.equal([]);
  });

  it("caps output: more than maxOutputBytes is cut and the run is killed", async () => {
    const r = await runSandboxed({ command: ["yes"] }, { ...OPTS, maxOutputBytes: 1000 });
    expect(r.outputTruncated).to.equal(true);
    expect(r.stdout).to.have.length(1000);
    expect(r.timedOut).to.equal(false);
  });

  it("runs the job and everything it starts below the keeper's priority (nice 10)", async () => {
    const r = await runSandboxed(
      { command: ["sh", "-c", "cut -d' ' -f19 /proc/self/stat; sh -c \"cut -d' ' -f19 /proc/self/stat\""] },
      OPTS,
    );
    expect(r.stdout.trim().split("\n")).to.deep.equal(["10", "10"]);
  });

  it("limits memory (cgroup when writable)", async () => {
    const r = await runSandboxed(
      { command: ["sh", "-c", "head -c 200000000 /dev/zero | tail > /dev/null; echo rc=$?"], memoryMb: 32 },
      OPTS,
    );
    expect(r.stdout).to.match(/rc=[1-9]/);
    if (sandboxHost().cgroups?.parents.memory) {
      expect(r.limits.memory).to.equal("cgroup");
      expect(r.oomKilled).to.equal(true);
      expect(r.memoryPeakBytes).to.be.at.most(32 * 1024 * 1024);
    }
  });

  it("limits memory with RLIMIT_DATA when no cgroup is available", async () => {
    const host = probeSandboxHost({ cgroups: false });
    const r = await runSandboxed(
      { command: ["sh", "-c", "head -c 200000000 /dev/zero | tail > /dev/null; echo rc=$?"], memoryMb: 32 },
      { ...OPTS, host },
    );
    expect(r.limits.memory).to.equal("rlimit-data");
    expect(r.stdout).to.match(/rc=[1-9]/);
    expect(r.stderr).to.match(/memory exhausted|Cannot allocate/);
  });

  it("contains a fork bomb (pids limit) and leaves nothing behind", async () => {
    const m = marker();
    const r = await runSandboxed(
      { command: ["sh", "-c", `for i in $(seq 1 100); do sleep ${m} & done; echo spawned`], pids: 16 },
      { ...OPTS, timeoutMs: 3000 },
    );
    expect(r.stderr).to.match(/fork|Resource temporarily unavailable/i);
    expect(sleepers(m)).to.deep.equal([]);
  });

  it("forbids new user namespaces and the denied syscalls", async () => {
    const r = await runSandboxed({ command: ["sh", "-c", "unshare -U true; echo userns=$?; unshare -r true; echo root=$?"] }, OPTS);
    expect(r.stdout).to.match(/userns=[1-9]/);
    expect(r.stdout).to.match(/root=[1-9]/);
  });

  it("reports the exit code and leaves no cgroup behind", async () => {
    const r = await runSandboxed({ command: ["sh", "-c", "exit 7"] }, OPTS);
    expect(r.exitCode).to.equal(7);
    const parents = sandboxHost().cgroups?.parents ?? {};
    for (const p of Object.values(parents)) {
      expect(fs.readdirSync(p).filter((d) => d.startsWith(`run-${process.pid}-`))).to.deep.equal([]);
    }
  });
});
