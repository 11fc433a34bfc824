/**
 * The static fetch (no browser): undici, one hop at a time, each hop vetted by the guard and its
 * socket pinned to the vetted address (the connector replaces the host name by the address; TLS
 * SNI and the Host header keep the name). Redirects are followed by hand, at most maxRedirects,
 * each Location vetted like the first URL. Bodies are capped after decompression (a gzip bomb
 * stops at the cap); the job's signal bounds the whole thing. Nothing of the caller is forwarded:
 * no cookies, no credentials, a fixed set of request headers.
 */
import zlib from "node:zlib";
import { Readable } from "node:stream";
import { Agent, buildConnector, Dispatcher, request } from "undici";
import { BlockedError, TargetGuard, VettedTarget } from "./guard";

export interface FetchOptions {
  guard: TargetGuard;
  maxBytes: number;
  maxRedirects: number;
  signal: AbortSignal;
  userAgent: string;
  /** TCP + TLS connect budget per hop (the job's signal still bounds everything). */
  connectTimeoutMs?: number;
}

export interface FetchedPage {
  /** The URL that answered (after redirects). */
  url: string;
  status: number;
  /** Lower-cased media type without parameters ("" when absent). */
  mediaType: string;
  /** The charset parameter of Content-Type, if any. */
  charset?: string;
  /** Decoded (decompressed) body bytes. */
  body: Buffer;
  redirects: string[];
  /** The address the final hop connected to. */
  address: string;
}

export type FetchFailureKind =
  "unreachable" | "http_status" | "too_large" | "timeout" | "bad_redirect" | "unsupported" | "cancelled" | "busy";

