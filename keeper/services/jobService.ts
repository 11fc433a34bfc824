/**
 * The contract between the paid-job pipeline (keeper/payments + keeper/http: validation, rate limits,
 * WATT payment, job record, Merkle batch) and the services it sells (scrape, execute).
 *
 * A service knows nothing about payments: it parses and prices a request and runs it. The pipeline
 * owns job_id, idempotency (a retried paid job returns its first result), charging and refunds.
 * The wire formats are design.md section 5 (fixed by the product spec).
 */

/** An error a service or the pipeline answers with: `{ success: false, error: message, code }`. */
export class ServiceError extends Error {
  constructor(
    /** design.md section 5 codes (SCRAPE_FAILED, DOMAIN_BLOCKED, EXECUTION_TIMEOUT, ...) or INVALID_REQUEST etc. */
    readonly code: string,
    message: string,
    /** HTTP status of the answer. */
    readonly httpStatus = 400,
    /** Extra fields merged into the error body (never secrets). */
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "ServiceError";
  }
}

export interface JobContext {
  jobId: string;
  /** Aborted when the job's deadline passes or the keeper shuts down. */
  signal: AbortSignal;
}

export interface JobService<Req extends { job_id: string }, Res extends Record<string, unknown>> {
  /** "scrape" | "execute": the route is POST /api/v1/<name>. */
  readonly name: string;
  /** Validates the request body (zod); throws ServiceError("INVALID_REQUEST", ...) naming each problem. */
  parse(body: unknown): Req;
  /** The job's price in WATT base units (the mint's decimals), from the spec's price table. */
  price(req: Req): bigint;
  /** Extra rate-limit keys beyond the agent and global ones, e.g. `url:<origin+path>` for scrape. */
  rateLimitKeys?(req: Req): string[];
  /**
   * Runs the job. Returns the service's fields of the success body (everything except success,
   * job_id, watt_charged, watt_burned), e.g. `{ data, metadata }` or `{ output, metadata }`.
   * Throws ServiceError for a failure with a spec code. `refund` on the error details (boolean)
   * says whether the pipeline should give the payment back (the service could not do the work) or
   * keep it (the work was done: e.g. the code ran and timed out).
   */
  run(req: Req, ctx: JobContext): Promise<Res>;
  /** Health for /health (browser up, sandbox backend ready). */
  health?(): Promise<{ ok: boolean; detail?: string }>;
  close?(): Promise<void>;
}
