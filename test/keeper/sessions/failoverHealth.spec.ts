/**
 * Failover's circuit breaker on an in-memory store: a provider's own failures count against its
 * health until it is skipped, while a refusal of the agent's workload config (WorkloadRefused) and
 * failures of the operator's own hardware never do.
 */
import { expect } from "chai";
import pino from "pino";
import { Failover } from "../../../keeper/sessions/failover";
import { ProviderRegistry } from "../../../keeper/providers/registry";
import { ProvisionError, WorkloadRefused, type ComputeProvider } from "../../../keeper/providers/provider";
import { TimeoutError } from "../../../keeper/errors";
import { openStore, type Store } from "../../../keeper/store/store";

/** Only the name matters to the breaker; a call to anything else is a bug in the test. */
const named = (name: string) =>
  new Proxy({ name } as ComputeProvider, {
    get: (target, prop) =>
      prop in target ? target[prop as keyof ComputeProvider] : () => Promise.reject(new Error(`${name}.${String(prop)} called`)),
  });

describe("failover: what counts against a provider's health", () => {
  let store: Store;
  let failover: Failover;
  const failures = async (name: string) =>
    (store.db.prepare("SELECT consecutive_failures n FROM provider_health WHERE provider = ?").get(name) as { n: number } | undefined)?.n ??
    0;

  beforeEach(() => {
    store = openStore(":memory:");
    const registry = new ProviderRegistry(named("bubblewrap"), [named("spheron"), named("ionet")]);
    failover = new Failover(
      store,
      registry,
      { deadlineSeconds: 60, breakerThreshold: 2, cooldownSeconds: 900, quoteTimeoutMs: 100 },
      pino({ level: "silent" }),
    );
  });
  afterEach(() => store.close());

  it("counts a cloud provider's own failures, and opens the breaker at the threshold", async () => {
    await failover.recordFailure("spheron", new ProvisionError("spheron: no GPU offer available", true));
    expect(await failures("spheron")).to.equal(1);
    expect(await store.providerHealth.unhealthyUntil("spheron")).to.equal(0);
    await failover.recordFailure("spheron", new TimeoutError("spheron provisioning", 5));
    expect(await failures("spheron")).to.equal(2);
    expect(await store.providerHealth.unhealthyUntil("spheron")).to.be.greaterThan(Math.floor(Date.now() / 1000));
    await failover.recordSuccess("spheron");
    expect(await failures("spheron")).to.equal(0);
  });

  it("does not count a refusal of the agent's workload config: the provider did nothing wrong", async () => {
    for (let i = 0; i < 5; i++)
      await failover.recordFailure("ionet", new WorkloadRefused("ionet runs container images: config.image is required"));
    expect(await failures("ionet")).to.equal(0);
    expect(await store.providerHealth.unhealthyUntil("ionet")).to.equal(0);
    // The same words in another error are not a refusal: the type decides, not the message.
    await failover.recordFailure("ionet", new ProvisionError("ionet: config.image pull failed on the host", false));
    expect(await failures("ionet")).to.equal(1);
  });

  it("never counts against the operator's own hardware, the last resort", async () => {
    for (let i = 0; i < 5; i++) await failover.recordFailure("bubblewrap", new ProvisionError("bwrap missing", false));
    await failover.recordFailure("bubblewrap", "workload lost: exited");
    expect(await failures("bubblewrap")).to.equal(0);
  });
});
