/**
 * What every part of the session state machine shares: its options, the moves between states (each
 * recorded in session_transitions, and stopping provider cost where the workload stops), the outcome
 * a move reports on chain, and which provider serves a session. The parts themselves are
 * applyEvents.ts (events -> state), provisioning.ts, watch.ts and settlement.ts; lifecycle.ts drives them.
 */
import type { Logger } from "pino";
import type { Store } from "../store/store";
import type { SessionRow, SessionState } from "../store/sessions";
import { computeInterface, OUTCOME } from "../chain/contracts";
import type { ComputeProvider } from "../providers/provider";
import type { Failover } from "./failover";

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

/** Why a session whose payment left the chain stopped (also how a revived one is recognised). */
export const REORGED_OUT = "payment reorged out of the chain";

export class SessionMoves {
  constructor(
    readonly store: Store,
    readonly opts: LifecycleOptions,
    readonly log: Logger,
    readonly hooks: LifecycleHooks,
  ) {}

  get(instanceId: string): Promise<SessionRow | undefined> {
    return this.store.sessions.get(instanceId);
  }

  /** The provider the session runs on (failover's choice), else the one its on-chain id names. */
  provider(s: SessionRow): ComputeProvider {
    if (this.opts.failover && s.provider) return this.opts.failover.provider(s.provider);
    return this.opts.providerFor(s.provider_id);
  }

  /** Moves `s` (as read in the caller's transaction) to `to`; no-op when it is there already. */
  async transition(s: SessionRow, to: SessionState, reason: string): Promise<void> {
    if (s.state === to) return;
    await this.store.sessions.setState(s.instance_id, to);
    // The workload stops on these: what the provider is owed stops accruing (cost records).
    if (["ending", "ended", "failed", "refunded"].includes(to)) await this.opts.failover?.stopSession(s.instance_id);
    await this.recordTransition(s.instance_id, s.state, to, reason);
  }

  async recordTransition(instanceId: string, from: SessionState | null, to: SessionState, reason: string): Promise<void> {
    await this.store.sessions.recordTransition(instanceId, from, to, reason);
    this.hooks.onTransition?.(instanceId, from, to);
    this.log.info({ instanceId, from, to, reason }, "session transition");
  }

  /** Enqueues the session's outcome for the chain (once per kind of outcome; call inside the move's transaction). */
  async enqueueOutcome(instanceId: string, outcome: number, ref: string): Promise<void> {
    const label =
      outcome === OUTCOME.Running
        ? "running"
        : outcome === OUTCOME.Failed
          ? "failed"
          : outcome === OUTCOME.Provisioning
            ? "provisioning"
            : "completed";
    await this.store.outbox.enqueue(
      `outcome:${instanceId}:${label}`,
      "recordOutcome",
      instanceId,
      computeInterface.encodeFunctionData("recordOutcome", [instanceId, outcome, ref]),
    );
  }

  /** The session cannot be served: failed, with a Failed outcome so the chain refunds the agent. */
  async fail(s: SessionRow, reason: string): Promise<void> {
    await this.store.tx(async () => {
      const fresh = (await this.get(s.instance_id))!;
      await this.store.sessions.stopWorkload(s.instance_id, reason);
      await this.transition(fresh, "failed", reason);
      await this.enqueueOutcome(s.instance_id, OUTCOME.Failed, reason.slice(0, 200));
    });
    this.log.warn({ instanceId: s.instance_id, reason }, "session failed; refund requested on chain");
  }
}
