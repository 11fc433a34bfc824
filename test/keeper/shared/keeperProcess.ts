/**
 * The keeper as a real child process (`keeper start`), so tests can SIGKILL it at any point and
 * start it again on the same database. Its JSON log lines are kept for assertions.
 */
import { ChildProcess, spawn } from "node:child_process";
import path from "node:path";

const CLI = path.resolve(__dirname, "..", "..", "..", "keeper", "cli.ts");

export interface KeeperChild {
  process: ChildProcess;
  logs: Record<string, unknown>[];
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Every log line of every keeper process a test started, across restarts. */
export function startKeeper(env: Record<string, string>, allLogs: Record<string, unknown>[] = []): KeeperChild {
  const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", CLI, "start"], {
    cwd: path.resolve(__dirname, "..", "..", ".."),
    // Only what the keeper needs: no test secrets leak into it by accident.
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Record<string, unknown>[] = [];
  let buffer = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString();
    const lines = buffer.split("\n");
    buffer = lines.pop()!;
    for (const line of lines) {
      try {
        const entry = JSON.parse(line);
        logs.push(entry);
        allLogs.push(entry);
      } catch {
        // not a log line
      }
    }
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    process: child,
    logs,
    exited,
    async kill(signal: NodeJS.Signals = "SIGKILL") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
      if (process.env.TEST_LOG_LEVEL && stderr) console.error(stderr);
    },
  };
}
