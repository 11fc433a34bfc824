/** Shared helpers for the provider and sandbox tests. */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { randomInt } from "node:crypto";
import type { ComputeProvider } from "../../../keeper/providers/provider";

export const REPO = path.resolve(__dirname, "../../..");

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Truthy<T> = Exclude<T, undefined | null | false | 0 | "">;

export async function waitUntil<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, stepMs = 50): Promise<Truthy<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as Truthy<T>;
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(stepMs);
  }
}

export function tempDir(prefix = "ac-provider-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A `sleep` duration nobody else uses, to find exactly our processes by their command line. */
export function marker(): string {
  return String(700_000 + randomInt(0, 99_999));
}

/** Live (non-zombie) `sleep <marker>` processes (not the shells or bwraps that carry it in their argv). */
export function sleepers(needle: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2)[0] === "Z") continue;
      const argv = fs.readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0");
      if (path.basename(argv[0]) === "sleep" && argv[1] === needle) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

export function pidAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** A TCP listener on 127.0.0.1 that counts connections (the only address tests may use). */
export async function listener(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    n++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    connections: () => n,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Terminates every workload a test provisioned, even when the test failed. */
export class Cleanup {
  private readonly items: { provider: ComputeProvider; key: string }[] = [];
  private readonly dirs: string[] = [];

  track(provider: ComputeProvider, key: string): string {
    this.items.push({ provider, key });
    return key;
  }

  dir(d: string): string {
    this.dirs.push(d);
    return d;
  }

  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (const { provider, key } of this.items.splice(0)) {
      try {
        await provider.terminate(key);
      } catch (e) {
        errors.push(e);
      }
    }
    for (const d of this.dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
    if (errors.length) throw errors[0];
  }
}

let keyCounter = 0;
export function uniqueKey(label: string): string {
  return `t${process.pid}-${label}-${++keyCounter}-${randomInt(0, 1e9)}`;
}

export const inSeconds = (s: number) => Math.floor(Date.now() / 1000) + s;

/**
 * The Docker engine the docker tests use: $DOCKER_HOST, else the engine of
 * scripts/docker-engine.sh (./data/docker-engine), else /tmp/acd (this machine's dev engine).
 */
export function testDockerHost(): string {
  if (process.env.DOCKER_HOST) return process.env.DOCKER_HOST;
  for (const sock of [path.join(REPO, "data/docker-engine/docker.sock"), "/tmp/acd/docker.sock"]) {
    try {
      if (fs.statSync(sock).isSocket()) return `unix://${sock}`;
    } catch {
      // next
    }
  }
  return `unix://${path.join(REPO, "data/docker-engine/docker.sock")}`;
}

/**
 * Mocha `before` hook body for the docker suites: skips the suite, saying why, when no engine answers
 * at testDockerHost(); builds the default image with scripts/build-images.sh (offline, idempotent).
 */
export async function requireDockerEngine(ctx: Mocha.Context): Promise<string> {
  const host = testDockerHost();
  const { default: Docker } = await import("dockerode");
  const { dockerConnection } = await import("../../../keeper/providers/docker");
  const docker = new Docker({ ...dockerConnection(host), timeout: 3000 });
  try {
    await docker.ping();
  } catch (e) {
    // CI starts an engine (.ci/run sets REQUIRE_DOCKER=1): there a missing engine is a failure, not a skip.
    if (process.env.REQUIRE_DOCKER === "1")
      throw new Error(`REQUIRE_DOCKER=1 but no Docker engine answers at ${host}: ${(e as Error).message}`, { cause: e });
    console.warn(
      `      [docker tests skipped] no Docker engine answers at ${host} (${(e as Error).message}).\n` +
        `      Start one with: scripts/docker-engine.sh start && scripts/build-images.sh (CI does), or set DOCKER_HOST.`,
    );
    ctx.skip();
  }
  // Idempotent: rebuilds only when the image is missing or was not built by this script (an image
  // whose /tmp is not 1777 would make the tmpfs on /tmp unwritable: Docker copies the image's mode).
  const { execFileSync } = await import("node:child_process");
  execFileSync("bash", [path.join(REPO, "scripts/build-images.sh")], {
    env: { ...process.env, DOCKER_HOST: host },
    stdio: ["ignore", "ignore", "pipe"],
  });
  return host;
}

/** Demultiplexes a non-TTY container log buffer (8-byte frame headers) into stdout and stderr. */
export function demuxDockerLogs(buf: Buffer): { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  for (let i = 0; i + 8 <= buf.length;) {
    const size = buf.readUInt32BE(i + 4);
    (buf[i] === 2 ? err : out).push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return { stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") };
}
