/**
 * The session state machine. Data flows one way: confirmed event -> state (SQLite) -> provider call
 * -> on-chain outcome (through the outbox). Every step is idempotent, so running any step again after
 * a crash converges on the same end state:
 *
 *   requested --provision--> provisioning --ok--> running --extend / renewal event--> renewing --> running
 *       |                        |                   |--paid time over / agent ended--> ending --> ended
 *       |                        '--gave up--> failed --SessionEnded--> refunded
 *       '--agent ended first--> ending
 *
 * - A session enters `provisioning` in the database before the provider is called; the provider is
 *   keyed by the instanceId, so calling it again finds the workload instead of starting a second one.
 * - The outcome transaction is enqueued in the same database transaction as the state it reports.
 * - `ended` and `refunded` are reached only from the chain's SessionEnded event: the escrow is settled.
 * - Auto-renewal: a running session whose renewal is on gets one `renew` action, keyed by its current
 *   end time, `renewalLeadSeconds` (at most one period) before it ends. Its paid time is not declared
 *   over while that action is unsettled or mined but not yet ingested; SessionRenewed then moves the
 *   end like an extension, RenewalFailed (or a renew that would revert) lets the session end normally.
 */
import type { Logger } from "pino";
import { now } from "../store/db";
import type { Store } from "../store/store";
import type { ActionRow } from "../store/outbox";
import type { EventRow } from "../store/events";
import type { SessionRow, SessionState } from "../store/sessions";
import { computeInterface, contractErrorName, OUTCOME, renewalFailureName } from "../chain/contracts";
import type { ComputeProvider } from "../providers/provider";
import { ProvisionError } from "../providers/provider";
import { InvalidWorkloadConfig, parseWorkloadConfig } from "./workloadSpec";
import { Failover, withTimeout } from "./failover";

export type { SessionRow, SessionState } from "../store/sessions";

export interface LifecycleOptions {
  /** Picks the provider for a session (by the on-chain provider id). */
  providerFor(providerId: number): ComputeProvider;
  claimIntervalSeconds: number;
  provisionTimeoutSeconds: number;
  maxAttempts?: number;
  /** Failover between the providers the agent allows (sessions/failover.ts); absent: one provider per id. */
  failover?: Failover;
  /** Auto-renewal: send `renew` this long before a session ends (capped at its period). Default 300. */
  renewalLeadSeconds?: number;
}

export interface LifecycleHooks {
  onProvisionCall?(instanceId: string, provider: string): void;
  onTransition?(instanceId: string, from: SessionState | null, to: SessionState): void;
}

const REORGED_OUT = "payment reorged out of the chain";

const ACTIVE_STATES: SessionState[] = ["requested", "provisioning", "running", "renewing", "ending", "failed"];

export class SessionLifecycle {
  constructor(
    private readonly store: Store,
    private readonly opts: LifecycleOptions,
    private readonly log: Logger,
    private readonly hooks: LifecycleHooks = {},
  ) {}

  // ------------------------------------------------------------ events -> state

  /**
   * Applies ingested events not yet applied, in chain order. A batch is one transaction: a crash
   * leaves all of it applied or none of it, and each event's status makes applying it again a no-op.
   */
  async applyEvents(limit = 2_000): Promise<number> {
    const events = await this.store.events.unapplied(limit);
    if (events.length === 0) return 0;
    await this.store.tx(async () => {
      for (const ev of events) {
        if (!(await this.store.events.markApplied(ev.tx_hash, ev.log_index))) continue;
        await this.apply(ev);
      }
    });
    return events.length;
  }

