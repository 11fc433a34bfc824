/**
 * The bubblewrap provider (name "bubblewrap"; "process" before, still understood: see
 * providers/renamed.ts), for hosts without Docker: each session's `spec.command` runs in a bubblewrap
 * sandbox (keeper/sandbox): uid 65534, no network, read-only root, small /tmp, clean environment,
 * seccomp, per-workload cgroup (memory, pids, cpu) when writable, else rlimits.
 *
 * Crash safety. A workload outlives the keeper: it is started detached under a small supervisor
 * (keeper/sandbox/launch.ts), and `<stateDir>/<name>/state.json` records the supervisor's pid and
 * start time (/proc/<pid>/stat field 22) BEFORE the sandboxed program may run (the supervisor waits
 * on a gate the keeper opens only after the record is on disk), written atomically (temp + fsync +
 * rename). A provision() with a known key returns the recorded workload (created: false); a record
 * left in phase "starting" (the keeper died during setup) is killed and started again, so there is
 * never a second copy and never an unrecorded one.
 *
 * endsAt. The supervisor's watchdog enforces it by itself, even while the keeper is down: it reads
 * `<name>/deadline` every `deadlinePollSeconds` and kills the sandbox once the time has passed.
 * extend() rewrites that file in place, so extending needs no restart (a `timeout` wrapper could not
 * be extended). The lifecycle should still terminate on time; the watchdog is the backstop.
 *
 * Exit codes come from bwrap's --json-status-fd, written outside the sandbox, so the workload
 * cannot forge them. Logs: the first `maxLogBytes` of stdout and of stderr are kept in
 * `<name>/stdout.log` / `stderr.log`; more output is read and dropped (the workload is not killed).
 */
import fs from "node:fs";
import path from "node:path";
import type { ComputeProvider, Provision, ProvisionRequest, Quote, WorkloadSpec, WorkloadStatus } from "./provider";
import { ProvisionError, WorkloadRefused } from "./provider";
import { workloadName } from "./workloadName";
import { workloadSandboxSpec } from "./workloadSandbox";
import type { AppliedLimits } from "../sandbox/bwrapInvocation";
import { openCgroup } from "../sandbox/cgroups";
import { SandboxHost, sandboxHost } from "../sandbox/host";
import { launchDetached, parseBwrapStatus, runSandboxed, SandboxError, writeDeadline } from "../sandbox/launch";
import {
  isSameProcess,
  pidNamespaceOf,
  processesInPidNamespace,
  processGroupMembers,
  processStartTime,
  signal,
  waitFor,
} from "../sandbox/procfs";
import { MiB, type SandboxSpec } from "../sandbox/sandboxSpec";

export interface BubblewrapProviderOptions {
  /** Where workload records and logs live (the keeper uses DATA_DIR/process-provider, see local.ts). */
  stateDir: string;
  /** USDC base units per hour quoted for a workload (a constant, or computed from the spec). Default 0. */
  pricePerHour?: bigint | ((spec: WorkloadSpec) => bigint);
  /** Kept per stream (stdout, stderr). Default 1 MiB. */
  maxLogBytes?: number;
  /** Processes per workload. Default 64. */
  pids?: number;
  /** Writable /tmp per workload (MiB). Default 64. */
  tmpSizeMb?: number;
  /** Largest file a workload may write. Default 16 MiB. */
  fileSizeBytes?: number;
  /** Largest workload quote() reports available. */
  maxCpu?: number;
  maxMemoryMb?: number;
  /** SIGTERM to SIGKILL, in terminate(). Default 3000 ms. */
  terminateGraceMs?: number;
  /** How often the watchdog checks endsAt. Default 5 s. */
  deadlinePollSeconds?: number;
  /** health() result is reused this long. Default 30 s. */
  healthTtlMs?: number;
  /** The probed sandbox host (tests pass one with cgroups off, say). */
  host?: SandboxHost;
}

