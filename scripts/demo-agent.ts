/**
 * `npm run demo`: plays an AI agent against the keeper that `npm start` runs on this machine.
 * The agent pays ETH for a compute session (swapped to USDC through the real Uniswap router), the
 * keeper provisions the workload on the local provider, the agent extends the session, ends it, and
 * gets the unused part back. Then it buys the WATT services: it pays WATT on the local Solana
 * stand-in with the job_id in a memo and scrapes a page with a request signed by the same key (a
 * memo payment pays only for its payer's signed request; the signature names this service, read
 * from GET /api/v1/service), retries (same answer, no second charge), deposits WATT for a prepaid
 * balance, pays one more scrape with x402 (@x402/fetch with the @x402/svm signer), runs Python from the balance, reads its job (full record signed, public view unsigned) and checks
 * its scrape's Merkle proof against the batch the keeper recorded on chain. Every step is printed
 * with its figures.
 */
import fs from "node:fs";
import path from "node:path";
import { Contract, JsonRpcProvider, formatEther, formatUnits, toUtf8Bytes } from "ethers";
import { AgentCompute__factory } from "../typechain-types";
import { devWallet, LocalDeployment } from "../localnet/chain";
import quoterArtifact from "@uniswap/v3-periphery/artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json";
import http from "node:http";
import { AddressInfo } from "node:net";
import { Connection, Keypair, PublicKey } from "@solana/web3.js";
import { payWatt } from "./lib/wattPayer";
import { signAgentRequest } from "../keeper/payments/agentAuth";
import { createKeyPairSignerFromBytes } from "@solana/kit";
import { wrapFetchWithPayment, x402Client, decodePaymentResponseHeader } from "@x402/fetch";
import { ExactSvmScheme } from "@x402/svm/exact/client";
import { MarginWallet } from "./lib/marginWallet";

const API = `http://127.0.0.1:${process.env.HTTP_PORT ?? 8787}`;

const DATA_DIR = process.env.DATA_DIR ?? "./data";
const WORKLOAD = {
  command: ["sh", "-c", "echo agent workload up; i=0; while true; do i=$((i+1)); echo tick $i; sleep 2; done"],
  cpu: 0.5,
  memoryMb: 64,
};

