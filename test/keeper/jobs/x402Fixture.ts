/**
 * x402 on the Solana stand-in: a WATT world whose keeper is self-facilitated (the service wallet
 * co-signs), and clients that nobody here wrote: @x402/fetch with the @x402/svm signer.
 */
import { Keypair } from "@solana/web3.js";
import { createKeyPairSignerFromBytes } from "@solana/kit";
import { wrapFetchWithPayment, x402Client, decodePaymentResponseHeader } from "@x402/fetch";
import { ExactSvmScheme } from "@x402/svm/exact/client";
import { decodePaymentRequiredHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentPayload, PaymentRequired, PaymentRequirements } from "@x402/core/types";
import { startWattWorld, WattWorld } from "./solanaFixture";

/** The stand-in's genesis hash is its own; x402 clients only know the three public clusters by CAIP-2 id, so it is served as devnet (each client is given the stand-in's URL). */
export const LOCAL_SOLANA_NETWORK = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1";

export async function startX402World(env: Record<string, string> = {}): Promise<WattWorld> {
  return startWattWorld({ X402_SOLANA_NETWORK: LOCAL_SOLANA_NETWORK, ...env }, { withSecret: true });
}

/** The third-party client's payment for one requirement (what @x402/fetch would send). */
export async function svmScheme(w: WattWorld, agent: Keypair): Promise<ExactSvmScheme> {
  return new ExactSvmScheme(await createKeyPairSignerFromBytes(agent.secretKey), { rpcUrl: w.sol.url });
}

/** fetch that pays x402 WATT with the agent's key (spend cap raised to `maxWatt`: WATT is not a default asset). */
export async function payingFetch(w: WattWorld, agent: Keypair, maxWatt = 10_000n): Promise<typeof fetch> {
  const client = new x402Client().register(LOCAL_SOLANA_NETWORK, await svmScheme(w, agent));
  client.setSpendControls({
    allowedAssets: [{ network: LOCAL_SOLANA_NETWORK, asset: w.mint.toBase58(), maxAmountPerPayment: (maxWatt * 10n ** 9n).toString() }],
  });
  return wrapFetchWithPayment(fetch, client);
}

export const post = (f: typeof fetch, url: string, body: unknown, headers: Record<string, string> = {}) =>
  f(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

/** Asks for the 402 of `body` and returns its PAYMENT-REQUIRED, decoded. */
export async function paymentRequired(w: WattWorld, route: string, body: unknown): Promise<PaymentRequired> {
  const r = await post(fetch, w.h.url + route, body);
  if (r.status !== 402) throw new Error(`expected 402, got ${r.status}: ${await r.text()}`);
  const h = r.headers.get("payment-required");
  if (!h) throw new Error("no PAYMENT-REQUIRED header");
  return decodePaymentRequiredHeader(h);
}

/** Builds a payment for `req` (possibly altered) with the real @x402/svm client, as a PAYMENT-SIGNATURE header value. */
export async function signedPayment(
  w: WattWorld,
  agent: Keypair,
  req: PaymentRequirements,
  extensions?: Record<string, unknown>,
  accepted: PaymentRequirements = req,
): Promise<{ header: string; payload: PaymentPayload }> {
  const scheme = await svmScheme(w, agent);
  const p = await scheme.createPaymentPayload(2, req);
  const payload: PaymentPayload = { x402Version: 2, accepted, payload: p.payload, ...(extensions ? { extensions } : {}) };
  return { header: encodePaymentSignatureHeader(payload), payload };
}

export { decodePaymentResponseHeader };
