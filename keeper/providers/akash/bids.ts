/**
 * Choosing a bid: the cheapest acceptable one. Acceptable means under the price ceiling, from a
 * provider whose on-chain attributes include every required attribute and, when auditors are
 * configured, whose attributes were signed by at least one of them. Ties go to the earliest bid, then
 * to the provider address, so the choice is deterministic (a restarted keeper picks the same one).
 */
export interface BidView {
  provider: string;
  gseq: number;
  oseq: number;
  bseq: number;
  /** uakt per block (Dec). */
  price: number;
  createdAt: number;
}

export interface ProviderView {
  attributes: Record<string, string>;
  /** Auditor addresses that signed this provider's attributes. */
  auditedBy: string[];
}

export interface BidPolicy {
  maxPricePerBlock: number;
  requiredAttributes: Record<string, string>;
  auditors: string[];
}

export type Rejection = { provider: string; reason: "price" | "attributes" | "audit" | "unknown-provider" };

export function chooseBid(
  bids: BidView[],
  providers: Map<string, ProviderView>,
  policy: BidPolicy,
): { bid?: BidView; rejected: Rejection[] } {
  const rejected: Rejection[] = [];
  const ok: BidView[] = [];
  for (const b of bids) {
    const p = providers.get(b.provider);
    if (!(b.price <= policy.maxPricePerBlock)) rejected.push({ provider: b.provider, reason: "price" });
    else if (!p) rejected.push({ provider: b.provider, reason: "unknown-provider" });
    else if (Object.entries(policy.requiredAttributes).some(([k, v]) => p.attributes[k] !== v))
      rejected.push({ provider: b.provider, reason: "attributes" });
    else if (policy.auditors.length && !p.auditedBy.some((a) => policy.auditors.includes(a)))
      rejected.push({ provider: b.provider, reason: "audit" });
    else ok.push(b);
  }
  ok.sort((a, b) => a.price - b.price || a.createdAt - b.createdAt || (a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : 0));
  return { bid: ok[0], rejected };
}

/** "key=value,key2=value2" -> record. */
export function parseAttributes(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean)) {
    const i = part.indexOf("=");
    if (i <= 0) throw new Error(`provider attribute ${JSON.stringify(part)} is not key=value`);
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}
