/**
 * Rate limits of design.md section 5 (per agent, per URL, global), as sliding one-hour windows kept in
 * SQLite so a restart forgets nothing. A hit is written when a job is accepted (in the same database
 * transaction as its charge); refused and replayed requests do not count.
 */
import { ServiceError } from "../services/jobService";
import type { Store } from "../store/store";

export interface Limit {
  key: string;
  max: number;
}

export const WINDOW_MS = 3_600_000;

export class RateLimiter {
  private lastPrune = 0;

  constructor(
    private readonly store: Store,
    private readonly windowMs = WINDOW_MS,
  ) {}

  /** Throws RATE_LIMITED (429, retry_after_s) for the first limit already reached. */
  async check(limits: Limit[], nowMs = Date.now()): Promise<void> {
    const since = nowMs - this.windowMs;
    for (const l of limits) {
      const n = await this.store.rateLimits.countSince(l.key, since);
      if (n < l.max) continue;
      // The hit that must leave the window before one more fits.
      const at = await this.store.rateLimits.hitAt(l.key, since, n - l.max);
      const retryAfter = Math.max(1, Math.ceil(((at ?? nowMs) + this.windowMs - nowMs) / 1000));
      const scope = l.key.split(":")[0];
      throw new ServiceError(
        "RATE_LIMITED",
        `rate limit reached: ${l.max} jobs per hour ${scope === "global" ? "for the whole service" : `per ${scope}`}; retry in ${retryAfter} s`,
        429,
        {
          limit: scope,
          retry_after_s: retryAfter,
        },
      );
    }
  }

  async record(keys: string[], nowMs = Date.now()): Promise<void> {
    await this.store.rateLimits.record(keys, nowMs);
    if (nowMs - this.lastPrune > 60_000) {
      this.lastPrune = nowMs;
      await this.store.rateLimits.forgetUntil(nowMs - this.windowMs);
    }
  }
}

/**
 * Cheap per-client limits kept in memory (design.md section 5, "unpaid requests are cheap to refuse"):
 * a sliding window of `windowMs` per key, e.g. `lookup:<client address>`. Memory only: a restart
 * forgets them, which costs at most one window of extra lookups. Keys whose hits all expired are
 * dropped as the map grows.
 */
export class WindowLimiter {
  private readonly hits = new Map<string, number[]>();

  constructor(private readonly windowMs = 60_000) {}

  /** Takes one hit for `key`, or throws RATE_LIMITED (429, retry_after_s) when `max` are in the window. */
  take(key: string, max: number, what: string, nowMs = Date.now()): void {
    const since = nowMs - this.windowMs;
    const list = (this.hits.get(key) ?? []).filter((t) => t > since);
    if (list.length >= max) {
      this.hits.set(key, list);
      const retryAfter = Math.max(1, Math.ceil((list[list.length - max] + this.windowMs - nowMs) / 1000));
      throw new ServiceError("RATE_LIMITED", `rate limit reached: ${max} ${what} per minute per client; retry in ${retryAfter} s`, 429, {
        limit: "client",
        retry_after_s: retryAfter,
      });
    }
    list.push(nowMs);
    this.hits.set(key, list);
    if (this.hits.size > 10_000) for (const [k, v] of this.hits) if (v.every((t) => t <= since)) this.hits.delete(k);
  }
}
