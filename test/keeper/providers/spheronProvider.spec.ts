/** The Spheron REST client against the Spheron stand-in: idempotency, auth, statuses, faults, secrets. */
import { expect } from "chai";
import { SpheronProvider, startupScript } from "../../../keeper/providers/spheron";
import { ProvisionError } from "../../../keeper/providers/provider";
import { startSpheronStandin } from "../../standins/spheron/server";

const KEY = "sph-secret-key-123";
const spec = { image: "agentcompute/worker:1", command: ["sh", "-c", "echo 'hi'; sleep 60"], cpu: 1, memoryMb: 512, env: { MODE: "it's" } };

describe("spheron provider (REST client, stand-in)", function () {
  this.timeout(30_000);
  let s: Awaited<ReturnType<typeof startSpheronStandin>>;
  const provider = (key = KEY, o: Partial<{ requestTimeoutMs: number; startDeadlineMs: number }> = {}) =>
    new SpheronProvider({
      apiUrl: s.url,
      apiKey: key,
      instanceType: "DEDICATED",
      operatingSystem: "ubuntu-22.04",
      requestTimeoutMs: o.requestTimeoutMs ?? 2_000,
      startDeadlineMs: o.startDeadlineMs ?? 2_000,
      pollMs: 10,
    });
  beforeEach(async () => {
    s = await startSpheronStandin({ apiKey: KEY, price: 0.55, startReads: 2 });
  });
  afterEach(async () => s.close());

  it("quotes the cheapest offer in USDC base units per hour, with the key as a Bearer token", async () => {
    expect(await provider().quote(spec, 1)).to.deep.equal({ pricePerHour: 550_000n, available: true });
    expect(s.calls.at(-1)!.auth).to.equal(`Bearer ${KEY}`);
    s.faults.noCapacity = true;
    expect((await provider().quote(spec, 1)).available).to.equal(false);
  });

  it("provisions once per key: a second provision (after a crash) finds the same deployment", async () => {
    const p = provider();
    const first = await p.provision({ idempotencyKey: "s-abc", spec, endsAt: 0 });
    const again = await p.provision({ idempotencyKey: "s-abc", spec, endsAt: 0 });
    expect(first.created).to.equal(true);
    expect(again).to.deep.equal({ ref: first.ref, created: false });
    expect(s.deployments.size).to.equal(1);
    const d = s.deployments.get(first.ref)!;
    expect(d.name).to.equal("s-abc");
    expect(d.startupScript).to.contain("'agentcompute/worker:1'");
    expect((await p.status("s-abc")).state).to.equal("running");
    await p.terminate("s-abc");
    expect(d.status).to.equal("terminated");
    expect((await p.status("s-abc")).state).to.equal("failed");
    await p.terminate("s-abc"); // terminating a terminated one succeeds
  });

  it("the startup script quotes every value (the agent's strings cannot break out of the shell)", () => {
    const script = startupScript({ ...spec, env: { X: "$(rm -rf /)'; echo pwned" } }, "s-1");
    expect(script).to.contain(`-e 'X=$(rm -rf /)'\\''; echo pwned'`);
    expect(script).to.not.match(/-e X=\$\(/);
  });

  it("a wrong key is a non-retryable error that does not echo the key", async () => {
    const err = await provider("wrong-key")
      .provision({ idempotencyKey: "s-x", spec, endsAt: 0 })
      .catch((e) => e);
    expect(err).to.be.instanceOf(ProvisionError);
    expect(err.retryable).to.equal(false);
    expect(err.message).to.match(/HTTP 401/);
    expect(err.message).to.not.contain("wrong-key");
  });

  it("an API that hangs times out as a retryable error; 503 is retryable too", async () => {
    s.faults.hang = true;
    const t0 = Date.now();
    const err = await provider(KEY, { requestTimeoutMs: 200 })
      .provision({ idempotencyKey: "s-h", spec, endsAt: 0 })
      .catch((e) => e);
    expect(err.retryable).to.equal(true);
    expect(err.message).to.match(/timed out after 200 ms/);
    expect(Date.now() - t0).to.be.lessThan(5_000);
    s.faults.hang = false;
    s.faults.unavailable = true;
    const e2 = await provider()
      .provision({ idempotencyKey: "s-h", spec, endsAt: 0 })
      .catch((e) => e);
    expect(e2.retryable).to.equal(true);
    expect(e2.message).to.match(/HTTP 503/);
  });

  it("a deployment that fails before running is a non-retryable error; no image is refused up front", async () => {
    s.faults.failDeploy = true;
    const err = await provider()
      .provision({ idempotencyKey: "s-f", spec, endsAt: 0 })
      .catch((e) => e);
    expect(err.retryable).to.equal(false);
    expect(err.message).to.match(/failed before it ran/);
    const e2 = await provider()
      .provision({ idempotencyKey: "s-n", spec: { ...spec, image: undefined }, endsAt: 0 })
      .catch((e) => e);
    expect(e2.message).to.match(/config\.image is required/);
    expect(s.deployments.size).to.equal(1);
  });

  it("an instance the provider terminates on its own reads as failed (the lifecycle fails over)", async () => {
    s.faults.terminateAfterReads = 1;
    const p = provider();
    await p.provision({ idempotencyKey: "s-t", spec, endsAt: 0 });
    let st = await p.status("s-t");
    for (let i = 0; i < 3 && st.state === "running"; i++) st = await p.status("s-t");
    expect(st.state).to.equal("failed");
    expect(st.detail).to.match(/terminated/);
  });
});
