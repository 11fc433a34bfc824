#!/usr/bin/env node
/**
 * keeper start | status | sessions | audit | credit | balance | jobs. Configuration: environment variables (see config.ts and
 * docs/operations.md), optionally a JSON file given with --config or KEEPER_CONFIG_FILE.
 */
import fs from "node:fs";
import { Command } from "commander";
import { Contract, JsonRpcProvider } from "ethers";
import { ConfigError, KeeperConfig, loadConfig } from "./config";
import { dbPath, embeddedDeploymentPath, startApp } from "./app";
import { openStore, Store } from "./store/store";
import { loadDeployment } from "./deployment";
import { runAudit, formatAudit } from "./audit";
import { computeInterface } from "./chain/contracts";
import type { RenewalListRow } from "./store/autoRenewal";
import { costReport } from "./sessions/costs";
import { balanceOf, credit, totals } from "./payments/ledger";
import { burnHealth } from "./payments/burner";
import { formatWatt, parseWatt } from "./payments/watt";
import { PublicKey } from "@solana/web3.js";
import os from "node:os";

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

/** A session's auto-renewal as `status` and `sessions` show it; the next renewal is due RENEWAL_LEAD_S (at most one period) before the end. */
function renewalView(r: RenewalListRow, leadSeconds: number) {
  const live = r.enabled === 1 && r.ends_at !== null && ["running", "renewing"].includes(r.state);
  return {
    on: r.enabled === 1,
    period: r.period,
    maxPerRenewal: r.max_per_renewal,
    budgetLeft: r.budget_left,
    renewals: r.renewals,
    nextRenewalAt: live ? r.ends_at! - Math.min(leadSeconds, r.period) : null,
    lastFailure: r.last_failure,
    lastFailureAt: r.last_failure_at,
  };
}

const iso = (t: number | null | undefined) => (t ? new Date(t * 1000).toISOString() : "-");

function formatRenewal(v: ReturnType<typeof renewalView>): string {
  return `auto-renewal ${v.on ? "on" : "off"}: every ${v.period} s, max ${v.maxPerRenewal}, budget left ${v.budgetLeft}, renewed ${v.renewals}x, next ${iso(v.nextRenewalAt)}${v.lastFailure ? `, last failure ${v.lastFailure} at ${iso(v.lastFailureAt)}` : ""}`;
}

