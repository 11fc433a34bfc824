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
import { DB, now } from "../store/db";
import { enqueueAction, ActionRow } from "../chain/txSender";
import { computeInterface, contractErrorName, OUTCOME, renewalFailureName } from "../chain/contracts";
import {
  actionByKey,
  getAutoRenewal,
  ingestedUpTo,
  recordRenewal,
  recordRenewalFailure,
  setAutoRenewal,
  stopAutoRenewal,
  unappliedEvents,
} from "../store/autoRenewal";
import type { ComputeProvider } from "../providers/provider";
import { ProvisionError } from "../providers/provider";
import { InvalidWorkloadConfig, parseWorkloadConfig } from "./workloadSpec";
import { Failover, withTimeout } from "./failover";

export type SessionState = "requested" | "provisioning" | "running" | "renewing" | "ending" | "ended" | "failed" | "refunded";

export interface SessionRow {
  instance_id: string;
  agent: string;
  provider_id: number;
  provider: string | null;
  state: SessionState;
  duration: number;
  deposited: string;
  claimed: string;
  refunded: string;
  config: string;
  ends_at: number | null;
  ended_on_chain: number;
  workload_stopped: number;
  last_claim_at: number | null;
  next_attempt_at: number;
  workload_ref: string | null;
  attempts: number;
  last_error: string | null;
  started_block: number;
  start_tx: string;
  workload_key: string;
  created_at: number;
  updated_at: number;
}

