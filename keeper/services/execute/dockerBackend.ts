/**
 * Docker backend (production): one throw-away container per job from the locally built runtime image
 * (scripts/build-runtime-images.sh: python3, node, bash, no registry), with the hardened options of
 * keeper/sandbox/dockerConfig.ts (uid 65534, network none, read-only root, small /tmp tmpfs, memory =
 * memory+swap, pids limit, all caps dropped, no-new-privileges, Docker's default seccomp, docker-init
 * as pid 1). Output is read from an attach stream opened before start and capped per stream (the
 * container is killed on overflow). At the deadline the container is killed; it is always removed.
 *
 * memory_used_mb: each container runs under its own parent cgroup (HostConfig.CgroupParent), which
 * outlives the container, so its v1 memory.max_usage_in_bytes (or v2 memory.peak) is read after the
 * exit and the parent is then removed. When the engine's cgroups are not visible (a remote engine),
 * memory_used_mb is null.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import Docker from "dockerode";
import { dockerConnection } from "../../providers/docker";
import { buildDockerCreateOptions, createSandboxSpec } from "../../sandbox";
import { BackendError, ExecutionBackend, ExecutionJob, ExecutionOutcome, JOB_ENV, JOB_LIMITS } from "./backend";
import type { Language } from "./request";

export const DEFAULT_RUNTIME_IMAGE = "agentcompute/runtime:local";
export const LABEL_EXECUTE = "agentcompute.execute";

export const DOCKER_INTERPRETERS: Record<Language, (code: string) => string[]> = {
  python: (code) => ["/usr/bin/python3", "-I", "-c", code],
  javascript: (code) => ["/usr/bin/node", "-e", code],
  bash: (code) => ["/bin/bash", "-c", code],
};

export interface DockerBackendOptions {
  dockerHost?: string;
  docker?: Docker;
  image?: string;
  /** Where the engine's cgroup v1 controllers (or the v2 unified tree) are mounted. */
  cgroupRoot?: string;
}

export async function dockerReachable(dockerHost: string, image = DEFAULT_RUNTIME_IMAGE): Promise<boolean> {
  try {
    const d = new Docker({ ...dockerConnection(dockerHost), timeout: 3000 });
    await d.ping();
    await d.getImage(image).inspect();
    return true;
  } catch {
    return false;
  }
}

/** Counts bytes and keeps the first `cap`; calls onOverflow once when more arrives. */
class CappedSink extends Writable {
  private chunks: Buffer[] = [];
  size = 0;
  truncated = false;
  constructor(
    private readonly cap: number,
    private readonly onOverflow: () => void,
  ) {
    super();
  }
  _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    const room = this.cap - this.size;
    if (chunk.length > room) {
      if (room > 0) this.chunks.push(chunk.subarray(0, room));
      this.size = this.cap;
      if (!this.truncated) {
        this.truncated = true;
        this.onOverflow();
      }
    } else {
      this.chunks.push(chunk);
      this.size += chunk.length;
    }
    cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

function readNumber(file: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

export function createDockerBackend(opts: DockerBackendOptions = {}): ExecutionBackend {
  const docker = opts.docker ?? new Docker({ ...dockerConnection(opts.dockerHost ?? "unix:///var/run/docker.sock"), timeout: 30_000 });
  const image = opts.image ?? DEFAULT_RUNTIME_IMAGE;
  const cgroupRoot = opts.cgroupRoot ?? "/sys/fs/cgroup";
  const v2 = fs.existsSync(path.join(cgroupRoot, "cgroup.controllers"));
  const cgroupsVisible = fs.existsSync(v2 ? cgroupRoot : path.join(cgroupRoot, "memory"));

  const peakOf = (parent: string): number | undefined =>
    !cgroupsVisible
      ? undefined
      : v2
        ? readNumber(path.join(cgroupRoot, parent, "memory.peak"))
        : readNumber(path.join(cgroupRoot, "memory", parent, "memory.max_usage_in_bytes"));

  /** rmdir a cgroup directory and the (empty) ones below it, deepest first; true when gone. */
  const rmTree = (d: string): boolean => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "ENOENT";
    }
    for (const e of entries) if (e.isDirectory()) rmTree(path.join(d, e.name));
    try {
      fs.rmdirSync(d);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "ENOENT";
    }
  };

