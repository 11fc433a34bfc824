/**
 * Per-workload cgroup (v1 here: memory and pids controllers) for limits bwrap cannot set: memory and
 * the number of processes of this workload alone. The workload moves itself into the cgroup before
 * exec'ing bwrap (see enterCgroupCommand), so nothing it starts escapes the limits.
 */
import fs from "node:fs";
import path from "node:path";
import { SANDBOX_UID } from "./spec";

const ROOT = "/sys/fs/cgroup";
const GROUP = "agentcompute";

export interface Cgroup {
  /** cgroup.procs files the workload writes its pid into. */
  procsFiles: string[];
  /** Every pid in the cgroup (all of the workload's processes). */
  pids(): number[];
  /** Peak memory use in bytes, when the kernel reports it. */
  peakMemoryBytes(): number | undefined;
  remove(): void;
}

export function cgroupsAvailable(): boolean {
  try {
    for (const c of ["memory", "pids"]) fs.accessSync(path.join(ROOT, c, "cgroup.procs"), fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function dirsOf(name: string) {
  return { memory: path.join(ROOT, "memory", GROUP, name), pids: path.join(ROOT, "pids", GROUP, name) };
}

/** Creates the cgroup `name` with the given limits (or resets them, if it exists and is empty). */
export function createCgroup(name: string, memoryBytes: number, maxPids: number): Cgroup {
  const dirs = dirsOf(name);
  for (const dir of Object.values(dirs)) fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dirs.memory, "memory.limit_in_bytes"), String(memoryBytes));
  try {
    // No swap beyond the limit, where the kernel accounts swap.
    fs.writeFileSync(path.join(dirs.memory, "memory.memsw.limit_in_bytes"), String(memoryBytes));
  } catch {
    // swap accounting off: memory.limit_in_bytes alone
  }
  fs.writeFileSync(path.join(dirs.pids, "pids.max"), String(maxPids));
  const cgroup = openCgroup(name);
  for (const f of cgroup.procsFiles) fs.chownSync(f, SANDBOX_UID, SANDBOX_UID);
  return cgroup;
}

/** A handle on an existing cgroup (after a restart, say), without touching its limits. */
export function openCgroup(name: string): Cgroup {
  const dirs = dirsOf(name);
  const procsFiles = Object.values(dirs).map((d) => path.join(d, "cgroup.procs"));
  return {
    procsFiles,
    pids: () => {
      try {
        return fs.readFileSync(procsFiles[1], "utf8").split("\n").filter(Boolean).map(Number);
      } catch {
        return [];
      }
    },
    peakMemoryBytes: () => {
      try {
        return Number(fs.readFileSync(path.join(dirs.memory, "memory.max_usage_in_bytes"), "utf8"));
      } catch {
        return undefined;
      }
    },
    remove: () => {
      for (const dir of Object.values(dirs)) {
        try {
          fs.rmdirSync(dir);
        } catch {
          // still has processes (being killed) or already gone
        }
      }
    },
  };
}

/** A command that joins the cgroup (writes its own pid) and then becomes `argv`. */
export function enterCgroupCommand(cgroup: Cgroup | undefined, argv: string[]): string[] {
  if (!cgroup) return argv;
  const writes = cgroup.procsFiles.map((_, i) => `echo $$ > "$${i + 1}"`).join(" && ");
  return ["/bin/sh", "-c", `${writes} && shift ${cgroup.procsFiles.length} && exec "$@"`, "enter-cgroup", ...cgroup.procsFiles, ...argv];
}
