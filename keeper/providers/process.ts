/**
 * The operator's own host without Docker: each session's command runs in bubblewrap (uid 65534 set
 * before bwrap, no network, read-only /usr, small /tmp, clean environment) with its own cgroup for
 * memory and processes when cgroups are writable.
 *
 * Workloads outlive the keeper on purpose: a restarted keeper must find the workload it started,
 * not start a second one. So the sandbox runs detached, and its pid and start time are written to
 * the provider's state directory; a sandbox whose record was not written yet (a crash right after
 * spawning) is found by the marker in bwrap's command line.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { ComputeProvider, Provision, ProvisionRequest, Quote, WorkloadSpec, WorkloadStatus } from "./provider";
import { ProvisionError } from "./provider";
import { bwrapArgs } from "../sandbox/bwrap";
import { Cgroup, cgroupsAvailable, createCgroup, enterCgroupCommand, openCgroup } from "../sandbox/cgroup";
import { DEFAULT_LIMITS, IsolationSpec, SANDBOX_UID } from "../sandbox/spec";

export interface ProcessProviderOptions {
  stateDir: string;
  /** What the operator's hardware costs, for quotes (USDC base units per hour). */
  pricePerHour?: bigint;
  /** Largest stdout/stderr log kept per workload. */
  maxLogBytes?: number;
}

interface Record {
  key: string;
  pid: number;
  startTime: string;
  startedAt: number;
  endsAt: number;
  cgroup: boolean;
}

const KEY = /^[A-Za-z0-9_-]{1,100}$/;

