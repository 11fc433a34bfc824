/**
 * bubblewrap argv for a SandboxSpec (pure): every namespace unshared (network: only a loopback of
 * its own), no further user namespaces, a read-only view of /usr (+ the merged-usr symlinks) and a
 * few /etc files, fresh /proc and /dev, a size-capped tmpfs on /tmp, the root remounted read-only,
 * a clean environment, a new session (no TIOCSTI), the seccomp filter, and prlimit inside for the
 * rlimits: processes, file size, open files, core dumps, and memory (RLIMIT_DATA) when no memory
 * cgroup is available. RLIMIT_AS is never used: it breaks V8 and other JITs.
 *
 * Identity: a root keeper spawns bwrap with uid/gid 65534 ("spawn"), because bwrap started as root
 * would let the sandbox ignore RLIMIT_NPROC (design.md). A non-root keeper ("userns") cannot, so
 * bwrap maps the keeper's uid to 65534 inside a user namespace.
 */
import { MiB, SandboxSpec, sandboxEnv } from "./sandboxSpec";

export interface BwrapFeatures {
  /** --disable-userns (bwrap >= 0.8). */
  disableUserns: boolean;
  /** --size for --tmpfs (bwrap >= 0.8). Without it /tmp is only bounded by the memory limit. */
  tmpfsSize: boolean;
}

/** A top-level directory of the host: bound read-only, or recreated as the same symlink (merged /usr). */
export interface RootEntry {
  path: string;
  symlink?: string;
}

export interface BwrapHostLayout {
  bwrap: string;
  /** Absolute path of prlimit (util-linux); must be inside a bound directory (/usr/bin). */
  prlimit: string;
  root: RootEntry[];
  /** Host files bound read-only when present (loader cache, alternatives, timezone). */
  etc: string[];
}

/** Debian/Ubuntu with merged /usr; host.ts detects the real layout. */
export const DEFAULT_LAYOUT: BwrapHostLayout = {
  bwrap: "/usr/bin/bwrap",
  prlimit: "/usr/bin/prlimit",
  root: [
    { path: "/usr" },
    { path: "/bin", symlink: "usr/bin" },
    { path: "/sbin", symlink: "usr/sbin" },
    { path: "/lib", symlink: "usr/lib" },
    { path: "/lib64", symlink: "usr/lib64" },
  ],
  etc: ["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime"],
};

export interface BwrapOptions {
  features: BwrapFeatures;
  layout?: BwrapHostLayout;
  /** "spawn": the caller spawns bwrap as spec.uid/gid; "userns": bwrap maps the caller to them. */
  identity: "spawn" | "userns";
  /** Which limits a cgroup enforces; its rlimit stand-in is then left out. */
  cgroup?: { memory: boolean; pids: boolean; cpu: boolean };
  /** bwrap (and with it the sandbox) is killed when its parent dies. */
  dieWithParent: boolean;
  /** File descriptors bwrap inherits: the gate it blocks on, where it writes its status, the seccomp program. */
  fds?: { block?: number; jsonStatus?: number; seccomp?: number };
}

/** How each limit is enforced for one sandbox (reported by health() / status detail). */
export interface AppliedLimits {
  memory: "cgroup" | "rlimit-data";
  pids: "cgroup+rlimit-nproc" | "rlimit-nproc";
  cpu: "cgroup" | "none";
  tmp: "tmpfs-size" | "tmpfs-unbounded";
  seccomp: boolean;
  nestedUserns: "disabled" | "allowed";
  identity: "spawn" | "userns";
}

export interface BwrapInvocation {
  file: string;
  args: string[];
  limits: AppliedLimits;
}

/** The prlimit options for a spec (inside the sandbox, after bwrap). */
export function prlimitArgs(spec: SandboxSpec, memoryByCgroup: boolean): string[] {
  const a = [`--nproc=${spec.pids}`, `--fsize=${spec.fileSizeBytes}`, `--nofile=${spec.openFiles}`, "--core=0"];
  if (!memoryByCgroup) a.push(`--data=${spec.memoryMb * MiB}`);
  if (spec.cpuSeconds !== undefined) a.push(`--cpu=${spec.cpuSeconds}`);
  return a;
}

export function buildBwrapInvocation(spec: SandboxSpec, opts: BwrapOptions): BwrapInvocation {
  if (spec.command.length === 0) throw new Error("bwrap needs a command");
  const layout = opts.layout ?? DEFAULT_LAYOUT;
  const cg = opts.cgroup ?? { memory: false, pids: false, cpu: false };
  const a: string[] = ["--unshare-all", "--unshare-user"];
  if (opts.features.disableUserns) a.push("--disable-userns");
  a.push("--uid", String(spec.uid), "--gid", String(spec.gid), "--new-session");
  if (opts.dieWithParent) a.push("--die-with-parent");
  a.push("--hostname", spec.hostname);

  for (const e of layout.root) {
    if (e.symlink !== undefined) a.push("--symlink", e.symlink, e.path);
    else a.push("--ro-bind", e.path, e.path);
  }
  for (const f of layout.etc) a.push("--ro-bind-try", f, f);
  for (const b of spec.roBinds) a.push("--ro-bind", b.source, b.target);
  for (const b of spec.rwBinds) a.push("--bind", b.source, b.target);
  a.push("--proc", "/proc", "--dev", "/dev");
  if (opts.features.tmpfsSize) a.push("--size", String(spec.tmpSizeMb * MiB));
  a.push("--tmpfs", "/tmp");
  // bwrap's own root is a tmpfs writable by the sandbox user: make everything but /tmp (and
  // explicit rw binds, separate mounts) read-only. Must come after every mount point is created.
  a.push("--remount-ro", "/");
  a.push("--chdir", spec.cwd);

  a.push("--clearenv");
  for (const [k, v] of Object.entries(sandboxEnv(spec))) a.push("--setenv", k, v);

  const fds = opts.fds ?? {};
  if (fds.block !== undefined) a.push("--block-fd", String(fds.block));
  if (fds.jsonStatus !== undefined) a.push("--json-status-fd", String(fds.jsonStatus));
  if (fds.seccomp !== undefined) a.push("--seccomp", String(fds.seccomp));

  a.push("--", layout.prlimit, ...prlimitArgs(spec, cg.memory), "--", ...spec.command);

  return {
    file: layout.bwrap,
    args: a,
    limits: {
      memory: cg.memory ? "cgroup" : "rlimit-data",
      pids: cg.pids ? "cgroup+rlimit-nproc" : "rlimit-nproc",
      cpu: cg.cpu && spec.cpu !== undefined ? "cgroup" : "none",
      tmp: opts.features.tmpfsSize ? "tmpfs-size" : "tmpfs-unbounded",
      seccomp: fds.seccomp !== undefined,
      nestedUserns: opts.features.disableUserns ? "disabled" : "allowed",
      identity: opts.identity,
    },
  };
}
