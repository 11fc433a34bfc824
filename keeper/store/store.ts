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
import { DB, openDatabase } from "./db";
import { AutoRenewalRepo } from "./autoRenewal";
import { BridgeTransfersRepo } from "./bridgeTransfers";
import { EventsRepo } from "./events";
import { MetaRepo } from "./meta";
import { OutboxRepo } from "./outbox";
import { ProviderHealthRepo } from "./providerHealth";
import { ProvisionAttemptsRepo } from "./provisionAttempts";
import { SessionsRepo } from "./sessions";
import { Unit } from "./unit";

export class Store {
  readonly unit: Unit;
  // Repositories, one per concept (keep alphabetical to keep merges calm).
  readonly autoRenewals: AutoRenewalRepo;
  readonly bridgeTransfers: BridgeTransfersRepo;
  readonly events: EventsRepo;
  readonly meta: MetaRepo;
  readonly outbox: OutboxRepo;
  readonly providerHealth: ProviderHealthRepo;
  readonly provisionAttempts: ProvisionAttemptsRepo;
  readonly sessions: SessionsRepo;

  constructor(readonly db: DB) {
    this.unit = new Unit(db);
    this.autoRenewals = new AutoRenewalRepo(this.unit);
    this.bridgeTransfers = new BridgeTransfersRepo(this.unit);
    this.events = new EventsRepo(this.unit);
    this.meta = new MetaRepo(this.unit);
    this.outbox = new OutboxRepo(this.unit);
    this.providerHealth = new ProviderHealthRepo(this.unit);
    this.provisionAttempts = new ProvisionAttemptsRepo(this.unit);
    this.sessions = new SessionsRepo(this.unit);
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
