/** A Docker engine whose cgroups the keeper cannot see (remote engine): jobs still run, memory_used_mb is null. */
import { expect } from "chai";
import { createDockerBackend } from "../../../../keeper/services/execute/dockerBackend";
import { requireDockerEngine } from "../../providers/helpers";
import { ctx, serviceOn } from "./helpers";

describe("execute on docker: engine cgroups not visible", function () {
  this.timeout(60_000);
  it("runs the job and reports memory_used_mb as null instead of failing", async function () {
    const host = await requireDockerEngine(this);
    const s = serviceOn(createDockerBackend({ dockerHost: host, cgroupRoot: "/nonexistent/cgroup" }));
    const r = await s.run(s.parse({ job_id: "r1", language: "python", code: "print(2**10)" }), ctx());
    expect(r.output).to.include({ stdout: "1024\n", exit_code: 0 });
    expect(r.metadata.memory_used_mb).to.equal(null);
    // and no per-job parent cgroup was asked for (it could be neither read nor removed)
    const fs = await import("node:fs");
    const root = fs.existsSync("/sys/fs/cgroup/memory") ? "/sys/fs/cgroup/memory" : "/sys/fs/cgroup";
    const leaked = fs.readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory() && e.name.startsWith("agentcompute-exec-"));
    expect(leaked.map((e) => e.name)).to.deep.equal([]);
  });
});
