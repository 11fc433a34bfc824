#!/usr/bin/env node
/**
 * keeper start | status | sessions | audit. Configuration: environment variables (see config.ts and
 * the README), optionally a JSON file given with --config or KEEPER_CONFIG_FILE.
 */
import fs from "node:fs";
import { Command } from "commander";
import { JsonRpcProvider } from "ethers";
import { ConfigError, KeeperConfig, loadConfig } from "./config";
import { dbPath, embeddedDeploymentPath, startApp } from "./app";
import { openDatabase, getMeta } from "./store/db";
import { loadDeployment } from "./deployment";
import { runAudit, formatAudit } from "./audit";
import { bridgeSummary, costReport } from "./sessions/costs";

function config(opts: { config?: string }): KeeperConfig {
  return loadConfig(process.env, opts.config ?? process.env.KEEPER_CONFIG_FILE);
}

/** For the read-only commands: where the running keeper's chain and deployment are. */
function resolveTarget(cfg: KeeperConfig): KeeperConfig {
  if (cfg.RPC_URL) return cfg;
  const file = embeddedDeploymentPath(cfg);
  if (!fs.existsSync(file)) throw new Error(`no RPC_URL set and no embedded deployment at ${file}: is 'keeper start' running?`);
  const d = JSON.parse(fs.readFileSync(file, "utf8"));
  return { ...cfg, RPC_URL: d.rpcUrl, DEPLOYMENT_FILE: file };
}

function openExistingDb(cfg: KeeperConfig) {
  const file = dbPath(cfg);
  if (!fs.existsSync(file)) throw new Error(`no keeper database at ${file} (DATA_DIR=${cfg.DATA_DIR})`);
  return openDatabase(file);
}

const program = new Command()
  .name("keeper")
  .description("AgentCompute keeper: provisions compute for on-chain sessions and records outcomes")
  .option("-c, --config <file>", "JSON config file (same keys as the environment variables)");

program
  .command("start")
  .description("run the keeper; with no RPC_URL, on the embedded local chain with real Uniswap and the contracts")
  .action(async () => {
    const app = await startApp(config(program.opts()));
    const shutdown = async (signal: string) => {
      app.log.info({ signal }, "stopping");
      await app.stop();
      process.exit(0);
    };
    process.once("SIGINT", () => void shutdown("SIGINT"));
    process.once("SIGTERM", () => void shutdown("SIGTERM"));
  });

program
  .command("status")
  .description("sessions by state, last processed block, lag, pending transactions, provider health")
  .option("--json", "machine-readable output")
  .action(async (opts: { json?: boolean }) => {
    const cfg = resolveTarget(config(program.opts()));
    const db = openExistingDb(cfg);
    const byState = db.prepare("SELECT state, count(*) n FROM sessions GROUP BY state ORDER BY state").all() as { state: string; n: number }[];
    const actions = db.prepare("SELECT state, count(*) n FROM actions GROUP BY state ORDER BY state").all() as { state: string; n: number }[];
    const lastBlock = Number(getMeta(db, "cursor.block") ?? -1);
    let head: number | undefined;
    let rpcError: string | undefined;
    try {
      const rpc = new JsonRpcProvider(cfg.RPC_URL, undefined, { staticNetwork: true });
      head = await rpc.getBlockNumber();
      rpc.destroy();
    } catch (err) {
      rpcError = (err as Error).message;
    }
    let health: unknown;
    try {
      const res = await fetch(`http://${cfg.HTTP_HOST}:${cfg.HTTP_PORT}/health`);
      health = await res.json();
    } catch {
      health = { ok: false, detail: "keeper HTTP server not reachable" };
    }
    const status = {
      deployment: getMeta(db, "deployment"),
      lastProcessedBlock: lastBlock,
      head,
      lagBlocks: head === undefined ? undefined : head - lastBlock,
      rpcError,
      sessions: Object.fromEntries(byState.map((r) => [r.state, r.n])),
      actions: Object.fromEntries(actions.map((r) => [r.state, r.n])),
      costs: costReport(db),
      bridge: bridgeSummary(db, cfg.BRIDGE_MAX_ATTEMPTS),
      providerHealth: db.prepare("SELECT provider, consecutive_failures, unhealthy_until, last_error FROM provider_health ORDER BY provider").all(),
      keeper: health,
    };
    db.close();
    if (opts.json) return console.log(JSON.stringify(status, null, 2));
    console.log(`deployment        ${status.deployment}`);
    console.log(`last block        ${lastBlock}   head ${head ?? "?"}   lag ${status.lagBlocks ?? "?"} blocks${rpcError ? `   (RPC: ${rpcError})` : ""}`);
    console.log(`sessions          ${byState.map((r) => `${r.state} ${r.n}`).join(", ") || "none"}`);
    console.log(`transactions      ${actions.map((r) => `${r.state} ${r.n}`).join(", ") || "none"}`);
    const c = status.costs.totals;
    console.log(`margin            agent paid ${c.agentPaid}  providers cost ${c.providerCost}  margin ${c.margin}  (USDC base units)`);
    const b = status.bridge.byState;
    console.log(`bridge            ${Object.entries(b).map(([k, v]) => `${k} ${v.count} (${v.amount})`).join(", ") || "no transfers"}`);
    for (const a of status.bridge.alerts) console.log(`ALERT bridge       transfer ${a.id} to ${a.provider} of ${a.amount} FAILED: ${a.error ?? ""}`);
    const h = health as { ok?: boolean; providers?: Record<string, { ok: boolean; detail?: string }> };
    console.log(`keeper            ${h.ok ? "healthy" : "not healthy"}`);
    for (const [name, p] of Object.entries(h.providers ?? {})) console.log(`provider ${name.padEnd(9)}${p.ok ? "ok" : `down: ${p.detail ?? ""}`}`);
  });

