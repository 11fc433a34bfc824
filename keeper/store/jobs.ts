/**
 * Paid jobs (table jobs): inserted 'running' in the transaction that charges them, settled once
 * (only from 'running'), later claimed by a Merkle batch (batches.ts) and a burn batch (burns.ts).
 */
import type { Unit } from "./unit";
import { now } from "./db";

export interface JobRow {
  job_id: string;
  service: string;
  request_hash: string;
  agent: string;
  payment: "onchain" | "prepaid";
  signature: string | null;
  price: string;
  state: "running" | "succeeded" | "failed";
  charged: string;
  /** Of the price taken, the part paid from granted WATT (0 once refunded). */
  charged_granted: string;
  refunded: string;
  burned: string;
  /** Of burned, the share of granted WATT: owed by the operator, never burned from the service account. */
  burn_owed: string;
  http_status: number | null;
  response: string | null;
  outcome_hash: string | null;
  batch_root: string | null;
  leaf_index: number | null;
  created_at: number;
  finished_at: number | null;
}

export interface NewJob {
  jobId: string;
  service: string;
  requestHash: string;
  agent: string;
  payment: JobRow["payment"];
  signature: string | null;
  price: bigint;
  chargedGranted: bigint;
}

export interface JobOutcome {
  state: "succeeded" | "failed";
  charged: bigint;
  chargedGranted: bigint;
  refunded: bigint;
  burned: bigint;
  burnOwed: bigint;
  httpStatus: number;
  response: string;
  outcomeHash: string;
}

/** A job as `keeper jobs` lists it. */
export type JobListRow = Pick<
  JobRow,
  "job_id" | "service" | "state" | "agent" | "payment" | "price" | "charged" | "refunded" | "burned" | "batch_root" | "created_at"
>;

export type BackfillJob = Pick<JobRow, "job_id" | "state" | "charged" | "burned"> & { burn_id: number | null };

export class JobsRepo {
  constructor(private readonly unit: Unit) {}

  byId(jobId: string): Promise<JobRow | undefined> {
    return this.unit.run((db) => db.prepare("SELECT * FROM jobs WHERE job_id = ?").get(jobId) as JobRow | undefined);
  }

  /** Jobs not settled yet (after a restart: the ones a killed keeper left running). */
  running(): Promise<JobRow[]> {
    return this.unit.run((db) => db.prepare("SELECT * FROM jobs WHERE state = 'running'").all() as JobRow[]);
  }

  /** The job row of a charged job, 'running' (the job_id is the primary key: a second insert throws). */
  start(j: NewJob): Promise<void> {
    return this.unit.run((db) => {
      db.prepare(
        "INSERT INTO jobs (job_id, service, request_hash, agent, payment, signature, price, state, charged_granted, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
      ).run(j.jobId, j.service, j.requestHash, j.agent, j.payment, j.signature, j.price.toString(), j.chargedGranted.toString(), now());
    });
  }

  /** Writes a running job's outcome; false when it was settled already (nothing changed). */
  finish(jobId: string, o: JobOutcome): Promise<boolean> {
    return this.unit.run(
      (db) =>
        db
          .prepare(
            "UPDATE jobs SET state = ?, charged = ?, charged_granted = ?, refunded = ?, burned = ?, burn_owed = ?, http_status = ?, response = ?, outcome_hash = ?, finished_at = ? WHERE job_id = ? AND state = 'running'",
          )
          .run(
            o.state,
            o.charged.toString(),
            o.chargedGranted.toString(),
            o.refunded.toString(),
            o.burned.toString(),
            o.burnOwed.toString(),
            o.httpStatus,
            o.response,
            o.outcomeHash,
            now(),
            jobId,
          ).changes === 1,
    );
  }

  /** Newest first, optionally one agent's (`keeper jobs`). */
  list(agent: string | undefined, limit: number): Promise<JobListRow[]> {
    return this.unit.run(
      (db) =>
        db
          .prepare(
            "SELECT job_id, service, state, agent, payment, price, charged, refunded, burned, batch_root, created_at FROM jobs WHERE (? IS NULL OR agent = ?) ORDER BY created_at DESC, rowid DESC LIMIT ?",
          )
          .all(agent ?? null, agent ?? null, limit) as JobListRow[],
    );
  }

  /** How many jobs per "service state" (`keeper status`). */
  countsByServiceAndState(): Promise<{ k: string; n: number }[]> {
    return this.unit.run(
      (db) =>
        db.prepare("SELECT service || ' ' || state k, count(*) n FROM jobs GROUP BY service, state ORDER BY 1").all() as {
          k: string;
          n: number;
        }[],
    );
  }

  /** Prepaid jobs with what the granted-WATT backfill needs (payments/ledger.ts backfillGranted). */
  prepaidForBackfill(): Promise<BackfillJob[]> {
    return this.unit.run(
      (db) => db.prepare("SELECT job_id, state, charged, burned, burn_id FROM jobs WHERE payment = 'prepaid'").all() as BackfillJob[],
    );
  }

  setGrantedShare(jobId: string, chargedGranted: bigint, burnOwed: bigint): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE jobs SET charged_granted = ?, burn_owed = ? WHERE job_id = ?").run(
        chargedGranted.toString(),
        burnOwed.toString(),
        jobId,
      );
    });
  }
}
