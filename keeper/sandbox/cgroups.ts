/**
 * Per-workload cgroups for the limits rlimits cannot express well: memory of the whole process tree,
 * the number of processes of this workload alone, and CPU quota.
 *
 * v1 (this machine): one directory per controller, created under the keeper's own cgroup of that
 * controller (so the keeper's own limits still bound its workloads): <mount>/<self>/agentcompute/<name>.
 * v2: <mount>/<parent of the keeper's cgroup>/agentcompute/<name> (a sibling, because of v2's
 * no-internal-processes rule), with the controllers enabled in subtree_control.
 *
 * Only the keeper (root) writes here. A workload is attached by the keeper while bwrap waits on its
 * --block-fd, before the workload's first instruction runs (see launch.ts), so it cannot escape.
 * When no controller is writable (not root, read-only /sys/fs/cgroup in a container), detection
 * returns undefined and the sandbox falls back to rlimits (RLIMIT_DATA for memory, RLIMIT_NPROC).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export const CGROUP_GROUP = "agentcompute";
export type Controller = "memory" | "pids" | "cpu";
const CONTROLLERS: Controller[] = ["memory", "pids", "cpu"];
const CPU_PERIOD_US = 100_000;

export interface CgroupSupport {
  version: 1 | 2;
  /** Directory under which workload cgroups are created, per usable controller. */
  parents: Partial<Record<Controller, string>>;
}

interface Mount {
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

export function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const [pre, post] = line.split(" - ");
    if (!post) continue;
    const f = pre.split(" ");
    const p = post.split(" ");
    const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    mounts.push({ root: unescape(f[3]), mountPoint: unescape(f[4]), fsType: p[0], superOptions: (p[2] ?? "").split(",") });
  }
  return mounts;
}

function within(mount: Mount, cgroupPath: string): string | undefined {
  if (mount.root === "/") return path.join(mount.mountPoint, cgroupPath);
  if (cgroupPath === mount.root || cgroupPath.startsWith(`${mount.root}/`))
    return path.join(mount.mountPoint, cgroupPath.slice(mount.root.length));
  return undefined;
}

/**
 * Where workload cgroups would go, from /proc/self/mountinfo and /proc/self/cgroup (pure).
 * v1 controllers win over v2 (a hybrid host binds memory/pids/cpu to v1).
 */
export function cgroupLayout(mountinfo: string, selfCgroup: string): CgroupSupport | undefined {
  const mounts = parseMountinfo(mountinfo);
  const self = selfCgroup
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [, , ctrls, p] = l.match(/^(\d+):([^:]*):(.*)$/) ?? [];
      return { ctrls: (ctrls ?? "").split(",").filter(Boolean), path: p ?? "" };
    });

  const v1: Partial<Record<Controller, string>> = {};
  for (const c of CONTROLLERS) {
    const m = mounts.find((x) => x.fsType === "cgroup" && x.superOptions.includes(c));
    const s = self.find((x) => x.ctrls.includes(c));
    if (!m || !s) continue;
    const dir = within(m, s.path);
    if (dir) v1[c] = path.join(dir, CGROUP_GROUP);
  }
  if (Object.keys(v1).length > 0) return { version: 1, parents: v1 };

  const m2 = mounts.find((x) => x.fsType === "cgroup2");
  const s2 = self.find((x) => x.ctrls.length === 0);
  if (!m2 || !s2) return undefined;
  const dir = within(m2, path.dirname(s2.path));
  if (!dir) return undefined;
  const parent = path.join(dir, CGROUP_GROUP);
  return { version: 2, parents: { memory: parent, pids: parent, cpu: parent } };
}

function tryWrite(file: string, value: string): boolean {
  try {
    fs.writeFileSync(file, value);
    return true;
  } catch {
    return false;
  }
}

/** Detects and prepares the parent cgroups; undefined when none is writable (fall back to rlimits). */
export function detectCgroups(): CgroupSupport | undefined {
  let layout: CgroupSupport | undefined;
  try {
    layout = cgroupLayout(fs.readFileSync("/proc/self/mountinfo", "utf8"), fs.readFileSync("/proc/self/cgroup", "utf8"));
  } catch {
    return undefined;
  }
  if (!layout) return undefined;
  const usable: Partial<Record<Controller, string>> = {};
  if (layout.version === 1) {
    for (const [c, parent] of Object.entries(layout.parents) as [Controller, string][]) {
      try {
        fs.mkdirSync(parent, { recursive: true });
        fs.accessSync(path.join(parent, "cgroup.procs"), fs.constants.W_OK);
        usable[c] = parent;
      } catch {
        // not writable: this controller falls back to rlimits
      }
    }
  } else {
    const parent = layout.parents.memory!;
    try {
      const grand = path.dirname(parent);
      const available = fs.readFileSync(path.join(grand, "cgroup.controllers"), "utf8").split(/\s+/);
      for (const c of CONTROLLERS) if (available.includes(c)) tryWrite(path.join(grand, "cgroup.subtree_control"), `+${c}`);
      fs.mkdirSync(parent, { recursive: true });
      for (const c of CONTROLLERS) tryWrite(path.join(parent, "cgroup.subtree_control"), `+${c}`);
      const enabled = fs.readFileSync(path.join(parent, "cgroup.subtree_control"), "utf8").split(/\s+/);
      fs.accessSync(path.join(parent, "cgroup.procs"), fs.constants.W_OK);
      for (const c of CONTROLLERS) if (enabled.includes(c)) usable[c] = parent;
    } catch {
      // not root, or a cgroup namespace whose root has processes: rlimits only
    }
  }
  // Prove it: move a throwaway process into a probe cgroup under each parent. Whatever fails here
  // (delegation rules, a read-only mount) falls back to rlimits instead of failing every run later.
  for (const parent of new Set(Object.values(usable))) {
    if (!probeAttach(parent)) for (const c of CONTROLLERS) if (usable[c] === parent) delete usable[c];
  }
  return Object.keys(usable).length ? { version: layout.version, parents: usable } : undefined;
}

