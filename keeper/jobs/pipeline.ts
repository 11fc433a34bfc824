/**
 * The paid-job pipeline behind POST /api/v1/<service>: validate -> who asks -> idempotency -> rate
 * limits -> payment -> charge -> run -> settle. The services (scrape, execute) only parse, price and run.
 *
 * Who asks: a request signed by an agent's Solana key (payments/agentAuth.ts, v2: the message names
 * this service) is that agent's; an unsigned request is nobody's until it pays by x402.
 *
 * Payment rules (issue 10, design.md section 5):
 * - UNSIGNED: pays only by x402 (`payUnsigned`, where the x402 rail plugs in). Without a payment it
 *   is answered 402 PAYMENT_REQUIRED (headers from `paymentRequired`) and costs no RPC call. An
 *   unsigned request naming an on-chain payment (X-Payment-Signature) is 401 SIGNATURE_REQUIRED and
 *   nothing happens to the payment: the job_id is public on chain, so only its payer may spend it.
 * - SIGNED by agent A, in this order:
 *   1. X-Payment-Signature names a WATT transfer: it must have been signed by A (A is an authority
 *      of the transfer: the source account's owner, or a multisig authority or one of its signers;
 *      never merely the fee payer), else 403 PAYMENT_NOT_YOURS;
 *   2. A's prepaid balance, when it covers the price;
 *   3. the memo lookup (getSignaturesForAddress): a transfer with memo = job_id signed by A, else
 *      PAYMENT_NOT_YOURS when only others' transfers carry it. A lookup that finds nothing is not
 *      repeated for that job_id for WATT_MEMO_NEGATIVE_TTL_S, and lookups are limited per client
 *      address (PAYMENT_LOOKUPS_PER_MIN): unpaid requests cannot drain the RPC quota.
 *   What is paid above the price is credited to A's balance; an underpayment is credited whole and
 *   the job refused with PAYMENT_INSUFFICIENT.
 * - A job_id already used by another agent (or asked for unsigned) is 409 JOB_ID_TAKEN, revealing
 *   nothing about the job; when the asker is signed and has its own memo payment for that job_id,
 *   the payment is credited to its prepaid balance instead of being lost. A retry by the job's own
 *   agent gets the stored answer, byte for byte, and is not charged again.
 *
 * Exactly once: the job row is inserted in the same database transaction as the charge, keyed by
 * job_id, and the payment's signature is unique. An in-process set, checked and taken with no await
 * between, means two concurrent requests for one job_id cannot both get to the charge; the charge's
 * transaction checks once more that no job row exists. A keeper killed while a job runs finds it
 * 'running' on restart (startJobs) and settles it as interrupted, refunded.
 *
 * Settlement: success charges the price; a service error with details.refund gives it back to the
 * agent's balance, otherwise (the work was done, e.g. the code timed out) the price is kept. Either
 * way watt_burned = 0.15 % of what was charged. The answer's sha256 (outcome_hash) goes into the job's Merkle leaf.
 */
import crypto from "node:crypto";
import type { Logger } from "pino";
import { JobService, ServiceError } from "../services/jobService";
import type { Store } from "../store/store";
import type { JobRow } from "../store/jobs";
import { AuthPolicy, isEvmAgent, verifyAgentRequest } from "../payments/agentAuth";
import { balanceOf, charge, credit, recordPayment } from "../payments/ledger";
import { pendingError, VerifiedTransfer, WattVerifier } from "../payments/verifier";
import { burnOf, toWatt } from "../payments/watt";
import { Limit, RateLimiter, WindowLimiter } from "./rateLimiter";
import type { PaymentPayload } from "@x402/core/types";
import {
  decodePaymentHeader,
  payloadHashOf,
  paymentIdOf,
  paymentRequiredHeader,
  paymentResponseHeader,
  X402Solana,
} from "../payments/x402";
import type { X402Evm } from "../payments/x402Evm";
import type { SettlementRow } from "../store/x402";

export interface RateLimits {
  agentPerHour: number;
  urlPerHour: number;
  globalPerHour: number;
}

