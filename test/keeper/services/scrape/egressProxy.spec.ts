/**
 * The browser's egress proxy spoken to directly, the way Chromium speaks to it: CONNECT tunnels,
 * absolute-form plain HTTP, WebSocket upgrades. Blocked targets get 403 + x-scrape-blocked and the
 * victim on 127.0.0.1 sees no connection; allowed ones (127.0.0.2, allowlisted) are forwarded to
 * the vetted address with the Host kept and the Proxy-* headers dropped; a connection is cut at its cap.
 */
import { expect } from "chai";
import http from "node:http";
import net from "node:net";
import { EgressProxy } from "../../../../keeper/services/scrape/egressProxy";
import { parseCidrList } from "../../../../keeper/services/scrape/addressPolicy";
import { TargetGuard } from "../../../../keeper/services/scrape/guard";
import { forbiddenDials, loopbackOnly, serve, silentLog, tableResolver, victim, LocalServer } from "./helpers";

/** Sends raw bytes to the proxy and returns everything it answers until it closes (or ms pass). */
function raw(port: number, data: string, ms = 1500): Promise<string> {
  return new Promise((resolve) => {
    const c = net.connect(port, "127.0.0.1");
    let out = "";
    c.on("data", (d) => (out += d.toString("latin1")));
    c.on("error", () => undefined);
    const t = setTimeout(() => c.destroy(), ms);
    c.on("close", () => {
      clearTimeout(t);
      resolve(out);
    });
    c.write(data);
  });
}