interface EventRow {
  tx_hash: string;
  log_index: number;
  block_number: number;
  name: string;
  instance_id: string | null;
  args: string;
}

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
    private readonly db: DB,
    private readonly opts: LifecycleOptions,
    private readonly log: Logger,
    private readonly hooks: LifecycleHooks = {},
  ) {}

  // ------------------------------------------------------------ events -> state

  /**
   * Applies ingested events not yet applied, in chain order. A batch is one transaction: a crash
   * leaves all of it applied or none of it, and each event's status makes applying it again a no-op.
   */
  applyEvents(limit = 2_000): number {
    const events = this.db
      .prepare("SELECT * FROM events WHERE status = 'new' ORDER BY block_number, log_index LIMIT ?")
      .all(limit) as EventRow[];
    const markApplied = this.db.prepare("UPDATE events SET status = 'applied', applied_at = ? WHERE tx_hash = ? AND log_index = ? AND status = 'new'");
    this.db.transaction(() => {
      for (const ev of events) {
        if (markApplied.run(now(), ev.tx_hash, ev.log_index).changes === 0) continue;
        this.apply(ev);
      }
    })();
    return events.length;
  }

  private apply(ev: EventRow): void {
    const a = JSON.parse(ev.args) as Record<string, string>;
    const id = ev.instance_id;
    switch (ev.name) {
      case "SessionStarted": {
        const existing = this.get(id!);
        if (existing && existing.start_tx !== ev.tx_hash) {
          // A deep reorg let another payment reuse this instance id: the old one is off the chain.
          this.retireWorkload(existing, "instance id reused after a reorg");
          this.db.prepare("DELETE FROM sessions WHERE instance_id = ?").run(id);
        } else if (existing) {
          // The same payment, mined again after a reorg that had dropped it: serve it again.
          if (existing.last_error === REORGED_OUT) {
            this.db.prepare("UPDATE sessions SET last_error = NULL, workload_stopped = 0, updated_at = ? WHERE instance_id = ?").run(now(), id);
            this.transition(existing, "requested", "payment mined again after a reorg");
          }
          return;
        }
        const t = now();
        const workloadKey = `s-${id!.slice(2)}-${ev.tx_hash.slice(2, 14)}`;
        this.db
          .prepare(
            `INSERT INTO sessions (instance_id, agent, provider_id, state, duration, deposited, config, started_block, start_tx, workload_key, created_at, updated_at)
             VALUES (?, ?, ?, 'requested', ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(id, a.agent, Number(a.provider), Number(a.duration), a.cost, a.config, ev.block_number, ev.tx_hash, workloadKey, t, t);
        this.recordTransition(id!, null, "requested", "SessionStarted");
        return;
      }
      case "SessionActivated":
        this.db.prepare("UPDATE sessions SET ends_at = ?, updated_at = ? WHERE instance_id = ?").run(Number(a.endTime), now(), id);
        return;
      case "SessionExtended": {
        const s = this.get(id!);
        if (!s) return;
        this.db
          .prepare("UPDATE sessions SET duration = duration + ?, deposited = ?, ends_at = CASE WHEN ends_at IS NULL THEN NULL ELSE ? END, updated_at = ? WHERE instance_id = ?")
          .run(Number(a.additionalTime), (BigInt(s.deposited) + BigInt(a.cost)).toString(), Number(a.newEndTime), now(), id);
        if (s.state === "running") this.transition(s, "renewing", "SessionExtended");
        return;
      }
      case "SessionRenewed": {
        const s = this.get(id!);
        if (!s) return;
        this.db
          .prepare("UPDATE sessions SET duration = duration + ?, deposited = ?, ends_at = ?, updated_at = ? WHERE instance_id = ?")
          .run(Number(a.period), (BigInt(s.deposited) + BigInt(a.cost)).toString(), Number(a.newEndTime), now(), id);
        recordRenewal(this.db, id!, { cost: a.cost, newEndTime: Number(a.newEndTime), budgetLeft: a.budgetLeft });
        if (s.state === "running") this.transition(s, "renewing", `SessionRenewed for ${a.period} s`);
        return;
      }
      case "AutoRenewalSet":
        setAutoRenewal(this.db, id!, { period: Number(a.period), maxPerRenewal: a.maxPerRenewal, budget: a.budget, setBy: a.setBy });
        return;
      case "AutoRenewalStopped":
        stopAutoRenewal(this.db, id!);
        return;
      case "RenewalFailed":
        recordRenewalFailure(this.db, id!, renewalFailureName(a.reason), true);
        this.log.warn({ instanceId: id, reason: renewalFailureName(a.reason) }, "renewal failed on chain: the session ends normally");
        return;
      case "EscrowClaimed": {
        const s = this.get(id!);
        if (!s) return;
        this.db.prepare("UPDATE sessions SET claimed = ?, updated_at = ? WHERE instance_id = ?").run((BigInt(s.claimed) + BigInt(a.amount)).toString(), now(), id);
        return;
      }
      case "SessionEnded": {
        const s = this.get(id!);
        if (!s) return;
        this.db
          .prepare("UPDATE sessions SET ended_on_chain = 1, claimed = ?, refunded = ?, updated_at = ? WHERE instance_id = ?")
          .run((BigInt(s.claimed) + BigInt(a.paidToTreasury)).toString(), a.refunded, now(), id);
        if (s.state === "failed") this.transition(s, "refunded", "SessionEnded");
        else if (["requested", "provisioning", "running", "renewing"].includes(s.state)) this.transition(s, "ending", `SessionEnded by ${a.endedBy}`);
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
  compensateOrphans(cursor: number, graceBlocks: number): number {
    const orphans = this.db
      .prepare("SELECT tx_hash, log_index, instance_id FROM events WHERE name = 'SessionStarted' AND status = 'orphaned' AND applied_at IS NOT NULL AND block_number + ? <= ?")
      .all(graceBlocks, cursor) as { tx_hash: string; log_index: number; instance_id: string }[];
    for (const o of orphans) {
      this.db.transaction(() => {
        this.db.prepare("UPDATE events SET status = 'dropped' WHERE tx_hash = ? AND log_index = ?").run(o.tx_hash, o.log_index);
        const s = this.get(o.instance_id);
        if (!s || s.start_tx !== o.tx_hash) return;
        this.retireWorkload(s, REORGED_OUT);
        this.db.prepare("UPDATE sessions SET last_error = ?, workload_stopped = 1, updated_at = ? WHERE instance_id = ?").run(REORGED_OUT, now(), s.instance_id);
        this.transition(s, "ended", REORGED_OUT);
      })();
      this.log.error({ instanceId: o.instance_id, tx: o.tx_hash }, "session payment reorged out of the chain: workload stopped");
    }
    return orphans.length;
  }

  private retireWorkload(s: SessionRow, reason: string): void {
    this.db
      .prepare("INSERT INTO orphaned_workloads (workload_key, provider_id, reason, provider) VALUES (?, ?, ?, ?) ON CONFLICT (workload_key) DO NOTHING")
      .run(s.workload_key, s.provider_id, reason, s.provider);
  }

  /** One pass over every session that still needs work. `chainTime` is the latest block's timestamp. */
  async reconcile(chainTime: number): Promise<void> {
    const retired = this.db.prepare("SELECT workload_key, provider_id, provider FROM orphaned_workloads WHERE done = 0").all() as { workload_key: string; provider_id: number; provider: string | null }[];
    for (const w of retired) {
      const p = this.opts.failover && w.provider ? this.opts.failover.provider(w.provider) : this.opts.providerFor(w.provider_id);
      await p.terminate(w.workload_key);
      this.db.prepare("UPDATE orphaned_workloads SET done = 1 WHERE workload_key = ?").run(w.workload_key);
    }
    const sessions = this.db
      .prepare(`SELECT * FROM sessions WHERE state IN (${ACTIVE_STATES.map(() => "?").join(",")}) AND next_attempt_at <= ? ORDER BY created_at`)
      .all(...ACTIVE_STATES, now()) as SessionRow[];
    for (const s of sessions) {
      try {
        await this.step(s, chainTime);
      } catch (err) {
        // A provider or RPC hiccup: leave the state as it is and try again on a later pass.
        this.log.warn({ instanceId: s.instance_id, state: s.state, err: (err as Error).message }, "session step failed; will retry");
        this.db.prepare("UPDATE sessions SET next_attempt_at = ?, last_error = ? WHERE instance_id = ?").run(now() + 2, (err as Error).message, s.instance_id);
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
        this.db.transaction(() => this.transition(this.get(s.instance_id)!, "running", "workload extended"))();
        return;
      }
      case "ending": {
        if (!s.workload_stopped) {
          await this.provider(s).terminate(s.workload_key);
          this.db.prepare("UPDATE sessions SET workload_stopped = 1, updated_at = ? WHERE instance_id = ?").run(now(), s.instance_id);
        }
        this.db.transaction(() => {
          const fresh = this.get(s.instance_id)!;
          if (fresh.ended_on_chain && fresh.state === "ending") this.transition(fresh, "ended", "workload stopped, escrow settled");
        })();
        return;
      }
      case "failed":
        if (!s.workload_stopped) {
          await this.provider(s).terminate(s.workload_key);
          this.db.prepare("UPDATE sessions SET workload_stopped = 1, updated_at = ? WHERE instance_id = ?").run(now(), s.instance_id);
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
      this.db.transaction(() => {
        this.db.prepare("UPDATE sessions SET provider = ?, attempts = attempts + 1, updated_at = ? WHERE instance_id = ?").run(provider.name, now(), s.instance_id);
        this.transition(this.get(s.instance_id)!, "provisioning", `provider ${provider.name}`);
      })();
    } else {
      this.db.prepare("UPDATE sessions SET attempts = attempts + 1 WHERE instance_id = ?").run(s.instance_id);
    }
    this.hooks.onProvisionCall?.(s.instance_id, provider.name);
    try {
      const result = await provider.provision({ idempotencyKey: s.workload_key, spec, endsAt: s.ends_at ?? now() + s.duration });
      this.db.transaction(() => {
        const fresh = this.get(s.instance_id)!;
        if (fresh.state !== "provisioning") return; // the agent ended it meanwhile: 'ending' terminates
        this.db.prepare("UPDATE sessions SET workload_ref = ?, last_error = NULL, updated_at = ? WHERE instance_id = ?").run(result.ref, now(), s.instance_id);
        this.transition(fresh, "running", result.created ? "provisioned" : "found existing workload");
        this.enqueueOutcome(s.instance_id, OUTCOME.Running, `${provider.name}:${result.ref}`);
      })();
    } catch (err) {
      const retryable = err instanceof ProvisionError ? err.retryable : true;
      const attempts = (this.get(s.instance_id)?.attempts ?? 1);
      const timedOut = now() - s.created_at > this.opts.provisionTimeoutSeconds;
      if (retryable && attempts < (this.opts.maxAttempts ?? 5) && !timedOut) {
        this.log.warn({ instanceId: s.instance_id, attempts, err: (err as Error).message }, "provisioning failed; retrying");
        this.db.prepare("UPDATE sessions SET next_attempt_at = ?, last_error = ? WHERE instance_id = ?").run(now() + 2 ** attempts, (err as Error).message, s.instance_id);
        return;
      }
      await provider.terminate(s.workload_key).catch(() => undefined);
      this.fail(s, `provisioning failed: ${(err as Error).message}`);
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
    let attempt = f.current(s.instance_id);
    if (!attempt || attempt.state === "failed" || attempt.state === "stopped") {
      const choice = await f.choose(s.provider_id, spec, s.duration, f.tried(s.instance_id));
      if (!choice) return this.fail(s, attempt ? `provisioning failed on every allowed provider: ${attempt.error ?? ""}` : "no allowed provider is configured and healthy");
      let begun = false;
      this.db.transaction(() => {
        const fresh = this.get(s.instance_id)!;
        if (fresh.state !== "requested" && fresh.state !== "provisioning") return; // ended meanwhile
        begun = true;
        const a = f.begin(s.instance_id, choice, this.opts.provisionTimeoutSeconds);
        this.db.prepare("UPDATE sessions SET provider = ?, updated_at = ? WHERE instance_id = ?").run(choice.name, now(), s.instance_id);
        // A cloud provider is paid from now on: record Provisioning (once per session) so an agent
        // ending the pending session within the provisioning window pays for the time since.
        if (f.registry.isCloud(choice.name)) this.enqueueOutcome(s.instance_id, OUTCOME.Provisioning, `${choice.name}:provisioning`);
        if (fresh.state === "requested") this.transition(fresh, "provisioning", `provider ${choice.name}`);
        else this.recordTransition(s.instance_id, fresh.state, fresh.state, `attempt ${a.seq}: provider ${choice.name}`);
      })();
      if (!begun) return;
      attempt = f.current(s.instance_id)!;
    } else if (s.state === "requested") {
      this.db.transaction(() => this.transition(this.get(s.instance_id)!, "provisioning", `provider ${attempt!.provider}`))();
    }
    const provider = f.provider(attempt.provider);
    this.db.prepare("UPDATE sessions SET attempts = attempts + 1 WHERE instance_id = ?").run(s.instance_id);
    f.countTry(attempt);
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
      this.db.transaction(() => {
        const fresh = this.get(s.instance_id)!;
        if (fresh.state !== "provisioning") return; // the agent ended it meanwhile: 'ending' terminates
        f.markRunning(current);
        this.db.prepare("UPDATE sessions SET workload_ref = ?, last_error = NULL, updated_at = ? WHERE instance_id = ?").run(result.ref, now(), s.instance_id);
        this.transition(fresh, "running", result.created ? `provisioned on ${provider.name}` : `found existing workload on ${provider.name}`);
        this.enqueueOutcome(s.instance_id, OUTCOME.Running, `${provider.name}:${result.ref}`);
      })();
      f.recordSuccess(provider.name);
    } catch (err) {
      const message = (err as Error).message;
      const retryable = err instanceof ProvisionError ? err.retryable : !/no answer within|deadline passed/.test(message);
      const tries = current.tries + 1;
      if (retryable && tries < (this.opts.maxAttempts ?? 5) && now() < current.deadline_at) {
        this.log.warn({ instanceId: s.instance_id, provider: provider.name, tries, err: message }, "provisioning failed; retrying on the same provider");
        const wait = Math.min(2 ** tries, Math.max(1, current.deadline_at - now()));
        this.db.prepare("UPDATE sessions SET next_attempt_at = ?, last_error = ? WHERE instance_id = ?").run(now() + wait, message, s.instance_id);
        return;
      }
      await provider.terminate(s.workload_key).catch(() => undefined);
      f.recordFailure(provider.name, message);
      this.db.transaction(() => {
        f.markFailed(current, message);
        this.db.prepare("UPDATE sessions SET next_attempt_at = 0, last_error = ? WHERE instance_id = ?").run(`${provider.name}: ${message}`, s.instance_id);
      })();
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
    const choice = await f.choose(s.provider_id, spec, Math.max(0, (s.ends_at ?? now()) - now()), f.tried(s.instance_id));
    if (!choice) return false;
    await this.provider(s).terminate(s.workload_key).catch(() => undefined);
    f.recordFailure(s.provider, `workload lost: ${detail}`);
    this.db.transaction(() => {
      const fresh = this.get(s.instance_id)!;
      if (fresh.state !== "running") return;
      const cur = f.current(s.instance_id);
      if (cur) f.stop(cur, "failed", `workload lost: ${detail}`);
      f.begin(s.instance_id, choice, this.opts.provisionTimeoutSeconds);
      this.db.prepare("UPDATE sessions SET provider = ?, workload_ref = NULL, next_attempt_at = 0, last_error = ?, updated_at = ? WHERE instance_id = ?").run(choice.name, `${s.provider}: workload lost (${detail})`, now(), s.instance_id);
      this.transition(fresh, "provisioning", `workload lost on ${s.provider} (${detail}): failing over to ${choice.name}`);
    })();
    return true;
  }

  private async watch(s: SessionRow, chainTime: number): Promise<void> {
    this.scheduleRenewal(s, chainTime);
    if (s.ends_at !== null && chainTime >= s.ends_at) {
      if (this.renewalUnsettled(s)) return; // its result (SessionRenewed or RenewalFailed) decides
      await this.provider(s).terminate(s.workload_key);
      this.db.transaction(() => {
        this.db.prepare("UPDATE sessions SET workload_stopped = 1 WHERE instance_id = ?").run(s.instance_id);
        this.transition(this.get(s.instance_id)!, "ending", "paid time over");
        this.enqueueOutcome(s.instance_id, OUTCOME.Completed, `${s.provider}:${s.workload_ref}`);
      })();
      return;
    }
    const status = await this.provider(s).status(s.workload_key);
    if ((status.state === "failed" || status.state === "unknown") && (await this.failoverLostWorkload(s, status.detail ?? status.state))) return;
    if (status.state === "exited" || status.state === "failed" || status.state === "unknown") {
      // The workload is gone before its time: settle now so the agent gets the unused part back.
      await this.provider(s).terminate(s.workload_key);
      this.db.transaction(() => {
        this.db.prepare("UPDATE sessions SET workload_stopped = 1 WHERE instance_id = ?").run(s.instance_id);
        const detail = `workload ${status.state}${status.exitCode !== undefined ? ` (exit ${status.exitCode})` : ""}`;
        this.transition(this.get(s.instance_id)!, "failed", detail);
        this.enqueueOutcome(s.instance_id, OUTCOME.Failed, detail);
      })();
      return;
    }
    if (s.ends_at !== null && (s.last_claim_at === null || now() - s.last_claim_at >= this.opts.claimIntervalSeconds)) {
      const bucket = Math.floor(now() / this.opts.claimIntervalSeconds);
      this.db.transaction(() => {
        enqueueAction(this.db, `claim:${s.instance_id}:${bucket}`, "claim", s.instance_id, computeInterface.encodeFunctionData("claim", [s.instance_id]));
        this.db.prepare("UPDATE sessions SET last_claim_at = ? WHERE instance_id = ?").run(now(), s.instance_id);
      })();
    }
  }

  /** Enqueues this period's `renew` once the lead time before the end is reached (idempotent per end time). */
  private scheduleRenewal(s: SessionRow, chainTime: number): void {
    if (s.ends_at === null) return;
    const r = getAutoRenewal(this.db, s.instance_id);
    if (!r || !r.enabled) return;
    const lead = Math.min(this.opts.renewalLeadSeconds ?? 300, r.period);
    if (chainTime < s.ends_at - lead) return;
    const key = renewalKey(s.instance_id, s.ends_at);
    if (enqueueAction(this.db, key, "renew", s.instance_id, computeInterface.encodeFunctionData("renew", [s.instance_id]))) {
      this.log.info({ instanceId: s.instance_id, endsAt: s.ends_at, period: r.period }, "auto-renewal: renew enqueued");
    }
  }

  /** This period's renew is queued, in flight, or mined in a block whose events are not applied yet. */
  private renewalUnsettled(s: SessionRow): boolean {
    const a = actionByKey(this.db, renewalKey(s.instance_id, s.ends_at!));
    if (!a) return false;
    if (a.state === "queued" || a.state === "sent") return true;
    if (a.state !== "mined") return false;
    return ingestedUpTo(this.db) < a.mined_block! || unappliedEvents(this.db, s.instance_id, a.mined_block!) > 0;
  }

  private fail(s: SessionRow, reason: string): void {
    this.db.transaction(() => {
      const fresh = this.get(s.instance_id)!;
      this.db.prepare("UPDATE sessions SET last_error = ?, workload_stopped = 1 WHERE instance_id = ?").run(reason, s.instance_id);
      this.transition(fresh, "failed", reason);
      this.enqueueOutcome(s.instance_id, OUTCOME.Failed, reason.slice(0, 200));
    })();
    this.log.warn({ instanceId: s.instance_id, reason }, "session failed; refund requested on chain");
  }

  /** Called when an outbox action settles (same database transaction). */
  onActionSettled(action: ActionRow, ok: boolean): void {
    if (!ok && action.kind === "renew" && action.instance_id) {
      // Not renewed (RenewalTooEarly, renewal stopped meanwhile, ...): recorded; the session ends normally.
      const reason = action.state === "reverted" ? "renew reverted on chain" : contractErrorName(action.error ?? "would revert");
      recordRenewalFailure(this.db, action.instance_id, reason, false);
      this.log.warn({ instanceId: action.instance_id, reason }, "auto-renewal: renew not sent; the session ends normally");
      return;
    }
    if (ok || action.kind !== "recordOutcome" || !action.instance_id) return;
    // An outcome that could not be recorded (the agent ended the session first, typically) changes
    // nothing here: the session follows the chain's SessionEnded event.
    this.log.info({ action: action.idempotency_key, state: action.state }, "outcome not recorded on chain");
  }

  private enqueueOutcome(instanceId: string, outcome: number, ref: string): void {
    const label = outcome === OUTCOME.Running ? "running" : outcome === OUTCOME.Failed ? "failed" : outcome === OUTCOME.Provisioning ? "provisioning" : "completed";
    enqueueAction(
      this.db,
      `outcome:${instanceId}:${label}`,
      "recordOutcome",
      instanceId,
      computeInterface.encodeFunctionData("recordOutcome", [instanceId, outcome, ref]),
    );
  }

  // ------------------------------------------------------------ helpers

  private provider(s: SessionRow): ComputeProvider {
    if (this.opts.failover && s.provider) return this.opts.failover.provider(s.provider);
    return this.opts.providerFor(s.provider_id);
  }

  get(instanceId: string): SessionRow | undefined {
    return this.db.prepare("SELECT * FROM sessions WHERE instance_id = ?").get(instanceId) as SessionRow | undefined;
  }

  private transition(s: SessionRow, to: SessionState, reason: string): void {
    if (s.state === to) return;
    this.db.prepare("UPDATE sessions SET state = ?, updated_at = ? WHERE instance_id = ?").run(to, now(), s.instance_id);
    // The workload stops on these: what the provider is owed stops accruing (cost records).
    if (["ending", "ended", "failed", "refunded"].includes(to)) this.opts.failover?.stopSession(s.instance_id);
    this.recordTransition(s.instance_id, s.state, to, reason);
  }

  private recordTransition(instanceId: string, from: SessionState | null, to: SessionState, reason: string): void {
    this.db
      .prepare("INSERT INTO session_transitions (instance_id, from_state, to_state, reason, at) VALUES (?, ?, ?, ?, ?)")
      .run(instanceId, from, to, reason, now());
    this.hooks.onTransition?.(instanceId, from, to);
    this.log.info({ instanceId, from, to, reason }, "session transition");
  }
}

/** The outbox key of a session's renewal for the period ending at `endsAt`: one renew per period. */
export const renewalKey = (instanceId: string, endsAt: number): string => `renew:${instanceId}:${endsAt}`;
