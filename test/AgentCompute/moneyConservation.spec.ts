/**
 * Money is conserved, whatever agents, the keeper and the admin do and in whatever order:
 * for every session, deposited = claimed + refunded + held; the escrow's USDC balance is the sum of
 * what is held plus the withdrawable balances; the treasury got (or may withdraw) exactly what was
 * claimed; each agent's USDC and ETH moved by exactly what it paid minus what it was refunded (and gas);
 * the bridge and the router keep nothing.
 *
 * And every second is charged at the price in force when it was bought: rebuilt from the logs alone,
 * each session's purchases (start, extensions) are consumed in order from its activation (or from the
 * keeper's Provisioning report, for a pending session its agent ended within the window), and what the
 * treasury got for the seconds used equals that model, to within one base unit per claim (each claim
 * rounds down).
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
  | { kind: "price"; provider: number; price: number }
  | { kind: "withdraw" };

const start = fc.record({
  kind: fc.constant("start" as const),
  agent: fc.nat(1),
  duration: fc.integer({ min: 60, max: 4 * 3600 }),
  provider: fc.nat(2),
  eth: fc.boolean(),
});
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: start },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("extend" as const),
      session: fc.nat(),
      duration: fc.integer({ min: 60, max: 3600 }),
      eth: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("end" as const), session: fc.nat(), byKeeper: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("claim" as const), session: fc.nat() }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("outcome" as const), session: fc.nat(), outcome: fc.integer({ min: 1, max: 4 }) }),
  },
  // Mostly short waits, so that extensions, claims and ends often land mid-session (where pricing matters).
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("wait" as const),
      seconds: fc.oneof(fc.integer({ min: 1, max: 900 }), fc.integer({ min: 1, max: 3 * 3600 })),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("price" as const), provider: fc.nat(2), price: fc.integer({ min: 1, max: 5_000_000 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "withdraw" as const }) },
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
  async function pay(
    agentIndex: number,
    eth: boolean,
    cost: () => Promise<bigint>,
    tx: (value: bigint) => Promise<ContractTransactionResponse>,
  ) {
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
      await pay(
        a.agent,
        a.eth,
        () => s.compute.getSessionCost(a.duration, a.provider),
        (value) => c.startSession(a.duration, a.provider, CONFIG, { value }),
      );
    } else if (ledger.sessions.length === 0 && a.kind !== "wait" && a.kind !== "price" && a.kind !== "withdraw") {
      continue;
    } else if (a.kind === "extend") {
      const id = pick(a.session);
      const agentIndex = agents.findIndex((g) => g.address === ethers.getAddress(ethers.dataSlice(id, 0, 20)));
      const session = await s.compute.getSession(id);
      const c = s.compute.connect(agents[agentIndex]);
      await pay(
        agentIndex,
        a.eth,
        () => s.compute.getSessionCost(a.duration, session.provider),
        (value) => c.extendSession(id, a.duration, { value }),
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
    } else if (a.kind === "withdraw") {
      await send(s.compute.connect(s.other).withdraw(s.treasury.address));
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
  const owedToTreasury = await s.compute.withdrawable(s.treasury.address);
  const deferred = (await Promise.all(agents.map((a) => s.compute.withdrawable(a.address)))).reduce((t, v) => t + v, 0n);
  expect(deferred, "EOAs always take their refunds").to.equal(0n);
  expect(await s.usdc.balanceOf(computeAddress), "escrow balance = sum held + withdrawable").to.equal(held + owedToTreasury);
  expect((await s.usdc.balanceOf(s.treasury.address)) + owedToTreasury, "treasury paid + withdrawable = sum claimed").to.equal(claimed);
  const withdrawn = (await s.compute.queryFilter(s.compute.filters.Withdrawn())).reduce((t, e) => t + e.args.amount, 0n);
  expect(withdrawn, "Withdrawn events = what the treasury received").to.equal(await s.usdc.balanceOf(s.treasury.address));
  await checkPurchasePrices(s, ledger.sessions, ended, started, extended, claimedEvents);
  const treasuryFromLogs = claimedEvents.reduce((t, e) => t + e.args.amount, 0n) + ended.reduce((t, e) => t + e.args.paidToTreasury, 0n);
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

type Log = Awaited<ReturnType<System["compute"]["queryFilter"]>>[number];

/** What the first `used` seconds of a session cost, consuming its purchases in order at their own prices. */
function modelCharge(purchases: { duration: bigint; cost: bigint }[], used: bigint): bigint {
  let charge = 0n;
  for (const p of purchases) {
    if (used <= 0n) break;
    charge += used >= p.duration ? p.cost : (p.cost * used) / p.duration;
    used -= p.duration;
  }
  return charge;
}

