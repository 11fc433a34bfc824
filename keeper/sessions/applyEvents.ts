/**
 * Events -> state: applies the chain's ingested events to the sessions, in chain order, and
 * compensates sessions whose payment a reorg took off the chain for good.
 */
import type { Logger } from "pino";
import type { Store } from "../store/store";
import type { EventRow } from "../store/events";
import { renewalFailureName } from "../chain/contracts";
import { REORGED_OUT, SessionMoves } from "./transitions";

export class EventApplier {
  constructor(private readonly moves: SessionMoves) {}

  private get store(): Store {
    return this.moves.store;
  }

  private get log(): Logger {
    return this.moves.log;
  }

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
        const existing = await this.moves.get(id);
        if (existing && existing.start_tx !== ev.tx_hash) {
          // A deep reorg let another payment reuse this instance id: the old one is off the chain.
          await sessions.retireWorkload(existing, "instance id reused after a reorg");
          await sessions.forget(id);
        } else if (existing) {
          // The same payment, mined again after a reorg that had dropped it: serve it again.
          if (existing.last_error === REORGED_OUT) {
            await sessions.revive(id);
            await this.moves.transition(existing, "requested", "payment mined again after a reorg");
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
        await this.moves.recordTransition(id, null, "requested", "SessionStarted");
        return;
      }
      case "SessionActivated":
        await sessions.activate(id, Number(a.endTime));
        return;
      case "SessionExtended": {
        const s = await this.moves.get(id);
        if (!s) return;
        await sessions.extend(id, {
          additional: Number(a.additionalTime),
          deposited: (BigInt(s.deposited) + BigInt(a.cost)).toString(),
          newEndTime: Number(a.newEndTime),
        });
        if (s.state === "running") await this.moves.transition(s, "renewing", "SessionExtended");
        return;
      }
      case "SessionRenewed": {
        const s = await this.moves.get(id);
        if (!s) return;
        await sessions.renew(id, {
          period: Number(a.period),
          deposited: (BigInt(s.deposited) + BigInt(a.cost)).toString(),
          newEndTime: Number(a.newEndTime),
        });
        await this.store.autoRenewals.recordRenewal(id, { cost: a.cost, newEndTime: Number(a.newEndTime), budgetLeft: a.budgetLeft });
        if (s.state === "running") await this.moves.transition(s, "renewing", `SessionRenewed for ${a.period} s`);
        return;
      }
      case "AutoRenewalSet":
        await this.store.autoRenewals.set(id, {
          period: Number(a.period),
          maxPerRenewal: a.maxPerRenewal,
          budget: a.budget,
          setBy: a.setBy,
        });
        return;
      case "AutoRenewalStopped":
        await this.store.autoRenewals.stop(id);
        return;
      case "RenewalFailed":
        await this.store.autoRenewals.recordFailure(id, renewalFailureName(a.reason), true);
        this.log.warn({ instanceId: id, reason: renewalFailureName(a.reason) }, "renewal failed on chain: the session ends normally");
        return;
      case "EscrowClaimed": {
        const s = await this.moves.get(id);
        if (!s) return;
        await sessions.setClaimed(id, (BigInt(s.claimed) + BigInt(a.amount)).toString());
        return;
      }
      case "SessionEnded": {
        const s = await this.moves.get(id);
        if (!s) return;
        await sessions.endOnChain(id, (BigInt(s.claimed) + BigInt(a.paidToTreasury)).toString(), a.refunded);
        if (s.state === "failed") await this.moves.transition(s, "refunded", "SessionEnded");
        else if (["requested", "provisioning", "running", "renewing"].includes(s.state))
          await this.moves.transition(s, "ending", `SessionEnded by ${a.endedBy}`);
        return;
      }
      default:
        return; // OutcomeRecorded, ComputeRequested, JobBatchRecorded, Withdrawn, RefundDeferred: audit only
    }
  }

  /**
   * Payments reorged out of the chain for good (orphaned, and not mined again within `graceBlocks`
   * of the cursor): their sessions stop, with no outcome to record (the chain has no such session).
   */
  async compensateOrphans(cursor: number, graceBlocks: number): Promise<number> {
    const orphans = await this.store.events.orphanedPayments(cursor - graceBlocks);
    for (const o of orphans) {
      await this.store.tx(async () => {
        await this.store.events.markDropped(o.tx_hash, o.log_index);
        const s = await this.moves.get(o.instance_id);
        if (!s || s.start_tx !== o.tx_hash) return;
        await this.store.sessions.retireWorkload(s, REORGED_OUT);
        await this.store.sessions.stopWorkload(s.instance_id, REORGED_OUT);
        await this.moves.transition(s, "ended", REORGED_OUT);
      });
      this.log.error({ instanceId: o.instance_id, tx: o.tx_hash }, "session payment reorged out of the chain: workload stopped");
    }
    return orphans.length;
  }
}
