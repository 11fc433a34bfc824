/**
 * The one description of "run this untrusted thing, this tightly" shared by every isolation backend:
 * bubblewrap (keeper/sandbox/bwrapInvocation.ts) for the bubblewrap provider and the code-execution API, and the
 * hardened Docker HostConfig (keeper/sandbox/dockerConfig.ts) for the docker provider.
 *
 * The checklist is design.md section 5 (Piston's defaults): no network, read-only root, small
 * writable /tmp, uid 65534, no capabilities, no-new-privileges, seccomp, pids / memory / file-size /
 * output caps, hard wall-clock kill of the whole process tree, a clean environment.
 */

/** The unprivileged identity every workload runs as ("nobody" on Debian). */
export const SANDBOX_UID = 65534;
export const SANDBOX_GID = 65534;

export const MiB = 1024 * 1024;

export interface Bind {
  /** Path on the host. */
  source: string;
  /** Path inside the sandbox. */
  target: string;
}

export interface SandboxSpec {
  /** argv inside the sandbox. Empty only for docker, where it means "the image's own command". */
  command: string[];
  /**
   * The complete environment of the workload. Nothing of the keeper's environment is ever passed
   * through; PATH / HOME / LANG defaults are added only when absent here.
   */
  env: Record<string, string>;
  uid: number;
  gid: number;
  /** Memory limit (MiB). cgroup when writable, else RLIMIT_DATA (bwrap); --memory (docker). */
  memoryMb: number;
  /** CPU cores, fractional allowed. cgroup cpu quota when writable (bwrap); NanoCpus (docker). */
  cpu?: number;
  /** Maximum number of processes/threads. pids cgroup + RLIMIT_NPROC (bwrap); PidsLimit (docker). */
  pids: number;
  /** RLIMIT_FSIZE: largest file the workload can write (bytes). */
  fileSizeBytes: number;
  /** RLIMIT_NOFILE. */
  openFiles: number;
  /** Size of the writable tmpfs on /tmp (MiB); the rest of the filesystem is read-only. */
  tmpSizeMb: number;
  /** RLIMIT_CPU (seconds of CPU time); optional, useful for one-shot executions. */
  cpuSeconds?: number;
  /** Extra read-only bind mounts (e.g. an interpreter outside /usr, the code to run). */
  roBinds: Bind[];
  /** Extra writable bind mounts (e.g. a per-job output directory). Use sparingly. */
  rwBinds: Bind[];
  /** Working directory inside the sandbox. */
  cwd: string;
  hostname: string;
}

export type SandboxSpecInput = Partial<SandboxSpec> & Pick<SandboxSpec, "command">;

export const SANDBOX_DEFAULTS: Omit<SandboxSpec, "command"> = Object.freeze({
  env: {},
  uid: SANDBOX_UID,
  gid: SANDBOX_GID,
  memoryMb: 256,
  pids: 64,
  fileSizeBytes: 16 * MiB,
  openFiles: 256,
  tmpSizeMb: 64,
  roBinds: [],
  rwBinds: [],
  cwd: "/tmp",
  hostname: "sandbox",
});

/** Defaults a workload gets when it does not set them itself. */
export const DEFAULT_ENV: Readonly<Record<string, string>> = Object.freeze({
  PATH: "/usr/local/bin:/usr/bin:/bin",
  HOME: "/tmp",
  LANG: "C.UTF-8",
});

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class InvalidSandboxSpec extends Error {
  name = "InvalidSandboxSpec";
}

function positiveInt(name: string, v: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(v) || v <= 0 || v > max) throw new InvalidSandboxSpec(`${name} must be a positive integer (got ${v})`);
}

function absolutePath(name: string, p: string): void {
  if (!p.startsWith("/") || p.includes("\0") || p.split("/").includes("..")) {
    throw new InvalidSandboxSpec(`${name} must be an absolute path without '..' (got ${JSON.stringify(p)})`);
  }
}

/** Fills defaults and rejects anything that could not be passed safely to bwrap / docker. */
export function createSandboxSpec(input: SandboxSpecInput): SandboxSpec {
  const spec: SandboxSpec = {
    ...SANDBOX_DEFAULTS,
    ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)),
    command: [...input.command],
    env: { ...(input.env ?? {}) },
    roBinds: [...(input.roBinds ?? [])],
    rwBinds: [...(input.rwBinds ?? [])],
  } as SandboxSpec;

  for (const a of spec.command) {
    if (typeof a !== "string" || a.includes("\0")) throw new InvalidSandboxSpec("command arguments must be strings without NUL");
  }
  for (const [k, v] of Object.entries(spec.env)) {
    if (!ENV_NAME.test(k)) throw new InvalidSandboxSpec(`invalid environment variable name ${JSON.stringify(k)}`);
    if (typeof v !== "string" || v.includes("\0")) throw new InvalidSandboxSpec(`environment variable ${k} must be a string without NUL`);
  }
  if (!Number.isInteger(spec.uid) || spec.uid <= 0 || !Number.isInteger(spec.gid) || spec.gid <= 0) {
    throw new InvalidSandboxSpec("the sandbox never runs as root: uid and gid must be positive");
  }
  positiveInt("memoryMb", spec.memoryMb, 1024 * 1024);
  positiveInt("pids", spec.pids, 1 << 20);
  positiveInt("fileSizeBytes", spec.fileSizeBytes);
  positiveInt("openFiles", spec.openFiles, 1 << 20);
  positiveInt("tmpSizeMb", spec.tmpSizeMb, 1024 * 1024);
  if (spec.cpuSeconds !== undefined) positiveInt("cpuSeconds", spec.cpuSeconds);
  if (spec.cpu !== undefined && (!(spec.cpu > 0) || spec.cpu > 1024)) throw new InvalidSandboxSpec(`cpu must be > 0 (got ${spec.cpu})`);
  absolutePath("cwd", spec.cwd);
  for (const b of [...spec.roBinds, ...spec.rwBinds]) {
    absolutePath("bind source", b.source);
    absolutePath("bind target", b.target);
  }
  if (!/^[a-zA-Z0-9][a-zA-Z0-9.-]{0,62}$/.test(spec.hostname)) throw new InvalidSandboxSpec("invalid hostname");
  return spec;
}

/** The workload's environment: its own values over the few defaults, nothing else. */
export function sandboxEnv(spec: Pick<SandboxSpec, "env">): Record<string, string> {
  return { ...DEFAULT_ENV, ...spec.env };
}