  private async apply(ev: EventRow): Promise<void> {
    const a = JSON.parse(ev.args) as Record<string, string>;
    const id = ev.instance_id!;
    const sessions = this.store.sessions;
    switch (ev.name) {
      case "SessionStarted": {
        const existing = await this.get(id);
        if (existing && existing.start_tx !== ev.tx_hash) {
          // A deep reorg let another payment reuse this instance id: the old one is off the chain.
          await sessions.retireWorkload(existing, "instance id reused after a reorg");
          await sessions.forget(id);
        } else if (existing) {
          // The same payment, mined again after a reorg that had dropped it: serve it again.
          if (existing.last_error === REORGED_OUT) {
            await sessions.revive(id);
            await this.transition(existing, "requested", "payment mined again after a reorg");
          }
          return;
        }
        await sessions.create({
          instanceId: id,
          agent: a.agent,
          providerId: Number(a.provider),
          duration: Number(a.duration),
          deposited: a.cost,
          config: a.config,
          startedBlock: ev.block_number,
          startTx: ev.tx_hash,
          workloadKey: `s-${id.slice(2)}-${ev.tx_hash.slice(2, 14)}`,
        });
        await this.recordTransition(id, null, "requested", "SessionStarted");
        return;
      }
      case "SessionActivated":
        await sessions.activate(id, Number(a.endTime));
        return;
      case "SessionExtended": {
        const s = await this.get(id);
        if (!s) return;
        await sessions.extend(id, { additional: Number(a.additionalTime), deposited: (BigInt(s.deposited) + BigInt(a.cost)).toString(), newEndTime: Number(a.newEndTime) });
        if (s.state === "running") await this.transition(s, "renewing", "SessionExtended");
        return;
      }
      case "SessionRenewed": {
        const s = await this.get(id);
        if (!s) return;
        await sessions.renew(id, { period: Number(a.period), deposited: (BigInt(s.deposited) + BigInt(a.cost)).toString(), newEndTime: Number(a.newEndTime) });
        await this.store.autoRenewals.recordRenewal(id, { cost: a.cost, newEndTime: Number(a.newEndTime), budgetLeft: a.budgetLeft });
        if (s.state === "running") await this.transition(s, "renewing", `SessionRenewed for ${a.period} s`);
        return;
      }
      case "AutoRenewalSet":
        await this.store.autoRenewals.set(id, { period: Number(a.period), maxPerRenewal: a.maxPerRenewal, budget: a.budget, setBy: a.setBy });
        return;
      case "AutoRenewalStopped":
        await this.store.autoRenewals.stop(id);
        return;
      case "RenewalFailed":
        await this.store.autoRenewals.recordFailure(id, renewalFailureName(a.reason), true);
        this.log.warn({ instanceId: id, reason: renewalFailureName(a.reason) }, "renewal failed on chain: the session ends normally");
        return;
      case "EscrowClaimed": {
        const s = await this.get(id);
        if (!s) return;
        await sessions.setClaimed(id, (BigInt(s.claimed) + BigInt(a.amount)).toString());
        return;
      }
      case "SessionEnded": {
        const s = await this.get(id);
        if (!s) return;
        await sessions.endOnChain(id, (BigInt(s.claimed) + BigInt(a.paidToTreasury)).toString(), a.refunded);
        if (s.state === "failed") await this.transition(s, "refunded", "SessionEnded");
        else if (["requested", "provisioning", "running", "renewing"].includes(s.state)) await this.transition(s, "ending", `SessionEnded by ${a.endedBy}`);
        return;
      }
      default:
        return; // OutcomeRecorded, ComputeRequested, JobBatchRecorded, Withdrawn, RefundDeferred: audit only
    }
  }

  // ------------------------------------------------------------ state -> provider -> outcome

  /**
   * Payments reorged out of the chain for good (orphaned, and not mined again within `graceBlocks`
   * of the cursor): their sessions stop, with no outcome to record (the chain has no such session).
   */
  async compensateOrphans(cursor: number, graceBlocks: number): Promise<number> {
    const orphans = await this.store.events.orphanedPayments(cursor - graceBlocks);
    for (const o of orphans) {
      await this.store.tx(async () => {
        await this.store.events.markDropped(o.tx_hash, o.log_index);
        const s = await this.get(o.instance_id);
        if (!s || s.start_tx !== o.tx_hash) return;
        await this.store.sessions.retireWorkload(s, REORGED_OUT);
        await this.store.sessions.stopWorkload(s.instance_id, REORGED_OUT);
        await this.transition(s, "ended", REORGED_OUT);
      });
      this.log.error({ instanceId: o.instance_id, tx: o.tx_hash }, "session payment reorged out of the chain: workload stopped");
    }
    return orphans.length;
  }