interface WorkloadRecord {
  v: 1;
  key: string;
  /** "starting" until the sandbox is fully set up; a restarted keeper redoes a "starting" workload. */
  phase: "starting" | "running";
  /** The supervisor: session + process group leader outside the sandbox. */
  pid: number;
  startTime: string;
  /** The sandbox's pid-namespace init. */
  childPid?: number;
  childStartTime?: string;
  cgroup?: string;
  endsAt: number;
  createdAt: number;
  limits?: AppliedLimits;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

function writeFileAtomic(file: string, data: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, "w", 0o600);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const dfd = fs.openSync(path.dirname(file), "r");
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}

export class BubblewrapProvider implements ComputeProvider {
  readonly name = "bubblewrap";
  private readonly locks = new Map<string, Promise<unknown>>();
  private healthCache?: { at: number; result: { ok: boolean; detail?: string } };
  private hostCache?: SandboxHost;

  constructor(private readonly opts: BubblewrapProviderOptions) {
    fs.mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  }

  private get host(): SandboxHost {
    this.hostCache ??= this.opts.host ?? sandboxHost();
    return this.hostCache;
  }

  // ---- files -------------------------------------------------------------------------------

  private paths(key: string) {
    const name = workloadName(key);
    const dir = path.join(this.opts.stateDir, name);
    return {
      name,
      dir,
      state: path.join(dir, "state.json"),
      stdout: path.join(dir, "stdout.log"),
      stderr: path.join(dir, "stderr.log"),
      status: path.join(dir, "status.jsonl"),
      deadline: path.join(dir, "deadline"),
    };
  }

