import { expect } from "chai";
import { buildDockerCreateOptions, buildDockerHostConfig } from "../../../keeper/sandbox/dockerConfig";
import { createSandboxSpec, DEFAULT_ENV, MiB } from "../../../keeper/sandbox/sandboxSpec";

describe("sandbox: hardened Docker container from a SandboxSpec", () => {
  const spec = createSandboxSpec({
    command: ["sh", "-c", "echo hi"],
    env: { AGENT_TOKEN: "abc" },
    memoryMb: 96,
    cpu: 1.5,
    pids: 40,
    tmpSizeMb: 16,
  });

  it("no network, read-only root, no capabilities, no-new-privileges, not privileged", () => {
    const hc = buildDockerHostConfig(spec);
    expect(hc.NetworkMode).to.equal("none");
    expect(hc.ReadonlyRootfs).to.equal(true);
    expect(hc.CapDrop).to.deep.equal(["ALL"]);
    expect(hc.CapAdd).to.deep.equal([]);
    expect(hc.SecurityOpt).to.deep.equal(["no-new-privileges"]);
    expect(hc.Privileged).to.equal(false);
    expect(hc.IpcMode).to.equal("private");
    expect(hc.RestartPolicy).to.deep.equal({ Name: "no" });
    expect(JSON.stringify(hc)).not.to.match(/unconfined/);
  });

  it("memory (no extra swap), pids, CPU, a small /tmp, file size and log caps", () => {
    const hc = buildDockerHostConfig(spec, { logMaxBytes: 4096 });
    expect(hc.Memory).to.equal(96 * MiB);
    expect(hc.MemorySwap).to.equal(96 * MiB);
    expect(hc.PidsLimit).to.equal(40);
    expect(hc.NanoCpus).to.equal(1_500_000_000);
    expect(hc.Tmpfs).to.deep.equal({ "/tmp": "rw,nosuid,nodev,size=16m,mode=1777" });
    expect(hc.Ulimits).to.deep.include({ Name: "fsize", Soft: 16 * MiB, Hard: 16 * MiB });
    expect(hc.Ulimits).to.deep.include({ Name: "core", Soft: 0, Hard: 0 });
    expect(hc.LogConfig).to.deep.equal({ Type: "json-file", Config: { "max-size": "4096", "max-file": "1" } });
    expect(buildDockerHostConfig(createSandboxSpec({ command: ["x"] })).NanoCpus).to.equal(undefined);
  });

  it("runs as 65534:65534 with only the workload's environment, labelled and named", () => {
    const o = buildDockerCreateOptions(spec, {
      image: "agentcompute/busybox:local",
      name: "agentcompute-s1",
      labels: { "agentcompute.session": "s1" },
    });
    expect(o.User).to.equal("65534:65534");
    expect(o.Image).to.equal("agentcompute/busybox:local");
    expect(o.name).to.equal("agentcompute-s1");
    expect(o.Labels).to.deep.equal({ "agentcompute.session": "s1" });
    expect(o.Cmd).to.deep.equal(["sh", "-c", "echo hi"]);
    expect(o.NetworkDisabled).to.equal(true);
    const env = Object.fromEntries(o.Env!.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
    expect(env).to.deep.equal({ ...DEFAULT_ENV, AGENT_TOKEN: "abc" });
    expect(o.HostConfig?.NetworkMode).to.equal("none");
    // no command: the image's own
    expect(buildDockerCreateOptions(createSandboxSpec({ command: [] }), { image: "i", name: "n", labels: {} }).Cmd).to.equal(undefined);
  });
});
