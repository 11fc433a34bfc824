/**
 * The paid-job pipeline behind POST /api/v1/<service>: validate -> idempotency -> rate limits ->
 * payment -> charge -> run -> settle. The services (scrape, execute) only parse, price and run.
 *
 * Payment, either:
 * - prepaid: the request is signed by the agent's Solana key (payments/agentAuth.ts) and the price is
 *   taken from its balance; or
 * - on chain: a WATT transferChecked into the service's token account whose memo is the job_id, found
 *   by memo (getSignaturesForAddress) or named by an X-Payment-Signature header, and verified
 *   (payments/verifier.ts). What is paid above the price is credited to the payer's balance; an
 *   underpayment is credited whole and the job refused with PAYMENT_INSUFFICIENT.
 *
 * Exactly once: the job row is inserted in the same database transaction as the charge, keyed by
 * job_id, and the payment's signature is unique. An in-process set taken before the first await means
 * two concurrent requests for one job_id cannot both get to the charge; a later retry of a finished
 * job gets the first answer, byte for byte, and is not charged again. A keeper killed while a job runs
 * finds it 'running' on restart and settles it as interrupted, refunded.
 *
 * Settlement: success charges the price; a service error with details.refund gives it back to the
 * agent's balance, otherwise (the work was done, e.g. the code timed out) the price is kept. Either
 * way watt_burned = 0.15 % of what was charged. The answer's sha256 (outcome_hash) goes into the job's Merkle leaf.
 */
import crypto from "node:crypto";
import type { Logger } from "pino";
import { JobService, ServiceError } from "../services/jobService";
import { DB, now } from "../store/db";
import { verifyAgentRequest } from "../payments/agentAuth";
import { charge, credit, isSignatureUsed, recordPayment } from "../payments/ledger";
import { pendingError, VerifiedTransfer, WattVerifier } from "../payments/verifier";
import { burnOf, toWatt } from "../payments/watt";
import { Limit, RateLimiter } from "./rateLimiter";
import type { PaymentPayload } from "@x402/core/types";
import { decodePaymentHeader, payloadHashOf, paymentIdOf, X402Solana } from "../payments/x402";
import type { SettlementRow } from "../store/x402";

export interface RateLimits {
  agentPerHour: number;
  urlPerHour: number;
  globalPerHour: number;
}

export interface PipelineOptions {
  decimals: number;
  limits: RateLimits;
  /** x402 on Solana (payments/x402.ts), when configured. */
  x402?: X402Solana;
}

export interface JobAnswer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string>;
}

export interface RequestContext {
  method: string;
  path: string;
  rawBody: string;
  headers: Record<string, string | string[] | undefined>;
  /** The client's address (per-client limits). */
  ip?: string;
}

