/**
 * Code-execution benchmarks, for each backend (bubblewrap always, docker when an engine answers):
 *
 * 1. Overhead per job: `print(1)` in python / javascript / bash through the backend, against the
 *    same interpreter run bare (spawned directly) in the same run; p50 and p99 of both and of the
 *    difference of medians. Targets: bubblewrap adds at most 15 ms p50, docker at most 250 ms p50.
 * 2. Throughput: jobs per second at full concurrency (EXECUTE_CONCURRENCY, default 2 on this
 *    2-core machine) for a ~50 ms CPU-bound python snippet through the service (queue included),
 *    while a fastify /health (the service's health()) is polled every 50 ms; its p50 / p99 / max.
 *
 *   npm run bench:execute          (SAMPLES=40 JOBS=60 BACKENDS=bubblewrap,docker)
 */
import { spawn } from "node:child_process";
import Fastify from "fastify";
import pino from "pino";
import { ConfigSchema } from "../keeper/config";
import { createExecuteService, ExecutionBackend } from "../keeper/services/execute";
import { createBubblewrapBackend } from "../keeper/services/execute/bubblewrapBackend";
import { createDockerBackend, dockerReachable } from "../keeper/services/execute/dockerBackend";
import type { Language } from "../keeper/services/execute/request";

const SAMPLES = Number(process.env.SAMPLES ?? 40);
const JOBS = Number(process.env.JOBS ?? 60);
const WANT = (process.env.BACKENDS ?? "bubblewrap,docker").split(",");
const DOCKER_HOST = process.env.DOCKER_HOST ?? `unix://${process.cwd()}/data/docker-engine/docker.sock`;

const PRINT1: Record<Language, [string, string[]]> = {
  python: ["/usr/bin/python3", ["-I", "-c", "print(1)"]],
  javascript: ["/usr/bin/node", ["-e", "console.log(1)"]],
  bash: ["/bin/bash", ["-c", "echo 1"]],
};
const CODE: Record<Language, string> = { python: "print(1)", javascript: "console.log(1)", bash: "echo 1" };

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const f = (n: number) => n.toFixed(1);

function bare(cmd: string, args: string[]): Promise<number> {
  const t = process.hrtime.bigint();
  return new Promise((res, rej) => {
    const c = spawn(cmd, args, { env: { PATH: "/usr/bin:/bin", HOME: "/tmp", LANG: "C.UTF-8" }, stdio: ["ignore", "pipe", "pipe"] });
    c.stdout.resume();
    c.on("error", rej);
    c.on("close", () => res(Number(process.hrtime.bigint() - t) / 1e6));
  });
}

async function overhead(b: ExecutionBackend): Promise<void> {
  for (const lang of Object.keys(PRINT1) as Language[]) {
    const [cmd, args] = PRINT1[lang];
    await bare(cmd, args);
    await b.run({ language: lang, code: CODE[lang], timeoutMs: 10_000, memoryMb: 128, maxOutputBytes: 1 << 20 });
    const tb: number[] = [];
    const ts: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      tb.push(await bare(cmd, args));
      const t = process.hrtime.bigint();
      const r = await b.run({ language: lang, code: CODE[lang], timeoutMs: 10_000, memoryMb: 128, maxOutputBytes: 1 << 20 });
      ts.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (r.stdout !== "1\n") throw new Error(`${b.name} ${lang}: unexpected output ${JSON.stringify(r.stdout)}`);
    }
    console.log(
      `| ${b.name} | ${lang} | ${f(pct(tb, 50))} / ${f(pct(tb, 99))} | ${f(pct(ts, 50))} / ${f(pct(ts, 99))} | +${f(pct(ts, 50) - pct(tb, 50))} |`,
    );
  }
}

async function throughput(b: ExecutionBackend): Promise<void> {
  const cfg = ConfigSchema.parse({ EXECUTE_BACKEND: b.name, EXECUTE_QUEUE_MAX: String(JOBS + 1) });
  const s = createExecuteService(cfg, pino({ level: "silent" }), { backend: b });
  const app = Fastify();
  app.get("/health", async () => s.health!());
  await app.listen({ host: "127.0.0.1", port: 0 });
  const port = (app.server.address() as { port: number }).port;
  // ~50 ms of CPU for python on this machine (calibrated below, bare).
  const code = "s = 0\nfor i in range(N): s += i * i\nprint(s > 0)";
  let n = 400_000;
  for (let k = 0; k < 3; k++) {
    const ms = await bare("/usr/bin/python3", ["-I", "-c", code.replace("N", String(n))]);
    const base = await bare("/usr/bin/python3", ["-I", "-c", "print(1)"]);
    n = Math.max(10_000, Math.round((n * 50) / Math.max(1, ms - base)));
  }
  const snippet = code.replace("N", String(n));
  const health: number[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const t = process.hrtime.bigint();
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      await r.text();
      health.push(Number(process.hrtime.bigint() - t) / 1e6);
      await new Promise((res) => setTimeout(res, 50));
    }
  })();
  const t0 = Date.now();
  const results = await Promise.all(
    Array.from({ length: JOBS }, (_, i) =>
      s.run(s.parse({ job_id: `b${i}`, language: "python", code: snippet }), { jobId: `b${i}`, signal: new AbortController().signal }),
    ),
  );
  const secs = (Date.now() - t0) / 1000;
  polling = false;
  await poller;
  await app.close();
  if (results.some((r) => r.output.stdout !== "True\n")) throw new Error("a throughput job failed");
  console.log(
    `| ${b.name} | ${cfg.EXECUTE_CONCURRENCY} | ${JOBS} | ${(JOBS / secs).toFixed(1)} | ${f(pct(health, 50))} / ${f(pct(health, 99))} / ${f(Math.max(...health))} (${health.length} polls) |`,
  );
}

async function main() {
  const backends: ExecutionBackend[] = [];
  if (WANT.includes("bubblewrap")) backends.push(createBubblewrapBackend());
  if (WANT.includes("docker")) {
    if (await dockerReachable(DOCKER_HOST)) backends.push(createDockerBackend({ dockerHost: DOCKER_HOST }));
    else console.log(`(docker skipped: no engine with agentcompute/runtime:local at ${DOCKER_HOST})`);
  }
  console.log(
    `\nOverhead per job, ${SAMPLES} samples, ms (p50 / p99)\n| backend | language | bare | sandboxed | added p50 |\n|---|---|---|---|---|`,
  );
  for (const b of backends) await overhead(b);
  console.log(
    `\nThroughput, ~50 ms CPU python job, ${JOBS} jobs\n| backend | concurrency | jobs | jobs/s | /health ms p50 / p99 / max |\n|---|---|---|---|---|`,
  );
  for (const b of backends) await throughput(b);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
