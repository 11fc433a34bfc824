/** The concurrency limit: at most N jobs at once, the rest FIFO, a full queue refuses (CAPACITY_EXCEEDED). */
import { expect } from "chai";
import { JobQueue, QueueFullError } from "../../../../keeper/services/execute/queue";
import type { ExecutionBackend, ExecutionJob, ExecutionOutcome } from "../../../../keeper/services/execute/backend";
import { createBubblewrapBackend } from "../../../../keeper/services/execute/bubblewrapBackend";
import { ServiceError } from "../../../../keeper/services/jobService";
import { ctx, serviceOn } from "./helpers";

function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

describe("execute: concurrency limit and FIFO queue", () => {
  it("never runs more than `concurrency` jobs and starts the waiting ones in arrival order", async () => {
    const q = new JobQueue(2, 10);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const gates = Array.from({ length: 6 }, gate);
    const jobs = gates.map((g, i) =>
      q.run(async () => {
        started.push(i);
        running++;
        peak = Math.max(peak, running);
        await g.p;
        running--;
        return i;
      }),
    );
    await new Promise((r) => setImmediate(r));
    expect(started).to.deep.equal([0, 1]);
    expect(q.queued).to.equal(4);
    for (const g of gates) {
      g.open();
      await new Promise((r) => setImmediate(r));
    }
    expect(await Promise.all(jobs)).to.deep.equal([0, 1, 2, 3, 4, 5]);
    expect(started).to.deep.equal([0, 1, 2, 3, 4, 5]);
    expect(peak).to.equal(2);
    expect([q.active, q.queued]).to.deep.equal([0, 0]);
  });

  it("refuses when the queue is full, and a failed job frees its slot", async () => {
    const q = new JobQueue(1, 1);
    const g = gate();
    const a = q.run(() => g.p);
    const b = q.run(async () => "b");
    await q
      .run(async () => 1)
      .then(
        () => expect.fail("should be refused"),
        (e) => expect(e).to.be.instanceOf(QueueFullError),
      );
    g.open();
    await a;
    expect(await b).to.equal("b");
    await q.run(async () => Promise.reject(new Error("boom"))).catch(() => undefined);
    expect(await q.run(async () => "next")).to.equal("next");
  });

  it("a waiting job whose signal aborts leaves the queue", async () => {
    const q = new JobQueue(1, 5);
    const g = gate();
    const a = q.run(() => g.p);
    const ac = new AbortController();
    const b = q.run(async () => "b", ac.signal);
    expect(q.queued).to.equal(1);
    ac.abort();
    await b.then(
      () => expect.fail("aborted"),
      (e) => expect((e as Error).message).to.equal("aborted"),
    );
    expect(q.queued).to.equal(0);
    g.open();
    await a;
  });

  it("the service answers CAPACITY_EXCEEDED (503, refund) when running and queued jobs are at their limits", async () => {
    const g = gate();
    const slow: ExecutionBackend = {
      name: "bubblewrap",
      run: async (_j: ExecutionJob): Promise<ExecutionOutcome> => {
        await g.p;
        return createBubblewrapBackend().run(_j);
      },
      health: async () => ({ ok: true }),
    };
    const s = serviceOn(slow, { EXECUTE_CONCURRENCY: "1", EXECUTE_QUEUE_MAX: "1" });
    const req = s.parse({ job_id: "q1", language: "bash", code: "echo hi" });
    const first = s.run(req, ctx());
    const second = s.run(req, ctx());
    await new Promise((r) => setImmediate(r));
    const err = await s.run(req, ctx()).then(
      () => undefined,
      (e) => e as ServiceError,
    );
    expect(err).to.be.instanceOf(ServiceError);
    expect([err!.code, err!.httpStatus, err!.details?.refund]).to.deep.equal(["CAPACITY_EXCEEDED", 503, true]);
    g.open();
    expect((await first).output.stdout).to.equal("hi\n");
    expect((await second).output.stdout).to.equal("hi\n");
  });
});
