/**
 * ComputeProvider on a Docker engine (dockerode). One container per session:
 *   name   agentcompute-<key, or its hash>     labels agentcompute.session=<key>, agentcompute.managed=true
 * created from the hardened options of keeper/sandbox/dockerConfig.ts (no network, read-only root,
 * uid 65534, all capabilities dropped, no-new-privileges, Docker's default seccomp, memory / pids /
 * CPU limits, small /tmp, capped json-file log, docker-init as pid 1).
 *
 * Idempotency: provision() first looks for a container labelled with the key (created: false; one
 * left in "created" by a crash between create and start is started). Two keepers racing to create
 * it collide on the name: the loser's 409 Conflict returns the winner's container.
 *
 * endsAt is not enforced by the engine (a container has no deadline that can be extended); the
 * lifecycle terminates on time. extend() only checks the workload exists.
 *
 * No registry is ever contacted: images must exist locally (scripts/build-images.sh); a missing
 * image fails provisioning (not retryable) instead of pulling.
 */
import Docker from "dockerode";
import type { ComputeProvider, Provision, ProvisionRequest, Quote, WorkloadSpec, WorkloadState, WorkloadStatus } from "./provider";
import { ProvisionError, WorkloadRefused } from "./provider";
import { workloadName } from "./workloadName";
import { workloadSandboxSpec } from "./workloadSandbox";
import { buildDockerCreateOptions } from "../sandbox/dockerConfig";
import type { SandboxSpec } from "../sandbox/sandboxSpec";

export const DEFAULT_IMAGE = "agentcompute/busybox:local";
export const LABEL_SESSION = "agentcompute.session";
export const LABEL_MANAGED = "agentcompute.managed";
export const LABEL_ENDS_AT = "agentcompute.endsAt";

export interface DockerProviderOptions {
  /** The engine, as in DOCKER_HOST: unix:///path/docker.sock, /path/docker.sock, or tcp://host:port (no TLS). */
  dockerHost?: string;
  /** A ready client instead of dockerHost. */
  docker?: Docker;
  /** Image when the spec names none. */
  defaultImage?: string;
  /** USDC base units per hour quoted (constant or from the spec). Default 0. */
  pricePerHour?: bigint | ((spec: WorkloadSpec) => bigint);
  /** Processes per container. Default 64. */
  pids?: number;
  /** /tmp tmpfs size (MiB). Default 64. */
  tmpSizeMb?: number;
  /** RLIMIT_FSIZE. Default 16 MiB. */
  fileSizeBytes?: number;
  /** json-file log cap. Default 1 MiB. */
  logMaxBytes?: number;
  /** SIGTERM to SIGKILL on terminate (seconds). Default 10. */
  stopGraceSeconds?: number;
  maxCpu?: number;
  maxMemoryMb?: number;
  /** Per API request. Default 60 s. */
  requestTimeoutMs?: number;
  /** health() result reuse. Default 10 s. */
  healthTtlMs?: number;
  /** docker-init as pid 1. Default true. */
  init?: boolean;
}

/** dockerode connection options for a DOCKER_HOST value. */
export function dockerConnection(dockerHost: string): Docker.DockerOptions {
  if (dockerHost.startsWith("unix://")) return { socketPath: dockerHost.slice("unix://".length) };
  if (dockerHost.startsWith("/")) return { socketPath: dockerHost };
  const tcp = dockerHost.match(/^(?:tcp|http):\/\/([^:/]+|\[[^\]]+\]):(\d+)\/?$/);
  if (tcp) return { host: tcp[1].replace(/^\[|\]$/g, ""), port: Number(tcp[2]), protocol: "http" };
  throw new Error(`unsupported DOCKER_HOST ${JSON.stringify(dockerHost)} (unix:///path or tcp://host:port)`);
}

interface ApiError {
  statusCode?: number;
  code?: string;
  message: string;
  json?: { message?: string };
}

const status = (e: unknown) => (e as ApiError)?.statusCode;
const reason = (e: unknown) => (e as ApiError)?.json?.message ?? (e as Error)?.message ?? String(e);

