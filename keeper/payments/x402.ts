/**
 * x402 version 2 on the paid endpoints (design.md section 5, rail 1), `exact` scheme on Solana:
 *
 * - 402: `PAYMENT-REQUIRED` (base64 JSON) lists what this service accepts for this very job: asset =
 *   the WATT mint, payTo = the service wallet, amount = the job's price in base units, extra.memo =
 *   the request's job_id (so the payment can pay for this job only), extra.feePayer = the wallet that
 *   co-signs and pays the Solana fee (the service wallet when self-facilitated, else the external
 *   facilitator's), and declares the payment-identifier extension (an idempotency key).
 * - retry with `PAYMENT-SIGNATURE`: the payload is checked locally first (version, scheme, network,
 *   asset, payTo, amount, memo, fee payer: no RPC for a payment that cannot be ours), then verified
 *   (the maintained @x402/svm facilitator code: instruction layout, fee payer not a source of funds,
 *   simulation, which also rejects an expired blockhash), recorded as a pending settlement, co-signed
 *   and sent BEFORE the job runs (a job can outlast the blockhash), and confirmed. The transfer is
 *   then read back from chain (payments/verifier.ts: net balance change, memo, authority) and pays
 *   the job like any on-chain WATT payment; the answer carries `PAYMENT-RESPONSE`.
 * - Self-facilitated (the keeper co-signs with WATT_SERVICE_SECRET against SOLANA_RPC_URL) or through
 *   the external facilitator at X402_FACILITATOR_URL (its /verify, /settle, /supported).
 *
 * Settlement is durable (store/x402.ts): the payment's key is sha256 of the transaction message, so
 * the same payment sent twice, at once or after a timeout, is one settlement. A 'pending' settlement
 * (sent, outcome unknown) is resolved from chain: the transaction landed -> settled; its blockhash
 * expired without it landing -> failed (it never can); otherwise it is sent again (same bytes, same
 * signature: Solana runs it at most once). Never a second charge; and a payment that lands while its
 * request was lost is seen by the deposit scan and credited to the payer after WATT_UNMATCHED_GRACE_S.
 */
import crypto from "node:crypto";
import { Connection, Keypair, PublicKey, VersionedTransaction } from "@solana/web3.js";
import { encodeBase58 } from "ethers";
import type * as SolanaKit from "@solana/kit";
import type * as X402Svm from "@x402/svm";
import type * as X402SvmFacilitator from "@x402/svm/exact/facilitator";
import type { ExactSvmScheme as ExactSvmFacilitator } from "@x402/svm/exact/facilitator";
import type * as X402Http from "@x402/core/http";
import type { HTTPFacilitatorClient } from "@x402/core/http";
import type { PaymentPayload, PaymentRequired, PaymentRequirements, SettleResponse, VerifyResponse } from "@x402/core/types";
import type * as PaymentIdentifier from "@x402/extensions/payment-identifier";
import type { Logger } from "pino";
import { ServiceError } from "../services/jobService";
import type { Store } from "../store/store";
import type { SettlementRow } from "../store/x402";
import { VerifiedTransfer, WattVerifier } from "./verifier";
import { WindowLimiter } from "../jobs/rateLimiter";

// The x402 libraries are loaded on first use (about 1.5 s of module loading): a keeper CLI command
// or a keeper without x402 never pays for them.
/* eslint-disable @typescript-eslint/no-require-imports */
const lib = {
  http: () => require("@x402/core/http") as typeof X402Http,
  svm: () => require("@x402/svm") as typeof X402Svm,
  svmFacilitator: () => require("@x402/svm/exact/facilitator") as typeof X402SvmFacilitator,
  kit: () => require("@solana/kit") as typeof SolanaKit,
  paymentId: () => require("@x402/extensions/payment-identifier") as typeof PaymentIdentifier,
};
/* eslint-enable @typescript-eslint/no-require-imports */
const PAYMENT_IDENTIFIER = "payment-identifier";

