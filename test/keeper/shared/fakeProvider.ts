/**
 * A ComputeProvider held in memory, for running the session state machine without a chain or a
 * cloud: it keeps its workloads by idempotency key (so a second provision with the same key finds the
 * first workload, as the interface requires), records every call, and can be told to fail, to hang,
 * or to report a workload gone.
 */
import type { ComputeProvider, Provision, ProvisionRequest, Quote, WorkloadSpec, WorkloadStatus } from "../../../keeper/providers/provider";
import { ProvisionError } from "../../../keeper/providers/provider";

export type FakeCall =
  | { method: "quote"; hours: number }
  | { method: "provision"; key: string; endsAt: number }
  | { method: "status"; key: string }
  | { method: "extend"; key: string; endsAt: number }
  | { method: "terminate"; key: string };

/** What `provision` does: start the workload, refuse (ProvisionError, not retryable), or never answer. */
export type ProvisionBehaviour = "ok" | "fail" | "hang";

export interface FakeWorkload {
  ref: string;
  endsAt: number;
  stopped: boolean;
  /** The provider lost it (a closed lease, a terminated instance): status says "unknown". */
  gone: boolean;
}

export class FakeProvider implements ComputeProvider {
  readonly calls: FakeCall[] = [];
  readonly workloads = new Map<string, FakeWorkload>();
  provisionBehaviour: ProvisionBehaviour = "ok";
  private readonly hung: ((err: Error) => void)[] = [];
  private nextRef = 1;

  constructor(
    readonly name: string,
    private readonly pricePerHour = 1_000_000n,
  ) {}

  /** The calls of one method, in order. */
  callsOf<M extends FakeCall["method"]>(method: M): Extract<FakeCall, { method: M }>[] {
    return this.calls.filter((c): c is Extract<FakeCall, { method: M }> => c.method === method);
  }

  quote(_spec: WorkloadSpec, hours: number): Promise<Quote> {
    this.calls.push({ method: "quote", hours });
    return Promise.resolve({ pricePerHour: this.pricePerHour, available: true });
  }

  provision(req: ProvisionRequest): Promise<Provision> {
    this.calls.push({ method: "provision", key: req.idempotencyKey, endsAt: req.endsAt });
    if (this.provisionBehaviour === "fail") return Promise.reject(new ProvisionError(`${this.name} has no capacity`, false));
    const existing = this.workloads.get(req.idempotencyKey);
    if (existing && !existing.stopped) return Promise.resolve({ ref: existing.ref, created: false });
    const ref = `${this.name}-w${this.nextRef++}`;
    this.workloads.set(req.idempotencyKey, { ref, endsAt: req.endsAt, stopped: false, gone: false });
    // A hung call has started the workload on the provider's side; only its answer never comes.
    if (this.provisionBehaviour === "hang") return new Promise<Provision>((_, reject) => this.hung.push(reject));
    return Promise.resolve({ ref, created: true });
  }

  /** Fails every hung provision call (so nothing keeps waiting on it once a test is over). */
  releaseHung(reason: string): void {
    for (const reject of this.hung.splice(0)) reject(new Error(reason));
  }

  status(idempotencyKey: string): Promise<WorkloadStatus> {
    this.calls.push({ method: "status", key: idempotencyKey });
    const w = this.workloads.get(idempotencyKey);
    if (!w || w.gone) return Promise.resolve({ state: "unknown", ref: w?.ref ?? "", detail: "no such workload" });
    return Promise.resolve({ state: w.stopped ? "exited" : "running", ref: w.ref });
  }

  extend(idempotencyKey: string, endsAt: number): Promise<void> {
    this.calls.push({ method: "extend", key: idempotencyKey, endsAt });
    const w = this.workloads.get(idempotencyKey);
    if (w) w.endsAt = endsAt;
    return Promise.resolve();
  }

  terminate(idempotencyKey: string): Promise<void> {
    this.calls.push({ method: "terminate", key: idempotencyKey });
    const w = this.workloads.get(idempotencyKey);
    if (w) w.stopped = true;
    return Promise.resolve();
  }

  /** The provider lost the workload with this key. */
  loseWorkload(idempotencyKey: string): void {
    const w = this.workloads.get(idempotencyKey);
    if (!w) throw new Error(`${this.name} has no workload ${idempotencyKey}`);
    w.gone = true;
  }

  health(): Promise<{ ok: boolean; detail?: string }> {
    return Promise.resolve({ ok: true });
  }
}
