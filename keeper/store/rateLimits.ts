/** Hits of the hourly rate limits (table rate_hits; keeper/jobs/rateLimiter.ts decides what they mean). */
import type { Unit } from "./unit";

export class RateLimitsRepo {
  constructor(private readonly unit: Unit) {}

  /** How many hits `key` has after `sinceMs`. */
  countSince(key: string, sinceMs: number): Promise<number> {
    return this.unit.run(
      (db) => (db.prepare("SELECT count(*) n FROM rate_hits WHERE key = ? AND at_ms > ?").get(key, sinceMs) as { n: number }).n,
    );
  }

  /** The time of the `offset`-th (from 0, oldest first) hit of `key` after `sinceMs`. */
  hitAt(key: string, sinceMs: number, offset: number): Promise<number | undefined> {
    return this.unit.run(
      (db) =>
        (
          db
            .prepare("SELECT at_ms FROM rate_hits WHERE key = ? AND at_ms > ? ORDER BY at_ms LIMIT 1 OFFSET ?")
            .get(key, sinceMs, offset) as { at_ms: number } | undefined
        )?.at_ms,
    );
  }

  record(keys: string[], atMs: number): Promise<void> {
    return this.unit.run((db) => {
      const ins = db.prepare("INSERT INTO rate_hits (key, at_ms) VALUES (?, ?)");
      for (const k of keys) ins.run(k, atMs);
    });
  }

  /** Forgets hits at or before `atMs` (out of every window). */
  forgetUntil(atMs: number): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("DELETE FROM rate_hits WHERE at_ms <= ?").run(atMs);
    });
  }
}
