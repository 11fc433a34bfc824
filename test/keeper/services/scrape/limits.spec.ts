/**
 * Size and time caps of the static fetch against hostile servers on 127.0.0.1: a server that never
 * answers, one that dribbles, an endless body, a declared huge body, a gzip bomb, and a job the
 * keeper cancels. Each ends with SCRAPE_FAILED and its reason, and the connection is closed (no
 * socket is left reading). No assertion depends on how fast the machine is.
 */
import { expect } from "chai";
import http from "node:http";
import net from "node:net";
import zlib from "node:zlib";
import { ctx, failsWith, forbiddenDials, service } from "./helpers";

describe("scrape: size and time caps (static fetch)", function () {
  this.timeout(30_000);
  const open = new Set<net.Socket>();
  let closedSockets = 0;
  let server: http.Server;
  let port = 0;
  const bomb = zlib.gzipSync(Buffer.alloc(20 * 1024 * 1024)); // 20 MiB of zeros in about 20 KB

  const s = service({ SCRAPE_ALLOWED_CIDRS: "127.0.0.1/32", SCRAPE_MAX_BYTES: 256 * 1024 });
  const run = (path: string, timeout = 2, signal?: AbortSignal) =>
    s.run(s.parse({ url: `http://127.0.0.1:${port}${path}`, job_id: "cap", options: { timeout } }), ctx("cap", signal));

  before(async () => {
    server = http.createServer((req, res) => {
      switch (req.url) {
        case "/silent":
          return; // never answers
        case "/dribble": {
          res.writeHead(200, { "content-type": "text/html" });
          const t = setInterval(() => res.write("<p>.</p>"), 100);
          res.on("close", () => clearInterval(t));
          return;
        }
        case "/endless": {
          res.writeHead(200, { "content-type": "text/html" });
          const chunk = Buffer.alloc(16 * 1024, "a");
          const pump = () => {
            while (res.write(chunk));
          };
          res.on("drain", pump);
          pump();
          return;
        }
        case "/declared-huge":
          res.writeHead(200, { "content-type": "text/html", "content-length": String(1024 * 1024 * 1024) });
          res.write("<p>start</p>");
          return;
        case "/bomb":
          res.writeHead(200, { "content-type": "text/html", "content-encoding": "gzip", "content-length": String(bomb.length) });
          return void res.end(bomb);
        case "/just-under":
          res.writeHead(200, { "content-type": "text/plain" });
          return void res.end(Buffer.alloc(256 * 1024, "b"));
        default:
          res.writeHead(404).end();
      }
    });
    server.on("connection", (c) => {
      open.add(c);
      c.on("close", () => {
        open.delete(c);
        closedSockets++;
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    for (const c of open) c.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    await s.close!();
  });
  afterEach(() => expect(forbiddenDials).to.deep.equal([]));

  /** The job's connection must be closed by the scraper once the job failed. */
  async function connectionClosed(before: number) {
    for (let i = 0; i < 100 && closedSockets === before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(closedSockets - before, "the scraper left its connection open").to.equal(1);
  }

  it("a server that never answers: SCRAPE_FAILED timeout (not refunded), connection closed", async () => {
    const before = closedSockets;
    const e = await failsWith(run("/silent", 0.5), "SCRAPE_FAILED");
    expect(e.details).to.deep.equal({ refund: false, reason: "timeout" });
    expect(e.httpStatus).to.equal(504);
    await connectionClosed(before);
  });

  it("a body that dribbles forever: SCRAPE_FAILED timeout", async () => {
    const before = closedSockets;
    const e = await failsWith(run("/dribble", 0.5), "SCRAPE_FAILED");
    expect(e.details).to.deep.equal({ refund: false, reason: "timeout" });
    await connectionClosed(before);
  });

  it("an endless body stops at SCRAPE_MAX_BYTES: too_large, refunded", async () => {
    const before = closedSockets;
    const e = await failsWith(run("/endless", 20), "SCRAPE_FAILED");
    expect(e.details).to.deep.equal({ refund: true, reason: "too_large" });
    expect(e.message).to.equal(`the response is larger than ${256 * 1024} bytes`);
    await connectionClosed(before);
  });

  it("a declared huge body is refused from its Content-Length, without reading it", async () => {
    const before = closedSockets;
    const e = await failsWith(run("/declared-huge", 20), "SCRAPE_FAILED");
    expect(e.message).to.include(`(Content-Length ${1024 * 1024 * 1024})`);
    await connectionClosed(before);
  });

  it("a gzip bomb stops at the cap on the decompressed bytes", async () => {
    const e = await failsWith(run("/bomb", 20), "SCRAPE_FAILED");
    expect(e.details).to.deep.equal({ refund: true, reason: "too_large" });
  });

  it("a body of exactly SCRAPE_MAX_BYTES is accepted", async () => {
    const r = await run("/just-under", 20);
    expect(r.metadata.size_bytes).to.equal(256 * 1024);
  });

  it("a job the keeper cancels (ctx.signal) ends as SCRAPE_FAILED cancelled, refunded", async () => {
    const before = closedSockets;
    const ac = new AbortController();
    const p = run("/silent", 20, ac.signal);
    setTimeout(() => ac.abort(new Error("shutdown")), 100);
    const e = await failsWith(p, "SCRAPE_FAILED");
    expect(e.details).to.deep.equal({ refund: true, reason: "cancelled" });
    await connectionClosed(before);
  });
});
