/**
 * The scraper service (POST /api/v1/scrape, design.md section 5; docs/scraper.md): parse, price by
 * tier, then either a static fetch (undici through the egress guard, cheerio) or a render in
 * Chromium (behind the guard's forward proxy) for options.javascript / options.screenshots.
 *
 * Codes (ServiceError; details.refund tells the pipeline whether to give the payment back):
 * - INVALID_REQUEST (400): the body is wrong; details.problems lists every problem.
 * - DOMAIN_BLOCKED (403, refund): the URL, a redirect or an address it resolves to is not allowed.
 *   Thrown by parse() already when the name or literal address alone decides it (before payment).
 * - SCRAPE_FAILED: details.reason says why: unreachable / bad_redirect / unsupported / too_large /
 *   cancelled / busy (refund: the agent got nothing it could have avoided); http_status (the site
 *   answered 4xx/5xx, details.status; no refund: the fetch was made) and timeout (the agent's own
 *   options.timeout was used up; no refund).
 */
import type { Logger } from "pino";
import type { KeeperConfig } from "../../config";
import { JobContext, JobService, ServiceError } from "../jobService";
import { parseCidrList } from "./addressPolicy";
import { BrowserFarm } from "./browser";
import { ExtractError } from "./extract";
import { ParsePool } from "./parsePool";
import { fetchPage, FetchFailure, isMarkup } from "./fetcher";
import { BlockedError, DialHook, parseDomainList, ResolveError, Resolver, TargetGuard } from "./guard";
import { parseScrapeRequest, ScrapeRequest, Tier, tierOf, urlRateLimitKey } from "./request";

export type { ScrapeRequest, Tier } from "./request";
export { tierOf, urlRateLimitKey } from "./request";

export const USER_AGENT = "Mozilla/5.0 (compatible; AgentComputeScraper/0.1)";
/** The browser may download this many times SCRAPE_MAX_BYTES per job (scripts, styles, images). */
export const BROWSER_BYTES_FACTOR = 4;

export interface ScrapeResult extends Record<string, unknown> {
  data: Record<string, unknown>;
  metadata: {
    url: string;
    final_url: string;
    scraped_at: string;
    size_bytes: number;
    execution_ms: number;
    status: number;
    content_type: string;
    rendered: boolean;
    redirects: number;
    tier: Tier;
  };
}

export interface ScrapeServiceOptions {
  /** DNS (default: the system resolver). Tests map names to addresses as data. */
  resolver?: Resolver;
  /** Called right before every outbound socket with the address being dialed. */
  onDial?: DialHook;
  /** WATT decimals: price() returns whole WATT * 10^decimals. Default 9. */
  wattDecimals?: number;
  /** Parse workers (default SCRAPE_PARSE_WORKERS; 0: parse on the event loop). */
  parseWorkers?: number;
  /** Browser page reuse (benchmark baseline: "context-per-job"). */
  browserMode?: "pool" | "context-per-job";
}

export type ScrapeService = JobService<ScrapeRequest, ScrapeResult> & { readonly guard: TargetGuard; readonly browser: BrowserFarm };

function failure(e: unknown, log: Logger, jobId: string): ServiceError {
  if (e instanceof ServiceError) return e;
  if (e instanceof BlockedError) return new ServiceError("DOMAIN_BLOCKED", e.message, 403, { refund: true, reason: e.reason });
  if (e instanceof ResolveError) return new ServiceError("SCRAPE_FAILED", e.message, 502, { refund: true, reason: "unreachable" });
  if (e instanceof ExtractError) return new ServiceError("SCRAPE_FAILED", e.message, 422, { refund: true, reason: "unsupported" });
  if (e instanceof FetchFailure) {
    const refund = e.kind !== "http_status" && e.kind !== "timeout";
    const http = e.kind === "timeout" ? 504 : e.kind === "cancelled" || e.kind === "busy" ? 503 : 502;
    return new ServiceError("SCRAPE_FAILED", e.message, http, { refund, reason: e.kind, ...(e.status ? { status: e.status } : {}) });
  }
  log.warn({ jobId, err: (e as Error).message }, "scrape: unexpected failure");
  return new ServiceError("SCRAPE_FAILED", "the scraper failed", 503, { refund: true, reason: "internal" });
}