describe("scrape: the egress proxy in front of Chromium", function () {
  this.timeout(20_000);
  let proxy: EgressProxy;
  let origin: LocalServer;
  let v: Awaited<ReturnType<typeof victim>>;
  let seen: http.IncomingHttpHeaders | undefined;
  let rebindCalls = 0;

  before(async () => {
    v = await victim("127.0.0.1");
    origin = await serve("127.0.0.2", (req, res) => {
      seen = req.headers;
      if (req.url === "/big") return void res.end(Buffer.alloc(200_000, "x"));
      if (req.headers.upgrade === "websocket") return; // handled by the upgrade listener below
      res.end(`hello from ${req.url}`);
    });
    const guard = new TargetGuard({
      allowedCidrs: parseCidrList("127.0.0.2/32"),
      resolver: tableResolver({
        "allowed.test": ["127.0.0.2"],
        "victim.test": ["127.0.0.1"],
        "meta.test": ["169.254.169.254"],
        "rebind.test": () => (rebindCalls++ === 0 ? ["127.0.0.2"] : ["127.0.0.1"]),
      }),
      onDial: loopbackOnly,
    });
    proxy = new EgressProxy({ guard, log: silentLog, maxBytesPerConnection: 100_000 });
    await proxy.listen();
  });
  after(async () => {
    await proxy.close();
    await origin.close();
    await v.close();
  });
  afterEach(() => {
    expect(v.connections, "the victim was contacted").to.equal(0);
    expect(forbiddenDials).to.deep.equal([]);
  });
  const port = () => Number(new URL(proxy.url).port);

  it("listens on 127.0.0.1 only", () => {
    expect(proxy.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("CONNECT to blocked targets: 403 with x-scrape-blocked, no tunnel", async () => {
    for (const t of [
      `127.0.0.1:${v.port}`,
      `victim.test:${v.port}`,
      `[::1]:${v.port}`,
      `localhost:${v.port}`,
      "meta.test:443",
      `2130706433:${v.port}`,
      "allowed.test:25",
    ]) {
      const out = await raw(port(), `CONNECT ${t} HTTP/1.1\r\nHost: ${t}\r\n\r\n`);
      expect(out, t).to.match(/^HTTP\/1\.1 403 Forbidden\r\nx-scrape-blocked: DOMAIN_BLOCKED/);
    }
  });

  it("CONNECT to an allowed name: a tunnel to the vetted address", async () => {
    const out = await raw(
      port(),
      `CONNECT allowed.test:${origin.port} HTTP/1.1\r\nHost: allowed.test\r\n\r\nGET /through-tunnel HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n`,
    );
    expect(out).to.match(/^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 200 OK/);
    expect(out).to.include("hello from /through-tunnel");
  });

  it("absolute-form plain HTTP to blocked targets: 403 with x-scrape-blocked", async () => {
    for (const t of [
      `http://127.0.0.1:${v.port}/`,
      `http://victim.test:${v.port}/`,
      "http://meta.test/latest/meta-data/",
      `http://[::ffff:127.0.0.1]:${v.port}/`,
    ]) {
      const out = await raw(port(), `GET ${t} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(out, t).to.match(/^HTTP\/1\.1 403 Forbidden\r\n/);
      expect(out.toLowerCase(), t).to.include("x-scrape-blocked: domain_blocked");
    }
  });

  it("absolute-form plain HTTP to an allowed name: forwarded with Host kept, Proxy-* and hop-by-hop headers dropped", async () => {
    const out = await raw(
      port(),
      `GET http://allowed.test:${origin.port}/fwd?q=1 HTTP/1.1\r\nHost: allowed.test:${origin.port}\r\nProxy-Authorization: Basic c2VjcmV0\r\nProxy-Connection: keep-alive\r\nX-Custom: 1\r\nConnection: close\r\n\r\n`,
    );
    expect(out).to.match(/^HTTP\/1\.1 200 OK/);
    expect(out).to.include("hello from /fwd?q=1");
    expect(seen!.host).to.equal(`allowed.test:${origin.port}`);
    expect(seen!["proxy-authorization"]).to.equal(undefined);
    expect(seen!["proxy-connection"]).to.equal(undefined);
    expect(seen!["x-custom"]).to.equal("1");
  });

  it("origin-form requests and other schemes are refused with 400 (this is not a web server)", async () => {
    expect(await raw(port(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).to.match(/^HTTP\/1\.1 400/);
    expect(await raw(port(), "GET ftp://allowed.test/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).to.match(/^HTTP\/1\.1 400/);
    expect(await raw(port(), "CONNECT nonsense HTTP/1.1\r\nHost: x\r\n\r\n")).to.match(/^HTTP\/1\.1 400/);
  });

  it("a WebSocket upgrade to a blocked target is refused", async () => {
    const out = await raw(
      port(),
      `GET http://127.0.0.1:${v.port}/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
    expect(out).to.match(/^HTTP\/1\.1 403 Forbidden\r\nx-scrape-blocked: DOMAIN_BLOCKED/);
  });

  it("DNS rebinding: each request is vetted and connected to its vetted address; a later 127.0.0.1 answer is refused", async () => {
    // A listener on 127.0.0.1 at the origin's port would receive a connection made to the name's second answer.
    const twin = net.createServer((c) => {
      twinConnections++;
      c.destroy();
    });
    let twinConnections = 0;
    await new Promise<void>((r) => twin.listen(origin.port, "127.0.0.1", () => r()));
    try {
      const first = await raw(
        port(),
        `GET http://rebind.test:${origin.port}/first HTTP/1.1\r\nHost: rebind.test\r\nConnection: close\r\n\r\n`,
      );
      expect(first).to.include("hello from /first");
      const second = await raw(port(), `CONNECT rebind.test:${origin.port} HTTP/1.1\r\nHost: rebind.test\r\n\r\n`);
      expect(second).to.match(/^HTTP\/1\.1 403 Forbidden/);
      expect(twinConnections).to.equal(0);
    } finally {
      await new Promise<void>((r) => twin.close(() => r()));
    }
  });

  it("a connection is cut once the upstream sent more than its cap", async () => {
    const out = await raw(
      port(),
      `GET http://allowed.test:${origin.port}/big HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n`,
      3000,
    );
    const body = out.slice(out.indexOf("\r\n\r\n") + 4);
    expect(out).to.match(/^HTTP\/1\.1 200 OK/);
    expect(body.length).to.be.lessThan(200_000);
  });
});
