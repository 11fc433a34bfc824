/**
 * Cost records: per session, what the agent paid on chain (escrow claimed by the treasury, including
 * the settlement at the end) against what the keeper pays the providers it ran on (each attempt's
 * quoted hourly price times the whole hours it ran; a running attempt accrues up to now). The margin
 * is the difference. Read by `keeper status`; amounts are USDC base units as decimal strings.
 */
import { now } from "../clock";
import type { Store } from "../store/store";

export interface SessionCost {
  instanceId: string;
  state: string;
  providers: string[];
  agentPaid: string;
  providerCost: string;
  margin: string;
}

export interface CostReport {
  sessions: SessionCost[];
  totals: { agentPaid: string; providerCost: string; margin: string };
}

export async function costReport(store: Store, at = now()): Promise<CostReport> {
  const sessions = await store.sessions.all();
  const attempts = await store.provisionAttempts.all();
  const byId = new Map<string, typeof attempts>();
  for (const a of attempts) byId.set(a.instance_id, [...(byId.get(a.instance_id) ?? []), a]);
  let paid = 0n;
  let cost = 0n;
  const out: SessionCost[] = [];
  for (const s of sessions) {
    const list = byId.get(s.instance_id) ?? [];
    const c = list.reduce((sum, a) => {
      if (a.cost !== null) return sum + BigInt(a.cost);
      if (a.state === "running" && a.running_at !== null)
        return sum + BigInt(a.price_per_hour) * BigInt(Math.max(1, Math.ceil((at - a.running_at) / 3600)));
      return sum;
    }, 0n);
    const p = BigInt(s.claimed);
    paid += p;
    cost += c;
    out.push({
      instanceId: s.instance_id,
      state: s.state,
      providers: list.map((a) => a.provider),
      agentPaid: p.toString(),
      providerCost: c.toString(),
      margin: (p - c).toString(),
    });
  }
  return { sessions: out, totals: { agentPaid: paid.toString(), providerCost: cost.toString(), margin: (paid - cost).toString() } };
}
