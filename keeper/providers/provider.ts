/**
 * One interface for every place a session's workload can run: the operator's own hardware (docker,
 * process) and the cloud providers (akash, spheron, ionet). The session lifecycle only ever talks to
 * this interface.
 *
 * Idempotency is the contract: `provision` is called with the session's idempotency key and must,
 * when called again with the same key (after a keeper crash, say), find and return the workload it
 * already started instead of starting a second one. `terminate` of an unknown or already stopped
 * workload succeeds.
 */
import { ProviderError } from "../errors";

/** What the agent asked to run, parsed from the session's on-chain `config` bytes. */
export interface WorkloadSpec {
  /** Container image (docker, cloud providers). */
  image?: string;
  /** Command and arguments; for the bubblewrap provider, the program run in the sandbox. */
  command?: string[];
  /** CPU cores (fractional allowed). */
  cpu: number;
  /** Memory limit in MiB. */
  memoryMb: number;
  /** Environment given to the workload: the agent's own values only, never the keeper's. */
  env: Record<string, string>;
  /** GPUs wanted (cloud providers; the operator's own hardware has none to give). */
  gpu?: { count: number; model?: string; vendor?: "nvidia" | "amd" };
  /** Ephemeral storage in MiB (Akash's SDL; default 1024 there). */
  storageMb?: number;
  /** Container ports to expose (Akash; the local sandboxes have no network). */
  ports?: number[];
}

export interface Quote {
  /** USDC base units per hour the provider would charge the operator. */
  pricePerHour: bigint;
  available: boolean;
}

export type WorkloadState = "starting" | "running" | "exited" | "failed" | "unknown";

export interface WorkloadStatus {
  state: WorkloadState;
  /** The provider's reference (container id, pid, lease id). */
  ref: string;
  exitCode?: number;
  detail?: string;
}

export interface ProvisionRequest {
  /** Unique per session: the session's instanceId. Reused on every retry. */
  idempotencyKey: string;
  spec: WorkloadSpec;
  /** Unix seconds when the paid time ends; the workload must not outlive it. */
  endsAt: number;
}

export interface Provision {
  ref: string;
  /** False when an existing workload with this key was found and returned. */
  created: boolean;
}

export interface ComputeProvider {
  readonly name: string;
  quote(spec: WorkloadSpec, hours: number): Promise<Quote>;
  provision(req: ProvisionRequest): Promise<Provision>;
  status(idempotencyKey: string): Promise<WorkloadStatus>;
  /** The session got more paid time: keep the same workload running until `endsAt`. */
  extend(idempotencyKey: string, endsAt: number): Promise<void>;
  terminate(idempotencyKey: string): Promise<void>;
  /** Cheap liveness check used for health-aware choice and `keeper status`. */
  health(): Promise<{ ok: boolean; detail?: string }>;
}

/** Raised when provisioning cannot succeed; the lifecycle refunds or fails over. */
export class ProvisionError extends ProviderError {
  constructor(message: string, retryable: boolean, options?: { cause?: unknown }) {
    super(message, retryable ? "PROVISION_RETRYABLE" : "PROVISION_REFUSED", retryable, options);
  }
}

/**
 * The agent's workload config asks for what this provider cannot give (a GPU, ports, an image). Never
 * retried on the same provider, and no mark against the provider's health: it did nothing wrong.
 */
export class WorkloadRefused extends ProvisionError {
  constructor(message: string) {
    super(message, false);
  }
}
