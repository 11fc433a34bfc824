/**
 * bubblewrap backend: the host's own interpreters (/usr/bin/python3, /usr/bin/node, /bin/bash),
 * bound read-only with /usr by keeper/sandbox, run through runSandboxed (uid 65534 before bwrap,
 * seccomp, prlimit, a memory/pids cgroup when writable, pid namespace killed at the deadline).
 * The code is passed as one argv string, so nothing is written to the host's disk; /tmp inside is a
 * private tmpfs that disappears with the job. memory_used_mb is the cgroup's peak (memory.peak or
 * memory.max_usage_in_bytes).
 */
import fs from "node:fs";
import { runSandboxed, SandboxError, sandboxHost, SandboxHost } from "../../sandbox";
import { BackendError, ExecutionBackend, ExecutionJob, ExecutionOutcome, JOB_ENV, JOB_LIMITS } from "./backend";
import type { Language } from "./request";

export const BUBBLEWRAP_INTERPRETERS: Record<Language, (code: string) => string[]> = {
  python: (code) => ["/usr/bin/python3", "-I", "-c", code],
  javascript: (code) => ["/usr/bin/node", "-e", code],
  bash: (code) => ["/bin/bash", "-c", code],
};

export function createBubblewrapBackend(host: SandboxHost = sandboxHost()): ExecutionBackend {
  return {
    name: "bubblewrap",
    async run(job: ExecutionJob): Promise<ExecutionOutcome> {
      let r;
      try {
        r = await runSandboxed(
          {
            command: BUBBLEWRAP_INTERPRETERS[job.language](job.code),
            env: { ...JOB_ENV },
            memoryMb: job.memoryMb,
            pids: JOB_LIMITS.pids,
            tmpSizeMb: JOB_LIMITS.tmpSizeMb,
            fileSizeBytes: JOB_LIMITS.fileSizeBytes,
            openFiles: JOB_LIMITS.openFiles,
            cpu: JOB_LIMITS.cpu,
            cwd: "/tmp",
            hostname: "sandbox",
          },
          { timeoutMs: job.timeoutMs, maxOutputBytes: job.maxOutputBytes, host, signal: job.signal },
        );
      } catch (e) {
        if (e instanceof SandboxError) throw new BackendError(e.message);
        throw e;
      }
      // runSandboxed keeps the first maxOutputBytes of each stream and kills the job on overflow.
      const outBytes = Buffer.byteLength(r.stdout);
      const errBytes = Buffer.byteLength(r.stderr);
      return {
        stdout: r.stdout,
        stderr: r.stderr,
        stdoutTruncated: r.outputTruncated && outBytes >= job.maxOutputBytes,
        stderrTruncated: r.outputTruncated && errBytes >= job.maxOutputBytes,
        exitCode: r.exitCode,
        timedOut: r.timedOut,
        oomKilled: r.oomKilled,
        executionMs: r.durationMs,
        memoryPeakBytes: r.memoryPeakBytes,
      };
    },
    async health() {
      if (host.problems.length) return { ok: false, detail: host.problems.join("; ") };
      const missing = ["/usr/bin/python3", "/usr/bin/node", "/bin/bash"].filter((p) => !fs.existsSync(p));
      return missing.length ? { ok: false, detail: `interpreters missing: ${missing.join(", ")}` } : { ok: true };
    },
  };
}