/** Engine container state -> WorkloadState. */
export function mapContainerState(s: Docker.ContainerInspectInfo["State"]): { state: WorkloadState; exitCode?: number; detail?: string } {
  switch (s.Status) {
    case "created":
      return { state: "starting" };
    case "running":
      return { state: "running" };
    case "restarting":
      return { state: "running", detail: "restarting" };
    case "paused":
      return { state: "running", detail: "paused" };
    case "removing":
    case "exited":
      return {
        state: "exited",
        exitCode: s.ExitCode,
        ...(s.OOMKilled ? { detail: "out of memory (OOM killed)" } : s.Error ? { detail: s.Error } : {}),
      };
    case "dead":
      return { state: "failed", exitCode: s.ExitCode, detail: s.Error || "dead" };
    default:
      return { state: "unknown", detail: s.Status };
  }
}

export class DockerProvider implements ComputeProvider {
  readonly name = "docker";
  readonly docker: Docker;
  readonly dockerHost: string;
  private readonly locks = new Map<string, Promise<unknown>>();
  private healthCache?: { at: number; result: { ok: boolean; detail?: string } };

  constructor(private readonly opts: DockerProviderOptions = {}) {
    this.dockerHost = opts.dockerHost ?? "unix:///var/run/docker.sock";
    this.docker = opts.docker ?? new Docker({ ...dockerConnection(this.dockerHost), timeout: opts.requestTimeoutMs ?? 60_000 });
  }

  private get image(): string {
    return this.opts.defaultImage ?? DEFAULT_IMAGE;
  }

