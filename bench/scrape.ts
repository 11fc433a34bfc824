/**
 * Scraper benchmarks against a local page on 127.0.0.1 (allowed with SCRAPE_ALLOWED_CIDRS, as an
 * operator would for an intranet mirror; nothing leaves the machine):
 *
 * 1. Static path (undici through the egress guard + cheerio): p50 / p99 of whole jobs, text and
 *    json-with-selectors, on a ~40 KB page.
 * 2. JavaScript path (Chromium behind the egress proxy): p50 / p99 with the page pool (pages
 *    reused, state cleared between jobs) against a new browser context per job, same browser.
 * 3. A screenshot job (JavaScript off) with the pool.
 * Jobs run one after the other (latency, not throughput); warm-up jobs are not counted.
 *
 *   npm run bench:scrape           (STATIC=200 JS=40)
 */
import http from "node:http";
import net from "node:net";
import pino from "pino";
import { ConfigSchema } from "../keeper/config";
import { createScrapeService, ScrapeService } from "../keeper/services/scrape";

const STATIC = Number(process.env.STATIC ?? 200);
const JS = Number(process.env.JS ?? 40);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

function page(): string {
  const rows = Array.from(
    { length: 300 },
    (_, i) => `<li class="item"><a href="/p/${i}">Item ${i}</a> <span class="price">${(i * 1.37).toFixed(2)}</span></li>`,
  ).join("\n");
  const paras = Array.from(
    { length: 40 },
    (_, i) => `<p>Paragraph ${i}: lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.</p>`,
  ).join("\n");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Bench page</title><style>body{font-family:sans-serif}</style></head>
<body><h1>Catalogue</h1>${paras}<ul id="list">${rows}</ul><div id="js"></div>
<script>document.getElementById("js").textContent = "rendered at " + Date.now();</script></body></html>`;
}

async function timed(s: ScrapeService, body: object, n: number, warm: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n + warm; i++) {
    const t = performance.now();
    await s.run(s.parse({ job_id: `b${i}`, ...body }), { jobId: `b${i}`, signal: new AbortController().signal });
    if (i >= warm) out.push(performance.now() - t);
  }
  return out;
}

function row(label: string, xs: number[]) {
  console.log(
    `${label.padEnd(46)} n=${String(xs.length).padStart(4)}  p50 ${pct(xs, 50).toFixed(1).padStart(7)} ms  p99 ${pct(xs, 99).toFixed(1).padStart(7)} ms`,
  );
  return { label, n: xs.length, p50: +pct(xs, 50).toFixed(1), p99: +pct(xs, 99).toFixed(1) };
}

async function main() {
  const html = page();
  const server = http.createServer((_req, res) => res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(html));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
  const cfg = ConfigSchema.parse({ SCRAPE_ALLOWED_CIDRS: "127.0.0.1/32", SCRAPE_BROWSER_PAGES: 2 });
  const log = pino({ level: "silent" });
  const pooled = createScrapeService(cfg, log);
  const perJob = createScrapeService(cfg, log, { browserMode: "context-per-job" });
  console.log(`page ${Buffer.byteLength(html)} bytes at ${url}; node ${process.version}`);
  const results = [];
  try {
    results.push(row("static, text", await timed(pooled, { url }, STATIC, 20)));
    results.push(
      row(
        "static, json + 3 selectors",
        await timed(pooled, { url, output_format: "json", selectors: { h1: "h1", items: [".item a"], prices: [".price"] } }, STATIC, 20),
      ),
    );
    results.push(row("JavaScript, page pool", await timed(pooled, { url, options: { javascript: true } }, JS, 5)));
    results.push(row("JavaScript, new context per job", await timed(perJob, { url, options: { javascript: true } }, JS, 5)));
    results.push(row("screenshot (JavaScript off), page pool", await timed(pooled, { url, options: { screenshots: true } }, JS, 5)));
  } finally {
    await pooled.close!();
    await perJob.close!();
    server.close();
  }
  const pool = results[2].p50;
  const ctx = results[3].p50;
  console.log(`page pool vs context per job (p50): ${(ctx / pool).toFixed(2)}x`);
  console.log(JSON.stringify({ bench: "scrape", results }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