// A facilitator's refusal (HTTPFacilitatorClient's VerifyError / SettleError: each bundle of
// @x402/core has its own copy of these classes, so they are recognised by shape, not instanceof).
const isVerifyError = (e: unknown): e is { invalidReason?: string; invalidMessage?: string } =>
  e instanceof Error && typeof (e as { statusCode?: unknown }).statusCode === "number" && "invalidReason" in e;
const isSettleError = (e: unknown): e is { errorReason?: string; transaction?: string; network?: string } =>
  e instanceof Error && typeof (e as { statusCode?: unknown }).statusCode === "number" && "errorReason" in e;

export const X402_VERSION = 2;
/** Solana mainnet-beta, devnet (CAIP-2: the first 32 characters of the genesis hash). */
export const SOLANA_MAINNET = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp";
export const SOLANA_DEVNET = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1";
const MAX_HEADER_BYTES = 16 * 1024;

export interface X402Settings {
  network: string;
  mint: PublicKey;
  payTo: PublicKey;
  rpcUrl: string;
  /** Self-facilitation: the service wallet's key (co-signs as fee payer). */
  feePayer?: Keypair;
  /** External facilitator (its fee payer is read from /supported). */
  facilitatorUrl?: string;
  maxTimeoutSeconds: number;
  /** Verifications (the RPC-costing step) per client IP and minute. */
  verifyPerIpPerMinute: number;
}

export interface X402Payment {
  transfer: VerifiedTransfer;
  settlement: SettlementRow;
}

const malformed = (why: string) => new ServiceError("X402_PAYMENT_MALFORMED", `PAYMENT-SIGNATURE: ${why}`, 400);
const invalid = (why: string, details: Record<string, unknown> = {}) =>
  new ServiceError("X402_PAYMENT_INVALID", `x402 payment refused: ${why}; nothing was charged`, 402, details);

const sha256 = (x: string | Uint8Array) => crypto.createHash("sha256").update(x).digest("hex");

/** Canonical JSON (sorted keys) for the payload hash: the same payment in another key order is the same payload. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object")
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v);
}

/** Decodes a PAYMENT-SIGNATURE header (base64 JSON of a v2 PaymentPayload); X402_PAYMENT_MALFORMED on anything else. */
export function decodePaymentHeader(value: string): PaymentPayload {
  if (value.length > MAX_HEADER_BYTES) throw malformed(`longer than ${MAX_HEADER_BYTES} bytes`);
  if (!/^[A-Za-z0-9+/=_-]+$/.test(value.trim())) throw malformed("not base64");
  let p: unknown;
  try {
    p = JSON.parse(Buffer.from(value.trim(), "base64").toString("utf8"));
  } catch {
    throw malformed("not base64-encoded JSON");
  }
  const o = p as Partial<PaymentPayload>;
  if (!o || typeof o !== "object" || Array.isArray(o)) throw malformed("not a JSON object");
  if (o.x402Version !== X402_VERSION) throw malformed(`x402Version must be ${X402_VERSION}`);
  const a = o.accepted as Partial<PaymentRequirements> | undefined;
  if (
    !a ||
    typeof a !== "object" ||
    typeof a.scheme !== "string" ||
    typeof a.network !== "string" ||
    typeof a.asset !== "string" ||
    typeof a.amount !== "string" ||
    typeof a.payTo !== "string"
  ) {
    throw malformed("accepted: the payment requirements chosen from PAYMENT-REQUIRED are missing or incomplete");
  }
  if (!o.payload || typeof o.payload !== "object") throw malformed("payload: missing");
  if (o.extensions !== undefined && (typeof o.extensions !== "object" || o.extensions === null))
    throw malformed("extensions: not an object");
  return o as PaymentPayload;
}

/** The payment-identifier extension's id, validated (X402_PAYMENT_MALFORMED when present but invalid). */
export function paymentIdOf(p: PaymentPayload): string | null {
  const ext = p.extensions?.[PAYMENT_IDENTIFIER] as { info?: { id?: unknown } } | undefined;
  if (ext === undefined) return null;
  const id = ext?.info?.id;
  if (id === undefined) return null;
  if (typeof id !== "string" || !lib.paymentId().isValidPaymentId(id))
    throw malformed("extensions.payment-identifier.info.id: 16-128 characters of [A-Za-z0-9_-]");
  return id;
}

