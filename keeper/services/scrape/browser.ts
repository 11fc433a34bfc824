/**
 * JavaScript rendering and screenshots: Debian's Chromium driven by playwright-core (never a
 * downloaded browser). One browser for the service, launched on first use; pages are pooled per
 * kind (JavaScript on / off), at most `pagesPerKind` jobs of a kind at once.
 *
 * Egress: Chromium runs behind the EgressProxy (--proxy-server) with loopback NOT bypassed
 * (--proxy-bypass-list=<-loopback>), its own DNS disabled (--host-resolver-rules maps every name
 * to NOTFOUND except the proxy's 127.0.0.1), QUIC off, and WebRTC limited to proxied transports and
 * removed from pages, so every byte the page asks for is vetted by the guard. Service workers and
 * downloads are blocked per context; popups are closed.
 *
 * Between jobs a pooled page goes back to about:blank and loses its cookies and the storage of
 * every origin it saw (CDP Storage.clearDataForOrigin); the HTTP cache is disabled, so one agent's
 * job never sees another's state. A page that timed out, overflowed or crashed is thrown away.
 * Playwright launches Chromium with a fresh temporary profile (--user-data-dir) and removes it on close.
 */
import fs from "node:fs";
import { chromium, Browser, BrowserContext, CDPSession, Page } from "playwright-core";
import type { Logger } from "pino";
import { EgressProxy } from "./egressProxy";
import { FetchFailure } from "./fetcher";
import { BlockedError, TargetGuard } from "./guard";

/** design.md section 6: the flags Debian's Chromium needs here. */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

const DISABLE_WEBRTC = `(() => {
  for (const k of ["RTCPeerConnection", "webkitRTCPeerConnection", "RTCDataChannel", "RTCSessionDescription", "RTCIceCandidate", "RTCRtpSender", "RTCRtpReceiver"]) {
    try { Object.defineProperty(window, k, { value: undefined, configurable: false, writable: false }); } catch (e) {}
  }
})();`;

export type Kind = "js" | "static";

export interface BrowserFarmOptions {
  executablePath: string;
  guard: TargetGuard;
  log: Logger;
  pagesPerKind: number;
  /** Bytes the page may download in one job, all resources together (CDP Network.dataReceived). */
  maxBytesPerJob: number;
  userAgent: string;
  /** "pool" (default): pages reused; "context-per-job": a new context per job (benchmark baseline). */
  mode?: "pool" | "context-per-job";
}

export interface RenderRequest {
  javascript: boolean;
  screenshot: boolean;
  timeoutMs: number;
  signal: AbortSignal;
  /** Cap on the rendered HTML (page.content()). */
  maxHtmlBytes: number;
}

export interface Rendered {
  url: string;
  status: number;
  html: string;
  screenshot?: Buffer;
  redirects: string[];
}

interface Slot {
  kind: Kind;
  context: BrowserContext;
  page: Page;
  cdp: CDPSession;
  bytes: number;
  origins: Set<string>;
  onOverflow?: () => void;
  navigations: string[];
  /** Requests in flight and the time of the last network event: when the page has settled. */
  inflight: number;
  lastActivity: number;
}

/** After load, a page is settled once nothing was in flight for this long. */
const QUIET_MS = 50;
/** The settle wait never exceeds this (nor the job's deadline). */
const SETTLE_MAX_MS = 1_000;

/** A counting semaphore whose waiters give up with the job's signal. */
class Gate {
  private active = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(private readonly max: number) {}
  async enter(signal: AbortSignal): Promise<void> {
    if (this.active < this.max) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const go = () => {
        signal.removeEventListener("abort", quit);
        this.active++;
        resolve();
      };
      const quit = () => {
        const i = this.waiters.indexOf(go);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal.reason);
      };
      if (signal.aborted) return quit();
      signal.addEventListener("abort", quit, { once: true });
      this.waiters.push(go);
    });
  }
  leave(): void {
    this.active--;
    this.waiters.shift()?.();
  }
}

export class BrowserFarm {
  readonly proxy: EgressProxy;
  private browserP?: Promise<Browser>;
  private readonly idle: Record<Kind, Slot[]> = { js: [], static: [] };
  private readonly gates: Record<Kind, Gate>;
  private closed = false;
  private proxyListening?: Promise<number>;

  constructor(private readonly o: BrowserFarmOptions) {
    // The job's total is capped through CDP (Network.dataReceived); the proxy's per-connection cap
    // is a backstop above it (2x) for traffic no page reports, so the job cap is the one that fires.
    this.proxy = new EgressProxy({ guard: o.guard, log: o.log, maxBytesPerConnection: 2 * o.maxBytesPerJob });
    this.gates = { js: new Gate(o.pagesPerKind), static: new Gate(o.pagesPerKind) };
  }

