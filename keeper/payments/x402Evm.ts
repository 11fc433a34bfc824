/**
 * x402 `exact` on EVM (Base eip155:8453, Base Sepolia eip155:84532, the local chain by its own id):
 * USDC by EIP-3009 transferWithAuthorization, written here with ethers (the keeper's EVM library)
 * against X402_EVM_RPC_URL:
 *
 * - PAYMENT-REQUIRED entry: asset = USDC, payTo = X402_EVM_PAY_TO, amount = the job's WATT price x
 *   X402_USDC_PER_WATT (rounded up to a USDC base unit), extra.name / extra.version = the token's
 *   EIP-712 domain read from eip712Domain() (Base's USDC: "USD Coin", "2"; the local one "1").
 * - BEFORE the job: the authorization is checked (to, value, validity window with room for the job,
 *   nonce unused on chain, the typed-data signature recovers `from` (EOA signatures), balance) and
 *   recorded as a pending settlement keyed by chain, token, payer and nonce.
 * - AFTER the job, only when it is charged: transferWithAuthorization is sent from the separate
 *   X402_EVM_SETTLER_KEY wallet (it pays the gas; the key never holds the USDC). A job refunded by its
 *   service releases the authorization unsettled: no USDC moves.
 * - Crash-safe: the settlement transaction is signed locally and its hash stored before it is sent;
 *   a pending settlement is resolved by authorizationState (used -> settled: the signature binds the
 *   payee and amount, so whoever submitted it paid us), else resent while the authorization is valid.
 */
import { Contract, JsonRpcProvider, Signature, Wallet, getAddress, keccak256, verifyTypedData } from "ethers";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import type { Logger } from "pino";
import { ServiceError } from "../services/jobService";
import type { Store } from "../store/store";
import type { SettlementRow } from "../store/x402";
import { WindowLimiter } from "../jobs/rateLimiter";

/** Settlement attempts before an outcome is reported unknown (pending). */
const SETTLE_ATTEMPTS = 3;

const ABI = [
  "function eip712Domain() view returns (bytes1 fields, string name, string version, uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions)",
  "function authorizationState(address authorizer, bytes32 nonce) view returns (bool)",
  "function balanceOf(address) view returns (uint256)",
  "function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, uint8 v, bytes32 r, bytes32 s)",
];

const TYPES = {
  TransferWithAuthorization: [
    { name: "from", type: "address" },
    { name: "to", type: "address" },
    { name: "value", type: "uint256" },
    { name: "validAfter", type: "uint256" },
    { name: "validBefore", type: "uint256" },
    { name: "nonce", type: "bytes32" },
  ],
};

export interface X402EvmSettings {
  rpcUrl: string;
  /** eip155:<chain id>; checked against the RPC's chain id at start. */
  network?: string;
  usdc: string;
  payTo: string;
  settlerKey: string;
  /** USDC per WATT, decimal string ("0.0001": a 100 WATT scrape costs 0.01 USDC). */
  usdcPerWatt: string;
  wattDecimals: number;
  maxTimeoutSeconds: number;
  /** The authorization must stay valid this long after verification (the job runs before settlement). */
  minValidityS: number;
  verifyPerIpPerMinute: number;
}

interface Authorization {
  from: string;
  to: string;
  value: string;
  validAfter: string;
  validBefore: string;
  nonce: string;
}

const malformed = (why: string) => new ServiceError("X402_PAYMENT_MALFORMED", `PAYMENT-SIGNATURE: ${why}`, 400);
const invalid = (why: string, reason: string) =>
  new ServiceError("X402_PAYMENT_INVALID", `x402 payment refused: ${why}; nothing was charged`, 402, { reason });

