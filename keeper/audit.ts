/**
 * `keeper audit`: what an auditor checks, from the chain's logs and the keeper's database alone.
 *
 * - every paid session (SessionStarted) is known to the keeper and has an on-chain outcome, unless
 *   the keeper is still provisioning it or the agent ended it before it ran (refunded in full);
 * - every outcome on chain belongs to a paid session, and every session in the database is on chain;
 * - per session, the database's deposited / claimed / refunded equal the chain's;
 * - every movement of USDC, rebuilt from the logs (reconcileLogs): deposits (SessionStarted,
 *   SessionExtended, SessionRenewed costs), claims and SessionEnded payouts credited to the treasury's
 *   withdrawable balance, refunds (pushed, or deferred to the agent's balance: RefundDeferred), and
 *   Withdrawn; per session deposited = claimed + refunded + held (held 0 once ended), every pull
 *   balance non-negative and equal to the contract's `withdrawable`, and held + pull balances equal to
 *   AgentCompute's USDC balance;
 * - every ETH payment (the bridge's ComputeRequested): the USDC it bought is the session's deposit in
 *   the same transaction, ethSpent <= ethIn, and ethSpent + ethRefunded >= ethIn (anything above is
 *   ETH that had been stranded in the router, returned to the agent).
 */
import { Contract, JsonRpcProvider, Log } from "ethers";
import type { Store } from "./store/store";
import type { Deployment } from "./keeper";
import { bridgeInterface, computeInterface } from "./chain/contracts";

/** One decoded log, as reconcileLogs reads it. */
export interface AuditLog {
  name: string;
  args: Record<string, unknown>;
  txHash: string;
  /** "compute" or "bridge": which contract emitted it. */
  source: "compute" | "bridge";
}

export interface LedgerSession {
  agent: string;
  deposited: bigint;
  claimed: bigint;
  refunded: bigint;
  deferred: bigint;
  ended: boolean;
  outcomes: number[];
  endedBy?: string;
}

export interface Ledger {
  sessions: Map<string, LedgerSession>;
  outcomeWithoutPayment: Set<string>;
  /** Withdrawable balances rebuilt from the logs, by lower-case account. */
  pull: Map<string, { credited: bigint; withdrawn: bigint }>;
  eth: { payments: number; ethIn: bigint; ethSpent: bigint; ethRefunded: bigint; strandedReturned: bigint };
  problems: { instanceId?: string; txHash?: string; problem: string }[];
}

const big = (v: unknown): bigint => BigInt(v as bigint | string | number);