  /** Launches the proxy and Chromium once; a browser that died is relaunched on the next job. */
  start(): Promise<Browser> {
    if (this.closed) return Promise.reject(new Error("the browser farm is closed"));
    if (!this.browserP) {
      this.browserP = (async () => {
        // Checked first: a launch that fails on a missing binary leaves Playwright's temp dirs behind.
        try {
          fs.accessSync(this.o.executablePath, fs.constants.X_OK);
        } catch {
          throw new Error(
            `no executable Chromium at ${this.o.executablePath} (SCRAPE_CHROMIUM_PATH; scripts/setup.sh installs Debian's chromium)`,
          );
        }
        this.proxyListening ??= this.proxy.listen();
        await this.proxyListening;
        const proxyUrl = this.proxy.url;
        const browser = await chromium.launch({
          executablePath: this.o.executablePath,
          headless: true,
          chromiumSandbox: false,
          handleSIGINT: false,
          handleSIGTERM: false,
          handleSIGHUP: false,
          timeout: 60_000,
          args: [
            ...CHROMIUM_FLAGS,
            `--proxy-server=${proxyUrl}`,
            "--proxy-bypass-list=<-loopback>",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
            "--webrtc-ip-handling-policy=disable_non_proxied_udp",
            "--disable-features=DnsOverHttps,NetworkPrediction,InterestFeedContentSuggestions,OptimizationHints,MediaRouter,DialMediaRouteProvider,Translate,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
            "--disable-extensions",
            "--disable-component-extensions-with-background-pages",
            "--disable-default-apps",
            "--disable-client-side-phishing-detection",
            "--disable-domain-reliability",
            "--no-pings",
          ],
        });
        browser.on("disconnected", () => {
          if (this.closed) return;
          this.o.log.warn("scrape: Chromium disconnected; it is relaunched on the next job");
          this.browserP = undefined;
          this.idle.js = [];
          this.idle.static = [];
        });
        this.o.log.info({ version: browser.version(), proxy: proxyUrl }, "scrape: Chromium started behind the egress proxy");
        return browser;
      })();
      this.browserP.catch(() => {
        this.browserP = undefined;
      });
    }
    return this.browserP;
  }

  get started(): boolean {
    return this.browserP !== undefined;
  }

  private async newSlot(kind: Kind): Promise<Slot> {
    const browser = await this.start();
    const context = await browser.newContext({
      javaScriptEnabled: kind === "js",
      acceptDownloads: false,
      serviceWorkers: "block",
      userAgent: this.o.userAgent,
      viewport: { width: 1280, height: 800 },
    });
    await context.addInitScript(DISABLE_WEBRTC);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
    const slot: Slot = { kind, context, page, cdp, bytes: 0, origins: new Set(), navigations: [], inflight: 0, lastActivity: 0 };
    const done = () => {
      slot.inflight = Math.max(0, slot.inflight - 1);
      slot.lastActivity = performance.now();
    };
    page.on("requestfinished", done);
    page.on("requestfailed", done);
    cdp.on("Network.dataReceived", (e) => {
      slot.bytes += e.dataLength;
      if (slot.bytes > this.o.maxBytesPerJob) slot.onOverflow?.();
    });
    page.on("request", (r) => {
      slot.inflight++;
      slot.lastActivity = performance.now();
      try {
        const u = new URL(r.url());
        if (u.protocol === "http:" || u.protocol === "https:") slot.origins.add(u.origin);
      } catch {
        // not a URL we track
      }
      if (r.isNavigationRequest() && r.frame() === page.mainFrame()) slot.navigations.push(r.url());
    });
    // Popups and window.open: never a second page in a pooled context.
    context.on("page", (p) => {
      if (p !== page) p.close().catch(() => undefined);
    });
    return slot;
  }

  private async destroy(slot: Slot) {
    await slot.context.close().catch(() => undefined);
  }

  /** Back to a blank, stateless page; false if that failed (the slot is then thrown away). */
  private async reset(slot: Slot): Promise<boolean> {
    try {
      await slot.page.goto("about:blank", { timeout: 5_000 });
      await slot.context.clearCookies();
      for (const origin of slot.origins) await slot.cdp.send("Storage.clearDataForOrigin", { origin, storageTypes: "all" });
      slot.origins.clear();
      slot.navigations = [];
      slot.bytes = 0;
      return true;
    } catch {
      return false;
    }
  }

  async render(url: string, r: RenderRequest): Promise<Rendered> {
    const kind: Kind = r.javascript ? "js" : "static";
    const deadline = AbortSignal.any([r.signal, AbortSignal.timeout(r.timeoutMs)]);
    const gate = this.gates[kind];
    try {
      await gate.enter(deadline);
    } catch {
      // Never got a page: the agent's time went to waiting for others, not to its job.
      const t = timeoutOrCancel(deadline);
      throw t.kind === "timeout" ? new FetchFailure("busy", "every browser page stayed busy until the job's timeout") : t;
    }
    let slot: Slot | undefined;
    let reusable = false;
    try {
      const pooled = this.o.mode !== "context-per-job";
      slot = pooled ? this.idle[kind].pop() : undefined;
      if (!slot) {
        const creating = this.newSlot(kind);
        try {
          slot = await raceSignal(creating, deadline);
        } catch (e) {
          // Gave up while the context was being made: close it when it arrives.
          creating.then(
            (late) => this.destroy(late),
            () => undefined,
          );
          throw e;
        }
      }
      const s = slot;
      s.bytes = 0;
      s.navigations = [];
      s.inflight = 0;
      const overflow = new Promise<never>((_, reject) => {
        s.onOverflow = () => reject(new FetchFailure("too_large", `the page downloaded more than ${this.o.maxBytesPerJob} bytes`));
      });
      const work = this.visit(s, url, r, deadline);
      work.catch(() => undefined);
      overflow.catch(() => undefined);
      const out = await raceSignal(Promise.race([work, overflow]), deadline);
      reusable = pooled;
      return out;
    } catch (e) {
      if (e instanceof FetchFailure || e instanceof BlockedError) throw e;
      if (deadline.aborted) throw timeoutOrCancel(deadline);
      throw e;
    } finally {
      // Cleaning up is off the job's critical path; the gate opens once the page is back (or gone).
      const s = slot;
      void (async () => {
        if (s) {
          s.onOverflow = undefined;
          if (reusable && !this.closed && (await this.reset(s))) this.idle[kind].push(s);
          else await this.destroy(s);
        }
      })().finally(() => gate.leave());
    }
  }

