/** /health stays answerable when a provider's health check hangs or throws. */
import { expect } from "chai";
import { PROVIDER_HEALTH_TIMEOUT_MS, providerHealth } from "../../keeper/keeper";

describe("provider health checks", () => {
  it("are concurrent and bounded: a hung check reports a timeout, a throwing one its error, the rest their answer", async () => {
    const started: string[] = [];
    const hang = (name: string) => () => {
      started.push(name);
      return new Promise<never>(() => undefined);
    };
    const h = await providerHealth(
      [
        { name: "hung", health: hang("hung") },
        { name: "hung2", health: hang("hung2") },
        { name: "broken", health: async () => Promise.reject(new Error("401 from the API")) },
        {
          name: "throwsAtOnce",
          health: () => {
            throw new Error("no API key");
          },
        },
        { name: "fine", health: async () => ({ ok: true }) },
      ],
      200,
    );
    expect(h).to.deep.equal({
      hung: { ok: false, detail: "health check timed out after 200 ms" },
      hung2: { ok: false, detail: "health check timed out after 200 ms" },
      broken: { ok: false, detail: "401 from the API" },
      throwsAtOnce: { ok: false, detail: "no API key" },
      fine: { ok: true },
    });
    expect(started, "every check was started, none waited for another").to.deep.equal(["hung", "hung2"]);
  });

  it("default to a 2 s bound: a hung provider reports the timeout, the other its answer, and the call returns", async function () {
    this.timeout(PROVIDER_HEALTH_TIMEOUT_MS * 5); // must finish; no exact timing asserted
    expect(PROVIDER_HEALTH_TIMEOUT_MS).to.equal(2000);
    const h = await providerHealth([
      { name: "akash", health: () => new Promise<never>(() => undefined) },
      { name: "bubblewrap", health: async () => ({ ok: true, detail: "bwrap ready" }) },
    ]);
    expect(h).to.deep.equal({
      akash: { ok: false, detail: "health check timed out after 2000 ms" },
      bubblewrap: { ok: true, detail: "bwrap ready" },
    });
  });
});
