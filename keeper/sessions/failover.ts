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
import { DB, now } from "../store/db";
import type { ComputeProvider, WorkloadSpec } from "../providers/provider";
import type { ProviderRegistry } from "../providers/registry";

export interface FailoverOptions {
  deadlineSeconds: number;
  breakerThreshold: number;
  cooldownSeconds: number;
  /** A quote must answer within this, or the provider is ordered last. */
  quoteTimeoutMs: number;
}

export interface AttemptRow {
  instance_id: string;
  seq: number;
  provider: string;
  state: "provisioning" | "running" | "failed" | "stopped";
  price_per_hour: string;
  started_at: number;
  deadline_at: number;
  running_at: number | null;
  stopped_at: number | null;
  cost: string | null;
  bridge_transfer_id: number | null;
  tries: number;
  error: string | null;
}

export interface Choice {
  name: string;
  pricePerHour: bigint;
}

export class Failover {
  constructor(
    private readonly db: DB,
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
    const rest = allowed === undefined ? [this.registry.local.name] : allowed.map((n) => this.registry.resolve(n)).filter((n): n is string => n !== undefined);
    // With an explicit list, the paid-for provider is a candidate only when it is configured (it may be
    // the local fallback for an unconfigured id, which the agent did not allow).
    const head = allowed === undefined || first !== this.registry.local.name ? [first] : [];
    return [...new Set([...head, ...rest])];
  }

  isOpen(name: string): boolean {
    const row = this.db.prepare("SELECT unhealthy_until FROM provider_health WHERE provider = ?").get(name) as { unhealthy_until: number } | undefined;
    return (row?.unhealthy_until ?? 0) > now();
  }

  /** The next provider to try, or undefined when every allowed one was tried or is unhealthy. */
  async choose(providerId: number, spec: WorkloadSpec & { providers?: string[] }, durationSeconds: number, tried: Set<string>): Promise<Choice | undefined> {
    const all = this.candidates(providerId, spec.providers).filter((n) => !tried.has(n));
    const healthy = all.filter((n) => !this.isOpen(n));
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

  current(instanceId: string): AttemptRow | undefined {
    return this.db.prepare("SELECT * FROM provision_attempts WHERE instance_id = ? ORDER BY seq DESC LIMIT 1").get(instanceId) as AttemptRow | undefined;
  }

  tried(instanceId: string): Set<string> {
    const rows = this.db.prepare("SELECT provider FROM provision_attempts WHERE instance_id = ?").all(instanceId) as { provider: string }[];
    return new Set(rows.map((r) => r.provider));
  }

  /** Inserts the next attempt (call inside the caller's transaction). */
  begin(instanceId: string, choice: Choice, deadlineSeconds: number): AttemptRow {
    const seq = (this.current(instanceId)?.seq ?? 0) + 1;
    const t = now();
    this.db
      .prepare("INSERT INTO provision_attempts (instance_id, seq, provider, state, price_per_hour, started_at, deadline_at) VALUES (?, ?, ?, 'provisioning', ?, ?, ?)")
      .run(instanceId, seq, choice.name, choice.pricePerHour.toString(), t, t + Math.min(deadlineSeconds, this.opts.deadlineSeconds));
    return this.current(instanceId)!;
  }

  countTry(a: AttemptRow): void {
    this.db.prepare("UPDATE provision_attempts SET tries = tries + 1 WHERE instance_id = ? AND seq = ?").run(a.instance_id, a.seq);
  }

  markRunning(a: AttemptRow): void {
    this.db.prepare("UPDATE provision_attempts SET state = 'running', running_at = ?, error = NULL WHERE instance_id = ? AND seq = ?").run(now(), a.instance_id, a.seq);
  }

  markFailed(a: AttemptRow, error: string): void {
    this.stop(a, "failed", error);
  }

  /**
   * Ends an attempt and fixes what the keeper owes its provider: the quoted hourly price times the
   * hours it ran, rounded up to whole hours (how Spheron and io.net bill). Idempotent.
   */
  stop(a: AttemptRow, state: "failed" | "stopped", error?: string): void {
    const t = now();
    const ran = a.running_at === null ? 0 : Math.max(1, Math.ceil((t - a.running_at) / 3600));
    const cost = (BigInt(a.price_per_hour) * BigInt(ran)).toString();
    this.db
      .prepare("UPDATE provision_attempts SET state = ?, stopped_at = ?, cost = ?, error = COALESCE(?, error) WHERE instance_id = ? AND seq = ? AND state IN ('provisioning', 'running')")
      .run(state, t, cost, error ?? null, a.instance_id, a.seq);
  }

  /** The session is over: its current attempt stops accruing cost. */
  stopSession(instanceId: string): void {
    const a = this.current(instanceId);
    if (a) this.stop(a, a.state === "running" ? "stopped" : "failed");
  }

  recordSuccess(name: string): void {
    this.db
      .prepare(
        `INSERT INTO provider_health (provider, consecutive_failures, unhealthy_until, updated_at) VALUES (?, 0, 0, ?)
         ON CONFLICT (provider) DO UPDATE SET consecutive_failures = 0, unhealthy_until = 0, updated_at = excluded.updated_at`,
      )
      .run(name, now());
  }

  /**
   * Counts a failure against the provider. The operator's own hardware is never skipped (it is the
   * last resort), and a rejection of the agent's own config says nothing about the provider's health.
   */
  recordFailure(name: string, error: string): void {
    if (!this.registry.isCloud(name) || /\bconfig\./.test(error)) return;
    this.db
      .prepare(
        `INSERT INTO provider_health (provider, consecutive_failures, last_error, updated_at) VALUES (?, 1, ?, ?)
         ON CONFLICT (provider) DO UPDATE SET consecutive_failures = consecutive_failures + 1, last_error = excluded.last_error, updated_at = excluded.updated_at`,
      )
      .run(name, error.slice(0, 300), now());
    const row = this.db.prepare("SELECT consecutive_failures n FROM provider_health WHERE provider = ?").get(name) as { n: number };
    if (row.n >= this.opts.breakerThreshold) {
      this.db.prepare("UPDATE provider_health SET unhealthy_until = ? WHERE provider = ?").run(now() + this.opts.cooldownSeconds, name);
      this.log.error({ provider: name, failures: row.n, cooldownS: this.opts.cooldownSeconds }, "provider marked unhealthy");
    }
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  if (!(ms > 0)) {
    // The work was already started by the caller: its later failure must not become an unhandled
    // rejection that takes the process down.
    p.catch(() => undefined);
    return Promise.reject(new Error(`${what}: deadline passed`));
  }
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}
