/**
 * withTimeout bounds a provider call the caller already started. A call that outlives its budget, or
 * starts with none left, must still have its eventual rejection handled: an unhandled rejection would
 * take the keeper down (it did, on a slow CI machine, when an attempt's deadline had just passed).
 */
import { expect } from "chai";
import { withTimeout } from "../../../keeper/errors";

describe("keeper/sessions withTimeout", () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  let mochaListeners: NodeJS.UnhandledRejectionListener[];
  beforeEach(() => {
    unhandled.length = 0;
    // Mocha turns unhandled rejections into test failures of whatever runs next; collect them here instead.
    mochaListeners = process.listeners("unhandledRejection");
    process.removeAllListeners("unhandledRejection");
    process.on("unhandledRejection", onUnhandled);
  });
  afterEach(() => {
    process.removeListener("unhandledRejection", onUnhandled);
    for (const l of mochaListeners) process.on("unhandledRejection", l);
  });
  const settle = () => new Promise((r) => setTimeout(r, 30));
  const rejectLater = (ms: number) => new Promise<never>((_, reject) => setTimeout(() => reject(new Error("provider said no")), ms));

  it("resolves with the call's value when it answers in time", async () => {
    expect(await withTimeout(Promise.resolve(7), 100, "x")).to.equal(7);
  });

  it("passes the call's own error through when it fails in time", async () => {
    const err = await withTimeout(rejectLater(1), 1000, "x").catch((e: Error) => e);
    expect((err as Error).message).to.equal("provider said no");
  });

  it("rejects with 'no answer within' when the call is slower, and its late failure is handled", async () => {
    const err = await withTimeout(rejectLater(20), 5, "spheron provisioning").catch((e: Error) => e);
    expect((err as Error).message).to.equal("spheron provisioning: no answer within 5 ms");
    await settle();
    expect(unhandled).to.deep.equal([]);
  });

  for (const ms of [0, -1500, Number.NaN]) {
    it(`rejects at once with 'deadline passed' for a budget of ${ms} ms, and the started call's failure is handled`, async () => {
      const err = await withTimeout(rejectLater(5), ms, "spheron provisioning").catch((e: Error) => e);
      expect((err as Error).message).to.equal("spheron provisioning: deadline passed");
      await settle();
      expect(unhandled).to.deep.equal([]);
    });
  }
});
