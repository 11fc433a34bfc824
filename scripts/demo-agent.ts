/**
 * `npm run demo`: plays an AI agent against the keeper that `npm start` runs on this machine.
 * The agent pays ETH for a compute session (swapped to USDC through the real Uniswap router), the
 * keeper provisions the workload on the local provider, the agent extends the session, ends it, and
 * gets the unused part back. Every step is printed with its figures.
 */
import fs from "node:fs";
import path from "node:path";
import { Contract, JsonRpcProvider, formatEther, formatUnits, toUtf8Bytes } from "ethers";
import { AgentCompute__factory } from "../typechain-types";
import { devWallet, LocalDeployment } from "../keeper/embedded/localChain";
import quoterArtifact from "@uniswap/v3-periphery/artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json";

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
  const agent = devWallet(3).connect(rpc);
  const compute = AgentCompute__factory.connect(d.contracts.AgentCompute, agent);
  const quoter = new Contract(d.contracts.QuoterV2, quoterArtifact.abi, rpc);

  const duration = 3600n;
  const cost = await compute.getSessionCost(duration, 0);
  const [ethNeeded] = await quoter.quoteExactOutputSingle.staticCall({ tokenIn: d.contracts.WETH, tokenOut: d.contracts.USDC, amount: cost, fee: 500, sqrtPriceLimitX96: 0 });
  const maxEth = (ethNeeded * 101n) / 100n;
  say(`agent ${agent.address} on chain ${d.chainId}`);
  say(`1. quote: 1 h on SPHERON costs ${usd(cost)} = ${formatEther(ethNeeded)} ETH; sending ${formatEther(maxEth)} ETH (1% slippage)`);

  const ethBefore = await rpc.getBalance(agent.address);
  const startReceipt = (await (await compute.startSession(duration, 0, toUtf8Bytes(JSON.stringify(WORKLOAD)), { value: maxEth })).wait())!;
  const started = startReceipt.logs.map((l) => compute.interface.parseLog(l)).find((e) => e?.name === "SessionStarted")!;
  const id: string = started.args.instanceId;
  const spent = ethBefore - (await rpc.getBalance(agent.address)) - startReceipt.gasUsed * startReceipt.gasPrice;
  say(`2. paid: session ${id.slice(0, 18)}… in block ${startReceipt.blockNumber}; swap used ${formatEther(spent)} ETH, ${formatEther(maxEth - spent)} ETH refunded, ${usd(cost)} in escrow`);

  const t0 = Date.now();
  const activated = await waitFor("the keeper to provision the session", async () => (await compute.queryFilter(compute.filters.SessionActivated(id)))[0]);
  const outcome = (await compute.queryFilter(compute.filters.OutcomeRecorded(id)))[0];
  say(`3. keeper provisioned it in ${((Date.now() - t0) / 1000).toFixed(1)} s (3 confirmations): outcome Running at ${outcome.args.providerRef}; paid time runs until ${new Date(Number(activated.args.endTime) * 1000).toISOString()}`);

  await new Promise((r) => setTimeout(r, 5000));
  const extendCost = await compute.getSessionCost(1800, 0);
  const usdcAbi = ["function approve(address,uint256) returns (bool)", "function balanceOf(address) view returns (uint256)"];
  const usdc = new Contract(d.contracts.USDC, usdcAbi, agent);
  await (await usdc.approve(d.contracts.AgentCompute, extendCost)).wait();
  const ext = (await (await compute.extendSession(id, 1800)).wait())!;
  const newEnd = (ext.logs.map((l) => compute.interface.parseLog(l)).find((e) => e?.name === "SessionExtended"))!.args.newEndTime;
  say(`4. extended by 30 min for ${usd(extendCost)} (paid in USDC): now ends ${new Date(Number(newEnd) * 1000).toISOString()}; the same workload keeps running`);

  await new Promise((r) => setTimeout(r, 5000));
  const usdcBefore: bigint = await usdc.balanceOf(agent.address);
  const end = (await (await compute.endSession(id)).wait())!;
  const ended = end.logs.map((l) => compute.interface.parseLog(l)).find((e) => e?.name === "SessionEnded")!;
  const refunded: bigint = ended.args.refunded;
  const usdcAfter: bigint = await usdc.balanceOf(agent.address);
  say(`5. ended: ${usd(ended.args.paidToTreasury)} to the operator for the time used, ${usd(refunded)} refunded (agent USDC ${usd(usdcBefore)} -> ${usd(usdcAfter)})`);

  const s = await compute.getSession(id);
  say(`6. escrow for this session: deposited ${usd(s.deposited)} = claimed ${usd(s.claimed)} + refunded ${usd(refunded)}`);
  if (s.deposited !== s.claimed + refunded || usdcAfter - usdcBefore !== refunded) throw new Error("money does not add up");
  say("   the keeper now stops the workload; 'npm run keeper -- sessions' shows it ended");
  rpc.destroy();
}

main().catch((err) => {
  console.error(`demo: ${(err as Error).message}`);
  process.exit(1);
});