/** Field 22 of /proc/<pid>/stat: when the process started (clock ticks since boot). Tells pid reuse apart. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] === "Z";
  } catch {
    return true;
  }
}

function alive(r: Record): boolean {
  return processStartTime(r.pid) === r.startTime && !isZombie(r.pid);
}

/** Direct children of `pid` (the sandbox's pid-namespace init is bwrap's child). */
function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export class ProcessProvider implements ComputeProvider {
  readonly name = "process";
  private healthCache?: { at: number; ok: boolean; detail?: string };
  private readonly useCgroups = cgroupsAvailable();

  constructor(private readonly opts: ProcessProviderOptions) {
    fs.mkdirSync(opts.stateDir, { recursive: true });
  }

  async quote(_spec: WorkloadSpec, _hours: number): Promise<Quote> {
    return { pricePerHour: this.opts.pricePerHour ?? 0n, available: (await this.health()).ok };
  }

  private dir(key: string): string {
    if (!KEY.test(key)) throw new ProvisionError(`invalid workload key ${JSON.stringify(key)}`, false);
    return path.join(this.opts.stateDir, key);
  }

  private read(key: string): Record | undefined {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.dir(key), "workload.json"), "utf8"));
    } catch {
      return undefined;
    }
  }

  private write(r: Record): void {
    const file = path.join(this.dir(r.key), "workload.json");
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(r));
    fs.renameSync(`${file}.tmp`, file);
  }

  /** Unique per key and short enough for a hostname (64): keys of one agent share long prefixes. */
  private marker(key: string): string {
    return `ac-${createHash("sha256").update(key).digest("hex").slice(0, 40)}`;
  }

  /** A sandbox for `key` that is running but has no record (the keeper died right after spawning it). */
  private findByMarker(key: string): number | undefined {
    const needle = `\0--hostname\0${this.marker(key)}\0`;
    for (const entry of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, "latin1");
        if (cmdline.startsWith("bwrap\0") || cmdline.startsWith("/usr/bin/bwrap\0")) {
          if (`\0${cmdline}`.includes(needle)) return Number(entry);
        }
      } catch {
        // exited meanwhile
      }
    }
    return undefined;
  }

  async provision(req: ProvisionRequest): Promise<Provision> {
    const { idempotencyKey: key, spec } = req;
    if (!spec.command?.length) throw new ProvisionError("the process provider runs a command: config.command is required", false);
    const dir = this.dir(key);
    const existing = this.read(key);
    if (existing) return { ref: `pid:${existing.pid}`, created: false };
    fs.mkdirSync(dir, { recursive: true });
    const orphan = this.findByMarker(key);
    if (orphan !== undefined) {
      this.write({ key, pid: orphan, startTime: processStartTime(orphan) ?? "", startedAt: Date.now(), endsAt: req.endsAt, cgroup: this.useCgroups });
      return { ref: `pid:${orphan}`, created: false };
    }

    const isolation: IsolationSpec = {
      // The exit code goes out on fd 3, a file the keeper opened: no host directory is writable
      // inside the sandbox, and the workload itself runs with fd 3 closed.
      command: ["/bin/sh", "-c", '"$@" 3>&-; echo $? >&3', "workload", ...spec.command],
      env: spec.env,
      memoryMb: spec.memoryMb,
      cpu: spec.cpu,
      pids: DEFAULT_LIMITS.pids,
      fileSizeBytes: DEFAULT_LIMITS.fileSizeBytes,
      tmpMb: DEFAULT_LIMITS.tmpMb,
    };
    let cgroup: Cgroup | undefined;
    if (this.useCgroups) cgroup = createCgroup(key, spec.memoryMb * 1024 * 1024, isolation.pids);
    const argv = enterCgroupCommand(cgroup, ["bwrap", ...bwrapArgs(isolation, { marker: this.marker(key) })]);
    const out = fs.openSync(path.join(dir, "stdout.log"), "a");
    const err = fs.openSync(path.join(dir, "stderr.log"), "a");
    const exit = fs.openSync(path.join(dir, "exit"), "w");
    const child = spawn(argv[0], argv.slice(1), {
      uid: SANDBOX_UID,
      gid: SANDBOX_UID,
      detached: true,
      env: { PATH: "/usr/bin:/bin" },
      stdio: ["ignore", out, err, exit],
    });
    for (const fd of [out, err, exit]) fs.closeSync(fd);
    const pid = child.pid;
    if (pid === undefined) throw new ProvisionError("could not spawn the sandbox", true);
    child.unref();
    // The process may already have replaced itself with bwrap; its start time is the same either way.
    const startTime = processStartTime(pid);
    if (startTime === undefined) throw new ProvisionError("the sandbox exited at once: see its stderr.log", false);
    this.write({ key, pid, startTime, startedAt: Date.now(), endsAt: req.endsAt, cgroup: cgroup !== undefined });
    return { ref: `pid:${pid}`, created: true };
  }

  async status(key: string): Promise<WorkloadStatus> {
    const r = this.read(key);
    if (!r) return { state: "unknown", ref: "" };
    const ref = `pid:${r.pid}`;
    if (alive(r)) return { state: "running", ref };
    try {
      const text = fs.readFileSync(path.join(this.dir(key), "exit"), "utf8").trim();
      if (text === "") throw new Error("no exit code");
      const code = Number(text);
      return { state: code === 0 ? "exited" : "failed", ref, exitCode: code };
    } catch {
      return { state: "failed", ref, detail: "killed (no exit code)" };
    }
  }

  async extend(key: string, endsAt: number): Promise<void> {
    const r = this.read(key);
    if (r) this.write({ ...r, endsAt });
  }

  async terminate(key: string): Promise<void> {
    const r = this.read(key);
    if (!r) return;
    if (alive(r)) {
      // Killing the pid namespace's init takes every process of the sandbox with it; bwrap then exits.
      for (const child of childrenOf(r.pid)) this.signal(child, "SIGKILL");
      this.signal(-r.pid, "SIGTERM");
      const deadline = Date.now() + 3000;
      while (alive(r) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 25));
      if (alive(r)) this.signal(-r.pid, "SIGKILL");
    }
    if (r.cgroup) {
      const cg = openCgroup(key);
      for (const pid of cg.pids()) this.signal(pid, "SIGKILL");
      const deadline = Date.now() + 3000;
      while (cg.pids().length && Date.now() < deadline) await new Promise((res) => setTimeout(res, 25));
      cg.remove();
    }
  }

  private signal(pid: number, sig: NodeJS.Signals): void {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    if (this.healthCache && Date.now() - this.healthCache.at < 60_000) return this.healthCache;
    const r = spawnSync("bwrap", ["--unshare-all", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--", "/usr/bin/true"], {
      uid: SANDBOX_UID,
      gid: SANDBOX_UID,
      env: {},
      timeout: 10_000,
    });
    const ok = r.status === 0;
    this.healthCache = { at: Date.now(), ok, detail: ok ? undefined : (r.error?.message ?? r.stderr?.toString().trim() ?? `exit ${r.status}`) };
    return this.healthCache;
  }

  /** The workload's captured output (for operators and tests). */
  logs(key: string): { stdout: string; stderr: string } {
    const read = (f: string) => {
      try {
        return fs.readFileSync(path.join(this.dir(key), f), "utf8");
      } catch {
        return "";
      }
    };
    return { stdout: read("stdout.log"), stderr: read("stderr.log") };
  }
}
