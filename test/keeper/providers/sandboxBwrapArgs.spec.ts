import { expect } from "chai";
import { buildBwrapInvocation, BwrapOptions, DEFAULT_LAYOUT, prlimitArgs } from "../../../keeper/sandbox/bwrapInvocation";
import { createSandboxSpec, DEFAULT_ENV, InvalidSandboxSpec, MiB } from "../../../keeper/sandbox/sandboxSpec";

const FULL: BwrapOptions = { features: { disableUserns: true, tmpfsSize: true }, identity: "spawn", dieWithParent: false };

/** Values following each occurrence of `flag` (n values per occurrence). */
function valuesOf(args: string[], flag: string, n = 1): string[][] {
  const out: string[][] = [];
  const end = args.indexOf("--");
  args.forEach((a, i) => {
    if (a === flag && i < end) out.push(args.slice(i + 1, i + 1 + n));
  });
  return out;
}

describe("sandbox: bubblewrap arguments from a SandboxSpec", () => {
  const spec = createSandboxSpec({
    command: ["python3", "-c", "print(1)"],
    env: { AGENT_TOKEN: "abc" },
    memoryMb: 128,
    pids: 32,
    cpu: 0.5,
  });

  it("unshares every namespace, keeps no network, forbids nested user namespaces, runs as 65534 in a new session", () => {
    const { args } = buildBwrapInvocation(spec, FULL);
    const opts = args.slice(0, args.indexOf("--"));
    expect(opts).to.include.members(["--unshare-all", "--unshare-user", "--disable-userns", "--new-session"]);
    expect(opts).not.to.include("--share-net");
    expect(valuesOf(args, "--uid")).to.deep.equal([["65534"]]);
    expect(valuesOf(args, "--gid")).to.deep.equal([["65534"]]);
    expect(opts).not.to.include("--die-with-parent");
    expect(buildBwrapInvocation(spec, { ...FULL, dieWithParent: true }).args).to.include("--die-with-parent");
  });

  it("binds the host only read-only, mounts a size-capped /tmp and remounts the root read-only after every mount", () => {
    const { args } = buildBwrapInvocation(spec, FULL);
    expect(valuesOf(args, "--bind", 2)).to.deep.equal([]);
    expect(valuesOf(args, "--dev-bind", 2)).to.deep.equal([]);
    expect(valuesOf(args, "--ro-bind", 2)).to.deep.equal([["/usr", "/usr"]]);
    expect(valuesOf(args, "--symlink", 2)).to.deep.include(["usr/bin", "/bin"]);
    const size = args.indexOf("--size");
    expect(args.slice(size, size + 4)).to.deep.equal(["--size", String(64 * MiB), "--tmpfs", "/tmp"]);
    const remount = args.indexOf("--remount-ro");
    expect(args[remount + 1]).to.equal("/");
    for (const f of ["--ro-bind", "--ro-bind-try", "--symlink", "--tmpfs", "--proc", "--dev", "--bind"]) {
      expect(args.lastIndexOf(f), f).to.be.lessThan(remount);
    }
  });

  it("gives the workload exactly its own environment plus PATH/HOME/LANG defaults", () => {
    const { args } = buildBwrapInvocation(spec, FULL);
    const clear = args.indexOf("--clearenv");
    expect(clear).to.be.greaterThan(-1);
    const env = Object.fromEntries(valuesOf(args, "--setenv", 2));
    expect(env).to.deep.equal({ ...DEFAULT_ENV, AGENT_TOKEN: "abc" });
    for (const i of args.flatMap((a, i) => (a === "--setenv" ? [i] : []))) expect(i).to.be.greaterThan(clear);
    // the agent may override a default
    const own = buildBwrapInvocation(createSandboxSpec({ command: ["x"], env: { PATH: "/opt/bin" } }), FULL);
    expect(Object.fromEntries(valuesOf(own.args, "--setenv", 2)).PATH).to.equal("/opt/bin");
  });

  it("runs the command through prlimit: processes, file size, open files, no core dumps", () => {
    const { args } = buildBwrapInvocation(spec, { ...FULL, cgroup: { memory: true, pids: true, cpu: true } });
    const sep = args.indexOf("--");
    expect(args[sep + 1]).to.equal(DEFAULT_LAYOUT.prlimit);
    const tail = args.slice(sep + 2);
    const inner = tail.indexOf("--");
    expect(tail.slice(0, inner)).to.deep.equal(["--nproc=32", `--fsize=${16 * MiB}`, "--nofile=256", "--core=0"]);
    expect(tail.slice(inner + 1)).to.deep.equal(["python3", "-c", "print(1)"]);
  });

  it("falls back to RLIMIT_DATA for memory without a memory cgroup (never RLIMIT_AS)", () => {
    const withCg = prlimitArgs(spec, true);
    const without = prlimitArgs(spec, false);
    expect(withCg.some((a) => a.startsWith("--data"))).to.equal(false);
    expect(without).to.include(`--data=${128 * MiB}`);
    expect([...withCg, ...without].some((a) => a.startsWith("--as"))).to.equal(false);
    const inv = buildBwrapInvocation(spec, FULL);
    expect(inv.limits).to.include({ memory: "rlimit-data", pids: "rlimit-nproc", cpu: "none" });
    const cg = buildBwrapInvocation(spec, { ...FULL, cgroup: { memory: true, pids: true, cpu: true } });
    expect(cg.limits).to.include({ memory: "cgroup", pids: "cgroup+rlimit-nproc", cpu: "cgroup" });
    expect(prlimitArgs(createSandboxSpec({ command: ["x"], cpuSeconds: 5 }), true)).to.include("--cpu=5");
  });

  it("passes the gate, status and seccomp descriptors, and degrades without newer bwrap features", () => {
    const { args, limits } = buildBwrapInvocation(spec, { ...FULL, fds: { block: 3, jsonStatus: 4, seccomp: 5 } });
    expect(valuesOf(args, "--block-fd")).to.deep.equal([["3"]]);
    expect(valuesOf(args, "--json-status-fd")).to.deep.equal([["4"]]);
    expect(valuesOf(args, "--seccomp")).to.deep.equal([["5"]]);
    expect(limits.seccomp).to.equal(true);
    const old = buildBwrapInvocation(spec, { ...FULL, features: { disableUserns: false, tmpfsSize: false } });
    expect(old.args).not.to.include("--disable-userns");
    expect(old.args).not.to.include("--size");
    expect(old.limits).to.include({ tmp: "tmpfs-unbounded", nestedUserns: "allowed", seccomp: false });
  });

  it("adds extra binds as asked, read-only unless explicitly writable", () => {
    const s = createSandboxSpec({
      command: ["x"],
      roBinds: [{ source: "/opt/code", target: "/code" }],
      rwBinds: [{ source: "/var/out", target: "/out" }],
    });
    const { args } = buildBwrapInvocation(s, FULL);
    expect(valuesOf(args, "--ro-bind", 2)).to.deep.include(["/opt/code", "/code"]);
    expect(valuesOf(args, "--bind", 2)).to.deep.equal([["/var/out", "/out"]]);
  });

  it("rejects specs that could not be passed safely", () => {
    expect(() => createSandboxSpec({ command: ["x"], uid: 0 })).to.throw(InvalidSandboxSpec);
    expect(() => createSandboxSpec({ command: ["x"], env: { "BAD-NAME": "1" } })).to.throw(InvalidSandboxSpec);
    expect(() => createSandboxSpec({ command: ["x"], env: { A: "a\0b" } })).to.throw(InvalidSandboxSpec);
    expect(() => createSandboxSpec({ command: ["a\0b"] })).to.throw(InvalidSandboxSpec);
    expect(() => createSandboxSpec({ command: ["x"], memoryMb: 0 })).to.throw(InvalidSandboxSpec);
    expect(() => createSandboxSpec({ command: ["x"], roBinds: [{ source: "/a/../etc", target: "/x" }] })).to.throw(InvalidSandboxSpec);
    expect(() => buildBwrapInvocation(createSandboxSpec({ command: [] }), FULL)).to.throw(/needs a command/);
  });
});