export interface PipelineOptions {
  decimals: number;
  limits: RateLimits;
  /** Signed requests: this service's id and whether v1 is still accepted. */
  auth: AuthPolicy;
  /** Seconds a memo lookup that found nothing is remembered per job_id (0: not at all). */
  negativeTtlS: number;
  /** Per client address and minute: Solana lookups for a payment. */
  lookupsPerMin: number;
  /** x402 on Solana (payments/x402.ts), when configured. */
  x402?: X402Solana;
  /** x402 on EVM, USDC by EIP-3009 (payments/x402Evm.ts), when configured. */
  x402Evm?: X402Evm;
}

/** How an x402 payment pays a job: a settled WATT transfer (Solana), or a USDC authorization settled after the job (EVM). */
type X402Paid = { kind: "svm"; transfer: VerifiedTransfer; settlement: SettlementRow } | { kind: "evm"; settlement: SettlementRow };

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
  clientIp: string;
}

export type { JobRow } from "../store/jobs";

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
  return {
    status: e.httpStatus,
    headers,
    body: { success: false, error: e.message, code: e.code, ...(jobId ? { job_id: jobId } : {}), ...details, ...extra },
  };
}

export class JobPipeline {
  private readonly inflight = new Set<string>();
  private readonly shutdown = new AbortController();
  private readonly running = new Set<Promise<unknown>>();
  /** job_id -> until when (ms) a memo lookup that found nothing is not repeated. */
  private readonly negative = new Map<string, number>();
  /** Per client address: Solana lookups per minute. */
  readonly lookups = new WindowLimiter(60_000);

  constructor(
    private readonly store: Store,
    readonly services: Map<string, AnyService>,
    private readonly verifier: WattVerifier | undefined,
    private readonly limiter: RateLimiter,
    private readonly opts: PipelineOptions,
    private readonly log: Logger,
  ) {}

  private watt = (x: bigint) => toWatt(x, this.opts.decimals);

  job(jobId: string): Promise<JobRow | undefined> {
    return this.store.jobs.byId(jobId);
  }

  /**
   * Jobs a killed keeper left running: settled as interrupted and refunded, exactly once. Called
   * once at start (runtime.ts), before the pipeline takes requests.
   */
  async recoverInterrupted(): Promise<number> {
    const rows = await this.store.jobs.running();
    for (const j of rows) {
      await this.settle(
        j,
        undefined,
        new ServiceError(
          "JOB_INTERRUPTED",
          "the service restarted while this job ran; the price was refunded to your prepaid balance, retry with a new job_id",
          503,
          { refund: true },
        ),
      );
    }
    if (rows.length) this.log.warn({ jobs: rows.length }, "jobs interrupted by a restart settled and refunded");
    return rows.length;
  }

  /** Takes one Solana lookup from the client's PAYMENT_LOOKUPS_PER_MIN (also POST /deposits), or throws RATE_LIMITED. */
  takeLookup(clientIp: string): void {
    this.lookups.take(`lookup:${clientIp}`, this.opts.lookupsPerMin, "payment lookups");
  }

  /** The policy signed requests are checked against (also GET /jobs and /balance). */
  get auth(): AuthPolicy {
    return this.opts.auth;
  }