export class FetchFailure extends Error {
  constructor(
    readonly kind: FetchFailureKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "FetchFailure";
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

const REQUEST_HEADERS = (ua: string) => ({
  "user-agent": ua,
  accept: "text/html,application/xhtml+xml,application/xml;q=0.9,text/plain;q=0.8,application/json;q=0.8,*/*;q=0.5",
  "accept-encoding": "gzip, deflate, br",
  "accept-language": "en;q=0.9,*;q=0.5",
});

/** An undici dispatcher whose every socket goes to `target.address`, checked again at dial time. */
function pinnedAgent(guard: TargetGuard, target: VettedTarget, connectTimeoutMs: number): Agent {
  const base = buildConnector({ timeout: connectTimeoutMs });
  return new Agent({
    connections: 1,
    pipelining: 0,
    connect: (opts, cb) => {
      try {
        guard.assertDialable(target.address, target.port);
      } catch (e) {
        cb(e as Error, null);
        return;
      }
      // hostname is what net/tls connect to; `host` (name:port) still gives SNI its name.
      base({ ...opts, hostname: target.address }, cb);
    },
  });
}

function headerValue(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Drops a body we will not read (a destroyed undici body errors: that error is expected here). */
function discard(body: Dispatcher.ResponseData["body"]) {
  body.on("error", () => undefined);
  body.destroy();
}

function decoderFor(encoding: string): NodeJS.ReadWriteStream | undefined {
  switch (encoding) {
    case "":
    case "identity":
      return undefined;
    case "gzip":
    case "x-gzip":
      return zlib.createGunzip();
    case "deflate":
      return zlib.createInflate();
    case "br":
      return zlib.createBrotliDecompress();
    default:
      throw new FetchFailure("unsupported", `unsupported content encoding "${encoding.slice(0, 40)}"`);
  }
}

async function readCapped(body: Dispatcher.ResponseData["body"], encoding: string, maxBytes: number): Promise<Buffer> {
  const decoder = decoderFor(encoding);
  const source: Readable = decoder ? (body.pipe(decoder as unknown as NodeJS.WritableStream) as unknown as Readable) : body;
  if (decoder) body.on("error", (e) => (decoder as unknown as Readable).destroy(e));
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of source) {
      total += (chunk as Buffer).length;
      if (total > maxBytes) throw new FetchFailure("too_large", `the response is larger than ${maxBytes} bytes`);
      chunks.push(chunk as Buffer);
    }
  } finally {
    discard(body);
    if (decoder) (decoder as unknown as Readable).destroy();
  }
  return Buffer.concat(chunks);
}

function abortReason(signal: AbortSignal): FetchFailure {
  const r = signal.reason as Error | undefined;
  return r?.name === "TimeoutError"
    ? new FetchFailure("timeout", "the job's timeout expired")
    : new FetchFailure("cancelled", "the job was cancelled");
}

/** Vets, connects to the vetted address, follows redirects, returns the capped body. */
export async function fetchPage(startUrl: string, o: FetchOptions): Promise<FetchedPage> {
  const redirects: string[] = [];
  let url = new URL(startUrl);
  for (let hop = 0; ; hop++) {
    if (url.protocol !== "http:" && url.protocol !== "https:")
      throw new BlockedError(url.href.slice(0, 100), `scheme ${url.protocol} is not allowed`);
    if (url.username || url.password) throw new FetchFailure("bad_redirect", "a redirect carried user:password@ credentials");
    if (o.signal.aborted) throw abortReason(o.signal);
    const port = url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
    const target = await o.guard.vet(url.hostname, port);
    if (o.signal.aborted) throw abortReason(o.signal);
    const agent = pinnedAgent(o.guard, target, o.connectTimeoutMs ?? 10_000);
    try {
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, { dispatcher: agent, method: "GET", headers: REQUEST_HEADERS(o.userAgent), signal: o.signal });
      } catch (e) {
        if (e instanceof BlockedError) throw e;
        const cause = (e as { cause?: unknown }).cause;
        if (cause instanceof BlockedError) throw cause;
        if (o.signal.aborted) throw abortReason(o.signal);
        const code = (e as NodeJS.ErrnoException).code ?? (e as Error).name;
        throw new FetchFailure("unreachable", `could not connect to ${url.host}: ${code}`);
      }
      const h = res.headers as Record<string, string | string[] | undefined>;
      const location = headerValue(h, "location");
      if (REDIRECTS.has(res.statusCode) && location) {
        discard(res.body);
        if (hop >= o.maxRedirects) throw new FetchFailure("bad_redirect", `more than ${o.maxRedirects} redirects`, res.statusCode);
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new FetchFailure("bad_redirect", "a redirect's Location is not a URL", res.statusCode);
        }
        redirects.push(next.href);
        url = next;
        continue;
      }
      if (res.statusCode >= 400) {
        discard(res.body);
        throw new FetchFailure("http_status", `the site answered HTTP ${res.statusCode}`, res.statusCode);
      }
      const declared = Number(headerValue(h, "content-length"));
      if (Number.isFinite(declared) && declared > o.maxBytes && !headerValue(h, "content-encoding")) {
        discard(res.body);
        throw new FetchFailure("too_large", `the response is larger than ${o.maxBytes} bytes (Content-Length ${declared})`, res.statusCode);
      }
      const ct = headerValue(h, "content-type") ?? "";
      const mediaType = ct.split(";")[0].trim().toLowerCase();
      const charset = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(ct)?.[1];
      if (!isScrapable(mediaType)) {
        discard(res.body);
        throw new FetchFailure("unsupported", `unsupported content type "${mediaType.slice(0, 60)}"`, res.statusCode);
      }
      let body: Buffer;
      try {
        body = await readCapped(res.body, (headerValue(h, "content-encoding") ?? "").trim().toLowerCase(), o.maxBytes);
      } catch (e) {
        if (e instanceof FetchFailure) throw e;
        if (o.signal.aborted) throw abortReason(o.signal);
        throw new FetchFailure("unreachable", `the response broke off: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      return { url: url.href, status: res.statusCode, mediaType, charset, body, redirects, address: target.address };
    } finally {
      agent.destroy().catch(() => undefined);
    }
  }
}

/** Documents (HTML, XML) and text (plain, JSON, CSV, ...); no content type is taken as HTML. */
export function isScrapable(mediaType: string): boolean {
  return (
    mediaType === "" ||
    mediaType.startsWith("text/") ||
    mediaType === "application/xhtml+xml" ||
    mediaType === "application/xml" ||
    mediaType === "application/json" ||
    mediaType.endsWith("+xml") ||
    mediaType.endsWith("+json")
  );
}

export function isMarkup(mediaType: string): boolean {
  return (
    mediaType === "" ||
    mediaType === "text/html" ||
    mediaType === "application/xhtml+xml" ||
    mediaType === "application/xml" ||
    mediaType === "text/xml" ||
    mediaType.endsWith("+xml")
  );
}
