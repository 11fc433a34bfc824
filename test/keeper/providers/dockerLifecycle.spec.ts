/**
 * Docker provider: status transitions, terminate removes the container (idempotent), errors are
 * classified for the lifecycle. Engine-backed parts are skipped with a message when no engine answers.
 */
import { rmSync } from "node:fs";
import { expect } from "chai";
import { DockerProvider, LABEL_SESSION } from "../../../keeper/providers/docker";
import { ProvisionError } from "../../../keeper/providers/provider";
import { Cleanup, inSeconds, requireDockerEngine, tempDir, uniqueKey, waitUntil } from "./helpers";

describe("docker provider: status, terminate, errors", function () {
  this.timeout(120_000);
  const cleanup = new Cleanup();
  let host: string;
  let p: DockerProvider;

  before(async function () {
    host = await requireDockerEngine(this);
  });
  beforeEach(() => {
    p = new DockerProvider({ dockerHost: host, stopGraceSeconds: 1, pricePerHour: 77n });
  });
  afterEach(() => cleanup.run());

  it("unknown -> running -> exited with the exit code -> removed by terminate (unknown)", async () => {
    const key = cleanup.track(p, uniqueKey("status"));
    expect(await p.status(key)).to.deep.equal({ state: "unknown", ref: "" });
    const { ref } = await p.provision({
      idempotencyKey: key,
      endsAt: inSeconds(300),
      spec: { command: ["sh", "-c", "sleep 1; exit 3"], cpu: 0.5, memoryMb: 32, env: {} },
    });
    expect(await p.status(key)).to.deep.equal({ state: "running", ref });
    const done = await waitUntil(async () => {
      const s = await p.status(key);
      return s.state === "running" ? undefined : s;
    }, 20_000);
    expect(done).to.deep.equal({ state: "exited", ref, exitCode: 3 });
    await p.terminate(key);
    expect(await p.status(key)).to.deep.equal({ state: "unknown", ref: "" });
    let err: { statusCode?: number } | undefined;
    await p.docker
      .getContainer(ref)
      .inspect()
      .catch((e) => (err = e));
    expect(err?.statusCode).to.equal(404);
  });

  it("terminate stops and removes a running container, and is idempotent", async () => {
    const key = cleanup.track(p, uniqueKey("terminate"));
    await p.provision({
      idempotencyKey: key,
      endsAt: inSeconds(300),
      spec: { command: ["sleep", "300"], cpu: 0.5, memoryMb: 32, env: {} },
    });
    await p.terminate(key);
    await p.terminate(key);
    await p.terminate(uniqueKey("never-provisioned"));
    expect(await p.docker.listContainers({ all: true, filters: { label: [`${LABEL_SESSION}=${key}`] } })).to.deep.equal([]);
  });

  it("a missing image fails without retry and without pulling or leaving a container", async () => {
    const key = cleanup.track(p, uniqueKey("noimage"));
    let err: unknown;
    await p
      .provision({
        idempotencyKey: key,
        endsAt: inSeconds(300),
        spec: { image: "agentcompute/does-not-exist:local", command: ["true"], cpu: 0.5, memoryMb: 32, env: {} },
      })
      .catch((e) => (err = e));
    expect(err).to.be.instanceOf(ProvisionError);
    expect((err as ProvisionError).retryable).to.equal(false);
    expect(await p.docker.listContainers({ all: true, filters: { label: [`${LABEL_SESSION}=${key}`] } })).to.deep.equal([]);
  });

  it("extend checks the container exists; health and quote", async () => {
    const key = cleanup.track(p, uniqueKey("extend"));
    let err: unknown;
    await p.extend(key, inSeconds(600)).catch((e) => (err = e));
    expect(err).to.be.instanceOf(ProvisionError);
    await p.provision({
      idempotencyKey: key,
      endsAt: inSeconds(300),
      spec: { command: ["sleep", "300"], cpu: 0.5, memoryMb: 32, env: {} },
    });
    await p.extend(key, inSeconds(600));
    const h = await p.health();
    expect(h.ok, h.detail).to.equal(true);
    expect(await p.quote({ command: ["true"], cpu: 1, memoryMb: 64, env: {} }, 1)).to.deep.equal({ pricePerHour: 77n, available: true });
    expect((await p.quote({ image: "agentcompute/does-not-exist:local", cpu: 1, memoryMb: 64, env: {} }, 1)).available).to.equal(false);
  });
});

describe("docker provider: no engine", () => {
  it("health() says so and provision() fails retryably", async () => {
    const dir = tempDir();
    try {
      const p = new DockerProvider({ dockerHost: `unix://${dir}/no-engine.sock` });
      const h = await p.health();
      expect(h.ok).to.equal(false);
      expect(h.detail).to.match(/no Docker engine/);
      expect((await p.quote({ command: ["true"], cpu: 1, memoryMb: 64, env: {} }, 1)).available).to.equal(false);
      let err: unknown;
      await p
        .provision({ idempotencyKey: "k", endsAt: inSeconds(300), spec: { command: ["true"], cpu: 1, memoryMb: 64, env: {} } })
        .catch((e) => (err = e));
      expect(err).to.be.instanceOf(ProvisionError);
      expect((err as ProvisionError).retryable).to.equal(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
