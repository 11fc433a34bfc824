/**
 * One interface for the two execution backends (bubblewrap, docker). Both take the same SandboxSpec
 * limits from keeper/sandbox and return the same shape; the service above adds queueing, pricing
 * and error codes.
 */
import type { Language } from "./request";

export interface ExecutionJob {
  language: Language;
  code: string;
  timeoutMs: number;
  memoryMb: number;
  /** Per stream; output beyond it is dropped, the job killed and the stream flagged truncated. */
  maxOutputBytes: number;
  signal?: AbortSignal;
}

export interface ExecutionOutcome {
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  /** 128 + n when killed by signal n; null when unknown. */
  exitCode: number | null;
  timedOut: boolean;
  oomKilled: boolean;
  executionMs: number;
  /** Peak memory (bytes) of the job's cgroup; undefined when the backend could not measure it. */
  memoryPeakBytes?: number;
}

export interface ExecutionBackend {
  readonly name: "bubblewrap" | "docker";
  run(job: ExecutionJob): Promise<ExecutionOutcome>;
  health(): Promise<{ ok: boolean; detail?: string }>;
  close?(): Promise<void>;
}

/** A failure of the sandbox itself (not of the user's program): EXECUTION_ERROR, refunded. */
export class BackendError extends Error {
  name = "BackendError";
}

/** Shared limits beyond memory (per job). */
export const JOB_LIMITS = Object.freeze({
  pids: 64,
  tmpSizeMb: 16,
  fileSizeBytes: 8 * 1024 * 1024,
  openFiles: 128,
  cpu: 1,
});

/** The fixed environment inside every job: nothing of the keeper's own. */
export const JOB_ENV: Readonly<Record<string, string>> = Object.freeze({
  PATH: "/usr/local/bin:/usr/bin:/bin",
  HOME: "/tmp",
  LANG: "C.UTF-8",
});
