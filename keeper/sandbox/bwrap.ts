/**
 * bubblewrap arguments for an IsolationSpec: every namespace unshared (no network: only a loopback
 * of its own), a read-only view of /usr, fresh /proc, /dev and a small /tmp, a clean environment,
 * a new session, and prlimit inside for file size and open files. The caller spawns bwrap with
 * uid/gid 65534: bwrap started as root would let the sandbox ignore RLIMIT_NPROC (design.md).
 */
import type { IsolationSpec } from "./spec";

export interface BwrapExtras {
  /** Host directory mounted read-write at /run/ac (exit code, results). */
  runDir?: string;
  /** Shown in bwrap's own command line so a restarted keeper can find the sandbox by its key. */
  marker?: string;
}

export function bwrapArgs(spec: IsolationSpec, extras: BwrapExtras = {}): string[] {
  const args = [
    "--unshare-all",
    "--new-session",
    "--hostname", extras.marker ?? "sandbox",
    "--ro-bind", "/usr", "/usr",
    "--symlink", "usr/bin", "/bin",
    "--symlink", "usr/sbin", "/sbin",
    "--symlink", "usr/lib", "/lib",
    "--symlink", "usr/lib64", "/lib64",
    "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
    "--ro-bind-try", "/etc/ssl/certs", "/etc/ssl/certs",
    "--proc", "/proc",
    "--dev", "/dev",
    "--size", String(spec.tmpMb * 1024 * 1024), "--tmpfs", "/tmp",
    "--dir", "/work",
    "--chdir", "/tmp",
    "--clearenv",
    "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin",
    "--setenv", "HOME", "/tmp",
  ];
  for (const [k, v] of Object.entries(spec.env)) args.push("--setenv", k, v);
  if (extras.runDir) args.push("--bind", extras.runDir, "/run/ac");
  args.push(
    "--",
    "/usr/bin/prlimit",
    `--fsize=${spec.fileSizeBytes}`,
    "--nofile=256",
    `--nproc=${spec.pids}`,
    "--core=0",
    "--",
    ...spec.command,
  );
  return args;
}
