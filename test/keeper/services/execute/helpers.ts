/** Shared helpers for the code-execution tests: the backends to run on, host health, services. */
import fs from "node:fs";
import { randomInt } from "node:crypto";
import pino from "pino";
import { ConfigSchema, KeeperConfig } from "../../../../keeper/config";
import { createBubblewrapBackend } from "../../../../keeper/services/execute/bubblewrapBackend";
import { createDockerBackend } from "../../../../keeper/services/execute/dockerBackend";
import { createExecuteService, ExecutionBackend } from "../../../../keeper/services/execute";
import type { JobContext } from "../../../../keeper/services/jobService";
import { requireDockerEngine } from "../../providers/helpers";

export const silentLog = pino({ level: "silent" });

export function config(over: Partial<Record<keyof KeeperConfig, unknown>> = {}): KeeperConfig {
  return ConfigSchema.parse({ EXECUTE_BACKEND: "bubblewrap", ...over });
}

export function ctx(jobId = `job-${randomInt(0, 1e9)}`): JobContext {
  return { jobId, signal: new AbortController().signal };
}

/** Each backend as a mocha suite factory: bubblewrap always, docker when an engine answers (required in CI). */
export const BACKENDS: { name: "bubblewrap" | "docker"; make: (ctx: Mocha.Context) => Promise<ExecutionBackend> }[] = [
  { name: "bubblewrap", make: async () => createBubblewrapBackend() },
  {
    name: "docker",
    make: async (c) => {
      const host = await requireDockerEngine(c); // builds agentcompute/runtime:local too (idempotent)
      return createDockerBackend({ dockerHost: host });
    },
  },
];

export function serviceOn(backend: ExecutionBackend, over: Partial<Record<keyof KeeperConfig, unknown>> = {}) {
  return createExecuteService(config(over), silentLog, { backend });
}

/** A string nobody else's processes carry, to find exactly this test's processes by command line. */
export function marker(): string {
  return `MARK${randomInt(1e9, 9e9)}`;
}

/** Live processes on the host whose command line contains `needle`. */
export function processesWith(needle: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2)[0] === "Z") continue;
      if (fs.readFileSync(`/proc/${e}/cmdline`, "utf8").includes(needle)) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

export interface HostHealth {
  processes: number;
  memAvailableMb: number;
}

export function hostHealth(): HostHealth {
  const processes = fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e)).length;
  const m = /MemAvailable:\s+(\d+) kB/.exec(fs.readFileSync("/proc/meminfo", "utf8"));
  return { processes, memAvailableMb: m ? Number(m[1]) / 1024 : 0 };
}
