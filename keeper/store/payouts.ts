/**
 * Payouts to providers through LI.FI (keeper/payouts) and the provider costs they pay. Every move of
 * owed costs onto a transfer happens in the same statement batch as the transfer's own write, so a
 * cost is never paid twice nor forgotten.
 *
 * The table and column keep their first names, bridge_transfers and
 * provision_attempts.bridge_transfer_id (from before "bridge" was kept for the AgentComputeBridge
 * contract alone): renaming them would need a schema migration of every existing database, for no
 * change in behaviour.
 */
import type { Unit } from "./unit";
import { now } from "./db";

export type TransferState = "pending" | "signed" | "sent" | "done" | "failed";

export interface TransferRow {
  id: number;
  provider: string;
  amount: string;
  state: TransferState;
  attempt: number;
  to_chain: string;
  to_amount_min: string | null;
  tool: string | null;
  tx_hash: string | null;
  raw_tx: string | null;
  receiving_tx: string | null;
  error: string | null;
  created_at: number;
  updated_at: number;
}

export interface PayoutSummary {
  byState: Record<string, { count: number; amount: string }>;
  /** Transfers that ended FAILED on their last attempt: operator action needed. */
  alerts: { id: number; provider: string; amount: string; error: string | null }[];
  transfers: {
    id: number;
    provider: string;
    amount: string;
    state: string;
    attempt: number;
    txHash: string | null;
    error: string | null;
  }[];
}

/** Errors are kept short: they are shown in `keeper status`, not archived. */
const short = (reason: string) => reason.slice(0, 300);

export class PayoutsRepo {
  constructor(private readonly unit: Unit) {}

  /** Transfers a pass still has to move: quote, broadcast or poll. */
  open(): Promise<TransferRow[]> {
    return this.unit.run(
      (db) => db.prepare("SELECT * FROM bridge_transfers WHERE state IN ('pending', 'signed', 'sent') ORDER BY id").all() as TransferRow[],
    );
  }

  /**
   * What is owed to `provider` and not yet on a transfer; when it is not zero and reaches `minUsdc`,
   * one new pending transfer takes all of it (the costs point at it) and its id, amount and item
   * count are returned. Read and write in one transaction: a cost is batched at most once.
   */
  batchOwed(provider: string, toChain: string, minUsdc: bigint): Promise<{ id: number; amount: bigint; items: number } | undefined> {
    return this.unit.run((db) =>
      db.transaction(() => {
        const rows = db
          .prepare(
            "SELECT instance_id, seq, cost FROM provision_attempts WHERE provider = ? AND cost IS NOT NULL AND bridge_transfer_id IS NULL",
          )
          .all(provider) as { instance_id: string; seq: number; cost: string }[];
        const owed = rows.reduce((s, r) => s + BigInt(r.cost), 0n);
        if (owed === 0n || owed < minUsdc) return undefined;
        const t = now();
        const id = Number(
          db
            .prepare(
              "INSERT INTO bridge_transfers (provider, amount, state, attempt, to_chain, created_at, updated_at) VALUES (?, ?, 'pending', 1, ?, ?, ?)",
            )
            .run(provider, owed.toString(), toChain, t, t).lastInsertRowid,
        );
        const mark = db.prepare("UPDATE provision_attempts SET bridge_transfer_id = ? WHERE instance_id = ? AND seq = ?");
        for (const r of rows) mark.run(id, r.instance_id, r.seq);
        return { id, amount: owed, items: rows.length };
      })(),
    );
  }

  /** A step that failed and will be tried again next pass: only the reason is kept. */
  noteError(id: number, reason: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE bridge_transfers SET error = ?, updated_at = ? WHERE id = ?").run(short(reason), now(), id);
    });
  }

  /** The signed transaction, stored before it is broadcast (only from 'pending'). */
  markSigned(id: number, s: { rawTx: string; txHash: string; tool: string; toAmountMin: string }): Promise<void> {
    return this.unit.run((db) => {
      db.prepare(
        "UPDATE bridge_transfers SET state = 'signed', raw_tx = ?, tx_hash = ?, tool = ?, to_amount_min = ?, error = NULL, updated_at = ? WHERE id = ? AND state = 'pending'",
      ).run(s.rawTx, s.txHash, s.tool, s.toAmountMin, now(), id);
    });
  }

  /** The signed transaction can never be mined (its nonce was used): back to quoting and signing. */
  unsign(id: number, reason: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare(
        "UPDATE bridge_transfers SET state = 'pending', raw_tx = NULL, tx_hash = NULL, error = ?, updated_at = ? WHERE id = ?",
      ).run(short(reason), now(), id);
    });
  }

  markSent(id: number): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE bridge_transfers SET state = 'sent', updated_at = ? WHERE id = ? AND state = 'signed'").run(now(), id);
    });
  }

  markDone(id: number, receivingTx: string | null): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE bridge_transfers SET state = 'done', receiving_tx = ?, error = NULL, updated_at = ? WHERE id = ?").run(
        receivingTx,
        now(),
        id,
      );
    });
  }

  /**
   * Marks the transfer failed. Below `maxAttempts` a new pending transfer (attempt + 1, same amount)
   * takes over its costs in the same transaction, and its id is returned; at the last attempt the
   * costs stay with the failed transfer (the operator's to settle) and undefined is returned.
   */
  fail(
    t: Pick<TransferRow, "id" | "provider" | "amount" | "attempt" | "to_chain">,
    reason: string,
    maxAttempts: number,
  ): Promise<number | undefined> {
    return this.unit.run((db) =>
      db.transaction(() => {
        db.prepare("UPDATE bridge_transfers SET state = 'failed', error = ?, updated_at = ? WHERE id = ?").run(short(reason), now(), t.id);
        if (t.attempt >= maxAttempts) return undefined;
        const ts = now();
        const id = Number(
          db
            .prepare(
              "INSERT INTO bridge_transfers (provider, amount, state, attempt, to_chain, created_at, updated_at) VALUES (?, ?, 'pending', ?, ?, ?, ?)",
            )
            .run(t.provider, t.amount, t.attempt + 1, t.to_chain, ts, ts).lastInsertRowid,
        );
        db.prepare("UPDATE provision_attempts SET bridge_transfer_id = ? WHERE bridge_transfer_id = ?").run(id, t.id);
        return id;
      })(),
    );
  }

  /** Totals per state, the transfers needing the operator, and every transfer (for `keeper status`). */
  summary(maxAttempts: number): Promise<PayoutSummary> {
    return this.unit.run((db) => {
      const rows = db.prepare("SELECT id, provider, amount, state, attempt, tx_hash, error FROM bridge_transfers ORDER BY id").all() as {
        id: number;
        provider: string;
        amount: string;
        state: string;
        attempt: number;
        tx_hash: string | null;
        error: string | null;
      }[];
      const byState: Record<string, { count: number; amount: string }> = {};
      for (const r of rows) {
        const e = byState[r.state] ?? { count: 0, amount: "0" };
        byState[r.state] = { count: e.count + 1, amount: (BigInt(e.amount) + BigInt(r.amount)).toString() };
      }
      return {
        byState,
        alerts: rows
          .filter((r) => r.state === "failed" && r.attempt >= maxAttempts)
          .map((r) => ({ id: r.id, provider: r.provider, amount: r.amount, error: r.error })),
        transfers: rows.map((r) => ({
          id: r.id,
          provider: r.provider,
          amount: r.amount,
          state: r.state,
          attempt: r.attempt,
          txHash: r.tx_hash,
          error: r.error,
        })),
      };
    });
  }
}
