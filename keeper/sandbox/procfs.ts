/**
 * /proc helpers: process identity that survives pid reuse (pid + start time), process groups and
 * pid namespaces (a bwrap sandbox is exactly one pid namespace).
 */
import fs from "node:fs";
import { sleep } from "../errors";

export interface ProcStat {
  pid: number;
  comm: string;
  /** R, S, D, Z, T, X ... */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** Field 22: start time in clock ticks since boot. With the pid, it names one process for good. */
  startTime: string;
}

/** Parses /proc/<pid>/stat. The command name may itself contain spaces and parentheses. */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) throw new Error("malformed /proc stat line");
  const rest = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state); field N is rest[N - 3].
  if (rest.length < 20) throw new Error("malformed /proc stat line");
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: rest[0],
    ppid: Number(rest[1]),
    pgrp: Number(rest[2]),
    session: Number(rest[3]),
    startTime: rest[19],
  };
}

export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

export function processStartTime(pid: number): string | undefined {
  return readProcStat(pid)?.startTime;
}

/** True while `pid` is the very process that started at `startTime` and has not exited (zombies count as exited). */
export function isSameProcess(pid: number, startTime: string): boolean {
  const st = readProcStat(pid);
  return st !== undefined && st.startTime === startTime && st.state !== "Z" && st.state !== "X";
}

export function listPids(): number[] {
  const pids: number[] = [];
  for (const e of fs.readdirSync("/proc")) if (/^\d+$/.test(e)) pids.push(Number(e));
  return pids;
}

/** The pid namespace of `pid` as "pid:[inode]", or undefined (gone, or not ours to read). */
export function pidNamespaceOf(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

/** Every live process in the pid namespace `ns` (as seen from ours). */
export function processesInPidNamespace(ns: string): number[] {
  return listPids().filter((p) => pidNamespaceOf(p) === ns);
}

/** Every live (non-zombie) member of process group `pgid`. */
export function processGroupMembers(pgid: number): number[] {
  return listPids().filter((p) => {
    const st = readProcStat(p);
    return st !== undefined && st.pgrp === pgid && st.state !== "Z";
  });
}

/** Sends a signal, ignoring "no such process". */
export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Polls `done` every `stepMs` until it is true or `timeoutMs` passed; returns its last value. */
export async function waitFor(done: () => boolean, timeoutMs: number, stepMs = 25, maxStepMs = stepMs): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (let step = stepMs; ; step = Math.min(maxStepMs, step * 2)) {
    if (done()) return true;
    if (Date.now() >= end) return false;
    await sleep(step);
  }
}
