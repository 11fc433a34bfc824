/**
 * The scrape API end to end (HTTP -> signed request -> rate limits -> prepaid charge in SQLite ->
 * guarded fetch + cheerio -> settle -> answer), against a bare fetch + cheerio loop in the same run.
 *
 * 1. Static: a ~100 KB page on 127.0.0.1, concurrency 8: requests per second, p50 / p99. The bare
 *    loop does what the service must at least do (download, parse, extract the text), nothing else.
 *    The API runs in its own process (as deployed); this process is the agents and the web site.
 * 2. JavaScript rendering through the API with the page pool warm: pages per second and p50.
 *
 *   npm run bench:api            (N=600 JS=40 CONCURRENCY=8)
 */
import http from "node:http";
import net from "node:net";
import * as cheerio from "cheerio";
import { Keypair } from "@solana/web3.js";
import path from "node:path";
import { spawn } from "node:child_process";
import { openStore } from "../keeper/store/store";
import { credit, totals } from "../keeper/payments/ledger";
import { signAgentRequest } from "../keeper/payments/agentAuth";
import { tempDir } from "../test/keeper/shared/chain";

const N = Number(process.env.N ?? 600);
const JS = Number(process.env.JS ?? 40);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

function page(kb: number): string {
  const para = `<p class="x">${"lorem ipsum dolor sit amet consectetur ".repeat(24)}</p>\n`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>Bench</title></head><body><h1>Bench page</h1>${para.repeat(Math.ceil((kb * 1024) / para.length))}
<div id="js"></div><script>document.getElementById("js").textContent = "rendered " + Date.now();</script></body></html>`;
}

/** n tasks at the given concurrency; returns each task's latency and the wall time. */
async function load(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<{ lat: number[]; wallMs: number }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) {
        const t = performance.now();
        await task(i);
        lat.push(performance.now() - t);
      }
    }),
  );
  return { lat, wallMs: performance.now() - t0 };
}

function report(label: string, r: { lat: number[]; wallMs: number }) {
  const rps = (r.lat.length / r.wallMs) * 1000;
  console.log(
    `${label.padEnd(40)} n=${String(r.lat.length).padStart(4)}  ${rps.toFixed(1).padStart(7)} req/s  p50 ${pct(r.lat, 50).toFixed(1).padStart(6)} ms  p99 ${pct(r.lat, 99).toFixed(1).padStart(6)} ms`,
  );
  return rps;
}

async function main() {
  const html = page(100);
  const server = http.createServer((_req, res) => res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(html));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const site = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const dataDir = tempDir();
  const agent = Keypair.generate();
  const seed = openStore(path.join(dataDir, "keeper.sqlite"));
  await seed.tx(() => credit(seed, agent.publicKey.toBase58(), 10n ** 18n, "grant"));
  seed.close();
  const child = spawn(
    process.execPath,
    ["-r", "ts-node/register/transpile-only", path.join(__dirname, "../test/keeper/jobs/apiServer.ts")],
    {
      cwd: path.resolve(__dirname, ".."),
      env: {
        ...process.env,
        HARNESS_DATA_DIR: dataDir,
        HARNESS_ENV: JSON.stringify({
          RATE_LIMIT_URL_PER_HOUR: "10000000",
          RATE_LIMIT_AGENT_PER_HOUR: "10000000",
          RATE_LIMIT_GLOBAL_PER_HOUR: "100000000",
          SERVICES: "scrape",
          SCRAPE_BROWSER_PAGES: "2",
        }),
      },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const apiUrl = await new Promise<string>((resolve, reject) => {
    child.stdout.once("data", (b: Buffer) => resolve(JSON.parse(b.toString().split("\n")[0]).url));
    child.once("exit", (c) => reject(new Error(`API process exited ${c}`)));
  });
  // Signed requests name the service (agentAuth v2): its id is published at GET /api/v1/service.
  const serviceId = ((await (await fetch(`${apiUrl}/api/v1/service`)).json()) as { service_id: string }).service_id;
  const post = async (body: object) => {
    const text = JSON.stringify(body);
    const res = await fetch(`${apiUrl}/api/v1/scrape`, {
      method: "POST",
      headers: { "content-type": "application/json", ...signAgentRequest(agent.secretKey, serviceId, "POST", "/api/v1/scrape", text) },
      body: text,
    });
    return { status: res.status, body: (await res.json()) as { data?: { text?: string } }, text };
  };
  console.log(
    `page ${Buffer.byteLength(html)} bytes; concurrency ${CONCURRENCY}; node ${process.version}; ${(await import("node:os")).cpus().length} CPUs`,
  );

  const bare = async (i: number) => {
    const res = await fetch(`${site}/bare/${i}`);
    const $ = cheerio.load(await res.text());
    if ($("body").text().length < 1000) throw new Error("short page");
  };
  let run = 0;
  const api = async (i: number) => {
    const r = await post({ url: `${site}/api/${run}/${i}`, job_id: `bench-${run}-${i}`, output_format: "text" });
    if (r.status !== 200) throw new Error(`API answered ${r.status}: ${JSON.stringify(r.body).slice(0, 200)}`);
  };

  // Warm-up (JIT, connection pools, SQLite pages), then bare / API / bare / API; the best of each counts.
  await load(100, CONCURRENCY, bare);
  await load(100, CONCURRENCY, api);
  run++;
  const bareRps: number[] = [];
  const apiRps: number[] = [];
  for (let round = 0; round < 2; round++) {
    bareRps.push(report(`bare fetch + cheerio (round ${round + 1})`, await load(N, CONCURRENCY, bare)));
    apiRps.push(report(`POST /api/v1/scrape, prepaid (round ${round + 1})`, await load(N, CONCURRENCY, api)));
    run++;
  }
  const ratio = Math.max(...apiRps) / Math.max(...bareRps);
  console.log(`API throughput / bare loop: ${(ratio * 100).toFixed(0)} % (target >= 70 %)`);

  // JavaScript rendering, pool warm.
  const js = async (i: number) => {
    const r = await post({ url: `${site}/js/${run}/${i}`, job_id: `js-${run}-${i}`, output_format: "text", options: { javascript: true } });
    if (r.status !== 200 || !String(r.body.data?.text ?? "").includes("rendered"))
      throw new Error(`JS job: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
  };
  await load(4, 2, js);
  run++;
  report("POST /api/v1/scrape javascript (pool of 2)", await load(JS, 2, js));
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
  const store = openStore(path.join(dataDir, "keeper.sqlite"));
  const t = await totals(store);
  store.close();
  console.log(`ledger: granted ${t.granted} = charged ${t.charged} + balances ${t.balances} (discrepancy ${t.discrepancy})`);
  server.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
