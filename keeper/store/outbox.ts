/**
 * The outbox (tables actions and action_txs): every transaction the keeper means to send, under an
 * idempotency key, and every signed transaction for it. Only keeper/chain/txSender.ts sends; anyone
 * enqueues, usually in the same transaction as the state change that called for the action.
 */
import type { Unit } from "./unit";
import { DB, getMeta, now, setMeta } from "./db";

export type ActionKind = "recordOutcome" | "claim" | "endSession" | "recordJobBatch" | "renew" | "withdraw";
export type ActionState = "queued" | "sent" | "mined" | "reverted" | "skipped";

export interface ActionRow {
  id: number;
  idempotency_key: string;
  kind: ActionKind;
  instance_id: string | null;
  calldata: string;
  state: ActionState;
  nonce: number | null;
  created_at: number;
  updated_at: number;
  mined_block: number | null;
  error: string | null;
}

/** One signed transaction of an action (the first, or a fee bump replacing it at the same nonce). */
export interface SignedTxRow {
  tx_hash: string;
  action_id: number;
  raw: string;
  max_fee: string;
  priority: string;
  sent_at: number;
}

export interface ActionStateRow {
  state: ActionState;
  mined_block: number | null;
  error: string | null;
}

export interface SignedTx {
  hash: string;
  raw: string;
  maxFee: bigint;
  priority: bigint;
}

const NEXT_NONCE = "tx.nextNonce";

/**
 * The one statement that enqueues (idempotent on the key); true when the action is new. Exported for
 * callers not yet moved to the store (keeper/jobs/batcher.ts); everything else uses OutboxRepo.enqueue.
 */
export function enqueueAction(db: DB, key: string, kind: ActionKind, instanceId: string | null, calldata: string): boolean {
  const t = now();
  const r = db
    .prepare(
      `INSERT INTO actions (idempotency_key, kind, instance_id, calldata, state, created_at, updated_at)
       VALUES (?, ?, ?, ?, 'queued', ?, ?) ON CONFLICT (idempotency_key) DO NOTHING`,
    )
    .run(key, kind, instanceId, calldata, t, t);
  return r.changes > 0;
}

function insertSignedTx(db: DB, actionId: number, tx: SignedTx): void {
  db.prepare("INSERT INTO action_txs (tx_hash, action_id, raw, max_fee, priority, sent_at) VALUES (?, ?, ?, ?, ?, ?)").run(
    tx.hash,
    actionId,
    tx.raw,
    tx.maxFee.toString(),
    tx.priority.toString(),
    now(),
  );
}

export class OutboxRepo {
  constructor(private readonly unit: Unit) {}

  /** Stores an action unless one with this key exists; true when it is new. */
  enqueue(key: string, kind: ActionKind, instanceId: string | null, calldata: string): Promise<boolean> {
    return this.unit.run((db) => enqueueAction(db, key, kind, instanceId, calldata));
  }

  byKey(key: string): Promise<ActionStateRow | undefined> {
    return this.unit.run(
      (db) => db.prepare("SELECT state, mined_block, error FROM actions WHERE idempotency_key = ?").get(key) as ActionStateRow | undefined,
    );
  }

  /** Actions not settled yet (queued or sent), of one kind or of all. */
  unsettled(kind?: ActionKind): Promise<number> {
    return this.unit.run((db) =>
      kind === undefined
        ? (db.prepare("SELECT count(*) n FROM actions WHERE state IN ('queued', 'sent')").get() as { n: number }).n
        : (db.prepare("SELECT count(*) n FROM actions WHERE kind = ? AND state IN ('queued', 'sent')").get(kind) as { n: number }).n,
    );
  }

  /** Actions sent and not settled, in nonce order. */
  inFlight(): Promise<ActionRow[]> {
    return this.unit.run((db) => db.prepare("SELECT * FROM actions WHERE state = 'sent' ORDER BY nonce").all() as ActionRow[]);
  }

  inFlightCount(): Promise<number> {
    return this.unit.run((db) => (db.prepare("SELECT count(*) n FROM actions WHERE state = 'sent'").get() as { n: number }).n);
  }

  /** The oldest `limit` queued actions, in the order they were enqueued. */
  queued(limit: number): Promise<ActionRow[]> {
    return this.unit.run((db) => db.prepare("SELECT * FROM actions WHERE state = 'queued' ORDER BY id LIMIT ?").all(limit) as ActionRow[]);
  }

  /** Every transaction signed for an action, oldest first. */
  signedTxs(actionId: number): Promise<SignedTxRow[]> {
    return this.unit.run(
      (db) => db.prepare("SELECT * FROM action_txs WHERE action_id = ? ORDER BY sent_at, rowid").all(actionId) as SignedTxRow[],
    );
  }

  /** A receipt arrived: mined (ok) or reverted, in `block`. */
  settle(actionId: number, ok: boolean, block: number): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE actions SET state = ?, mined_block = ?, updated_at = ?, error = ? WHERE id = ?").run(
        ok ? "mined" : "reverted",
        block,
        now(),
        ok ? null : "reverted on chain",
        actionId,
      );
    });
  }

  /** The action would revert: settled without spending a nonce. */
  skip(actionId: number, reason: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE actions SET state = 'skipped', error = ?, updated_at = ? WHERE id = ?").run(reason, now(), actionId);
    });
  }

  /** Its nonce was consumed by something else: back to the queue for a new one. */
  requeue(actionId: number): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE actions SET state = 'queued', nonce = NULL, updated_at = ? WHERE id = ?").run(now(), actionId);
    });
  }

  /**
   * The action's first transaction is signed: it is stored with its nonce before it is broadcast, and
   * the next nonce moves past it, all in one transaction.
   */
  markSent(actionId: number, nonce: number, tx: SignedTx): Promise<void> {
    return this.unit.run((db) =>
      db.transaction(() => {
        db.prepare("UPDATE actions SET state = 'sent', nonce = ?, updated_at = ? WHERE id = ?").run(nonce, now(), actionId);
        insertSignedTx(db, actionId, tx);
        setMeta(db, NEXT_NONCE, String(nonce + 1));
      })(),
    );
  }

  /** A fee bump: another transaction for the same action and nonce. */
  addReplacement(actionId: number, tx: SignedTx): Promise<void> {
    return this.unit.run((db) => insertSignedTx(db, actionId, tx));
  }

  /** The nonce the outbox would use next: past the stored counter and every nonce it has spent. */
  nextNonce(): Promise<number> {
    return this.unit.run((db) => {
      const stored = Number(getMeta(db, NEXT_NONCE) ?? 0);
      const usedByUs = db.prepare("SELECT max(nonce) m FROM actions WHERE state IN ('sent', 'mined', 'reverted')").get() as {
        m: number | null;
      };
      return Math.max(stored, usedByUs.m === null ? 0 : usedByUs.m + 1);
    });
  }
}
