/**
 * The one door to the keeper's state. Code outside keeper/store/ reads and writes only through the
 * repositories here (test/layering.spec.ts fails the build otherwise); each repository is one
 * concept's queries, async, and joins the transaction `tx` opened around it.
 *
 *   const store = openStore(file);
 *   await store.tx(async () => {
 *     await store.meta.set("cursor.block", "42");
 *     ...                      // everything commits together, or nothing does
 *   });
 */
import { AkashRepo } from "./akash";
import { BridgeTransfersRepo } from "./bridgeTransfers";
import { DB, openDatabase } from "./db";
import { MetaRepo } from "./meta";
import { StatusRepo } from "./status";
import { Unit } from "./unit";

export class Store {
  readonly unit: Unit;
  readonly meta: MetaRepo;
  // Repositories, one per concept (keep alphabetical to keep merges calm).
  readonly akash: AkashRepo;
  readonly bridgeTransfers: BridgeTransfersRepo;
  readonly status: StatusRepo;

  constructor(readonly db: DB) {
    this.unit = new Unit(db);
    this.meta = new MetaRepo(this.unit);
    this.akash = new AkashRepo(this.unit);
    this.bridgeTransfers = new BridgeTransfersRepo(this.unit);
    this.status = new StatusRepo(this.unit);
  }

  /** One transaction around `fn`; see Unit.tx. */
  tx<T>(fn: () => Promise<T>): Promise<T> {
    return this.unit.tx(fn);
  }

  close(): void {
    this.db.close();
  }
}

export function openStore(file: string): Store {
  return new Store(openDatabase(file));
}
