/**
 * The keeper's only way to send transactions: an outbox in SQLite with one nonce manager.
 *
 * - `store.outbox.enqueue` stores an action under an idempotency key (enqueuing it again is a no-op), usually in
 *   the same database transaction as the state change that called for it.
 * - `tick` first settles what was sent (receipts), re-broadcasts a transaction the node has dropped,
 *   and bumps the fees of one stuck too long (same nonce, so only one of them can ever be mined); then
 *   sends queued actions in order. Before a nonce is spent, the action is simulated: one that would
 *   revert (its purpose already met, say) is marked `skipped` and costs nothing.
 * - A signed transaction is written to the database before it is broadcast. A crash between the two
 *   is repaired by the next tick, which finds the node does not know it and broadcasts the same bytes.
 * - Rewind: if a nonce of ours was consumed by something else (the key used elsewhere), the action's
 *   transactions can never be mined; it goes back to the queue for a new nonce.
 *
 * Hence a restart never sends a second copy of an action already mined: every action has exactly one
 * nonce, and every transaction ever signed for it is in `action_txs`.
 */
import { JsonRpcProvider, Transaction, Wallet } from "ethers";
import type { Logger } from "pino";
import { now } from "../clock";
import type { Store } from "../store/store";
import type { ActionRow, SignedTxRow } from "../store/outbox";
import { broadcastRefusal } from "./broadcast";

export type { ActionKind, ActionRow, ActionState } from "../store/outbox";
/** Kept for keeper/jobs/batcher.ts until it enqueues through store.outbox. */
export { enqueueAction } from "../store/outbox";

export interface TxSenderOptions {
  to: string;
  chainId: bigint;
  bumpAfterSeconds: number;
  /** Most actions sent but not yet mined at once. */
  maxInFlight?: number;
}

/** Fee bump per replacement: nodes require at least +10%. */
const BUMP_NUM = 1125n;
const BUMP_DEN = 1000n;

export class TxSender {
  constructor(
    private readonly store: Store,
    private readonly rpc: JsonRpcProvider,
    private readonly wallet: Wallet,
    private readonly opts: TxSenderOptions,
    private readonly log: Logger,
    /** Called in the same database transaction that marks an action mined, reverted or skipped. */
    private readonly onSettled: (action: ActionRow, ok: boolean) => void | Promise<void> = () => {},
  ) {}

  async tick(): Promise<{ sent: number; settled: number }> {
    const settled = await this.settleSent();
    const sent = await this.sendQueued();
    return { sent, settled };
  }

  /** Actions not settled yet (queued or sent). */
  pending(): Promise<number> {
    return this.store.outbox.unsettled();
  }

  /** Receipts for sent actions; re-broadcast dropped ones; bump stuck ones; rewind lost nonces. */
  private async settleSent(): Promise<number> {
    const sent = await this.store.outbox.inFlight();
    if (sent.length === 0) return 0;
    const minedNonce = await this.rpc.getTransactionCount(this.wallet.address, "latest");
    let settled = 0;
    for (const action of sent) {
      const txs = await this.store.outbox.signedTxs(action.id);
      let receipt = null;
      for (const tx of txs) {
        receipt = await this.rpc.getTransactionReceipt(tx.tx_hash);
        if (receipt) break;
      }
      if (receipt) {
        const ok = receipt.status === 1;
        const block = receipt.blockNumber;
        await this.store.tx(async () => {
          await this.store.outbox.settle(action.id, ok, block);
          await this.onSettled(
            { ...action, state: ok ? "mined" : "reverted", mined_block: block, error: ok ? null : "reverted on chain" },
            ok,
          );
        });
        if (!ok) this.log.warn({ action: action.idempotency_key, tx: receipt.hash }, "action reverted on chain");
        settled++;
        continue;
      }
      if (action.nonce! < minedNonce) {
        // Our nonce was used, yet by none of this action's transactions: rewind it for a new nonce.
        this.log.warn({ action: action.idempotency_key, nonce: action.nonce }, "nonce consumed elsewhere: re-queueing action");
        await this.store.outbox.requeue(action.id);
        continue;
      }
      const latest = txs.at(-1)!;
      const known = await this.rpc.getTransaction(latest.tx_hash);
      if (!known) {
        // Written but never broadcast (a crash), or dropped by the node: send the same bytes again.
        await this.broadcast(latest.raw, action);
      } else if (now() - latest.sent_at >= this.opts.bumpAfterSeconds) {
        await this.bump(action, latest);
      }
    }
    return settled;
  }

