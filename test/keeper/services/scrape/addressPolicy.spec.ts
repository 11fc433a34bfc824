/** The address classifier: only public unicast (or the operator's allowlist) may be connected to. Addresses are data here: nothing connects. */
import { expect } from "chai";
import { classifyAddress, parseCidrList } from "../../../../keeper/services/scrape/addressPolicy";

describe("scrape: address classifier", () => {
  const refused: [string, string][] = [
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["::1", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["169.254.169.254", "linkLocal"],
    ["100.64.0.1", "carrierGradeNat"],
    ["100.127.255.254", "carrierGradeNat"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["255.255.255.255", "broadcast"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["192.0.2.10", "reserved"], // TEST-NET-1
    ["198.51.100.7", "reserved"], // TEST-NET-2
    ["203.0.113.9", "reserved"], // TEST-NET-3
    ["198.18.0.1", "reserved"], // benchmarking
    ["192.0.0.8", "reserved"],
    ["240.0.0.1", "reserved"],
    ["::", "unspecified"],
    ["fe80::1", "linkLocal"],
    ["fe80::1%eth0", "linkLocal"],
    ["fc00::1", "uniqueLocal"],
    ["fd12:3456::1", "uniqueLocal"],
    ["fec0::1", "deprecatedSiteLocal"],
    ["ff02::1", "multicast"],
    ["::ffff:127.0.0.1", "ipv4Mapped"],
    ["::ffff:10.0.0.1", "ipv4Mapped"],
    ["::ffff:169.254.169.254", "ipv4Mapped"],
    ["::ffff:8.8.8.8", "ipv4Mapped"], // mapped is refused whatever it embeds
    ["::127.0.0.1", "ipv4Mapped"], // IPv4-compatible
    ["64:ff9b::a00:1", "rfc6052"], // NAT64 of 10.0.0.1
    ["64:ff9b::7f00:1", "rfc6052"], // NAT64 of 127.0.0.1
    ["64:ff9b:1::a9fe:a9fe", "rfc6052"], // local-use NAT64 of 169.254.169.254
    ["2002:7f00:1::1", "6to4"], // 6to4 of 127.0.0.1
    ["2002:c0a8:101::1", "6to4"], // 6to4 of 192.168.1.1
    ["2001:0:4136:e378:8000:63bf:f5ff:fffe", "teredo"], // Teredo whose client is 10.0.0.1 (bits inverted)
    ["2001:db8::1", "reserved"], // documentation
    ["100::1", "discard"],
    ["5f00::1", "segmentRouting"],
    ["4000::1", "not-global-unicast"],
    ["not-an-ip", "invalid"],
    ["127.1", "invalid"], // short forms are not addresses to the classifier (the guard normalizes them first)
  ];
  for (const [a, range] of refused) {
    it(`refuses ${a} (${range})`, () => {
      expect(classifyAddress(a)).to.deep.equal({ ok: false, range });
    });
  }

  it("allows public unicast, IPv4 and IPv6", () => {
    for (const a of ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"]) {
      expect(classifyAddress(a), a).to.deep.equal({ ok: true, range: "unicast" });
    }
  });

  it("SCRAPE_ALLOWED_CIDRS lets exactly the listed networks through, nothing next to them", () => {
    const allowed = parseCidrList("127.0.0.1/32, 10.8.0.0/16, fd00::1");
    expect(classifyAddress("127.0.0.1", allowed)).to.deep.equal({ ok: true, range: "allowlisted" });
    expect(classifyAddress("127.0.0.2", allowed).ok).to.equal(false);
    expect(classifyAddress("10.8.200.1", allowed).ok).to.equal(true);
    expect(classifyAddress("10.9.0.1", allowed).ok).to.equal(false);
    expect(classifyAddress("fd00::1", allowed).ok).to.equal(true);
    expect(classifyAddress("fd00::2", allowed).ok).to.equal(false);
    // An IPv4 allowlist entry does not open its IPv4-mapped IPv6 twin.
    expect(classifyAddress("::ffff:127.0.0.1", allowed).ok).to.equal(false);
    expect(parseCidrList("")).to.deep.equal([]);
    expect(() => parseCidrList("10.0.0.0/8,nonsense")).to.throw(/"nonsense" is not an address or CIDR/);
  });
});
