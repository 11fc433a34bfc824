/** Each provider's circuit breaker (table provider_health), persisted so a restart keeps skipping a bad one. */
import type { Unit } from "./unit";
import { now } from "./db";

export interface ProviderHealthRow {
  provider: string;
  consecutive_failures: number;
  unhealthy_until: number;
  last_error: string | null;
}

export class ProviderHealthRepo {
  constructor(private readonly unit: Unit) {}

  /** Until when (unix seconds) the provider is skipped; 0 when it is not. */
  unhealthyUntil(provider: string): Promise<number> {
    return this.unit.run((db) => {
      const row = db.prepare("SELECT unhealthy_until FROM provider_health WHERE provider = ?").get(provider) as
        { unhealthy_until: number } | undefined;
      return row?.unhealthy_until ?? 0;
    });
  }

  /** A success closes the breaker. */
  recordSuccess(provider: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare(
        `INSERT INTO provider_health (provider, consecutive_failures, unhealthy_until, updated_at) VALUES (?, 0, 0, ?)
         ON CONFLICT (provider) DO UPDATE SET consecutive_failures = 0, unhealthy_until = 0, updated_at = excluded.updated_at`,
      ).run(provider, now());
    });
  }

  /** Counts one more consecutive failure; returns how many there are now. */
  recordFailure(provider: string, error: string): Promise<number> {
    return this.unit.run((db) => {
      db.prepare(
        `INSERT INTO provider_health (provider, consecutive_failures, last_error, updated_at) VALUES (?, 1, ?, ?)
         ON CONFLICT (provider) DO UPDATE SET consecutive_failures = consecutive_failures + 1, last_error = excluded.last_error, updated_at = excluded.updated_at`,
      ).run(provider, error, now());
      return (db.prepare("SELECT consecutive_failures n FROM provider_health WHERE provider = ?").get(provider) as { n: number }).n;
    });
  }

  /** Opens the breaker: the provider is skipped until `until`. */
  markUnhealthy(provider: string, until: number): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE provider_health SET unhealthy_until = ? WHERE provider = ?").run(until, provider);
    });
  }

  all(): Promise<ProviderHealthRow[]> {
    return this.unit.run(
      (db) =>
        db
          .prepare("SELECT provider, consecutive_failures, unhealthy_until, last_error FROM provider_health ORDER BY provider")
          .all() as ProviderHealthRow[],
    );
  }
}
