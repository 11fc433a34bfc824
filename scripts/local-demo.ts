/**
 * The contracts on their own, in one process: Hardhat's in-process chain (chain id 8453, like Base),
 * the real Uniswap V3 stack from npm artifacts, a local USDC (LocalUSDC) and a funded pool, AgentCompute +
 * AgentComputeBridge, and a scripted agent with a fresh key that pays ETH for a session. This script
 * plays the keeper's on-chain part. It ends with the money summary and the audit trail as
 * `eth_getLogs` shows it, and exits 1 if the money does not add up.
 *
 *   npx hardhat run scripts/local-demo.ts        (npm run demo:contracts)
 */
import hre from "hardhat";
import {
  ContractTransactionResponse,
  formatEther,
  formatUnits,
  Log,
  LogDescription,
  toUtf8Bytes,
  TransactionReceipt,
  Wallet,
} from "ethers";
import { deployLocalStack } from "../localnet/stack";
import { deploySystem } from "../localnet/system";
import type { AgentCompute, AgentComputeBridge } from "../typechain-types";

const { ethers, network } = hre;

const SPHERON = 0;
const HOUR = 3600n;
const RUNNING = 1;
const SLIPPAGE_PERCENT = 1n;
const CONFIG = '{"command":["python3","-m","http.server"],"image":"python:3.12-slim","cpu":1,"memoryMb":512}';

const usdc6 = (v: bigint) => formatUnits(v, 6).padEnd(formatUnits(v, 6).indexOf(".") + 7, "0");
const usd = (v: bigint) => `${usdc6(v)} USDC`;
const eth = (v: bigint) => `${formatEther(v)} ETH`;
const short = (hex: string) => `${hex.slice(0, 6)}…${hex.slice(-4)}`;
const clock = (ts: bigint | number) => new Date(Number(ts) * 1000).toISOString().slice(11, 19);
const gas = (r: TransactionReceipt) => `gas ${r.gasUsed.toLocaleString("en-US")}`;

/** Every check the demo makes; any failure makes the exit code 1. */
const failures: string[] = [];
function verdict(ok: boolean, what: string): string {
  if (!ok) failures.push(what);
  return ok ? "OK" : "MISMATCH";
}

async function mined(tx: Promise<ContractTransactionResponse>): Promise<TransactionReceipt> {
  return (await (await tx).wait())!;
}

/** The next transaction is mined exactly at `timestamp`, so the figures are round ones. */
async function nextBlockAt(timestamp: bigint): Promise<void> {
  await network.provider.send("evm_setNextBlockTimestamp", [Number(timestamp)]);
}

/** Parses a log with whichever of the two contracts emitted it. */
function parser(compute: AgentCompute, bridge: AgentComputeBridge) {
  return (log: Log): LogDescription | null => compute.interface.parseLog(log) ?? bridge.interface.parseLog(log);
}

function eventIn(receipt: TransactionReceipt, parse: (l: Log) => LogDescription | null, name: string): LogDescription {
  for (const log of receipt.logs) {
    const ev = parse(log);
    if (ev?.name === name) return ev;
  }
  throw new Error(`${name} not in transaction ${receipt.hash}`);
}

const USDC_FIELDS = new Set(["cost", "amount", "usdcAmount", "paidToTreasury", "refunded", "dailyCap", "weeklyCap"]);
const TIME_FIELDS = new Set(["startTime", "endTime", "newEndTime", "settledUntil"]);
const OUTCOMES = ["None", "Running", "Failed", "Completed"];

/** One event as an auditor reads it: amounts in USDC/ETH, times of day, ids and addresses shortened. */
function describeEvent(ev: LogDescription): string {
  const fields = ev.fragment.inputs.map((input, i) => {
    const v = ev.args[i];
    let text: string;
    if (USDC_FIELDS.has(input.name)) text = usdc6(v);
    else if (input.name === "ethSpent") text = `${formatEther(v)} ETH`;
    else if (TIME_FIELDS.has(input.name)) text = clock(v);
    else if (input.name === "outcome") text = OUTCOMES[Number(v)];
    else if (input.name === "config") text = `${ethers.getBytes(v).length} bytes`;
    else if (typeof v === "string" && v.startsWith("0x")) text = short(v);
    else text = String(v);
    return `${input.name}=${text}`;
  });
  return `${ev.name} ${fields.join(" ")}`;
}

