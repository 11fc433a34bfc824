/**
 * Durable event ingestion. Reads the contracts' logs with eth_getLogs in bounded block ranges, only
 * up to `head - confirmations`, and stores them in SQLite deduplicated on (txHash, logIndex), in the
 * same transaction that advances the cursor (last block number + hash). After downtime it simply
 * continues from the cursor (backfill). Never relies on subscriptions.
 *
 * Reorgs: the hash of every ingested block that held a log, and of every cursor block, is kept for
 * REORG_WINDOW blocks. Before each step the cursor block's hash is compared with the chain's. A reorg
 * shallower than the confirmations never reaches the database. A deeper one (the stored hash no
 * longer matches) rewinds the cursor to the newest stored block still on the chain and marks every
 * event above it `orphaned`; re-reading then revives the events that are still on the new chain
 * (same txHash and logIndex: back to 'applied' if they had been, so nothing is applied twice) and the
 * rest stay orphaned for the session lifecycle to compensate.
 */
import type { JsonRpcProvider, Log } from "ethers";
import type { Logger } from "pino";
import { DB, getMeta, now, setMeta } from "../store/db";
import { bridgeInterface, computeInterface, WATCHED_EVENTS } from "./contracts";

export interface EventReaderOptions {
  compute: string;
  bridge?: string;
  startBlock: number;
  confirmations: number;
  range: number;
  reorgWindow: number;
}

export interface StepResult {
  /** New events stored in this step. */
  ingested: number;
  /** Last block ingested. */
  cursor: number;
  /** The safe head: nothing past it will be read yet. */
  safeHead: number;
  caughtUp: boolean;
  reorg?: { from: number; to: number; orphaned: number };
}

const CURSOR_NUMBER = "cursor.block";
const CURSOR_HASH = "cursor.hash";

/** JSON with bigints as decimal strings, as the events table stores args. */
function serialiseArgs(names: readonly string[], values: readonly unknown[]): string {
  const out: Record<string, unknown> = {};
  names.forEach((n, i) => {
    const v = values[i];
    out[n] = typeof v === "bigint" ? v.toString() : v;
  });
  return JSON.stringify(out);
}

export class EventReader {
  private readonly addresses: string[];

  constructor(
    private readonly db: DB,
    private readonly rpc: JsonRpcProvider,
    private readonly opts: EventReaderOptions,
    private readonly log: Logger,
  ) {
    this.addresses = [opts.compute, ...(opts.bridge ? [opts.bridge] : [])].map((a) => a.toLowerCase());
  }

  cursor(): { number: number; hash: string | undefined } {
    const n = getMeta(this.db, CURSOR_NUMBER);
    return { number: n === undefined ? this.opts.startBlock - 1 : Number(n), hash: getMeta(this.db, CURSOR_HASH) };
  }

  /** One bounded step: detect a reorg, then ingest at most `range` confirmed blocks. */
  async step(): Promise<StepResult> {
    const head = await this.rpc.getBlockNumber();
    const safeHead = head - this.opts.confirmations;
    let reorg: StepResult["reorg"];
    const cur = this.cursor();
    if (cur.hash !== undefined && cur.number >= 0) {
      const block = await this.rpc.getBlock(cur.number);
      if (!block || block.hash !== cur.hash) reorg = await this.rewind(cur.number);
    }
    const from = this.cursor().number + 1;
    if (from > safeHead) return { ingested: 0, cursor: from - 1, safeHead, caughtUp: true, reorg };
    const to = Math.min(safeHead, from + this.opts.range - 1);
    const [logs, toBlock] = await Promise.all([
      this.rpc.getLogs({ address: this.addresses, fromBlock: from, toBlock: to }),
      this.rpc.getBlock(to),
    ]);
    if (!toBlock?.hash) throw new Error(`block ${to} not available`);
    const ingested = this.store(logs, to, toBlock.hash);
    return { ingested, cursor: to, safeHead, caughtUp: to === safeHead, reorg };
  }

