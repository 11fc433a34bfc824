/**
 * The hardened Docker container for a SandboxSpec (pure): the same limits as the bwrap sandbox,
 * expressed as Docker Engine API create options. Docker's default seccomp profile stays on (no
 * "seccomp=unconfined"), and docker-init (tini) runs as pid 1 to reap zombies and forward signals.
 */
import type { ContainerCreateOptions, HostConfig } from "dockerode";
import { MiB, SandboxSpec, sandboxEnv } from "./sandboxSpec";

export interface DockerHardeningOptions {
  /** Largest json-file log kept per container (bytes); one file, no rotation copies. */
  logMaxBytes?: number;
  /** Run docker-init as pid 1 (docker.io ships it as /usr/bin/docker-init). */
  init?: boolean;
}

export const DEFAULT_DOCKER_LOG_MAX_BYTES = 1 * MiB;

export function buildDockerHostConfig(spec: SandboxSpec, opts: DockerHardeningOptions = {}): HostConfig {
  const memory = spec.memoryMb * MiB;
  const hc: HostConfig = {
    NetworkMode: "none",
    ReadonlyRootfs: true,
    CapDrop: ["ALL"],
    CapAdd: [],
    SecurityOpt: ["no-new-privileges"],
    Privileged: false,
    Memory: memory,
    MemorySwap: memory, // no swap on top of the limit
    PidsLimit: spec.pids,
    Tmpfs: { "/tmp": `rw,nosuid,nodev,size=${spec.tmpSizeMb}m,mode=1777` },
    Ulimits: [
      { Name: "fsize", Soft: spec.fileSizeBytes, Hard: spec.fileSizeBytes },
      { Name: "nofile", Soft: spec.openFiles, Hard: spec.openFiles },
      { Name: "core", Soft: 0, Hard: 0 },
      ...(spec.cpuSeconds !== undefined ? [{ Name: "cpu", Soft: spec.cpuSeconds, Hard: spec.cpuSeconds }] : []),
    ],
    IpcMode: "private",
    Init: opts.init ?? true,
    RestartPolicy: { Name: "no" },
    AutoRemove: false,
    LogConfig: { Type: "json-file", Config: { "max-size": String(opts.logMaxBytes ?? DEFAULT_DOCKER_LOG_MAX_BYTES), "max-file": "1" } },
    Binds: [...spec.roBinds.map((b) => `${b.source}:${b.target}:ro`), ...spec.rwBinds.map((b) => `${b.source}:${b.target}:rw`)],
  };
  if (spec.cpu !== undefined) hc.NanoCpus = Math.round(spec.cpu * 1e9);
  return hc;
}

export interface DockerContainerIdentity {
  image: string;
  name: string;
  labels: Record<string, string>;
}

/** Full create options: the spec's command (empty: the image's own), env, uid 65534, no network. */
export function buildDockerCreateOptions(
  spec: SandboxSpec,
  id: DockerContainerIdentity,
  opts: DockerHardeningOptions = {},
): ContainerCreateOptions {
  return {
    name: id.name,
    Image: id.image,
    Cmd: spec.command.length ? spec.command : undefined,
    Env: Object.entries(sandboxEnv(spec)).map(([k, v]) => `${k}=${v}`),
    User: `${spec.uid}:${spec.gid}`,
    WorkingDir: spec.cwd,
    Hostname: spec.hostname,
    Labels: { ...id.labels },
    NetworkDisabled: true,
    Tty: false,
    OpenStdin: false,
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    HostConfig: buildDockerHostConfig(spec, opts),
  };
}
