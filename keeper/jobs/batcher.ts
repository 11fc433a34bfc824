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
import { now } from "../clock";
import type { Store } from "../store/store";

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
    private readonly store: Store,
    private readonly opts: BatchOptions,
    private readonly log: Logger,
  ) {}

  /** Cuts at most one batch; returns its root. */
  tick(t = now()): Promise<string | undefined> {
    return this.store.tx(async () => {
      const waiting = await this.store.batches.waiting(this.opts.maxJobs);
      if (waiting.length === 0) return undefined;
      if (waiting.length < this.opts.maxJobs && t - waiting[0].finished_at < this.opts.maxAgeSeconds) return undefined;
      const leaves: Leaf[] = waiting.map((j) => [j.job_id, j.outcome_hash, j.charged]);
      const tree = StandardMerkleTree.of(leaves, LEAF_TYPES);
      const root = tree.root;
      const total = waiting.reduce((s, j) => s + BigInt(j.charged), 0n);
      await this.store.batches.record({
        root,
        job_count: waiting.length,
        watt_total: total.toString(),
        tree: JSON.stringify(tree.dump()),
        action_key: `jobBatch:${root}`,
        jobIds: waiting.map((j) => j.job_id),
        calldata: computeInterface.encodeFunctionData("recordJobBatch", [root, waiting.length, total]),
        createdAt: t,
      });
      this.log.info({ root, jobs: waiting.length, wattTotal: total.toString() }, "job batch cut");
      return root;
    });
  }

  async proof(jobId: string): Promise<JobProof | undefined> {
    const found = await this.store.batches.ofJob(jobId);
    if (!found) return undefined;
    const { batch, leafIndex, action } = found;
    const tree = StandardMerkleTree.load<Leaf>(JSON.parse(batch.tree));
    const [id, outcomeHash, charged] = tree.at(leafIndex)!;
    return {
      root: batch.root,
      leaf: { job_id: id, outcome_hash: outcomeHash, watt_charged: charged },
      leaf_hash: tree.leafHash([id, outcomeHash, charged]),
      proof: tree.getProof(leafIndex),
      job_count: batch.job_count,
      watt_total: batch.watt_total,
      onchain: {
        state: action?.state ?? "unknown",
        block: action?.mined_block ?? null,
        tx_hash: action?.state === "mined" ? (action.tx_hash ?? null) : null,
      },
    };
  }
}