/** Rebuilds every USDC and ETH movement from the logs, in chain order, and lists what does not add up. */
export function reconcileLogs(logs: readonly AuditLog[]): Ledger {
  const l: Ledger = {
    sessions: new Map(),
    outcomeWithoutPayment: new Set(),
    pull: new Map(),
    eth: { payments: 0, ethIn: 0n, ethSpent: 0n, ethRefunded: 0n, strandedReturned: 0n },
    problems: [],
  };
  const credit = (account: unknown, amount: bigint, sign: 1n | -1n) => {
    const k = String(account).toLowerCase();
    const b = l.pull.get(k) ?? { credited: 0n, withdrawn: 0n };
    if (sign === 1n) b.credited += amount;
    else b.withdrawn += amount;
    l.pull.set(k, b);
  };
  // USDC deposits per transaction and session, to match the bridge's purchases against.
  const deposits = new Map<string, bigint>();
  const bought: { txHash: string; instanceId: string; usdc: bigint }[] = [];
  const deposit = (txHash: string, id: string, cost: bigint) =>
    deposits.set(`${txHash}:${id}`, (deposits.get(`${txHash}:${id}`) ?? 0n) + cost);
  for (const ev of logs) {
    const a = ev.args;
    const id = a.instanceId as string | undefined;
    const s = id ? l.sessions.get(id) : undefined;
    if (ev.source === "bridge") {
      if (ev.name !== "ComputeRequested") continue;
      const ethIn = big(a.ethIn);
      const spent = big(a.ethSpent);
      const back = big(a.ethRefunded);
      l.eth.payments++;
      l.eth.ethIn += ethIn;
      l.eth.ethSpent += spent;
      l.eth.ethRefunded += back;
      if (spent > ethIn) l.problems.push({ instanceId: id, txHash: ev.txHash, problem: `ETH spent ${spent} exceeds ETH in ${ethIn}` });
      else if (spent + back < ethIn)
        l.problems.push({ instanceId: id, txHash: ev.txHash, problem: `ETH unaccounted: in ${ethIn}, spent ${spent}, refunded ${back}` });
      else l.eth.strandedReturned += spent + back - ethIn;
      bought.push({ txHash: ev.txHash, instanceId: id!, usdc: big(a.usdcAmount) });
      continue;
    }
    switch (ev.name) {
      case "SessionStarted":
        l.sessions.set(id!, {
          agent: String(a.agent),
          deposited: big(a.cost),
          claimed: 0n,
          refunded: 0n,
          deferred: 0n,
          ended: false,
          outcomes: [],
        });
        deposit(ev.txHash, id!, big(a.cost));
        break;
      case "SessionExtended":
      case "SessionRenewed":
        if (!s) {
          l.problems.push({ instanceId: id, txHash: ev.txHash, problem: `${ev.name} of an unknown session` });
          break;
        }
        if (s.ended) l.problems.push({ instanceId: id, txHash: ev.txHash, problem: `${ev.name} after the session ended` });
        s.deposited += big(a.cost);
        deposit(ev.txHash, id!, big(a.cost));
        break;
      case "EscrowClaimed":
        if (!s) {
          l.problems.push({ instanceId: id, txHash: ev.txHash, problem: "claim of an unknown session" });
          break;
        }
        s.claimed += big(a.amount);
        credit(a.treasury, big(a.amount), 1n);
        break;
      case "SessionEnded":
        if (!s) {
          l.problems.push({ instanceId: id, txHash: ev.txHash, problem: "SessionEnded of an unknown session" });
          break;
        }
        if (s.ended) l.problems.push({ instanceId: id, txHash: ev.txHash, problem: "ended twice" });
        s.claimed += big(a.paidToTreasury);
        s.refunded += big(a.refunded);
        s.ended = true;
        s.endedBy = String(a.endedBy);
        credit(a.treasury, big(a.paidToTreasury), 1n);
        break;
      case "RefundDeferred":
        if (!s) {
          l.problems.push({ instanceId: id, txHash: ev.txHash, problem: "deferred refund of an unknown session" });
          break;
        }
        s.deferred += big(a.amount);
        credit(a.agent, big(a.amount), 1n);
        break;
      case "Withdrawn":
        credit(a.account, big(a.amount), -1n);
        break;
      case "OutcomeRecorded":
        if (s) s.outcomes.push(Number(a.outcome));
        else l.outcomeWithoutPayment.add(id!);
        break;
    }
  }
  for (const [id, s] of l.sessions) {
    const out = s.claimed + s.refunded;
    if (out > s.deposited)
      l.problems.push({
        instanceId: id,
        problem: `paid out ${out} (claimed ${s.claimed} + refunded ${s.refunded}) exceeds deposited ${s.deposited}`,
      });
    else if (s.ended && out !== s.deposited)
      l.problems.push({
        instanceId: id,
        problem: `ended with ${s.deposited - out} of its deposit ${s.deposited} neither claimed nor refunded`,
      });
    if (s.deferred > s.refunded)
      l.problems.push({ instanceId: id, problem: `deferred refunds ${s.deferred} exceed the refund ${s.refunded}` });
  }
  for (const b of bought) {
    const dep = deposits.get(`${b.txHash}:${b.instanceId}`) ?? 0n;
    if (dep !== b.usdc)
      l.problems.push({
        instanceId: b.instanceId,
        txHash: b.txHash,
        problem: `ETH payment bought ${b.usdc} USDC but the session's deposit in that transaction is ${dep}`,
      });
  }
  for (const [account, b] of l.pull) {
    if (b.withdrawn > b.credited)
      l.problems.push({ problem: `${account} withdrew ${b.withdrawn}, more than the ${b.credited} credited to it` });
  }
  return l;
}