async function main() {
  // --- the chain: what Base has, and the system on top
  const [deployer, keeper, treasury] = await ethers.getSigners();
  const stack = await deployLocalStack(deployer, { send: (m, p) => network.provider.send(m, p) });
  const { uni, usdc } = stack;
  const { compute, bridge } = await deploySystem(deployer, {
    ...stack.addresses,
    admin: deployer.address,
    treasury: treasury.address,
    keeper: keeper.address,
  });
  const [computeAddress, bridgeAddress] = [await compute.getAddress(), await bridge.getAddress()];
  const parse = parser(compute, bridge);
  const a = stack.addresses;
  console.log(
    `chain ${(await ethers.provider.getNetwork()).chainId} (in-process Hardhat, Base's chain id), Uniswap V3 from npm artifacts:`,
  );
  console.log(`  SwapRouter02 ${a.router}  QuoterV2 ${a.quoter}  WETH9 ${a.weth}`);
  console.log(`  LocalUSDC ${a.usdc}; WETH/USDC 0.05% pool ${a.pool} at $3,000 (100 ETH + 300,000 USDC)`);
  console.log(`  AgentCompute ${computeAddress}  AgentComputeBridge ${bridgeAddress}`);
  console.log(`  keeper ${keeper.address}  treasury ${treasury.address}`);

  // --- the agent: a fresh key, given ETH only
  const agent = Wallet.createRandom(ethers.provider);
  await (await deployer.sendTransaction({ to: agent.address, value: ethers.parseEther("1") })).wait();
  console.log(`agent ${agent.address} (fresh key) holds 1.0 ETH and no USDC\n`);
  const asAgent = compute.connect(agent);
  const asKeeper = compute.connect(keeper);

  // 1. quote
  const cost = await compute.getSessionCost(HOUR, SPHERON);
  const [quote] = await uni.quoter.quoteExactOutputSingle.staticCall({
    tokenIn: a.weth,
    tokenOut: a.usdc,
    amount: cost,
    fee: 500,
    sqrtPriceLimitX96: 0,
  });
  const maxIn = (quote * (100n + SLIPPAGE_PERCENT)) / 100n;
  console.log(`1. quote: 1 h on SPHERON = ${usd(cost)} (getSessionCost) = ${eth(quote)} (QuoterV2); the agent sends it +1%: ${eth(maxIn)}`);

  // 2. pay ETH: the bridge swaps for exactly the cost and refunds the rest in the same transaction
  const ethBefore = await ethers.provider.getBalance(agent.address);
  const started = await mined(asAgent.startSession(HOUR, SPHERON, toUtf8Bytes(CONFIG), { value: maxIn }));
  const id: string = eventIn(started, parse, "SessionStarted").args.instanceId;
  const ethSpent: bigint = eventIn(started, parse, "ComputeRequested").args.ethSpent;
  const fee = started.gasUsed * started.gasPrice;
  // Measured on the agent's balance, not derived from the event: the refund must really have landed.
  const ethRefunded = maxIn - (ethBefore - (await ethers.provider.getBalance(agent.address)) - fee);
  const requested = eventIn(started, parse, "ComputeRequested").args;
  verdict(requested.ethIn === maxIn && requested.ethRefunded === ethRefunded, "ComputeRequested ethIn/ethRefunded");
  console.log(`2. startSession{value}: session ${short(id)}; the swap spent ${eth(ethSpent)}, ${eth(ethRefunded)} came back`);
  console.log(`   in the same transaction; ${usd(await usdc.balanceOf(computeAddress))} escrowed; ${gas(started)} (${eth(fee)})`);

  // 3. the keeper provisions it: the paid hour starts now, not at payment
  const running = await mined(asKeeper.recordOutcome(id, RUNNING, "spheron:lease-demo-1"));
  const activated = eventIn(running, parse, "SessionActivated");
  console.log(
    `3. keeper recordOutcome(Running, "spheron:lease-demo-1"): paid time runs ${clock(activated.args.startTime)} to ${clock(activated.args.endTime)} UTC; ${gas(running)}`,
  );

  // 4. time passes; the keeper claims what has streamed
  const startTime: bigint = activated.args.startTime;
  await nextBlockAt(startTime + 20n * 60n);
  const claimed = await mined(asKeeper.claim(id));
  console.log(
    `4. 20 min later the keeper claims ${usd(eventIn(claimed, parse, "EscrowClaimed").args.amount)} for the treasury; ${gas(claimed)}`,
  );

  // 5. extend, paying USDC this time
  const faucet = 1_000_000n;
  await (await usdc.mint(agent.address, faucet)).wait();
  const extra = await compute.getSessionCost(1800, SPHERON);
  await mined(usdc.connect(agent).approve(computeAddress, extra));
  const extended = await mined(asAgent.extendSession(id, 1800));
  console.log(
    `5. agent gets ${usd(faucet)} from the test faucet, approves ${usdc6(extra)} and extendSession(+30 min): now ends ${clock(eventIn(extended, parse, "SessionExtended").args.newEndTime)}; ${gas(extended)}`,
  );

  // 6. the agent caps its own spending (it has no guardian)
  await mined(asAgent.setSpendingCaps(agent.address, 1_000_000, 5_000_000));
  const [daily, weekly] = await compute.remainingAllowance(agent.address);
  const tooMuch = await compute.getSessionCost(3 * 3600, SPHERON);
  const refusal = await asAgent.extendSession.staticCall(id, 3 * 3600).then(
    () => "went through (it should not)",
    (err) => `reverts ${compute.interface.parseError(err.data)?.name ?? err.shortMessage}`,
  );
  console.log(
    `6. agent setSpendingCaps(itself, 1 USDC/day, 5 USDC/week): ${usdc6(daily)} / ${usdc6(weekly)} left; a 3 h extension (${usd(tooMuch)}) ${refusal}`,
  );
  verdict(refusal === "reverts DailyCapExceeded", "spending cap");

  // 7. the agent ends the session; the unused escrow comes back
  await nextBlockAt(startTime + 30n * 60n);
  const usdcBefore = await usdc.balanceOf(agent.address);
  const endedReceipt = await mined(asAgent.endSession(id));
  const ended = eventIn(endedReceipt, parse, "SessionEnded");
  const usdcAfter = await usdc.balanceOf(agent.address);
  console.log(`7. at 30 min the agent ends it: ${usd(ended.args.paidToTreasury)} to the treasury, ${usd(ended.args.refunded)} refunded;`);
  console.log(
    `   agent's USDC ${usdc6(usdcBefore)} -> ${usdc6(usdcAfter)}: ${verdict(usdcAfter - usdcBefore === ended.args.refunded, "USDC refund")}; ${gas(endedReceipt)}`,
  );

  // --- the money, from the events alone, then against balances and storage
  const logs = await ethers.provider.getLogs({ address: [computeAddress, bridgeAddress], fromBlock: started.blockNumber });
  const events = logs.map((log) => ({ log, ev: parse(log)! })).filter((x) => x.ev);
  const sum = (name: string, field: string) =>
    events.filter((x) => x.ev.name === name).reduce((t, x) => t + (x.ev.args[field] as bigint), 0n);
  const escrowed = sum("SessionStarted", "cost") + sum("SessionExtended", "cost");
  const toTreasury = sum("EscrowClaimed", "amount") + sum("SessionEnded", "paidToTreasury");
  const refunded = sum("SessionEnded", "refunded");
  // The treasury's share is a withdrawable balance (pull payments): the escrow's USDC is held + owed.
  const owed = await compute.withdrawable(treasury.address);
  const held = (await usdc.balanceOf(computeAddress)) - owed;
  const session = await compute.getSession(id);
  console.log(
    `\nmoney, from the events: escrowed ${usdc6(escrowed)} = claimed ${usdc6(toTreasury)} + refunded ${usdc6(refunded)} + held ${usdc6(held)} USDC: ${verdict(escrowed === toTreasury + refunded + held, "escrow sum")}`,
  );
  console.log(
    `  against balances and storage: treasury paid + withdrawable = claimed ${verdict((await usdc.balanceOf(treasury.address)) + owed === toTreasury, "treasury")}; ` +
      `agent = faucet - extension + refund ${verdict(usdcAfter === faucet - extra + refunded, "agent USDC")}; ` +
      `getSession ${verdict(session.deposited === escrowed && session.claimed === toTreasury && session.status === 3n, "storage")}`,
  );
  console.log(
    `  ETH: sent ${formatEther(maxIn)} = swap ${formatEther(ethSpent)} (= the quote: ${verdict(ethSpent === quote, "quote")}) ` +
      `+ refund ${formatEther(ethRefunded)}: ${verdict(ethRefunded > 0n && maxIn === ethSpent + ethRefunded, "ETH refund")}`,
  );

  console.log(`audit trail: eth_getLogs on AgentCompute and the bridge from block ${started.blockNumber}: ${events.length} events`);
  for (const { log, ev } of events) console.log(`  #${log.blockNumber} ${describeEvent(ev)}`);

  await autoRenewal(compute, asAgent, asKeeper, usdc, parse, treasury.address);

  if (failures.length) {
    console.error(`\nMONEY DOES NOT ADD UP: ${failures.join(", ")}`);
    process.exitCode = 1;
  }
}

