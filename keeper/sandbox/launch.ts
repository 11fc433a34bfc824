/**
 * Starting bubblewrap sandboxes, in two shapes:
 *
 * - runSandboxed(): one-shot, for the code-execution API. bwrap dies with the keeper; output is read
 *   through pipes and capped; a wall-clock timer kills the whole sandbox (its pid namespace).
 * - launchDetached(): a session workload that must outlive the keeper. A small bash supervisor,
 *   detached in its own session, runs bwrap, caps the logs (first N bytes of each stream kept, the
 *   rest drained), and runs a deadline watchdog that reads the paid-until time from a file the
 *   keeper can rewrite (extend) and kills the sandbox when it has passed, even while the keeper is
 *   down.
 *
 * Both go through the same gate so nothing untrusted runs before the keeper has set it up:
 *   keeper spawns (bash as uid 65534, fds: 3 gate, 4 bwrap JSON status, 5 seccomp program)
 *   -> [detached only] the keeper records pid + start time, then writes "go\n"
 *   -> bwrap builds the namespaces, writes {"child-pid": C} and blocks on fd 3 (--block-fd)
 *   -> the keeper moves C into the workload's cgroup, then writes one more byte
 *   -> bwrap execs prlimit -> the workload. Its children inherit the cgroup.
 * bash first closes every inherited file descriptor above the ones it was given (bwrap does not,
 * and a keeper's parent may have leaked some).
 */
import { ChildProcess, spawn, SpawnOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import type { Readable, Writable } from "node:stream";
import { AppliedLimits, buildBwrapInvocation } from "./bwrapInvocation";
import { createCgroup, WorkloadCgroup } from "./cgroups";
import { SandboxHost, sandboxHost } from "./host";
import { processStartTime, signal, waitFor } from "./procfs";
import { sleep } from "../errors";
import { createSandboxSpec, MiB, SandboxSpec, SandboxSpecInput } from "./sandboxSpec";

export class SandboxError extends Error {
  name = "SandboxError";
}

/** Closes every fd above $1 that bash inherited (bash, not dash: dash cannot name fds above 9). */
const CLOSE_FDS = 'for _f in /proc/$$/fd/*; do _f=${_f##*/}; if [ "$_f" -gt "$1" ]; then eval "exec $_f>&-" 2>/dev/null; fi; done; shift';

const EXEC_SCRIPT = `${CLOSE_FDS}; exec "$@"`;

/**
 * The detached supervisor. fds: 1 stdout log, 2 stderr log, 3 gate, 4 bwrap status (append),
 * 5 seccomp program, 6 deadline file ("<unix seconds> <unix seconds>": both equal, or ignored).
 * Arguments: log cap (bytes), watchdog poll (seconds), then bwrap's argv.
 */
const SUPERVISOR_SCRIPT = `${CLOSE_FDS}
set -u
PATH=/usr/bin:/bin
cap=$1 poll=$2
shift 2
IFS= read -r go <&3 || exit 97
[ "$go" = go ] || exit 97
watchdog() {
  local a b s=
  trap '[ -n "$s" ] && kill "$s" 2>/dev/null; exit 0' TERM
  while :; do
    if IFS=' ' read -r a b </proc/self/fd/6 && [ -n "$a" ] && [ "$a" = "$b" ] && [ "\${EPOCHSECONDS:-$(date +%s)}" -ge "$a" ]; then
      printf '{ "deadline-reached": %s }\\n' "$a" >&4
      kill -KILL 0
    fi
    sleep "$poll" & s=$!
    wait "$s"
    s=
  done
}
watchdog </dev/null >/dev/null 2>&1 3<&- 5<&- &
wd=$!
exec 6<&- 7>&1 8>&2
drain() {
  if [ -x /usr/bin/stdbuf ]; then /usr/bin/stdbuf -o0 head -c "$cap"; else head -c "$cap"; fi
  cat >/dev/null
}
{ "$@" 2>&1 1>&9 7>&- 8>&- 9>&- | drain >&8 3<&- 4>&- 5<&- 7>&- 9>&-; } 9>&1 | drain >&7 3<&- 4>&- 5<&- 8>&-
kill "$wd" 2>/dev/null
wait "$wd" 2>/dev/null
exit 0
`;

/** child.stdio beyond the 5 entries Node's types know about. */
function stdioAt(child: ChildProcess, i: number): Readable | Writable | null {
  return (child.stdio as unknown as (Readable | Writable | null | undefined)[])[i] ?? null;
}

function identity(host: SandboxHost, spec: SandboxSpec): Pick<SpawnOptions, "uid" | "gid"> {
  return host.identity === "spawn" ? { uid: spec.uid, gid: spec.gid } : {};
}

function assertUsable(host: SandboxHost): void {
  if (host.problems.length) throw new SandboxError(`sandbox unavailable: ${host.problems.join("; ")}`);
}

/** Parses bwrap's --json-status-fd output (several JSON documents, one per line). */
export function parseBwrapStatus(text: string): { childPid?: number; exitCode?: number; deadlineReached?: number } {
  const out: { childPid?: number; exitCode?: number; deadlineReached?: number } = {};
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const doc = JSON.parse(line) as Record<string, unknown>;
      if (typeof doc["child-pid"] === "number") out.childPid = doc["child-pid"];
      if (typeof doc["exit-code"] === "number") out.exitCode = doc["exit-code"];
      if (typeof doc["deadline-reached"] === "number") out.deadlineReached = doc["deadline-reached"];
    } catch {
      // partial line still being written
    }
  }
  return out;
}

