/**
 * Signed agent requests, for what a wallet owns off chain (its prepaid balance): the agent signs
 *
 *   "AgentCompute v1\n<METHOD>\n<path>\n<timestamp ms>\n<sha256 hex of the body>"
 *
 * with its Solana (ed25519) key and sends X-Agent-Pubkey (base58), X-Agent-Timestamp and
 * X-Agent-Signature (base64). The timestamp must be within AUTH_MAX_SKEW_MS of ours: a captured
 * request cannot be replayed later, and within the window a replay is harmless (a job_id runs once;
 * GET /balance only reads). Verification uses Node's own ed25519.
 */
import crypto from "node:crypto";
import { PublicKey } from "@solana/web3.js";
import { ServiceError } from "../services/jobService";

export const AUTH_MAX_SKEW_MS = 5 * 60_000;

export const authMessage = (method: string, path: string, timestampMs: number, body: string | Buffer): Buffer =>
  Buffer.from(`AgentCompute v1\n${method.toUpperCase()}\n${path}\n${timestampMs}\n${crypto.createHash("sha256").update(body).digest("hex")}`);

/** Client side: the headers for a request (secretKey: a Solana Keypair's 64-byte secret key). */
export function signAgentRequest(secretKey: Uint8Array, method: string, path: string, body: string, timestampMs = Date.now()): Record<string, string> {
  const seed = Buffer.from(secretKey.subarray(0, 32));
  const pub = Buffer.from(secretKey.subarray(32, 64));
  const key = crypto.createPrivateKey({ key: { kty: "OKP", crv: "Ed25519", d: seed.toString("base64url"), x: pub.toString("base64url") }, format: "jwk" });
  const sig = crypto.sign(null, authMessage(method, path, timestampMs, body), key);
  return { "x-agent-pubkey": new PublicKey(pub).toBase58(), "x-agent-timestamp": String(timestampMs), "x-agent-signature": sig.toString("base64") };
}

const unauthorized = (message: string) => new ServiceError("UNAUTHORIZED", message, 401);

/** Server side: the agent's base58 address, undefined when the request is unsigned; throws UNAUTHORIZED when it is signed wrongly. */
export function verifyAgentRequest(headers: Record<string, string | string[] | undefined>, method: string, path: string, body: string | Buffer, nowMs = Date.now()): string | undefined {
  const h = (n: string) => {
    const v = headers[n];
    return Array.isArray(v) ? v[0] : v;
  };
  const pubkey = h("x-agent-pubkey");
  const ts = h("x-agent-timestamp");
  const sig = h("x-agent-signature");
  if (pubkey === undefined && ts === undefined && sig === undefined) return undefined;
  if (!pubkey || !ts || !sig) throw unauthorized("a signed request needs X-Agent-Pubkey, X-Agent-Timestamp and X-Agent-Signature");
  let pub: Buffer;
  try {
    pub = Buffer.from(new PublicKey(pubkey).toBytes());
  } catch {
    throw unauthorized("X-Agent-Pubkey: not a base58 Solana address");
  }
  if (!/^\d{1,16}$/.test(ts)) throw unauthorized("X-Agent-Timestamp: milliseconds since the epoch");
  const t = Number(ts);
  if (Math.abs(nowMs - t) > AUTH_MAX_SKEW_MS) throw unauthorized(`X-Agent-Timestamp is more than ${AUTH_MAX_SKEW_MS / 1000} s from the server's clock`);
  const signature = Buffer.from(sig, "base64");
  if (signature.length !== 64) throw unauthorized("X-Agent-Signature: a base64 ed25519 signature (64 bytes)");
  let ok = false;
  try {
    const key = crypto.createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: pub.toString("base64url") }, format: "jwk" });
    ok = crypto.verify(null, authMessage(method, path, t, body), key, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw unauthorized("X-Agent-Signature does not verify for this method, path, timestamp and body");
  return pubkey;
}
