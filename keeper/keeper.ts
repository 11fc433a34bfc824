/**
 * The keeper's main loop: ingest confirmed events -> apply them to the session state machine ->
 * drive sessions through their providers -> send the resulting transactions. Each pass is
 * idempotent; an RPC failure backs off exponentially and the next pass resumes from the database.
 */
import { JsonRpcProvider, Wallet } from "ethers";
import type { Logger } from "pino";
import { EventReader, StepResult } from "./chain/eventReader";
import { TxSender } from "./chain/txSender";
import { TreasurySweep } from "./chain/treasurySweep";
import { SessionLifecycle } from "./sessions/lifecycle";
import type { Failover } from "./sessions/failover";
import type { ComputeProvider } from "./providers/provider";
import type { Metrics } from "./metrics";
import type { Store } from "./store/store";

/** A provider's health check may not hold /health longer than this (a hung cloud API). */
export const PROVIDER_HEALTH_TIMEOUT_MS = 2000;

/** Every provider's health, checked concurrently, each bounded by `timeoutMs`. */
export async function providerHealth(
  providers: Pick<ComputeProvider, "name" | "health">[],
  timeoutMs = PROVIDER_HEALTH_TIMEOUT_MS,
): Promise<Record<string, { ok: boolean; detail?: string }>> {
  const results = await Promise.all(
    providers.map(async (p) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<{ ok: boolean; detail: string }>((resolve) => {
        timer = setTimeout(() => resolve({ ok: false, detail: `health check timed out after ${timeoutMs} ms` }), timeoutMs);
      });
      const h = await Promise.race([
        Promise.resolve()
          .then(() => p.health())
          .catch((e: Error) => ({ ok: false, detail: e.message })),
        timeout,
      ]);
      clearTimeout(timer);
      return [p.name, h] as const;
    }),
  );
  return Object.fromEntries(results);
}

export interface Deployment {
  chainId: number;
  compute: string;
  bridge?: string;
  startBlock: number;
}

export interface KeeperOptions {
  confirmations: number;
  logRange: number;
  reorgWindow: number;
  pollIntervalMs: number;
  claimIntervalSeconds: number;
  provisionTimeoutSeconds: number;
  bumpAfterSeconds: number;
  /** Failover between providers (sessions/failover.ts); absent: one provider per on-chain id. */
  failover?: Failover;
  /** Auto-renewal: renew this long before a session ends (capped at its period). Default 300. */
  renewalLeadSeconds?: number;
  /** Withdraw the treasury's balance at most every this many blocks; 0: never. Default 100. */
  treasurySweepBlocks?: number;
}

export class Keeper {
  readonly reader: EventReader;
  readonly sender: TxSender;
  readonly lifecycle: SessionLifecycle;
  readonly sweep: TreasurySweep;
  private running = false;
  private stopped: Promise<void> = Promise.resolve();
  private wake?: () => void;
  private lastStep?: StepResult;
  private lastError?: string;
  private readonly provisionStart = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly rpc: JsonRpcProvider,
    wallet: Wallet,
    readonly deployment: Deployment,
    private readonly providers: Map<number, ComputeProvider>,
    private readonly fallbackProvider: ComputeProvider,
    private readonly opts: KeeperOptions,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    this.reader = new EventReader(
      store,
      rpc,
      {
        compute: deployment.compute,
        bridge: deployment.bridge,
        startBlock: deployment.startBlock,
        confirmations: opts.confirmations,
        range: opts.logRange,
        reorgWindow: opts.reorgWindow,
      },
      log,
    );
    this.lifecycle = new SessionLifecycle(
      store,
      {
        providerFor: (id) => this.providers.get(id) ?? this.fallbackProvider,
        claimIntervalSeconds: opts.claimIntervalSeconds,
        provisionTimeoutSeconds: opts.provisionTimeoutSeconds,
        failover: opts.failover,
        renewalLeadSeconds: opts.renewalLeadSeconds,
      },
      log,
      {
        onTransition: (id, _from, to) => {
          metrics.transitions.inc({ to });
          if (to === "requested") this.provisionStart.set(id, performance.now());
        },
        onProvisionCall: (id, provider) => {
          metrics.provisions.inc({ provider });
          const t0 = this.provisionStart.get(id);
          if (t0 !== undefined) {
            metrics.startToProvision.observe((performance.now() - t0) / 1000);
            this.provisionStart.delete(id);
          }
        },
      },
    );
    this.sweep = new TreasurySweep(store, rpc, deployment.compute, opts.treasurySweepBlocks ?? 100, log);
    this.sender = new TxSender(
      store,
      rpc,
      wallet.connect(rpc),
      { to: deployment.compute, chainId: BigInt(deployment.chainId), bumpAfterSeconds: opts.bumpAfterSeconds },
      log,
      async (action, ok) => {
        metrics.actions.inc({ kind: action.kind, state: action.state });
        await this.lifecycle.onActionSettled(action, ok);
      },
    );
  }

  /** One full pass. Returns true when the event backlog is drained. */
  async iterate(): Promise<boolean> {
    let step: StepResult;
    // Ingest a bounded batch of ranges, applying as we go so sessions start while a backlog drains.
    let rounds = 0;
    do {
      step = await this.reader.step();
      this.lastStep = step;
      if (step.reorg) this.metrics.reorgs.inc();
      this.metrics.eventsIngested.inc(step.ingested);
      this.metrics.lastBlock.set(step.cursor);
      this.metrics.lagBlocks.set(Math.max(0, step.safeHead + this.opts.confirmations - step.cursor));
      await this.lifecycle.applyEvents();
    } while (!step.caughtUp && ++rounds < 50);
    await this.lifecycle.compensateOrphans(step.cursor, Math.max(this.opts.confirmations * 4, Math.floor(this.opts.reorgWindow / 4)));
    const latest = await this.rpc.getBlock("latest");
    await this.lifecycle.reconcile(latest!.timestamp);
    await this.sweep.tick(latest!.number);
    await this.sender.tick();
    await this.refreshGauges();
    return step.caughtUp;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopped = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.stopped;
  }

  private async loop(): Promise<void> {
    let backoff = 0;
    while (this.running) {
      let drained = true;
      try {
        drained = await this.iterate();
        backoff = 0;
        this.lastError = undefined;
      } catch (err) {
        this.metrics.rpcErrors.inc();
        this.lastError = (err as Error).message;
        backoff = Math.min(30_000, backoff === 0 ? 250 : backoff * 2);
        this.log.warn({ err: this.lastError, backoffMs: backoff }, "keeper pass failed; backing off");
      }
      const delay = backoff || (drained ? this.opts.pollIntervalMs : 0);
      if (delay > 0 && this.running) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    }
  }

  private async refreshGauges(): Promise<void> {
    const rows = await this.store.sessions.countByState();
    this.metrics.sessions.reset();
    for (const r of rows) this.metrics.sessions.set({ state: r.state }, r.n);
  }

  async health(): Promise<{ ok: boolean } & Record<string, unknown>> {
    const providers = await providerHealth([...new Set([...this.providers.values(), this.fallbackProvider])]);
    return {
      ok: this.running && this.lastError === undefined,
      lastProcessedBlock: await this.store.events.ingestedUpTo(),
      safeHead: this.lastStep?.safeHead,
      pendingActions: await this.sender.pending(),
      lastError: this.lastError,
      providers,
    };
  }
}