  private async sendQueued(): Promise<number> {
    const inFlight = await this.store.outbox.inFlightCount();
    const room = (this.opts.maxInFlight ?? 16) - inFlight;
    if (room <= 0) return 0;
    const queued = await this.store.outbox.queued(room);
    let sent = 0;
    for (const action of queued) {
      let gasLimit: bigint;
      try {
        gasLimit = await this.rpc.estimateGas({ from: this.wallet.address, to: this.opts.to, data: action.calldata });
      } catch (err) {
        const reason = revertReason(err);
        if (reason === undefined) throw err; // the RPC failed, not the call: try again later
        await this.store.tx(async () => {
          await this.store.outbox.skip(action.id, reason);
          await this.onSettled({ ...action, state: "skipped", error: reason }, false);
        });
        this.log.info({ action: action.idempotency_key, reason }, "action would revert: skipped without spending a nonce");
        continue;
      }
      const nonce = await this.nextNonce();
      const fees = await this.fees();
      const tx = Transaction.from({
        type: 2,
        chainId: this.opts.chainId,
        to: this.opts.to,
        data: action.calldata,
        nonce,
        // 20 % plus one zero-to-non-zero store: a transaction of ours mined first (a treasury sweep
        // emptying the balance this one credits) can add ~17,000 gas to what was estimated.
        gasLimit: (gasLimit * 12n) / 10n + 25_000n,
        maxFeePerGas: fees.maxFee,
        maxPriorityFeePerGas: fees.priority,
      });
      const raw = await this.wallet.signTransaction(tx);
      const hash = Transaction.from(raw).hash!;
      await this.store.outbox.markSent(action.id, nonce, { hash, raw, maxFee: fees.maxFee, priority: fees.priority });
      await this.broadcast(raw, action);
      sent++;
    }
    return sent;
  }

  /** The next nonce: ours from the database, unless the chain has moved past it (key used elsewhere). */
  private async nextNonce(): Promise<number> {
    const ours = await this.store.outbox.nextNonce();
    const chain = await this.rpc.getTransactionCount(this.wallet.address, "pending");
    return Math.max(ours, chain);
  }

  private async fees(): Promise<{ maxFee: bigint; priority: bigint }> {
    const block = await this.rpc.getBlock("latest");
    const base = block?.baseFeePerGas ?? 1_000_000_000n;
    let priority = 1_000_000n; // 0.001 gwei: Base's usual tip
    try {
      priority = BigInt(await this.rpc.send("eth_maxPriorityFeePerGas", []));
    } catch {
      // not every node answers this; the default is fine on Base
    }
    return { maxFee: base * 2n + priority, priority };
  }

  private async bump(action: ActionRow, latest: SignedTxRow): Promise<void> {
    const prev = Transaction.from(latest.raw);
    const fees = await this.fees();
    const maxFee = max(fees.maxFee, (BigInt(latest.max_fee) * BUMP_NUM) / BUMP_DEN + 1n);
    const priority = max(fees.priority, (BigInt(latest.priority) * BUMP_NUM) / BUMP_DEN + 1n);
    const tx = Transaction.from({
      type: 2,
      chainId: this.opts.chainId,
      to: prev.to,
      data: prev.data,
      nonce: prev.nonce,
      gasLimit: prev.gasLimit,
      maxFeePerGas: maxFee,
      maxPriorityFeePerGas: priority,
    });
    const raw = await this.wallet.signTransaction(tx);
    const hash = Transaction.from(raw).hash!;
    await this.store.outbox.addReplacement(action.id, { hash, raw, maxFee, priority });
    this.log.info(
      { action: action.idempotency_key, nonce: prev.nonce, maxFee: maxFee.toString() },
      "fee bump: replacing stuck transaction",
    );
    await this.broadcast(raw, action);
  }

  private async broadcast(raw: string, action: ActionRow): Promise<void> {
    try {
      await this.rpc.send("eth_sendRawTransaction", [raw]);
    } catch (err) {
      // Already known or already mined (its nonce spent): the next tick's receipt check settles it.
      const refusal = broadcastRefusal(err);
      if (refusal) {
        this.log.debug({ action: action.idempotency_key, refusal }, "broadcast: node already has it");
        return;
      }
      throw err;
    }
  }
}

function max(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** The revert reason if `err` is a contract revert (as opposed to a transport failure), else undefined. */
export function revertReason(err: unknown): string | undefined {
  const e = err as {
    code?: string;
    data?: string;
    shortMessage?: string;
    message?: string;
    info?: { error?: { message?: string; data?: unknown } };
  };
  if (e?.code === "CALL_EXCEPTION") return e.data ?? e.shortMessage ?? "execution reverted";
  const inner = e?.info?.error?.message ?? e?.message ?? "";
  if (/revert/i.test(inner)) return inner;
  return undefined;
}