function openExistingStore(cfg: KeeperConfig): Store {
  const file = dbPath(cfg);
  if (!fs.existsSync(file)) throw new Error(`no keeper database at ${file} (DATA_DIR=${cfg.DATA_DIR})`);
  return openStore(file);
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
    const store = openExistingStore(cfg);
    const byState = await store.status.sessionsByState();
    const actions = await store.status.actionsByState();
    const lastBlock = Number((await store.meta.get("cursor.block")) ?? -1);
    let head: number | undefined;
    let rpcError: string | undefined;
    let treasury: { address: string; withdrawable: string } | undefined;
    try {
      const rpc = new JsonRpcProvider(cfg.RPC_URL, undefined, { staticNetwork: true });
      try {
        head = await rpc.getBlockNumber();
        // The treasury's share waits in AgentCompute until swept (withdraw(treasury), TREASURY_SWEEP_BLOCKS).
        const compute = new Contract(loadDeployment(cfg).compute, computeInterface, rpc);
        const address: string = await compute.treasury();
        treasury = { address, withdrawable: (await compute.withdrawable(address)).toString() };
      } finally {
        rpc.destroy();
      }
    } catch (err) {
      rpcError = (err as Error).message;
    }
    const renewals = (await store.autoRenewals.list()).map((r) => ({
      instanceId: r.instance_id,
      state: r.state,
      endsAt: r.ends_at,
      ...renewalView(r, cfg.RENEWAL_LEAD_S),
    }));
    let health: unknown;
    try {
      const res = await fetch(`http://${cfg.HTTP_HOST}:${cfg.HTTP_PORT}/health`);
      health = await res.json();
    } catch {
      health = { ok: false, detail: "keeper HTTP server not reachable" };
    }
    const status = {
      deployment: await store.meta.get("deployment"),
      lastProcessedBlock: lastBlock,
      head,
      lagBlocks: head === undefined ? undefined : head - lastBlock,
      rpcError,
      sessions: Object.fromEntries(byState.map((r) => [r.state, r.n])),
      actions: Object.fromEntries(actions.map((r) => [r.state, r.n])),
      costs: await costReport(store),
      payouts: await store.payouts.summary(cfg.PAYOUT_MAX_ATTEMPTS),
      watt: await wattSummary(store, cfg.WATT_DECIMALS),
      providerHealth: await store.status.providerHealth(),
      treasury,
      autoRenewal: { on: renewals.filter((r) => r.on).length, sessions: renewals },
      keeper: health,
    };
    store.close();
    if (opts.json) return console.log(JSON.stringify(status, null, 2));
    console.log(`deployment        ${status.deployment}`);
    console.log(
      `last block        ${lastBlock}   head ${head ?? "?"}   lag ${status.lagBlocks ?? "?"} blocks${rpcError ? `   (RPC: ${rpcError})` : ""}`,
    );
    console.log(`sessions          ${byState.map((r) => `${r.state} ${r.n}`).join(", ") || "none"}`);
    console.log(`transactions      ${actions.map((r) => `${r.state} ${r.n}`).join(", ") || "none"}`);
    const c = status.costs.totals;
    console.log(`margin            agent paid ${c.agentPaid}  providers cost ${c.providerCost}  margin ${c.margin}  (USDC base units)`);
    const b = status.payouts.byState;
    console.log(
      `payouts           ${
        Object.entries(b)
          .map(([k, v]) => `${k} ${v.count} (${v.amount})`)
          .join(", ") || "no transfers"
      }`,
    );
    for (const a of status.payouts.alerts)
      console.log(`ALERT payout       transfer ${a.id} to ${a.provider} of ${a.amount} FAILED: ${a.error ?? ""}`);
    const w = status.watt;
    console.log(
      `WATT              received ${w.received}  granted ${w.granted}  charged ${w.charged} (${w.chargedGranted} of it granted)  refunded ${w.refunded}  balances ${w.balances} (${w.balancesGranted} granted)${w.discrepancy !== "0" ? `  DISCREPANCY ${w.discrepancy}` : ""}`,
    );
    console.log(
      `WATT burn         ${w.burned} = ${w.burnFromService} from the service account (executed ${w.burnExecuted}) + ${w.burnOwedByOperator} owed by the operator (burn share of granted WATT)`,
    );
    if (w.burnFailures > 0)
      console.log(
        `ALERT burn        failing (${w.burnFailures} attempts in a row): ${w.burnError ?? ""}; next try ${w.burnRetryAt ? new Date(w.burnRetryAt * 1000).toISOString() : "?"}`,
      );
    console.log(
      `jobs              ${
        Object.entries(w.jobs)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ") || "none"
      }`,
    );
    console.log(
      `treasury          ${treasury ? `${treasury.address} withdrawable ${treasury.withdrawable} (USDC base units, swept every ${cfg.TREASURY_SWEEP_BLOCKS || "-"} blocks)` : "?"}`,
    );
    console.log(`auto-renewal      ${status.autoRenewal.on} on, ${renewals.length - status.autoRenewal.on} off`);
    for (const r of renewals) console.log(`  ${r.instanceId}  ${r.state.padEnd(10)} ends ${iso(r.endsAt)}  ${formatRenewal(r)}`);
    const h = health as { ok?: boolean; providers?: Record<string, { ok: boolean; detail?: string }> };
    console.log(`keeper            ${h.ok ? "healthy" : "not healthy"}`);
    for (const [name, p] of Object.entries(h.providers ?? {}))
      console.log(`provider ${name.padEnd(11)}${p.ok ? "ok" : `down: ${p.detail ?? ""}`}`);
  });

program
  .command("sessions")
  .description("list sessions, newest first")
  .option("--agent <address>", "only this agent's sessions")
  .option("--state <state>", "only sessions in this state")
  .option("--json", "machine-readable output")
  .action(async (opts: { agent?: string; state?: string; json?: boolean }) => {
    const cfg = config(program.opts());
    const store = openExistingStore(cfg);
    const renewals = new Map((await store.autoRenewals.list()).map((r) => [r.instance_id, renewalView(r, cfg.RENEWAL_LEAD_S)]));
    const rows = (await store.status.sessions({ agent: opts.agent, state: opts.state })).map((r) => ({
      ...r,
      autoRenewal: renewals.get(r.instance_id) ?? null,
    }));
    store.close();
    if (opts.json) return console.log(JSON.stringify(rows, null, 2));
    if (rows.length === 0) return console.log("no sessions");
    for (const r of rows) {
      const ends = r.ends_at ? new Date(Number(r.ends_at) * 1000).toISOString() : "-";
      console.log(
        `${r.instance_id}  ${String(r.state).padEnd(12)} ${String(r.provider ?? "-").padEnd(10)} agent ${r.agent}  paid ${r.deposited}  claimed ${r.claimed}  refunded ${r.refunded}  ends ${ends}${r.last_error ? `  (${r.last_error})` : ""}` +
          (r.autoRenewal ? `\n    ${formatRenewal(r.autoRenewal)}` : ""),
      );
    }
  });