  async handle(name: string, body: unknown, ctx: RequestContext): Promise<JobAnswer> {
    const service = this.services.get(name);
    if (!service) return errorAnswer(new ServiceError("NOT_FOUND", `no service ${name}`, 404));
    let req: { job_id: string };
    let agent: string | undefined;
    let x402: PaymentPayload | undefined;
    try {
      req = service.parse(body);
      if (req.job_id.startsWith("deposit:"))
        throw new ServiceError("INVALID_REQUEST", 'job_id: must not start with "deposit:" (that memo credits a prepaid balance)', 400, {
          problems: ["job_id: reserved prefix"],
        });
      agent = verifyAgentRequest(ctx.headers, this.opts.auth, ctx.method, ctx.path, ctx.rawBody);
      const paymentHeader = header(ctx.headers, "payment-signature");
      if (paymentHeader !== undefined) {
        if (agent)
          throw new ServiceError(
            "INVALID_REQUEST",
            "a request is paid either by its signature (prepaid balance, memo payment) or by PAYMENT-SIGNATURE (x402), not both",
            400,
          );
        if (!this.opts.x402 && !this.opts.x402Evm)
          throw new ServiceError("X402_NOT_OFFERED", "x402 payments are not configured on this service", 402);
        x402 = decodePaymentHeader(paymentHeader);
      }
    } catch (e) {
      return errorAnswer(asServiceError(e, this.log));
    }
    const jobId = req.job_id;
    if (!agent && header(ctx.headers, "x-payment-signature") !== undefined) {
      return errorAnswer(
        new ServiceError(
          "SIGNATURE_REQUIRED",
          "an on-chain payment pays only for a request signed by its payer (X-Agent-Pubkey, X-Agent-Timestamp, X-Agent-Signature); nothing was done with the payment",
          401,
        ),
        jobId,
      );
    }
    const requestHash = crypto
      .createHash("sha256")
      .update(`${name}\n${JSON.stringify(req)}`)
      .digest("hex");
    // The reads below await: another request for this job_id may get as far meanwhile. The inflight
    // mark (checked and taken without an await between) lets only one of them on to the charge, and
    // the charge's transaction checks again that no job row exists.
    const existing = await this.job(jobId);
    if (x402) {
      const again = await this.x402Repeat(x402, jobId);
      if (again) return again;
    }
    if (existing) {
      if (agent !== undefined && existing.agent === agent) return this.replay(existing, name, requestHash);
      return this.jobIdTaken(jobId, agent, ctx);
    }
    if (!agent) return this.payUnsigned(service, req, requestHash, ctx, x402);
    if (this.inflight.has(jobId))
      return errorAnswer(
        new ServiceError("JOB_IN_PROGRESS", "a request for this job_id is being processed; retry to get its result", 409, {
          retry_after_s: 1,
        }),
        jobId,
      );
    this.inflight.add(jobId);
    const work = this.payAndRun(service, req, requestHash, agent, ctx).finally(() => this.inflight.delete(jobId));
    this.running.add(work);
    work.finally(() => this.running.delete(work)).catch(() => undefined);
    return work;
  }

  /**
   * The headers of the 402 answer to an unpaid unsigned request. THE x402 HOOK: the x402 rail adds
   * its PAYMENT-REQUIRED header here (accepts[] for this price and job_id). Must make no RPC call.
   */
  paymentRequired(ctx: RequestContext, service: string, price: bigint, jobId: string): Record<string, string> {
    const accepts = [this.opts.x402?.requirementNow(jobId, price), this.opts.x402Evm?.requirement(price)].filter((a) => a !== undefined);
    if (accepts.length === 0) return {};
    const host = header(ctx.headers, "host") ?? "localhost";
    return { "payment-required": paymentRequiredHeader(accepts, `http://${host}${ctx.path.split("?")[0]}`, `${service} job ${jobId}`) };
  }

  /**
   * A PAYMENT-SIGNATURE seen before. Its payment-identifier with the same payload gets the first
   * answer (an idempotent retry), with another payload X402_IDEMPOTENCY_CONFLICT; the same payment
   * again without an identifier is X402_PAYMENT_ALREADY_USED. Nothing is charged again either way.
   */
  private async x402Repeat(p: PaymentPayload, jobId: string): Promise<JobAnswer | undefined> {
    let id: string | null;
    try {
      id = paymentIdOf(p);
    } catch (e) {
      return errorAnswer(e as ServiceError, jobId);
    }
    const byId = id ? await this.store.x402.byPaymentId(id) : undefined;
    const j = await this.job(jobId);
    if (byId) {
      if (byId.payload_hash !== payloadHashOf(p) || byId.job_id !== jobId) {
        return errorAnswer(
          new ServiceError(
            "X402_IDEMPOTENCY_CONFLICT",
            "this payment-identifier was already used with a different payment or job; use a new identifier",
            409,
          ),
          jobId,
        );
      }
      if (j && j.response !== null)
        return {
          status: j.http_status ?? 200,
          headers: { "x-job-replayed": "true", "payment-response": paymentResponseHeader(byId) },
          body: JSON.parse(j.response),
        };
      if (j || this.inflight.has(jobId))
        return errorAnswer(
          new ServiceError("JOB_IN_PROGRESS", "this job is running; retry to get its result", 409, { retry_after_s: 1 }),
          jobId,
        );
      return undefined; // settled or pending without a job yet: carry on (resumed from its settlement row)
    }
    if (j) {
      const s = await this.store.x402.byJob(jobId);
      if (s && s.payload_hash === payloadHashOf(p)) {
        return errorAnswer(
          new ServiceError(
            "X402_PAYMENT_ALREADY_USED",
            "this x402 payment was already used; a payment pays for one request (send a payment-identifier to retry idempotently)",
            409,
          ),
          jobId,
        );
      }
    }
    return undefined;
  }

