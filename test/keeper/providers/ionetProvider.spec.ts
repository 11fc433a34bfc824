/** The io.net CaaS REST client against the io.net stand-in: idempotency, auth, price, faults, extend. */
import { expect } from "chai";
import { IonetProvider } from "../../../keeper/providers/ionet";
import { startIonetStandin } from "../../standins/ionet/server";

const KEY = "io-secret-key-456";
const spec = { image: "agentcompute/worker:1", command: ["python3", "-m", "app"], cpu: 1, memoryMb: 512, env: { MODE: "x" } };
const inHours = (h: number) => Math.floor(Date.now() / 1000) + h * 3600;

describe("ionet provider (REST client, stand-in)", function () {
  this.timeout(30_000);
  let s: Awaited<ReturnType<typeof startIonetStandin>>;
  const provider = (key = KEY, requestTimeoutMs = 2_000) =>
    new IonetProvider({
      apiUrl: s.url,
      apiKey: key,
      hardwareId: 206,
      locationIds: [3, 4],
      gpusPerContainer: 1,
      trafficPort: 8080,
      requestTimeoutMs,
      startDeadlineMs: 2_000,
      pollMs: 10,
    });
  beforeEach(async () => {
    s = await startIonetStandin({ apiKey: KEY, pricePerHour: 0.4, startReads: 2 });
  });
  afterEach(async () => s.close());

  it("quotes from /caas/price per hour, with the key in x-api-key", async () => {
    expect(await provider().quote(spec, 3)).to.deep.equal({ pricePerHour: 400_000n, available: true });
    const c = s.calls.at(-1)!;
    expect(c.key).to.equal(KEY);
    expect(c.url).to.contain("hardware_id=206").and.contain("duration_hours=3").and.contain(encodeURIComponent("[3,4]"));
    s.faults.noCapacity = true;
    expect((await provider().quote(spec, 1)).available).to.equal(false);
  });

  it("deploys once per key for the paid hours; a second provision finds it; extend and terminate", async () => {
    const p = provider();
    const first = await p.provision({ idempotencyKey: "s-io", spec, endsAt: inHours(2) });
    const again = await p.provision({ idempotencyKey: "s-io", spec, endsAt: inHours(2) });
    expect(first.created).to.equal(true);
    expect(again).to.deep.equal({ ref: first.ref, created: false });
    expect(s.deployments.size).to.equal(1);
    const d = s.deployments.get(first.ref)!;
    expect(d).to.include({ resource_private_name: "s-io", duration_hours: 2, hardware_id: 206, image_url: "agentcompute/worker:1" });
    expect(d.env_variables).to.deep.equal({ MODE: "x" });
    await p.extend("s-io", inHours(3));
    expect(d.duration_hours, "only the hour not yet paid is rented").to.equal(3);
    await p.extend("s-io", inHours(3));
    expect(d.duration_hours, "extending to an end already paid rents nothing").to.equal(3);
    await p.terminate("s-io");
    expect(d.status).to.equal("termination requested");
    expect((await p.status("s-io")).state).to.equal("failed");
  });

  it("errors: wrong key (401, not retryable, key not echoed), timeout and 503 (retryable), failed deployment", async () => {
    const e1 = await provider("bad-key")
      .provision({ idempotencyKey: "s-1", spec, endsAt: inHours(1) })
      .catch((e) => e);
    expect([e1.retryable, /HTTP 401/.test(e1.message), e1.message.includes("bad-key")]).to.deep.equal([false, true, false]);
    s.faults.hang = true;
    const e2 = await provider(KEY, 150)
      .provision({ idempotencyKey: "s-2", spec, endsAt: inHours(1) })
      .catch((e) => e);
    expect([e2.retryable, /timed out after 150 ms/.test(e2.message)]).to.deep.equal([true, true]);
    s.faults.hang = false;
    s.faults.unavailable = true;
    const e3 = await provider()
      .provision({ idempotencyKey: "s-3", spec, endsAt: inHours(1) })
      .catch((e) => e);
    expect([e3.retryable, /HTTP 503/.test(e3.message)]).to.deep.equal([true, true]);
    s.faults.unavailable = false;
    s.faults.failDeploy = true;
    const e4 = await provider()
      .provision({ idempotencyKey: "s-4", spec, endsAt: inHours(1) })
      .catch((e) => e);
    expect([e4.retryable, /failed before it ran/.test(e4.message)]).to.deep.equal([false, true]);
  });

  it("a deployment io.net destroys on its own reads as failed", async () => {
    s.faults.terminateAfterReads = 1;
    const p = provider();
    await p.provision({ idempotencyKey: "s-d", spec, endsAt: inHours(1) });
    let st = await p.status("s-d");
    for (let i = 0; i < 3 && st.state === "running"; i++) st = await p.status("s-d");
    expect(st.state).to.equal("failed");
    expect(st.detail).to.match(/destroyed/);
  });
});
