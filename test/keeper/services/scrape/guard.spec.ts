/**
 * The egress guard's decisions before any connection: names (blocked suffixes, trailing dots,
 * single labels, IP literals in decimal/octal/hex), ports, and DNS answers from an injected resolver
 * (every address must pass). Nothing here connects: the dial hook must never be reached when refused.
 */
import { expect } from "chai";
import { parseCidrList } from "../../../../keeper/services/scrape/addressPolicy";
import { BlockedError, parseDomainList, ResolveError, TargetGuard } from "../../../../keeper/services/scrape/guard";
import { config, service, tableResolver, thrownBy } from "./helpers";

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

describe("scrape: egress guard (names, ports, DNS answers)", () => {
  const blockedDomains = parseDomainList(config().SCRAPE_BLOCKED_DOMAINS + ",evil.example");
  const dialed: string[] = [];
  const resolver = tableResolver({
    "public.test": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "v6only.test": ["2606:2800:220:1:248:1893:25c8:1946"],
    "metadata.test": ["169.254.169.254"],
    "private.test": ["10.0.0.5"],
    "mixed.test": ["93.184.216.34", "10.0.0.5"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "nat64.test": ["64:ff9b::a9fe:a9fe"],
    "sixtofour.test": ["2002:a00:1::1"],
    "cgnat.test": ["100.64.1.1"],
    "zero.test": ["0.0.0.0"],
    "empty.test": [],
  });
  const guard = new TargetGuard({ blockedDomains, resolver, onDial: (a) => dialed.push(a) });

  afterEach(() => expect(dialed, "nothing may be dialed by a refusal").to.deep.equal([]));

  it("blocked-domain list: suffix match on label boundaries, case and root dot ignored", () => {
    for (const h of [
      "localhost",
      "LOCALHOST.",
      "localhost..",
      "foo.localhost",
      "metadata.google.internal",
      "x.metadata.goog",
      "printer.local",
      "evil.example",
      "a.b.EVIL.example.",
    ]) {
      expect(() => guard.checkName(h, 80), h).to.throw(BlockedError, /blocked list/);
    }
    for (const h of ["notevil.example", "localhost.example.com", "internals.test"]) {
      expect(() => guard.checkName(h, 80), h).not.to.throw();
    }
  });

  it("single-label names are refused (they go through the search domains to the operator's network)", () => {
    for (const h of ["metadata", "intranet-wiki", "kubernetes"])
      expect(() => guard.checkName(h, 80), h).to.throw(BlockedError, /single-label/);
  });

  it("IP literals in every spelling a resolver accepts are classified as the address they mean", () => {
    const cases: [string, string][] = [
      ["127.0.0.1", "127.0.0.1"],
      ["2130706433", "127.0.0.1"],
      ["0x7f000001", "127.0.0.1"],
      ["0x7f.0.0.1", "127.0.0.1"],
      ["0177.0.0.01", "127.0.0.1"],
      ["017700000001", "127.0.0.1"],
      ["0xa9.0xfe.0xa9.0xfe", "169.254.169.254"],
      ["2852039166", "169.254.169.254"],
      ["0", "0.0.0.0"],
      ["[::1]", "::1"],
      ["[::ffff:a9fe:a9fe]", "::ffff:a9fe:a9fe"],
      ["[0:0:0:0:0:0:0:1]", "::1"],
    ];
    for (const [h, addr] of cases) {
      expect(() => guard.checkName(h, 80), h).to.throw(
        BlockedError,
        new RegExp(`address ${addr.replace(/[.[\]]/g, "\\$&")} is not public`),
      );
    }
    expect(guard.checkName("93.184.216.34", 443)).to.deep.equal({
      host: "93.184.216.34",
      literal: { address: "93.184.216.34", family: 4 },
    });
  });

  it("the Fetch standard's bad ports and impossible ports are refused", () => {
    for (const p of [0, 22, 25, 6667, 10080, 65536, 1.5])
      expect(() => guard.checkName("public.test", p), String(p)).to.throw(BlockedError, /port/);
    for (const p of [80, 443, 8080, 8443, 3000]) expect(() => guard.checkName("public.test", p), String(p)).not.to.throw();
  });

  it("a name resolving to a public address is vetted to that address (IPv4 preferred)", async () => {
    expect(await guard.vet("public.test", 443)).to.deep.equal({ host: "public.test", port: 443, address: "93.184.216.34", family: 4 });
    expect(await guard.vet("v6only.test", 443)).to.deep.equal({
      host: "v6only.test",
      port: 443,
      address: "2606:2800:220:1:248:1893:25c8:1946",
      family: 6,
    });
  });

  for (const [name, addr] of [
    ["metadata.test", "169.254.169.254"],
    ["private.test", "10.0.0.5"],
    ["mixed.test", "10.0.0.5"],
    ["mapped.test", "::ffff:7f00:1"],
    ["nat64.test", "64:ff9b::a9fe:a9fe"],
    ["sixtofour.test", "2002:a00:1::1"],
    ["cgnat.test", "100.64.1.1"],
    ["zero.test", "0.0.0.0"],
  ]) {
    it(`a name resolving to ${addr} (${name}) is refused as a whole`, async () => {
      const e = await rejection(guard.vet(name, 80));
      expect(e).to.be.instanceOf(BlockedError);
      expect(e.message).to.include("not public");
    });
  }

  it("an unknown name or an empty answer is a resolution failure, not a block", async () => {
    expect(await rejection(guard.vet("nxdomain.test", 80))).to.be.instanceOf(ResolveError);
    expect(await rejection(guard.vet("empty.test", 80))).to.be.instanceOf(ResolveError);
  });

  it("a resolver that hangs is given up on", async () => {
    const slow = new TargetGuard({ resolver: () => new Promise(() => undefined), resolveTimeoutMs: 50 });
    const e = await rejection(slow.vet("hang.test", 80));
    expect(e).to.be.instanceOf(ResolveError);
    expect(e.message).to.include("resolver timeout");
  });

  it("SCRAPE_ALLOWED_CIDRS opens exactly its networks, for names and literals", async () => {
    const g = new TargetGuard({ allowedCidrs: parseCidrList("10.0.0.5/32"), resolver, onDial: (a) => dialed.push(a) });
    expect((await g.vet("private.test", 80)).address).to.equal("10.0.0.5");
    expect(g.checkName("10.0.0.5", 80).literal!.address).to.equal("10.0.0.5");
    expect(() => g.checkName("10.0.0.6", 80)).to.throw(BlockedError);
    expect((await g.vet("mixed.test", 80)).address).to.equal("93.184.216.34"); // public + allowlisted: both pass
    expect(await rejection(g.vet("metadata.test", 80))).to.be.instanceOf(BlockedError);
  });

  it("assertDialable re-checks the exact address and then calls the dial hook", () => {
    const seen: string[] = [];
    const g = new TargetGuard({ onDial: (a, p) => seen.push(`${a}:${p}`) });
    expect(() => g.assertDialable("10.0.0.1", 80)).to.throw(BlockedError);
    expect(() => g.assertDialable("93.184.216.34", 25)).to.throw(BlockedError);
    g.assertDialable("93.184.216.34", 443); // the hook only records: nothing connects here
    expect(seen).to.deep.equal(["93.184.216.34:443"]);
  });

  it("the service's parse() refuses what the name alone decides, before any DNS or payment", () => {
    const r = tableResolver({});
    const s = service({}, { resolver: r });
    for (const url of [
      "http://localhost:8080/",
      "http://127.0.0.1/",
      "http://2130706433/",
      "http://0x7f.1/",
      "http://[::1]/",
      "http://metadata.google.internal/computeMetadata/v1/",
      "http://169.254.169.254/latest/meta-data/",
      "http://[::ffff:169.254.169.254]/",
      "http://intranet/",
      "http://example.com:25/",
    ]) {
      const e = thrownBy(() => s.parse({ url, job_id: "j" }));
      expect(e.code, url).to.equal("DOMAIN_BLOCKED");
      expect(e.httpStatus).to.equal(403);
    }
    expect(r.asked).to.deep.equal([]);
  });
});
