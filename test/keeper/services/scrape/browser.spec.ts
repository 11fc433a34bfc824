/**
 * The Chromium path on pages served on 127.0.0.1 (allowlisted): JavaScript rendering, screenshots,
 * pooled pages that keep nothing between jobs, caps and failures, health, and relaunch after a crash.
 * Real Debian Chromium at SCRAPE_CHROMIUM_PATH (scripts/setup.sh installs it): no skip when missing.
 */
import { expect } from "chai";
import fs from "node:fs";
import { ctx, failsWith, forbiddenDials, html, LocalServer, serve, service } from "./helpers";

function pngSize(b64: string): { width: number; height: number } {
  const b = Buffer.from(b64, "base64");
  expect(b.subarray(0, 8).toString("hex")).to.equal("89504e470d0a1a0a");
  expect(b.subarray(12, 16).toString("ascii")).to.equal("IHDR");
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

/** Pids whose command line contains `needle` (to find the Chromium this file launched). */
function pidsWith(needle: string): number[] {
  return fs
    .readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        return fs.readFileSync(`/proc/${e}/cmdline`, "utf8").includes(needle);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe("scrape: Chromium rendering, screenshots and the page pool", function () {
  this.timeout(60_000);
  let site: LocalServer;
  const cookiesSeen: (string | undefined)[] = [];
  const s = service({ SCRAPE_ALLOWED_CIDRS: "127.0.0.1/32", SCRAPE_BROWSER_PAGES: 1, SCRAPE_MAX_BYTES: 256 * 1024 });

  before(async () => {
    expect(fs.existsSync("/usr/bin/chromium"), "Debian's chromium is required (scripts/setup.sh installs it)").to.equal(true);
    site = await serve("127.0.0.1", (req, res) => {
      const path = (req.url ?? "").split("?")[0];
      cookiesSeen.push(req.headers.cookie);
      switch (path) {
        case "/app":
          return void res.writeHead(200, { "content-type": "text/html" }).end(
            html(
              `<h1>Static</h1><ul id="list"></ul><script>
              for (const n of ["one", "two", "three"]) { const li = document.createElement("li"); li.textContent = n; document.getElementById("list").appendChild(li); }
              fetch("/data.json").then((r) => r.json()).then((d) => { const p = document.createElement("p"); p.id = "late"; p.textContent = d.msg; document.body.appendChild(p); });
            </script>`,
              "<title>App</title>",
            ),
          );
        case "/data.json":
          return void res.writeHead(200, { "content-type": "application/json" }).end('{"msg":"loaded by fetch"}');
        case "/set-state":
          return void res
            .writeHead(200, { "content-type": "text/html", "set-cookie": "sid=agent-a; Path=/" })
            .end(
              html(
                `<script>document.cookie = "js=agent-a; path=/"; localStorage.setItem("k", "agent-a"); sessionStorage.setItem("s", "agent-a");</script><p>set</p>`,
              ),
            );
        case "/read-state":
          return void res
            .writeHead(200, { "content-type": "text/html" })
            .end(
              html(
                `<p id="state"></p><script>document.getElementById("state").textContent = JSON.stringify({ c: document.cookie, l: localStorage.getItem("k"), s: sessionStorage.getItem("s") });</script>`,
              ),
            );
        case "/latin1":
          return void res
            .writeHead(200, { "content-type": "text/html; charset=windows-1252" })
            .end(Buffer.from([...Buffer.from("<p>caf"), 0xe9, ...Buffer.from("</p>")]));
        case "/missing":
          return void res.writeHead(404, { "content-type": "text/html" }).end("<p>no</p>");
        case "/hang":
          return; // never answers
        case "/heavy":
          return void res.writeHead(200, { "content-type": "text/html" }).end(html(`<link rel="stylesheet" href="/big.css"><p>heavy</p>`));
        case "/big.css":
          // A stylesheet is read to the end (a broken image would stop being read early).
          return void res.writeHead(200, { "content-type": "text/css" }).end(`/*${"a".repeat(3 * 1024 * 1024)}*/`);
        default:
          res.writeHead(200, { "content-type": "text/html" }).end(html(`<p>page ${path}</p>`));
      }
    });
  });
  after(async () => {
    await s.close!();
    await site.close();
  });
  afterEach(() => expect(forbiddenDials).to.deep.equal([]));

  const run = (path: string, body: object = {}, options: object = {}) =>
    s.run(s.parse({ url: site.url(path), job_id: "b", ...body, options: { javascript: true, timeout: 20, ...options } }), ctx());

  it("health starts Chromium and names its version", async () => {
    const h = await s.health!();
    expect(h.ok).to.equal(true);
    expect(h.detail).to.match(/^Chromium \d+\./);
  });

  it("JavaScript: the DOM after scripts and their fetches, extracted with selectors", async () => {
    const r = await run("/app", { output_format: "json", selectors: { items: ["#list li"], late: "#late", h1: "h1" } });
    expect(r.data).to.deep.equal({ items: ["one", "two", "three"], late: "loaded by fetch", h1: "Static" });
    expect(r.metadata).to.include({ rendered: true, tier: "js", status: 200, final_url: site.url("/app"), content_type: "text/html" });
    expect(r.metadata.size_bytes).to.be.greaterThan(100);
  });

  it("the same page without JavaScript (a plain scrape) has no script output", async () => {
    const plain = await s.run(s.parse({ url: site.url("/app"), job_id: "p", selectors: { items: ["#list li"] } }), ctx());
    expect(plain.data).to.deep.equal({ items: [] });
  });

  it("screenshots: a 1280x800 PNG in data.screenshot (base64); with JavaScript off, scripts do not run", async () => {
    const r = await run("/app", { selectors: { items: ["#list li"] } }, { javascript: false, screenshots: true });
    expect(pngSize(r.data.screenshot as string)).to.deep.equal({ width: 1280, height: 800 });
    expect(r.data.items).to.deep.equal([]);
    expect(r.metadata.rendered).to.equal(true);
    const js = await run("/app", {}, { screenshots: true });
    expect(js.data.text).to.include("three");
    expect(pngSize(js.data.screenshot as string).width).to.equal(1280);
  });

  it("a pooled page keeps nothing between jobs: cookies, localStorage, sessionStorage all gone", async () => {
    await run("/set-state");
    cookiesSeen.length = 0;
    const r = await run("/read-state", { selectors: { state: "#state" } });
    expect(JSON.parse(r.data.state as string)).to.deep.equal({ c: "", l: null, s: null });
    expect(cookiesSeen.filter((c) => c !== undefined)).to.deep.equal([]);
  });

  it("the page's charset is honoured", async () => {
    expect((await run("/latin1")).data.text).to.equal("café");
  });

  it("4xx: SCRAPE_FAILED with the status, not refunded", async () => {
    const e = await failsWith(run("/missing"), "SCRAPE_FAILED");
    expect(e.details).to.deep.equal({ refund: false, reason: "http_status", status: 404 });
  });

  it("a page that never loads: SCRAPE_FAILED timeout; the next job gets a fresh page and works", async () => {
    const e = await failsWith(run("/hang", {}, { timeout: 1 }), "SCRAPE_FAILED");
    expect(e.details).to.deep.equal({ refund: false, reason: "timeout" });
    expect((await run("/after-timeout")).data.text).to.equal("page /after-timeout");
  });

  it("a job that waited for a page until its timeout is SCRAPE_FAILED busy, refunded (it never ran)", async () => {
    const holder = run("/hang", {}, { timeout: 2 });
    holder.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    const e = await failsWith(run("/queued", {}, { timeout: 0.5 }), "SCRAPE_FAILED");
    expect(e.details).to.deep.equal({ refund: true, reason: "busy" });
    expect(e.httpStatus).to.equal(503);
    await failsWith(holder, "SCRAPE_FAILED");
  });

  it("a page downloading more than its budget (4 x SCRAPE_MAX_BYTES) is cut: too_large", async () => {
    const e = await failsWith(run("/heavy"), "SCRAPE_FAILED");
    expect(e.details).to.deep.equal({ refund: true, reason: "too_large" });
    expect(e.message).to.include(`more than ${4 * 256 * 1024} bytes`);
  });

  it("more jobs than pages wait their turn and all succeed", async () => {
    const rs = await Promise.all(["/q1", "/q2", "/q3"].map((p) => run(p)));
    expect(rs.map((r) => r.data.text)).to.deep.equal(["page /q1", "page /q2", "page /q3"]);
  });

  it("a Chromium that crashed is relaunched on the next job", async () => {
    const proxyFlag = `--proxy-server=${s.browser.proxy.url}`;
    const browserPids = pidsWith(proxyFlag).filter((pid) => !fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("--type="));
    expect(browserPids).to.have.length(1);
    process.kill(browserPids[0], "SIGKILL");
    for (let i = 0; i < 100 && s.browser.started; i++) await new Promise((r) => setTimeout(r, 20));
    expect(s.browser.started).to.equal(false);
    expect((await run("/after-crash")).data.text).to.equal("page /after-crash");
    expect((await s.health!()).ok).to.equal(true);
  });
});