export interface AuditReport {
  ok: boolean;
  checkedUpToBlock: number;
  sessionsOnChain: number;
  paidWithoutOutcome: string[];
  outcomeWithoutPayment: string[];
  missingInDatabase: string[];
  unknownOnChain: string[];
  amountMismatches: { instanceId: string; field: string; chain: string; database: string }[];
  /** Movements of money in the logs that do not add up (reconcileLogs). */
  ledgerProblems: { instanceId?: string; txHash?: string; problem: string }[];
  /** Withdrawable balances rebuilt from the logs against the contract's `withdrawable`. */
  pullBalances: { account: string; credited: string; withdrawn: string; balance: string; onChain: string; matches: boolean }[];
  eth: { payments: number; ethIn: string; ethSpent: string; ethRefunded: string; strandedReturned: string };
  escrow: { deposited: string; claimed: string; refunded: string; held: string; pull: string; usdcBalance: string; balanced: boolean };
}

async function getLogsChunked(rpc: JsonRpcProvider, address: string[], from: number, to: number, range = 5_000): Promise<Log[]> {
  const out: Log[] = [];
  for (let start = from; start <= to; start += range) {
    out.push(...(await rpc.getLogs({ address, fromBlock: start, toBlock: Math.min(to, start + range - 1) })));
  }
  return out;
}

/** Decodes the contracts' logs (in chain order) for reconcileLogs. */
export function decodeLogs(logs: readonly Log[], deployment: Pick<Deployment, "compute" | "bridge">): AuditLog[] {
  const out: AuditLog[] = [];
  const sorted = [...logs].sort((x, y) => x.blockNumber - y.blockNumber || x.index - y.index);
  for (const log of sorted) {
    const source = log.address.toLowerCase() === deployment.compute.toLowerCase() ? "compute" : "bridge";
    const iface = source === "compute" ? computeInterface : bridgeInterface;
    let ev;
    try {
      ev = iface.parseLog({ topics: [...log.topics], data: log.data });
    } catch {
      ev = null;
    }
    if (!ev) continue;
    const args: Record<string, unknown> = {};
    ev.fragment.inputs.forEach((input, i) => (args[input.name] = ev.args[i]));
    out.push({ name: ev.name, args, txHash: log.transactionHash, source });
  }
  return out;
}

export async function runAudit(store: Store, rpc: JsonRpcProvider, deployment: Deployment, confirmations: number): Promise<AuditReport> {
  // Judge only what both sides have seen: confirmed blocks the keeper has already ingested.
  const upTo = Math.min((await rpc.getBlockNumber()) - confirmations, await store.events.ingestedUpTo());
  const addresses = [deployment.compute, ...(deployment.bridge ? [deployment.bridge] : [])];
  const ledger = reconcileLogs(decodeLogs(await getLogsChunked(rpc, addresses, deployment.startBlock, upTo), deployment));
  const chain = ledger.sessions;

  const rows = await store.sessions.all();
  const inDb = new Map(rows.map((r) => [r.instance_id, r]));
  const report: AuditReport = {
    ok: true,
    checkedUpToBlock: upTo,
    sessionsOnChain: chain.size,
    paidWithoutOutcome: [],
    outcomeWithoutPayment: [...ledger.outcomeWithoutPayment],
    missingInDatabase: [],
    unknownOnChain: [],
    amountMismatches: [],
    ledgerProblems: ledger.problems,
    pullBalances: [],
    eth: {
      payments: ledger.eth.payments,
      ethIn: ledger.eth.ethIn.toString(),
      ethSpent: ledger.eth.ethSpent.toString(),
      ethRefunded: ledger.eth.ethRefunded.toString(),
      strandedReturned: ledger.eth.strandedReturned.toString(),
    },
    escrow: { deposited: "0", claimed: "0", refunded: "0", held: "0", pull: "0", usdcBalance: "0", balanced: false },
  };

  let deposited = 0n;
  let claimed = 0n;
  let refunded = 0n;
  for (const [id, s] of chain) {
    deposited += s.deposited;
    claimed += s.claimed;
    refunded += s.refunded;
    const row = inDb.get(id);
    if (!row) {
      report.missingInDatabase.push(id);
      continue;
    }
    const inFlight = row.state === "requested" || row.state === "provisioning";
    // Provisioning (4) records the keeper's spending on a pending session, not an outcome of it; an
    // agent ending its session then pays for the time since (the provisioning window), else nothing.
    const outcomes = s.outcomes.filter((o) => o !== 4);
    const provisioningRecorded = s.outcomes.includes(4);
    const agentEndedBeforeRunning =
      s.ended && outcomes.length === 0 && (s.claimed === 0n || provisioningRecorded) && s.endedBy?.toLowerCase() === s.agent.toLowerCase();
    if (outcomes.length === 0 && !inFlight && !agentEndedBeforeRunning) report.paidWithoutOutcome.push(id);
    for (const [field, chainValue] of [
      ["deposited", s.deposited],
      ["claimed", s.claimed],
      ["refunded", s.refunded],
    ] as const) {
      if (BigInt(row[field]) !== chainValue) {
        report.amountMismatches.push({ instanceId: id, field, chain: chainValue.toString(), database: row[field] });
      }
    }
  }
  for (const r of rows) {
    // Sessions the keeper ingested from blocks past this audit's confirmed range are not judged yet.
    if (!chain.has(r.instance_id) && r.started_block <= upTo) report.unknownOnChain.push(r.instance_id);
  }

  const compute = new Contract(deployment.compute, computeInterface, rpc);
  let pull = 0n;
  for (const [account, b] of ledger.pull) {
    const balance = b.credited - b.withdrawn;
    const onChain: bigint = await compute.withdrawable(account, { blockTag: upTo });
    pull += balance;
    report.pullBalances.push({
      account,
      credited: b.credited.toString(),
      withdrawn: b.withdrawn.toString(),
      balance: balance.toString(),
      onChain: onChain.toString(),
      matches: onChain === balance,
    });
  }
  const usdc = new Contract(await compute.usdc(), ["function balanceOf(address) view returns (uint256)"], rpc);
  const balance: bigint = await usdc.balanceOf(deployment.compute, { blockTag: upTo });
  const held = deposited - claimed - refunded;
  report.escrow = {
    deposited: deposited.toString(),
    claimed: claimed.toString(),
    refunded: refunded.toString(),
    held: held.toString(),
    pull: pull.toString(),
    usdcBalance: balance.toString(),
    balanced: held + pull === balance,
  };
  report.ok =
    report.paidWithoutOutcome.length === 0 &&
    report.outcomeWithoutPayment.length === 0 &&
    report.missingInDatabase.length === 0 &&
    report.unknownOnChain.length === 0 &&
    report.amountMismatches.length === 0 &&
    report.ledgerProblems.length === 0 &&
    report.pullBalances.every((b) => b.matches) &&
    report.escrow.balanced;
  return report;
}

