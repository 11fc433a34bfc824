/**
 * Paying from a prepaid balance (docs/payments.md "Paying"): a deposit with memo "deposit:<agent>", claimed at
 * once by its signature, then a signed request paid from the balance. Runs against `npm start`
 * (API_URL, SOLANA_LOCAL override).
 *   npx ts-node -T scripts/examples/pay-prepaid.ts
 */
import fs from "node:fs";
import { Connection, Keypair, PublicKey } from "@solana/web3.js";
import { payWatt } from "../lib/wattPayer";
import { signAgentRequest } from "../../keeper/payments/agentAuth";

const API = process.env.API_URL ?? "http://127.0.0.1:8787";
const local = JSON.parse(fs.readFileSync(process.env.SOLANA_LOCAL ?? "data/solana-local.json", "utf8"));

async function main() {
  const agent = Keypair.fromSecretKey(Uint8Array.from(JSON.parse(local.agentSecret)));
  const svc = await (await fetch(`${API}/api/v1/service`)).json();
  const signed = (method: string, path: string, body = "") => signAgentRequest(agent.secretKey, svc.service_id, method, path, body);
  const post = async (path: string, body: string) => {
    const res = await fetch(`${API}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...signed("POST", path, body) },
      body,
    });
    return `${res.status} ${JSON.stringify(await res.json())}`;
  };

  const deposit = await payWatt(new Connection(local.rpcUrl, "confirmed"), agent, {
    mint: new PublicKey(svc.watt_mint),
    decimals: svc.watt_decimals,
    recipientOwner: new PublicKey(svc.wallet),
    amount: 1000n * 10n ** BigInt(svc.watt_decimals),
    memo: `deposit:${agent.publicKey.toBase58()}`,
  });
  console.log(await post("/api/v1/deposits", JSON.stringify({ signature: deposit })));
  console.log(await post("/api/v1/execute", JSON.stringify({ job_id: `job-${Date.now()}`, language: "python", code: "print(6*7)" })));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
