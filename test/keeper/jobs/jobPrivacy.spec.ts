/**
 * Private results (issue 10 item 3): GET /api/v1/jobs/:id signed by the job's agent gives the full
 * record; unsigned (an auditor) or signed by another agent gives only the public view: state,
 * service, prices, outcome hash, Merkle leaf and proof, batch root and recording transaction.
 */
import { expect } from "chai";
import { Keypair } from "@solana/web3.js";
import { outcomeHash } from "../../../keeper/jobs/pipeline";
import { startPageServer } from "./harness";
import { startWattWorld, WattWorld } from "./solanaFixture";

describe("GET /api/v1/jobs/:id: results are private to the job's agent", function () {
  this.timeout(60_000);
  let w: WattWorld;
  let site: Awaited<ReturnType<typeof startPageServer>>;
  const owner = Keypair.generate();
  const publicKeys = [
    "success",
    "view",
    "job_id",
    "service",
    "state",
    "watt_price",
    "watt_charged",
    "watt_burned",
    "watt_refunded",
    "outcome_hash",
    "batch",
  ];
  let prepaidJob: string;
  let paidJob: string;
  let paidSig: string;
  let answer: string;

  before(async () => {
    site = await startPageServer();
    w = await startWattWorld({ WATT_MEMO_NEGATIVE_TTL_S: "0" });
    await w.h.grant(owner, 1000);
    prepaidJob = `priv-${Date.now()}`;
    const r = await w.h.post("/api/v1/scrape", { url: `${site.url}/secret-page`, job_id: prepaidJob }, { agent: owner });
    expect(r.status, r.text).to.equal(200);
    answer = r.text;
    const funded = w.agent();
    paidJob = `priv-paid-${Date.now()}`;
    paidSig = await w.pay(funded, 100n, paidJob);
    expect((await w.h.post("/api/v1/scrape", { url: `${site.url}/paid-secret`, job_id: paidJob }, { agent: funded })).status).to.equal(200);
    await w.h.rt.batcher.tick(Math.floor(Date.now() / 1000) + 3600); // cut the batch now
  });
  after(async () => {
    await w?.close();
    await site?.close();
  });

  it("signed by the job's agent: the full record with the result, payment and Merkle proof", async () => {
    const j = await w.h.get(`/api/v1/jobs/${prepaidJob}`, { agent: owner });
    expect(j.status).to.equal(200);
    expect(j.body).to.include({ view: "agent", agent: owner.publicKey.toBase58(), payment: "prepaid", state: "succeeded" });
    expect(JSON.stringify(j.body.result)).to.equal(answer);
    expect(j.body.batch.leaf.job_id).to.equal(prepaidJob);
  });

  it("unsigned (an auditor): state, prices, outcome hash, leaf, proof, root and recording tx; no result, agent or payment", async () => {
    for (const job of [prepaidJob, paidJob]) {
      const j = await w.h.get(`/api/v1/jobs/${job}`);
      expect(j.status).to.equal(200);
      expect(Object.keys(j.body).sort()).to.deep.equal([...publicKeys].sort());
      expect(j.body).to.include({
        view: "public",
        state: "succeeded",
        service: "scrape",
        watt_price: 100,
        watt_charged: 100,
        watt_burned: 0.15,
        watt_refunded: 0,
      });
      expect(j.body.batch).to.include.keys("root", "leaf", "leaf_hash", "proof", "onchain");
      expect(j.body.batch.leaf.outcome_hash).to.equal(j.body.outcome_hash);
      expect(j.text).to.not.contain("secret");
      expect(j.text).to.not.contain(paidSig);
      expect(j.text).to.not.contain(owner.publicKey.toBase58());
    }
    expect((await w.h.get(`/api/v1/jobs/${prepaidJob}`)).body.outcome_hash).to.equal(outcomeHash(answer));
  });

  it("signed by another agent: the same public view, nothing more", async () => {
    const j = await w.h.get(`/api/v1/jobs/${prepaidJob}`, { agent: Keypair.generate() });
    expect(j.status).to.equal(200);
    expect(Object.keys(j.body).sort()).to.deep.equal([...publicKeys].sort());
    expect(j.text).to.not.contain("secret");
  });

  it("a wrongly signed read is UNAUTHORIZED, not a silent public view", async () => {
    const headers = w.h.sign(owner, "GET", `/api/v1/jobs/${prepaidJob}`, "");
    const j = await w.h.get(`/api/v1/jobs/${paidJob}`, { headers });
    expect(j.status).to.equal(401);
    expect(j.body.code).to.equal("UNAUTHORIZED");
  });
});
