/**
 * Signed agent requests, for what a wallet owns off chain (its prepaid balance, its on-chain
 * payments, its results). Version 2 (the default) names the service, so a signature made for one
 * keeper is worthless at another: the agent signs
 *
 *   "AgentCompute v2\n<service id>\n<METHOD>\n<path>\n<timestamp ms>\n<sha256 hex of the body>"
 *
 * with its Solana (ed25519) key and sends X-Agent-Pubkey (base58), X-Agent-Timestamp and
 * X-Agent-Signature (base64); or, an EVM agent (one that paid by x402 in USDC), signs the same
 * message with EIP-191 (personal_sign) and sends X-Agent-Address (0x…), X-Agent-Timestamp and
 * X-Agent-Signature (0x, 65 bytes). Its identity is the checksummed address. The service id is what `GET /api/v1/service` publishes: the origin of
 * PUBLIC_URL when it is set, else "solana:<service wallet address>". The timestamp must be within
 * AUTH_MAX_SKEW_MS of ours: a captured request cannot be replayed later, and within the window a
 * replay is harmless (a job_id runs once; GET /balance only reads). Verification uses Node's own
 * ed25519 and ethers' EIP-191 recovery. EVM agents sign only version 2.
 *
 * Version 1 ("AgentCompute v1\n<METHOD>\n<path>\n<timestamp>\n<sha256>", no service) is accepted
 * only when AUTH_ACCEPT_V1=true; otherwise a request that verifies only as v1 is AUTH_V1_REFUSED.
 */
import crypto from "node:crypto";
import { PublicKey } from "@solana/web3.js";
import { getAddress, isAddress, verifyMessage } from "ethers";
import { ServiceError } from "../services/jobService";

export const AUTH_MAX_SKEW_MS = 5 * 60_000;

export interface AuthPolicy {
  /** This service's id (the v2 message's second line). */
  serviceId: string;
  /** Accept the v1 message (no service id). Default off. */
  acceptV1: boolean;
}

const bodyHash = (body: string | Buffer) => crypto.createHash("sha256").update(body).digest("hex");

/** The v2 message: names the service. */
export const authMessage = (serviceId: string, method: string, path: string, timestampMs: number, body: string | Buffer): Buffer =>
  Buffer.from(`AgentCompute v2\n${serviceId}\n${method.toUpperCase()}\n${path}\n${timestampMs}\n${bodyHash(body)}`);

/** The old v1 message (no service): accepted only with AUTH_ACCEPT_V1=true. */
export const authMessageV1 = (method: string, path: string, timestampMs: number, body: string | Buffer): Buffer =>
  Buffer.from(`AgentCompute v1\n${method.toUpperCase()}\n${path}\n${timestampMs}\n${bodyHash(body)}`);

function signMessage(secretKey: Uint8Array, message: Buffer, timestampMs: number): Record<string, string> {
  const seed = Buffer.from(secretKey.subarray(0, 32));
  const pub = Buffer.from(secretKey.subarray(32, 64));
  const key = crypto.createPrivateKey({
    key: { kty: "OKP", crv: "Ed25519", d: seed.toString("base64url"), x: pub.toString("base64url") },
    format: "jwk",
  });
  const sig = crypto.sign(null, message, key);
  return {
    "x-agent-pubkey": new PublicKey(pub).toBase58(),
    "x-agent-timestamp": String(timestampMs),
    "x-agent-signature": sig.toString("base64"),
  };
}

/**
 * Client side: the headers of a v2 signed request (secretKey: a Solana Keypair's 64-byte secret key;
 * serviceId: the `service_id` of the keeper's GET /api/v1/service).
 */
export function signAgentRequest(
  secretKey: Uint8Array,
  serviceId: string,
  method: string,
  path: string,
  body: string,
  timestampMs = Date.now(),
): Record<string, string> {
  return signMessage(secretKey, authMessage(serviceId, method, path, timestampMs, body), timestampMs);
}

/** What signs an EVM agent's request: an ethers Wallet, or any EIP-191 signer. */
export interface EvmMessageSigner {
  address: string;
  signMessage(message: Uint8Array): Promise<string>;
}

/** Client side for an EVM agent: the v2 message signed with EIP-191 (personal_sign). */
export async function signAgentRequestEvm(
  signer: EvmMessageSigner,
  serviceId: string,
  method: string,
  path: string,
  body: string,
  timestampMs = Date.now(),
): Promise<Record<string, string>> {
  const sig = await signer.signMessage(authMessage(serviceId, method, path, timestampMs, body));
  return { "x-agent-address": getAddress(signer.address), "x-agent-timestamp": String(timestampMs), "x-agent-signature": sig };
}

/** Whether an agent id is an EVM address (signed with EIP-191) rather than a Solana address. */
export const isEvmAgent = (agent: string) => agent.startsWith("0x");