  /**
   * An unsigned request: it can pay only by x402. THE x402 PATH plugs in here (a PAYMENT-SIGNATURE
   * header: verify, settle, run, answer with PAYMENT-RESPONSE; the job's agent is the payment's
   * signer). Without a payment: 402 PAYMENT_REQUIRED with `paymentRequired`'s headers, no RPC call.
   */
  protected async payUnsigned(
    service: AnyService,
    req: { job_id: string },
    requestHash: string,
    ctx: RequestContext,
    x402?: PaymentPayload,
  ): Promise<JobAnswer> {
    let price: bigint;
    try {
      price = service.price(req);
    } catch (e) {
      return errorAnswer(asServiceError(e, this.log), req.job_id);
    }
    if (x402) {
      const jobId = req.job_id;
      if (this.inflight.has(jobId))
        return errorAnswer(
          new ServiceError("JOB_IN_PROGRESS", "a request for this job_id is being processed; retry to get its result", 409, {
            retry_after_s: 1,
          }),
          jobId,
        );
      this.inflight.add(jobId);
      const evm = x402.accepted.network.startsWith("eip155:");
      const work = (
        evm
          ? this.payX402EvmAndRun(service, req, requestHash, price, ctx, x402)
          : this.payX402AndRun(service, req, requestHash, price, ctx, x402)
      ).finally(() => this.inflight.delete(jobId));
      this.running.add(work);
      work.finally(() => this.running.delete(work)).catch(() => undefined);
      return work;
    }
    const a = errorAnswer(
      new ServiceError(
        "PAYMENT_REQUIRED",
        `this job costs ${this.watt(price)} WATT: sign the request with your agent key to pay from your prepaid balance or by a WATT transfer with memo "${req.job_id}" (docs/payments.md "Paying")`,
        402,
        { price: this.watt(price) },
      ),
      req.job_id,
    );
    return { ...a, headers: { ...a.headers, ...this.paymentRequired(ctx, service.name, price, req.job_id) } };
  }

  /**
   * 409 JOB_ID_TAKEN: the job_id belongs to another agent's job (or the asker is unsigned). Nothing
   * about that job is revealed. A signed asker's own memo payment for this job_id can never pay for
   * it now, so it is credited to the asker's prepaid balance (once: the signature is unique).
   */
  private async jobIdTaken(jobId: string, agent: string | undefined, ctx: RequestContext): Promise<JobAnswer> {
    let credited = 0n;
    if (agent && this.verifier) {
      try {
        const mine = (await this.lookupMemo(jobId, ctx)).verified.filter((v) => v.authorities.includes(agent));
        for (const v of mine) {
          await this.store.tx(async () => {
            if (await this.store.ledger.isSignatureUsed(v.signature)) return;
            await recordPayment(this.store, { ...v, payer: agent }, "deposit", agent);
            await credit(this.store, agent, v.amount, "deposit", {
              signature: v.signature,
              note: `payment for job_id ${jobId}, which another agent used first: credited`,
            });
            credited += v.amount;
          });
        }
      } catch (e) {
        // Rate limited or RPC down: the answer stays JOB_ID_TAKEN; the payment is swept later (WATT_UNMATCHED_GRACE_S).
        if (!(e instanceof ServiceError)) this.log.error({ err: (e as Error).message }, "crediting a payment for a taken job_id failed");
      }
    }
    return errorAnswer(
      new ServiceError(
        "JOB_ID_TAKEN",
        `job_id ${jobId} is already taken; use a new job_id${credited > 0n ? ": your payment with this memo was credited to your prepaid balance" : ""}`,
        409,
        credited > 0n ? { watt_credited: this.watt(credited) } : {},
      ),
      jobId,
    );
  }

