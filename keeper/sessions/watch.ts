/**
 * Watching a running session: paid time over -> ending with a Completed outcome; workload gone
 * early -> failover to another provider, or failed with a Failed outcome (the agent is refunded the
 * rest); otherwise a periodic claim of the escrow. Auto-renewal: a running session whose renewal is
 * on gets one `renew` action, keyed by its current end time, `renewalLeadSeconds` (at most one period)
 * before it ends; its paid time is not declared over while that action is unsettled or mined but not
 * yet ingested.
 */
import type { Logger } from "pino";
import { now } from "../clock";
import type { Store } from "../store/store";
import type { SessionRow } from "../store/sessions";
import { computeInterface, OUTCOME } from "../chain/contracts";
import type { Provisioning } from "./provisioning";
import { SessionMoves } from "./transitions";

/** The outbox key of a session's renewal for the period ending at `endsAt`: one renew per period. */
export const renewalKey = (instanceId: string, endsAt: number): string => `renew:${instanceId}:${endsAt}`;

export class SessionWatch {
  constructor(
    private readonly moves: SessionMoves,
    private readonly provisioning: Provisioning,
  ) {}

  private get store(): Store {
    return this.moves.store;
  }

  private get log(): Logger {
    return this.moves.log;
  }

  async watch(s: SessionRow, chainTime: number): Promise<void> {
    await this.scheduleRenewal(s, chainTime);
    if (s.ends_at !== null && chainTime >= s.ends_at) {
      if (await this.renewalUnsettled(s)) return; // its result (SessionRenewed or RenewalFailed) decides
      await this.moves.provider(s).terminate(s.workload_key);
      await this.store.tx(async () => {
        await this.store.sessions.markWorkloadStopped(s.instance_id);
        await this.moves.transition((await this.moves.get(s.instance_id))!, "ending", "paid time over");
        await this.moves.enqueueOutcome(s.instance_id, OUTCOME.Completed, `${s.provider}:${s.workload_ref}`);
      });
      return;
    }
    const status = await this.moves.provider(s).status(s.workload_key);
    if (
      (status.state === "failed" || status.state === "unknown") &&
      (await this.provisioning.failoverLostWorkload(s, status.detail ?? status.state))
    )
      return;
    if (status.state === "exited" || status.state === "failed" || status.state === "unknown") {
      // The workload is gone before its time: settle now so the agent gets the unused part back.
      await this.moves.provider(s).terminate(s.workload_key);
      const detail = `workload ${status.state}${status.exitCode !== undefined ? ` (exit ${status.exitCode})` : ""}`;
      await this.store.tx(async () => {
        await this.store.sessions.markWorkloadStopped(s.instance_id);
        await this.moves.transition((await this.moves.get(s.instance_id))!, "failed", detail);
        await this.moves.enqueueOutcome(s.instance_id, OUTCOME.Failed, detail);
      });
      return;
    }
    if (s.ends_at !== null && (s.last_claim_at === null || now() - s.last_claim_at >= this.moves.opts.claimIntervalSeconds)) {
      const bucket = Math.floor(now() / this.moves.opts.claimIntervalSeconds);
      await this.store.tx(async () => {
        await this.store.outbox.enqueue(
          `claim:${s.instance_id}:${bucket}`,
          "claim",
          s.instance_id,
          computeInterface.encodeFunctionData("claim", [s.instance_id]),
        );
        await this.store.sessions.markClaimRequested(s.instance_id);
      });
    }
  }

  /** Enqueues this period's `renew` once the lead time before the end is reached (idempotent per end time). */
  private async scheduleRenewal(s: SessionRow, chainTime: number): Promise<void> {
    if (s.ends_at === null) return;
    const r = await this.store.autoRenewals.get(s.instance_id);
    if (!r || !r.enabled) return;
    const lead = Math.min(this.moves.opts.renewalLeadSeconds ?? 300, r.period);
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
    return (
      (await this.store.events.ingestedUpTo()) < a.mined_block! || (await this.store.events.unappliedOf(s.instance_id, a.mined_block!)) > 0
    );
  }
}
