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
import type { EventFragment, Interface, JsonRpcProvider } from "ethers";
import type { Logger } from "pino";
import type { Store } from "../store/store";
import type { NewEvent } from "../store/events";
import { bridgeInterface, computeInterface, WATCHED_EVENTS } from "./contracts";
import { rpcCall, RawLog } from "./rpc";

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

/** JSON with bigints as decimal strings, as the events table stores args. */
function serialiseArgs(names: readonly string[], values: readonly unknown[]): string {
  const out: Record<string, unknown> = {};
  names.forEach((n, i) => {
    const v = values[i];
    out[n] = typeof v === "bigint" ? v.toString() : v;
  });
  return JSON.stringify(out);
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** Watched events by topic0, per contract: decoding then needs no fragment lookup per log. */
function fragmentsByTopic(iface: Interface): Map<string, EventFragment> {
  const map = new Map<string, EventFragment>();
  iface.forEachEvent((e) => {
    if ((WATCHED_EVENTS as readonly string[]).includes(e.name)) map.set(e.topicHash, e);
  });
  return map;
}
const COMPUTE_EVENTS = fragmentsByTopic(computeInterface);
const BRIDGE_EVENTS = fragmentsByTopic(bridgeInterface);

export class EventReader {
  private readonly addresses: string[];
  private readonly url: string;

  constructor(
    private readonly store: Store,
    private readonly rpc: JsonRpcProvider,
    private readonly opts: EventReaderOptions,
    private readonly log: Logger,
  ) {
    this.addresses = [opts.compute, ...(opts.bridge ? [opts.bridge] : [])].map((a) => a.toLowerCase());
    this.url = rpc._getConnection().url;
  }

  async cursor(): Promise<{ number: number; hash: string | undefined }> {
    const c = await this.store.events.cursor();
    return { number: c.number ?? this.opts.startBlock - 1, hash: c.hash };
  }

  /** One bounded step: detect a reorg, then ingest at most `range` confirmed blocks. */
  async step(): Promise<StepResult> {
    const head = await this.rpc.getBlockNumber();
    const safeHead = head - this.opts.confirmations;
    let reorg: StepResult["reorg"];
    const cur = await this.cursor();
    if (cur.hash !== undefined && cur.number >= 0) {
      const block = await this.rpc.getBlock(cur.number);
      if (!block || block.hash !== cur.hash) reorg = await this.rewind(cur.number);
    }
    const from = (await this.cursor()).number + 1;
    if (from > safeHead) return { ingested: 0, cursor: from - 1, safeHead, caughtUp: true, reorg };
    const to = Math.min(safeHead, from + this.opts.range - 1);
    const [logs, toBlock] = await Promise.all([
      rpcCall<RawLog[]>(this.url, "eth_getLogs", [{ address: this.addresses, fromBlock: hex(from), toBlock: hex(to) }]),
      this.rpc.getBlock(to),
    ]);
    if (!toBlock?.hash) throw new Error(`block ${to} not available`);
    const ingested = await this.ingest(logs, to, toBlock.hash);
    return { ingested, cursor: to, safeHead, caughtUp: to === safeHead, reorg };
  }

  /** Stores the decodable logs up to block `to` and moves the cursor there, in one transaction. */
  private ingest(logs: readonly RawLog[], to: number, toHash: string): Promise<number> {
    const events: NewEvent[] = [];
    for (const log of logs) {
      if (log.removed) continue;
      const parsed = this.parse(log);
      if (!parsed) continue;
      events.push({
        txHash: log.transactionHash,
        logIndex: Number(log.logIndex),
        blockNumber: Number(log.blockNumber),
        blockHash: log.blockHash,
        name: parsed.name,
        instanceId: parsed.instanceId,
        args: parsed.json,
      });
    }
    return this.store.events.ingest(events, to, toHash, this.opts.reorgWindow);
  }

  private parse(log: RawLog): { name: string; json: string; instanceId: string | null } | null {
    const isCompute = log.address.toLowerCase() === this.addresses[0];
    const fragment = (isCompute ? COMPUTE_EVENTS : BRIDGE_EVENTS).get(log.topics[0]);
    if (!fragment) return null;
    let values;
    try {
      values = (isCompute ? computeInterface : bridgeInterface).decodeEventLog(fragment, log.data, log.topics);
    } catch {
      this.log.warn({ tx: log.transactionHash, logIndex: log.logIndex }, "undecodable log skipped");
      return null;
    }
    const names = fragment.inputs.map((i) => i.name);
    const instanceAt = names.indexOf("instanceId");
    return {
      name: fragment.name,
      json: serialiseArgs(names, [...values]),
      instanceId: instanceAt >= 0 ? (values[instanceAt] as string) : null,
    };
  }

  /**
   * The cursor block is no longer on the chain: a reorg deeper than the confirmations. Walk back
   * through the stored hashes to the newest block still on the chain and resume from there.
   */
  private async rewind(cursorNumber: number): Promise<NonNullable<StepResult["reorg"]>> {
    const stored = await this.store.events.blocksBelow(cursorNumber);
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
      this.log.error(
        { cursorNumber, window: this.opts.reorgWindow },
        "no stored block is still on the chain: re-reading from the start block",
      );
    }
    const ancestorHash = ancestor >= 0 ? ((await this.rpc.getBlock(ancestor))?.hash ?? undefined) : undefined;
    const orphaned = await this.store.events.rewindTo(ancestor, ancestorHash);
    this.log.warn({ from: cursorNumber, to: ancestor, orphaned }, "chain reorganised below the confirmation depth: rewound");
    return { from: cursorNumber, to: ancestor, orphaned };
  }
}
