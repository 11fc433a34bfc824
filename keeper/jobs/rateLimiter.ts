/**
 * Rate limits of design.md section 5 (per agent, per URL, global), as sliding one-hour windows kept in
 * SQLite so a restart forgets nothing. A hit is written when a job is accepted (in the same database
 * transaction as its charge); refused and replayed requests do not count.
 */
import { ServiceError } from "../services/jobService";
import type { DB } from "../store/db";

export interface Limit {
  key: string;
  max: number;
}

export const WINDOW_MS = 3_600_000;

export class RateLimiter {
  private lastPrune = 0;

  constructor(
    private readonly db: DB,
    private readonly windowMs = WINDOW_MS,
  ) {}

  /** Throws RATE_LIMITED (429, retry_after_s) for the first limit already reached. */
  check(limits: Limit[], nowMs = Date.now()): void {
    const since = nowMs - this.windowMs;
    for (const l of limits) {
      const { n } = this.db.prepare("SELECT count(*) n FROM rate_hits WHERE key = ? AND at_ms > ?").get(l.key, since) as { n: number };
      if (n < l.max) continue;
      // The hit that must leave the window before one more fits.
      const row = this.db.prepare("SELECT at_ms FROM rate_hits WHERE key = ? AND at_ms > ? ORDER BY at_ms LIMIT 1 OFFSET ?").get(l.key, since, n - l.max) as { at_ms: number } | undefined;
      const retryAfter = Math.max(1, Math.ceil(((row?.at_ms ?? nowMs) + this.windowMs - nowMs) / 1000));
      const scope = l.key.split(":")[0];
      throw new ServiceError("RATE_LIMITED", `rate limit reached: ${l.max} jobs per hour ${scope === "global" ? "for the whole service" : `per ${scope}`}; retry in ${retryAfter} s`, 429, {
        limit: scope,
        retry_after_s: retryAfter,
      });
    }
  }

  record(keys: string[], nowMs = Date.now()): void {
    const ins = this.db.prepare("INSERT INTO rate_hits (key, at_ms) VALUES (?, ?)");
    for (const k of keys) ins.run(k, nowMs);
    if (nowMs - this.lastPrune > 60_000) {
      this.lastPrune = nowMs;
      this.db.prepare("DELETE FROM rate_hits WHERE at_ms <= ?").run(nowMs - this.windowMs);
    }
  }
}