export function formatAudit(r: AuditReport): string {
  const lines = [
    `audit up to block ${r.checkedUpToBlock}: ${r.sessionsOnChain} paid sessions on chain`,
    `escrow: deposited ${r.escrow.deposited} = claimed ${r.escrow.claimed} + refunded ${r.escrow.refunded} + held ${r.escrow.held}`,
    `USDC held by the contract ${r.escrow.usdcBalance} = held ${r.escrow.held} + withdrawable balances ${r.escrow.pull} ${r.escrow.balanced ? "(balanced)" : "(MISMATCH)"}`,
    `ETH payments: ${r.eth.payments}, in ${r.eth.ethIn} wei = spent ${r.eth.ethSpent} + refunded ${r.eth.ethRefunded} - router ETH returned ${r.eth.strandedReturned}`,
  ];
  for (const b of r.pullBalances)
    lines.push(
      `withdrawable ${b.account}: credited ${b.credited} - withdrawn ${b.withdrawn} = ${b.balance}; contract says ${b.onChain}${b.matches ? "" : " (MISMATCH)"}`,
    );
  const list = (label: string, ids: string[]) => ids.length && lines.push(`${label} (${ids.length}):`, ...ids.map((i) => `  ${i}`));
  list("paid sessions without an outcome", r.paidWithoutOutcome);
  list("outcomes without a payment", r.outcomeWithoutPayment);
  list("paid sessions missing from the keeper database", r.missingInDatabase);
  list("database sessions not on chain", r.unknownOnChain);
  if (r.amountMismatches.length) {
    lines.push(`amount mismatches (${r.amountMismatches.length}):`);
    for (const m of r.amountMismatches) lines.push(`  ${m.instanceId} ${m.field}: chain ${m.chain}, database ${m.database}`);
  }
  if (r.ledgerProblems.length) {
    lines.push(`money movements that do not add up (${r.ledgerProblems.length}):`);
    for (const p of r.ledgerProblems) lines.push(`  ${p.instanceId ?? "-"} ${p.txHash ?? ""} ${p.problem}`);
  }
  lines.push(r.ok ? "OK: chain and database agree" : "MISMATCH: see above");
  return lines.join("\n");
}
