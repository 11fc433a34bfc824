/**
 * Storage of the deposit scan (keeper/payments/deposits.ts): the cursor through the service token
 * account's history and the transfers not yet counted (watt_unsettled). Meant to run inside the
 * caller's transaction (`store.tx`) with the credits they go with.
 */
import { now } from "./db";
import type { Unit } from "./unit";

export interface UnsettledRow {
  signature: string;
  memo: string | null;
  block_time: number | null;
  reason: string;
  next_check_at: number;
  attempts: number;
  created_at: number;
}

export class WattScanRepo {
  constructor(private readonly unit: Unit) {}

  /** The newest signature of `account` already processed. */
  cursor(account: string): Promise<string | undefined> {
    return this.unit.run(
      (db) =>
        (db.prepare("SELECT last_signature FROM watt_scan_cursor WHERE account = ?").get(account) as { last_signature: string } | undefined)
          ?.last_signature,
    );
  }

  setCursor(account: string, signature: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare(
        "INSERT INTO watt_scan_cursor (account, last_signature, updated_at) VALUES (?, ?, ?) ON CONFLICT (account) DO UPDATE SET last_signature = excluded.last_signature, updated_at = excluded.updated_at",
      ).run(account, signature, now());
    });
  }

  /** Keeps a transfer for later (a second sighting keeps the first row). */
  keepUnsettled(row: {
    signature: string;
    memo?: string | null;
    blockTime: number | null;
    reason: string;
    nextCheckAt?: number;
  }): Promise<void> {
    return this.unit.run((db) => {
      const t = now();
      db.prepare(
        "INSERT INTO watt_unsettled (signature, memo, block_time, reason, next_check_at, attempts, created_at) VALUES (?, ?, ?, ?, ?, 0, ?) ON CONFLICT (signature) DO NOTHING",
      ).run(row.signature, row.memo ?? null, row.blockTime, row.reason, row.nextCheckAt ?? t, t);
    });
  }

  /** Rows whose grace period is over (block time, else first sighting, at most `cutoff`) and whose next check is due. */
  dueUnsettled(cutoff: number, limit: number, t = now()): Promise<UnsettledRow[]> {
    return this.unit.run(
      (db) =>
        db
          .prepare(
            "SELECT * FROM watt_unsettled WHERE COALESCE(block_time, created_at) <= ? AND next_check_at <= ? ORDER BY COALESCE(block_time, created_at), signature LIMIT ?",
          )
          .all(cutoff, t, limit) as UnsettledRow[],
    );
  }

  dropUnsettled(signature: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("DELETE FROM watt_unsettled WHERE signature = ?").run(signature);
    });
  }

  /** Not decidable yet (e.g. not visible at our commitment): look again after `delayS`. */
  postponeUnsettled(signature: string, delayS: number, reason: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE watt_unsettled SET next_check_at = ?, attempts = attempts + 1, reason = ? WHERE signature = ?").run(
        now() + delayS,
        reason,
        signature,
      );
    });
  }

  unsettledCount(): Promise<number> {
    return this.unit.run((db) => (db.prepare("SELECT count(*) n FROM watt_unsettled").get() as { n: number }).n);
  }
}