/**
 * 8-10. Auto-renewal: a 10-minute session the agent puts on auto-renewal with a budget for one
 * renewal. The keeper renews it 5 minutes before its end (paid from the agent's USDC at the price in
 * force), the next renewal finds the budget spent (RenewalFailed, no revert), and the session ends
 * normally at its paid end.
 */
async function autoRenewal(
  compute: AgentCompute,
  asAgent: AgentCompute,
  asKeeper: AgentCompute,
  usdc: {
    balanceOf(a: string): Promise<bigint>;
    connect(s: Wallet): { approve(a: string, v: bigint): Promise<ContractTransactionResponse> };
  },
  parse: (l: Log) => LogDescription | null,
  treasury: string,
) {
  const PERIOD = 600n;
  const LEAD = 300n;
  const agent = asAgent.runner as Wallet;
  const computeAddress = await compute.getAddress();
  const cost = await compute.getSessionCost(PERIOD, SPHERON);
  await mined(usdc.connect(agent).approve(computeAddress, 10n * cost));
  const started = await mined(asAgent.startSessionWithMaxCost(PERIOD, SPHERON, toUtf8Bytes(CONFIG), cost));
  const id: string = eventIn(started, parse, "SessionStarted").args.instanceId;
  const activated = eventIn(await mined(asKeeper.recordOutcome(id, RUNNING, "spheron:lease-demo-2")), parse, "SessionActivated");
  const set = await mined(asAgent.setAutoRenewal(id, PERIOD, cost, cost));
  console.log(
    `\n8. agent starts a 10 min session (startSessionWithMaxCost, ${usd(cost)}), running ${clock(activated.args.startTime)}-${clock(activated.args.endTime)};`,
  );
  console.log(`   setAutoRenewal(period 10 min, max ${usdc6(cost)} per renewal, budget ${usdc6(cost)}): ${gas(set)}`);

  const end: bigint = activated.args.endTime;
  await nextBlockAt(end - LEAD);
  const renewed = await mined(asKeeper.renew(id));
  const r = eventIn(renewed, parse, "SessionRenewed").args;
  console.log(
    `9. ${clock(end - LEAD)}, 5 min before the end, the keeper renew(): +${r.period} s for ${usd(r.cost)}, now ends ${clock(r.newEndTime)}, budget left ${usdc6(r.budgetLeft)}; ${gas(renewed)}`,
  );
  verdict(r.cost === cost && r.newEndTime === end + PERIOD && r.budgetLeft === 0n, "renewal");

  await nextBlockAt(end + PERIOD - LEAD);
  const failed = await mined(asKeeper.renew(id));
  const reason = Number(eventIn(failed, parse, "RenewalFailed").args.reason);
  await nextBlockAt(end + PERIOD);
  const completed = await mined(asKeeper.recordOutcome(id, 3, "spheron:lease-demo-2"));
  const ended = eventIn(completed, parse, "SessionEnded").args;
  const s = await compute.getSession(id);
  console.log(
    `10. next renew(): RenewalFailed(${["None", "BudgetExhausted", "AboveMaxPerRenewal", "CapExceeded", "ProviderInactive", "PaymentFailed"][reason]}), renewal off, no revert;`,
  );
  console.log(
    `    at ${clock(end + PERIOD)} the keeper records Completed: ${usd(ended.paidToTreasury)} credited to the treasury, ${usd(ended.refunded)} refunded; ` +
      `deposited ${usdc6(s.deposited)} = 2 x ${usdc6(cost)} ${verdict(s.deposited === 2n * cost && s.claimed === s.deposited && reason === 1, "renewed session")}`,
  );
  console.log(`    treasury withdrawable ${usd(await compute.withdrawable(treasury))}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
