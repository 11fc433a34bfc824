/** The job's signal (keeper shutdown, pipeline deadline) kills the sandbox at once: EXECUTION_ERROR, refunded. */
import { expect } from "chai";
import { ServiceError } from "../../../../keeper/services/jobService";
import { BACKENDS, marker, processesWith, serviceOn } from "./helpers";

for (const b of BACKENDS) {
  describe(`execute on ${b.name}: cancellation`, function () {
    this.timeout(60_000);
    let s: ReturnType<typeof serviceOn>;
    before(async function () {
      s = serviceOn(await b.make(this));
    });

    it("aborting a running job kills it long before its timeout and refunds", async () => {
      const m = marker();
      const ac = new AbortController();
      const t0 = Date.now();
      const p = s.run(s.parse({ job_id: "x", language: "python", code: `import time # ${m}\ntime.sleep(30)`, timeout: 30 }), {
        jobId: "x",
        signal: ac.signal,
      });
      setTimeout(() => ac.abort(), 700);
      const err = await p.then(
        () => undefined,
        (e) => e as ServiceError,
      );
      expect(Date.now() - t0).to.be.below(15_000);
      expect([err?.code, err?.details?.refund]).to.deep.equal(["EXECUTION_ERROR", true]);
      await new Promise((r) => setTimeout(r, 300));
      expect(processesWith(m)).to.deep.equal([]);
      const next = await s.run(s.parse({ job_id: "n", language: "bash", code: "echo ok" }), {
        jobId: "n",
        signal: new AbortController().signal,
      });
      expect(next.output.stdout).to.equal("ok\n");
    });
  });
}
