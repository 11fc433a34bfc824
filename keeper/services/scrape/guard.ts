/**
 * The scraper's egress guard: decides whether a host:port may be contacted and which address to
 * connect to. Both the static fetcher and the browser's forward proxy go through it, on every hop.
 *
 * Order: the name (blocked-domain suffixes, single-label names, IP literals in any spelling), the
 * port (the Fetch standard's "bad ports", as browsers refuse them), then DNS: EVERY resolved
 * address must be allowed (addressPolicy.ts), and the caller connects to the returned vetted
 * address only, never to the name again, so a second DNS answer (rebinding) is never used.
 * Right before any socket is opened, assertDialable() re-checks the exact address being dialed.
 */
import dns from "node:dns";
import { domainToASCII } from "node:url";
import ipaddr from "ipaddr.js";
import { Cidr, classifyAddress, parseAddress } from "./addressPolicy";

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Name -> every address (A and AAAA). Injectable so tests map names to any address as data. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (hostname) => {
  const all = await dns.promises.lookup(hostname, { all: true, verbatim: true });
  return all.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/** Called right before a socket to `address` is opened (after every check). Tests assert on it. */
export type DialHook = (address: string, port: number) => void;

/** The target is not allowed: DOMAIN_BLOCKED. */
export class BlockedError extends Error {
  constructor(
    readonly host: string,
    readonly reason: string,
  ) {
    super(`${host} is blocked: ${reason}`);
    this.name = "BlockedError";
  }
}

/** The name did not resolve: SCRAPE_FAILED. */
export class ResolveError extends Error {
  constructor(
    readonly host: string,
    reason: string,
  ) {
    super(`could not resolve ${host}: ${reason}`);
    this.name = "ResolveError";
  }
}

export interface VettedTarget {
  /** The normalized host name (or canonical address for a literal). */
  host: string;
  port: number;
  /** The address to connect to, and the only one. */
  address: string;
  family: 4 | 6;
}

/** The Fetch standard's bad ports (https://fetch.spec.whatwg.org/#port-blocking): SMTP, IRC, ... */
export const BAD_PORTS = new Set([
  0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117,
  119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636,
  989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

export interface GuardOptions {
  allowedCidrs?: Cidr[];
  /** Domain suffixes (SCRAPE_BLOCKED_DOMAINS): an entry blocks itself and every subdomain. */
  blockedDomains?: string[];
  resolver?: Resolver;
  onDial?: DialHook;
  /** A resolver that hangs must not hold the job: give up after this. */
  resolveTimeoutMs?: number;
}

export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  // "localhost." and "localhost" are the same name to DNS: compare without the root dot(s).
  h = h.replace(/\.+$/, "");
  return h;
}

export function parseDomainList(list: string): string[] {
  return list
    .split(",")
    .map((s) =>
      s
        .trim()
        .toLowerCase()
        .replace(/^\*?\.+/, "")
        .replace(/\.+$/, ""),
    )
    .filter(Boolean)
    .map((s) => domainToASCII(s) || s);
}

export class TargetGuard {
  private readonly allowed: Cidr[];
  private readonly blocked: string[];
  private readonly resolver: Resolver;
  private readonly onDial?: DialHook;
  private readonly resolveTimeoutMs: number;

  constructor(opts: GuardOptions = {}) {
    this.allowed = opts.allowedCidrs ?? [];
    this.blocked = opts.blockedDomains ?? [];
    this.resolver = opts.resolver ?? systemResolver;
    this.onDial = opts.onDial;
    this.resolveTimeoutMs = opts.resolveTimeoutMs ?? 10_000;
  }

  /**
   * The checks that need no DNS: returns the canonical address for an IP literal (any spelling a
   * resolver would accept: 2130706433, 0x7f.1, 0177.0.0.1), or undefined for a name to resolve.
   */
  checkName(rawHost: string, port: number): { host: string; literal?: ResolvedAddress } {
    const host = normalizeHost(rawHost);
    if (host === "") throw new BlockedError(rawHost, "empty host");
    if (!Number.isInteger(port) || port < 1 || port > 65535 || BAD_PORTS.has(port))
      throw new BlockedError(host, `port ${port} is not allowed`);
    let literal = parseAddress(host);
    // Non-canonical IPv4 spellings are what getaddrinfo would turn into an address: treat them as that address.
    if (!literal && ipaddr.IPv4.isValid(host)) literal = ipaddr.IPv4.parse(host);
    if (literal) {
      const address = literal.toString();
      const v = classifyAddress(address, this.allowed);
      if (!v.ok) throw new BlockedError(host, `address ${address} is not public (${v.range})`);
      return { host: address, literal: { address, family: literal.kind() === "ipv6" ? 6 : 4 } };
    }
    if (!/^[a-z0-9_.-]+$/.test(host)) throw new BlockedError(host, "not a valid host name");
    for (const d of this.blocked) {
      if (host === d || host.endsWith(`.${d}`)) throw new BlockedError(host, `domain ${d} is on the blocked list`);
    }
    // A bare name goes through the resolver's search domains to the operator's own network.
    if (!host.includes(".")) throw new BlockedError(host, "single-label host names are not allowed");
    return { host };
  }

  /** Everything about host:port, ending with the one address to connect to. */
  async vet(rawHost: string, port: number): Promise<VettedTarget> {
    const { host, literal } = this.checkName(rawHost, port);
    if (literal) return { host, port, ...literal };
    let answers: ResolvedAddress[];
    let timer: NodeJS.Timeout | undefined;
    try {
      answers = await Promise.race([
        this.resolver(host),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("resolver timeout")), this.resolveTimeoutMs);
        }),
      ]);
    } catch (e) {
      throw new ResolveError(host, (e as NodeJS.ErrnoException).code ?? (e as Error).message);
    } finally {
      clearTimeout(timer);
    }
    if (!answers.length) throw new ResolveError(host, "no addresses");
    // One bad address taints the name: an attacker's DNS could otherwise mix a public and a private one.
    for (const a of answers) {
      const v = classifyAddress(a.address, this.allowed);
      if (!v.ok) throw new BlockedError(host, `it resolves to ${a.address}, which is not public (${v.range})`);
    }
    const pick = answers.find((a) => a.family === 4) ?? answers[0];
    return { host, port, address: parseAddress(pick.address)!.toString(), family: pick.family };
  }

  /** Last check before a socket opens: the exact address must still be allowed. */
  assertDialable(address: string, port: number): void {
    const v = classifyAddress(address, this.allowed);
    if (!v.ok) throw new BlockedError(address, `address ${address} is not public (${v.range})`);
    if (BAD_PORTS.has(port)) throw new BlockedError(address, `port ${port} is not allowed`);
    this.onDial?.(address, port);
  }
}