/** USDC base units (6 decimals) for a WATT price, rounded up. */
export function usdcFor(priceWatt: bigint, usdcPerWatt: string, wattDecimals: number): bigint {
  const m = /^(\d+)(?:\.(\d{1,18}))?$/.exec(usdcPerWatt.trim());
  if (!m) throw new Error(`X402_USDC_PER_WATT: not a decimal number: ${usdcPerWatt}`);
  const frac = (m[2] ?? "").padEnd(18, "0");
  const rate = BigInt(m[1]) * 10n ** 18n + BigInt(frac); // USDC per WATT, 18 decimals
  const num = priceWatt * rate * 10n ** 6n; // base WATT x rate(1e18) x 1e6 USDC units
  const den = 10n ** BigInt(wattDecimals) * 10n ** 18n;
  return (num + den - 1n) / den;
}

export class X402Evm {
  readonly provider: JsonRpcProvider;
  private readonly token: Contract;
  private readonly settler: Wallet;
  private domain?: { name: string; version: string; chainId: bigint; verifyingContract: string };
  private ready?: Promise<void>;
  private readonly perIp = new WindowLimiter(60_000);
  /** Settlements are sent one at a time (the settler's transaction nonces). */
  private queue: Promise<unknown> = Promise.resolve();
  network?: string;

  constructor(
    private readonly store: Store,
    readonly settings: X402EvmSettings,
    private readonly log: Logger,
  ) {
    // cacheTimeout -1: ethers otherwise caches identical calls for 250 ms, and a second settlement
    // within that time would be signed with the first one's (stale) nonce.
    this.provider = new JsonRpcProvider(settings.rpcUrl, undefined, { staticNetwork: false, batchMaxCount: 1, cacheTimeout: -1 });
    this.token = new Contract(settings.usdc, ABI, this.provider);
    this.settler = new Wallet(settings.settlerKey, this.provider);
    this.init().catch(() => undefined);
  }

  /** Reads the token's EIP-712 domain and the chain id once (retried on the next use after a failure). */
  init(): Promise<void> {
    this.ready ??= (async () => {
      const [d, net] = await Promise.all([this.token.eip712Domain(), this.provider.getNetwork()]);
      const network = `eip155:${net.chainId}`;
      if (this.settings.network && this.settings.network !== network)
        throw new Error(`X402_EVM_NETWORK is ${this.settings.network} but X402_EVM_RPC_URL serves ${network}`);
      this.domain = { name: d.name, version: d.version, chainId: net.chainId, verifyingContract: getAddress(this.settings.usdc) };
      this.network = network;
    })().catch((e) => {
      this.ready = undefined;
      this.log.warn(
        { err: (e as Error).message.replace(/https?:\/\/\S+/g, "<rpc>").slice(0, 200) },
        "x402 EVM: token domain not readable yet",
      );
      throw e;
    });
    return this.ready;
  }

  priceOf(priceWatt: bigint): bigint {
    return usdcFor(priceWatt, this.settings.usdcPerWatt, this.settings.wattDecimals);
  }

  /** The accepts[] entry for a job (undefined until the token's domain is known: no RPC here). */
  requirement(priceWatt: bigint): PaymentRequirements | undefined {
    if (!this.domain || !this.network) {
      this.init().catch(() => undefined);
      return undefined;
    }
    return {
      scheme: "exact",
      network: this.network as PaymentRequirements["network"],
      asset: this.domain.verifyingContract,
      amount: this.priceOf(priceWatt).toString(),
      payTo: getAddress(this.settings.payTo),
      maxTimeoutSeconds: this.settings.maxTimeoutSeconds,
      extra: { name: this.domain.name, version: this.domain.version, assetTransferMethod: "eip3009" },
    };
  }

  keyOf(a: Authorization): string {
    return `evm:${this.network}:${this.domain?.verifyingContract.toLowerCase()}:${a.from.toLowerCase()}:${a.nonce.toLowerCase()}`;
  }

