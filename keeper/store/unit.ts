/**
 * The unit of work behind every repository: one database connection, used one transaction at a time.
 *
 * Repositories are async so that a database with a network between it and the keeper (PostgreSQL)
 * can sit behind the same interface. SQLite answers synchronously, so here "async" costs nothing but
 * an ordering rule: while a transaction is open (it may await between statements), statements from
 * outside it wait for it to end instead of running inside it, where they would see its uncommitted
 * writes or be rolled back with it. Code inside `tx` (however deep, tracked by AsyncLocalStorage) runs
 * on the open transaction directly, so a repository call never has to know whether it is in one.
 *
 * Rule for callers: no network I/O inside `tx`. The transaction holds SQLite's write lock (BEGIN
 * IMMEDIATE, so several keeper processes on one file queue up instead of failing on upgrade) until it
 * returns.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { DB } from "./db";

export class Unit {
  private readonly inTx = new AsyncLocalStorage<true>();
  /** Settles when the last transaction queued has ended; transactions run one after another. */
  private tail: Promise<void> = Promise.resolve();
  private open = 0;

  constructor(readonly db: DB) {}

  /** Runs one statement (or a few, synchronously) on the connection, after any open transaction. */
  async run<T>(fn: (db: DB) => T): Promise<T> {
    if (this.open === 0 || this.inTx.getStore()) return fn(this.db);
    await this.tail;
    // Another transaction may have been queued behind the one we waited for; wait for all of them.
    return this.run(fn);
  }

  /**
   * Runs `fn` in one transaction: every statement it makes commits together or not at all. A
   * `tx` inside a `tx` joins the outer one. A throw rolls back and rethrows the same error.
   */
  tx<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inTx.getStore()) return fn();
    this.open++;
    const result = this.tail.then(() =>
      this.inTx.run(true, async () => {
        this.db.exec("BEGIN IMMEDIATE");
        try {
          const value = await fn();
          this.db.exec("COMMIT");
          return value;
        } catch (err) {
          if (this.db.inTransaction) this.db.exec("ROLLBACK");
          throw err;
        }
      }),
    );
    this.tail = result.then(
      () => {
        this.open--;
      },
      () => {
        this.open--;
      },
    );
    return result;
  }
}
