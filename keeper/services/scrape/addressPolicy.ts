/**
 * Which IP addresses the scraper may connect to: public unicast only (ipaddr.js's range() ===
 * "unicast"), plus the operator's SCRAPE_ALLOWED_CIDRS. Pure functions: tests feed private,
 * metadata and embedded addresses as data, nothing here connects.
 *
 * Everything ipaddr.js puts in a special range is refused: loopback, private, link-local
 * (169.254.169.254, the cloud metadata address), CGNAT 100.64/10, 0.0.0.0/8, multicast, broadcast,
 * reserved (documentation 192.0.2/24, 198.51.100/24, 203.0.113/24, benchmarking 198.18/15,
 * 240/4), and for IPv6 unique-local, site-local, IPv4-mapped and -compatible (::ffff:a.b.c.d,
 * ::a.b.c.d), NAT64 (64:ff9b::/96, 64:ff9b:1::/48), 6to4 (2002::/16) and Teredo (2001::/32): the
 * last three embed an IPv4 address a gateway would reach, so they are refused whatever they embed.
 * IPv6 outside 2000::/3 (not allocated as global unicast) is refused too.
 */
import ipaddr from "ipaddr.js";

export type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

export interface AddressVerdict {
  ok: boolean;
  /** ipaddr.js's range name, "not-global-unicast", "allowlisted" or "invalid". */
  range: string;
}

const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR("2000::/3");

/** Parses SCRAPE_ALLOWED_CIDRS (comma-separated); a bare address means /32 or /128. */
export function parseCidrList(list: string): Cidr[] {
  const out: Cidr[] = [];
  for (const raw of list
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    try {
      out.push(raw.includes("/") ? ipaddr.parseCIDR(raw) : ((a) => [a, a.kind() === "ipv4" ? 32 : 128] as Cidr)(ipaddr.parse(raw)));
    } catch {
      throw new Error(`SCRAPE_ALLOWED_CIDRS: "${raw}" is not an address or CIDR`);
    }
  }
  return out;
}

/** Strict literal check: only canonical dotted-quad IPv4 and RFC 4291 IPv6 count as addresses. */
export function parseAddress(s: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const bare = s.startsWith("[") && s.endsWith("]") ? s.slice(1, -1) : s;
  if (ipaddr.IPv4.isValidFourPartDecimal(bare)) return ipaddr.IPv4.parse(bare);
  if (ipaddr.IPv6.isValid(bare)) return ipaddr.IPv6.parse(bare);
  return undefined;
}

export function classifyAddress(address: string, allowed: Cidr[] = []): AddressVerdict {
  const a = parseAddress(address);
  if (!a) return { ok: false, range: "invalid" };
  for (const [net, bits] of allowed) {
    if (net.kind() === a.kind() && a.match(net as never, bits)) return { ok: true, range: "allowlisted" };
  }
  const range = a.range();
  if (range !== "unicast") return { ok: false, range };
  if (a.kind() === "ipv6" && !a.match(GLOBAL_UNICAST_V6)) return { ok: false, range: "not-global-unicast" };
  return { ok: true, range };
}