  private parse(p: PaymentPayload): { a: Authorization; signature: string } {
    const pl = p.payload as { authorization?: Partial<Authorization>; signature?: unknown };
    const a = pl.authorization;
    const isAddr = (x: unknown) => typeof x === "string" && /^0x[0-9a-fA-F]{40}$/.test(x);
    const isUint = (x: unknown) => typeof x === "string" && /^\d{1,78}$/.test(x);
    if (
      !a ||
      !isAddr(a.from) ||
      !isAddr(a.to) ||
      !isUint(a.value) ||
      !isUint(a.validAfter) ||
      !isUint(a.validBefore) ||
      typeof a.nonce !== "string" ||
      !/^0x[0-9a-fA-F]{64}$/.test(a.nonce)
    ) {
      throw malformed("payload.authorization: from, to, value, validAfter, validBefore, nonce (EIP-3009)");
    }
    if (typeof pl.signature !== "string" || !/^0x[0-9a-fA-F]{130}$/.test(pl.signature))
      throw malformed("payload.signature: a 65-byte hex ECDSA signature");
    return { a: a as Authorization, signature: pl.signature };
  }

  /**
   * Before the job: checks the authorization and records it pending. Returns the settlement row
   * (an existing one for the same authorization is returned as it is, for the caller to resume).
   */
  async authorize(
    p: PaymentPayload,
    job: {
      jobId: string;
      service: string;
      requestHash: string;
      payloadHash: string;
      paymentId: string | null;
      priceWatt: bigint;
      ip: string;
    },
  ): Promise<SettlementRow> {
    await this.init().catch((e) => {
      throw new ServiceError(
        "PAYMENT_UNAVAILABLE",
        `x402 on ${this.settings.network ?? "EVM"} is not available right now (${(e as Error).message.slice(0, 120)}); retry later`,
        503,
        { retry_after_s: 5 },
      );
    });
    const req = this.requirement(job.priceWatt)!;
    const acc = p.accepted;
    if (acc.scheme !== "exact") throw invalid(`scheme ${JSON.stringify(acc.scheme)} is not offered (exact)`, "wrong_scheme");
    if (acc.network !== req.network) throw invalid(`network ${acc.network} is not ${req.network}`, "wrong_network");
    if (getAddress(acc.asset) !== req.asset) throw invalid(`asset ${acc.asset} is not USDC ${req.asset}`, "wrong_asset");
    if (getAddress(acc.payTo) !== req.payTo) throw invalid(`payTo ${acc.payTo} is not ${req.payTo}`, "wrong_recipient");
    if (acc.amount !== req.amount)
      throw invalid(`amount ${acc.amount} is not this job's price ${req.amount} (USDC base units)`, "wrong_amount");
    const { a, signature } = this.parse(p);
    if (getAddress(a.to) !== req.payTo) throw invalid("the authorization pays another address", "wrong_recipient");
    if (a.value !== req.amount) throw invalid(`the authorization is for ${a.value}, the price is ${req.amount}`, "wrong_amount");
    const nowS = Math.floor(Date.now() / 1000);
    if (BigInt(a.validAfter) >= BigInt(nowS)) throw invalid("the authorization is not valid yet (validAfter)", "not_yet_valid");
    if (BigInt(a.validBefore) < BigInt(nowS + this.settings.minValidityS))
      throw invalid(
        `the authorization expires before the job can be settled (validBefore must be at least ${this.settings.minValidityS} s away)`,
        "expired",
      );
    let signer: string;
    try {
      signer = verifyTypedData(
        this.domain!,
        TYPES,
        { ...a, value: BigInt(a.value), validAfter: BigInt(a.validAfter), validBefore: BigInt(a.validBefore) },
        signature,
      );
    } catch {
      throw invalid("the signature does not recover", "invalid_signature");
    }
    if (getAddress(signer) !== getAddress(a.from))
      throw invalid("the authorization is not signed by its from address", "invalid_signature");
    const key = this.keyOf(a);
    const existing = await this.store.x402.byKey(key);
    if (existing) return existing;
    // The RPC-costing checks, limited per client.
    this.perIp.take(`x402evm:${job.ip}`, this.settings.verifyPerIpPerMinute, "x402 payment verifications");
    let used: boolean;
    let balance: bigint;
    try {
      [used, balance] = await Promise.all([
        this.token.authorizationState(a.from, a.nonce) as Promise<boolean>,
        this.token.balanceOf(a.from) as Promise<bigint>,
      ]);
    } catch (e) {
      throw new ServiceError(
        "PAYMENT_UNAVAILABLE",
        `EVM RPC failed (${(e as Error).message.replace(/https?:\/\/\S+/g, "<rpc>").slice(0, 160)}); nothing was charged, retry later`,
        503,
        { retry_after_s: 5 },
      );
    }
    if (used) throw invalid("this authorization's nonce was already used or canceled", "nonce_used");
    if (balance < BigInt(a.value)) throw invalid(`the payer holds ${balance} USDC base units, below ${a.value}`, "insufficient_balance");
    const clash = await this.store.x402.insertPending({
      payment_key: key,
      rail: "evm",
      network: req.network,
      job_id: job.jobId,
      service: job.service,
      request_hash: job.requestHash,
      payer: getAddress(a.from),
      asset: req.asset,
      amount: req.amount,
      payload_hash: job.payloadHash,
      payment_id: job.paymentId,
      tx_signature: null,
      valid_until: Number(a.validBefore),
    });
    return clash ?? (await this.store.x402.byKey(key))!;
  }

