/**
 * The code-execution service (POST /api/v1/execute, design.md section 5): parse, price by tier,
 * queue, run on a sandbox backend (bubblewrap or docker, keeper/sandbox underneath), map the outcome to
 * the spec's fields and codes.
 *
 * Outcomes:
 * - the program ran and exited (any code): success, output.exit_code is its code;
 * - the deadline killed it: EXECUTION_TIMEOUT (the work was done: no refund);
 * - the sandbox itself failed: EXECUTION_ERROR (refund);
 * - too many jobs running and queued: CAPACITY_EXCEEDED (503, refund).
 * Extra documented fields: output.stdout_truncated / stderr_truncated (each stream is capped at
 * EXECUTE_MAX_OUTPUT_BYTES), output.oom_killed, metadata.tier, metadata.backend.
 */
import type { Logger } from "pino";
import type { KeeperConfig } from "../../config";
import { JobContext, JobService, ServiceError } from "../jobService";
import { BackendError, ExecutionBackend } from "./backend";
import { createBubblewrapBackend } from "./bubblewrapBackend";
import { createDockerBackend, dockerReachable } from "./dockerBackend";
import { JobQueue, QueueFullError } from "./queue";
import { ExecuteRequest, parseExecuteRequest, tierOf, Tier } from "./request";

export type { ExecuteRequest } from "./request";
export { tierOf, parseExecuteRequest } from "./request";
export type { ExecutionBackend } from "./backend";

export interface ExecuteResult extends Record<string, unknown> {
  output: {
    stdout: string;
    stderr: string;
    exit_code: number | null;
    stdout_truncated: boolean;
    stderr_truncated: boolean;
    oom_killed: boolean;
  };
  metadata: { language: string; execution_ms: number; memory_used_mb: number | null; tier: Tier; backend: string };
}

export interface ExecuteServiceOptions {
  /** A ready backend (tests, benchmarks); default: chosen by EXECUTE_BACKEND. */
  backend?: ExecutionBackend;
  /** WATT decimals: price() returns base units = whole WATT * 10^decimals. Default 9. */
  wattDecimals?: number;
}

export type ExecuteService = JobService<ExecuteRequest, ExecuteResult> & {
  readonly backend: Promise<ExecutionBackend>;
  readonly queue: JobQueue;
};

/** EXECUTE_BACKEND=auto: docker when an engine answers and the runtime image exists, else bubblewrap. */
export async function chooseBackend(cfg: KeeperConfig, log: Logger): Promise<ExecutionBackend> {
  const kind = cfg.EXECUTE_BACKEND;
  if (kind === "bubblewrap") return createBubblewrapBackend();
  const dockerHost = cfg.DOCKER_HOST ?? process.env.DOCKER_HOST;
  if (kind === "docker") return createDockerBackend({ dockerHost, image: cfg.EXECUTE_DOCKER_IMAGE });
  if (dockerHost && (await dockerReachable(dockerHost, cfg.EXECUTE_DOCKER_IMAGE))) {
    log.info({ backend: "docker" }, "execute: docker engine and runtime image found");
    return createDockerBackend({ dockerHost, image: cfg.EXECUTE_DOCKER_IMAGE });
  }
  log.info({ backend: "bubblewrap" }, "execute: no usable docker engine, using bubblewrap");
  return createBubblewrapBackend();
}

export function createExecuteService(cfg: KeeperConfig, log: Logger, opts: ExecuteServiceOptions = {}): ExecuteService {
  const backendP = opts.backend ? Promise.resolve(opts.backend) : chooseBackend(cfg, log);
  backendP.catch(() => undefined);
  const queue = new JobQueue(cfg.EXECUTE_CONCURRENCY, cfg.EXECUTE_QUEUE_MAX);
  const unit = 10n ** BigInt(opts.wattDecimals ?? 9);
  const prices: Record<Tier, bigint> = {
    quick: BigInt(cfg.EXECUTE_PRICE_QUICK) * unit,
    standard: BigInt(cfg.EXECUTE_PRICE_STANDARD) * unit,
    extended: BigInt(cfg.EXECUTE_PRICE_EXTENDED) * unit,
  };

  return {
    name: "execute",
    backend: backendP,
    queue,
    parse: parseExecuteRequest,
    price: (req) => prices[tierOf(req)],
    async run(req: ExecuteRequest, ctx: JobContext): Promise<ExecuteResult> {
      let backend: ExecutionBackend;
      try {
        backend = await backendP;
      } catch (e) {
        throw new ServiceError("EXECUTION_ERROR", `no execution backend: ${(e as Error).message}`, 503, { refund: true });
      }
      let o;
      try {
        o = await queue.run(
          () =>
            backend.run({
              language: req.language,
              code: req.code,
              timeoutMs: Math.round(req.timeout * 1000),
              memoryMb: req.memory_mb,
              maxOutputBytes: cfg.EXECUTE_MAX_OUTPUT_BYTES,
              signal: ctx.signal,
            }),
          ctx.signal,
        );
      } catch (e) {
        if (e instanceof QueueFullError) {
          throw new ServiceError("CAPACITY_EXCEEDED", "too many code executions in progress, retry later", 503, { refund: true });
        }
        // Never echo internals beyond the sandbox's own message (no paths of the keeper's secrets exist in it).
        log.warn({ jobId: ctx.jobId, err: (e as Error).message }, "execute: sandbox failure");
        const msg = e instanceof BackendError ? e.message : "sandbox failure";
        throw new ServiceError("EXECUTION_ERROR", `the sandbox failed: ${msg}`, 500, { refund: true });
      }
      if (ctx.signal.aborted && !o.timedOut) {
        // The keeper gave up on the job (shutdown, pipeline deadline): the sandbox was killed early.
        throw new ServiceError("EXECUTION_ERROR", "the execution was cancelled by the keeper", 503, { refund: true });
      }
      if (o.timedOut) {
        throw new ServiceError("EXECUTION_TIMEOUT", `execution exceeded ${req.timeout} s and was killed`, 408, {
          refund: false,
          output: {
            stdout: o.stdout,
            stderr: o.stderr,
            exit_code: null,
            stdout_truncated: o.stdoutTruncated,
            stderr_truncated: o.stderrTruncated,
          },
        });
      }
      return {
        output: {
          stdout: o.stdout,
          stderr: o.stderr,
          exit_code: o.exitCode,
          stdout_truncated: o.stdoutTruncated,
          stderr_truncated: o.stderrTruncated,
          oom_killed: o.oomKilled,
        },
        metadata: {
          language: req.language,
          execution_ms: o.executionMs,
          memory_used_mb: o.memoryPeakBytes === undefined ? null : Math.round((o.memoryPeakBytes / 1048576) * 100) / 100,
          tier: tierOf(req),
          backend: backend.name,
        },
      };
    },
    async health() {
      try {
        const b = await backendP;
        const h = await b.health();
        return { ...h, detail: `${b.name}: ${h.detail ?? "ready"}; ${queue.active} running, ${queue.queued} queued` };
      } catch (e) {
        return { ok: false, detail: (e as Error).message };
      }
    },
    async close() {
      try {
        await (await backendP).close?.();
      } catch {
        // nothing to close
      }
    },
  };
}
