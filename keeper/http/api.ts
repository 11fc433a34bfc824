/**
 * The paid APIs of design.md section 5 on the keeper's HTTP server:
 *   POST /api/v1/scrape, POST /api/v1/execute   (the job pipeline: keeper/jobs/pipeline.ts)
 *   GET  /api/v1/jobs/:job_id                   (signed by the job's agent: the full record; else the
 *                                                public view: state, prices, outcome hash, Merkle proof)
 *   GET  /api/v1/balance                        (signed by the agent: its prepaid balance and ledger)
 *   GET  /api/v1/service                        (the service id signed requests name, wallet, mint, prices)
 *   POST /api/v1/deposits {signature}           (signed: claim a deposit by its transaction; idempotent)
 * Every error answer is `{ success: false, error, code }`; malformed input of any kind is a 4xx
 * (INVALID_REQUEST naming the field), never a 500.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ServiceError } from "../services/jobService";
import type { JobsRuntime } from "../jobs/runtime";
import { errorAnswer, JobAnswer } from "../jobs/pipeline";
import { verifyAgentRequest } from "../payments/agentAuth";
import { balanceOf } from "../payments/ledger";
import { toWatt } from "../payments/watt";

declare module "fastify" {
  interface FastifyRequest {
    rawBody?: string;
  }
}

const send = (reply: FastifyReply, a: JobAnswer) => reply.code(a.status).headers(a.headers).send(a.body);

export function mountApi(app: FastifyInstance, rt: JobsRuntime): void {
  // Keep the raw text: a signed request's signature covers the exact bytes.
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
    const text = body as string;
    req.rawBody = text;
    if (text.trim() === "") return done(new ServiceError("INVALID_REQUEST", "body: empty; a JSON object is required", 400), undefined);
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(new ServiceError("INVALID_REQUEST", `body: not valid JSON (${(e as Error).message.slice(0, 120)})`, 400), undefined);
    }
  });
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    if (err instanceof ServiceError) return send(reply, errorAnswer(err));
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    return reply.code(status).send({
      success: false,
      error: status === 500 ? "internal error" : err.message,
      code: status === 500 ? "INTERNAL_ERROR" : "INVALID_REQUEST",
    });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ success: false, error: `no route ${req.method} ${req.url.split("?")[0]}`, code: "NOT_FOUND" }),
  );

  for (const name of rt.services.keys()) {
    app.post(`/api/v1/${name}`, async (req: FastifyRequest, reply) => {
      const a = await rt.pipeline.handle(name, req.body, {
        method: req.method,
        path: req.url,
        rawBody: req.rawBody ?? "",
        headers: req.headers,
        clientIp: req.ip,
      });
      return send(reply, a);
    });
  }

  app.get("/api/v1/service", async (_req, reply) => reply.send({ success: true, ...rt.serviceInfo() }));

  app.get("/api/v1/jobs/:job_id", async (req: FastifyRequest<{ Params: { job_id: string } }>, reply) => {
    let reader: string | undefined;
    try {
      reader = verifyAgentRequest(req.headers, rt.auth, "GET", req.url, "");
    } catch (e) {
      return send(reply, errorAnswer(e as ServiceError));
    }
    const j = await rt.pipeline.job(req.params.job_id);
    if (!j) return send(reply, errorAnswer(new ServiceError("JOB_NOT_FOUND", `no job ${req.params.job_id}`, 404)));
    const w = (x: string) => toWatt(BigInt(x), rt.decimals);
    const proof = await rt.batcher.proof(j.job_id);
    if (reader !== j.agent) {
      // The public view (auditors, anyone else): what the chain holds or the audit needs, nothing of
      // the agent's request, answer or payment.
      return reply.send({
        success: true,
        view: "public",
        job_id: j.job_id,
        service: j.service,
        state: j.state,
        watt_price: w(j.price),
        watt_charged: w(j.charged),
        watt_burned: w(j.burned),
        watt_refunded: w(j.refunded),
        outcome_hash: j.outcome_hash,
        batch: proof ?? null,
      });
    }
    return reply.send({
      success: true,
      view: "agent",
      job_id: j.job_id,
      service: j.service,
      state: j.state,
      agent: j.agent,
      payment: j.payment,
      payment_signature: j.signature,
      watt_price: w(j.price),
      watt_charged: w(j.charged),
      watt_burned: w(j.burned),
      watt_refunded: w(j.refunded),
      created_at: j.created_at,
      finished_at: j.finished_at,
      http_status: j.http_status,
      result: j.response === null ? null : JSON.parse(j.response),
      outcome_hash: j.outcome_hash,
      // null until the job is cut into a batch (JOB_BATCH_SIZE jobs or JOB_BATCH_MAX_AGE_S).
      batch: proof ?? null,
    });
  });

  app.post("/api/v1/deposits", async (req: FastifyRequest, reply) => {
    let agent: string | undefined;
    let signature: string;
    try {
      agent = verifyAgentRequest(req.headers, rt.auth, "POST", req.url, req.rawBody ?? "");
      if (!agent)
        throw new ServiceError(
          "SIGNATURE_REQUIRED",
          "claiming a deposit needs a signed request (X-Agent-Pubkey, X-Agent-Timestamp, X-Agent-Signature)",
          401,
        );
      const body = req.body as { signature?: unknown } | null;
      if (typeof body !== "object" || body === null || typeof body.signature !== "string")
        throw new ServiceError("INVALID_REQUEST", 'body: {"signature": "<base58 transaction signature>"}', 400, {
          problems: ["signature: required string"],
        });
      signature = body.signature;
      if (!rt.deposits) throw new ServiceError("PAYMENT_NOT_FOUND", "WATT payments on Solana are not configured on this service", 402);
      rt.pipeline.takeLookup(req.ip);
      const c = await rt.deposits.claim(signature, agent);
      return reply.send({
        success: true,
        signature: c.signature,
        credited_to: c.credited_to,
        amount: toWatt(c.amount, rt.decimals),
        already_credited: c.already,
        ...(c.note ? { note: c.note } : {}),
        balance: c.credited_to === agent ? toWatt(await balanceOf(rt.store, agent), rt.decimals) : undefined,
      });
    } catch (e) {
      if (e instanceof ServiceError) return send(reply, errorAnswer(e));
      throw e;
    }
  });

  app.get("/api/v1/balance", async (req, reply) => {
    let agent: string | undefined;
    try {
      agent = verifyAgentRequest(req.headers, rt.auth, "GET", req.url, "");
      if (!agent)
        throw new ServiceError(
          "UNAUTHORIZED",
          "sign the request with the agent's key (X-Agent-Pubkey, X-Agent-Timestamp, X-Agent-Signature)",
          401,
        );
      // Each call scans the service account's history (RPC): limited per client address.
      if (rt.deposits) rt.balanceScans.take(`scan:${req.ip}`, rt.balanceScansPerMin, "balance scans");
    } catch (e) {
      return send(reply, errorAnswer(e as ServiceError));
    }
    let scan: string = rt.deposits ? "ok" : "no Solana RPC configured";
    if (rt.deposits)
      await rt.deposits.scan().catch((e: Error) => (scan = `failed: ${e.message.replace(/https?:\/\/\S+/g, "<rpc>").slice(0, 160)}`));
    const ledger = await rt.store.ledger.entries(agent, 50);
    const bal = await balanceOf(rt.store, agent);
    return reply.send({
      success: true,
      agent,
      balance: toWatt(bal, rt.decimals),
      balance_base_units: bal.toString(),
      decimals: rt.decimals,
      deposit_memo: `deposit:${agent}`,
      deposit_scan: scan,
      ledger: ledger.map((l) => ({ ...l, amount: toWatt(BigInt(l.amount), rt.decimals) })),
    });
  });
}
