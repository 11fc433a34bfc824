/**
 * The docker provider's containers are hardened, checked on the real engine: inspect shows the
 * limits, and the workload itself sees uid 65534, no network, a read-only root, a clean environment.
 * Skipped with a message when no engine answers (CI starts one).
 */
import { expect } from "chai";
import { DockerProvider, LABEL_ENDS_AT, LABEL_MANAGED, LABEL_SESSION } from "../../../keeper/providers/docker";
import { Cleanup, demuxDockerLogs, inSeconds, requireDockerEngine, uniqueKey, waitUntil } from "./helpers";

const MiB = 1024 * 1024;

describe("docker provider: hardened containers", function () {
  this.timeout(120_000);
  const cleanup = new Cleanup();
  let host: string;
  let p: DockerProvider;

  before(async function () {
    host = await requireDockerEngine(this);
  });
  beforeEach(() => {
    p = new DockerProvider({ dockerHost: host, stopGraceSeconds: 1, pids: 48 });
  });
  afterEach(() => cleanup.run());

  it("inspect: no network, read-only root, uid 65534, all capabilities dropped, the requested memory/CPU, pids limit", async () => {
    const key = cleanup.track(p, uniqueKey("inspect"));
    const endsAt = inSeconds(300);
    const { ref } = await p.provision({
      idempotencyKey: key,
      endsAt,
      spec: { command: ["sleep", "300"], cpu: 0.25, memoryMb: 48, env: {} },
    });
    const info = await p.docker.getContainer(ref).inspect();
    const hc = info.HostConfig;
    expect(hc.NetworkMode).to.equal("none");
    expect(hc.ReadonlyRootfs).to.equal(true);
    expect(info.Config.User).to.equal("65534:65534");
    expect(hc.CapDrop).to.deep.equal(["ALL"]);
    expect(hc.CapAdd ?? []).to.deep.equal([]);
    expect(hc.Privileged).to.equal(false);
    expect(hc.SecurityOpt).to.deep.equal(["no-new-privileges"]);
    expect(hc.Memory).to.equal(48 * MiB);
    expect(hc.MemorySwap).to.equal(48 * MiB);
    expect(hc.NanoCpus).to.equal(250_000_000);
    expect(hc.PidsLimit).to.equal(48);
    expect(hc.Tmpfs).to.have.property("/tmp");
    expect(info.Config.Labels).to.include({ [LABEL_SESSION]: key, [LABEL_MANAGED]: "true", [LABEL_ENDS_AT]: String(endsAt) });
    expect(Object.keys(info.NetworkSettings.Networks ?? {}).filter((n) => n !== "none")).to.deep.equal([]);
  });

  it("inside: uid 65534, only a loopback interface, read-only root, writable /tmp, no keeper environment", async () => {
    process.env.AGENTCOMPUTE_KEEPER_SECRET = "0xkeeper-secret-never-inside";
    try {
      const key = cleanup.track(p, uniqueKey("inside"));
      const script =
        "id -u; id -g; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; touch /x 2>&1; echo ok > /tmp/f && cat /tmp/f; env; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; echo END; sleep 300";
      const { ref } = await p.provision({
        idempotencyKey: key,
        endsAt: inSeconds(300),
        spec: { command: ["sh", "-c", script], cpu: 0.5, memoryMb: 32, env: { AGENT_VAR: "agent-value" } },
      });
      const c = p.docker.getContainer(ref);
      const logs = await waitUntil(async () => {
        const l = demuxDockerLogs((await c.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer);
        return l.stdout.includes("END") ? l : undefined;
      });
      const lines = logs.stdout.trim().split("\n");
      expect(lines.slice(0, 3)).to.deep.equal(["65534", "65534", "lo"]);
      expect(logs.stdout).to.match(/Read-only file system/);
      expect(logs.stdout).to.include("ok\n");
      expect(logs.stdout).to.include("AGENT_VAR=agent-value");
      expect(logs.stdout).not.to.include("0xkeeper-secret-never-inside");
      expect(logs.stdout).to.include("CapEff:\t0000000000000000");
      expect(logs.stdout).to.include("NoNewPrivs:\t1");
      expect(logs.stdout).to.include("Seccomp:\t2");
    } finally {
      delete process.env.AGENTCOMPUTE_KEEPER_SECRET;
    }
  });

  it("enforces the memory limit (OOM) and the pids limit", async () => {
    const key = cleanup.track(p, uniqueKey("limits"));
    // A fork storm in a child shell (busybox sh exits when a fork fails), counted with shell
    // builtins only (no fork is left at the limit); then free the pids and eat memory.
    const script =
      "sh -c 'for i in $(seq 1 100); do sleep 300 & done' 2>/dev/null; set -- /proc/[0-9]*; echo procs=$#; " +
      "kill -9 -1; while set -- /proc/[0-9]*; [ $# -gt 2 ]; do :; done; head -c 200000000 /dev/zero | tail";
    await p.provision({
      idempotencyKey: key,
      endsAt: inSeconds(300),
      spec: { command: ["sh", "-c", script], cpu: 0.5, memoryMb: 32, env: {} },
    });
    const s = await waitUntil(async () => {
      const st = await p.status(key);
      return st.state === "exited" ? st : undefined;
    }, 30_000);
    expect(s.exitCode).to.not.equal(0);
    const ref = s.ref;
    const info = await p.docker.getContainer(ref).inspect();
    const logs = demuxDockerLogs((await p.docker.getContainer(ref).logs({ stdout: true, stderr: true })) as unknown as Buffer);
    const procs = Number(logs.stdout.match(/procs=(\d+)/)?.[1]);
    expect(procs).to.be.within(40, 48); // the storm hit the limit of 48 (docker-init and the shell included)
    expect(info.State.OOMKilled || /memory/i.test(logs.stderr)).to.equal(true);
  });
});
