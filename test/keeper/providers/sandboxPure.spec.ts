/** The small parsers and encoders of the sandbox layer (no processes started). */
import { expect } from "chai";
import { cgroupLayout } from "../../../keeper/sandbox/cgroups";
import { formatDeadline, parseBwrapStatus } from "../../../keeper/sandbox/launch";
import { parseProcStat } from "../../../keeper/sandbox/procfs";
import {
  buildSeccompFilter,
  seccompProgram,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
} from "../../../keeper/sandbox/seccomp";
import { workloadName } from "../../../keeper/providers/workloadName";
import { dockerConnection, mapContainerState } from "../../../keeper/providers/docker";

describe("sandbox: seccomp program", () => {
  it("kills other ABIs, denies the listed syscalls with EPERM, allows the rest", () => {
    const prog = seccompProgram("x64")!;
    expect(prog[0]).to.deep.include({ code: 0x20, k: 4 }); // load arch
    expect(prog[1]).to.deep.include({ code: 0x15, k: 0xc000003e, jt: 1, jf: 0 });
    expect(prog[2]).to.deep.include({ code: 0x06, k: SECCOMP_RET_KILL_PROCESS });
    expect(prog[3]).to.deep.include({ code: 0x20, k: 0 }); // load nr
    const deny = prog.length - 1;
    expect(prog[deny]).to.deep.include({ code: 0x06, k: SECCOMP_RET_ERRNO | 1 });
    expect(prog[deny - 1]).to.deep.include({ code: 0x06, k: SECCOMP_RET_ALLOW });
    const checks = prog.slice(4, deny - 1);
    for (const [i, c] of checks.entries()) expect(4 + i + 1 + c.jt, `jump ${i}`).to.equal(deny);
    expect(checks[0]).to.deep.include({ code: 0x35, k: 0x40000000 }); // x32 syscalls denied
    const nrs = checks.slice(1).map((c) => c.k);
    for (const nr of [
      101 /* ptrace */, 165 /* mount */, 272 /* unshare */, 321 /* bpf */, 250 /* keyctl */, 425 /* io_uring_setup */,
      298 /* perf_event_open */,
    ]) {
      expect(nrs).to.include(nr);
    }
    for (const nr of [0 /* read */, 1 /* write */, 56 /* clone */, 59 /* execve */, 231 /* exit_group */]) expect(nrs).not.to.include(nr);
  });

  it("encodes struct sock_filter (8 bytes each) and has a table for arm64; none for unknown arches", () => {
    const buf = buildSeccompFilter("x64")!;
    expect(buf.length).to.equal(seccompProgram("x64")!.length * 8);
    expect(buf.readUInt16LE(8)).to.equal(0x15);
    expect(buf.readUInt32LE(12)).to.equal(0xc000003e);
    expect(seccompProgram("arm64")![1].k).to.equal(0xc00000b7);
    expect(seccompProgram("mips")).to.equal(undefined);
  });
});

describe("sandbox: cgroup layout from /proc/self/{mountinfo,cgroup}", () => {
  const v1 = [
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids",
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
  ].join("\n");

  it("v1: one directory per controller under the keeper's own cgroup (hybrid hosts use v1)", () => {
    const self = "8:pids:/\n4:memory:/svc/keeper\n1:cpu:/\n0::/\n";
    expect(cgroupLayout(v1, self)).to.deep.equal({
      version: 1,
      parents: {
        memory: "/sys/fs/cgroup/memory/svc/keeper/agentcompute",
        pids: "/sys/fs/cgroup/pids/agentcompute",
        cpu: "/sys/fs/cgroup/cpu/agentcompute",
      },
    });
  });

  it("v1 with a mount rooted below the hierarchy root (a container)", () => {
    const mi = "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory";
    expect(cgroupLayout(mi, "4:memory:/docker/abc\n")?.parents.memory).to.equal("/sys/fs/cgroup/memory/agentcompute");
  });

  it("v2: a sibling of the keeper's cgroup (no internal processes)", () => {
    const mi = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate";
    expect(cgroupLayout(mi, "0::/system.slice/keeper.service\n")).to.deep.equal({
      version: 2,
      parents: {
        memory: "/sys/fs/cgroup/system.slice/agentcompute",
        pids: "/sys/fs/cgroup/system.slice/agentcompute",
        cpu: "/sys/fs/cgroup/system.slice/agentcompute",
      },
    });
    expect(cgroupLayout(mi, "0::/\n")?.parents.memory).to.equal("/sys/fs/cgroup/agentcompute");
    expect(cgroupLayout("", "0::/\n")).to.equal(undefined);
  });
});

