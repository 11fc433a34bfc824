/**
 * The browser's only way out: a forward proxy on 127.0.0.1 that Chromium is launched behind
 * (--proxy-server, with --proxy-bypass-list=<-loopback> so loopback is proxied too). Every request
 * the page makes (document, subresources, fetch/XHR, redirects, WebSockets) arrives here as an
 * HTTP CONNECT (https, wss) or an absolute-form plain HTTP request (http), and goes through the
 * same TargetGuard as the static fetcher: vetted, then connected to the vetted address only.
 * A refusal is a 403 with `x-scrape-blocked` (plain HTTP) or a refused tunnel (CONNECT).
 *
 * It can only reach what the guard allows, which any local process could reach directly anyway,
 * so it needs no authentication. Each connection is capped in bytes and idle time.
 */
import http from "node:http";
import net from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { BlockedError, TargetGuard, VettedTarget } from "./guard";

export interface EgressProxyOptions {
  guard: TargetGuard;
  log: Logger;
  /** Bytes from the upstream per connection (tunnel or request) before it is cut. */
  maxBytesPerConnection: number;
  idleTimeoutMs?: number;
}

export interface EgressStats {
  allowed: number;
  blocked: number;
  lastBlocked?: { host: string; reason: string };
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "proxy-authenticate",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** "host:port" or "[v6]:port" of a CONNECT request. */
function splitAuthority(authority: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(authority) ?? /^([^:[\]]+):(\d+)$/.exec(authority);
  return m ? { host: m[1], port: Number(m[2]) } : undefined;
}

export class EgressProxy {
  readonly stats: EgressStats = { allowed: 0, blocked: 0 };
  private readonly server: http.Server;
  private readonly sockets = new Set<Duplex>();
  private port = 0;

  constructor(private readonly o: EgressProxyOptions) {
    this.server = http.createServer((req, res) => void this.onRequest(req, res));
    this.server.on("connect", (req, socket, head) => void this.onTunnel(req, socket, head, "connect"));
    this.server.on("upgrade", (req, socket, head) => void this.onTunnel(req, socket, head, "upgrade"));
    this.server.on("connection", (s) => this.track(s));
    this.server.on("clientError", (_e, s) => s.destroy());
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private track(s: Duplex) {
    this.sockets.add(s);
    s.once("close", () => this.sockets.delete(s));
  }

  private async vet(host: string, port: number): Promise<VettedTarget | { blocked: string }> {
    try {
      const t = await this.o.guard.vet(host, port);
      this.o.guard.assertDialable(t.address, t.port);
      this.stats.allowed++;
      return t;
    } catch (e) {
      const reason = e instanceof BlockedError ? e.reason : (e as Error).message;
      this.stats.blocked++;
      this.stats.lastBlocked = { host, reason };
      this.o.log.debug({ host: host.slice(0, 100), port, reason }, "scrape proxy: refused");
      return { blocked: e instanceof BlockedError ? "DOMAIN_BLOCKED" : "UNREACHABLE" };
    }
  }

  /** Counts upstream bytes; past the cap both sides are cut. Idle connections are closed. */
  private capped(upstream: net.Socket, client: Duplex) {
    let bytes = 0;
    upstream.on("data", (d: Buffer) => {
      bytes += d.length;
      if (bytes > this.o.maxBytesPerConnection) {
        upstream.destroy();
        client.destroy();
      }
    });
    const idle = this.o.idleTimeoutMs ?? 30_000;
    upstream.setTimeout(idle, () => {
      upstream.destroy();
      client.destroy();
    });
  }

  /** CONNECT host:port (https, wss) and plain-HTTP Upgrade requests (ws): a byte tunnel to the vetted address. */
  private async onTunnel(req: http.IncomingMessage, client: Duplex, head: Buffer, kind: "connect" | "upgrade") {
    client.on("error", () => undefined);
    let host: string;
    let port: number;
    let raw: Buffer | undefined;
    if (kind === "connect") {
      const a = splitAuthority(req.url ?? "");
      if (!a) return void client.end("HTTP/1.1 400 Bad Request\r\n\r\n");
      ({ host, port } = a);
    } else {
      let u: URL;
      try {
        u = new URL(req.url ?? "");
      } catch {
        return void client.end("HTTP/1.1 400 Bad Request\r\n\r\n");
      }
      if (u.protocol !== "http:" && u.protocol !== "ws:") return void client.end("HTTP/1.1 400 Bad Request\r\n\r\n");
      host = u.hostname;
      port = u.port ? Number(u.port) : 80;
      const headers = Object.entries(req.headers)
        .filter(([k]) => !k.startsWith("proxy-"))
        .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}: ${x}`));
      raw = Buffer.from(`${req.method} ${u.pathname}${u.search} HTTP/1.1\r\n${headers.join("\r\n")}\r\n\r\n`);
    }
    const t = await this.vet(host, port);
    if (client.destroyed) return; // the browser gave up while the name was being vetted
    if ("blocked" in t) return void client.end(`HTTP/1.1 403 Forbidden\r\nx-scrape-blocked: ${t.blocked}\r\ncontent-length: 0\r\n\r\n`);
    const upstream = net.connect({ host: t.address, port: t.port });
    this.track(upstream);
    this.capped(upstream, client);
    let connected = false;
    upstream.once("connect", () => {
      connected = true;
      if (kind === "connect") client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      else upstream.write(raw!);
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on("error", () => {
      if (kind === "connect" && !connected) client.end("HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
      else client.destroy();
    });
    client.on("close", () => upstream.destroy());
  }

  /** Absolute-form plain HTTP (GET http://host/path): forwarded to the vetted address, Host kept. */
  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse) {
    let u: URL;
    try {
      u = new URL(req.url ?? "");
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (u.protocol !== "http:") {
      res.writeHead(400).end();
      return;
    }
    const port = u.port ? Number(u.port) : 80;
    const t = await this.vet(u.hostname, port);
    if ("blocked" in t) {
      res.writeHead(t.blocked === "DOMAIN_BLOCKED" ? 403 : 502, { "x-scrape-blocked": t.blocked, "content-length": "0" }).end();
      return;
    }
    const headers: http.OutgoingHttpHeaders = {};
    const listed = new Set(
      String(req.headers.connection ?? "")
        .toLowerCase()
        .split(",")
        .map((s) => s.trim()),
    );
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && !listed.has(k)) headers[k] = v;
    headers.host = u.host;
    const up = http.request({
      host: t.address,
      port: t.port,
      method: req.method,
      path: `${u.pathname}${u.search}`,
      headers,
      setHost: false,
      agent: false,
    });
    up.on("socket", (s) => {
      this.track(s);
      this.capped(s, res.socket ?? req.socket);
    });
    up.on("response", (ur) => {
      const out: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(ur.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
      res.writeHead(ur.statusCode ?? 502, out);
      ur.pipe(res);
    });
    up.on("error", () => {
      if (!res.headersSent) res.writeHead(502, { "content-length": "0" }).end();
      else res.destroy();
    });
    req.pipe(up);
  }
}
