/**
 * Paying by memo + signed request (docs/payments.md "Paying"): a WATT transfer with the job_id as memo, then
 * the request signed by the same key. Runs against `npm start` (API_URL, SOLANA_LOCAL override).
 *   npx ts-node -T scripts/examples/pay-memo.ts
 */
import fs from "node:fs";
import { Connection, Keypair, PublicKey } from "@solana/web3.js";
import { payWatt } from "../lib/wattPayer";
import { signAgentRequest } from "../../keeper/payments/agentAuth";

const API = process.env.API_URL ?? "http://127.0.0.1:8787";
const local = JSON.parse(fs.readFileSync(process.env.SOLANA_LOCAL ?? "data/solana-local.json", "utf8"));

async function main() {
  const agent = Keypair.fromSecretKey(Uint8Array.from(JSON.parse(local.agentSecret)));
  const svc = await (await fetch(`${API}/api/v1/service`)).json(); // service_id, wallet, watt_mint, prices
  const job_id = `job-${Date.now()}`;
  const signature = await payWatt(new Connection(local.rpcUrl, "confirmed"), agent, {
    mint: new PublicKey(svc.watt_mint),
    decimals: svc.watt_decimals,
    recipientOwner: new PublicKey(svc.wallet),
    amount: BigInt(svc.prices.scrape.simple) * 10n ** BigInt(svc.watt_decimals),
    memo: job_id,
  });
  const body = JSON.stringify({ url: process.env.SCRAPE_URL ?? "https://example.com/", job_id, output_format: "text" });
  const res = await fetch(`${API}/api/v1/scrape`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-payment-signature": signature,
      ...signAgentRequest(agent.secretKey, svc.service_id, "POST", "/api/v1/scrape", body),
    },
    body,
  });
  console.log(res.status, JSON.stringify(await res.json()));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
