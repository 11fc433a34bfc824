/**
 * The 0.15 % share of each charge (jobs.burned) is destroyed with SPL `burnChecked` from the service's
 * token account, in batches, when the service wallet's key is configured (WATT_SERVICE_SECRET).
 * Only the share of WATT that reached the service account is burned (jobs.burned - jobs.burn_owed):
 * the share of operator-granted WATT is reported as owed by the operator (`keeper status`), never
 * attempted from an account that did not receive it. Before a batch is signed the service account's
 * balance is read: a burn it cannot cover is not sent.
 *
 * A failing burn backs off (2, 4, 8, ... s, at most WATT_BURN_BACKOFF_MAX_S) and is logged once per
 * failure streak (and once when it recovers); the streak is kept in `meta` for `keeper status`.
 *
 * Exactly once, through crashes: a batch row claims its jobs (jobs.burn_id) in one database
 * transaction; the transaction is signed and stored (raw bytes, signature, last valid block height)
 * before it is sent, and re-sent as the same bytes until it is seen. Only when the chain is past its
 * last valid block height without having seen it can it never land: then the batch is marked expired
 * and its jobs go back to the next batch.
 */
import { Connection, Keypair, PublicKey, Transaction } from "@solana/web3.js";
import { createBurnCheckedInstruction } from "@solana/spl-token";
import { createMemoInstruction } from "@solana/spl-memo";
import { encodeBase58 } from "ethers";
import type { Logger } from "pino";
import { DB, getMeta, now, setMeta } from "../store/db";

export interface BurnSettings {
  mint: PublicKey;
  decimals: number;
  serviceTokenAccount: PublicKey;
  owner: Keypair;
  /** Base units: a batch is burned once this much is owed. */
  minBatch: bigint;
  commitment: "confirmed" | "finalized";
  /** Longest wait between two attempts after failures, seconds. */
  backoffMaxS?: number;
}

/** The failure streak as `keeper status` shows it (meta keys burn_failures, burn_error, burn_retry_at). */
export interface BurnHealth {
  failures: number;
  error: string | null;
  retryAt: number | null;
}

export function burnHealth(db: DB): BurnHealth {
  const failures = Number(getMeta(db, "burn_failures") ?? "0");
  return { failures, error: failures ? (getMeta(db, "burn_error") ?? null) : null, retryAt: failures ? Number(getMeta(db, "burn_retry_at") ?? "0") : null };
}

interface BurnRow {
  id: number;
  amount: string;
  state: "pending" | "sent" | "confirmed" | "expired";
  signature: string | null;
  raw_tx: string | null;
  last_valid_height: number | null;
}

export class WattBurner {
  constructor(
    private readonly db: DB,
    private readonly connection: Connection,
    private readonly s: BurnSettings,
    private readonly log: Logger,
  ) {}

  private failures = 0;
  private retryAtMs = 0;

  /** What is to be burned from the service account: the burn share of received WATT of settled, unburned jobs. */
  owed(): bigint {
    return (this.db.prepare("SELECT burned, burn_owed FROM jobs WHERE burn_id IS NULL AND state != 'running'").all() as { burned: string; burn_owed: string }[]).reduce(
      (a, r) => a + BigInt(r.burned) - BigInt(r.burn_owed),
      0n,
    );
  }

  /** One step; after a failure nothing is tried (no RPC call) until the backoff has passed. */
  async tick(nowMs = Date.now()): Promise<void> {
    if (nowMs < this.retryAtMs) return;
    let error: string | undefined;
    try {
      error = await this.step();
    } catch (e) {
      error = (e as Error).message.replace(/https?:\/\/\S+/g, "<rpc>").slice(0, 300);
    }
    if (error !== undefined) return this.failed(error, nowMs);
    if (this.failures > 0) {
      this.log.info({ failures: this.failures }, "burn works again");
      this.failures = 0;
      this.retryAtMs = 0;
      setMeta(this.db, "burn_failures", "0");
    }
  }

  private failed(error: string, nowMs: number): void {
    this.failures++;
    const delayS = Math.min(this.s.backoffMaxS ?? 3600, 2 ** this.failures);
    this.retryAtMs = nowMs + delayS * 1000;
    setMeta(this.db, "burn_failures", String(this.failures));
    setMeta(this.db, "burn_error", error);
    setMeta(this.db, "burn_retry_at", String(Math.floor(this.retryAtMs / 1000)));
    // Once per streak: a burn failing every tick must not flood the log.
    if (this.failures === 1) this.log.warn({ err: error, retry_in_s: delayS }, "burn failed; retrying with exponential backoff (logged again only when it works)");
  }