function probeAttach(parent: string): boolean {
  const probe = path.join(parent, `probe-${process.pid}`);
  try {
    fs.mkdirSync(probe, { recursive: true });
    execFileSync("/bin/sh", ["-c", 'echo $$ > "$1"', "probe", path.join(probe, "cgroup.procs")], {
      stdio: "ignore",
      env: {},
      timeout: 5000,
    });
    return true;
  } catch {
    return false;
  } finally {
    for (let i = 0; i < 50; i++) {
      try {
        fs.rmdirSync(probe);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") break;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10); // the probe process is being reaped
      }
    }
  }
}

export interface CgroupLimits {
  memoryBytes?: number;
  pids?: number;
  /** CPU cores (fractional). */
  cpu?: number;
}

export interface WorkloadCgroup {
  name: string;
  /** Which limits this cgroup enforces. */
  enforces: Record<Controller, boolean>;
  /** Moves a process (and so everything it later starts) into every controller's cgroup. */
  attach(pid: number): void;
  /** Pids currently in the cgroup. */
  pids(): number[];
  peakMemoryBytes(): number | undefined;
  oomKilled(): boolean;
  /** Removes the (empty) cgroup directories; false while processes remain. */
  remove(): boolean;
}

function dirsFor(support: CgroupSupport, name: string): Partial<Record<Controller, string>> {
  if (!/^[A-Za-z0-9_.-]{1,200}$/.test(name) || name.startsWith(".")) throw new Error(`invalid cgroup name ${JSON.stringify(name)}`);
  const dirs: Partial<Record<Controller, string>> = {};
  for (const [c, parent] of Object.entries(support.parents) as [Controller, string][]) dirs[c] = path.join(parent, name);
  return dirs;
}

function readNumber(file: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Creates the cgroup `name` (or reuses an existing one) and writes the limits. */
export function createCgroup(support: CgroupSupport, name: string, limits: CgroupLimits): WorkloadCgroup {
  const dirs = dirsFor(support, name);
  const unique = [...new Set(Object.values(dirs))];
  for (const d of unique) fs.mkdirSync(d, { recursive: true });
  const enforces: Record<Controller, boolean> = { memory: false, pids: false, cpu: false };
  if (dirs.memory && limits.memoryBytes !== undefined) {
    const b = String(limits.memoryBytes);
    if (support.version === 1) {
      enforces.memory = tryWrite(path.join(dirs.memory, "memory.limit_in_bytes"), b);
      tryWrite(path.join(dirs.memory, "memory.memsw.limit_in_bytes"), b); // no swap beyond the limit, where accounted
    } else {
      enforces.memory = tryWrite(path.join(dirs.memory, "memory.max"), b);
      tryWrite(path.join(dirs.memory, "memory.swap.max"), "0");
    }
  }
  if (dirs.pids && limits.pids !== undefined) enforces.pids = tryWrite(path.join(dirs.pids, "pids.max"), String(limits.pids));
  if (dirs.cpu && limits.cpu !== undefined) {
    const quota = Math.max(1000, Math.round(limits.cpu * CPU_PERIOD_US));
    enforces.cpu =
      support.version === 1
        ? tryWrite(path.join(dirs.cpu, "cpu.cfs_period_us"), String(CPU_PERIOD_US)) &&
          tryWrite(path.join(dirs.cpu, "cpu.cfs_quota_us"), String(quota))
        : tryWrite(path.join(dirs.cpu, "cpu.max"), `${quota} ${CPU_PERIOD_US}`);
  }
  return handle(support, name, dirs, enforces);
}

/** A handle on an existing cgroup (after a keeper restart), without touching its limits. */
export function openCgroup(support: CgroupSupport, name: string): WorkloadCgroup {
  const dirs = dirsFor(support, name);
  return handle(support, name, dirs, { memory: !!dirs.memory, pids: !!dirs.pids, cpu: !!dirs.cpu });
}

function handle(
  support: CgroupSupport,
  name: string,
  dirs: Partial<Record<Controller, string>>,
  enforces: Record<Controller, boolean>,
): WorkloadCgroup {
  const unique = [...new Set(Object.values(dirs))];
  return {
    name,
    enforces,
    attach(pid) {
      for (const d of unique) fs.writeFileSync(path.join(d, "cgroup.procs"), String(pid));
    },
    pids() {
      const all = new Set<number>();
      for (const d of unique) {
        try {
          for (const l of fs.readFileSync(path.join(d, "cgroup.procs"), "utf8").split("\n")) if (l.trim()) all.add(Number(l));
        } catch {
          // removed
        }
      }
      return [...all];
    },
    peakMemoryBytes() {
      if (!dirs.memory) return undefined;
      return readNumber(path.join(dirs.memory, support.version === 1 ? "memory.max_usage_in_bytes" : "memory.peak"));
    },
    oomKilled() {
      if (!dirs.memory) return false;
      try {
        const text = fs.readFileSync(path.join(dirs.memory, support.version === 1 ? "memory.oom_control" : "memory.events"), "utf8");
        const m = text.match(/oom_kill (\d+)/);
        if (m) return Number(m[1]) > 0;
        return support.version === 1 && (readNumber(path.join(dirs.memory, "memory.failcnt")) ?? 0) > 0 && /under_oom 1/.test(text);
      } catch {
        return false;
      }
    },
    remove() {
      let ok = true;
      for (const d of unique) {
        try {
          fs.rmdirSync(d);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "ENOENT") ok = false;
        }
      }
      return ok;
    },
  };
}