/** Client side, the old v1 message (no service id): only for keepers that still accept it. */
export function signAgentRequestV1(
  secretKey: Uint8Array,
  method: string,
  path: string,
  body: string,
  timestampMs = Date.now(),
): Record<string, string> {
  return signMessage(secretKey, authMessageV1(method, path, timestampMs, body), timestampMs);
}

const unauthorized = (message: string) => new ServiceError("UNAUTHORIZED", message, 401);

function verifies(pub: Buffer, message: Buffer, signature: Buffer): boolean {
  try {
    const key = crypto.createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: pub.toString("base64url") }, format: "jwk" });
    return crypto.verify(null, message, key, signature);
  } catch {
    return false;
  }
}

/**
 * Server side: the agent's base58 address, undefined when the request is unsigned; throws
 * UNAUTHORIZED when it is signed wrongly (or for another service), AUTH_V1_REFUSED when it is a
 * valid v1 signature and v1 is not accepted.
 */
export function verifyAgentRequest(
  headers: Record<string, string | string[] | undefined>,
  policy: AuthPolicy,
  method: string,
  path: string,
  body: string | Buffer,
  nowMs = Date.now(),
): string | undefined {
  const h = (n: string) => {
    const v = headers[n];
    return Array.isArray(v) ? v[0] : v;
  };
  const pubkey = h("x-agent-pubkey");
  const address = h("x-agent-address");
  const ts = h("x-agent-timestamp");
  const sig = h("x-agent-signature");
  if (pubkey === undefined && address === undefined && ts === undefined && sig === undefined) return undefined;
  if (pubkey !== undefined && address !== undefined) throw unauthorized("send X-Agent-Pubkey (Solana) or X-Agent-Address (EVM), not both");
  if (address !== undefined) return verifyEvm(address, ts, sig, policy, method, path, body, nowMs);
  if (!pubkey || !ts || !sig) throw unauthorized("a signed request needs X-Agent-Pubkey, X-Agent-Timestamp and X-Agent-Signature");
  let pub: Buffer;
  try {
    pub = Buffer.from(new PublicKey(pubkey).toBytes());
  } catch {
    throw unauthorized("X-Agent-Pubkey: not a base58 Solana address");
  }
  const t = timestamp(ts, nowMs);
  const signature = Buffer.from(sig, "base64");
  if (signature.length !== 64) throw unauthorized("X-Agent-Signature: a base64 ed25519 signature (64 bytes)");
  if (verifies(pub, authMessage(policy.serviceId, method, path, t, body), signature)) return new PublicKey(pub).toBase58();
  if (verifies(pub, authMessageV1(method, path, t, body), signature)) {
    if (policy.acceptV1) return new PublicKey(pub).toBase58();
    throw new ServiceError(
      "AUTH_V1_REFUSED",
      `this service accepts only signed-request version 2: sign "AgentCompute v2\\n${policy.serviceId}\\n<METHOD>\\n<path>\\n<timestamp>\\n<sha256 of the body>" (GET /api/v1/service)`,
      401,
    );
  }
  throw unauthorized(`X-Agent-Signature does not verify for this service (${policy.serviceId}), method, path, timestamp and body`);
}

function timestamp(ts: string, nowMs: number): number {
  if (!/^\d{1,16}$/.test(ts)) throw unauthorized("X-Agent-Timestamp: milliseconds since the epoch");
  const t = Number(ts);
  if (Math.abs(nowMs - t) > AUTH_MAX_SKEW_MS)
    throw unauthorized(`X-Agent-Timestamp is more than ${AUTH_MAX_SKEW_MS / 1000} s from the server's clock`);
  return t;
}

/** An EVM agent's request: the v2 message, EIP-191, recovered to X-Agent-Address. */
function verifyEvm(
  address: string,
  ts: string | undefined,
  sig: string | undefined,
  policy: AuthPolicy,
  method: string,
  path: string,
  body: string | Buffer,
  nowMs: number,
): string {
  if (!ts || !sig) throw unauthorized("a signed request needs X-Agent-Address, X-Agent-Timestamp and X-Agent-Signature");
  if (!isAddress(address)) throw unauthorized("X-Agent-Address: not a 0x EVM address");
  const t = timestamp(ts, nowMs);
  if (!/^0x[0-9a-fA-F]{130}$/.test(sig))
    throw unauthorized("X-Agent-Signature: a 0x EIP-191 signature (65 bytes) for an X-Agent-Address request");
  let signer: string;
  try {
    signer = verifyMessage(authMessage(policy.serviceId, method, path, t, body), sig);
  } catch {
    throw unauthorized("X-Agent-Signature: not a valid EIP-191 signature");
  }
  if (signer !== getAddress(address))
    throw unauthorized(
      `X-Agent-Signature does not verify for X-Agent-Address and this service (${policy.serviceId}), method, path, timestamp and body`,
    );
  return signer;
}