export function createScrapeService(cfg: KeeperConfig, log: Logger, opts: ScrapeServiceOptions = {}): ScrapeService {
  const guard = new TargetGuard({
    allowedCidrs: parseCidrList(cfg.SCRAPE_ALLOWED_CIDRS),
    blockedDomains: parseDomainList(cfg.SCRAPE_BLOCKED_DOMAINS),
    resolver: opts.resolver,
    onDial: opts.onDial,
  });
  const browser = new BrowserFarm({
    executablePath: cfg.SCRAPE_CHROMIUM_PATH,
    guard,
    log,
    pagesPerKind: cfg.SCRAPE_BROWSER_PAGES,
    maxBytesPerJob: cfg.SCRAPE_MAX_BYTES * BROWSER_BYTES_FACTOR,
    userAgent: USER_AGENT,
    mode: opts.browserMode,
  });
  const parser = new ParsePool(opts.parseWorkers ?? cfg.SCRAPE_PARSE_WORKERS);
  const limits = { maxTimeoutS: cfg.SCRAPE_MAX_TIMEOUT_S, defaultTimeoutS: cfg.SCRAPE_DEFAULT_TIMEOUT_S };
  const unit = 10n ** BigInt(opts.wattDecimals ?? 9);
  const prices: Record<Tier, bigint> = {
    simple: BigInt(cfg.SCRAPE_PRICE_SIMPLE),
    standard: BigInt(cfg.SCRAPE_PRICE_STANDARD),
    js: BigInt(cfg.SCRAPE_PRICE_JS),
  };
  const screenshotPrice = BigInt(cfg.SCRAPE_PRICE_SCREENSHOT);

  return {
    name: "scrape",
    guard,
    browser,
    parse(body: unknown): ScrapeRequest {
      const req = parseScrapeRequest(body, limits);
      const u = new URL(req.url);
      try {
        // What the name or literal alone decides is refused before anything is paid or resolved.
        guard.checkName(u.hostname, u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80);
      } catch (e) {
        throw failure(e, log, req.job_id);
      }
      return req;
    },
    price: (req) => (prices[tierOf(req)] + (req.options.screenshots ? screenshotPrice : 0n)) * unit,
    rateLimitKeys: (req) => [urlRateLimitKey(req.url)],
    async run(req: ScrapeRequest, ctx: JobContext): Promise<ScrapeResult> {
      const started = performance.now();
      const scrapedAt = new Date().toISOString();
      const timeoutMs = Math.round(req.options.timeout * 1000);
      const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]);
      try {
        let data: Record<string, unknown>;
        let meta: { final_url: string; size_bytes: number; status: number; content_type: string; rendered: boolean; redirects: number };
        if (req.options.javascript || req.options.screenshots) {
          // Refuse a blocked start before Chromium is involved; the proxy vets it (and everything else) again.
          const start = new URL(req.url);
          await guard.vet(start.hostname, start.port ? Number(start.port) : start.protocol === "https:" ? 443 : 80);
          const r = await browser.render(req.url, {
            javascript: req.options.javascript,
            screenshot: req.options.screenshots,
            timeoutMs,
            signal: ctx.signal,
            maxHtmlBytes: cfg.SCRAPE_MAX_BYTES,
          });
          data = await parser.run({ kind: "html", html: r.html, format: req.output_format, selectors: req.selectors, baseUrl: r.url });
          if (r.screenshot) data.screenshot = r.screenshot.toString("base64");
          meta = {
            final_url: r.url,
            size_bytes: Buffer.byteLength(r.html, "utf8"),
            status: r.status,
            content_type: "text/html",
            rendered: true,
            redirects: r.redirects.length,
          };
        } else {
          const p = await fetchPage(req.url, {
            guard,
            maxBytes: cfg.SCRAPE_MAX_BYTES,
            maxRedirects: cfg.SCRAPE_MAX_REDIRECTS,
            signal,
            userAgent: USER_AGENT,
          });
          if (isMarkup(p.mediaType)) {
            const xml = p.mediaType !== "" && p.mediaType !== "text/html" && p.mediaType !== "application/xhtml+xml";
            data = await parser.run({
              kind: "markup",
              body: p.body,
              xml,
              charset: p.charset,
              format: req.output_format,
              selectors: req.selectors,
              baseUrl: p.url,
            });
          } else {
            data = await parser.run({
              kind: "text",
              body: p.body,
              charset: p.charset,
              mediaType: p.mediaType,
              format: req.output_format,
              selectors: req.selectors,
            });
          }
          meta = {
            final_url: p.url,
            size_bytes: p.body.length,
            status: p.status,
            content_type: p.mediaType,
            rendered: false,
            redirects: p.redirects.length,
          };
        }
        return {
          data,
          metadata: {
            url: req.url,
            scraped_at: scrapedAt,
            execution_ms: Math.round(performance.now() - started),
            tier: tierOf(req),
            ...meta,
          },
        };
      } catch (e) {
        const err = failure(e, log, ctx.jobId);
        log.info({ jobId: ctx.jobId, code: err.code, reason: err.details?.reason }, "scrape: job failed");
        throw err;
      }
    },
    health: () => browser.health(),
    close: async () => {
      await parser.close();
      await browser.close();
    },
  };
}