  private store(logs: readonly Log[], to: number, toHash: string): number {
    const insertEvent = this.db.prepare(
      `INSERT INTO events (tx_hash, log_index, block_number, block_hash, name, instance_id, args, ingested_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (tx_hash, log_index) DO UPDATE SET
         block_number = excluded.block_number, block_hash = excluded.block_hash,
         status = CASE WHEN events.applied_at IS NULL THEN 'new' ELSE 'applied' END
       WHERE events.status IN ('orphaned', 'dropped')`,
    );
    const insertBlock = this.db.prepare("INSERT INTO blocks (number, hash) VALUES (?, ?) ON CONFLICT (number) DO UPDATE SET hash = excluded.hash");
    let count = 0;
    const t = now();
    this.db.transaction(() => {
      for (const log of logs) {
        const parsed = this.parse(log);
        if (!parsed) continue;
        const instanceId = parsed.args.instanceId ?? null;
        const r = insertEvent.run(log.transactionHash, log.index, log.blockNumber, log.blockHash, parsed.name, instanceId, parsed.json, t);
        count += r.changes;
        insertBlock.run(log.blockNumber, log.blockHash);
      }
      insertBlock.run(to, toHash);
      this.db.prepare("DELETE FROM blocks WHERE number < ?").run(to - this.opts.reorgWindow);
      setMeta(this.db, CURSOR_NUMBER, String(to));
      setMeta(this.db, CURSOR_HASH, toHash);
    })();
    return count;
  }

  private parse(log: Log): { name: string; json: string; args: Record<string, string> } | null {
    const iface = log.address.toLowerCase() === this.addresses[0] ? computeInterface : bridgeInterface;
    let parsed;
    try {
      parsed = iface.parseLog({ topics: [...log.topics], data: log.data });
    } catch {
      return null;
    }
    if (!parsed || !(WATCHED_EVENTS as readonly string[]).includes(parsed.name)) return null;
    const names = parsed.fragment.inputs.map((i) => i.name);
    const json = serialiseArgs(names, [...parsed.args]);
    return { name: parsed.name, json, args: JSON.parse(json) };
  }

  /**
   * The cursor block is no longer on the chain: a reorg deeper than the confirmations. Walk back
   * through the stored hashes to the newest block still on the chain and resume from there.
   */
  private async rewind(cursorNumber: number): Promise<NonNullable<StepResult["reorg"]>> {
    const stored = this.db.prepare("SELECT number, hash FROM blocks WHERE number < ? ORDER BY number DESC").all(cursorNumber) as {
      number: number;
      hash: string;
    }[];
    let ancestor = this.opts.startBlock - 1;
    let found = false;
    for (const b of stored) {
      const onChain = await this.rpc.getBlock(b.number);
      if (onChain?.hash === b.hash) {
        ancestor = b.number;
        found = true;
        break;
      }
    }
    if (!found) {
      this.log.error({ cursorNumber, window: this.opts.reorgWindow }, "no stored block is still on the chain: re-reading from the start block");
    }
    const ancestorHash = ancestor >= 0 ? (await this.rpc.getBlock(ancestor))?.hash : undefined;
    let orphaned = 0;
    this.db.transaction(() => {
      orphaned = this.db.prepare("UPDATE events SET status = 'orphaned' WHERE block_number > ? AND status != 'orphaned'").run(ancestor).changes;
      this.db.prepare("DELETE FROM blocks WHERE number > ?").run(ancestor);
      setMeta(this.db, CURSOR_NUMBER, String(ancestor));
      if (ancestorHash) setMeta(this.db, CURSOR_HASH, ancestorHash);
      else this.db.prepare("DELETE FROM meta WHERE key = ?").run(CURSOR_HASH);
    })();
    this.log.warn({ from: cursorNumber, to: ancestor, orphaned }, "chain reorganised below the confirmation depth: rewound");
    return { from: cursorNumber, to: ancestor, orphaned };
  }
}