  private async locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    }
  }

  /** Container name for a key. */
  containerName(key: string): string {
    return `agentcompute-${workloadName(key)}`;
  }

  private sandboxSpec(spec: WorkloadSpec): SandboxSpec {
    return workloadSandboxSpec(spec, this.opts);
  }

  private engineError(what: string, e: unknown): ProvisionError {
    // No HTTP status: the engine did not answer (socket missing, refused, timeout): worth retrying.
    const s = status(e);
    return new ProvisionError(`docker: ${what}: ${reason(e)}`, s === undefined || s >= 500);
  }

  /** Every container labelled with this key (normally one). */
  private async findAll(key: string): Promise<Docker.ContainerInfo[]> {
    const list = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL_SESSION}=${key}`] } });
    return list.filter((c) => c.Labels?.[LABEL_SESSION] === key);
  }

  private async find(key: string): Promise<Docker.ContainerInfo | undefined> {
    const all = await this.findAll(key);
    const name = `/${this.containerName(key)}`;
    return all.find((c) => c.Names?.includes(name)) ?? all.sort((a, b) => a.Created - b.Created)[0];
  }

  private async startIfCreated(id: string, state: string): Promise<void> {
    if (state !== "created") return;
    try {
      await this.docker.getContainer(id).start();
    } catch (e) {
      if (status(e) !== 304) throw this.engineError("start", e);
    }
  }

  // ---- ComputeProvider ---------------------------------------------------------------------

  async quote(spec: WorkloadSpec, _hours: number): Promise<Quote> {
    const p = this.opts.pricePerHour ?? 0n;
    const pricePerHour = typeof p === "function" ? p(spec) : p;
    let available =
      (this.opts.maxCpu === undefined || spec.cpu <= this.opts.maxCpu) &&
      (this.opts.maxMemoryMb === undefined || spec.memoryMb <= this.opts.maxMemoryMb) &&
      (await this.health()).ok;
    if (available && spec.image) available = await this.imageExists(spec.image);
    return { pricePerHour, available };
  }

  async provision(req: ProvisionRequest): Promise<Provision> {
    const key = req.idempotencyKey;
    const name = this.containerName(key);
    // The operator's own hardware offers no GPU and no inbound ports: say so rather than run without.
    if (req.spec.gpu) throw new WorkloadRefused("config.gpu: the operator's own hardware has no GPU to give; allow a cloud provider");
    if (req.spec.ports?.length)
      throw new WorkloadRefused("config.ports: workloads on the operator's own hardware have no network; allow a cloud provider");
    const spec = this.sandboxSpec(req.spec);
    return this.locked(key, async () => {
      let existing: Docker.ContainerInfo | undefined;
      try {
        existing = await this.find(key);
      } catch (e) {
        throw this.engineError("list containers", e);
      }
      if (existing) {
        await this.startIfCreated(existing.Id, existing.State);
        return { ref: existing.Id, created: false };
      }
      if (req.endsAt <= Math.floor(Date.now() / 1000)) throw new ProvisionError("endsAt is already past", false);

      const image = req.spec.image ?? this.image;
      const options = buildDockerCreateOptions(
        spec,
        { image, name, labels: { [LABEL_SESSION]: key, [LABEL_MANAGED]: "true", [LABEL_ENDS_AT]: String(req.endsAt) } },
        { logMaxBytes: this.opts.logMaxBytes, init: this.opts.init },
      );
      let container: Docker.Container;
      try {
        container = await this.docker.createContainer(options);
      } catch (e) {
        if (status(e) === 409) {
          // Another keeper (or a retry) created it between our lookup and our create.
          // The engine reserves the name before the container exists: until the other create
          // finishes, inspect says 404. Wait for it.
          let info: Docker.ContainerInspectInfo | undefined;
          for (let i = 0; !info; i++) {
            try {
              info = await this.docker.getContainer(name).inspect();
            } catch (e2) {
              if (status(e2) !== 404 || i >= 100) throw this.engineError("inspect after name conflict", e2);
              await new Promise((r) => setTimeout(r, 50));
            }
          }
          if (info.Config.Labels?.[LABEL_SESSION] !== key)
            throw new ProvisionError(`container name ${name} is taken by another workload`, false);
          await this.startIfCreated(info.Id, info.State.Status);
          return { ref: info.Id, created: false };
        }
        if (status(e) === 404) {
          throw new ProvisionError(
            `image ${image} is not available on this engine (nothing is pulled; build it with scripts/build-images.sh)`,
            false,
          );
        }
        throw this.engineError("create", e);
      }
      try {
        await container.start();
      } catch (e) {
        if (status(e) !== 304) {
          // A container that cannot start (no such command, say) is removed, so a retry starts clean.
          await container.remove({ force: true }).catch(() => undefined);
          throw this.engineError("start", e);
        }
      }
      return { ref: container.id, created: true };
    });
  }

  async status(key: string): Promise<WorkloadStatus> {
    const found = await this.find(key);
    if (!found) return { state: "unknown", ref: "" };
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(found.Id).inspect();
    } catch (e) {
      if (status(e) === 404) return { state: "unknown", ref: "" };
      throw e;
    }
    return { ref: info.Id, ...mapContainerState(info.State) };
  }

  async extend(key: string, _endsAt: number): Promise<void> {
    if (!(await this.find(key))) throw new ProvisionError(`no container for key ${JSON.stringify(key)}`, false);
  }

  async terminate(key: string): Promise<void> {
    await this.locked(key, async () => {
      for (const c of await this.findAll(key)) {
        const container = this.docker.getContainer(c.Id);
        try {
          await container.stop({ t: this.opts.stopGraceSeconds ?? 10 });
        } catch (e) {
          if (status(e) !== 304 && status(e) !== 404) throw e; // 304: not running
        }
        try {
          await container.remove({ force: true, v: true });
        } catch (e) {
          if (status(e) !== 404 && !(status(e) === 409 && /in progress/i.test(reason(e)))) throw e;
        }
      }
    });
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    const ttl = this.opts.healthTtlMs ?? 10_000;
    if (this.healthCache && Date.now() - this.healthCache.at < ttl) return this.healthCache.result;
    let result: { ok: boolean; detail?: string };
    try {
      await Promise.race([
        this.docker.ping(),
        new Promise((_, rej) => setTimeout(() => rej(new Error("ping timed out after 3 s")), 3000).unref()),
      ]);
      const v = await this.docker.version();
      result = (await this.imageExists(this.image))
        ? { ok: true, detail: `engine ${v.Version} (API ${v.ApiVersion}) at ${this.dockerHost}` }
        : { ok: false, detail: `default image ${this.image} is missing at ${this.dockerHost}: run scripts/build-images.sh` };
    } catch (e) {
      result = { ok: false, detail: `no Docker engine at ${this.dockerHost}: ${reason(e)}` };
    }
    this.healthCache = { at: Date.now(), result };
    return result;
  }

  // ---- extras ------------------------------------------------------------------------------

  async imageExists(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (e) {
      if (status(e) === 404) return false;
      throw e;
    }
  }
}
