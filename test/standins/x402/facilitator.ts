/**
 * A local x402 facilitator on 127.0.0.1 serving the real HTTP API (x402 v2 transports: POST /verify
 * and POST /settle with {x402Version, paymentPayload, paymentRequirements}, GET /supported), backed
 * by the maintained facilitator code (@x402/core's x402Facilitator with @x402/svm's exact scheme)
 * and its own fee-payer key against the Solana stand-in. Counts its calls; `failSettle` makes the
 * next settles answer 502 after settling (a facilitator whose answer is lost).
 */
import http from "node:http";
import { AddressInfo } from "node:net";
import { Keypair } from "@solana/web3.js";
import { createKeyPairSignerFromBytes } from "@solana/kit";
import { x402Facilitator } from "@x402/core/facilitator";
import { toFacilitatorSvmSigner } from "@x402/svm";
import { ExactSvmScheme } from "@x402/svm/exact/facilitator";
import type { Network } from "@x402/core/types";

export interface FacilitatorStandin {
  url: string;
  feePayer: Keypair;
  calls: { verify: number; settle: number; supported: number };
  /** loseSettleAnswers: the next N settles happen but answer 502; onLostSettle sees each lost settlement's transaction. */
  faults: { loseSettleAnswers: number; onLostSettle?: (transaction: string) => void };
  close(): Promise<void>;
}

export async function startFacilitatorStandin(opts: {
  solanaRpcUrl: string;
  network: string;
  feePayer?: Keypair;
}): Promise<FacilitatorStandin> {
  const feePayer = opts.feePayer ?? Keypair.generate();
  const signer = toFacilitatorSvmSigner(await createKeyPairSignerFromBytes(feePayer.secretKey), { defaultRpcUrl: opts.solanaRpcUrl });
  const facilitator = new x402Facilitator().register(opts.network as Network, new ExactSvmScheme(signer));
  const calls = { verify: 0, settle: 0, supported: 0 };
  const faults: FacilitatorStandin["faults"] = { loseSettleAnswers: 0 };
  const json = (res: http.ServerResponse, status: number, body: unknown) =>
    res
      .writeHead(status, { "content-type": "application/json" })
      .end(JSON.stringify(body, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    // Never rejects: every failure is answered as a 500 below.
    const answer = async () => {
      try {
        const path = (req.url ?? "/").split("?")[0];
        if (req.method === "GET" && path === "/supported") {
          calls.supported++;
          return json(res, 200, facilitator.getSupported());
        }
        if (req.method !== "POST" || (path !== "/verify" && path !== "/settle")) return json(res, 404, { error: "not found" });
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { paymentPayload?: unknown; paymentRequirements?: unknown };
        if (!body.paymentPayload || !body.paymentRequirements)
          return json(res, 400, { error: "paymentPayload and paymentRequirements are required" });
        if (path === "/verify") {
          calls.verify++;
          return json(res, 200, await facilitator.verify(body.paymentPayload as never, body.paymentRequirements as never));
        }
        calls.settle++;
        const out = await facilitator.settle(body.paymentPayload as never, body.paymentRequirements as never);
        if (faults.loseSettleAnswers > 0) {
          faults.loseSettleAnswers--;
          faults.onLostSettle?.(out.transaction);
          return json(res, 502, { error: "bad gateway" });
        }
        return json(res, 200, out);
      } catch (e) {
        return json(res, 500, { error: (e as Error).message });
      }
    };
    req.on("end", () => void answer());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    feePayer,
    calls,
    faults,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