  /** Returns an error text when the step failed without throwing (a batch expired, or not covered). */
  private async step(): Promise<string | undefined> {
    const open = this.db.prepare("SELECT * FROM watt_burns WHERE state IN ('pending', 'sent') ORDER BY id").all() as BurnRow[];
    for (const b of open) {
      const err = await this.advance(b);
      if (err) return err;
    }
    const owed = this.owed();
    if (open.length === 0 && owed >= this.s.minBatch && owed > 0n) {
      const held = BigInt((await this.connection.getTokenAccountBalance(this.s.serviceTokenAccount, this.s.commitment)).value.amount);
      if (held < owed) return `the service token account holds ${held} base units, less than the ${owed} to burn; nothing sent`;
      const id = this.db.transaction(() => {
        const amount = this.owed();
        const t = now();
        const r = this.db.prepare("INSERT INTO watt_burns (amount, state, created_at, updated_at) VALUES (?, 'pending', ?, ?)").run(amount.toString(), t, t);
        this.db.prepare("UPDATE jobs SET burn_id = ? WHERE burn_id IS NULL AND state != 'running' AND burned != '0'").run(r.lastInsertRowid);
        return Number(r.lastInsertRowid);
      })();
      return this.advance(this.db.prepare("SELECT * FROM watt_burns WHERE id = ?").get(id) as BurnRow);
    }
    return undefined;
  }

  private async advance(b: BurnRow): Promise<string | undefined> {
    if (!b.raw_tx) {
      const { blockhash, lastValidBlockHeight } = await this.connection.getLatestBlockhash(this.s.commitment);
      const tx = new Transaction({ feePayer: this.s.owner.publicKey, blockhash, lastValidBlockHeight }).add(
        createBurnCheckedInstruction(this.s.serviceTokenAccount, this.s.mint, this.s.owner.publicKey, BigInt(b.amount), this.s.decimals),
        createMemoInstruction(`agentcompute burn ${b.id}`, [this.s.owner.publicKey]),
      );
      tx.sign(this.s.owner);
      const raw = tx.serialize().toString("base64");
      const signature = encodeBase58(tx.signature!);
      this.db.prepare("UPDATE watt_burns SET raw_tx = ?, signature = ?, last_valid_height = ?, updated_at = ? WHERE id = ? AND raw_tx IS NULL").run(raw, signature, lastValidBlockHeight, now(), b.id);
      b = this.db.prepare("SELECT * FROM watt_burns WHERE id = ?").get(b.id) as BurnRow;
    }
    const [status] = (await this.connection.getSignatureStatuses([b.signature!], { searchTransactionHistory: true })).value;
    if (status) {
      const done = status.confirmationStatus === "finalized" || (this.s.commitment === "confirmed" && status.confirmationStatus === "confirmed");
      if (status.err) return this.expire(b, `burn transaction failed: ${JSON.stringify(status.err)}`);
      if (done) {
        this.db.prepare("UPDATE watt_burns SET state = 'confirmed', updated_at = ? WHERE id = ?").run(now(), b.id);
        this.log.info({ burn: b.id, amount: b.amount, signature: b.signature }, "WATT burned");
      }
      return undefined;
    }
    const height = await this.connection.getBlockHeight(this.s.commitment);
    if (b.last_valid_height !== null && height > b.last_valid_height) return this.expire(b, "blockhash expired before the burn was seen");
    // "already processed" means it landed: the next tick's status check confirms it. A failed send is
    // a failure of this step (backoff), the same bytes are sent again next time.
    let sendError: string | undefined;
    await this.connection.sendRawTransaction(Buffer.from(b.raw_tx!, "base64"), { skipPreflight: true, maxRetries: 0 }).catch((e: Error) => {
      sendError = `burn ${b.id} send failed: ${e.message.replace(/https?:\/\/\S+/g, "<rpc>").slice(0, 200)}`;
    });
    if (b.state === "pending") this.db.prepare("UPDATE watt_burns SET state = 'sent', updated_at = ? WHERE id = ?").run(now(), b.id);
    return sendError;
  }

  private expire(b: BurnRow, error: string): string {
    this.db.transaction(() => {
      this.db.prepare("UPDATE watt_burns SET state = 'expired', error = ?, updated_at = ? WHERE id = ?").run(error, now(), b.id);
      this.db.prepare("UPDATE jobs SET burn_id = NULL WHERE burn_id = ?").run(b.id);
    })();
    return `burn batch ${b.id} expired (${error}); its jobs go to the next batch`;
  }
}