  private read(key: string): WorkloadRecord | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.paths(key).state, "utf8");
    } catch {
      return undefined;
    }
    const rec = JSON.parse(text) as WorkloadRecord;
    if (rec.key !== key) throw new ProvisionError(`state for ${JSON.stringify(key)} belongs to another key`, false);
    return rec;
  }

  private write(rec: WorkloadRecord): void {
    writeFileAtomic(this.paths(rec.key).state, JSON.stringify(rec));
  }

  /** One operation per key at a time within this keeper. */
  private async locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    }
  }

  private sandboxSpec(spec: WorkloadSpec): SandboxSpec {
    return workloadSandboxSpec(spec, this.opts);
  }

  // ---- ComputeProvider ---------------------------------------------------------------------

  async quote(spec: WorkloadSpec, _hours: number): Promise<Quote> {
    const p = this.opts.pricePerHour ?? 0n;
    const pricePerHour = typeof p === "function" ? p(spec) : p;
    const fits =
      !!spec.command?.length &&
      (this.opts.maxCpu === undefined || spec.cpu <= this.opts.maxCpu) &&
      (this.opts.maxMemoryMb === undefined || spec.memoryMb <= this.opts.maxMemoryMb);
    return { pricePerHour, available: fits && (await this.health()).ok };
  }

  async provision(req: ProvisionRequest): Promise<Provision> {
    const key = req.idempotencyKey;
    const p = this.paths(key);
    // The operator's own hardware offers no GPU and no inbound ports: say so rather than run without.
    if (req.spec.gpu) throw new WorkloadRefused("config.gpu: the operator's own hardware has no GPU to give; allow a cloud provider");
    if (req.spec.ports?.length)
      throw new WorkloadRefused("config.ports: workloads on the operator's own hardware have no network; allow a cloud provider");
    if (!req.spec.command?.length) throw new WorkloadRefused("the bubblewrap provider runs a command: config.command is required");
    const spec = this.sandboxSpec(req.spec);
    return this.locked(key, async () => {
      const existing = this.read(key);
      if (existing?.phase === "running") return { ref: `pid:${existing.pid}`, created: false };
      if (existing) {
        // The keeper died while setting this workload up: remove what may have started, start over.
        await this.kill(existing);
        this.forget(key);
      }
      if (req.endsAt <= nowSeconds()) throw new ProvisionError("endsAt is already past", false);

      fs.mkdirSync(p.dir, { recursive: true, mode: 0o700 });
      writeDeadline(p.deadline, req.endsAt);
      let rec: WorkloadRecord | undefined;
      try {
        const sb = await launchDetached({
          spec,
          name: `session-${p.name}`,
          stdoutPath: p.stdout,
          stderrPath: p.stderr,
          statusPath: p.status,
          deadlinePath: p.deadline,
          logCapBytes: this.opts.maxLogBytes ?? MiB,
          deadlinePollSeconds: this.opts.deadlinePollSeconds ?? 5,
          host: this.host,
          onSpawned: ({ pid, startTime }) => {
            rec = { v: 1, key, phase: "starting", pid, startTime, endsAt: req.endsAt, createdAt: Date.now() };
            this.write(rec);
          },
        });
        rec = { ...rec!, phase: "running", childPid: sb.childPid, childStartTime: sb.childStartTime, cgroup: sb.cgroup, limits: sb.limits };
        this.write(rec);
        return { ref: `pid:${sb.pid}`, created: true };
      } catch (e) {
        if (rec) {
          await this.kill(rec);
          this.forget(key);
        }
        if (e instanceof ProvisionError) throw e;
        const err = e as NodeJS.ErrnoException;
        const retryable = !(e instanceof SandboxError) || ["EAGAIN", "ENOMEM", "EMFILE", "ENFILE"].includes(err.code ?? "");
        throw new ProvisionError(`bubblewrap sandbox: ${err.message}`, retryable);
      }
    });
  }

  async status(key: string): Promise<WorkloadStatus> {
    const rec = this.read(key);
    if (!rec) return { state: "unknown", ref: "" };
    const ref = `pid:${rec.pid}`;
    const alive = isSameProcess(rec.pid, rec.startTime);
    if (rec.phase === "starting") {
      return alive ? { state: "starting", ref } : { state: "failed", ref, detail: "the keeper stopped while setting the sandbox up" };
    }
    if (alive) {
      const l = rec.limits;
      const detail = l
        ? `memory: ${l.memory}, pids: ${l.pids}, cpu: ${l.cpu}, seccomp: ${l.seccomp ? "on" : "off"}, endsAt ${rec.endsAt}`
        : undefined;
      return { state: "running", ref, detail };
    }
    this.cleanupCgroup(rec);
    let st: ReturnType<typeof parseBwrapStatus> = {};
    try {
      st = parseBwrapStatus(fs.readFileSync(this.paths(key).status, "utf8"));
    } catch {
      // no status file
    }
    if (st.deadlineReached !== undefined)
      return { state: "exited", ref, detail: `stopped by the deadline watchdog at endsAt ${st.deadlineReached}` };
    if (st.exitCode !== undefined) return { state: "exited", ref, exitCode: st.exitCode };
    return { state: "failed", ref, detail: "the sandbox ended without an exit code (killed from outside?)" };
  }

  async extend(key: string, endsAt: number): Promise<void> {
    await this.locked(key, async () => {
      const rec = this.read(key);
      if (!rec) throw new ProvisionError(`no workload for key ${JSON.stringify(key)}`, false);
      writeDeadline(this.paths(key).deadline, endsAt);
      this.write({ ...rec, endsAt });
    });
  }

  async terminate(key: string): Promise<void> {
    await this.locked(key, async () => {
      const rec = this.read(key);
      if (!rec) return;
      await this.kill(rec);
      this.forget(key);
    });
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    const ttl = this.opts.healthTtlMs ?? 30_000;
    if (this.healthCache && Date.now() - this.healthCache.at < ttl) return this.healthCache.result;
    let result: { ok: boolean; detail?: string };
    try {
      const host = this.host;
      if (host.problems.length) throw new Error(host.problems.join("; "));
      fs.accessSync(this.opts.stateDir, fs.constants.W_OK);
      const r = await runSandboxed(
        { command: ["/bin/sh", "-c", "exit 0"], memoryMb: 32, pids: 8 },
        { timeoutMs: 10_000, maxOutputBytes: 4096, host },
      );
      if (r.exitCode !== 0) throw new Error(`trivial sandbox run exited ${r.exitCode}: ${r.stderr.trim().slice(0, 200)}`);
      const l = r.limits;
      result = {
        ok: true,
        detail: `${host.bwrapVersion}; uid 65534 via ${l.identity}; memory: ${l.memory}; pids: ${l.pids}; cpu: ${l.cpu}; seccomp: ${l.seccomp ? "on" : "off"}; nested userns: ${l.nestedUserns}`,
      };
    } catch (e) {
      result = { ok: false, detail: (e as Error).message };
    }
    this.healthCache = { at: Date.now(), result };
    return result;
  }

  // ---- extras (operators, tests) -------------------------------------------------------------

  /** The captured (capped) output of a workload. */
  logs(key: string): { stdout: string; stderr: string } {
    const p = this.paths(key);
    const read = (f: string) => {
      try {
        return fs.readFileSync(f, "utf8");
      } catch {
        return "";
      }
    };
    return { stdout: read(p.stdout), stderr: read(p.stderr) };
  }

  /** Pids of the supervisor and the sandbox's init, for tests and `keeper status`. */
  processes(key: string): { pid: number; childPid?: number } | undefined {
    const rec = this.read(key);
    return rec && { pid: rec.pid, childPid: rec.childPid };
  }

  // ---- internals ---------------------------------------------------------------------------

  /** Ends every process of a workload: SIGTERM inside the sandbox, grace, then SIGKILL of all. */
  private async kill(rec: WorkloadRecord): Promise<void> {
    const grace = this.opts.terminateGraceMs ?? 3000;
    const childAlive = () => rec.childPid !== undefined && isSameProcess(rec.childPid, rec.childStartTime!);
    if (childAlive()) {
      const ns = pidNamespaceOf(rec.childPid!);
      if (ns) for (const p of processesInPidNamespace(ns)) if (p !== rec.childPid) signal(p, "SIGTERM");
      if (!(await waitFor(() => !childAlive(), grace))) signal(rec.childPid!, "SIGKILL"); // pid-namespace init: takes the whole sandbox along
    }
    // Everything outside the sandbox (supervisor, bwrap, log drains, watchdog) is one process group.
    // Unless the leader's pid now belongs to another process, kill the group.
    const leaderNow = processStartTime(rec.pid);
    if (leaderNow === undefined || leaderNow === rec.startTime) signal(-rec.pid, "SIGKILL");
    const gone = await waitFor(() => !childAlive() && processGroupMembers(rec.pid).length === 0, 5000);
    if (!gone) {
      if (childAlive()) signal(rec.childPid!, "SIGKILL");
      signal(-rec.pid, "SIGKILL");
    }
    await this.removeCgroup(rec);
  }

  private async removeCgroup(rec: WorkloadRecord): Promise<void> {
    if (!rec.cgroup || !this.host.cgroups) return;
    const cg = openCgroup(this.host.cgroups, rec.cgroup);
    for (const p of cg.pids()) signal(p, "SIGKILL");
    await waitFor(() => cg.remove(), 3000, 20);
  }

  private cleanupCgroup(rec: WorkloadRecord): void {
    if (!rec.cgroup || !this.host.cgroups) return;
    const cg = openCgroup(this.host.cgroups, rec.cgroup);
    if (cg.pids().length === 0) cg.remove();
  }

  /** Drops the record (logs are kept for the operator). */
  private forget(key: string): void {
    const p = this.paths(key);
    for (const f of [p.state, p.status, p.deadline]) fs.rmSync(f, { force: true });
  }
}