program
  .command("audit")
  .description("compare the chain's events with the keeper's database; exits 1 on any mismatch")
  .option("--json", "machine-readable output")
  .action(async (opts: { json?: boolean }) => {
    const cfg = resolveTarget(config(program.opts()));
    const store = openExistingStore(cfg);
    const deployment = loadDeployment(cfg);
    const rpc = new JsonRpcProvider(cfg.RPC_URL, deployment.chainId, { staticNetwork: true });
    const report = await runAudit(store, rpc, deployment, cfg.CONFIRMATIONS);
    rpc.destroy();
    store.close();
    console.log(opts.json ? JSON.stringify(report, null, 2) : formatAudit(report));
    process.exitCode = report.ok ? 0 : 1;
  });

async function wattSummary(store: Store, decimals: number) {
  const t = await totals(store);
  const burn = await burnHealth(store);
  const f = (x: bigint) => formatWatt(x, decimals);
  const jobs = await store.jobs.countsByServiceAndState();
  return {
    received: f(t.received),
    granted: f(t.granted),
    charged: f(t.charged),
    refunded: f(t.refunded),
    balances: f(t.balances),
    burned: f(t.burned),
    burnFromService: f(t.burnFromService),
    burnOwedByOperator: f(t.burnOwedByOperator),
    burnExecuted: f(t.burnExecuted),
    chargedGranted: f(t.chargedGranted),
    balancesGranted: f(t.balancesGranted),
    burnFailures: burn.failures,
    burnError: burn.error,
    burnRetryAt: burn.retryAt,
    discrepancy: f(t.discrepancy),
    jobs: Object.fromEntries(jobs.map((r) => [r.k, r.n])),
  };
}

program
  .command("credit")
  .description("grant prepaid WATT to an agent (recorded in the ledger with the operator and the reason)")
  .argument("<agent>", "the agent's Solana address (base58)")
  .argument("<amount>", "WATT, e.g. 250 or 0.5")
  .requiredOption("--reason <text>", "why: kept in the ledger for auditors")
  .action(async (agent: string, amount: string, opts: { reason: string }) => {
    const cfg = config(program.opts());
    let who: string;
    try {
      who = new PublicKey(agent).toBase58();
    } catch {
      throw new Error(`not a Solana address: ${agent}`);
    }
    const value = parseWatt(amount, cfg.WATT_DECIMALS);
    if (value <= 0n) throw new Error("the amount must be positive");
    const store = openExistingStore(cfg);
    const operator = process.env.USER ?? os.userInfo().username;
    const after = await store.tx(() => credit(store, who, value, "grant", { note: `by ${operator}: ${opts.reason}` }));
    store.close();
    console.log(`granted ${formatWatt(value, cfg.WATT_DECIMALS)} WATT to ${who}; balance ${formatWatt(after, cfg.WATT_DECIMALS)} WATT`);
  });

program
  .command("balance")
  .description("an agent's prepaid WATT balance and its latest ledger entries")
  .argument("<agent>", "the agent's Solana address (base58)")
  .option("--json", "machine-readable output")
  .action(async (agent: string, opts: { json?: boolean }) => {
    const cfg = config(program.opts());
    const store = openExistingStore(cfg);
    const f = (x: bigint) => formatWatt(x, cfg.WATT_DECIMALS);
    const bal = await balanceOf(store, agent);
    const ledger = (await store.ledger.entries(agent, 20)).map((r) => ({ ...r, amount: f(BigInt(r.amount)) }));
    store.close();
    if (opts.json) return console.log(JSON.stringify({ agent, balance: f(bal), ledger }, null, 2));
    console.log(`${agent}  ${f(bal)} WATT`);
    for (const l of ledger)
      console.log(
        `  ${new Date(Number(l.created_at) * 1000).toISOString()}  ${l.kind.padEnd(7)} ${l.amount.padStart(14)}  ${l.job_id ?? ""} ${l.note ?? ""}`,
      );
  });

program
  .command("jobs")
  .description("paid jobs, newest first")
  .option("--agent <address>", "only this agent's jobs")
  .option("--limit <n>", "how many", "50")
  .option("--json", "machine-readable output")
  .action(async (opts: { agent?: string; limit: string; json?: boolean }) => {
    const cfg = config(program.opts());
    const store = openExistingStore(cfg);
    const rows = await store.jobs.list(opts.agent, Number(opts.limit));
    store.close();
    if (opts.json) return console.log(JSON.stringify(rows, null, 2));
    if (rows.length === 0) return console.log("no jobs");
    const f = (x: string) => formatWatt(BigInt(x), cfg.WATT_DECIMALS);
    for (const r of rows)
      console.log(
        `${r.job_id}  ${r.service.padEnd(8)} ${r.state.padEnd(10)} ${r.payment.padEnd(8)} charged ${f(r.charged)}  refunded ${f(r.refunded)}  burned ${f(r.burned)}  batch ${r.batch_root ? r.batch_root.slice(0, 10) : "-"}`,
      );
  });

program.parseAsync(process.argv).catch((err) => {
  if (err instanceof ConfigError) console.error(err.message);
  else console.error(`keeper: ${(err as Error).message}`);
  process.exit(2);
});
