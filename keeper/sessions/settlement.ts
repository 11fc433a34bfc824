/**
 * Settlement: the moves after the chain (or the provider) has decided. An extension or renewal is
 * carried to the workload; an ending session's workload is stopped and the session is `ended` once
 * SessionEnded has settled the escrow; a failed session's workload is stopped (it becomes `refunded`
 * when SessionEnded arrives). Also what an outbox action that did not go through means for a session.
 */
import type { Logger } from "pino";
import type { Store } from "../store/store";
import type { ActionRow } from "../store/outbox";
import type { SessionRow } from "../store/sessions";
import { contractErrorName } from "../chain/contracts";
import { SessionMoves } from "./transitions";

export class Settlement {
  constructor(private readonly moves: SessionMoves) {}

  private get store(): Store {
    return this.moves.store;
  }

  private get log(): Logger {
    return this.moves.log;
  }

  /** `renewing`: the workload runs until the new end, then the session is `running` again. */
  async carryExtension(s: SessionRow): Promise<void> {
    if (s.ends_at !== null) await this.moves.provider(s).extend(s.workload_key, s.ends_at);
    await this.store.tx(async () => this.moves.transition((await this.moves.get(s.instance_id))!, "running", "workload extended"));
  }

  /** `ending`: the workload stops; `ended` once the chain's SessionEnded has settled the escrow. */
  async finishEnding(s: SessionRow): Promise<void> {
    await this.stopWorkload(s);
    await this.store.tx(async () => {
      const fresh = (await this.moves.get(s.instance_id))!;
      if (fresh.ended_on_chain && fresh.state === "ending") await this.moves.transition(fresh, "ended", "workload stopped, escrow settled");
    });
  }

  /** `failed`: the workload stops; refunded when SessionEnded arrives. */
  async stopFailed(s: SessionRow): Promise<void> {
    await this.stopWorkload(s);
  }

  private async stopWorkload(s: SessionRow): Promise<void> {
    if (s.workload_stopped) return;
    await this.moves.provider(s).terminate(s.workload_key);
    await this.store.sessions.markWorkloadStopped(s.instance_id);
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
}