  /**
   * Removes the job's parent cgroup in every controller. The engine removes the container's own
   * cgroup below it asynchronously after the exit (EBUSY until then), so retry for a while, removing
   * the empty child first ourselves when the engine has not yet.
   */
  const removeParent = async (parent: string): Promise<void> => {
    let dirs: string[] = [];
    if (!cgroupsVisible) return;
    try {
      dirs = v2 ? [path.join(cgroupRoot, parent)] : fs.readdirSync(cgroupRoot).map((c) => path.join(cgroupRoot, c, parent));
    } catch {
      // no cgroup tree visible here (a remote engine): nothing of ours to remove
    }
    for (let i = 0; i < 100 && dirs.length; i++) {
      dirs = dirs.filter((d) => !rmTree(d));
      if (dirs.length) await new Promise((r) => setTimeout(r, 20));
    }
  };

  return {
    name: "docker",
    async run(job: ExecutionJob): Promise<ExecutionOutcome> {
      const id = randomBytes(8).toString("hex");
      const parent = `agentcompute-exec-${id}`;
      const spec = createSandboxSpec({
        command: DOCKER_INTERPRETERS[job.language](job.code),
        env: { ...JOB_ENV },
        memoryMb: job.memoryMb,
        pids: JOB_LIMITS.pids,
        tmpSizeMb: JOB_LIMITS.tmpSizeMb,
        fileSizeBytes: JOB_LIMITS.fileSizeBytes,
        openFiles: JOB_LIMITS.openFiles,
        cpu: JOB_LIMITS.cpu,
        cwd: "/tmp",
        hostname: "sandbox",
      });
      const create = buildDockerCreateOptions(spec, { image, name: `agentcompute-exec-${id}`, labels: { [LABEL_EXECUTE]: "true" } });
      create.AttachStdout = true;
      create.AttachStderr = true;
      // Only when the keeper sees the engine's cgroup tree (same host): else it could not read or remove it.
      if (cgroupsVisible) create.HostConfig = { ...create.HostConfig, CgroupParent: `/${parent}` };

      let container: Docker.Container;
      try {
        container = await docker.createContainer(create);
      } catch (e) {
        await removeParent(parent);
        throw new BackendError(`could not create the container: ${(e as Error).message}`);
      }
      let timedOut = false;
      let timer: NodeJS.Timeout | undefined;
      const kill = (): void => void container.kill().catch(() => undefined);
      const out = new CappedSink(job.maxOutputBytes, kill);
      const err = new CappedSink(job.maxOutputBytes, kill);
      try {
        const stream = await container.attach({ stream: true, stdout: true, stderr: true });
        const ended = new Promise<void>((res) => {
          stream.on("end", res);
          stream.on("close", res);
          stream.on("error", () => res());
        });
        docker.modem.demuxStream(stream, out, err);
        // "next-exit": the default condition (not-running) is already true for a created container.
        const waited = container.wait({ condition: "next-exit" });
        let startedAt = Date.now();
        try {
          await container.start();
        } catch (e) {
          throw new BackendError(`could not start the container: ${(e as Error).message}`);
        }
        startedAt = Date.now();
        timer = setTimeout(() => {
          timedOut = true;
          kill();
        }, job.timeoutMs);
        const onAbort = () => kill();
        job.signal?.addEventListener("abort", onAbort, { once: true });
        const w = (await waited) as { StatusCode: number };
        const executionMs = Date.now() - startedAt;
        job.signal?.removeEventListener("abort", onAbort);
        clearTimeout(timer);
        await Promise.race([ended, new Promise((r) => setTimeout(r, 2000))]);
        const info = await container.inspect();
        return {
          stdout: out.text(),
          stderr: err.text(),
          stdoutTruncated: out.truncated,
          stderrTruncated: err.truncated,
          exitCode: typeof w.StatusCode === "number" ? w.StatusCode : info.State.ExitCode,
          timedOut,
          oomKilled: info.State.OOMKilled === true,
          executionMs,
          memoryPeakBytes: peakOf(parent),
        };
      } catch (e) {
        if (e instanceof BackendError) throw e;
        throw new BackendError(`docker: ${(e as Error).message}`);
      } finally {
        if (timer) clearTimeout(timer);
        await container.remove({ force: true, v: true }).catch(() => undefined);
        await removeParent(parent);
      }
    },
    async health() {
      try {
        await docker.ping();
        await docker.getImage(image).inspect();
        return { ok: true };
      } catch (e) {
        return { ok: false, detail: `docker engine or image ${image} unavailable: ${(e as Error).message}` };
      }
    },
  };
}
