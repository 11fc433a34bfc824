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
import { AutoRenewalRepo } from "./autoRenewal";
import { BatchesRepo } from "./batches";
import { BurnsRepo } from "./burns";
import { DB, openDatabase } from "./db";
import { EventsRepo } from "./events";
import { JobsRepo } from "./jobs";
import { LedgerRepo } from "./ledger";
import { MetaRepo } from "./meta";
import { OutboxRepo } from "./outbox";
import { PayoutsRepo } from "./payouts";
import { ProviderHealthRepo } from "./providerHealth";
import { ProvisionAttemptsRepo } from "./provisionAttempts";
import { RateLimitsRepo } from "./rateLimits";
import { SessionsRepo } from "./sessions";
import { StatusRepo } from "./status";
import { WattScanRepo } from "./wattScan";
import { X402Repo } from "./x402";
import { Unit } from "./unit";

export class Store {
  readonly unit: Unit;
  // Repositories, one per concept (keep alphabetical to keep merges calm).
  readonly akash: AkashRepo;
  readonly autoRenewals: AutoRenewalRepo;
  readonly batches: BatchesRepo;
  readonly burns: BurnsRepo;
  readonly events: EventsRepo;
  readonly jobs: JobsRepo;
  readonly ledger: LedgerRepo;
  readonly meta: MetaRepo;
  readonly outbox: OutboxRepo;
  readonly payouts: PayoutsRepo;
  readonly providerHealth: ProviderHealthRepo;
  readonly provisionAttempts: ProvisionAttemptsRepo;
  readonly rateLimits: RateLimitsRepo;
  readonly sessions: SessionsRepo;
  readonly status: StatusRepo;
  readonly wattScan: WattScanRepo;
  readonly x402: X402Repo;

  constructor(readonly db: DB) {
    this.unit = new Unit(db);
    this.akash = new AkashRepo(this.unit);
    this.autoRenewals = new AutoRenewalRepo(this.unit);
    this.batches = new BatchesRepo(this.unit);
    this.burns = new BurnsRepo(this.unit);
    this.events = new EventsRepo(this.unit);
    this.jobs = new JobsRepo(this.unit);
    this.ledger = new LedgerRepo(this.unit);
    this.meta = new MetaRepo(this.unit);
    this.outbox = new OutboxRepo(this.unit);
    this.payouts = new PayoutsRepo(this.unit);
    this.providerHealth = new ProviderHealthRepo(this.unit);
    this.provisionAttempts = new ProvisionAttemptsRepo(this.unit);
    this.rateLimits = new RateLimitsRepo(this.unit);
    this.sessions = new SessionsRepo(this.unit);
    this.status = new StatusRepo(this.unit);
    this.wattScan = new WattScanRepo(this.unit);
    this.x402 = new X402Repo(this.unit);
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