  /** One pass over every session that still needs work. `chainTime` is the latest block's timestamp. */
  async reconcile(chainTime: number): Promise<void> {
    for (const w of await this.store.sessions.retiredWorkloads()) {
      const p = this.opts.failover && w.provider ? this.opts.failover.provider(w.provider) : this.opts.providerFor(w.provider_id);
      await p.terminate(w.workload_key);
      await this.store.sessions.markRetiredWorkloadTerminated(w.workload_key);
    }
    for (const s of await this.store.sessions.due(ACTIVE_STATES)) {
      try {
        await this.step(s, chainTime);
      } catch (err) {
        // A provider or RPC hiccup: leave the state as it is and try again on a later pass.
        this.log.warn({ instanceId: s.instance_id, state: s.state, err: (err as Error).message }, "session step failed; will retry");
        await this.store.sessions.retryAt(s.instance_id, now() + 2, (err as Error).message);
      }
    }
  }

  private async step(s: SessionRow, chainTime: number): Promise<void> {
    switch (s.state) {
      case "requested":
      case "provisioning":
        return this.provision(s);
      case "running":
        return this.watch(s, chainTime);
      case "renewing": {
        if (s.ends_at !== null) await this.provider(s).extend(s.workload_key, s.ends_at);
        await this.store.tx(async () => this.transition((await this.get(s.instance_id))!, "running", "workload extended"));
        return;
      }
      case "ending": {
        if (!s.workload_stopped) {
          await this.provider(s).terminate(s.workload_key);
          await this.store.sessions.markWorkloadStopped(s.instance_id);
        }
        await this.store.tx(async () => {
          const fresh = (await this.get(s.instance_id))!;
          if (fresh.ended_on_chain && fresh.state === "ending") await this.transition(fresh, "ended", "workload stopped, escrow settled");
        });
        return;
      }
      case "failed":
        if (!s.workload_stopped) {
          await this.provider(s).terminate(s.workload_key);
          await this.store.sessions.markWorkloadStopped(s.instance_id);
        }
        return; // refunded when SessionEnded arrives
      default:
        return;
    }
  }

