/**
 * Merkle batches of finished jobs (table job_batches; keeper/jobs/batcher.ts cuts them): a batch row,
 * its jobs' root and leaf index, and the outbox action that records it on chain.
 */
import type { Unit } from "./unit";
import { enqueueAction } from "../chain/txSender";

export interface BatchRow {
  root: string;
  job_count: number;
  watt_total: string;
  /** StandardMerkleTree.dump(), JSON. */
  tree: string;
  action_key: string;
}

export interface WaitingJob {
  job_id: string;
  outcome_hash: string;
  charged: string;
  finished_at: number;
}

export interface NewBatch extends BatchRow {
  /** The jobs in leaf order. */
  jobIds: string[];
  /** recordJobBatch calldata for the outbox action `action_key`. */
  calldata: string;
  createdAt: number;
}

export class BatchesRepo {
  constructor(private readonly unit: Unit) {}

  /** Settled jobs in no batch yet, in the order they are cut (oldest first). */
  waiting(limit: number): Promise<WaitingJob[]> {
    return this.unit.run(
      (db) =>
        db
          .prepare(
            "SELECT job_id, outcome_hash, charged, finished_at FROM jobs WHERE state != 'running' AND batch_root IS NULL ORDER BY finished_at, job_id LIMIT ?",
          )
          .all(limit) as WaitingJob[],
    );
  }

  /** The batch row, every job's root and leaf index and the outbox action, all or nothing. */
  record(b: NewBatch): Promise<void> {
    return this.unit.run((db) =>
      db.transaction(() => {
        db.prepare("INSERT INTO job_batches (root, job_count, watt_total, tree, action_key, created_at) VALUES (?, ?, ?, ?, ?, ?)").run(
          b.root,
          b.job_count,
          b.watt_total,
          b.tree,
          b.action_key,
          b.createdAt,
        );
        const mark = db.prepare("UPDATE jobs SET batch_root = ?, leaf_index = ? WHERE job_id = ? AND batch_root IS NULL");
        b.jobIds.forEach((id, i) => mark.run(b.root, i, id));
        enqueueAction(db, b.action_key, "recordJobBatch", null, b.calldata);
      })(),
    );
  }

  /** A job's batch and leaf, with the outbox action recording it (state, block, latest transaction); undefined while unbatched. */
  ofJob(
    jobId: string,
  ): Promise<
    { batch: BatchRow; leafIndex: number; action?: { state: string; mined_block: number | null; tx_hash: string | null } } | undefined
  > {
    return this.unit.run((db) => {
      const job = db.prepare("SELECT batch_root, leaf_index FROM jobs WHERE job_id = ?").get(jobId) as
        { batch_root: string | null; leaf_index: number | null } | undefined;
      if (!job?.batch_root || job.leaf_index === null) return undefined;
      const batch = db
        .prepare("SELECT root, job_count, watt_total, tree, action_key FROM job_batches WHERE root = ?")
        .get(job.batch_root) as BatchRow;
      const action = db.prepare("SELECT id, state, mined_block FROM actions WHERE idempotency_key = ?").get(batch.action_key) as
        { id: number; state: string; mined_block: number | null } | undefined;
      const tx = action
        ? (db.prepare("SELECT tx_hash FROM action_txs WHERE action_id = ? ORDER BY sent_at DESC, rowid DESC LIMIT 1").get(action.id) as
            { tx_hash: string } | undefined)
        : undefined;
      return {
        batch,
        leafIndex: job.leaf_index,
        action: action && { state: action.state, mined_block: action.mined_block, tx_hash: tx?.tx_hash ?? null },
      };
    });
  }
}
