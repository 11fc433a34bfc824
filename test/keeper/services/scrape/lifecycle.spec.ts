/**
 * The service's browser lifecycle: nothing starts until needed, health() starts Chromium, close()
 * leaves no Chromium process, no proxy listening and no profile directory; a wrong SCRAPE_CHROMIUM_PATH is an unhealthy
 * service and a refunded SCRAPE_FAILED, not a crash.
 */
import { expect } from "chai";
import fs from "node:fs";
import net from "node:net";
import { ctx, failsWith, serve, service } from "./helpers";

function pidsWith(needle: string): number[] {
  return fs
    .readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid)
    .filter((e) => {
      try {
        const stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
        if (stat.slice(stat.lastIndexOf(")") + 2)[0] === "Z") return false;
        return fs.readFileSync(`/proc/${e}/cmdline`, "utf8").includes(needle);
      } catch {
        return false;
      }
    })
    .map(Number);
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, "127.0.0.1");
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
}

describe("scrape: browser lifecycle", function () {
  this.timeout(60_000);

  it("no browser until needed; health() starts it; close() leaves no Chromium process and no proxy", async () => {
    const s = service({ SCRAPE_ALLOWED_CIDRS: "127.0.0.1/32" });
    expect(s.browser.started).to.equal(false);
    const site = await serve("127.0.0.1", (_q, res) => res.writeHead(200, { "content-type": "text/html" }).end("<p>static</p>"));
    try {
      // A static job never needs Chromium.
      expect((await s.run(s.parse({ url: site.url("/"), job_id: "st" }), ctx())).data.text).to.equal("static");
      expect(s.browser.started).to.equal(false);
      expect((await s.health!()).ok).to.equal(true);
      const needle = `--proxy-server=${s.browser.proxy.url}`;
      const port = Number(new URL(s.browser.proxy.url).port);
      const pids = pidsWith(needle);
      expect(pids.length).to.be.greaterThan(0);
      expect(await portOpen(port)).to.equal(true);
      // Playwright's fresh profile for this browser: gone after close.
      const profile = fs
        .readFileSync(`/proc/${pids[0]}/cmdline`, "utf8")
        .split("\0")
        .find((a) => a.startsWith("--user-data-dir="))!
        .slice("--user-data-dir=".length);
      expect(fs.existsSync(profile)).to.equal(true);
      await s.close!();
      for (let i = 0; i < 100 && pidsWith(needle).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(pidsWith(needle)).to.deep.equal([]);
      expect(await portOpen(port)).to.equal(false);
      expect(fs.existsSync(profile), `${profile} left behind`).to.equal(false);
      await failsWith(s.run(s.parse({ url: site.url("/"), job_id: "after", options: { javascript: true } }), ctx()), "SCRAPE_FAILED");
    } finally {
      await site.close();
    }
  });

  it("a Chromium that cannot start: health() says so, browser jobs fail refunded", async () => {
    const s = service({ SCRAPE_ALLOWED_CIDRS: "127.0.0.1/32", SCRAPE_CHROMIUM_PATH: "/nonexistent/chromium" });
    const site = await serve("127.0.0.1", (_q, res) => res.writeHead(200, { "content-type": "text/html" }).end("<p>x</p>"));
    try {
      const h = await s.health!();
      expect(h.ok).to.equal(false);
      expect(h.detail).to.equal(
        "Chromium cannot start: no executable Chromium at /nonexistent/chromium (SCRAPE_CHROMIUM_PATH; scripts/setup.sh installs Debian's chromium)",
      );
      const e = await failsWith(
        s.run(s.parse({ url: site.url("/"), job_id: "nb", options: { javascript: true, timeout: 10 } }), ctx()),
        "SCRAPE_FAILED",
      );
      expect(e.details).to.deep.include({ refund: true });
    } finally {
      await s.close!();
      await site.close();
    }
  });
});