export class X402Solana {
  private facilitator?: ExactSvmFacilitator;
  private remote?: HTTPFacilitatorClient;
  private remoteFeePayer?: Promise<string>;
  private knownRemoteFeePayer?: string;
  private readonly perIp = new WindowLimiter(60_000);

  constructor(
    private readonly store: Store,
    private readonly verifier: WattVerifier,
    readonly settings: X402Settings,
    private readonly log: Logger,
  ) {
    if (!settings.feePayer && !settings.facilitatorUrl)
      throw new Error("x402 on Solana needs WATT_SERVICE_SECRET (self-facilitated) or X402_FACILITATOR_URL");
    if (settings.facilitatorUrl) this.remote = new (lib.http().HTTPFacilitatorClient)({ url: settings.facilitatorUrl, timeoutMs: 60_000 });
    if (this.remote) this.feePayer().catch(() => undefined); // asked once at start; the 402s need it without a call
  }

  private get connection(): Connection {
    return this.verifier.connection;
  }

  /** The fee payer named in extra.feePayer: ours, or the facilitator's from its /supported (asked once). */
  async feePayer(): Promise<string> {
    if (!this.remote) return this.settings.feePayer!.publicKey.toBase58();
    this.remoteFeePayer ??= this.remote.getSupported().then((s) => {
      const kind = s.kinds.find((k) => k.x402Version === X402_VERSION && k.scheme === "exact" && k.network === this.settings.network);
      const fp = (kind?.extra as { feePayer?: unknown } | undefined)?.feePayer;
      if (typeof fp !== "string") throw new Error(`the facilitator does not support exact on ${this.settings.network}`);
      this.knownRemoteFeePayer = fp;
      return fp;
    });
    return this.remoteFeePayer.catch((e) => {
      this.remoteFeePayer = undefined;
      throw new ServiceError(
        "PAYMENT_UNAVAILABLE",
        `x402 facilitator unavailable (${(e as Error).message.slice(0, 160)}); retry later`,
        503,
        { retry_after_s: 5 },
      );
    });
  }

  /** The fee payer without waiting (undefined while the facilitator's is not known yet). */
  private feePayerNow(): string | undefined {
    if (!this.remote) return this.settings.feePayer!.publicKey.toBase58();
    if (!this.knownRemoteFeePayer) this.feePayer().catch(() => undefined);
    return this.knownRemoteFeePayer;
  }

  /** What this service accepts for one job (one entry of accepts[]). */
  async requirement(jobId: string, price: bigint): Promise<PaymentRequirements> {
    return this.requirementWith(await this.feePayer(), jobId, price);
  }

  private requirementWith(feePayer: string, jobId: string, price: bigint): PaymentRequirements {
    return {
      scheme: "exact",
      network: this.settings.network as PaymentRequirements["network"],
      asset: this.settings.mint.toBase58(),
      amount: price.toString(),
      payTo: this.settings.payTo.toBase58(),
      maxTimeoutSeconds: this.settings.maxTimeoutSeconds,
      extra: { feePayer, memo: jobId },
    };
  }

  private async localFacilitator(): Promise<ExactSvmFacilitator> {
    if (!this.facilitator) {
      const signer = await lib.kit().createKeyPairSignerFromBytes(this.settings.feePayer!.secretKey);
      this.facilitator = new (lib.svmFacilitator().ExactSvmScheme)(
        lib.svm().toFacilitatorSvmSigner(signer, { defaultRpcUrl: this.settings.rpcUrl }),
      );
    }
    return this.facilitator;
  }

  private async verify(p: PaymentPayload, req: PaymentRequirements): Promise<VerifyResponse> {
    if (this.remote) return this.remote.verify(p, req);
    return (await this.localFacilitator()).verify(p, req);
  }

