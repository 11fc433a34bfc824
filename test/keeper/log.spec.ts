/** No secret reaches a log line: the real pino logger, every secret key at the top and nested. */
import { expect } from "chai";
import { Writable } from "node:stream";
import { createLogger, REDACTED_KEYS } from "../../keeper/log";

describe("keeper logs redact secrets", () => {
  it("every secret-bearing key, at the top level and nested one and two levels, is [redacted]", () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = createLogger("info", false, sink);
    // The secrets the keeper is configured with, named here so that dropping one from REDACTED_KEYS fails this test.
    const required = [
      "AKASH_MNEMONIC",
      "SPHERON_API_KEY",
      "IONET_API_KEY",
      "PAYOUT_PRIVATE_KEY",
      "BRIDGE_PRIVATE_KEY",
      "WATT_SERVICE_SECRET",
      "x-api-key",
    ];
    const keys = [...new Set([...required, ...REDACTED_KEYS.map((k) => k.replace(/^\["|"\]$/g, ""))])];
    const secret = (k: string, depth: number) => `SECRET-${k}-${depth}-x9`;
    for (const k of keys) {
      log.info({ [k]: secret(k, 0) }, "top");
      log.info({ cfg: { [k]: secret(k, 1) } }, "nested");
      log.info({ req: { headers: { [k]: secret(k, 2) } } }, "deeper");
    }
    const out = lines.join("");
    expect(lines.length).to.equal(keys.length * 3);
    for (const k of keys) for (const d of [0, 1, 2]) expect(out, `${k} at depth ${d}`).to.not.contain(secret(k, d));
    expect(out).to.contain("[redacted]");
    // Ordinary fields pass through.
    log.info({ jobId: "visible-42" }, "ok");
    expect(lines.at(-1)).to.contain("visible-42");
  });
});