export interface JobRow {
  job_id: string;
  service: string;
  request_hash: string;
  agent: string;
  payment: "onchain" | "prepaid";
  signature: string | null;
  price: string;
  state: "running" | "succeeded" | "failed";
  charged: string;
  refunded: string;
  burned: string;
  http_status: number | null;
  response: string | null;
  outcome_hash: string | null;
  batch_root: string | null;
  leaf_index: number | null;
  created_at: number;
  finished_at: number | null;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyService = JobService<any, any>;

const header = (h: RequestContext["headers"], name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/**
 * The hash a job's Merkle leaf commits to: sha256 of the exact answer bytes (native and about 50 times
 * faster than a JavaScript keccak256 on a 100 KB scrape; the contract takes any bytes32).
 */
export const outcomeHash = (answer: string): string => "0x" + crypto.createHash("sha256").update(answer, "utf8").digest("hex");

export function errorAnswer(e: ServiceError, jobId?: string, extra: Record<string, unknown> = {}): JobAnswer {
  const { refund: _refund, ...details } = e.details ?? {};
  const headers: Record<string, string> = {};
  const retry = details.retry_after_s;
  if (typeof retry === "number") headers["retry-after"] = String(retry);
  return { status: e.httpStatus, headers, body: { success: false, error: e.message, code: e.code, ...(jobId ? { job_id: jobId } : {}), ...details, ...extra } };
}

export class JobPipeline {
  private readonly inflight = new Set<string>();
  private readonly shutdown = new AbortController();
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly db: DB,
    readonly services: Map<string, AnyService>,
    private readonly verifier: WattVerifier | undefined,
    private readonly limiter: RateLimiter,
    private readonly opts: PipelineOptions,
    private readonly log: Logger,
  ) {
    this.recoverInterrupted();
  }

  private watt = (x: bigint) => toWatt(x, this.opts.decimals);

  job(jobId: string): JobRow | undefined {
    return this.db.prepare("SELECT * FROM jobs WHERE job_id = ?").get(jobId) as JobRow | undefined;
  }

  /** Jobs a killed keeper left running: settled as interrupted and refunded, exactly once. */
  recoverInterrupted(): number {
    const rows = this.db.prepare("SELECT * FROM jobs WHERE state = 'running'").all() as JobRow[];
    for (const j of rows) {
      this.settle(j, undefined, new ServiceError("JOB_INTERRUPTED", "the service restarted while this job ran; the price was refunded to your prepaid balance, retry with a new job_id", 503, { refund: true }));
    }
    if (rows.length) this.log.warn({ jobs: rows.length }, "jobs interrupted by a restart settled and refunded");
    return rows.length;
  }

  async handle(name: string, body: unknown, ctx: RequestContext): Promise<JobAnswer> {
    const service = this.services.get(name);
    if (!service) return errorAnswer(new ServiceError("NOT_FOUND", `no service ${name}`, 404));
    let req: { job_id: string };
    let agent: string | undefined;
    let x402: PaymentPayload | undefined;
    try {
      req = service.parse(body);
      if (req.job_id.startsWith("deposit:")) throw new ServiceError("INVALID_REQUEST", 'job_id: must not start with "deposit:" (that memo credits a prepaid balance)', 400, { problems: ["job_id: reserved prefix"] });
      agent = verifyAgentRequest(ctx.headers, ctx.method, ctx.path, ctx.rawBody);
      const paymentHeader = header(ctx.headers, "payment-signature");
      if (paymentHeader !== undefined) {
        if (agent) throw new ServiceError("INVALID_REQUEST", "a request is paid either by its signature (prepaid balance) or by PAYMENT-SIGNATURE (x402), not both", 400);
        if (!this.opts.x402) throw new ServiceError("X402_NOT_OFFERED", "x402 payments are not configured on this service", 402);
        x402 = decodePaymentHeader(paymentHeader);
      }
    } catch (e) {
      return errorAnswer(asServiceError(e, this.log));
    }
    const jobId = req.job_id;
    const requestHash = crypto.createHash("sha256").update(`${name}\n${JSON.stringify(req)}`).digest("hex");
    // Synchronous from here to the inflight mark: nothing else can interleave.
    const existing = this.job(jobId);
    if (x402) {
      const again = this.x402Repeat(x402, existing, jobId);
      if (again) return again;
    }
    if (existing) return this.replay(existing, name, requestHash);
    if (this.inflight.has(jobId)) return errorAnswer(new ServiceError("JOB_IN_PROGRESS", "a request for this job_id is being processed; retry to get its result", 409, { retry_after_s: 1 }), jobId);
    this.inflight.add(jobId);
    const work = this.payAndRun(service, req, requestHash, agent, ctx, x402).finally(() => this.inflight.delete(jobId));
    this.running.add(work);
    work.finally(() => this.running.delete(work)).catch(() => undefined);
    return work;
  }

  /**
   * A PAYMENT-SIGNATURE seen before. Its payment-identifier with the same payload gets the first
   * answer (an idempotent retry), with another payload X402_IDEMPOTENCY_CONFLICT; the same payment
   * again without an identifier is X402_PAYMENT_ALREADY_USED. Nothing is charged again either way.
   */
  private x402Repeat(p: PaymentPayload, existing: JobRow | undefined, jobId: string): JobAnswer | undefined {
    const x = this.opts.x402!;
    let id: string | null;
    try {
      id = paymentIdOf(p);
    } catch (e) {
      return errorAnswer(e as ServiceError, jobId);
    }
    const byId = id ? x.settlementForPaymentId(id) : undefined;
    if (byId) {
      if (byId.payload_hash !== payloadHashOf(p) || byId.job_id !== jobId) {
        return errorAnswer(new ServiceError("X402_IDEMPOTENCY_CONFLICT", "this payment-identifier was already used with a different payment or job; use a new identifier", 409), jobId);
      }
      const j = this.job(jobId);
      if (j && j.response !== null) return { status: j.http_status ?? 200, headers: { "x-job-replayed": "true", "payment-response": x.paymentResponse(byId) }, body: JSON.parse(j.response) };
      if (j || this.inflight.has(jobId)) return errorAnswer(new ServiceError("JOB_IN_PROGRESS", "this job is running; retry to get its result", 409, { retry_after_s: 1 }), jobId);
      return undefined; // settled or pending without a job yet: carry on (resumed from its settlement row)
    }
    if (existing) {
      const s = x.settlementForJob(jobId);
      if (s && s.payload_hash === payloadHashOf(p)) {
        return errorAnswer(new ServiceError("X402_PAYMENT_ALREADY_USED", "this x402 payment was already used; a payment pays for one request (send a payment-identifier to retry idempotently)", 409), jobId);
      }
    }
    return undefined;
  }

  private replay(j: JobRow, name: string, requestHash: string): JobAnswer {
    if (j.service !== name || j.request_hash !== requestHash) {
      return errorAnswer(new ServiceError("JOB_ID_CONFLICT", `job_id ${j.job_id} was already used for a different request; use a new job_id`, 409), j.job_id);
    }
    if (j.state === "running" || j.response === null) {
      return errorAnswer(new ServiceError("JOB_IN_PROGRESS", "this job is running; retry to get its result", 409, { retry_after_s: 1 }), j.job_id);
    }
    return { status: j.http_status ?? 200, headers: { "x-job-replayed": "true" }, body: JSON.parse(j.response) };
  }

  private async payAndRun(service: AnyService, req: { job_id: string }, requestHash: string, signedBy: string | undefined, ctx: RequestContext, x402?: PaymentPayload): Promise<JobAnswer> {
    const jobId = req.job_id;
    const name = service.name;
    const price: bigint = service.price(req);
    const l = this.opts.limits;
    const limits: Limit[] = [{ key: `global:${name}`, max: l.globalPerHour }, ...(service.rateLimitKeys?.(req) ?? []).map((key) => ({ key, max: l.urlPerHour }))];
    let payment: VerifiedTransfer | undefined;
    let agent: string;
    let settlement: SettlementRow | undefined;
    try {
      this.limiter.check(limits); // before any RPC: a refused request costs nothing
      if (signedBy) agent = signedBy;
      else if (x402) {
        const paid = await this.opts.x402!.pay(x402, { jobId, service: name, requestHash, price, ip: ctx.ip ?? "unknown" });
        payment = paid.transfer;
        settlement = paid.settlement;
        agent = payment.payer;
      } else {
        payment = await this.findPayment(jobId, header(ctx.headers, "x-payment-signature"));
        agent = payment.payer;
      }
    } catch (e) {
      return this.paymentRequired(errorAnswer(asServiceError(e, this.log), jobId), jobId, price, name, ctx);
    }
    const withReceipt = (a: JobAnswer): JobAnswer => (settlement ? { ...a, headers: { ...a.headers, "payment-response": this.opts.x402!.paymentResponse(settlement) } } : a);

    const agentLimit: Limit = { key: `agent:${name}:${agent}`, max: l.agentPerHour };
    let underpaid = false;
    try {
      this.db.transaction(() => {
        if (this.job(jobId)) throw new ServiceError("JOB_IN_PROGRESS", "a request for this job_id is being processed", 409, { retry_after_s: 1 });
        this.limiter.check([...limits, agentLimit]);
        if (payment) {
          if (isSignatureUsed(this.db, payment.signature)) throw new ServiceError("PAYMENT_ALREADY_USED", "this payment was already counted; a transfer pays for one job only", 409);
          recordPayment(this.db, payment, "job", agent);
          if (payment.amount < price) {
            credit(this.db, agent, payment.amount, "excess", { jobId, signature: payment.signature, note: "underpayment credited" });
            underpaid = true;
            return;
          }
          credit(this.db, agent, payment.amount - price, "excess", { jobId, signature: payment.signature, note: "overpayment credited" });
        } else {
          charge(this.db, agent, price, jobId, this.watt);
        }
        this.db
          .prepare("INSERT INTO jobs (job_id, service, request_hash, agent, payment, signature, price, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?)")
          .run(jobId, name, requestHash, agent, payment ? "onchain" : "prepaid", payment?.signature ?? null, price.toString(), now());
        this.limiter.record([...limits, agentLimit].map((x) => x.key));
      })();
    } catch (e) {
      return withReceipt(errorAnswer(asServiceError(e, this.log), jobId));
    }
    if (underpaid) {
      return errorAnswer(
        new ServiceError("PAYMENT_INSUFFICIENT", `payment of ${this.watt(payment!.amount)} WATT is below the price ${this.watt(price)} WATT; it was credited to the prepaid balance of ${agent}: sign a request with that wallet to use it, or pay the full price with a new job_id`, 402, {
          paid: this.watt(payment!.amount),
          price: this.watt(price),
        }),
        jobId,
        { watt_charged: 0 },
      );
    }

    let result: Record<string, unknown> | undefined;
    let failure: ServiceError | undefined;
    try {
      result = await service.run(req, { jobId, signal: this.shutdown.signal });
    } catch (e) {
      failure = asServiceError(e, this.log, name === "execute" ? "EXECUTION_ERROR" : "SCRAPE_FAILED");
    }
    const row = this.job(jobId)!;
    return withReceipt(this.settle(row, result, failure));
  }

  /**
   * The hook of every unpaid answer: a 402 gets x402's PAYMENT-REQUIRED header (what this service
   * accepts for this job) when x402 is configured. Building it costs no RPC call.
   */
  private async paymentRequired(a: JobAnswer, jobId: string, price: bigint, name: string, ctx: RequestContext): Promise<JobAnswer> {
    if (a.status !== 402 || !this.opts.x402) return a;
    try {
      const host = header(ctx.headers, "host") ?? "localhost";
      const { header: value } = await this.opts.x402.paymentRequired(jobId, price, `http://${host}${ctx.path.split("?")[0]}`, `${name} job ${jobId}`);
      return { ...a, headers: { ...a.headers, "payment-required": value } };
    } catch {
      return a; // the facilitator is unreachable: the other rails still work
    }
  }

  private async findPayment(jobId: string, signature: string | undefined): Promise<VerifiedTransfer> {
    if (!this.verifier) {
      throw new ServiceError("PAYMENT_NOT_FOUND", "WATT payments on Solana are not configured on this service; sign the request to pay from a prepaid balance", 402);
    }
    if (signature) {
      if (isSignatureUsed(this.db, signature)) throw new ServiceError("PAYMENT_ALREADY_USED", `transaction ${signature} was already counted; a transfer pays for one job only`, 409);
      return this.verifier.check(signature, jobId);
    }
    const found = await this.verifier.findByMemo(jobId, (s) => isSignatureUsed(this.db, s));
    if (found.verified.length) return found.verified[0];
    if (found.rejected.length) throw found.rejected[0];
    if (found.used) throw new ServiceError("PAYMENT_ALREADY_USED", `the payment with memo "${jobId}" was already counted`, 409);
    throw pendingError(jobId);
  }

  /** Writes the outcome, charge or refund, burn share and answer in one transaction (idempotent). */
  private settle(j: JobRow, result: Record<string, unknown> | undefined, failure: ServiceError | undefined): JobAnswer {
    const price = BigInt(j.price);
    const refund = failure !== undefined && failure.details?.refund === true;
    const charged = refund ? 0n : price;
    const burned = burnOf(charged);
    const answer: JobAnswer = failure
      ? errorAnswer(failure, j.job_id, { watt_charged: this.watt(charged), watt_burned: this.watt(burned), ...(refund ? { watt_refunded: this.watt(price) } : {}) })
      : { status: 200, headers: {}, body: { success: true, job_id: j.job_id, ...result, watt_charged: this.watt(charged), watt_burned: this.watt(burned) } };
    const text = JSON.stringify(answer.body);
    const settled = this.db.transaction(() => {
      const r = this.db
        .prepare("UPDATE jobs SET state = ?, charged = ?, refunded = ?, burned = ?, http_status = ?, response = ?, outcome_hash = ?, finished_at = ? WHERE job_id = ? AND state = 'running'")
        .run(failure ? "failed" : "succeeded", charged.toString(), (price - charged).toString(), burned.toString(), answer.status, text, outcomeHash(text), now(), j.job_id);
      if (r.changes === 0) return false;
      if (refund) credit(this.db, j.agent, price, "refund", { jobId: j.job_id, signature: j.signature ?? undefined, note: failure!.code });
      return true;
    })();
    if (!settled) {
      const again = this.job(j.job_id)!;
      return { status: again.http_status ?? 200, headers: {}, body: JSON.parse(again.response!) };
    }
    return answer;
  }

  /** Aborts running jobs (they settle as failed, refunded per their service) and waits for them. */
  async close(): Promise<void> {
    this.shutdown.abort();
    await Promise.allSettled([...this.running]);
  }
}

function asServiceError(e: unknown, log: Logger, fallbackCode = "INTERNAL_ERROR"): ServiceError {
  if (e instanceof ServiceError) return e;
  log.error({ err: (e as Error)?.message }, "job pipeline: unexpected error");
  return new ServiceError(fallbackCode, "internal error; nothing was charged", 500, { refund: true });
}