  private async settleOnce(p: PaymentPayload, req: PaymentRequirements): Promise<SettleResponse> {
    if (this.remote) return this.remote.settle(p, req);
    return (await this.localFacilitator()).settle(p, req);
  }

  /**
   * Pays for job `jobId` (priced `price`) with the PAYMENT-SIGNATURE payload `p`: checked, verified,
   * settled on chain (or an earlier settlement of the same payment resumed) and read back.
   */
  async pay(
    p: PaymentPayload,
    job: { jobId: string; service: string; requestHash: string; price: bigint; ip: string },
  ): Promise<X402Payment> {
    const req = await this.requirement(job.jobId, job.price);
    const a = p.accepted;
    // Local checks: a payment that is not for this job at this service costs no RPC call.
    if (a.scheme !== "exact") throw invalid(`scheme ${JSON.stringify(a.scheme)} is not offered (exact)`);
    if (a.network !== req.network) throw invalid(`network ${a.network} is not ${req.network}`, { reason: "wrong_network" });
    if (a.asset !== req.asset) throw invalid(`asset ${a.asset} is not the WATT mint ${req.asset}`, { reason: "wrong_asset" });
    if (a.payTo !== req.payTo) throw invalid(`payTo ${a.payTo} is not the service wallet ${req.payTo}`, { reason: "wrong_recipient" });
    if (a.amount !== req.amount)
      throw invalid(`amount ${a.amount} is not this job's price ${req.amount} (base units)`, { reason: "wrong_amount" });
    if ((a.extra as { memo?: unknown } | undefined)?.memo !== job.jobId)
      throw invalid(`extra.memo must be this request's job_id ${JSON.stringify(job.jobId)}`, { reason: "wrong_memo" });
    if ((a.extra as { feePayer?: unknown } | undefined)?.feePayer !== (req.extra as { feePayer: string }).feePayer)
      throw invalid("extra.feePayer is not this service's fee payer", { reason: "wrong_fee_payer" });
    const txText = (p.payload as { transaction?: unknown }).transaction;
    if (typeof txText !== "string" || txText.length > MAX_HEADER_BYTES) throw malformed("payload.transaction: a base64 Solana transaction");
    let tx: VersionedTransaction;
    try {
      tx = VersionedTransaction.deserialize(Buffer.from(txText, "base64"));
    } catch {
      throw malformed("payload.transaction: not a serialized Solana transaction");
    }
    const message = tx.message.serialize();
    const key = `svm:${sha256(message)}`;
    const paymentId = paymentIdOf(p);
    const payloadHash = sha256(canonical({ accepted: p.accepted, payload: p.payload }));

    let row = await this.store.x402.byKey(key);
    if (!row) {
      this.perIp.take(`x402:${job.ip}`, this.settings.verifyPerIpPerMinute, "x402 payment verifications");
      const requirements = req;
      let v: VerifyResponse;
      try {
        v = await this.verify({ ...p, accepted: requirements }, requirements);
      } catch (e) {
        if (!isVerifyError(e)) throw unavailable("verify", e);
        v = { isValid: false, invalidReason: e.invalidReason ?? "invalid", invalidMessage: e.invalidMessage } as VerifyResponse;
      }
      if (!v.isValid)
        throw invalid(
          `the transaction does not verify (${String(v.invalidReason ?? "invalid")}${v.invalidMessage ? `: ${String(v.invalidMessage).slice(0, 160)}` : ""})`,
          { reason: v.invalidReason },
        );
      const feePayerKey = tx.message.staticAccountKeys[0];
      const txSignature =
        this.settings.feePayer && feePayerKey.equals(this.settings.feePayer.publicKey)
          ? encodeBase58(ed25519Sign(this.settings.feePayer, message))
          : null;
      const clash = await this.store.x402.insertPending({
        payment_key: key,
        rail: "svm",
        network: req.network,
        job_id: job.jobId,
        service: job.service,
        request_hash: job.requestHash,
        payer: v.payer ?? "",
        asset: req.asset,
        amount: req.amount,
        payload_hash: payloadHash,
        payment_id: paymentId,
        tx_signature: txSignature,
        valid_until: null,
      });
      if (clash) return this.resume(clash, key, p, requirements, job.jobId);
      row = (await this.store.x402.byKey(key))!;
      await this.trySettle(row, p, requirements);
      return this.resume((await this.store.x402.byKey(key))!, key, p, requirements, job.jobId);
    }
    return this.resume(row, key, p, req, job.jobId);
  }

