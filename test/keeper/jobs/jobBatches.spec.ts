/**
 * Paid jobs end up on chain: the full keeper (real local chain with the contracts) cuts finished jobs
 * into a Merkle batch, records it with recordJobBatch through its outbox, and GET /api/v1/jobs/:id
 * serves each job's proof, which AgentCompute.verifyJob accepts; a tampered result does not verify.
 */
import { expect } from "chai";
import { Keypair } from "@solana/web3.js";
import { outcomeHash } from "../../../keeper/jobs/pipeline";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { startTestChain, TestChain } from "../shared/chain";
import { startTestKeeper, until } from "../shared/keeperApp";
import type { App } from "../../../keeper/app";
import { credit } from "../../../keeper/payments/ledger";
import { signAgentRequest } from "../../../keeper/payments/agentAuth";

describe("paid jobs in Merkle batches on chain (keeper + local chain)", function () {
  this.timeout(120_000);
  let t: TestChain;
  let app: App & { dataDir: string };
  let base: string;
  const agent = Keypair.generate();

  before(async () => {
    t = await startTestChain();
    await t.rpc.send("evm_setIntervalMining", [100]);
    app = await startTestKeeper(t, {
      JOB_BATCH_SIZE: "3",
      JOB_BATCH_MAX_AGE_S: "3600",
      EXECUTE_BACKEND: "bubblewrap",
      SERVICES: "execute",
    });
    base = `http://127.0.0.1:${(app.http.server.address() as { port: number }).port}`;
    await app.store.tx(() => credit(app.store, agent.publicKey.toBase58(), 10n ** 13n, "grant"));
  });
  after(async () => {
    await app?.stop();
    await t?.stop();
  });

  const run = async (jobId: string, code: string) => {
    const body = JSON.stringify({ job_id: jobId, language: "bash", code });
    const serviceId = ((await (await fetch(`${base}/api/v1/service`)).json()) as { service_id: string }).service_id;
    const r = await fetch(`${base}/api/v1/execute`, {
      method: "POST",
      headers: { "content-type": "application/json", ...signAgentRequest(agent.secretKey, serviceId, "POST", "/api/v1/execute", body) },
      body,
    });
    return { status: r.status, text: await r.text() };
  };

  it("three jobs make a batch; each job's proof verifies on chain against the recorded root", async () => {
    const answers = [await run("b-1", "echo one"), await run("b-2", "echo two"), await run("b-3", "exit 3")];
    expect(answers.map((a) => a.status)).to.deep.equal([200, 200, 200]);
    const jobs = await until(
      "batch mined",
      async () => {
        const js = await Promise.all(
          // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the API's answer, read field by field below
          ["b-1", "b-2", "b-3"].map(async (id) => (await (await fetch(`${base}/api/v1/jobs/${id}`)).json()) as any),
        );
        return js.every((j) => j.batch?.onchain.state === "mined") && js;
      },
      60_000,
    );
    const root = jobs[0].batch.root;
    expect(jobs.every((j) => j.batch.root === root)).to.equal(true);
    expect(jobs[0].batch).to.include({ job_count: 3, watt_total: (3n * 300n * 10n ** 9n).toString() });
    const c = t.compute();
    const events = await c.queryFilter(c.filters.JobBatchRecorded(root));
    expect(events).to.have.length(1);
    expect(events[0].args.jobCount).to.equal(3n);
    expect(events[0].transactionHash).to.equal(jobs[0].batch.onchain.tx_hash);
    for (const [i, j] of jobs.entries()) {
      // The leaf commits to the exact answer the agent received.
      expect(j.outcome_hash).to.equal(outcomeHash(answers[i].text));
      expect(j.batch.leaf).to.deep.equal({ job_id: j.job_id, outcome_hash: j.outcome_hash, watt_charged: (300n * 10n ** 9n).toString() });
      expect(
        StandardMerkleTree.verify(
          root,
          ["string", "bytes32", "uint256"],
          [j.job_id, j.outcome_hash, j.batch.leaf.watt_charged],
          j.batch.proof,
        ),
      ).to.equal(true);
      expect(await c.verifyJob(root, j.batch.proof, j.job_id, j.outcome_hash, j.batch.leaf.watt_charged)).to.equal(true);
      const forged = outcomeHash(answers[i].text.replace(/"success":true/, '"success":false'));
      expect(await c.verifyJob(root, j.batch.proof, j.job_id, forged, j.batch.leaf.watt_charged)).to.equal(false);
      expect(await c.verifyJob(root, j.batch.proof, j.job_id, j.outcome_hash, 1n)).to.equal(false);
    }
  });

  it("ticking again never re-batches a job or records a root twice (jobs carry their root; the outbox key is the root)", async () => {
    const before = (app.db.prepare("SELECT count(*) n FROM actions WHERE kind = 'recordJobBatch'").get() as { n: number }).n;
    await app.jobs.batcher.tick();
    await app.jobs.batcher.tick();
    const after = (app.db.prepare("SELECT count(*) n FROM actions WHERE kind = 'recordJobBatch'").get() as { n: number }).n;
    expect(after).to.equal(before);
    const jobsBatched = (app.db.prepare("SELECT count(*) n FROM jobs WHERE batch_root IS NOT NULL").get() as { n: number }).n;
    expect(jobsBatched).to.equal(3);
  });
});
