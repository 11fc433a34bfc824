/**
 * `keeper audit`: what an auditor checks, from the chain's logs and the keeper's database alone.
 *
 * - every paid session (SessionStarted) is known to the keeper and has an on-chain outcome, unless
 *   the keeper is still provisioning it or the agent ended it before it ran (refunded in full);
 * - every outcome on chain belongs to a paid session, and every session in the database is on chain;
 * - per session, the database's deposited / claimed / refunded equal the chain's;
 * - escrow totals: deposited = claimed + refunded + held, and held equals AgentCompute's USDC balance.
 */
import { Contract, JsonRpcProvider, Log } from "ethers";
import type { DB } from "./store/db";
import type { Deployment } from "./keeper";
import { computeInterface } from "./chain/contracts";

interface ChainSession {
  agent: string;
  deposited: bigint;
  claimed: bigint;
  refunded: bigint;
  ended: boolean;
  outcomes: number[];
  endedBy?: string;
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
  escrow: { deposited: string; claimed: string; refunded: string; held: string; usdcBalance: string; balanced: boolean };
}

async function getLogsChunked(rpc: JsonRpcProvider, address: string, from: number, to: number, range = 5_000): Promise<Log[]> {
  const out: Log[] = [];
  for (let start = from; start <= to; start += range) {
    out.push(...(await rpc.getLogs({ address, fromBlock: start, toBlock: Math.min(to, start + range - 1) })));
  }
  return out;
}

export async function runAudit(db: DB, rpc: JsonRpcProvider, deployment: Deployment, confirmations: number): Promise<AuditReport> {
  // Judge only what both sides have seen: confirmed blocks the keeper has already ingested.
  const cursor = db.prepare("SELECT value FROM meta WHERE key = 'cursor.block'").get() as { value: string } | undefined;
  const upTo = Math.min((await rpc.getBlockNumber()) - confirmations, cursor ? Number(cursor.value) : -1);
  const logs = await getLogsChunked(rpc, deployment.compute, deployment.startBlock, upTo);
  const chain = new Map<string, ChainSession>();
  const outcomeWithoutPayment = new Set<string>();
  for (const log of logs) {
    const ev = computeInterface.parseLog({ topics: [...log.topics], data: log.data });
    if (!ev) continue;
    const id = ev.args.instanceId as string | undefined;
    const s = id ? chain.get(id) : undefined;
    switch (ev.name) {
      case "SessionStarted":
        chain.set(id!, { agent: ev.args.agent, deposited: ev.args.cost, claimed: 0n, refunded: 0n, ended: false, outcomes: [] });
        break;
      case "SessionExtended":
        if (s) s.deposited += ev.args.cost as bigint;
        break;
      case "EscrowClaimed":
        if (s) s.claimed += ev.args.amount as bigint;
        break;
      case "SessionEnded":
        if (s) {
          s.claimed += ev.args.paidToTreasury as bigint;
          s.refunded += ev.args.refunded as bigint;
          s.ended = true;
          s.endedBy = ev.args.endedBy;
        }
        break;
      case "OutcomeRecorded":
        if (s) s.outcomes.push(Number(ev.args.outcome));
        else outcomeWithoutPayment.add(id!);
        break;
    }
  }

  const rows = db.prepare("SELECT instance_id, state, deposited, claimed, refunded, started_block FROM sessions").all() as {
    instance_id: string;
    state: string;
    deposited: string;
    claimed: string;
    refunded: string;
    started_block: number;
  }[];
  const inDb = new Map(rows.map((r) => [r.instance_id, r]));
  const report: AuditReport = {
    ok: true,
    checkedUpToBlock: upTo,
    sessionsOnChain: chain.size,
    paidWithoutOutcome: [],
    outcomeWithoutPayment: [...outcomeWithoutPayment],
    missingInDatabase: [],
    unknownOnChain: [],
    amountMismatches: [],
    escrow: { deposited: "0", claimed: "0", refunded: "0", held: "0", usdcBalance: "0", balanced: false },
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
    const agentEndedBeforeRunning = s.ended && s.claimed === 0n && s.refunded === s.deposited && s.endedBy?.toLowerCase() === s.agent.toLowerCase();
    if (s.outcomes.length === 0 && !inFlight && !agentEndedBeforeRunning) report.paidWithoutOutcome.push(id);
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
  const usdc = new Contract(await compute.usdc(), ["function balanceOf(address) view returns (uint256)"], rpc);
  const balance: bigint = await usdc.balanceOf(deployment.compute, { blockTag: upTo });
  const held = deposited - claimed - refunded;
  report.escrow = {
    deposited: deposited.toString(),
    claimed: claimed.toString(),
    refunded: refunded.toString(),
    held: held.toString(),
    usdcBalance: balance.toString(),
    balanced: held === balance,
  };
  report.ok =
    report.paidWithoutOutcome.length === 0 &&
    report.outcomeWithoutPayment.length === 0 &&
    report.missingInDatabase.length === 0 &&
    report.unknownOnChain.length === 0 &&
    report.amountMismatches.length === 0 &&
    report.escrow.balanced;
  return report;
}

export function formatAudit(r: AuditReport): string {
  const lines = [
    `audit up to block ${r.checkedUpToBlock}: ${r.sessionsOnChain} paid sessions on chain`,
    `escrow: deposited ${r.escrow.deposited} = claimed ${r.escrow.claimed} + refunded ${r.escrow.refunded} + held ${r.escrow.held}; USDC held by the contract ${r.escrow.usdcBalance} ${r.escrow.balanced ? "(balanced)" : "(MISMATCH)"}`,
  ];
  const list = (label: string, ids: string[]) => ids.length && lines.push(`${label} (${ids.length}):`, ...ids.map((i) => `  ${i}`));
  list("paid sessions without an outcome", r.paidWithoutOutcome);
  list("outcomes without a payment", r.outcomeWithoutPayment);
  list("paid sessions missing from the keeper database", r.missingInDatabase);
  list("database sessions not on chain", r.unknownOnChain);
  if (r.amountMismatches.length) {
    lines.push(`amount mismatches (${r.amountMismatches.length}):`);
    for (const m of r.amountMismatches) lines.push(`  ${m.instanceId} ${m.field}: chain ${m.chain}, database ${m.database}`);
  }
  lines.push(r.ok ? "OK: chain and database agree" : "MISMATCH: see above");
  return lines.join("\n");
}