  /** Sends the settlement; a clear refusal marks it failed, an unknown outcome leaves it pending. */
  private async trySettle(row: SettlementRow, p: PaymentPayload, req: PaymentRequirements, retry = false): Promise<void> {
    let s: SettleResponse;
    try {
      s = await this.settleOnce({ ...p, accepted: req }, req);
    } catch (e) {
      if (isSettleError(e)) {
        // A clear refusal from the facilitator (not a lost answer).
        s = {
          success: false,
          errorReason: e.errorReason ?? "settlement refused",
          transaction: e.transaction ?? "",
          network: e.network,
        } as SettleResponse;
        return retry ? undefined : this.decideRefused(row, s);
      }
      this.log.warn(
        { job: row.job_id, err: (e as Error).message.replace(/https?:\/\/\S+/g, "<url>").slice(0, 200) },
        "x402 settlement outcome unknown; left pending",
      );
      return;
    }
    if (s.success && s.transaction) {
      await this.store.x402.decide(row.payment_key, "settled", { txSignature: s.transaction });
      return;
    }
    // A second attempt may be refused because the first one landed: only the blockhash's expiry decides then.
    if (!retry) await this.decideRefused(row, s);
  }

  private async decideRefused(row: SettlementRow, s: SettleResponse): Promise<void> {
    // Refused: did it land anyway (e.g. confirmation timed out after sending)?
    if (row.tx_signature && (await this.landed(row.tx_signature))) {
      await this.store.x402.decide(row.payment_key, "settled");
      return;
    }
    await this.store.x402.decide(row.payment_key, "failed", { error: String(s.errorReason ?? "settlement refused").slice(0, 200) });
  }

  private async landed(signature: string): Promise<boolean> {
    const st = await this.connection.getSignatureStatuses([signature], { searchTransactionHistory: true }).catch(() => undefined);
    const s = st?.value[0];
    return !!s && s.err === null && (s.confirmationStatus === "confirmed" || s.confirmationStatus === "finalized");
  }

  /** Carries a settlement row to its outcome for this request. */
  private async resume(row: SettlementRow, key: string, p: PaymentPayload, req: PaymentRequirements, jobId: string): Promise<X402Payment> {
    if (row.payment_key !== key) {
      if (row.job_id === jobId)
        throw new ServiceError(
          "X402_PAYMENT_ALREADY_USED",
          `job ${jobId} is already paid by another x402 payment; nothing was charged for this one`,
          409,
        );
      throw new ServiceError("X402_IDEMPOTENCY_CONFLICT", "this payment-identifier was already used for a different payment", 409);
    }
    if (row.job_id !== jobId) throw new ServiceError("X402_PAYMENT_ALREADY_USED", "this payment already paid for another job", 409);
    if (row.state === "pending") {
      await this.recover(row, p, req);
      row = (await this.store.x402.byKey(key))!;
    }
    if (row.state === "pending") {
      throw new ServiceError(
        "X402_SETTLEMENT_PENDING",
        "the payment was sent to Solana and its outcome is not known yet; retry the same request (it will not be charged twice)",
        503,
        { retry_after_s: 2 },
      );
    }
    if (row.state === "failed")
      throw new ServiceError(
        "X402_SETTLEMENT_FAILED",
        `the payment could not be settled (${row.error ?? "refused"}); nothing was charged: pay again with a fresh transaction`,
        402,
        { reason: row.error },
      );
    if (row.state === "credited") {
      throw new ServiceError(
        "X402_PAYMENT_CREDITED",
        `this payment landed but its job did not run; it was credited to the prepaid balance of ${row.payer}: sign a request with that wallet to use it`,
        409,
      );
    }
    const transfer = await this.verifier.check(row.tx_signature!, jobId);
    return { transfer, settlement: row };
  }