  private async provision(s: SessionRow): Promise<void> {
    let spec;
    try {
      spec = parseWorkloadConfig(s.config);
    } catch (err) {
      if (err instanceof InvalidWorkloadConfig) return this.fail(s, `invalid config: ${err.message}`);
      throw err;
    }
    if (this.opts.failover) return this.provisionWithFailover(s, spec, this.opts.failover);
    const provider = this.provider(s);
    if (s.state === "requested") {
      await this.store.tx(async () => {
        await this.store.sessions.assignProvider(s.instance_id, provider.name);
        await this.store.sessions.countAttempt(s.instance_id);
        await this.transition((await this.get(s.instance_id))!, "provisioning", `provider ${provider.name}`);
      });
    } else {
      await this.store.sessions.countAttempt(s.instance_id);
    }
    this.hooks.onProvisionCall?.(s.instance_id, provider.name);
    try {
      const result = await provider.provision({ idempotencyKey: s.workload_key, spec, endsAt: s.ends_at ?? now() + s.duration });
      await this.store.tx(async () => {
        const fresh = (await this.get(s.instance_id))!;
        if (fresh.state !== "provisioning") return; // the agent ended it meanwhile: 'ending' terminates
        await this.store.sessions.markProvisioned(s.instance_id, result.ref);
        await this.transition(fresh, "running", result.created ? "provisioned" : "found existing workload");
        await this.enqueueOutcome(s.instance_id, OUTCOME.Running, `${provider.name}:${result.ref}`);
      });
    } catch (err) {
      const retryable = err instanceof ProvisionError ? err.retryable : true;
      const attempts = (await this.get(s.instance_id))?.attempts ?? 1;
      const timedOut = now() - s.created_at > this.opts.provisionTimeoutSeconds;
      if (retryable && attempts < (this.opts.maxAttempts ?? 5) && !timedOut) {
        this.log.warn({ instanceId: s.instance_id, attempts, err: (err as Error).message }, "provisioning failed; retrying");
        await this.store.sessions.retryAt(s.instance_id, now() + 2 ** attempts, (err as Error).message);
        return;
      }
      await provider.terminate(s.workload_key).catch(() => undefined);
      await this.fail(s, `provisioning failed: ${(err as Error).message}`);
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
      if (!choice) return this.fail(s, attempt ? `provisioning failed on every allowed provider: ${attempt.error ?? ""}` : "no allowed provider is configured and healthy");
      const begun = await this.store.tx(async () => {
        const fresh = (await this.get(s.instance_id))!;
        if (fresh.state !== "requested" && fresh.state !== "provisioning") return undefined; // ended meanwhile
        const a = await f.begin(s.instance_id, choice, this.opts.provisionTimeoutSeconds);
        await this.store.sessions.assignProvider(s.instance_id, choice.name);
        // A cloud provider is paid from now on: record Provisioning (once per session) so an agent
        // ending the pending session within the provisioning window pays for the time since.
        if (f.registry.isCloud(choice.name)) await this.enqueueOutcome(s.instance_id, OUTCOME.Provisioning, `${choice.name}:provisioning`);
        if (fresh.state === "requested") await this.transition(fresh, "provisioning", `provider ${choice.name}`);
        else await this.recordTransition(s.instance_id, fresh.state, fresh.state, `attempt ${a.seq}: provider ${choice.name}`);
        return a;
      });
      if (!begun) return;
      attempt = begun;
    } else if (s.state === "requested") {
      const name = attempt.provider;
      await this.store.tx(async () => this.transition((await this.get(s.instance_id))!, "provisioning", `provider ${name}`));
    }
    const provider = f.provider(attempt.provider);
    await this.store.sessions.countAttempt(s.instance_id);
    await f.countTry(attempt);
    this.hooks.onProvisionCall?.(s.instance_id, provider.name);
    const current = attempt;
    try {
      // Past the attempt's deadline the provider is not called again (the catch below gives it up).
      if (now() >= current.deadline_at) throw new Error(`${provider.name} provisioning: deadline passed`);
      const result = await withTimeout(
        provider.provision({ idempotencyKey: s.workload_key, spec, endsAt: s.ends_at ?? now() + s.duration }),
        (current.deadline_at - now()) * 1000,
        `${provider.name} provisioning`,
      );
      await this.store.tx(async () => {
        const fresh = (await this.get(s.instance_id))!;
        if (fresh.state !== "provisioning") return; // the agent ended it meanwhile: 'ending' terminates
        await f.markRunning(current);
        await this.store.sessions.markProvisioned(s.instance_id, result.ref);
        await this.transition(fresh, "running", result.created ? `provisioned on ${provider.name}` : `found existing workload on ${provider.name}`);
        await this.enqueueOutcome(s.instance_id, OUTCOME.Running, `${provider.name}:${result.ref}`);
      });
      await f.recordSuccess(provider.name);
    } catch (err) {
      const message = (err as Error).message;
      const retryable = err instanceof ProvisionError ? err.retryable : !/no answer within|deadline passed/.test(message);
      const tries = current.tries + 1;
      if (retryable && tries < (this.opts.maxAttempts ?? 5) && now() < current.deadline_at) {
        this.log.warn({ instanceId: s.instance_id, provider: provider.name, tries, err: message }, "provisioning failed; retrying on the same provider");
        const wait = Math.min(2 ** tries, Math.max(1, current.deadline_at - now()));
        await this.store.sessions.retryAt(s.instance_id, now() + wait, message);
        return;
      }
      await provider.terminate(s.workload_key).catch(() => undefined);
      await f.recordFailure(provider.name, message);
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
  private async failoverLostWorkload(s: SessionRow, detail: string): Promise<boolean> {
    const f = this.opts.failover;
    if (!f || !s.provider || !f.registry.isCloud(s.provider)) return false;
    let spec;
    try {
      spec = parseWorkloadConfig(s.config);
    } catch {
      return false;
    }
    const choice = await f.choose(s.provider_id, spec, Math.max(0, (s.ends_at ?? now()) - now()), await f.tried(s.instance_id));
    if (!choice) return false;
    await this.provider(s).terminate(s.workload_key).catch(() => undefined);
    await f.recordFailure(s.provider, `workload lost: ${detail}`);
    const lost = s.provider;
    await this.store.tx(async () => {
      const fresh = (await this.get(s.instance_id))!;
      if (fresh.state !== "running") return;
      const cur = await f.current(s.instance_id);
      if (cur) await f.stop(cur, "failed", `workload lost: ${detail}`);
      await f.begin(s.instance_id, choice, this.opts.provisionTimeoutSeconds);
      await this.store.sessions.moveToProvider(s.instance_id, choice.name, `${lost}: workload lost (${detail})`);
      await this.transition(fresh, "provisioning", `workload lost on ${lost} (${detail}): failing over to ${choice.name}`);
    });
    return true;
  }

  private async watch(s: SessionRow, chainTime: number): Promise<void> {
    await this.scheduleRenewal(s, chainTime);
    if (s.ends_at !== null && chainTime >= s.ends_at) {
      if (await this.renewalUnsettled(s)) return; // its result (SessionRenewed or RenewalFailed) decides
      await this.provider(s).terminate(s.workload_key);
      await this.store.tx(async () => {
        await this.store.sessions.markWorkloadStopped(s.instance_id);
        await this.transition((await this.get(s.instance_id))!, "ending", "paid time over");
        await this.enqueueOutcome(s.instance_id, OUTCOME.Completed, `${s.provider}:${s.workload_ref}`);
      });
      return;
    }
    const status = await this.provider(s).status(s.workload_key);
    if ((status.state === "failed" || status.state === "unknown") && (await this.failoverLostWorkload(s, status.detail ?? status.state))) return;
    if (status.state === "exited" || status.state === "failed" || status.state === "unknown") {
      // The workload is gone before its time: settle now so the agent gets the unused part back.
      await this.provider(s).terminate(s.workload_key);
      const detail = `workload ${status.state}${status.exitCode !== undefined ? ` (exit ${status.exitCode})` : ""}`;
      await this.store.tx(async () => {
        await this.store.sessions.markWorkloadStopped(s.instance_id);
        await this.transition((await this.get(s.instance_id))!, "failed", detail);
        await this.enqueueOutcome(s.instance_id, OUTCOME.Failed, detail);
      });
      return;
    }
    if (s.ends_at !== null && (s.last_claim_at === null || now() - s.last_claim_at >= this.opts.claimIntervalSeconds)) {
      const bucket = Math.floor(now() / this.opts.claimIntervalSeconds);
      await this.store.tx(async () => {
        await this.store.outbox.enqueue(`claim:${s.instance_id}:${bucket}`, "claim", s.instance_id, computeInterface.encodeFunctionData("claim", [s.instance_id]));
        await this.store.sessions.markClaimRequested(s.instance_id);
      });
    }
  }

  /** Enqueues this period's `renew` once the lead time before the end is reached (idempotent per end time). */
  private async scheduleRenewal(s: SessionRow, chainTime: number): Promise<void> {
    if (s.ends_at === null) return;
    const r = await this.store.autoRenewals.get(s.instance_id);
    if (!r || !r.enabled) return;
    const lead = Math.min(this.opts.renewalLeadSeconds ?? 300, r.period);
    if (chainTime < s.ends_at - lead) return;
    const key = renewalKey(s.instance_id, s.ends_at);
    if (await this.store.outbox.enqueue(key, "renew", s.instance_id, computeInterface.encodeFunctionData("renew", [s.instance_id]))) {
      this.log.info({ instanceId: s.instance_id, endsAt: s.ends_at, period: r.period }, "auto-renewal: renew enqueued");
    }
  }

  /** This period's renew is queued, in flight, or mined in a block whose events are not applied yet. */
  private async renewalUnsettled(s: SessionRow): Promise<boolean> {
    const a = await this.store.outbox.byKey(renewalKey(s.instance_id, s.ends_at!));
    if (!a) return false;
    if (a.state === "queued" || a.state === "sent") return true;
    if (a.state !== "mined") return false;
    return (await this.store.events.ingestedUpTo()) < a.mined_block! || (await this.store.events.unappliedOf(s.instance_id, a.mined_block!)) > 0;
  }

  private async fail(s: SessionRow, reason: string): Promise<void> {
    await this.store.tx(async () => {
      const fresh = (await this.get(s.instance_id))!;
      await this.store.sessions.stopWorkload(s.instance_id, reason);
      await this.transition(fresh, "failed", reason);
      await this.enqueueOutcome(s.instance_id, OUTCOME.Failed, reason.slice(0, 200));
    });
    this.log.warn({ instanceId: s.instance_id, reason }, "session failed; refund requested on chain");
  }

  /** Called when an outbox action settles (same database transaction). */
  async onActionSettled(action: ActionRow, ok: boolean): Promise<void> {
    if (!ok && action.kind === "renew" && action.instance_id) {
      // Not renewed (RenewalTooEarly, renewal stopped meanwhile, ...): recorded; the session ends normally.
      const reason = action.state === "reverted" ? "renew reverted on chain" : contractErrorName(action.error ?? "would revert");
      await this.store.autoRenewals.recordFailure(action.instance_id, reason, false);
      this.log.warn({ instanceId: action.instance_id, reason }, "auto-renewal: renew not sent; the session ends normally");
      return;
    }
    if (ok || action.kind !== "recordOutcome" || !action.instance_id) return;
    // An outcome that could not be recorded (the agent ended the session first, typically) changes
    // nothing here: the session follows the chain's SessionEnded event.
    this.log.info({ action: action.idempotency_key, state: action.state }, "outcome not recorded on chain");
  }

  private async enqueueOutcome(instanceId: string, outcome: number, ref: string): Promise<void> {
    const label = outcome === OUTCOME.Running ? "running" : outcome === OUTCOME.Failed ? "failed" : outcome === OUTCOME.Provisioning ? "provisioning" : "completed";
    await this.store.outbox.enqueue(`outcome:${instanceId}:${label}`, "recordOutcome", instanceId, computeInterface.encodeFunctionData("recordOutcome", [instanceId, outcome, ref]));
  }

  // ------------------------------------------------------------ helpers

  private provider(s: SessionRow): ComputeProvider {
    if (this.opts.failover && s.provider) return this.opts.failover.provider(s.provider);
    return this.opts.providerFor(s.provider_id);
  }

  get(instanceId: string): Promise<SessionRow | undefined> {
    return this.store.sessions.get(instanceId);
  }

  private async transition(s: SessionRow, to: SessionState, reason: string): Promise<void> {
    if (s.state === to) return;
    await this.store.sessions.setState(s.instance_id, to);
    // The workload stops on these: what the provider is owed stops accruing (cost records).
    if (["ending", "ended", "failed", "refunded"].includes(to)) await this.opts.failover?.stopSession(s.instance_id);
    await this.recordTransition(s.instance_id, s.state, to, reason);
  }

  private async recordTransition(instanceId: string, from: SessionState | null, to: SessionState, reason: string): Promise<void> {
    await this.store.sessions.recordTransition(instanceId, from, to, reason);
    this.hooks.onTransition?.(instanceId, from, to);
    this.log.info({ instanceId, from, to, reason }, "session transition");
  }
}

/** The outbox key of a session's renewal for the period ending at `endsAt`: one renew per period. */
export const renewalKey = (instanceId: string, endsAt: number): string => `renew:${instanceId}:${endsAt}`;