  private replay(j: JobRow, name: string, requestHash: string): JobAnswer {
    if (j.service !== name || j.request_hash !== requestHash) {
      return errorAnswer(
        new ServiceError("JOB_ID_CONFLICT", `job_id ${j.job_id} was already used for a different request; use a new job_id`, 409),
        j.job_id,
      );
    }
    if (j.state === "running" || j.response === null) {
      return errorAnswer(
        new ServiceError("JOB_IN_PROGRESS", "this job is running; retry to get its result", 409, { retry_after_s: 1 }),
        j.job_id,
      );
    }
    return { status: j.http_status ?? 200, headers: { "x-job-replayed": "true" }, body: JSON.parse(j.response) };
  }

  /**
   * THE x402 PATH: limits that do not depend on the payer first (no RPC for a refused request), then
   * the payment is verified and settled on chain (payments/x402.ts) and the job runs as the payer's,
   * paid by that transfer; every answer after settlement carries PAYMENT-RESPONSE.
   */
  private async payX402AndRun(
    service: AnyService,
    req: { job_id: string },
    requestHash: string,
    price: bigint,
    ctx: RequestContext,
    p: PaymentPayload,
  ): Promise<JobAnswer> {
    let paid: Awaited<ReturnType<X402Solana["pay"]>>;
    try {
      const x402 = await this.admitX402(service, req, p, this.opts.x402);
      paid = await x402.pay(p, { jobId: req.job_id, service: service.name, requestHash, price, ip: ctx.clientIp });
    } catch (e) {
      return this.with402(errorAnswer(asServiceError(e, this.log), req.job_id), ctx, service.name, price, req.job_id);
    }
    const a = await this.payAndRun(service, req, requestHash, paid.transfer.payer, ctx, { kind: "svm", ...paid });
    return { ...a, headers: { ...a.headers, "payment-response": paymentResponseHeader(paid.settlement) } };
  }

  /**
   * Before an x402 payment is touched: its network must be one this keeper offers (`payer` set), and
   * the rate limits must hold. Returns the payer for that network.
   */
  private async admitX402<T>(service: AnyService, req: { job_id: string }, p: PaymentPayload, payer: T | undefined): Promise<T> {
    if (!payer)
      throw new ServiceError(
        "X402_PAYMENT_INVALID",
        `x402 payment refused: network ${p.accepted.network} is not offered; nothing was charged`,
        402,
        { reason: "wrong_network" },
      );
    const l = this.opts.limits;
    await this.limiter.check([
      { key: `global:${service.name}`, max: l.globalPerHour },
      ...(service.rateLimitKeys?.(req) ?? []).map((key) => ({ key, max: l.urlPerHour })),
    ]);
    return payer;
  }

  private with402(a: JobAnswer, ctx: RequestContext, name: string, price: bigint, jobId: string): JobAnswer {
    return a.status === 402 ? { ...a, headers: { ...a.headers, ...this.paymentRequired(ctx, name, price, jobId) } } : a;
  }

