/**
 * Shared helpers for the scraper tests. Network rule: tests only ever CONNECT to loopback. Every
 * service made here gets `loopbackOnly` as its dial hook, which refuses (throws, so no socket is
 * opened) and records any non-loopback address; suites assert the record stays empty. Private and
 * public addresses appear only as data in injected resolvers.
 */
import http from "node:http";
import net from "node:net";
import { randomInt } from "node:crypto";
import { expect } from "chai";
import pino from "pino";
import { ConfigSchema, KeeperConfig } from "../../../../keeper/config";
import { createScrapeService, ScrapeService, ScrapeServiceOptions } from "../../../../keeper/services/scrape";
import type { JobContext } from "../../../../keeper/services/jobService";
import { ServiceError } from "../../../../keeper/services/jobService";
import type { Resolver } from "../../../../keeper/services/scrape/guard";

export const silentLog = pino({ level: "silent" });

export function config(over: Partial<Record<keyof KeeperConfig, unknown>> = {}): KeeperConfig {
  return ConfigSchema.parse(over);
}

export function ctx(jobId = `job-${randomInt(0, 1e9)}`, signal = new AbortController().signal): JobContext {
  return { jobId, signal };
}

export function isLoopback(address: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(address) || address === "::1";
}

/** Every dial the services of a test file attempted, and the non-loopback ones (which were refused). */
export const dials: { address: string; port: number }[] = [];
export const forbiddenDials: { address: string; port: number }[] = [];

export function loopbackOnly(address: string, port: number): void {
  dials.push({ address, port });
  if (!isLoopback(address)) {
    forbiddenDials.push({ address, port });
    throw new Error(`TEST GUARD: refused to dial non-loopback ${address}:${port}`);
  }
}

/** A resolver from a table (name -> addresses); unknown names fail like NXDOMAIN. Records every question. */
export function tableResolver(table: Record<string, string[] | (() => string[])>): Resolver & { asked: string[] } {
  const asked: string[] = [];
  const r = (async (host: string) => {
    asked.push(host);
    const v = table[host];
    if (!v) throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: "ENOTFOUND" });
    const list = typeof v === "function" ? v() : v;
    return list.map((address) => ({ address, family: (net.isIPv6(address) ? 6 : 4) as 4 | 6 }));
  }) as Resolver & { asked: string[] };
  r.asked = asked;
  return r;
}

export function service(over: Partial<Record<keyof KeeperConfig, unknown>> = {}, opts: ScrapeServiceOptions = {}): ScrapeService {
  return createScrapeService(config(over), silentLog, { onDial: loopbackOnly, ...opts });
}

export interface LocalServer {
  address: string;
  port: number;
  /** TCP connections accepted so far. */
  connections: number;
  /** Request paths seen. */
  requests: string[];
  origin: string;
  url(path?: string): string;
  close(): Promise<void>;
}

/** An HTTP server on a loopback address (127.0.0.0/8 all routes to lo), counting connections. */
export async function serve(address: string, handler: http.RequestListener = (_q, s) => s.end("ok")): Promise<LocalServer> {
  const server = http.createServer((req, res) => {
    s.requests.push(req.url ?? "");
    handler(req, res);
  });
  const sockets = new Set<net.Socket>();
  server.on("connection", (c) => {
    s.connections++;
    sockets.add(c);
    c.on("close", () => sockets.delete(c));
  });
  await new Promise<void>((r) => server.listen(0, address, () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const host = net.isIPv6(address) ? `[${address}]` : address;
  const s: LocalServer = {
    address,
    port,
    connections: 0,
    requests: [],
    origin: `http://${host}:${port}`,
    url: (p = "/") => `http://${host}:${port}${p}`,
    close: async () => {
      for (const c of sockets) c.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return s;
}

/** A raw TCP listener that counts connections and never answers (the victim of SSRF tests). */
export async function victim(address = "127.0.0.1"): Promise<{ port: number; connections: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const v = { port: 0, connections: 0, close: async () => undefined as void };
  const server = net.createServer((c) => {
    v.connections++;
    sockets.add(c);
    c.on("error", () => undefined);
    c.destroy();
  });
  await new Promise<void>((r) => server.listen(0, address, () => r()));
  v.port = (server.address() as net.AddressInfo).port;
  v.close = async () => {
    for (const c of sockets) c.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return v;
}

export function html(body: string, head = ""): string {
  return `<!doctype html><html><head><meta charset="utf-8">${head}</head><body>${body}</body></html>`;
}

/** Runs the job and returns the ServiceError it must fail with. */
export async function failsWith(p: Promise<unknown>, code: string): Promise<ServiceError> {
  try {
    await p;
  } catch (e) {
    expect(e, (e as Error).stack).to.be.instanceOf(ServiceError);
    expect((e as ServiceError).code, (e as Error).message).to.equal(code);
    return e as ServiceError;
  }
  throw new Error(`expected ${code}, the job succeeded`);
}

export function thrownBy(fn: () => unknown): ServiceError {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(ServiceError);
    return e as ServiceError;
  }
  throw new Error("expected a ServiceError");
}
