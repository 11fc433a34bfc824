/**
 * Money is conserved, whatever agents, the keeper and the admin do and in whatever order:
 * for every session, deposited = claimed + refunded + held; the escrow's USDC balance is the sum of
 * what is held; the treasury got exactly what was claimed; each agent's USDC and ETH moved by exactly
 * what it paid minus what it was refunded (and gas); the bridge and the router keep nothing.
 */
import { expect } from "chai";
import fc from "fast-check";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { ContractTransactionResponse, TransactionReceipt } from "ethers";
import { systemFixture, quoteEthFor, System, CONFIG } from "../shared/fixtures";

type Action =
  | { kind: "start"; agent: number; duration: number; provider: number; eth: boolean }
  | { kind: "extend"; session: number; duration: number; eth: boolean }
  | { kind: "end"; session: number; byKeeper: boolean }
  | { kind: "claim"; session: number }
  | { kind: "outcome"; session: number; outcome: number }
  | { kind: "wait"; seconds: number }
  | { kind: "price"; provider: number; price: number };

const start = fc.record({ kind: fc.constant("start" as const), agent: fc.nat(1), duration: fc.integer({ min: 60, max: 4 * 3600 }), provider: fc.nat(2), eth: fc.boolean() });
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: start },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("extend" as const), session: fc.nat(), duration: fc.integer({ min: 60, max: 3600 }), eth: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("end" as const), session: fc.nat(), byKeeper: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("claim" as const), session: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("outcome" as const), session: fc.nat(), outcome: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("wait" as const), seconds: fc.integer({ min: 1, max: 3 * 3600 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("price" as const), provider: fc.nat(2), price: fc.integer({ min: 1, max: 5_000_000 }) }) },
);

interface Ledger {
  sessions: string[];
  usdcPaid: Map<string, bigint>; // agent -> USDC paid directly
  ethCost: Map<string, bigint>; // agent -> ETH swapped
}

async function send(tx: Promise<ContractTransactionResponse>): Promise<TransactionReceipt | null> {
  try {
    return await (await tx).wait();
  } catch {
    return null; // a revert is a legitimate outcome of a random action; the invariants must hold anyway
  }
}

async function run(s: System, actions: Action[]) {
  const agents = [s.agent, s.other];
  const ledger: Ledger = { sessions: [], usdcPaid: new Map(), ethCost: new Map() };
  const add = (m: Map<string, bigint>, k: string, v: bigint) => m.set(k, (m.get(k) ?? 0n) + v);
  const startUsdc = await Promise.all(agents.map((a) => s.usdc.balanceOf(a.address)));
  const startEth = await Promise.all(agents.map((a) => ethers.provider.getBalance(a.address)));
  const startBlock = await ethers.provider.getBlockNumber();
  const pick = (i: number) => ledger.sessions[i % ledger.sessions.length];

  /** Sends a payment as `agent`, in ETH (quote + 2%) or USDC, and books what it cost the agent. */
  async function pay(agentIndex: number, eth: boolean, cost: () => Promise<bigint>, tx: (value: bigint) => Promise<ContractTransactionResponse>) {
    const agent = agents[agentIndex].address;
    let value = 0n;
    if (eth) {
      const c = await cost().catch(() => 0n);
      value = c > 0n ? ((await quoteEthFor(s, c)) * 102n) / 100n : 1n;
    }
    const receipt = await send(tx(value));
    if (!receipt) return null;
    for (const log of receipt.logs) {
      const ev = s.compute.interface.parseLog(log) ?? s.bridge.interface.parseLog(log);
      if (ev?.name === "ComputeRequested") add(ledger.ethCost, agent, ev.args.ethSpent);
      if (!eth && (ev?.name === "SessionStarted" || ev?.name === "SessionExtended")) add(ledger.usdcPaid, agent, ev.args.cost);
      if (ev?.name === "SessionStarted") ledger.sessions.push(ev.args.instanceId);
    }
    return receipt;
  }

  for (const a of actions) {
    if (a.kind === "start") {
      const c = s.compute.connect(agents[a.agent]);
      await pay(a.agent, a.eth, () => s.compute.getSessionCost(a.duration, a.provider), (value) =>
        c.startSession(a.duration, a.provider, CONFIG, { value }),
      );
    } else if (ledger.sessions.length === 0 && a.kind !== "wait" && a.kind !== "price") {
      continue;
    } else if (a.kind === "extend") {
      const id = pick(a.session);
      const agentIndex = agents.findIndex((g) => g.address === ethers.getAddress(ethers.dataSlice(id, 0, 20)));
      const session = await s.compute.getSession(id);
      const c = s.compute.connect(agents[agentIndex]);
      await pay(agentIndex, a.eth, () => s.compute.getSessionCost(a.duration, session.provider), (value) =>
        c.extendSession(id, a.duration, { value }),
      );
    } else if (a.kind === "end") {
      const id = pick(a.session);
      const agentIndex = agents.findIndex((g) => g.address === ethers.getAddress(ethers.dataSlice(id, 0, 20)));
      const signer = a.byKeeper ? s.keeper : agents[agentIndex];
      await send(s.compute.connect(signer).endSession(id));
    } else if (a.kind === "claim") {
      await send(s.compute.connect(s.keeper).claim(pick(a.session)));
    } else if (a.kind === "outcome") {
      await send(s.compute.connect(s.keeper).recordOutcome(pick(a.session), a.outcome, "ref"));
    } else if (a.kind === "wait") {
      await time.increase(a.seconds);
    } else if (a.kind === "price") {
      await send(s.compute.connect(s.admin).setProvider(a.provider, a.price, true));
    }
  }
  return { ledger, agents, startUsdc, startEth, startBlock };
}

