/**
 * A session's workload as the sandbox both local providers (docker, bubblewrap) run it: the agent's
 * command, env, memory and CPU, within the operator's limits (defaults: 64 processes, 64 MiB of /tmp,
 * 16 MiB per file). A workload the sandbox refuses is a ProvisionError that is not retried.
 */
import { ProvisionError, type WorkloadSpec } from "./provider";
import { createSandboxSpec, InvalidSandboxSpec, MiB, type SandboxSpec } from "../sandbox/sandboxSpec";

export interface WorkloadLimits {
  pids?: number;
  tmpSizeMb?: number;
  fileSizeBytes?: number;
}

export function workloadSandboxSpec(spec: WorkloadSpec, limits: WorkloadLimits): SandboxSpec {
  try {
    return createSandboxSpec({
      command: spec.command ?? [],
      env: spec.env,
      memoryMb: Math.ceil(spec.memoryMb),
      cpu: spec.cpu,
      pids: limits.pids ?? 64,
      tmpSizeMb: limits.tmpSizeMb ?? 64,
      fileSizeBytes: limits.fileSizeBytes ?? 16 * MiB,
    });
  } catch (e) {
    if (e instanceof InvalidSandboxSpec) throw new ProvisionError(e.message, false);
    throw e;
  }
}