program
  .command("sessions")
  .description("list sessions, newest first")
  .option("--agent <address>", "only this agent's sessions")
  .option("--state <state>", "only sessions in this state")
  .option("--json", "machine-readable output")
  .action((opts: { agent?: string; state?: string; json?: boolean }) => {
    const cfg = config(program.opts());
    const db = openExistingDb(cfg);
    const rows = db
      .prepare(
        `SELECT instance_id, agent, provider, state, duration, deposited, claimed, refunded, ends_at, workload_ref, last_error
         FROM sessions WHERE (? IS NULL OR lower(agent) = lower(?)) AND (? IS NULL OR state = ?) ORDER BY created_at DESC`,
      )
      .all(opts.agent ?? null, opts.agent ?? null, opts.state ?? null, opts.state ?? null) as Record<string, unknown>[];
    db.close();
    if (opts.json) return console.log(JSON.stringify(rows, null, 2));
    if (rows.length === 0) return console.log("no sessions");
    for (const r of rows) {
      const ends = r.ends_at ? new Date(Number(r.ends_at) * 1000).toISOString() : "-";
      console.log(
        `${r.instance_id}  ${String(r.state).padEnd(12)} ${String(r.provider ?? "-").padEnd(8)} agent ${r.agent}  paid ${r.deposited}  claimed ${r.claimed}  refunded ${r.refunded}  ends ${ends}${r.last_error ? `  (${r.last_error})` : ""}`,
      );
    }
  });

program
  .command("audit")
  .description("compare the chain's events with the keeper's database; exits 1 on any mismatch")
  .option("--json", "machine-readable output")
  .action(async (opts: { json?: boolean }) => {
    const cfg = resolveTarget(config(program.opts()));
    const db = openExistingDb(cfg);
    const deployment = loadDeployment(cfg);
    const rpc = new JsonRpcProvider(cfg.RPC_URL, deployment.chainId, { staticNetwork: true });
    const report = await runAudit(db, rpc, deployment, cfg.CONFIRMATIONS);
    rpc.destroy();
    db.close();
    console.log(opts.json ? JSON.stringify(report, null, 2) : formatAudit(report));
    process.exitCode = report.ok ? 0 : 1;
  });

program.parseAsync(process.argv).catch((err) => {
  if (err instanceof ConfigError) console.error(err.message);
  else console.error(`keeper: ${(err as Error).message}`);
  process.exit(2);
});
