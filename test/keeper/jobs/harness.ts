/**
 * The paid APIs on their own, for tests and benchmarks: the keeper's HTTP server with the job
 * pipeline, a real SQLite file, the real scrape and execute services, and (when given a Solana RPC
 * URL) real WATT verification. No EVM chain: batches wait in the outbox (the keeper e2e test sends
 * them). Also a page server on 127.0.0.1 that the scraper may reach (SCRAPE_ALLOWED_CIDRS lists it).
 */
import http from "node:http";
import path from "node:path";
import { AddressInfo } from "node:net";
import { Keypair } from "@solana/web3.js";
import type { FastifyInstance } from "fastify";
import { loadConfig, KeeperConfig } from "../../../keeper/config";
import { createHttpServer } from "../../../keeper/http/server";
import { mountApi } from "../../../keeper/http/api";
import { createMetrics } from "../../../keeper/metrics";
import { createLogger } from "../../../keeper/log";
import type { DB } from "../../../keeper/store/db";
import { openStore, Store } from "../../../keeper/store/store";
import { JobsRuntime, startJobs } from "../../../keeper/jobs/runtime";
import { credit, totals } from "../../../keeper/payments/ledger";
import { parseWatt } from "../../../keeper/payments/watt";
import { signAgentRequest } from "../../../keeper/payments/agentAuth";
import { tempDir } from "../shared/chain";

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

export interface ApiHarness {
  url: string;
  cfg: KeeperConfig;
  /** For assertions (reads); the keeper's code gets `store`. */
  db: DB;
  store: Store;
  rt: JobsRuntime;
  app: FastifyInstance;
  dataDir: string;
  /** The service id signed requests name (GET /api/v1/service). */
  serviceId: string;
  /** POST a JSON body (object, or raw text as given), optionally signed by an agent (v2, this service). */
  post(route: string, body: unknown, opts?: { agent?: Keypair; headers?: Record<string, string> }): Promise<Answer>;
  get(route: string, opts?: { agent?: Keypair; headers?: Record<string, string> }): Promise<Answer>;
  /** The signed-request headers for this service. */
  sign(agent: Keypair, method: string, route: string, body: string): Record<string, string>;
  grant(agent: Keypair | string, watt: number | string): Promise<void>;
  balance(agent: Keypair | string): bigint;
  totals(): ReturnType<typeof totals>;
  close(): Promise<void>;
}

const who = (a: Keypair | string) => (typeof a === "string" ? a : a.publicKey.toBase58());

export async function startApiHarness(env: Record<string, string> = {}, dataDir = tempDir()): Promise<ApiHarness> {
  const cfg = loadConfig(
    {
      DATA_DIR: dataDir,
      HTTP_HOST: "127.0.0.1",
      HTTP_PORT: "0",
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
      SCRAPE_ALLOWED_CIDRS: "127.0.0.1/32",
      EXECUTE_BACKEND: "bubblewrap",
      ...env,
    },
    undefined,
  );
  const log = createLogger(cfg.LOG_LEVEL);
  const store = openStore(path.join(dataDir, "keeper.sqlite"));
  const db = store.db;
  const rt = await startJobs(cfg, store, log);
  await rt.ready();
  const app = createHttpServer(createMetrics(), { health: rt.health });
  mountApi(app, rt);
  await app.listen({ host: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  async function call(method: string, route: string, text: string | undefined, headers: Record<string, string>): Promise<Answer> {
    const res = await fetch(url + route, { method, headers, body: text });
    const body = await res.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = { unparsed: body };
    }
    return { status: res.status, headers: Object.fromEntries(res.headers.entries()), body: parsed, text: body };
  }

  const serviceId = rt.auth.serviceId;
  const sign = (agent: Keypair, method: string, route: string, text: string) =>
    signAgentRequest(agent.secretKey, serviceId, method, route, text);
  return {
    url,
    serviceId,
    sign,
    cfg,
    db,
    store,
    rt,
    app,
    dataDir,
    post(route, body, opts = {}) {
      const text = typeof body === "string" ? body : JSON.stringify(body);
      const headers: Record<string, string> = {
        "content-type": "application/json",
        ...(opts.agent ? sign(opts.agent, "POST", route, text) : {}),
        ...(opts.headers ?? {}),
      };
      return call("POST", route, text, headers);
    },
    get(route, opts = {}) {
      return call("GET", route, undefined, { ...(opts.agent ? sign(opts.agent, "GET", route, "") : {}), ...(opts.headers ?? {}) });
    },
    async grant(agent, watt) {
      await store.tx(() => credit(store, who(agent), parseWatt(String(watt), cfg.WATT_DECIMALS), "grant", { note: "test grant" }));
    },
    balance(agent) {
      const row = db.prepare("SELECT amount FROM watt_balances WHERE agent = ?").get(who(agent)) as { amount: string } | undefined;
      return BigInt(row?.amount ?? "0");
    },
    totals: () => totals(store),
    async close() {
      await rt.close();
      await app.close();
      store.close();
    },
  };
}

/** A small site on 127.0.0.1 for the scraper: /page (HTML), /missing (404), /big (size given by ?kb=). */
export async function startPageServer(): Promise<{ url: string; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    const u = new URL(req.url ?? "/", "http://x");
    if (u.pathname === "/missing") return res.writeHead(404, { "content-type": "text/html" }).end("<h1>gone</h1>");
    if (u.pathname === "/big") {
      const kb = Number(u.searchParams.get("kb") ?? "100");
      const para = "<p>" + "lorem ipsum dolor sit amet ".repeat(37) + "</p>\n"; // about 1 KB
      return res
        .writeHead(200, { "content-type": "text/html; charset=utf-8" })
        .end(`<html><head><title>Big</title></head><body><h1>Big page</h1>${para.repeat(kb)}</body></html>`);
    }
    res
      .writeHead(200, { "content-type": "text/html; charset=utf-8" })
      .end(`<html><head><title>Test page</title></head><body><h1 class="t">Hello ${u.pathname}</h1><p class="price">42</p></body></html>`);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