function makeCgroup(host: SandboxHost, spec: SandboxSpec, name: string): WorkloadCgroup | undefined {
  if (!host.cgroups) return undefined;
  return createCgroup(host.cgroups, name, { memoryBytes: spec.memoryMb * MiB, pids: spec.pids, cpu: spec.cpu });
}

async function removeCgroup(cg: WorkloadCgroup | undefined): Promise<void> {
  if (!cg) return;
  for (const p of cg.pids()) signal(p, "SIGKILL");
  // The kernel usually refuses the first rmdir for a moment after the last process exits: retry
  // soon (1, 2, 4 ... ms, then every 25 ms) rather than adding a fixed 20 ms to every job.
  await waitFor(() => cg.remove(), 3000, 1, 25);
}

// ---------------------------------------------------------------------------------------------
// One-shot

/** Nice value of one-shot jobs (code execution): below the keeper's own priority. */
export const JOB_NICENESS = 10;

export interface RunOptions {
  /** Hard wall-clock limit; the whole sandbox is SIGKILLed when it passes. */
  timeoutMs: number;
  /** Per stream; more output kills the sandbox and sets outputTruncated. */
  maxOutputBytes: number;
  stdin?: string | Buffer;
  host?: SandboxHost;
  /** Aborting kills the whole sandbox at once (the caller gave up on the job: keeper shutdown). */
  signal?: AbortSignal;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** The workload's exit code as bwrap saw it: 128 + n when killed by signal n (timeout and output overflow: 137); null if bwrap itself died. */
  exitCode: number | null;
  timedOut: boolean;
  outputTruncated: boolean;
  durationMs: number;
  /** Peak memory of the sandbox (cgroup only). */
  memoryPeakBytes?: number;
  oomKilled: boolean;
  limits: AppliedLimits;
}

export async function runSandboxed(input: SandboxSpecInput, opts: RunOptions): Promise<RunResult> {
  const host = opts.host ?? sandboxHost();
  assertUsable(host);
  const spec = createSandboxSpec(input);
  const cg = makeCgroup(host, spec, `run-${process.pid}-${randomBytes(6).toString("hex")}`);
  try {
    const inv = buildBwrapInvocation(spec, {
      features: host.features,
      layout: host.layout,
      identity: host.identity,
      cgroup: cg?.enforces,
      dieWithParent: true,
      fds: { block: 3, jsonStatus: 4, seccomp: host.seccomp ? 5 : undefined },
    });
    const child = spawn(host.bash, ["-c", EXEC_SCRIPT, "sandbox", "5", inv.file, ...inv.args], {
      ...identity(host, spec),
      cwd: "/",
      detached: true,
      env: {},
      stdio: ["pipe", "pipe", "pipe", "pipe", "pipe", host.seccomp ? "pipe" : "ignore"],
    });
    return await supervise(child, host, cg, inv.limits, opts);
  } finally {
    await removeCgroup(cg);
  }
}