  /** A pending settlement: landed -> settled; blockhash expired without landing -> failed; else sent again. */
  private async recover(row: SettlementRow, p: PaymentPayload, req: PaymentRequirements): Promise<void> {
    if (row.tx_signature) {
      if (await this.landed(row.tx_signature)) {
        await this.store.x402.decide(row.payment_key, "settled");
        return;
      }
    } else {
      const found = await this.verifier.findByMemo(row.job_id, () => false).catch(() => undefined);
      const hit = found?.verified[0];
      if (hit) {
        await this.store.x402.decide(row.payment_key, "settled", { txSignature: hit.signature });
        return;
      }
    }
    const tx = VersionedTransaction.deserialize(Buffer.from(String((p.payload as { transaction: string }).transaction), "base64"));
    const valid = await this.connection
      .isBlockhashValid(tx.message.recentBlockhash, { commitment: "confirmed" })
      .then((r) => r.value)
      .catch(() => undefined);
    if (valid === false) {
      // Checked once more: it could have landed just before the blockhash expired.
      if (row.tx_signature && (await this.landed(row.tx_signature))) await this.store.x402.decide(row.payment_key, "settled");
      else await this.store.x402.decide(row.payment_key, "failed", { error: "blockhash expired before the transaction landed" });
      return;
    }
    if (valid === true) await this.trySettle(row, p, req, true);
  }

  /** This rail's accepts[] entry for one job (no RPC, no wait); undefined while an external facilitator's fee payer is unknown. */
  requirementNow(jobId: string, price: bigint): PaymentRequirements | undefined {
    const feePayer = this.feePayerNow();
    return feePayer ? this.requirementWith(feePayer, jobId, price) : undefined;
  }
}

/** PAYMENT-REQUIRED (base64 JSON, x402 v2) offering `accepts` for one resource; declares payment-identifier. */
export function paymentRequiredHeader(accepts: PaymentRequirements[], resourceUrl: string, description: string): string {
  const required: PaymentRequired = {
    x402Version: X402_VERSION,
    error: "PAYMENT-SIGNATURE header is required",
    resource: { url: resourceUrl, description, mimeType: "application/json" },
    accepts,
    extensions: { [PAYMENT_IDENTIFIER]: lib.paymentId().declarePaymentIdentifierExtension(false) },
  };
  return lib.http().encodePaymentRequiredHeader(required);
}

/** PAYMENT-RESPONSE (base64 JSON SettleResponse) for a settled payment. */
export function paymentResponseHeader(s: SettlementRow): string {
  return lib.http().encodePaymentResponseHeader({
    success: true,
    transaction: s.tx_signature ?? "",
    network: s.network as SettleResponse["network"],
    payer: s.payer,
  });
}

function ed25519Sign(k: Keypair, message: Uint8Array): Uint8Array {
  const key = crypto.createPrivateKey({
    key: {
      kty: "OKP",
      crv: "Ed25519",
      d: Buffer.from(k.secretKey.subarray(0, 32)).toString("base64url"),
      x: Buffer.from(k.secretKey.subarray(32, 64)).toString("base64url"),
    },
    format: "jwk",
  });
  return crypto.sign(null, message, key);
}

function unavailable(what: string, e: unknown): ServiceError {
  if (e instanceof ServiceError) return e;
  return new ServiceError(
    "PAYMENT_UNAVAILABLE",
    `x402 ${what} failed (${(e as Error).message.replace(/https?:\/\/\S+/g, "<url>").slice(0, 160)}); nothing was charged, retry later`,
    503,
    { retry_after_s: 5 },
  );
}

/** The payload's hash as stored (for the idempotency check of a repeated payment-identifier). */
export const payloadHashOf = (p: PaymentPayload): string => sha256(canonical({ accepted: p.accepted, payload: p.payload }));