async function checkInvariants(s: System, r: Awaited<ReturnType<typeof run>>) {
  const { ledger, agents, startUsdc, startEth, startBlock } = r;
  // Gas from the chain itself: Hardhat mines reverted transactions too, and they cost gas.
  const gas = new Map<string, bigint>();
  for (let n = startBlock + 1; n <= (await ethers.provider.getBlockNumber()); n++) {
    const block = await ethers.provider.getBlock(n, true);
    for (const tx of block!.prefetchedTransactions) {
      const receipt = await ethers.provider.getTransactionReceipt(tx.hash);
      gas.set(tx.from, (gas.get(tx.from) ?? 0n) + receipt!.gasUsed * receipt!.gasPrice);
    }
  }
  const computeAddress = await s.compute.getAddress();
  // Refunds and treasury payments as an auditor sees them: from the logs alone.
  const refunds = new Map<string, bigint>();
  const ended = await s.compute.queryFilter(s.compute.filters.SessionEnded());
  for (const e of ended) refunds.set(e.args.instanceId, e.args.refunded);
  const started = await s.compute.queryFilter(s.compute.filters.SessionStarted());
  const extended = await s.compute.queryFilter(s.compute.filters.SessionExtended());
  const claimedEvents = await s.compute.queryFilter(s.compute.filters.EscrowClaimed());

  let held = 0n;
  let claimed = 0n;
  let deposited = 0n;
  const refundTo = new Map<string, bigint>();
  for (const id of ledger.sessions) {
    const x = await s.compute.getSession(id);
    const refunded = refunds.get(id) ?? 0n;
    const h = x.status === 3n ? 0n : x.deposited - x.claimed;
    expect(x.deposited, `session ${id}: deposited = claimed + refunded + held`).to.equal(x.claimed + refunded + h);
    if (x.status === 3n) expect(refunds.has(id), "an ended session has a SessionEnded event").to.equal(true);
    held += h;
    claimed += x.claimed;
    deposited += x.deposited;
    const agent = await s.compute.agentOf(id);
    refundTo.set(agent, (refundTo.get(agent) ?? 0n) + refunded);
  }
  const paidIn = [...started, ...extended].reduce((t, e) => t + e.args.cost, 0n);
  expect(deposited, "deposited = sum of SessionStarted + SessionExtended costs").to.equal(paidIn);
  expect(await s.usdc.balanceOf(computeAddress), "escrow balance = sum held").to.equal(held);
  expect(await s.usdc.balanceOf(s.treasury.address), "treasury = sum claimed").to.equal(claimed);
  const treasuryFromLogs =
    claimedEvents.reduce((t, e) => t + e.args.amount, 0n) + ended.reduce((t, e) => t + e.args.paidToTreasury, 0n);
  expect(treasuryFromLogs, "treasury payments in the logs = sum claimed").to.equal(claimed);
  for (const [i, a] of agents.entries()) {
    const expectedUsdc = startUsdc[i] - (ledger.usdcPaid.get(a.address) ?? 0n) + (refundTo.get(a.address) ?? 0n);
    expect(await s.usdc.balanceOf(a.address), `agent ${i} USDC`).to.equal(expectedUsdc);
    const expectedEth = startEth[i] - (ledger.ethCost.get(a.address) ?? 0n) - (gas.get(a.address) ?? 0n);
    expect(await ethers.provider.getBalance(a.address), `agent ${i} ETH`).to.equal(expectedEth);
  }
  for (const holder of [await s.bridge.getAddress(), await s.uni.router.getAddress(), computeAddress]) {
    expect(await ethers.provider.getBalance(holder), "no ETH left behind").to.equal(0n);
    expect(await s.usdc.balanceOf(holder === computeAddress ? ethers.ZeroAddress : holder)).to.equal(0n);
  }
}

describe("AgentCompute money conservation (property-based)", function () {
  const runs = Number(process.env.PROPERTY_RUNS ?? 500);

  it(`holds after random sequences of starts, extends, ends, claims, outcomes, time and price changes (${runs} runs)`, async function () {
    this.timeout(0);
    let sessionsSeen = 0;
    await fc.assert(
      // Every run opens a session first, then does 1-20 random things ("large" size: long runs are common).
      fc.asyncProperty(start, fc.array(action, { minLength: 1, maxLength: 20, size: "large" }), async (first, rest) => {
        const s = await loadFixture(systemFixture);
        const r = await run(s, [first, ...rest]);
        sessionsSeen += r.ledger.sessions.length;
        await checkInvariants(s, r);
      }),
      { numRuns: runs, seed: process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : undefined },
    );
    // The property must actually have exercised sessions, not only reverted actions.
    expect(sessionsSeen).to.be.gt(runs * 1.5);
  });
});