  /**
   * x402 on EVM: the USDC authorization is checked and recorded before the job; the job runs as the
   * payer's (WATT price 0: USDC is not WATT, the conservation of WATT is untouched); it is settled
   * after the job only when the job is charged, else released. The result is delivered only once
   * the USDC moved (X402_SETTLEMENT_FAILED / _PENDING withhold it).
   */
  private async payX402EvmAndRun(
    service: AnyService,
    req: { job_id: string },
    requestHash: string,
    price: bigint,
    ctx: RequestContext,
    p: PaymentPayload,
  ): Promise<JobAnswer> {
    const jobId = req.job_id;
    let row: SettlementRow;
    try {
      const x402Evm = await this.admitX402(service, req, p, this.opts.x402Evm);
      row = await x402Evm.authorize(p, {
        jobId,
        service: service.name,
        requestHash,
        payloadHash: payloadHashOf(p),
        paymentId: paymentIdOf(p),
        priceWatt: price,
        ip: ctx.clientIp,
      });
      if (row.job_id !== jobId) throw new ServiceError("X402_PAYMENT_ALREADY_USED", "this authorization already paid for another job", 409);
      if (row.state === "failed")
        throw new ServiceError(
          "X402_SETTLEMENT_FAILED",
          `this authorization was not settled (${row.error ?? "refused"}); nothing was charged: sign a new one`,
          402,
        );
      if (row.state !== "pending") throw new ServiceError("X402_PAYMENT_ALREADY_USED", "this authorization was already used", 409);
    } catch (e) {
      return this.with402(errorAnswer(asServiceError(e, this.log), jobId), ctx, service.name, price, jobId);
    }
    const evm = this.opts.x402Evm!;
    const a = await this.payAndRun(service, req, requestHash, row.payer, ctx, { kind: "evm", settlement: row });
    const j = await this.job(jobId);
    const charged = j !== undefined && j.state !== "running" && !("watt_refunded" in a.body);
    if (!charged) {
      await evm.release(row);
      return a;
    }
    const s = await evm.settle(row, p);
    if (s.state === "settled")
      return {
        ...a,
        body: { ...a.body, usdc_charged: Number(s.amount) / 1e6 },
        headers: { ...a.headers, "payment-response": paymentResponseHeader(s) },
      };
    if (s.state === "pending")
      return errorAnswer(
        new ServiceError("X402_SETTLEMENT_PENDING", "the job ran and its USDC settlement was sent; its outcome is not known yet", 503, {
          retry_after_s: 5,
        }),
        jobId,
      );
    return errorAnswer(
      new ServiceError(
        "X402_SETTLEMENT_FAILED",
        `the job ran but the USDC authorization could not be settled (${s.error ?? "refused"}); its result is withheld`,
        402,
      ),
      jobId,
    );
  }