const usd = (v: bigint) => `${formatUnits(v, 6)} USDC`;
const say = (s: string) => console.log(s);

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function main() {
  const file = path.join(DATA_DIR, "local-deployment.json");
  if (!fs.existsSync(file)) throw new Error(`${file} not found: start the keeper first with 'npm start'`);
  const d = JSON.parse(fs.readFileSync(file, "utf8")) as LocalDeployment;
  const rpc = new JsonRpcProvider(d.rpcUrl, d.chainId, { staticNetwork: true, cacheTimeout: -1 });
  // A margin on gas estimates, as an agent's wallet should have: the keeper's own transactions can
  // change what a call costs between the estimate and the block (scripts/lib/marginWallet.ts).
  const agent = new MarginWallet(devWallet(3).privateKey, rpc);
  const compute = AgentCompute__factory.connect(d.contracts.AgentCompute, agent);
  const quoter = new Contract(d.contracts.QuoterV2, quoterArtifact.abi, rpc);

  const duration = 3600n;
  const cost = await compute.getSessionCost(duration, 0);
  const [ethNeeded] = await quoter.quoteExactOutputSingle.staticCall({
    tokenIn: d.contracts.WETH,
    tokenOut: d.contracts.USDC,
    amount: cost,
    fee: 500,
    sqrtPriceLimitX96: 0,
  });
  const maxEth = (ethNeeded * 101n) / 100n;
  say(`agent ${agent.address} on chain ${d.chainId}`);
  say(`1. quote: 1 h on SPHERON costs ${usd(cost)} = ${formatEther(ethNeeded)} ETH; sending ${formatEther(maxEth)} ETH (1% slippage)`);

  const ethBefore = await rpc.getBalance(agent.address);
  const startReceipt = (await (await compute.startSession(duration, 0, toUtf8Bytes(JSON.stringify(WORKLOAD)), { value: maxEth })).wait())!;
  const started = startReceipt.logs.map((l) => compute.interface.parseLog(l)).find((e) => e?.name === "SessionStarted")!;
  const id: string = started.args.instanceId;
  const spent = ethBefore - (await rpc.getBalance(agent.address)) - startReceipt.gasUsed * startReceipt.gasPrice;
  say(
    `2. paid: session ${id.slice(0, 18)}… in block ${startReceipt.blockNumber}; swap used ${formatEther(spent)} ETH, ${formatEther(maxEth - spent)} ETH refunded, ${usd(cost)} in escrow`,
  );

  const t0 = Date.now();
  const activated = await waitFor(
    "the keeper to provision the session",
    async () => (await compute.queryFilter(compute.filters.SessionActivated(id)))[0],
  );
  const outcome = (await compute.queryFilter(compute.filters.OutcomeRecorded(id)))[0];
  say(
    `3. keeper provisioned it in ${((Date.now() - t0) / 1000).toFixed(1)} s (3 confirmations): outcome Running at ${outcome.args.providerRef}; paid time runs until ${new Date(Number(activated.args.endTime) * 1000).toISOString()}`,
  );

  await new Promise((r) => setTimeout(r, 5000));
  const extendCost = await compute.getSessionCost(1800, 0);
  const usdcAbi = ["function approve(address,uint256) returns (bool)", "function balanceOf(address) view returns (uint256)"];
  const usdc = new Contract(d.contracts.USDC, usdcAbi, agent);
  await (await usdc.approve(d.contracts.AgentCompute, extendCost)).wait();
  const ext = (await (await compute.extendSession(id, 1800)).wait())!;
  const newEnd = ext.logs.map((l) => compute.interface.parseLog(l)).find((e) => e?.name === "SessionExtended")!.args.newEndTime;
  say(
    `4. extended by 30 min for ${usd(extendCost)} (paid in USDC): now ends ${new Date(Number(newEnd) * 1000).toISOString()}; the same workload keeps running`,
  );

  await new Promise((r) => setTimeout(r, 5000));
  const usdcBefore: bigint = await usdc.balanceOf(agent.address);
  const end = (await (await compute.endSession(id)).wait())!;
  const ended = end.logs.map((l) => compute.interface.parseLog(l)).find((e) => e?.name === "SessionEnded")!;
  const refunded: bigint = ended.args.refunded;
  const usdcAfter: bigint = await usdc.balanceOf(agent.address);
  say(
    `5. ended: ${usd(ended.args.paidToTreasury)} to the operator for the time used, ${usd(refunded)} refunded (agent USDC ${usd(usdcBefore)} -> ${usd(usdcAfter)})`,
  );

  const s = await compute.getSession(id);
  say(`6. escrow for this session: deposited ${usd(s.deposited)} = claimed ${usd(s.claimed)} + refunded ${usd(refunded)}`);
  if (s.deposited !== s.claimed + refunded || usdcAfter - usdcBefore !== refunded) throw new Error("money does not add up");
  say("   the keeper now stops the workload; 'npm run keeper -- sessions' shows it ended");
  await autoRenewal(compute, usdc, d);
  await wattServices(compute);
  rpc.destroy();
}

/**
 * Steps 6b-6c: auto-renewal. A 90 s session the agent puts on auto-renewal (budget: one renewal);
 * the keeper renews it RENEWAL_LEAD_S before its end (capped at the period, so at once here), from
 * the agent's USDC at the price in force. The agent then ends it and gets the unused part back.
 */
async function autoRenewal(compute: ReturnType<typeof AgentCompute__factory.connect>, usdc: Contract, d: LocalDeployment) {
  const period = 90n;
  const cost = await compute.getSessionCost(period, 0);
  await (await usdc.approve(d.contracts.AgentCompute, 2n * cost)).wait();
  const started = (await (await compute.startSessionWithMaxCost(period, 0, toUtf8Bytes(JSON.stringify(WORKLOAD)), cost)).wait())!;
  const id: string = started.logs.map((l) => compute.interface.parseLog(l)).find((e) => e?.name === "SessionStarted")!.args.instanceId;
  const activated = await waitFor(
    "the keeper to provision the renewing session",
    async () => (await compute.queryFilter(compute.filters.SessionActivated(id)))[0],
  );
  await (await compute.setAutoRenewal(id, period, cost, cost)).wait();
  say(
    `6b. a ${period} s session ${id.slice(0, 18)}… (${usd(cost)}, startSessionWithMaxCost) runs until ${new Date(Number(activated.args.endTime) * 1000).toISOString()};`,
  );
  say(`    setAutoRenewal(period ${period} s, at most ${usd(cost)} per renewal, budget ${usd(cost)})`);
  const t0 = Date.now();
  const renewed = await waitFor(
    "the keeper to renew the session",
    async () => (await compute.queryFilter(compute.filters.SessionRenewed(id)))[0],
  );
  const tx = await renewed.getTransactionReceipt();
  say(
    `6c. the keeper renewed it after ${((Date.now() - t0) / 1000).toFixed(1)} s (tx from ${tx.from}): +${renewed.args.period} s for ${usd(renewed.args.cost)}, now ends ${new Date(Number(renewed.args.newEndTime) * 1000).toISOString()}, budget left ${usd(renewed.args.budgetLeft)}`,
  );
  const end = (await (await compute.endSession(id)).wait())!;
  const ended = end.logs.map((l) => compute.interface.parseLog(l)).find((e) => e?.name === "SessionEnded")!;
  const s = await compute.getSession(id);
  say(
    `    ended by the agent: ${usd(ended.args.paidToTreasury)} to the operator, ${usd(ended.args.refunded)} refunded; deposited ${usd(s.deposited)} = start + renewal`,
  );
  if (s.deposited !== cost + renewed.args.cost || s.deposited !== s.claimed + ended.args.refunded)
    throw new Error("the renewed session's money does not add up");
}

