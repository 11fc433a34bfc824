/**
 * The 0.15 % share of each charge (jobs.burned) is destroyed with SPL `burnChecked` from the service's
 * token account, in batches, when the service wallet's key is configured (WATT_SERVICE_SECRET).
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
import { DB, now } from "../store/db";

export interface BurnSettings {
  mint: PublicKey;
  decimals: number;
  serviceTokenAccount: PublicKey;
  owner: Keypair;
  /** Base units: a batch is burned once this much is owed. */
  minBatch: bigint;
  commitment: "confirmed" | "finalized";
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

  owed(): bigint {
    return (this.db.prepare("SELECT burned FROM jobs WHERE burn_id IS NULL AND state != 'running'").all() as { burned: string }[]).reduce((a, r) => a + BigInt(r.burned), 0n);
  }

  async tick(): Promise<void> {
    const open = this.db.prepare("SELECT * FROM watt_burns WHERE state IN ('pending', 'sent') ORDER BY id").all() as BurnRow[];
    for (const b of open) await this.advance(b);
    if (open.length === 0 && this.owed() >= this.s.minBatch && this.owed() > 0n) {
      const id = this.db.transaction(() => {
        const amount = this.owed();
        const t = now();
        const r = this.db.prepare("INSERT INTO watt_burns (amount, state, created_at, updated_at) VALUES (?, 'pending', ?, ?)").run(amount.toString(), t, t);
        this.db.prepare("UPDATE jobs SET burn_id = ? WHERE burn_id IS NULL AND state != 'running' AND burned != '0'").run(r.lastInsertRowid);
        return Number(r.lastInsertRowid);
      })();
      await this.advance(this.db.prepare("SELECT * FROM watt_burns WHERE id = ?").get(id) as BurnRow);
    }
  }

  private async advance(b: BurnRow): Promise<void> {
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
      return;
    }
    const height = await this.connection.getBlockHeight(this.s.commitment);
    if (b.last_valid_height !== null && height > b.last_valid_height) return this.expire(b, "blockhash expired before the burn was seen");
    await this.connection.sendRawTransaction(Buffer.from(b.raw_tx!, "base64"), { skipPreflight: true, maxRetries: 0 }).catch((e: Error) => {
      // "already processed" means it landed: the next tick's status check confirms it.
      this.log.warn({ burn: b.id, err: e.message }, "burn send failed; will retry");
    });
    if (b.state === "pending") this.db.prepare("UPDATE watt_burns SET state = 'sent', updated_at = ? WHERE id = ?").run(now(), b.id);
  }

  private expire(b: BurnRow, error: string): void {
    this.db.transaction(() => {
      this.db.prepare("UPDATE watt_burns SET state = 'expired', error = ?, updated_at = ? WHERE id = ?").run(error, now(), b.id);
      this.db.prepare("UPDATE jobs SET burn_id = NULL WHERE burn_id = ?").run(b.id);
    })();
    this.log.warn({ burn: b.id, err: error }, "burn batch expired; its jobs go to the next batch");
  }
}
