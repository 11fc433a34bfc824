/**
 * keeper/errors.ts: the typed errors retry decisions rest on, and the one sleep and withTimeout.
 */
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import path from "node:path";
import {
  KeeperError,
  PermanentError,
  ProviderError,
  RetryableError,
  RpcError,
  TimeoutError,
  isRetryable,
  sleep,
  withTimeout,
} from "../../keeper/errors";
import { ChainError } from "../../keeper/providers/akash/chainClient";
import { ProviderApiError } from "../../keeper/providers/akash/providerApi";

describe("keeper typed errors", () => {
  it("retryable and permanent errors carry their code and decision, and are KeeperErrors", () => {
    const r = new RetryableError("node down", "NODE_DOWN");
    const p = new PermanentError("no such account", "NO_ACCOUNT");
    expect(r).to.be.instanceOf(KeeperError).and.instanceOf(Error);
    expect(p).to.be.instanceOf(KeeperError);
    expect([r.code, r.retryable, r.name, r.message]).to.deep.equal(["NODE_DOWN", true, "RetryableError", "node down"]);
    expect([p.code, p.retryable, p.name]).to.deep.equal(["NO_ACCOUNT", false, "PermanentError"]);
    expect(isRetryable(r)).to.equal(true);
    expect(isRetryable(p)).to.equal(false);
  });

  it("does not judge errors it did not type, whatever their message says", () => {
    expect(isRetryable(new Error("timeout, please retry"))).to.equal(false);
    expect(isRetryable("timeout")).to.equal(false);
    expect(isRetryable(undefined)).to.equal(false);
  });

  it("keeps the cause of a converted error", () => {
    const cause = new Error("ECONNRESET");
    const e = new RpcError("eth_call failed", "RPC_FAILED", true, { cause });
    expect(e.cause).to.equal(cause);
    expect(e.name).to.equal("RpcError");
  });

  it("the Akash chain and gateway errors are RPC and provider errors with their retry decision", () => {
    const chain = new ChainError("AKASH_TX_REJECTED: code 4", "AKASH_TX_REJECTED", false);
    expect(chain).to.be.instanceOf(RpcError).and.instanceOf(KeeperError);
    expect([chain.name, chain.retryable]).to.deep.equal(["ChainError", false]);
    const slow = new ProviderApiError("AKASH_PROVIDER_TIMEOUT: slow", "AKASH_PROVIDER_TIMEOUT");
    const rejected = new ProviderApiError("AKASH_MANIFEST_REJECTED: bad", "AKASH_MANIFEST_REJECTED", 422);
    const untrusted = new ProviderApiError("AKASH_PROVIDER_UNTRUSTED: cert", "AKASH_PROVIDER_UNTRUSTED");
    expect(slow).to.be.instanceOf(ProviderError);
    expect([slow.name, slow.retryable, rejected.retryable, untrusted.retryable, rejected.status]).to.deep.equal([
      "ProviderApiError",
      true,
      false,
      false,
      422,
    ]);
  });
});

describe("keeper sleep and withTimeout", () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  let mochaListeners: NodeJS.UnhandledRejectionListener[];
  beforeEach(() => {
    unhandled.length = 0;
    // Mocha turns unhandled rejections into failures of whatever runs next; collect them here instead.
    mochaListeners = process.listeners("unhandledRejection");
    process.removeAllListeners("unhandledRejection");
    process.on("unhandledRejection", onUnhandled);
  });
  afterEach(() => {
    process.removeListener("unhandledRejection", onUnhandled);
    for (const l of mochaListeners) process.on("unhandledRejection", l);
  });
  const rejectLater = (ms: number) => new Promise<never>((_, reject) => setTimeout(() => reject(new Error("provider said no")), ms));

  it("sleep waits at least the time asked", async () => {
    const t0 = Date.now();
    await sleep(30);
    expect(Date.now() - t0).to.be.at.least(29);
  });

  it("resolves with the call's value, and passes the call's own error through, when it answers in time", async () => {
    expect(await withTimeout(Promise.resolve(7), 100, "x")).to.equal(7);
    const err = await withTimeout(rejectLater(1), 1000, "x").catch((e: Error) => e);
    expect(err).to.not.be.instanceOf(TimeoutError);
    expect((err as Error).message).to.equal("provider said no");
  });

  it("rejects with a retryable TimeoutError naming the call when it is slower, and its late failure is handled", async () => {
    const err = await withTimeout(rejectLater(20), 5, "akash quote").catch((e: unknown) => e);
    expect(err).to.be.instanceOf(TimeoutError).and.instanceOf(RetryableError);
    const t = err as TimeoutError;
    expect([t.message, t.code, t.what, t.ms, t.retryable]).to.deep.equal([
      "akash quote: no answer within 5 ms",
      "TIMEOUT",
      "akash quote",
      5,
      true,
    ]);
    await sleep(30);
    expect(unhandled).to.deep.equal([]);
  });

  it("with no time left rejects at once (DEADLINE_PASSED) and still handles the call's later failure", async () => {
    const t0 = Date.now();
    const err = (await withTimeout(rejectLater(10), 0, "provision").catch((e: unknown) => e)) as TimeoutError;
    expect(Date.now() - t0).to.be.below(10);
    expect(err).to.be.instanceOf(TimeoutError);
    expect([err.message, err.code]).to.deep.equal(["provision: deadline passed", "DEADLINE_PASSED"]);
    await sleep(30);
    expect(unhandled).to.deep.equal([]);
  });

  for (const ms of [-1500, Number.NaN]) {
    it(`treats a budget of ${ms} ms as no time left (DEADLINE_PASSED), and handles the started call's failure`, async () => {
      const err = (await withTimeout(rejectLater(5), ms, "spheron provisioning").catch((e: unknown) => e)) as TimeoutError;
      expect([err.message, err.code]).to.deep.equal(["spheron provisioning: deadline passed", "DEADLINE_PASSED"]);
      await sleep(30);
      expect(unhandled).to.deep.equal([]);
    });
  }

  it("clears its timer when the call answers first: a process with nothing else to do exits at once", function () {
    this.timeout(30_000);
    // Counted from outside: were the 60 s timer left running, the child would stay alive until it fired.
    const code = `require(${JSON.stringify(path.resolve(__dirname, "../../keeper/errors"))}).withTimeout(Promise.resolve(1), 60000, "x").then(() => console.log("answered"))`;
    const t0 = Date.now();
    const out = execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", code], {
      timeout: 25_000,
      encoding: "utf8",
    });
    expect(out.trim()).to.equal("answered");
    expect(Date.now() - t0).to.be.below(20_000);
  });
});