/** Steps 7-12: the pay-per-use APIs, paid in WATT on the local Solana stand-in. */
async function wattServices(compute: ReturnType<typeof AgentCompute__factory.connect>) {
  const file = path.join(DATA_DIR, "solana-local.json");
  if (!fs.existsSync(file)) return say(`(no ${file}: the keeper runs without the local Solana stand-in, skipping the WATT services)`);
  const sol = JSON.parse(fs.readFileSync(file, "utf8")) as {
    rpcUrl: string;
    wattMint: string;
    wattDecimals: number;
    serviceWallet: string;
    agentSecret: string;
  };
  const conn = new Connection(sol.rpcUrl, "confirmed");
  const agent = Keypair.fromSecretKey(Uint8Array.from(JSON.parse(sol.agentSecret)));
  const mint = new PublicKey(sol.wattMint);
  const unit = 10n ** BigInt(sol.wattDecimals);
  const watt = async () =>
    (await conn.getTokenAccountBalance((await conn.getTokenAccountsByOwner(agent.publicKey, { mint })).value[0].pubkey)).value
      .uiAmountString;
  // Signed requests (v2) name the service they are for: its id is published at GET /api/v1/service.
  const service = (await (await fetch(API + "/api/v1/service")).json()) as { service_id: string };
  const post = async (route: string, body: object, signed = true) => {
    const text = JSON.stringify(body);
    const res = await fetch(API + route, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(signed ? signAgentRequest(agent.secretKey, service.service_id, "POST", route, text) : {}),
      },
      body: text,
    });
    return { status: res.status, replayed: res.headers.get("x-job-replayed") === "true", text: await res.text() };
  };
  const get = async (route: string, signed = false) =>
    (await (
      await fetch(API + route, { headers: signed ? signAgentRequest(agent.secretKey, service.service_id, "GET", route, "") : {} })
    ).json()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

  // A page of our own to scrape (the embedded default lets the scraper reach 127.0.0.1).
  const page = http.createServer((_q, r) =>
    r
      .writeHead(200, { "content-type": "text/html" })
      .end('<html><head><title>GPU prices</title></head><body><h1>H100 spot</h1><p class="price">2.49 USD/h</p></body></html>'),
  );
  await new Promise<void>((r) => page.listen(0, "127.0.0.1", () => r()));
  const url = `http://127.0.0.1:${(page.address() as AddressInfo).port}/gpus`;

  say(
    `\nWATT services at ${service.service_id}, agent ${agent.publicKey.toBase58()} holding ${await watt()} WATT on the local Solana stand-in`,
  );
  const job = `demo-scrape-${Date.now()}`;
  const body = { url, job_id: job, output_format: "json", selectors: { model: "h1", price: ".price" } };
  const sig = await payWatt(conn, agent, {
    mint,
    decimals: sol.wattDecimals,
    recipientOwner: new PublicKey(sol.serviceWallet),
    amount: 200n * unit,
    memo: job,
  });
  say(`7. paid 200 WATT (standard tier: selectors) with memo ${job}: ${sig.slice(0, 20)}…`);
  const unsigned = await post("/api/v1/scrape", body, false);
  say(
    `   the same request unsigned -> ${unsigned.status} ${JSON.parse(unsigned.text).code}: only the payer's signed request may spend the payment`,
  );
  const first = await post("/api/v1/scrape", body);
  const r = JSON.parse(first.text);
  if (first.status !== 200) throw new Error(`scrape failed: ${first.text}`);
  say(
    `   POST /api/v1/scrape signed by the payer -> ${first.status}: data ${JSON.stringify(r.data)}, watt_charged ${r.watt_charged}, watt_burned ${r.watt_burned}`,
  );
  const again = await post("/api/v1/scrape", body);
  say(
    `8. the same request again -> ${again.status}, replayed ${again.replayed}, identical ${again.text === first.text}; agent still holds ${await watt()} WATT`,
  );

  // x402: what any x402 client does. @x402/fetch gets the 402, signs the WATT transfer its
  // PAYMENT-REQUIRED asks for (memo = job_id, the service co-signs as fee payer), retries.
  const network = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"; // the stand-in, offered as devnet
  const x402 = new x402Client().register(
    network,
    new ExactSvmScheme(await createKeyPairSignerFromBytes(agent.secretKey), { rpcUrl: sol.rpcUrl }),
  );
  x402.setSpendControls({ allowedAssets: [{ network, asset: sol.wattMint, maxAmountPerPayment: (1000n * unit).toString() }] });
  const paid = await wrapFetchWithPayment(fetch, x402)(API + "/api/v1/scrape", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ url, job_id: `demo-x402-${Date.now()}` }),
  });
  const pr = await paid.json();
  const receipt = paid.headers.get("payment-response") ? decodePaymentResponseHeader(paid.headers.get("payment-response")!) : undefined;
  if (paid.status !== 200 || !receipt) throw new Error(`x402 scrape failed: ${paid.status} ${JSON.stringify(pr)}`);
  say(
    `8b. x402: POST /api/v1/scrape with @x402/fetch -> 402 PAYMENT-REQUIRED, paid, retried -> ${paid.status}: title ${JSON.stringify(pr.data?.title ?? pr.data)}, watt_charged ${pr.watt_charged}; PAYMENT-RESPONSE tx ${receipt.transaction.slice(0, 20)}… by ${String(receipt.payer).slice(0, 8)}…; agent holds ${await watt()} WATT`,
  );

  await payWatt(conn, agent, {
    mint,
    decimals: sol.wattDecimals,
    recipientOwner: new PublicKey(sol.serviceWallet),
    amount: 1000n * unit,
    memo: `deposit:${agent.publicKey.toBase58()}`,
  });
  const bal = await waitFor("the deposit to be credited", async () => {
    const b = await get("/api/v1/balance", true);
    return b.balance >= 1000 ? b : undefined;
  });
  say(`9. deposited 1000 WATT with memo deposit:<agent>: GET /api/v1/balance (signed) -> ${bal.balance} WATT`);
  const x = await post("/api/v1/execute", {
    job_id: `demo-exec-${Date.now()}`,
    language: "python",
    code: "import platform; print(sum(range(10**6)), platform.python_version())",
    timeout: 5,
    memory_mb: 64,
  });
  const xr = JSON.parse(x.text);
  say(
    `10. POST /api/v1/execute (signed, from the balance) -> ${x.status}: stdout ${JSON.stringify(xr.output?.stdout)}, exit ${xr.output?.exit_code}, ${xr.metadata?.execution_ms} ms, watt_charged ${xr.watt_charged}; balance now ${(await get("/api/v1/balance", true)).balance} WATT`,
  );

  const j = await waitFor("the scrape's batch to be recorded on chain", async () => {
    const v = await get(`/api/v1/jobs/${job}`);
    return v.batch?.onchain?.state === "mined" ? v : undefined;
  });
  const own = await get(`/api/v1/jobs/${job}`, true);
  say(
    `11. GET /api/v1/jobs/${job}: unsigned -> the ${j.view} view (no result: ${j.result === undefined}); signed by the agent -> the ${own.view} view with its result (${JSON.stringify(own.result?.data)})`,
  );
  if (j.result !== undefined || own.result === undefined)
    throw new Error("job privacy: the public view must not carry the result, the agent's must");
  const ok = await compute.verifyJob(j.batch.root, j.batch.proof, job, j.outcome_hash, j.batch.leaf.watt_charged);
  say(
    `12. job ${job} is in batch ${j.batch.root.slice(0, 18)}… (${j.batch.job_count} jobs) recorded by tx ${String(j.batch.onchain.tx_hash).slice(0, 18)}… in block ${j.batch.onchain.block}; AgentCompute.verifyJob(proof) = ${ok}`,
  );
  if (!ok) throw new Error("the job's proof does not verify on chain");
  say("    'npm run keeper -- status' shows the WATT books; 'npm run keeper -- jobs' lists the jobs");
  page.close();
}

main().catch((err) => {
  console.error(`demo: ${(err as Error).message}`);
  process.exit(1);
});
