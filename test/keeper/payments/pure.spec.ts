/** Pure pieces of keeper/payments: the RPC memo field, WATT amounts, the burn share (signed requests: agentAuth.spec.ts). */
import { expect } from "chai";
import fc from "fast-check";
import { parseMemoField } from "../../../keeper/payments/memo";
import { burnOf, formatWatt, parseWatt, toWatt } from "../../../keeper/payments/watt";

const field = (memos: string[]) => memos.map((m) => `[${Buffer.byteLength(m)}] ${m}`).join("; ");

describe("keeper/payments pure functions", () => {
  it("parseMemoField splits by the byte-length prefix, whatever the memos contain", () => {
    expect(parseMemoField(null)).to.deep.equal([]);
    expect(parseMemoField("[5] job-1")).to.deep.equal(["job-1"]);
    expect(parseMemoField(field(["caf\u00e9; [2] x", "b"]))).to.deep.equal(["caf\u00e9; [2] x", "b"]);
    expect(parseMemoField("garbage")).to.deep.equal([]);
    expect(parseMemoField("[99] short"), "a length past the end is not trusted").to.deep.equal([]);
    fc.assert(
      fc.property(fc.array(fc.string({ unit: "grapheme", maxLength: 40 }), { minLength: 1, maxLength: 4 }), (memos) => {
        expect(parseMemoField(field(memos))).to.deep.equal(memos);
      }),
    );
  });

  it("WATT amounts: exact round trips, decimals enforced, the burn is 0.15 % rounded down", () => {
    expect(formatWatt(150_000_000n, 9)).to.equal("0.15");
    expect(formatWatt(-3_000_000_001n, 9)).to.equal("-3.000000001");
    expect(toWatt(100n * 10n ** 9n, 9)).to.equal(100);
    expect(parseWatt("12.5", 9)).to.equal(12_500_000_000n);
    expect(() => parseWatt("0.0000000001", 9)).to.throw(/9 decimals/);
    expect(() => parseWatt("-1", 9)).to.throw(/not a WATT amount/);
    expect(burnOf(100n * 10n ** 9n)).to.equal(150_000_000n);
    expect(burnOf(666n)).to.equal(0n);
    // parseWatt takes at most 18 integer digits of WATT.
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 27n - 1n }), (x) => {
        expect(parseWatt(formatWatt(x, 9), 9)).to.equal(x);
        expect(burnOf(x) * 10_000n <= x * 15n && x * 15n < (burnOf(x) + 1n) * 10_000n).to.equal(true);
      }),
    );
  });
});