  private async payAndRun(
    service: AnyService,
    req: { job_id: string },
    requestHash: string,
    agent: string,
    ctx: RequestContext,
    x402?: X402Paid,
  ): Promise<JobAnswer> {
    const jobId = req.job_id;
    const name = service.name;
    const l = this.opts.limits;
    const agentLimit: Limit = { key: `agent:${name}:${agent}`, max: l.agentPerHour };
    const limits: Limit[] = [
      { key: `global:${name}`, max: l.globalPerHour },
      ...(service.rateLimitKeys?.(req) ?? []).map((key) => ({ key, max: l.urlPerHour })),
      agentLimit,
    ];
    let price: bigint;
    let payment: VerifiedTransfer | undefined = x402?.kind === "svm" ? x402.transfer : undefined;
    try {
      price = service.price(req);
      if (!x402) {
        // (an x402 payment is settled on chain already: straight to the charge)
        await this.limiter.check(limits); // before any RPC: a refused request costs nothing
        const named = header(ctx.headers, "x-payment-signature");
        if (named !== undefined) payment = await this.namedPayment(named, jobId, agent, ctx);
        else if (isEvmAgent(agent)) {
          // An EVM key never signs a Solana transfer: no memo lookup (no RPC) can find its payment.
          const balance = await balanceOf(this.store, agent);
          if (balance < price)
            throw new ServiceError(
              "PAYMENT_INSUFFICIENT",
              `an EVM-signed request pays from its prepaid balance (${this.watt(balance)} WATT, below the price ${this.watt(price)} WATT); pay this job by x402 instead (unsigned, PAYMENT-SIGNATURE)`,
              402,
              { balance: this.watt(balance), price: this.watt(price) },
            );
        } else if (this.verifier) {
          const balance = await balanceOf(this.store, agent);
          if (balance < price)
            payment = await this.memoPayment(jobId, agent, ctx, { balance: this.watt(balance), price: this.watt(price) });
        }
      }
    } catch (e) {
      return errorAnswer(asServiceError(e, this.log), jobId);
    }

    let underpaid = false;
    let fromGranted = 0n;
    try {
      await this.store.tx(async () => {
        if (await this.job(jobId))
          throw new ServiceError("JOB_IN_PROGRESS", "a request for this job_id is being processed", 409, { retry_after_s: 1 });
        await this.limiter.check(limits);
        if (payment) {
          if (await this.store.ledger.isSignatureUsed(payment.signature))
            throw new ServiceError("PAYMENT_ALREADY_USED", "this payment was already counted; a transfer pays for one job only", 409);
          await recordPayment(this.store, { ...payment, payer: agent }, "job", agent);
          if (payment.amount < price) {
            await credit(this.store, agent, payment.amount, "excess", {
              jobId,
              signature: payment.signature,
              note: "underpayment credited",
            });
            underpaid = true;
            return;
          }
          await credit(this.store, agent, payment.amount - price, "excess", {
            jobId,
            signature: payment.signature,
            note: "overpayment credited",
          });
        } else if (x402?.kind !== "evm") {
          fromGranted = await charge(this.store, agent, price, jobId, this.watt);
        }
        // A USDC-paid (x402 EVM) job costs no WATT: price 0 in WATT, its USDC in x402_settlements.
        await this.store.jobs.start({
          jobId,
          service: name,
          requestHash,
          agent,
          payment: payment || x402 ? "onchain" : "prepaid",
          signature: payment?.signature ?? null,
          price: x402?.kind === "evm" ? 0n : price,
          chargedGranted: fromGranted,
        });
        await this.limiter.record(limits.map((x) => x.key));
      });
    } catch (e) {
      if (x402?.kind === "svm") return await this.creditSettled(x402, asServiceError(e, this.log), jobId);
      return errorAnswer(asServiceError(e, this.log), jobId);
    }
    if (underpaid) {
      return errorAnswer(
        new ServiceError(
          "PAYMENT_INSUFFICIENT",
          `payment of ${this.watt(payment!.amount)} WATT is below the price ${this.watt(price)} WATT; it was credited to your prepaid balance: sign a request to use it, or pay the full price with a new job_id`,
          402,
          {
            paid: this.watt(payment!.amount),
            price: this.watt(price),
          },
        ),
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
    const row = (await this.job(jobId))!;
    return this.settle(row, result, failure);
  }

  /**
   * An x402 payment that settled but cannot pay for its job (e.g. the payer's hourly limit was
   * reached meanwhile): the money moved, so it goes to the payer's prepaid balance, once.
   */
  private async creditSettled(
    x402: { transfer: VerifiedTransfer; settlement: SettlementRow },
    why: ServiceError,
    jobId: string,
  ): Promise<JobAnswer> {
    const t = x402.transfer;
    let credited = false;
    await this.store.tx(async () => {
      if (await this.store.ledger.isSignatureUsed(t.signature)) return;
      await recordPayment(this.store, t, "deposit", t.payer);
      await credit(this.store, t.payer, t.amount, "deposit", {
        signature: t.signature,
        note: `x402 payment for job_id ${jobId}, not run (${why.code}): credited`,
      });
      await this.store.x402.markCredited(x402.settlement.payment_key);
      credited = true;
    });
    return errorAnswer(why, jobId, credited ? { watt_charged: 0, watt_credited: this.watt(t.amount) } : { watt_charged: 0 });
  }

  private notConfigured = () =>
    new ServiceError("PAYMENT_NOT_FOUND", "WATT payments on Solana are not configured on this service; pay from a prepaid balance", 402);

  /** X-Payment-Signature on a signed request: one getTransaction; the transfer must be the agent's. */
  private async namedPayment(signature: string, jobId: string, agent: string, ctx: RequestContext): Promise<VerifiedTransfer> {
    if (!this.verifier) throw this.notConfigured();
    if (await this.store.ledger.isSignatureUsed(signature))
      throw new ServiceError("PAYMENT_ALREADY_USED", `transaction ${signature} was already counted; a transfer pays for one job only`, 409);
    this.takeLookup(ctx.clientIp);
    const v = await this.verifier.check(signature, jobId);
    if (!v.authorities.includes(agent)) throw notYours(signature);
    return v;
  }

  /** The memo lookup for a signed request whose balance does not cover the price. */
  private async memoPayment(
    jobId: string,
    agent: string,
    ctx: RequestContext,
    figures: { balance: number; price: number },
  ): Promise<VerifiedTransfer> {
    let found: Awaited<ReturnType<JobPipeline["lookupMemo"]>>;
    try {
      found = await this.lookupMemo(jobId, ctx);
    } catch (e) {
      if (e instanceof ServiceError && e.code === "PAYMENT_NOT_FOUND")
        throw new ServiceError(e.code, e.message, e.httpStatus, { ...e.details, ...figures });
      throw e;
    }
    const mine = found.verified.find((v) => v.authorities.includes(agent));
    if (mine) return mine;
    if (found.verified.length) throw notYours();
    if (found.rejected.length) throw found.rejected[0];
    if (found.used) throw new ServiceError("PAYMENT_ALREADY_USED", `the payment with memo "${jobId}" was already counted`, 409);
    const e = pendingError(jobId);
    throw new ServiceError(
      e.code,
      `${e.message} (your prepaid balance, ${figures.balance} WATT, is below the price ${figures.price} WATT)`,
      e.httpStatus,
      { ...e.details, ...figures },
    );
  }

  /**
   * getSignaturesForAddress for a memo, at most once per job_id per WATT_MEMO_NEGATIVE_TTL_S when it
   * finds nothing, and at most PAYMENT_LOOKUPS_PER_MIN per client address.
   */
  private async lookupMemo(jobId: string, ctx: RequestContext): ReturnType<WattVerifier["findByMemo"]> {
    const t = Date.now();
    const until = this.negative.get(jobId);
    if (until !== undefined && until > t) {
      const e = pendingError(jobId);
      throw new ServiceError(e.code, e.message, e.httpStatus, { ...e.details, retry_after_s: Math.max(1, Math.ceil((until - t) / 1000)) });
    }
    this.takeLookup(ctx.clientIp);
    const found = await this.verifier!.findByMemo(jobId, (s) => this.store.ledger.isSignatureUsed(s));
    if (found.verified.length === 0 && found.rejected.length === 0 && found.used === 0 && this.opts.negativeTtlS > 0) {
      this.negative.set(jobId, Date.now() + this.opts.negativeTtlS * 1000);
      if (this.negative.size > 100_000) for (const [k, v] of this.negative) if (v <= t) this.negative.delete(k);
    }
    return found;
  }

  /**
   * Writes the outcome, charge or refund, burn share and answer in one transaction (idempotent). The
   * burn share of the part paid from granted WATT is owed by the operator (burn_owed), not burned.
   */
  private async settle(j: JobRow, result: Record<string, unknown> | undefined, failure: ServiceError | undefined): Promise<JobAnswer> {
    const price = BigInt(j.price);
    const refund = failure !== undefined && failure.details?.refund === true;
    const charged = refund ? 0n : price;
    const granted = BigInt(j.charged_granted ?? "0");
    const chargedGranted = refund ? 0n : granted;
    const burned = burnOf(charged);
    const burnOwed = burned - burnOf(charged - chargedGranted);
    const answer: JobAnswer = failure
      ? errorAnswer(failure, j.job_id, {
          watt_charged: this.watt(charged),
          watt_burned: this.watt(burned),
          ...(refund ? { watt_refunded: this.watt(price) } : {}),
        })
      : {
          status: 200,
          headers: {},
          body: { success: true, job_id: j.job_id, ...result, watt_charged: this.watt(charged), watt_burned: this.watt(burned) },
        };
    const text = JSON.stringify(answer.body);
    const settled = await this.store.tx(async () => {
      const finished = await this.store.jobs.finish(j.job_id, {
        state: failure ? "failed" : "succeeded",
        charged,
        chargedGranted,
        refunded: price - charged,
        burned,
        burnOwed,
        httpStatus: answer.status,
        response: text,
        outcomeHash: outcomeHash(text),
      });
      if (!finished) return false;
      if (refund)
        await credit(this.store, j.agent, price, "refund", {
          jobId: j.job_id,
          signature: j.signature ?? undefined,
          note: failure!.code,
          granted,
        });
      return true;
    });
    if (!settled) {
      const again = (await this.job(j.job_id))!;
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

const notYours = (signature?: string) =>
  new ServiceError(
    "PAYMENT_NOT_YOURS",
    `${signature ? `transaction ${signature}` : "the payment with this memo"} was not signed by the key that signed this request; a payment pays only for its payer's requests. Nothing was charged or recorded`,
    403,
  );

function asServiceError(e: unknown, log: Logger, fallbackCode = "INTERNAL_ERROR"): ServiceError {
  if (e instanceof ServiceError) return e;
  log.error({ err: (e as Error)?.message }, "job pipeline: unexpected error");
  return new ServiceError(fallbackCode, "internal error; nothing was charged", 500, { refund: true });
}