  private async visit(s: Slot, url: string, r: RenderRequest, deadline: AbortSignal): Promise<Rendered> {
    let resp;
    try {
      resp = await s.page.goto(url, { waitUntil: "load", timeout: r.timeoutMs });
    } catch (e) {
      if (deadline.aborted) throw timeoutOrCancel(deadline);
      // A refused tunnel shows as a network error: ask the guard about the navigation that failed.
      const failed = s.navigations[s.navigations.length - 1] ?? url;
      await this.explainBlocked(failed);
      const m = /net::(ERR_[A-Z_]+)/.exec((e as Error).message);
      throw new FetchFailure("unreachable", `the page could not be loaded: ${m ? m[1] : "navigation failed"}`);
    }
    if (r.javascript) {
      // Let scripts finish the requests they started (fetch, XHR): settled after QUIET_MS with
      // nothing in flight, at most SETTLE_MAX_MS (Playwright's networkidle always costs 500 ms).
      const end = performance.now() + Math.min(SETTLE_MAX_MS, r.timeoutMs);
      while (performance.now() < end && !deadline.aborted && (s.inflight > 0 || performance.now() - s.lastActivity < QUIET_MS)) {
        await new Promise((res) => setTimeout(res, 20));
      }
    }
    const finalUrl = s.page.url();
    const proto = new URL(finalUrl).protocol;
    if (proto !== "http:" && proto !== "https:") throw new BlockedError(finalUrl.slice(0, 100), `the page navigated to a ${proto} URL`);
    // A script may have navigated on after load: the page we return must be one the guard allows.
    if (finalUrl !== resp?.url()) await this.explainBlocked(finalUrl);
    if (!resp) throw new FetchFailure("unreachable", "the page gave no response");
    const headers = resp.headers();
    if (headers["x-scrape-blocked"] === "DOMAIN_BLOCKED") {
      await this.explainBlocked(resp.url());
      throw new BlockedError(new URL(resp.url()).hostname, "refused by the egress guard");
    }
    const status = resp.status();
    if (status >= 400) throw new FetchFailure("http_status", `the site answered HTTP ${status}`, status);
    const html = await s.page.content();
    if (Buffer.byteLength(html, "utf8") > r.maxHtmlBytes)
      throw new FetchFailure("too_large", `the rendered page is larger than ${r.maxHtmlBytes} bytes`);
    const screenshot = r.screenshot ? await s.page.screenshot({ type: "png", timeout: r.timeoutMs }) : undefined;
    return { url: finalUrl, status, html, screenshot, redirects: s.navigations.slice(1) };
  }

  /** Throws the guard's BlockedError when `url`'s target is refused; returns otherwise. */
  private async explainBlocked(url: string) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return;
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new BlockedError(url.slice(0, 100), `scheme ${u.protocol} is not allowed`);
    try {
      await this.o.guard.vet(u.hostname, u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80);
    } catch (e) {
      if (e instanceof BlockedError) throw e;
    }
  }

  /** Starts the browser if needed and checks it answers. */
  async health(): Promise<{ ok: boolean; detail?: string }> {
    try {
      const b = await this.start();
      if (!b.isConnected()) return { ok: false, detail: "Chromium is not connected" };
      return { ok: true, detail: `Chromium ${b.version()}` };
    } catch (e) {
      return { ok: false, detail: `Chromium cannot start: ${(e as Error).message.split("\n")[0]}` };
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const b = this.browserP;
    this.browserP = undefined;
    if (b) await (await b.catch(() => undefined))?.close().catch(() => undefined);
    await this.proxy.close().catch(() => undefined);
  }
}

function timeoutOrCancel(signal: AbortSignal): FetchFailure {
  const r = signal.reason as Error | undefined;
  return r?.name === "TimeoutError"
    ? new FetchFailure("timeout", "the job's timeout expired")
    : new FetchFailure("cancelled", "the job was cancelled");
}

function raceSignal<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const quit = () => reject(signal.reason);
    signal.addEventListener("abort", quit, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", quit);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", quit);
        reject(e);
      },
    );
  });
}
