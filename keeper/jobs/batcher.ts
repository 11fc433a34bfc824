/**
 * Finished paid jobs go on chain in Merkle batches: `recordJobBatch(root, jobCount, wattTotal)`,
 * sent through the keeper's transaction outbox (one nonce manager, exactly once).
 *
 * Leaf = (string job_id, bytes32 outcome_hash, uint256 watt_charged), hashed as OpenZeppelin's
 * StandardMerkleTree does; `AgentCompute.verifyJob` checks the same leaf on chain. outcome_hash is
 * sha256 of the exact answer the agent received, so a proof commits to the result itself.
 *
 * A batch is cut when JOB_BATCH_SIZE jobs wait or the oldest has waited JOB_BATCH_MAX_AGE_S. Cutting
 * is one database transaction: the batch row, every job's root and leaf index, and the outbox
 * action; a crash leaves either all of it or none.
 */
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import type { Logger } from "pino";
import { computeInterface } from "../chain/contracts";
import { enqueueAction } from "../chain/txSender";
import { DB, now } from "../store/db";

export const LEAF_TYPES = ["string", "bytes32", "uint256"];
type Leaf = [string, string, string];

export interface BatchOptions {
  maxJobs: number;
  maxAgeSeconds: number;
}

export interface JobProof {
  root: string;
  leaf: { job_id: string; outcome_hash: string; watt_charged: string };
  leaf_hash: string;
  proof: string[];
  job_count: number;
  watt_total: string;
  /** The outbox action recording the batch: queued, sent, mined (with its block and transaction). */
  onchain: { state: string; block: number | null; tx_hash: string | null };
}

export class JobBatcher {
  constructor(
    private readonly db: DB,
    private readonly opts: BatchOptions,
    private readonly log: Logger,
  ) {}

  /** Cuts at most one batch; returns its root. */
  tick(t = now()): string | undefined {
    return this.db.transaction(() => {
      const waiting = this.db
        .prepare("SELECT job_id, outcome_hash, charged, finished_at FROM jobs WHERE state != 'running' AND batch_root IS NULL ORDER BY finished_at, job_id LIMIT ?")
        .all(this.opts.maxJobs) as { job_id: string; outcome_hash: string; charged: string; finished_at: number }[];
      if (waiting.length === 0) return undefined;
      if (waiting.length < this.opts.maxJobs && t - waiting[0].finished_at < this.opts.maxAgeSeconds) return undefined;
      const leaves: Leaf[] = waiting.map((j) => [j.job_id, j.outcome_hash, j.charged]);
      const tree = StandardMerkleTree.of(leaves, LEAF_TYPES);
      const root = tree.root;
      const total = waiting.reduce((s, j) => s + BigInt(j.charged), 0n);
      const key = `jobBatch:${root}`;
      this.db.prepare("INSERT INTO job_batches (root, job_count, watt_total, tree, action_key, created_at) VALUES (?, ?, ?, ?, ?, ?)").run(root, waiting.length, total.toString(), JSON.stringify(tree.dump()), key, t);
      const mark = this.db.prepare("UPDATE jobs SET batch_root = ?, leaf_index = ? WHERE job_id = ? AND batch_root IS NULL");
      waiting.forEach((j, i) => mark.run(root, i, j.job_id));
      enqueueAction(this.db, key, "recordJobBatch", null, computeInterface.encodeFunctionData("recordJobBatch", [root, waiting.length, total]));
      this.log.info({ root, jobs: waiting.length, wattTotal: total.toString() }, "job batch cut");
      return root;
    })();
  }

  proof(jobId: string): JobProof | undefined {
    const job = this.db.prepare("SELECT batch_root, leaf_index FROM jobs WHERE job_id = ?").get(jobId) as { batch_root: string | null; leaf_index: number | null } | undefined;
    if (!job?.batch_root || job.leaf_index === null) return undefined;
    const batch = this.db.prepare("SELECT * FROM job_batches WHERE root = ?").get(job.batch_root) as { root: string; job_count: number; watt_total: string; tree: string; action_key: string };
    const tree = StandardMerkleTree.load<Leaf>(JSON.parse(batch.tree));
    const [id, outcomeHash, charged] = tree.at(job.leaf_index)!;
    const action = this.db.prepare("SELECT id, state, mined_block FROM actions WHERE idempotency_key = ?").get(batch.action_key) as { id: number; state: string; mined_block: number | null } | undefined;
    const tx = action
      ? (this.db.prepare("SELECT tx_hash FROM action_txs WHERE action_id = ? ORDER BY sent_at DESC, rowid DESC LIMIT 1").get(action.id) as { tx_hash: string } | undefined)
      : undefined;
    return {
      root: batch.root,
      leaf: { job_id: id, outcome_hash: outcomeHash, watt_charged: charged },
      leaf_hash: tree.leafHash([id, outcomeHash, charged]),
      proof: tree.getProof(job.leaf_index),
      job_count: batch.job_count,
      watt_total: batch.watt_total,
      onchain: { state: action?.state ?? "unknown", block: action?.mined_block ?? null, tx_hash: action?.state === "mined" ? (tx?.tx_hash ?? null) : null },
    };
  }
}
