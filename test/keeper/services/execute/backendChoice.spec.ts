/** EXECUTE_BACKEND: bubblewrap / docker as configured; auto picks docker only when the engine and image are there. */
import { expect } from "chai";
import { chooseBackend, createExecuteService } from "../../../../keeper/services/execute";
import { config, ctx, silentLog } from "./helpers";
import { requireDockerEngine } from "../../providers/helpers";

describe("execute: backend choice", function () {
  this.timeout(60_000);

  it("bubblewrap when configured, and it is healthy here", async () => {
    const b = await chooseBackend(config({ EXECUTE_BACKEND: "bubblewrap" }), silentLog);
    expect(b.name).to.equal("bubblewrap");
    expect(await b.health()).to.deep.equal({ ok: true });
  });

  it("auto without a reachable engine falls back to bubblewrap", async () => {
    const b = await chooseBackend(config({ EXECUTE_BACKEND: "auto", DOCKER_HOST: "unix:///nonexistent/docker.sock" }), silentLog);
    expect(b.name).to.equal("bubblewrap");
  });

  it("auto with an engine but without the runtime image falls back to bubblewrap", async function () {
    const host = await requireDockerEngine(this);
    const b = await chooseBackend(
      config({ EXECUTE_BACKEND: "auto", DOCKER_HOST: host, EXECUTE_DOCKER_IMAGE: "agentcompute/no-such-image:local" }),
      silentLog,
    );
    expect(b.name).to.equal("bubblewrap");
  });

  it("auto with the engine and image picks docker; the service runs on it and reports health", async function () {
    const host = await requireDockerEngine(this);
    const s = createExecuteService(config({ EXECUTE_BACKEND: "auto", DOCKER_HOST: host }), silentLog);
    expect((await s.backend).name).to.equal("docker");
    const h = await s.health!();
    expect(h.ok).to.equal(true);
    expect(h.detail).to.match(/^docker: ready; 0 running, 0 queued$/);
    const r = await s.run(s.parse({ job_id: "c1", language: "bash", code: "echo $((2+3))" }), ctx());
    expect(r.output.stdout).to.equal("5\n");
    expect(r.metadata.backend).to.equal("docker");
  });

  it("docker when configured, unhealthy when its image is missing", async function () {
    const host = await requireDockerEngine(this);
    const s = createExecuteService(
      config({ EXECUTE_BACKEND: "docker", DOCKER_HOST: host, EXECUTE_DOCKER_IMAGE: "agentcompute/no-such-image:local" }),
      silentLog,
    );
    expect((await s.backend).name).to.equal("docker");
    expect((await s.health!()).ok).to.equal(false);
  });
});
