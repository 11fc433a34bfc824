/**
 * Which provider a session runs on, and what happens when one fails to provision.
 *
 * - Candidates: the provider the agent paid for on chain first, then the ones its config allows
 *   (`providers: ["spheron", "ionet", "akash", "local"]`). Without that list, the paid-for provider
 *   and then the operator's own hardware (the behaviour before failover). Providers not configured
 *   here are skipped.
 * - Choice among the untried: providers whose circuit breaker is open are skipped; the rest are
 *   ordered by their quote (price per hour), unavailable or unreachable quotes last. The paid-for
 *   provider is always tried first while it is healthy.
 * - Each attempt is a row in `provision_attempts`, written before the provider is called, with its
 *   own deadline; a restart continues the last attempt (same provider, same idempotency key).
 * - Circuit breaker: FAILOVER_BREAKER_THRESHOLD consecutive failures open it for FAILOVER_COOLDOWN_S
 *   (persisted, so a restart keeps skipping a bad provider); one success closes it.
 */
import type { Logger } from "pino";
import { now } from "../clock";
import { withTimeout } from "../errors";
import type { Store } from "../store/store";
import type { AttemptRow } from "../store/provisionAttempts";
import { type ComputeProvider, type WorkloadSpec, WorkloadRefused } from "../providers/provider";
import type { ProviderRegistry } from "../providers/registry";

export type { AttemptRow } from "../store/provisionAttempts";

export interface FailoverOptions {
  deadlineSeconds: number;
  breakerThreshold: number;
  cooldownSeconds: number;
  /** A quote must answer within this, or the provider is ordered last. */
  quoteTimeoutMs: number;
}

export interface Choice {
  name: string;
  pricePerHour: bigint;
}

export class Failover {
  constructor(
    private readonly store: Store,
    readonly registry: ProviderRegistry,
    private readonly opts: FailoverOptions,
    private readonly log: Logger,
  ) {}

  provider(name: string): ComputeProvider {
    return this.registry.get(name);
  }

  /** The agent's allowed providers, configured ones only, paid-for first. */
  candidates(providerId: number, allowed: string[] | undefined): string[] {
    const first = this.registry.nameForId(providerId);
    const rest =
      allowed === undefined
        ? [this.registry.local.name]
        : allowed.map((n) => this.registry.resolve(n)).filter((n): n is string => n !== undefined);
    // With an explicit list, the paid-for provider is a candidate only when it is configured (it may be
    // the local fallback for an unconfigured id, which the agent did not allow).
    const head = allowed === undefined || first !== this.registry.local.name ? [first] : [];
    return [...new Set([...head, ...rest])];
  }

  async isOpen(name: string): Promise<boolean> {
    return (await this.store.providerHealth.unhealthyUntil(name)) > now();
  }

  /** The next provider to try, or undefined when every allowed one was tried or is unhealthy. */
  async choose(
    providerId: number,
    spec: WorkloadSpec & { providers?: string[] },
    durationSeconds: number,
    tried: Set<string>,
  ): Promise<Choice | undefined> {
    const all = this.candidates(providerId, spec.providers).filter((n) => !tried.has(n));
    const open = await Promise.all(all.map((n) => this.isOpen(n)));
    const healthy = all.filter((_, i) => !open[i]);
    for (const n of all.filter((x) => !healthy.includes(x))) this.log.info({ provider: n }, "provider skipped: circuit breaker open");
    if (healthy.length === 0) return undefined;
    const hours = Math.max(1, durationSeconds / 3600);
    const quotes = await Promise.all(
      healthy.map(async (name) => {
        try {
          const q = await withTimeout(this.provider(name).quote(spec, hours), this.opts.quoteTimeoutMs, `${name} quote`);
          return { name, pricePerHour: q.pricePerHour, ok: q.available };
        } catch (err) {
          this.log.warn({ provider: name, err: (err as Error).message }, "quote failed");
          return { name, pricePerHour: 0n, ok: false };
        }
      }),
    );
    const paid = this.registry.nameForId(providerId);
    quotes.sort((a, b) => {
      if (tried.size === 0 && (a.name === paid) !== (b.name === paid)) return a.name === paid ? -1 : 1;
      if (a.ok !== b.ok) return a.ok ? -1 : 1;
      return a.pricePerHour < b.pricePerHour ? -1 : a.pricePerHour > b.pricePerHour ? 1 : 0;
    });
    return { name: quotes[0].name, pricePerHour: quotes[0].pricePerHour };
  }

  current(instanceId: string): Promise<AttemptRow | undefined> {
    return this.store.provisionAttempts.current(instanceId);
  }

  tried(instanceId: string): Promise<Set<string>> {
    return this.store.provisionAttempts.providersTried(instanceId);
  }

  /** Starts the next attempt (call inside the caller's transaction). */
  begin(instanceId: string, choice: Choice, deadlineSeconds: number): Promise<AttemptRow> {
    return this.store.provisionAttempts.begin(
      instanceId,
      choice.name,
      choice.pricePerHour,
      Math.min(deadlineSeconds, this.opts.deadlineSeconds),
    );
  }

  countTry(a: AttemptRow): Promise<void> {
    return this.store.provisionAttempts.countTry(a);
  }

  markRunning(a: AttemptRow): Promise<void> {
    return this.store.provisionAttempts.markRunning(a);
  }

  markFailed(a: AttemptRow, error: string): Promise<void> {
    return this.stop(a, "failed", error);
  }

  /**
   * Ends an attempt and fixes what the keeper owes its provider: the quoted hourly price times the
   * hours it ran, rounded up to whole hours (how Spheron and io.net bill). Idempotent.
   */
  stop(a: AttemptRow, state: "failed" | "stopped", error?: string): Promise<void> {
    const t = now();
    const ran = a.running_at === null ? 0 : Math.max(1, Math.ceil((t - a.running_at) / 3600));
    return this.store.provisionAttempts.stop(a, state, t, BigInt(a.price_per_hour) * BigInt(ran), error);
  }

  /** The session is over: its current attempt stops accruing cost. */
  async stopSession(instanceId: string): Promise<void> {
    const a = await this.current(instanceId);
    if (a) await this.stop(a, a.state === "running" ? "stopped" : "failed");
  }

  recordSuccess(name: string): Promise<void> {
    return this.store.providerHealth.recordSuccess(name);
  }

  /**
   * Counts a failure against the provider. The operator's own hardware is never skipped (it is the
   * last resort), and a rejection of the agent's own config says nothing about the provider's health.
   */
  async recordFailure(name: string, err: unknown): Promise<void> {
    if (!this.registry.isCloud(name) || err instanceof WorkloadRefused) return;
    const error = err instanceof Error ? err.message : String(err);
    const failures = await this.store.providerHealth.recordFailure(name, error.slice(0, 300));
    if (failures >= this.opts.breakerThreshold) {
      await this.store.providerHealth.markUnhealthy(name, now() + this.opts.cooldownSeconds);
      this.log.error({ provider: name, failures, cooldownS: this.opts.cooldownSeconds }, "provider marked unhealthy");
    }
  }
}
