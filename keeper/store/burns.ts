/**
 * Batched burns of the jobs' burn share (table watt_burns; keeper/payments/burner.ts sends them). A
 * batch claims its jobs (jobs.burn_id) when it is created, and gives them back when it expires.
 */
import type { Unit } from "./unit";
import { now, type DB } from "./db";

export interface BurnRow {
  id: number;
  amount: string;
  state: "pending" | "sent" | "confirmed" | "expired";
  signature: string | null;
  raw_tx: string | null;
  last_valid_height: number | null;
}

/** The burn share of received WATT of settled jobs no batch has claimed. */
const owed = (db: DB): bigint =>
  (
    db.prepare("SELECT burned, burn_owed FROM jobs WHERE burn_id IS NULL AND state != 'running'").all() as {
      burned: string;
      burn_owed: string;
    }[]
  ).reduce((a, r) => a + BigInt(r.burned) - BigInt(r.burn_owed), 0n);

const byId = (db: DB, id: number | bigint): BurnRow => db.prepare("SELECT * FROM watt_burns WHERE id = ?").get(id) as BurnRow;

export class BurnsRepo {
  constructor(private readonly unit: Unit) {}

  /** What is to be burned from the service account and no batch holds yet. */
  owed(): Promise<bigint> {
    return this.unit.run(owed);
  }

  /** Batches not confirmed nor expired, oldest first. */
  open(): Promise<BurnRow[]> {
    return this.unit.run((db) => db.prepare("SELECT * FROM watt_burns WHERE state IN ('pending', 'sent') ORDER BY id").all() as BurnRow[]);
  }

  /** A new pending batch of everything owed now, claiming its jobs, atomically; returns it. */
  createBatch(): Promise<BurnRow> {
    return this.unit.run((db) =>
      db.transaction(() => {
        const t = now();
        const r = db
          .prepare("INSERT INTO watt_burns (amount, state, created_at, updated_at) VALUES (?, 'pending', ?, ?)")
          .run(owed(db).toString(), t, t);
        db.prepare("UPDATE jobs SET burn_id = ? WHERE burn_id IS NULL AND state != 'running' AND burned != '0'").run(r.lastInsertRowid);
        return byId(db, r.lastInsertRowid);
      })(),
    );
  }

  /** Stores the signed transaction before it is sent (once: a batch keeps its first bytes); returns the row. */
  setSigned(id: number, rawTx: string, signature: string, lastValidHeight: number): Promise<BurnRow> {
    return this.unit.run((db) => {
      db.prepare(
        "UPDATE watt_burns SET raw_tx = ?, signature = ?, last_valid_height = ?, updated_at = ? WHERE id = ? AND raw_tx IS NULL",
      ).run(rawTx, signature, lastValidHeight, now(), id);
      return byId(db, id);
    });
  }

  markSent(id: number): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE watt_burns SET state = 'sent', updated_at = ? WHERE id = ?").run(now(), id);
    });
  }

  markConfirmed(id: number): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE watt_burns SET state = 'confirmed', updated_at = ? WHERE id = ?").run(now(), id);
    });
  }

  /** A batch that can never land: marked expired and its jobs go back to the next batch, atomically. */
  expire(id: number, error: string): Promise<void> {
    return this.unit.run((db) =>
      db.transaction(() => {
        db.prepare("UPDATE watt_burns SET state = 'expired', error = ?, updated_at = ? WHERE id = ?").run(error, now(), id);
        db.prepare("UPDATE jobs SET burn_id = NULL WHERE burn_id = ?").run(id);
      })(),
    );
  }
}