async function checkPurchasePrices(s: System, sessions: string[], ended: Log[], started: Log[], extended: Log[], claims: Log[]) {
  const c = s.compute;
  const activated = await c.queryFilter(c.filters.SessionActivated());
  const provisioning = await c.queryFilter(c.filters.OutcomeRecorded(undefined, 4));
  const window = await c.PROVISIONING_WINDOW();
  const args = (l: Log) => (l as unknown as { args: Record<string, bigint | string> }).args;
  for (const id of sessions) {
    const mine = (logs: Log[]) => logs.filter((l) => args(l).instanceId === id);
    // Purchases in the order they were made (block, then log index).
    const purchases = [...mine(started), ...mine(extended)]
      .sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index)
      .map((l) => ({ duration: (args(l).duration ?? args(l).additionalTime) as bigint, cost: args(l).cost as bigint }));
    const x = await c.getSession(id);
    const act = mine(activated)[0];
    const end = mine(ended)[0];
    const nClaims = BigInt(mine(claims).length);
    let used = 0n;
    let charged = x.claimed;
    if (act && x.status === 2n) {
      // Still active: what has been claimed plus what is claimable now, for the seconds used so far.
      const now = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
      used = (now < x.endTime ? now : x.endTime) - (args(act).startTime as bigint);
      charged += await c.claimable(id);
    } else if (act) {
      used = x.settledUntil - (args(act).startTime as bigint);
    } else if (end && args(end).paidToTreasury !== 0n) {
      // Ended while pending within the provisioning window: the time since the first Provisioning report.
      const prov = mine(provisioning).filter((l) => l.blockNumber <= end.blockNumber)[0];
      expect(prov, "a pending session pays only after a Provisioning report").to.not.equal(undefined);
      const from = BigInt((await ethers.provider.getBlock(prov.blockNumber))!.timestamp);
      const at = BigInt((await ethers.provider.getBlock(end.blockNumber))!.timestamp);
      expect(at - from, "only within the provisioning window").to.be.lt(window);
      used = at - from;
    }
    const expected = modelCharge(purchases, used);
    const diff = charged > expected ? charged - expected : expected - charged;
    expect(diff, `session ${id}: charged ${charged} for ${used} s; at purchase prices ${expected}`).to.be.lte(nClaims + 1n);
  }
}

describe("AgentCompute money conservation (property-based)", function () {
  const runs = Number(process.env.PROPERTY_RUNS ?? 500);

  it(`holds after random sequences of starts, extends, ends, claims, outcomes, withdrawals, time and price changes, each second charged at its purchase price (${runs} runs)`, async function () {
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

  it(`one running session under random extensions, price changes, claims and waits, then an end, a Failed outcome or nothing: every second at its purchase price (${runs} runs)`, async function () {
    this.timeout(0);
    const first = fc.record({
      kind: fc.constant("start" as const),
      agent: fc.constant(0),
      duration: fc.integer({ min: 60, max: 3600 }),
      provider: fc.constant(0),
      eth: fc.boolean(),
    });
    const step: fc.Arbitrary<Action> = fc.oneof(
      fc.record({
        kind: fc.constant("extend" as const),
        session: fc.constant(0),
        duration: fc.integer({ min: 60, max: 3600 }),
        eth: fc.boolean(),
      }),
      fc.record({ kind: fc.constant("price" as const), provider: fc.constant(0), price: fc.integer({ min: 1, max: 5_000_000 }) }),
      fc.record({ kind: fc.constant("claim" as const), session: fc.constant(0) }),
      fc.record({ kind: fc.constant("wait" as const), seconds: fc.integer({ min: 1, max: 1800 }) }),
    );
    const last: fc.Arbitrary<Action[]> = fc.oneof(
      fc.constant<Action[]>([]),
      fc.constant<Action[]>([{ kind: "end", session: 0, byKeeper: false }]),
      fc.constant<Action[]>([{ kind: "outcome", session: 0, outcome: 2 }]),
    );
    await fc.assert(
      fc.asyncProperty(first, fc.array(step, { minLength: 1, maxLength: 12 }), last, async (f, steps, end) => {
        const s = await loadFixture(systemFixture);
        const running: Action = { kind: "outcome", session: 0, outcome: 1 };
        await checkInvariants(s, await run(s, [f, running, ...steps, ...end]));
      }),
      { numRuns: runs, seed: process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : undefined },
    );
  });
});
