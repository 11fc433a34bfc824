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
import type { Store } from "../store/store";
import type { BurnRow } from "../store/burns";

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

export async function burnHealth(store: Store): Promise<BurnHealth> {
  const failures = Number((await store.meta.get("burn_failures")) ?? "0");
  return {
    failures,
    error: failures ? ((await store.meta.get("burn_error")) ?? null) : null,
    retryAt: failures ? Number((await store.meta.get("burn_retry_at")) ?? "0") : null,
  };
}

export class WattBurner {
  constructor(
    private readonly store: Store,
    private readonly connection: Connection,
    private readonly s: BurnSettings,
    private readonly log: Logger,
  ) {}

  private failures = 0;
  private retryAtMs = 0;

  /** What is to be burned from the service account: the burn share of received WATT of settled, unburned jobs. */
  owed(): Promise<bigint> {
    return this.store.burns.owed();
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
    if (error !== undefined) return await this.failed(error, nowMs);
    if (this.failures > 0) {
      this.log.info({ failures: this.failures }, "burn works again");
      this.failures = 0;
      this.retryAtMs = 0;
      await this.store.meta.set("burn_failures", "0");
    }
  }

  private async failed(error: string, nowMs: number): Promise<void> {
    this.failures++;
    const delayS = Math.min(this.s.backoffMaxS ?? 3600, 2 ** this.failures);
    this.retryAtMs = nowMs + delayS * 1000;
    await this.store.tx(async () => {
      await this.store.meta.set("burn_failures", String(this.failures));
      await this.store.meta.set("burn_error", error);
      await this.store.meta.set("burn_retry_at", String(Math.floor(this.retryAtMs / 1000)));
    });
    // Once per streak: a burn failing every tick must not flood the log.
    if (this.failures === 1)
      this.log.warn({ err: error, retry_in_s: delayS }, "burn failed; retrying with exponential backoff (logged again only when it works)");
  }

  /** Returns an error text when the step failed without throwing (a batch expired, or not covered). */
  private async step(): Promise<string | undefined> {
    const open = await this.store.burns.open();
    for (const b of open) {
      const err = await this.advance(b);
      if (err) return err;
    }
    const owed = await this.owed();
    if (open.length === 0 && owed >= this.s.minBatch && owed > 0n) {
      const held = BigInt((await this.connection.getTokenAccountBalance(this.s.serviceTokenAccount, this.s.commitment)).value.amount);
      if (held < owed) return `the service token account holds ${held} base units, less than the ${owed} to burn; nothing sent`;
      return this.advance(await this.store.burns.createBatch());
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
      b = await this.store.burns.setSigned(b.id, raw, signature, lastValidBlockHeight);
    }
    const [status] = (await this.connection.getSignatureStatuses([b.signature!], { searchTransactionHistory: true })).value;
    if (status) {
      const done =
        status.confirmationStatus === "finalized" || (this.s.commitment === "confirmed" && status.confirmationStatus === "confirmed");
      if (status.err) return this.expire(b, `burn transaction failed: ${JSON.stringify(status.err)}`);
      if (done) {
        await this.store.burns.markConfirmed(b.id);
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
    if (b.state === "pending") await this.store.burns.markSent(b.id);
    return sendError;
  }

  private async expire(b: BurnRow, error: string): Promise<string> {
    await this.store.burns.expire(b.id, error);
    return `burn batch ${b.id} expired (${error}); its jobs go to the next batch`;
  }
}
