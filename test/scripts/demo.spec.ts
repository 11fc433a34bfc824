/**
 * `npm run demo` played against `npm start`, as a user runs them (two real processes, the embedded
 * chain and the Solana stand-in on free 127.0.0.1 ports, LOCAL_PROVIDER=bubblewrap): it exits 0, the
 * keeper renews the auto-renewal session once, and `keeper audit` then finds the books balanced.
 */
import { expect } from "chai";
import { ChildProcess, execFile, spawn } from "node:child_process";
import path from "node:path";
import { freePort, tempDir } from "../keeper/shared/chain";
import { until } from "../keeper/shared/keeperApp";

const ROOT = path.resolve(__dirname, "..", "..");

function run(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      ["-r", "ts-node/register/transpile-only", script, ...args],
      { cwd: ROOT, env, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

describe("npm run demo against npm start", function () {
  this.timeout(400_000);
  let start: ChildProcess | undefined;
  let env: NodeJS.ProcessEnv;
  let log = "";

  before(async () => {
    const dataDir = tempDir("keeper-demo-");
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATA_DIR: dataDir,
      LOCAL_CHAIN_PORT: String(await freePort()),
      HTTP_PORT: String(await freePort()),
      SOLANA_LOCAL_PORT: String(await freePort()),
      LOCAL_PROVIDER: "bubblewrap",
      EXECUTE_BACKEND: "bubblewrap",
    };
    start = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", "scripts/start.ts"], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    start.stdout!.on("data", (d) => (log = (log + d).slice(-200_000)));
    start.stderr!.on("data", (d) => (log = (log + d).slice(-200_000)));
    await until("npm start: keeper started", () => log.includes('"msg":"keeper started"') || start!.exitCode !== null, 240_000);
    expect(start.exitCode, log.slice(-3000)).to.equal(null);
  });
  after(async () => {
    if (start && start.exitCode === null && start.signalCode === null) {
      const exited = new Promise((r) => start!.once("exit", r));
      start.kill("SIGTERM");
      await exited;
    }
  });

  it("runs every step, the keeper renews the auto-renewal session once, and the audit balances", async () => {
    const demo = await run("scripts/demo-agent.ts", [], env, 300_000);
    expect(demo.code, demo.stdout + demo.stderr).to.equal(0);
    const out = demo.stdout;
    for (const step of [
      "1. quote",
      "3. keeper provisioned it",
      "5. ended",
      "6b. a 90 s session",
      "6c. the keeper renewed it",
      "8b. x402",
      "12. job",
    ])
      expect(out).to.contain(step);
    const renewed =
      /6c\. the keeper renewed it after [\d.]+ s \(tx from (0x[0-9a-fA-F]{40})\): \+90 s for ([\d.]+) USDC, now ends (\S+), budget left 0\.0 USDC/.exec(
        out,
      );
    expect(renewed, out).to.not.equal(null);
    expect(renewed![1], "renewed by the keeper (dev account 1)").to.equal("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    const status = JSON.parse((await run("keeper/cli.ts", ["status", "--json"], env, 60_000)).stdout);
    expect(status.autoRenewal.sessions).to.have.length(1);
    expect(status.autoRenewal.sessions[0]).to.deep.include({ renewals: 1, budgetLeft: "0", period: 90, on: false });
    const audit = await run("keeper/cli.ts", ["audit"], env, 60_000);
    expect(audit.code, audit.stdout + audit.stderr).to.equal(0);
    expect(audit.stdout).to.contain("OK: chain and database agree");
  });
});