function supervise(
  child: ChildProcess,
  host: SandboxHost,
  cg: WorkloadCgroup | undefined,
  limits: AppliedLimits,
  opts: RunOptions,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const gate = child.stdio[3] as Writable;
    const status = child.stdio[4] as Readable;
    const seccomp = stdioAt(child, 5) as Writable | null;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const sizes = { out: 0, err: 0 };
    let statusText = "";
    let childPid: number | undefined;
    let startedAt = Date.now();
    let timedOut = false;
    let truncated = false;
    let timer: NodeJS.Timeout | undefined;
    let exited = false;
    let settled = false;

    const killAll = () => {
      // The pid namespace's init: every process of the sandbox dies with it, and bwrap, seeing its
      // child gone, exits by itself (and reaps it). bwrap is killed too only if it lingers.
      if (childPid !== undefined) signal(childPid, "SIGKILL");
      else if (child.pid !== undefined) signal(-child.pid, "SIGKILL");
      setTimeout(() => {
        if (!exited && child.pid !== undefined) signal(-child.pid, "SIGKILL");
      }, 1000).unref();
    };
    const ignore = () => undefined;
    for (const s of child.stdio) s?.on("error", ignore);
    if (opts.signal) {
      if (opts.signal.aborted) killAll();
      else opts.signal.addEventListener("abort", killAll, { once: true });
      child.once("close", () => opts.signal?.removeEventListener("abort", killAll));
    }
    child.on("error", (e) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      reject(new SandboxError(`could not start the sandbox: ${e.message}`));
    });

    if (seccomp && host.seccomp) seccomp.end(host.seccomp);
    child.stdin?.end(opts.stdin ?? "");

    const collect = (which: "out" | "err", into: Buffer[]) => (chunk: Buffer) => {
      const room = opts.maxOutputBytes - sizes[which];
      if (chunk.length > room) {
        if (room > 0) into.push(chunk.subarray(0, room));
        sizes[which] = opts.maxOutputBytes;
        if (!truncated) {
          truncated = true;
          killAll();
        }
        return;
      }
      into.push(chunk);
      sizes[which] += chunk.length;
    };
    child.stdout!.on("data", collect("out", out));
    child.stderr!.on("data", collect("err", err));

    status.on("data", (chunk: Buffer) => {
      statusText += chunk.toString("utf8");
      if (childPid !== undefined) return;
      const st = parseBwrapStatus(statusText);
      if (st.childPid === undefined) return;
      childPid = st.childPid;
      try {
        cg?.attach(childPid);
      } catch (e) {
        killAll();
        if (!settled) {
          settled = true;
          reject(new SandboxError(`could not move the sandbox into its cgroup: ${(e as Error).message}`));
        }
        return;
      }
      // Jobs yield the CPU to the keeper: its event loop (HTTP, payments, /health) stays responsive
      // while every core runs sandboxed code. Set while the sandbox waits on its gate, so everything
      // it starts inherits it.
      try {
        os.setPriority(childPid, JOB_NICENESS);
      } catch {
        // not permitted (another user without CAP_SYS_NICE): the job runs at normal priority
      }
      startedAt = Date.now();
      timer = setTimeout(() => {
        timedOut = true;
        killAll();
      }, opts.timeoutMs);
      gate.end("x");
    });

    // Setup itself must not hang: bwrap has to report its child quickly.
    const setupTimer = setTimeout(
      () => {
        if (childPid === undefined) killAll();
      },
      Math.max(10_000, opts.timeoutMs),
    );

    // After the sandbox died, stragglers holding a pipe cannot exist (pid namespace), but be safe.
    child.on("exit", () => {
      exited = true;
      setTimeout(() => {
        for (const s of child.stdio) s?.destroy();
      }, 2000).unref();
    });
    child.on("close", (code) => {
      clearTimeout(setupTimer);
      if (timer) clearTimeout(timer);
      if (settled) return;
      settled = true;
      const st = parseBwrapStatus(statusText);
      const stderr = Buffer.concat(err).toString("utf8");
      if (childPid === undefined && !exited) return reject(new SandboxError("sandbox ended before it started"));
      if (childPid === undefined)
        return reject(new SandboxError(`bwrap failed to set up the sandbox (exit ${code}): ${stderr.trim().slice(0, 500)}`));
      resolve({
        stdout: Buffer.concat(out).toString("utf8"),
        stderr,
        exitCode: st.exitCode ?? null,
        timedOut,
        outputTruncated: truncated,
        durationMs: Date.now() - startedAt,
        memoryPeakBytes: cg?.peakMemoryBytes(),
        oomKilled: cg?.oomKilled() ?? false,
        limits,
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Detached

export interface DetachedLaunchRequest {
  spec: SandboxSpecInput;
  /** Name of the workload's cgroup (unique per workload). */
  name: string;
  stdoutPath: string;
  stderrPath: string;
  /** bwrap's JSON status (child pid, then exit code) and the watchdog's deadline note are appended here. */
  statusPath: string;
  /** Must exist: the deadline as written by writeDeadline(). */
  deadlinePath: string;
  /** First N bytes of each stream are kept; the rest is read and discarded. */
  logCapBytes: number;
  /** How often the watchdog reads the deadline (seconds). */
  deadlinePollSeconds: number;
  /** Called once the supervisor runs and before anything untrusted does: record pid + start time here. */
  onSpawned(p: { pid: number; startTime: string }): void | Promise<void>;
  host?: SandboxHost;
  /** How long bwrap may take to build the sandbox. */
  setupTimeoutMs?: number;
}

export interface DetachedSandbox {
  /** The supervisor: session and process group leader of everything outside the sandbox. */
  pid: number;
  startTime: string;
  /** The sandbox's pid-namespace init (SIGKILL ends every process inside). */
  childPid: number;
  childStartTime: string;
  limits: AppliedLimits;
  cgroup?: string;
}

/** Deadline file content: fixed width, written in place so the supervisor's open fd sees updates. */
export function formatDeadline(unixSeconds: number): string {
  const s = String(Math.floor(unixSeconds)).padStart(14, " ");
  return `${s} ${s}\n`;
}

/** Creates or rewrites the deadline file in place (same inode: the running watchdog reads it through its fd). */
export function writeDeadline(file: string, unixSeconds: number): void {
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  try {
    const buf = Buffer.from(formatDeadline(unixSeconds));
    fs.writeSync(fd, buf, 0, buf.length, 0);
    fs.ftruncateSync(fd, buf.length);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export async function launchDetached(req: DetachedLaunchRequest): Promise<DetachedSandbox> {
  const host = req.host ?? sandboxHost();
  assertUsable(host);
  const spec = createSandboxSpec(req.spec);
  const cg = makeCgroup(host, spec, req.name);
  const inv = buildBwrapInvocation(spec, {
    features: host.features,
    layout: host.layout,
    identity: host.identity,
    cgroup: cg?.enforces,
    dieWithParent: true, // its parent is the supervisor, not the keeper
    fds: { block: 3, jsonStatus: 4, seccomp: host.seccomp ? 5 : undefined },
  });

  fs.writeFileSync(req.statusPath, "");
  const fds = [
    fs.openSync(req.stdoutPath, "w", 0o600),
    fs.openSync(req.stderrPath, "w", 0o600),
    fs.openSync(req.statusPath, "a", 0o600),
    fs.openSync(req.deadlinePath, "r"),
  ];
  let child: ChildProcess;
  try {
    child = spawn(
      host.bash,
      ["-c", SUPERVISOR_SCRIPT, "ac-supervisor", "6", String(req.logCapBytes), String(req.deadlinePollSeconds), inv.file, ...inv.args],
      {
        ...identity(host, spec),
        cwd: "/",
        detached: true,
        env: {},
        stdio: ["ignore", fds[0], fds[1], "pipe", fds[2], host.seccomp ? "pipe" : "ignore", fds[3]],
      },
    );
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
  const ignore = () => undefined;
  for (const s of child.stdio) s?.on("error", ignore);
  const spawnError = new Promise<Error>((res) => child.once("error", res));
  const gate = child.stdio[3] as Writable;
  const done = () => {
    child.unref();
    for (const s of child.stdio) {
      if (s && "unref" in s && typeof (s as { unref?: unknown }).unref === "function") (s as unknown as { unref(): void }).unref();
    }
  };
  const fail = async (why: string): Promise<never> => {
    if (child.pid !== undefined) signal(-child.pid, "SIGKILL");
    gate.destroy();
    done();
    await removeCgroup(cg);
    let stderr = "";
    try {
      stderr = fs.readFileSync(req.stderrPath, "utf8").trim().slice(0, 500);
    } catch {
      // none
    }
    throw new SandboxError(stderr ? `${why}: ${stderr}` : why);
  };

  const pid = child.pid;
  if (pid === undefined)
    return fail(
      `could not spawn the sandbox supervisor: ${(await Promise.race([spawnError, sleep(1000).then(() => new Error("unknown"))])).message}`,
    );
  let startTime: string | undefined;
  await waitFor(() => (startTime = processStartTime(pid)) !== undefined, 1000, 5);
  if (startTime === undefined) return fail("the sandbox supervisor exited at once");

  try {
    await req.onSpawned({ pid, startTime });
  } catch (e) {
    return fail(`recording the workload failed: ${(e as Error).message}`);
  }

  if (host.seccomp) {
    const sc = stdioAt(child, 5) as Writable;
    sc.end(host.seccomp, () => sc.destroy());
  }
  gate.write("go\n");

  let childPid: number | undefined;
  const ok = await waitFor(
    () => {
      if (child.exitCode !== null || child.signalCode !== null) return true;
      childPid = parseBwrapStatus(fs.readFileSync(req.statusPath, "utf8")).childPid;
      return childPid !== undefined;
    },
    req.setupTimeoutMs ?? 10_000,
    5,
  );
  if (!ok || childPid === undefined) return fail("bwrap did not start the sandbox");
  const childStartTime = processStartTime(childPid);
  if (childStartTime === undefined) return fail("the sandbox exited during setup");
  try {
    cg?.attach(childPid);
  } catch (e) {
    return fail(`could not move the sandbox into its cgroup: ${(e as Error).message}`);
  }
  // Our ends of the sockets are closed once written: the keeper keeps no descriptor per workload.
  await new Promise<void>((res) => gate.end("x", () => res()));
  gate.destroy();
  done();
  return { pid, startTime, childPid, childStartTime, limits: inv.limits, cgroup: cg?.name };
}
