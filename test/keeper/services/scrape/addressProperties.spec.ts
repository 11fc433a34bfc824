/**
 * Properties of the guard's address decisions over random addresses (fast-check; addresses are
 * data, nothing connects): every spelling of an IPv4 address gets the verdict of its dotted quad,
 * and nothing inside a private, loopback, link-local, CGNAT or mapped range is ever allowed.
 */
import { expect } from "chai";
import fc from "fast-check";
import { classifyAddress } from "../../../../keeper/services/scrape/addressPolicy";
import { BlockedError, TargetGuard } from "../../../../keeper/services/scrape/guard";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 500);
const dotted = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });

function verdict(g: TargetGuard, host: string): boolean {
  try {
    g.checkName(host, 80);
    return true;
  } catch (e) {
    expect(e).to.be.instanceOf(BlockedError);
    return false;
  }
}

describe("scrape: address decisions hold for random addresses", () => {
  const g = new TargetGuard();

  it("decimal, hex and octal spellings of an IPv4 address are judged like its dotted quad", () => {
    fc.assert(
      fc.property(u32, (n) => {
        const expected = classifyAddress(dotted(n)).ok;
        const parts = dotted(n).split(".").map(Number);
        for (const spelling of [
          String(n),
          `0x${n.toString(16)}`,
          parts.map((p) => `0${p.toString(8)}`).join("."),
          parts.map((p) => `0x${p.toString(16)}`).join("."),
        ]) {
          expect(verdict(g, spelling), `${spelling} = ${dotted(n)}`).to.equal(expected);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("nothing in 10/8, 127/8, 169.254/16, 172.16/12, 192.168/16, 100.64/10, 0/8, 224/4 or 240/4 is allowed", () => {
    const ranges: [number, number][] = [
      [0x0a000000, 8],
      [0x7f000000, 8],
      [0xa9fe0000, 16],
      [0xac100000, 12],
      [0xc0a80000, 16],
      [0x64400000, 10],
      [0x00000000, 8],
      [0xe0000000, 4],
      [0xf0000000, 4],
    ];
    fc.assert(
      fc.property(fc.constantFrom(...ranges), u32, ([base, bits], r) => {
        const host = (base | (r >>> bits)) >>> 0;
        expect(classifyAddress(dotted(host)).ok, dotted(host)).to.equal(false);
      }),
      { numRuns: RUNS },
    );
  });

  it("IPv4-mapped, NAT64, 6to4 and unique-local/link-local IPv6 are never allowed, whatever they embed", () => {
    const hex = (n: number) => [(n >>> 16).toString(16), (n & 0xffff).toString(16)].join(":");
    fc.assert(
      fc.property(u32, fc.integer({ min: 0, max: 0xffff }), (n, w) => {
        for (const a of [
          `::ffff:${dotted(n)}`,
          `64:ff9b::${hex(n)}`,
          `2002:${hex(n)}::${w.toString(16)}`,
          `fd${(w & 0xff).toString(16).padStart(2, "0")}::${hex(n)}`,
          `fe80::${hex(n)}`,
        ]) {
          expect(classifyAddress(a).ok, a).to.equal(false);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
