/**
 * The keeper on the Docker provider, end to end: a paid session becomes a container labelled with
 * the session, an extension keeps the same container, the end removes it and refunds; a config the
 * engine cannot run (no such image, never pulled) is refunded with a Failed outcome.
 */
import { expect } from "chai";
import Docker from "dockerode";
import { startTestChain, TestChain } from "../shared/chain";
import { startSession, startTestKeeper, until } from "../shared/keeperApp";
import { dockerConnection, LABEL_SESSION } from "../../../keeper/providers/docker";
import { requireDockerEngine } from "../providers/helpers";
import type { App } from "../../../keeper/app";
import type { SessionRow } from "../../../keeper/sessions/lifecycle";

describe("keeper session lifecycle on the docker provider (real engine)", function () {
  this.timeout(120_000);
  let t: TestChain;
  let app: App & { dataDir: string };
  let docker: Docker;

  before(async function () {
    const host = await requireDockerEngine(this);
    docker = new Docker(dockerConnection(host));
    t = await startTestChain();
    await t.rpc.send("evm_setIntervalMining", [100]);
    app = await startTestKeeper(t, { LOCAL_PROVIDER: "docker", DOCKER_HOST: host });
  });
  after(async () => {
    await app?.stop();
    await t?.stop();
  });

  const session = (id: string) => app.db.prepare("SELECT * FROM sessions WHERE instance_id = ?").get(id) as SessionRow | undefined;
  const stateIs = (id: string, ...states: string[]) =>
    until(`session ${id.slice(0, 10)} in ${states}`, () => states.includes(session(id)?.state ?? "") && session(id));
  const containersOf = async (key: string) => docker.listContainers({ all: true, filters: { label: [`${LABEL_SESSION}=${key}`] } });

  it("start -> one labelled, hardened container -> extend keeps it -> end removes it and refunds", async () => {
    const id = await startSession(t, JSON.stringify({ command: ["sh", "-c", "echo up; sleep 3600"], cpu: 0.5, memoryMb: 64 }));
    const running = await stateIs(id, "running");
    expect(running.provider).to.equal("docker");
    const [c] = await containersOf(running.workload_key);
    expect(c, "a container labelled with the session").to.not.equal(undefined);
    const info = await docker.getContainer(c.Id).inspect();
    expect(info.State.Running).to.equal(true);
    expect(info.Config.User).to.equal("65534:65534");
    expect(info.HostConfig.NetworkMode).to.equal("none");
    expect(info.HostConfig.ReadonlyRootfs).to.equal(true);
    expect(info.HostConfig.Memory).to.equal(64 * 1024 * 1024);
    expect(info.HostConfig.CapDrop).to.deep.equal(["ALL"]);

    await (await t.compute().extendSession(id, 1800)).wait();
    await until("extension applied", () => session(id)!.duration === 3600 + 1800 && session(id)!.state === "running");
    expect((await containersOf(running.workload_key)).map((x) => x.Id)).to.deep.equal([c.Id]);

    const usdcBefore = await t.usdc().balanceOf(t.agent.address);
    const receipt = await (await t.compute().endSession(id)).wait();
    const ended = receipt!.logs.map((l) => t.compute().interface.parseLog(l)).find((e) => e?.name === "SessionEnded")!;
    await stateIs(id, "ended");
    await until("container removed", async () => (await containersOf(running.workload_key)).length === 0);
    expect(await t.usdc().balanceOf(t.agent.address)).to.equal(usdcBefore + ended.args.refunded);
  });

  it("an image that is not on the engine is never pulled: the session is refunded with a Failed outcome", async () => {
    const id = await startSession(t, JSON.stringify({ image: "registry.invalid/nothing:1", command: ["true"], cpu: 0.5, memoryMb: 32 }));
    const row = await stateIs(id, "refunded");
    expect(await containersOf(row.workload_key ?? id)).to.deep.equal([]);
    const c = t.compute();
    const outcomes = await c.queryFilter(c.filters.OutcomeRecorded(id));
    expect(outcomes.map((o) => Number(o.args.outcome))).to.deep.equal([2]);
    const s = await c.getSession(id);
    expect(s.claimed).to.equal(0n);
  });
});
