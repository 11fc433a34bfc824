/**
 * Ingested chain events (table events), the hashes of recent blocks kept to detect reorgs (table
 * blocks), and the ingestion cursor (meta cursor.block / cursor.hash). Written by the event reader,
 * read and marked applied by the session lifecycle.
 */
import type { Unit } from "./unit";
import { getMeta, now, setMeta } from "./db";

export interface EventRow {
  tx_hash: string;
  log_index: number;
  block_number: number;
  name: string;
  instance_id: string | null;
  args: string;
}

/** A decoded log, ready to store. */
export interface NewEvent {
  txHash: string;
  logIndex: number;
  blockNumber: number;
  blockHash: string;
  name: string;
  instanceId: string | null;
  /** The event's arguments as JSON, bigints as decimal strings. */
  args: string;
}

const CURSOR_NUMBER = "cursor.block";
const CURSOR_HASH = "cursor.hash";

export class EventsRepo {
  constructor(private readonly unit: Unit) {}

  /** Last block ingested and its hash; undefined before the first step. */
  cursor(): Promise<{ number: number | undefined; hash: string | undefined }> {
    return this.unit.run((db) => {
      const n = getMeta(db, CURSOR_NUMBER);
      return { number: n === undefined ? undefined : Number(n), hash: getMeta(db, CURSOR_HASH) };
    });
  }

  /** Last block the event reader ingested (-1: none). */
  async ingestedUpTo(): Promise<number> {
    return (await this.cursor()).number ?? -1;
  }

  /**
   * Stores the events of blocks up to `to` and moves the cursor there, in one transaction. An event
   * seen before is left alone, unless a reorg had orphaned it: then it is back (applied again only if
   * it never was). Block hashes older than `reorgWindow` are forgotten. Returns the events stored.
   */
  ingest(events: readonly NewEvent[], to: number, toHash: string, reorgWindow: number): Promise<number> {
    return this.unit.run((db) => {
      const insertEvent = db.prepare(
        `INSERT INTO events (tx_hash, log_index, block_number, block_hash, name, instance_id, args, ingested_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (tx_hash, log_index) DO UPDATE SET
           block_number = excluded.block_number, block_hash = excluded.block_hash,
           status = CASE WHEN events.applied_at IS NULL THEN 'new' ELSE 'applied' END
         WHERE events.status IN ('orphaned', 'dropped')`,
      );
      const insertBlock = db.prepare(
        "INSERT INTO blocks (number, hash) VALUES (?, ?) ON CONFLICT (number) DO UPDATE SET hash = excluded.hash",
      );
      const t = now();
      return db.transaction(() => {
        let count = 0;
        let lastBlock = -1;
        for (const e of events) {
          count += insertEvent.run(e.txHash, e.logIndex, e.blockNumber, e.blockHash, e.name, e.instanceId, e.args, t).changes;
          if (e.blockNumber !== lastBlock) insertBlock.run(e.blockNumber, e.blockHash);
          lastBlock = e.blockNumber;
        }
        insertBlock.run(to, toHash);
        db.prepare("DELETE FROM blocks WHERE number < ?").run(to - reorgWindow);
        setMeta(db, CURSOR_NUMBER, String(to));
        setMeta(db, CURSOR_HASH, toHash);
        return count;
      })();
    });
  }

  /** Stored block hashes below `number`, newest first (where to look for the common ancestor). */
  blocksBelow(number: number): Promise<{ number: number; hash: string }[]> {
    return this.unit.run(
      (db) =>
        db.prepare("SELECT number, hash FROM blocks WHERE number < ? ORDER BY number DESC").all(number) as {
          number: number;
          hash: string;
        }[],
    );
  }

  /**
   * A reorg: every event above `ancestor` is orphaned, the cursor goes back to it (with its hash, if
   * it has one), in one transaction. Returns how many events were orphaned.
   */
  rewindTo(ancestor: number, ancestorHash: string | undefined): Promise<number> {
    return this.unit.run((db) =>
      db.transaction(() => {
        const orphaned = db
          .prepare("UPDATE events SET status = 'orphaned' WHERE block_number > ? AND status != 'orphaned'")
          .run(ancestor).changes;
        db.prepare("DELETE FROM blocks WHERE number > ?").run(ancestor);
        setMeta(db, CURSOR_NUMBER, String(ancestor));
        if (ancestorHash) setMeta(db, CURSOR_HASH, ancestorHash);
        else db.prepare("DELETE FROM meta WHERE key = ?").run(CURSOR_HASH);
        return orphaned;
      })(),
    );
  }

  /** Events ingested and not applied yet, in chain order. */
  unapplied(limit: number): Promise<EventRow[]> {
    return this.unit.run(
      (db) => db.prepare("SELECT * FROM events WHERE status = 'new' ORDER BY block_number, log_index LIMIT ?").all(limit) as EventRow[],
    );
  }

  /** Marks an event applied; false when it was not new any more (applied already, or orphaned). */
  markApplied(txHash: string, logIndex: number): Promise<boolean> {
    return this.unit.run(
      (db) =>
        db
          .prepare("UPDATE events SET status = 'applied', applied_at = ? WHERE tx_hash = ? AND log_index = ? AND status = 'new'")
          .run(now(), txHash, logIndex).changes > 0,
    );
  }

  /** Events of a session ingested but not applied yet, up to `block`. */
  unappliedOf(instanceId: string, block: number): Promise<number> {
    return this.unit.run(
      (db) =>
        (
          db
            .prepare("SELECT count(*) n FROM events WHERE instance_id = ? AND status = 'new' AND block_number <= ?")
            .get(instanceId, block) as { n: number }
        ).n,
    );
  }

  /** Applied SessionStarted events orphaned by a reorg at or below block `upTo` (not mined again since). */
  orphanedPayments(upTo: number): Promise<{ tx_hash: string; log_index: number; instance_id: string }[]> {
    return this.unit.run(
      (db) =>
        db
          .prepare(
            "SELECT tx_hash, log_index, instance_id FROM events WHERE name = 'SessionStarted' AND status = 'orphaned' AND applied_at IS NOT NULL AND block_number <= ?",
          )
          .all(upTo) as { tx_hash: string; log_index: number; instance_id: string }[],
    );
  }

  /** An orphaned event given up on: it is not on the chain and will not be compensated again. */
  markDropped(txHash: string, logIndex: number): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE events SET status = 'dropped' WHERE tx_hash = ? AND log_index = ?").run(txHash, logIndex);
    });
  }

  /** How many events of this name were stored (whatever their status). */
  countNamed(name: string): Promise<number> {
    return this.unit.run((db) => (db.prepare("SELECT count(*) n FROM events WHERE name = ?").get(name) as { n: number }).n);
  }
}
