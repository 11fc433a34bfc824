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
 *
 * This file drives the parts, one concept each: applyEvents.ts (events -> state, reorg compensation),
 * provisioning.ts (the one provisioning path, with failover), watch.ts (running sessions, claims,
 * auto-renewal), settlement.ts (extensions carried out, workloads stopped, outbox results); the moves
 * they share are in transitions.ts.
 */
import type { Logger } from "pino";
import { now } from "../clock";
import type { Store } from "../store/store";
import type { ActionRow } from "../store/outbox";
import type { SessionRow, SessionState } from "../store/sessions";
import { EventApplier } from "./applyEvents";
import { Provisioning } from "./provisioning";
import { Settlement } from "./settlement";
import { LifecycleHooks, LifecycleOptions, SessionMoves } from "./transitions";
import { SessionWatch } from "./watch";

export type { SessionRow, SessionState } from "../store/sessions";
export type { LifecycleHooks, LifecycleOptions } from "./transitions";
export { renewalKey } from "./watch";

const ACTIVE_STATES: SessionState[] = ["requested", "provisioning", "running", "renewing", "ending", "failed"];

export class SessionLifecycle {
  private readonly moves: SessionMoves;
  private readonly events: EventApplier;
  private readonly provisioning: Provisioning;
  private readonly watching: SessionWatch;
  private readonly settlement: Settlement;

  constructor(
    private readonly store: Store,
    private readonly opts: LifecycleOptions,
    private readonly log: Logger,
    hooks: LifecycleHooks = {},
  ) {
    this.moves = new SessionMoves(store, opts, log, hooks);
    this.events = new EventApplier(this.moves);
    this.provisioning = new Provisioning(this.moves);
    this.watching = new SessionWatch(this.moves, this.provisioning);
    this.settlement = new Settlement(this.moves);
  }

  /** Applies ingested events not yet applied, in chain order (one transaction per batch). */
  applyEvents(limit = 2_000): Promise<number> {
    return this.events.applyEvents(limit);
  }

  /** Stops sessions whose payment was reorged out of the chain for good. */
  compensateOrphans(cursor: number, graceBlocks: number): Promise<number> {
    return this.events.compensateOrphans(cursor, graceBlocks);
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
        return this.provisioning.provision(s);
      case "running":
        return this.watching.watch(s, chainTime);
      case "renewing":
        return this.settlement.carryExtension(s);
      case "ending":
        return this.settlement.finishEnding(s);
      case "failed":
        return this.settlement.stopFailed(s);
      default:
        return;
    }
  }

  /** Called when an outbox action settles (same database transaction). */
  onActionSettled(action: ActionRow, ok: boolean): Promise<void> {
    return this.settlement.onActionSettled(action, ok);
  }

  get(instanceId: string): Promise<SessionRow | undefined> {
    return this.moves.get(instanceId);
  }
}
