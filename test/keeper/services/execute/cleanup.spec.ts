/**
 * Nothing is left behind after a job, whatever way it ended: no container (docker), no per-job
 * cgroup directory (either backend), no file in the host's temp directory, no process.
 */
import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { dockerConnection } from "../../../../keeper/providers/docker";
import { LABEL_EXECUTE } from "../../../../keeper/services/execute/dockerBackend";
import { ServiceError } from "../../../../keeper/services/jobService";
import { BACKENDS, ctx, marker, processesWith, serviceOn } from "./helpers";
import { testDockerHost } from "../../providers/helpers";

/** Every cgroup directory under the controllers whose name contains `needle` (v1 and v2 layouts). */
function cgroupDirs(needle: RegExp): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 3) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(d, e.name);
      if (needle.test(e.name)) out.push(p);
      walk(p, depth + 1);
    }
  };
  walk("/sys/fs/cgroup", 0);
  return out;
}

for (const b of BACKENDS) {
  describe(`execute on ${b.name}: nothing left behind`, function () {
    this.timeout(60_000);
    let s: ReturnType<typeof serviceOn>;
    before(async function () {
      s = serviceOn(await b.make(this), { EXECUTE_MAX_OUTPUT_BYTES: "4096" });
    });

    it("after a normal exit, a timeout, an output overflow and an OOM kill", async () => {
      const tmpBefore = new Set(fs.readdirSync(os.tmpdir()));
      const m = marker();
      const jobs = [
        { language: "bash", code: `echo ${m}` },
        { language: "python", code: `import time # ${m}\ntime.sleep(20)`, timeout: 1 },
        { language: "javascript", code: `// ${m}\nfor (;;) console.log("x".repeat(100))` },
        { language: "python", code: `# ${m}\nx = [bytearray(8 << 20) for _ in range(100)]`, memory_mb: 32 },
      ];
      for (const j of jobs) await s.run(s.parse({ job_id: "c", ...j }), ctx()).catch((e) => expect(e).to.be.instanceOf(ServiceError));
      await new Promise((r) => setTimeout(r, 300));
      expect(processesWith(m)).to.deep.equal([]);
      const leftovers = cgroupDirs(b.name === "docker" ? /^agentcompute-exec-/ : /^run-\d+-/).filter(
        (d) => d.includes(`run-${process.pid}-`) || b.name === "docker",
      );
      expect(leftovers).to.deep.equal([]);
      const tmpAfter = fs.readdirSync(os.tmpdir()).filter((f) => !tmpBefore.has(f) && /exec|sandbox|agentcompute/i.test(f));
      expect(tmpAfter).to.deep.equal([]);
      if (b.name === "docker") {
        const docker = new Docker(dockerConnection(testDockerHost()));
        const left = await docker.listContainers({ all: true, filters: { label: [LABEL_EXECUTE] } });
        expect(left.map((c) => c.Names)).to.deep.equal([]);
      }
    });
  });
}
