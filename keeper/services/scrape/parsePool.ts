/**
 * Worker threads for parsing and extraction, so that the event loop (HTTP, SQLite, payments, other
 * jobs' I/O) is not blocked by cheerio on a large page and the machine's other cores do the parsing.
 * Measured with npm run bench:api (docs/benchmarks.md). size 0 parses in-thread.
 *
 * Tasks go to the least busy worker; a worker that dies fails its tasks (SCRAPE_FAILED, refunded by
 * the service) and is replaced on the next task. Workers are unref'd: they never keep the process up.
 */
import path from "node:path";
import { Worker } from "node:worker_threads";
import { ExtractError, ParseTask, runParse } from "./parse";

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (d: Record<string, unknown>) => void; reject: (e: Error) => void }>;
}

export class ParsePool {
  private slots: (Slot | undefined)[];
  private nextId = 1;
  private closed = false;

  constructor(readonly size: number) {
    this.slots = Array.from({ length: size }, () => undefined);
  }

  run(task: ParseTask): Promise<Record<string, unknown>> {
    if (this.size === 0 || this.closed) return Promise.resolve().then(() => runParse(task));
    let best = 0;
    for (let i = 0; i < this.size; i++) if ((this.slots[i]?.pending.size ?? 0) < (this.slots[best]?.pending.size ?? 0)) best = i;
    const slot = (this.slots[best] ??= this.spawn(best));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      if (slot.pending.size === 1) slot.worker.ref();
      const bytes = "body" in task ? task.body : undefined;
      // Copy the body into its own buffer so it can be transferred rather than cloned.
      const own = bytes ? new Uint8Array(bytes) : undefined;
      const sent = own ? { ...task, body: own } : task;
      slot.worker.postMessage({ id, task: sent }, own ? [own.buffer] : []);
    });
  }

  private spawn(i: number): Slot {
    // Under ts-node the worker is TypeScript too: it needs the same loader.
    const ts = __filename.endsWith(".ts");
    const worker = new Worker(path.join(__dirname, `parseWorker${ts ? ".ts" : ".js"}`), {
      execArgv: ts ? ["-r", "ts-node/register/transpile-only"] : [],
    });
    const slot: Slot = { worker, pending: new Map() };
    worker.unref();
    worker.on("message", (m: { id: number; data?: Record<string, unknown>; error?: { extract: boolean; message: string } }) => {
      const p = slot.pending.get(m.id);
      if (!p) return;
      slot.pending.delete(m.id);
      if (slot.pending.size === 0) worker.unref();
      if (m.error) p.reject(m.error.extract ? new ExtractError(m.error.message) : new Error(m.error.message));
      else p.resolve(m.data!);
    });
    const fail = (err: Error) => {
      if (this.slots[i] === slot) this.slots[i] = undefined;
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`parse worker exited (${code})`)));
    return slot;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s?.worker.terminate()));
    this.slots = this.slots.map(() => undefined);
  }
}
