/** Request validation and pricing by tier (design.md section 5). */
import { expect } from "chai";
import { ServiceError } from "../../../../keeper/services/jobService";
import { parseExecuteRequest, tierOf } from "../../../../keeper/services/execute";
import { createBubblewrapBackend } from "../../../../keeper/services/execute/bubblewrapBackend";
import { MAX_CODE_BYTES } from "../../../../keeper/services/execute/request";
import { serviceOn } from "./helpers";

const ok = { job_id: "j1", language: "python", code: "print(1)", timeout: 5, memory_mb: 128 };

function invalid(body: unknown): ServiceError {
  try {
    parseExecuteRequest(body);
  } catch (e) {
    expect(e).to.be.instanceOf(ServiceError);
    expect((e as ServiceError).code).to.equal("INVALID_REQUEST");
    return e as ServiceError;
  }
  throw new Error("expected INVALID_REQUEST");
}

describe("execute: request validation and prices", () => {
  it("accepts the spec's body and fills timeout 5 s / memory 128 MB when absent", () => {
    expect(parseExecuteRequest(ok)).to.deep.equal(ok);
    expect(parseExecuteRequest({ job_id: "j2", language: "bash", code: "echo" })).to.include({ timeout: 5, memory_mb: 128 });
  });

  it("rejects unknown languages, empty or oversized code, NUL, unknown fields and out-of-range limits, naming each", () => {
    expect(invalid({ ...ok, language: "ruby" }).message).to.contain("language");
    expect(invalid({ ...ok, code: "" }).message).to.contain("code");
    expect(invalid({ ...ok, code: "x".repeat(MAX_CODE_BYTES + 1) }).message).to.contain("larger than");
    expect(invalid({ ...ok, code: "a\0b" }).message).to.contain("NUL");
    expect(invalid({ ...ok, extra: 1 }).message).to.contain("extra");
    expect(invalid({ ...ok, timeout: 61 }).message).to.contain("timeout");
    expect(invalid({ ...ok, timeout: 0 }).message).to.contain("timeout");
    expect(invalid({ ...ok, memory_mb: 513 }).message).to.contain("memory_mb");
    expect(invalid({ ...ok, job_id: "../x" }).message).to.contain("job_id");
    expect(invalid("nope").message).to.contain("body");
  });

  it("tiers: quick up to 5 s and 128 MB, standard up to 30 s and 256 MB, extended up to 60 s and 512 MB", () => {
    expect(tierOf({ timeout: 5, memory_mb: 128 })).to.equal("quick");
    expect(tierOf({ timeout: 5.5, memory_mb: 128 })).to.equal("standard");
    expect(tierOf({ timeout: 1, memory_mb: 129 })).to.equal("standard");
    expect(tierOf({ timeout: 30, memory_mb: 256 })).to.equal("standard");
    expect(tierOf({ timeout: 31, memory_mb: 16 })).to.equal("extended");
    expect(tierOf({ timeout: 2, memory_mb: 512 })).to.equal("extended");
  });

  it("prices 300 / 500 / 1000 WATT by default (in base units of 9 decimals) and follows the EXECUTE_PRICE_* keys", () => {
    const s = serviceOn(createBubblewrapBackend());
    const W = 10n ** 9n;
    expect(s.price(parseExecuteRequest(ok))).to.equal(300n * W);
    expect(s.price(parseExecuteRequest({ ...ok, timeout: 20 }))).to.equal(500n * W);
    expect(s.price(parseExecuteRequest({ ...ok, memory_mb: 400 }))).to.equal(1000n * W);
    const t = serviceOn(createBubblewrapBackend(), { EXECUTE_PRICE_QUICK: "7", EXECUTE_PRICE_STANDARD: "8", EXECUTE_PRICE_EXTENDED: "9" });
    expect([ok, { ...ok, timeout: 20 }, { ...ok, timeout: 50 }].map((b) => t.price(parseExecuteRequest(b)))).to.deep.equal([
      7n * W,
      8n * W,
      9n * W,
    ]);
  });
});
