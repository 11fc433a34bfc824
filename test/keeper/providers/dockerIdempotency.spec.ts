/**
 * The docker provider never runs a second container for a session. Needs a Docker engine
 * (DOCKER_HOST, or scripts/docker-engine.sh's); skipped with a message when none answers.
 */
import { expect } from "chai";
import { DockerProvider, LABEL_MANAGED, LABEL_SESSION } from "../../../keeper/providers/docker";
import type { ProvisionRequest } from "../../../keeper/providers/provider";
import { buildDockerCreateOptions } from "../../../keeper/sandbox/dockerConfig";
import { createSandboxSpec } from "../../../keeper/sandbox/sandboxSpec";
import { Cleanup, inSeconds, requireDockerEngine, uniqueKey } from "./helpers";

function request(key: string): ProvisionRequest {
  return { idempotencyKey: key, endsAt: inSeconds(300), spec: { command: ["sleep", "300"], cpu: 0.5, memoryMb: 32, env: {} } };
}

describe("docker provider: idempotent provisioning", function () {
  this.timeout(120_000);
  const cleanup = new Cleanup();
  let host: string;
  let p: DockerProvider;

  before(async function () {
    host = await requireDockerEngine(this);
  });
  beforeEach(() => {
    p = new DockerProvider({ dockerHost: host, stopGraceSeconds: 1 });
  });
  afterEach(() => cleanup.run());

  async function containersOf(key: string) {
    return p.docker.listContainers({ all: true, filters: { label: [`${LABEL_SESSION}=${key}`] } });
  }

  it("a second provision with the same key returns the same container (created: false)", async () => {
    const key = cleanup.track(p, uniqueKey("again"));
    const first = await p.provision(request(key));
    const second = await p.provision(request(key));
    expect(first.created).to.equal(true);
    expect(second).to.deep.equal({ ref: first.ref, created: false });
    const list = await containersOf(key);
    expect(list).to.have.length(1);
    expect(list[0].Labels).to.include({ [LABEL_SESSION]: key, [LABEL_MANAGED]: "true" });
    expect(list[0].Names).to.deep.equal([`/${p.containerName(key)}`]);
    expect(list[0].State).to.equal("running");
  });

  it("two keepers racing on one key (no shared lock) end up with one container: the loser's 409 returns it", async () => {
    const other = new DockerProvider({ dockerHost: host });
    const key = cleanup.track(p, uniqueKey("race"));
    const results = await Promise.all([p.provision(request(key)), other.provision(request(key)), p.provision(request(key))]);
    expect(results.filter((r) => r.created)).to.have.length(1);
    expect(new Set(results.map((r) => r.ref)).size).to.equal(1);
    expect(await containersOf(key)).to.have.length(1);
  });

  it("a restarted keeper (new provider object) finds the container", async () => {
    const key = cleanup.track(p, uniqueKey("restart"));
    const first = await p.provision(request(key));
    const next = new DockerProvider({ dockerHost: host });
    expect(await next.provision(request(key))).to.deep.equal({ ref: first.ref, created: false });
    expect((await next.status(key)).state).to.equal("running");
  });

  it("a container created but never started (keeper died in between) is started, not duplicated", async () => {
    const key = cleanup.track(p, uniqueKey("created"));
    const spec = createSandboxSpec({ command: ["sleep", "300"], memoryMb: 32 });
    const c = await p.docker.createContainer(
      buildDockerCreateOptions(spec, {
        image: "agentcompute/busybox:local",
        name: p.containerName(key),
        labels: { [LABEL_SESSION]: key, [LABEL_MANAGED]: "true" },
      }),
    );
    expect((await p.status(key)).state).to.equal("starting");
    expect(await p.provision(request(key))).to.deep.equal({ ref: c.id, created: false });
    expect((await c.inspect()).State.Status).to.equal("running");
    expect(await containersOf(key)).to.have.length(1);
  });
});