  /** After a charged job: transferWithAuthorization from the settler wallet; the row's final state. */
  settle(row: SettlementRow, p: PaymentPayload): Promise<SettlementRow> {
    const next = this.queue.then(() => this.settleNow(row, p));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async settleNow(row: SettlementRow, p: PaymentPayload): Promise<SettlementRow> {
    // A transient failure (a node hiccup, a nonce race) is tried again a few times: each attempt
    // starts from authorizationState, so a transfer that did land is never sent twice.
    for (let attempt = 1; ; attempt++) {
      const now = await this.settleOnce(row, p, attempt === SETTLE_ATTEMPTS);
      if (now.state !== "pending" || attempt === SETTLE_ATTEMPTS) return now;
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    }
  }

  private async settleOnce(row: SettlementRow, p: PaymentPayload, last: boolean): Promise<SettlementRow> {
    const { a, signature } = this.parse(p);
    try {
      if (await this.token.authorizationState(a.from, a.nonce)) {
        await this.store.x402.decide(row.payment_key, "settled");
        return (await this.store.x402.byKey(row.payment_key))!;
      }
      if (Math.floor(Date.now() / 1000) >= Number(a.validBefore)) {
        await this.store.x402.decide(row.payment_key, "failed", { error: "the authorization expired before it was settled" });
        return (await this.store.x402.byKey(row.payment_key))!;
      }
      const sig = Signature.from(signature);
      const data = this.token.interface.encodeFunctionData("transferWithAuthorization", [
        a.from,
        a.to,
        a.value,
        a.validAfter,
        a.validBefore,
        a.nonce,
        sig.v,
        sig.r,
        sig.s,
      ]);
      const req = await this.settler.populateTransaction({ to: this.domain!.verifyingContract, data });
      const raw = await this.settler.signTransaction(req);
      const hash = keccak256(raw);
      await this.store.x402.setTx(row.payment_key, hash);
      const sent = await this.provider.broadcastTransaction(raw);
      const receipt = await sent.wait(1, 60_000);
      if (receipt && receipt.status === 1) await this.store.x402.decide(row.payment_key, "settled", { txSignature: hash });
      else if (!(await this.token.authorizationState(a.from, a.nonce)))
        await this.store.x402.decide(row.payment_key, "failed", { error: "transferWithAuthorization reverted" });
      else await this.store.x402.decide(row.payment_key, "settled");
    } catch (e) {
      const err = (e as Error).message.replace(/https?:\/\/\S+/g, "<rpc>").slice(0, 200);
      if (last) this.log.warn({ job: row.job_id, err }, "x402 EVM settlement outcome unknown; left pending");
      else this.log.info({ job: row.job_id, err }, "x402 EVM settlement attempt failed; trying again");
    }
    return (await this.store.x402.byKey(row.payment_key))!;
  }

  /** A job that is not charged: its authorization is released unused (no USDC moves). */
  async release(row: SettlementRow): Promise<void> {
    await this.store.x402.decide(row.payment_key, "failed", { error: "released: the job was not charged" });
  }
}
