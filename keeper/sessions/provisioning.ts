/**
 * Provisioning: a requested session gets its workload from a provider (with failover between the
 * providers the agent allows, when configured), and a running session whose cloud workload was lost
 * moves to the next provider. The session enters `provisioning` in the database before the provider
 * is called, and the provider is keyed by the session's workload key, so calling it again after a
 * crash finds the workload instead of starting a second one.
 */
import type { Logger } from "pino";
import { now } from "../clock";
import type { Store } from "../store/store";
import type { SessionRow } from "../store/sessions";
import { OUTCOME } from "../chain/contracts";
import { ProvisionError } from "../providers/provider";
import { InvalidWorkloadConfig, parseWorkloadConfig } from "./workloadSpec";
import { Failover } from "./failover";
import { TimeoutError, withTimeout } from "../errors";
import { SessionMoves } from "./transitions";

export class Provisioning {
  constructor(private readonly moves: SessionMoves) {}

  private get store(): Store {
    return this.moves.store;
  }

  private get log(): Logger {
    return this.moves.log;
  }

  async provision(s: SessionRow): Promise<void> {
    let spec;
    try {
      spec = parseWorkloadConfig(s.config);
    } catch (err) {
      if (err instanceof InvalidWorkloadConfig) return this.moves.fail(s, `invalid config: ${err.message}`);
      throw err;
    }
    if (this.moves.opts.failover) return this.provisionWithFailover(s, spec, this.moves.opts.failover);
    const provider = this.moves.provider(s);
    if (s.state === "requested") {
      await this.store.tx(async () => {
        await this.store.sessions.assignProvider(s.instance_id, provider.name);
        await this.store.sessions.countAttempt(s.instance_id);
        await this.moves.transition((await this.moves.get(s.instance_id))!, "provisioning", `provider ${provider.name}`);
      });
    } else {
      await this.store.sessions.countAttempt(s.instance_id);
    }
    this.moves.hooks.onProvisionCall?.(s.instance_id, provider.name);
    try {
      const result = await provider.provision({ idempotencyKey: s.workload_key, spec, endsAt: s.ends_at ?? now() + s.duration });
      await this.store.tx(async () => {
        const fresh = (await this.moves.get(s.instance_id))!;
        if (fresh.state !== "provisioning") return; // the agent ended it meanwhile: 'ending' terminates
        await this.store.sessions.markProvisioned(s.instance_id, result.ref);
        await this.moves.transition(fresh, "running", result.created ? "provisioned" : "found existing workload");
        await this.moves.enqueueOutcome(s.instance_id, OUTCOME.Running, `${provider.name}:${result.ref}`);
      });
    } catch (err) {
      const retryable = err instanceof ProvisionError ? err.retryable : true;
      const attempts = (await this.moves.get(s.instance_id))?.attempts ?? 1;
      const timedOut = now() - s.created_at > this.moves.opts.provisionTimeoutSeconds;
      if (retryable && attempts < (this.moves.opts.maxAttempts ?? 5) && !timedOut) {
        this.log.warn({ instanceId: s.instance_id, attempts, err: (err as Error).message }, "provisioning failed; retrying");
        await this.store.sessions.retryAt(s.instance_id, now() + 2 ** attempts, (err as Error).message);
        return;
      }
      await provider.terminate(s.workload_key).catch(() => undefined);
      await this.moves.fail(s, `provisioning failed: ${(err as Error).message}`);
    }
  }