describe("sandbox: small formats", () => {
  it("parses /proc/<pid>/stat even when the command name has spaces and parentheses", () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    fields[0] = "S";
    fields[1] = "10"; // ppid
    fields[2] = "42"; // pgrp
    fields[3] = "42"; // session
    fields[19] = "987654"; // starttime (field 22)
    const st = parseProcStat(`1234 (we ird) (name) ${fields.join(" ")}`);
    expect(st).to.deep.equal({ pid: 1234, comm: "we ird) (name", state: "S", ppid: 10, pgrp: 42, session: 42, startTime: "987654" });
  });

  it("reads bwrap's JSON status stream and the watchdog's note", () => {
    const text = '{ "child-pid": 77, "pid-namespace": 4026532181 }\n{ "exit-code": 3 }\n';
    expect(parseBwrapStatus(text)).to.deep.equal({ childPid: 77, exitCode: 3 });
    expect(parseBwrapStatus('{ "child-pid": 5 }\n{ "deadline-reached": 1700000000 }\n{ "exit-')).to.deep.equal({
      childPid: 5,
      deadlineReached: 1700000000,
    });
  });

  it("deadline file has a fixed width, so an in-place rewrite never leaves stale bytes", () => {
    expect(formatDeadline(5)).to.have.length(formatDeadline(1_800_000_000).length);
    expect(formatDeadline(1_800_000_000).trim().split(/\s+/)).to.deep.equal(["1800000000", "1800000000"]);
  });

  it("workload names: safe keys as they are, others hashed", () => {
    expect(workloadName("12345")).to.equal("12345");
    expect(workloadName("0xabc")).to.equal("0xabc");
    expect(workloadName("a/b")).to.match(/^h-[0-9a-f]{40}$/);
    expect(workloadName("a/b")).not.to.equal(workloadName("a_b"));
    expect(workloadName("h-x")).to.match(/^h-[0-9a-f]{40}$/);
    expect(() => workloadName("")).to.throw();
  });

  it("DOCKER_HOST forms and container states", () => {
    expect(dockerConnection("unix:///tmp/acd/docker.sock")).to.deep.equal({ socketPath: "/tmp/acd/docker.sock" });
    expect(dockerConnection("/run/docker.sock")).to.deep.equal({ socketPath: "/run/docker.sock" });
    expect(dockerConnection("tcp://127.0.0.1:2375")).to.deep.equal({ host: "127.0.0.1", port: 2375, protocol: "http" });
    expect(() => dockerConnection("ssh://x")).to.throw();
    const base = {
      Running: false,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: 0,
      Error: "",
      StartedAt: "",
      FinishedAt: "",
    };
    expect(mapContainerState({ ...base, Status: "created", ExitCode: 0 })).to.deep.equal({ state: "starting" });
    expect(mapContainerState({ ...base, Status: "running", ExitCode: 0 })).to.deep.equal({ state: "running" });
    expect(mapContainerState({ ...base, Status: "exited", ExitCode: 3 })).to.deep.equal({ state: "exited", exitCode: 3 });
    expect(mapContainerState({ ...base, Status: "exited", ExitCode: 137, OOMKilled: true }).detail).to.match(/OOM/);
    expect(mapContainerState({ ...base, Status: "dead", ExitCode: 1 }).state).to.equal("failed");
  });
});
