/**
 * How long an x402-paid static scrape takes end to end, next to a prepaid one, in the same run on
 * loopback: the keeper's HTTP API (self-facilitated x402 on the Solana stand-in) in this process,
 * a static page on 127.0.0.1, one request at a time (latency, not throughput).
 *
 * - x402: @x402/fetch with the @x402/svm signer: the unpaid request and its 402, the client building
 *   and signing the transfer (mint lookup, blockhash), the retry, the keeper's checks and
 *   verification (simulateTransaction), co-signing and sending, confirmation (getSignatureStatuses
 *   polling), reading the transfer back, the scrape, the answer with PAYMENT-RESPONSE.
 * - prepaid: one signed request paid from the agent's balance.
 *
 *   npm run bench:x402            (N=60)
 */
import { cpus } from "node:os";
import { Keypair, LAMPORTS_PER_SOL } from "@solana/web3.js";
import { startPageServer } from "../test/keeper/jobs/harness";
import { startWattWorld } from "../test/keeper/jobs/solanaFixture";
import { LOCAL_SOLANA_NETWORK, payingFetch, post } from "../test/keeper/jobs/x402Fixture";

const N = Number(process.env.N ?? 60);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function main() {
  const pages = await startPageServer();
  const w = await startWattWorld(
    {
      X402_SOLANA_NETWORK: LOCAL_SOLANA_NETWORK,
      RATE_LIMIT_URL_PER_HOUR: "1000000",
      RATE_LIMIT_AGENT_PER_HOUR: "1000000",
      X402_VERIFY_PER_IP_PER_MIN: "1000000",
      SCRAPE_PARSE_WORKERS: "0",
    },
    { withSecret: true },
  );
  try {
    const x402Agent = w.agent(1_000_000n);
    const prepaid = Keypair.generate();
    w.sol.airdrop(prepaid.publicKey, BigInt(LAMPORTS_PER_SOL));
    await w.h.grant(prepaid, 1_000_000);
    const pay = await payingFetch(w, x402Agent);
    const run = async (kind: "x402" | "prepaid", i: number) => {
      const body = { url: `${pages.url}/static`, job_id: `bench-${kind}-${i}-${Date.now()}`, output_format: "text" };
      const t = performance.now();
      const r =
        kind === "x402"
          ? await post(pay, w.h.url + "/api/v1/scrape", body)
          : await w.h.post("/api/v1/scrape", body, { agent: prepaid }).then((a) => ({ status: a.status }));
      const ms = performance.now() - t;
      if (r.status !== 200) throw new Error(`${kind} scrape ${i}: ${r.status}`);
      if ("text" in r) await r.text();
      return ms;
    };
    for (let i = 0; i < 5; i++) {
      // warm-up
      await run("x402", -i - 1);
      await run("prepaid", -i - 1);
    }
    const lat = { x402: [] as number[], prepaid: [] as number[] };
    for (let i = 0; i < N; i++) {
      // interleaved: both see the same machine load
      lat.x402.push(await run("x402", i));
      lat.prepaid.push(await run("prepaid", i));
    }
    const rpc = w.sol.requests.byMethod;
    console.log(`static scrape end to end on loopback, ${N} each, one at a time (Node ${process.version}, ${cpus().length} cores)`);
    for (const k of ["x402", "prepaid"] as const)
      console.log(`  ${k.padEnd(8)} p50 ${pct(lat[k], 50).toFixed(1)} ms   p99 ${pct(lat[k], 99).toFixed(1)} ms`);
    console.log(`  Solana RPC calls in the run: ${JSON.stringify(rpc)}`);
    const t = await w.h.totals();
    if (t.discrepancy !== 0n) throw new Error("books do not balance");
  } finally {
    await w.close();
    await pages.close();
  }
}

main().catch((e) => {
  console.error(`bench:x402: ${(e as Error).message}`);
  process.exit(1);
});