  /**
   * Provisioning with failover: the session's current attempt (provision_attempts) names the provider.
   * Retryable errors are retried on the same provider until its deadline; then it is given up (and
   * counted by the circuit breaker) and the next allowed provider gets a new attempt. No provider
   * left: the session fails and is refunded on chain. Never stuck: every attempt has a deadline and
   * the candidates are finite.
   */
  private async provisionWithFailover(s: SessionRow, spec: ReturnType<typeof parseWorkloadConfig>, f: Failover): Promise<void> {
    let attempt = await f.current(s.instance_id);
    if (!attempt || attempt.state === "failed" || attempt.state === "stopped") {
      // Quotes are network calls: the choice is made before the transaction that records it.
      const choice = await f.choose(s.provider_id, spec, s.duration, await f.tried(s.instance_id));
      if (!choice)
        return this.moves.fail(
          s,
          attempt
            ? `provisioning failed on every allowed provider: ${attempt.error ?? ""}`
            : "no allowed provider is configured and healthy",
        );
      const begun = await this.store.tx(async () => {
        const fresh = (await this.moves.get(s.instance_id))!;
        if (fresh.state !== "requested" && fresh.state !== "provisioning") return undefined; // ended meanwhile
        const a = await f.begin(s.instance_id, choice, this.moves.opts.provisionTimeoutSeconds);
        await this.store.sessions.assignProvider(s.instance_id, choice.name);
        // A cloud provider is paid from now on: record Provisioning (once per session) so an agent
        // ending the pending session within the provisioning window pays for the time since.
        if (f.registry.isCloud(choice.name))
          await this.moves.enqueueOutcome(s.instance_id, OUTCOME.Provisioning, `${choice.name}:provisioning`);
        if (fresh.state === "requested") await this.moves.transition(fresh, "provisioning", `provider ${choice.name}`);
        else await this.moves.recordTransition(s.instance_id, fresh.state, fresh.state, `attempt ${a.seq}: provider ${choice.name}`);
        return a;
      });
      if (!begun) return;
      attempt = begun;
    } else if (s.state === "requested") {
      const name = attempt.provider;
      await this.store.tx(async () => this.moves.transition((await this.moves.get(s.instance_id))!, "provisioning", `provider ${name}`));
    }
    const provider = f.provider(attempt.provider);
    await this.store.sessions.countAttempt(s.instance_id);
    await f.countTry(attempt);
    this.moves.hooks.onProvisionCall?.(s.instance_id, provider.name);
    const current = attempt;
    try {
      // Past the attempt's deadline the provider is not called again (the catch below gives it up).
      if (now() >= current.deadline_at)
        throw new TimeoutError(`${provider.name} provisioning`, 0, `${provider.name} provisioning: deadline passed`, "DEADLINE_PASSED");
      const result = await withTimeout(
        provider.provision({ idempotencyKey: s.workload_key, spec, endsAt: s.ends_at ?? now() + s.duration }),
        (current.deadline_at - now()) * 1000,
        `${provider.name} provisioning`,
      );
      await this.store.tx(async () => {
        const fresh = (await this.moves.get(s.instance_id))!;
        if (fresh.state !== "provisioning") return; // the agent ended it meanwhile: 'ending' terminates
        await f.markRunning(current);
        await this.store.sessions.markProvisioned(s.instance_id, result.ref);
        await this.moves.transition(
          fresh,
          "running",
          result.created ? `provisioned on ${provider.name}` : `found existing workload on ${provider.name}`,
        );
        await this.moves.enqueueOutcome(s.instance_id, OUTCOME.Running, `${provider.name}:${result.ref}`);
      });
      await f.recordSuccess(provider.name);
    } catch (err) {
      const message = (err as Error).message;
      // A provider that did not answer in time is not asked again (failover moves on); what it said
      // itself decides for a ProvisionError; anything else (a dropped connection) is tried again.
      const retryable = err instanceof ProvisionError ? err.retryable : !(err instanceof TimeoutError);
      const tries = current.tries + 1;
      if (retryable && tries < (this.moves.opts.maxAttempts ?? 5) && now() < current.deadline_at) {
        this.log.warn(
          { instanceId: s.instance_id, provider: provider.name, tries, err: message },
          "provisioning failed; retrying on the same provider",
        );
        const wait = Math.min(2 ** tries, Math.max(1, current.deadline_at - now()));
        await this.store.sessions.retryAt(s.instance_id, now() + wait, message);
        return;
      }
      await provider.terminate(s.workload_key).catch(() => undefined);
      await f.recordFailure(provider.name, err);
      await this.store.tx(async () => {
        await f.markFailed(current, message);
        await this.store.sessions.retryAt(s.instance_id, 0, `${provider.name}: ${message}`);
      });
      this.log.warn({ instanceId: s.instance_id, provider: provider.name, err: message }, "provider gave up; failing over");
      // The next pass picks the next provider (or refunds when none is left).
    }
  }

  /**
   * A cloud provider lost a running workload (closed the lease, terminated the instance): while
   * allowed providers remain untried, the session moves to the next one instead of ending early.
   * Returns false when there is none (the caller settles the session as failed).
   */
  async failoverLostWorkload(s: SessionRow, detail: string): Promise<boolean> {
    const f = this.moves.opts.failover;
    if (!f || !s.provider || !f.registry.isCloud(s.provider)) return false;
    let spec;
    try {
      spec = parseWorkloadConfig(s.config);
    } catch {
      return false;
    }
    const choice = await f.choose(s.provider_id, spec, Math.max(0, (s.ends_at ?? now()) - now()), await f.tried(s.instance_id));
    if (!choice) return false;
    await this.moves
      .provider(s)
      .terminate(s.workload_key)
      .catch(() => undefined);
    await f.recordFailure(s.provider, `workload lost: ${detail}`);
    const lost = s.provider;
    await this.store.tx(async () => {
      const fresh = (await this.moves.get(s.instance_id))!;
      if (fresh.state !== "running") return;
      const cur = await f.current(s.instance_id);
      if (cur) await f.stop(cur, "failed", `workload lost: ${detail}`);
      await f.begin(s.instance_id, choice, this.moves.opts.provisionTimeoutSeconds);
      await this.store.sessions.moveToProvider(s.instance_id, choice.name, `${lost}: workload lost (${detail})`);
      await this.moves.transition(fresh, "provisioning", `workload lost on ${lost} (${detail}): failing over to ${choice.name}`);
    });
    return true;
  }
}
