/**
 * SSRF through the static fetcher, proved on loopback: a victim listens on 127.0.0.1 (on the very
 * port the allowed origin uses on 127.0.0.2, so any wrong connection would land on it) and must see
 * ZERO connections: direct URLs, redirects from an allowed origin, names resolving to it, mixed DNS
 * answers, DNS rebinding. Names that resolve to private/metadata addresses are data from an injected
 * resolver; the dial hook refuses any non-loopback address, so nothing can leave the machine.
 */
import { expect } from "chai";
import net from "node:net";
import tls from "node:tls";
import { dials, failsWith, forbiddenDials, LocalServer, serve, service, tableResolver, ctx } from "./helpers";

/** A TCP listener on 127.0.0.1:port that counts connections (and closes them). */
async function victimOn(port: number) {
  let connections = 0;
  const server = net.createServer((c) => {
    connections++;
    c.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    get connections() {
      return connections;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe("scrape: SSRF through the static fetcher never reaches a blocked address", function () {
  this.timeout(30_000);
  let origin: LocalServer;
  let victim: Awaited<ReturnType<typeof victimOn>>;
  let redirectTo = "";
  let rebindCalls = 0;

  const resolver = tableResolver({
    "allowed.test": ["127.0.0.2"],
    "victim.test": ["127.0.0.1"],
    "meta.test": ["169.254.169.254"],
    "private.test": ["10.0.0.1"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "mixed.test": ["127.0.0.2", "127.0.0.1"],
    "mixed-private.test": ["127.0.0.2", "192.168.1.10"],
    "rebind.test": () => (rebindCalls++ === 0 ? ["127.0.0.2"] : ["127.0.0.1"]),
  });
  // Only 127.0.0.2 is allowed: the victim's 127.0.0.1 is as blocked as it is in production.
  const s = service({ SCRAPE_ALLOWED_CIDRS: "127.0.0.2/32" }, { resolver });

  before(async () => {
    origin = await serve("127.0.0.2", (req, res) => {
      if (req.url === "/redirect") {
        res.writeHead(302, { location: redirectTo }).end();
      } else {
        res.writeHead(200, { "content-type": "text/html" }).end("<title>origin</title><p>served by 127.0.0.2</p>");
      }
    });
    victim = await victimOn(origin.port);
  });
  after(async () => {
    await origin.close();
    await victim.close();
    await s.close!();
  });
  beforeEach(() => {
    origin.requests.length = 0;
    dials.length = 0;
    rebindCalls = 0;
  });
  afterEach(() => {
    expect(victim.connections, "the victim on 127.0.0.1 was contacted").to.equal(0);
    expect(forbiddenDials, "a non-loopback address was dialed").to.deep.equal([]);
    expect(
      dials.every((d) => d.address === "127.0.0.2"),
      JSON.stringify(dials),
    ).to.equal(true);
  });

  it("the allowed origin itself is scraped (the setup works)", async () => {
    const r = await s.run(s.parse({ url: `http://allowed.test:${origin.port}/`, job_id: "ok" }), ctx());
    expect(r.data).to.deep.equal({ title: "origin", text: "served by 127.0.0.2" });
    expect(dials).to.deep.equal([{ address: "127.0.0.2", port: origin.port }]);
  });

  for (const url of [
    (p: number) => `http://127.0.0.1:${p}/`,
    (p: number) => `http://2130706433:${p}/`,
    (p: number) => `http://0x7f.1:${p}/`,
    (p: number) => `http://[::ffff:127.0.0.1]:${p}/`,
    (p: number) => `http://localhost:${p}/`,
    (p: number) => `http://localhost.:${p}/`,
  ]) {
    it(`direct ${url(0).replace(":0", ":<port>")} is DOMAIN_BLOCKED at parse and at run`, async () => {
      const u = url(origin.port);
      expect(() => s.parse({ url: u, job_id: "d" })).to.throw(/blocked/);
      // run() checks again on its own (the pipeline could hand it a request parsed elsewhere).
      const e = await failsWith(
        s.run(
          { url: u, job_id: "d", output_format: "text", selectors: {}, options: { javascript: false, screenshots: false, timeout: 5 } },
          ctx(),
        ),
        "DOMAIN_BLOCKED",
      );
      expect(e.details!.refund).to.equal(true);
      expect(dials).to.deep.equal([]);
    });
  }

  for (const [label, name] of [
    ["loopback", "victim.test"],
    ["the metadata address", "meta.test"],
    ["a private address", "private.test"],
    ["an IPv4-mapped loopback", "mapped.test"],
  ]) {
    it(`a name resolving to ${label} is DOMAIN_BLOCKED before any connection`, async () => {
      const e = await failsWith(s.run(s.parse({ url: `http://${name}:${origin.port}/`, job_id: "n" }), ctx()), "DOMAIN_BLOCKED");
      expect(e.message).to.include("not public");
      expect(dials).to.deep.equal([]);
    });
  }

  for (const [label, target] of [
    ["127.0.0.1", (p: number) => `http://127.0.0.1:${p}/`],
    ["a decimal 127.0.0.1", (p: number) => `http://2130706433:${p}/`],
    ["an IPv4-mapped 127.0.0.1", (p: number) => `http://[::ffff:127.0.0.1]:${p}/`],
    ["localhost", (p: number) => `http://localhost:${p}/`],
    ["a name resolving to 127.0.0.1", (p: number) => `http://victim.test:${p}/`],
    ["a name resolving to 169.254.169.254", (p: number) => `http://meta.test:${p}/latest/meta-data/`],
    ["a name resolving to 10.0.0.1", (p: number) => `http://private.test:${p}/`],
    ["a relative path on a blocked host", (p: number) => `//127.0.0.1:${p}/x`],
  ] as [string, (p: number) => string][]) {
    it(`a redirect from the allowed origin to ${label} is DOMAIN_BLOCKED, the origin served once`, async () => {
      redirectTo = target(origin.port);
      const e = await failsWith(
        s.run(s.parse({ url: `http://allowed.test:${origin.port}/redirect`, job_id: "r" }), ctx()),
        "DOMAIN_BLOCKED",
      );
      expect(origin.requests).to.deep.equal(["/redirect"]);
      expect(e.details!.refund).to.equal(true);
    });
  }

  it("a redirect to file:///etc/passwd is DOMAIN_BLOCKED and reads nothing", async () => {
    redirectTo = "file:///etc/passwd";
    const e = await failsWith(s.run(s.parse({ url: `http://allowed.test:${origin.port}/redirect`, job_id: "f" }), ctx()), "DOMAIN_BLOCKED");
    expect(e.message).to.include("scheme file:");
    expect(JSON.stringify(e.details)).not.to.include("root:");
  });

  it("a DNS answer mixing the allowed address with a blocked one is refused whole: nobody is contacted", async () => {
    for (const name of ["mixed.test", "mixed-private.test"]) {
      await failsWith(s.run(s.parse({ url: `http://${name}:${origin.port}/`, job_id: "m" }), ctx()), "DOMAIN_BLOCKED");
    }
    expect(origin.requests).to.deep.equal([]);
    expect(dials).to.deep.equal([]);
  });

  it("DNS rebinding: the name is resolved once, and the connection goes to the vetted 127.0.0.2, never the later 127.0.0.1", async () => {
    const before = resolver.asked.filter((h) => h === "rebind.test").length;
    const r = await s.run(s.parse({ url: `http://rebind.test:${origin.port}/`, job_id: "rb" }), ctx());
    expect(r.data).to.deep.equal({ title: "origin", text: "served by 127.0.0.2" });
    expect(resolver.asked.filter((h) => h === "rebind.test").length - before).to.equal(1);
    expect(dials).to.deep.equal([{ address: "127.0.0.2", port: origin.port }]);
    // The next hop (a redirect back to the same name) is vetted again: now it resolves to 127.0.0.1 and is refused.
    redirectTo = `http://rebind.test:${origin.port}/`;
    await failsWith(s.run(s.parse({ url: `http://allowed.test:${origin.port}/redirect`, job_id: "rb2" }), ctx()), "DOMAIN_BLOCKED");
  });

  it("TLS keeps the name for SNI while the socket goes to the vetted address", async () => {
    // A TLS listener on 127.0.0.2 that records the ClientHello's server name, then refuses the handshake.
    let sni: string | undefined;
    const tlsServer = tls.createServer({
      SNICallback: (name, cb) => {
        sni = name;
        cb(new Error("no certificate here"), undefined as never);
      },
    });
    tlsServer.on("tlsClientError", () => undefined);
    await new Promise<void>((r) => tlsServer.listen(0, "127.0.0.2", () => r()));
    const port = (tlsServer.address() as net.AddressInfo).port;
    try {
      const e = await failsWith(s.run(s.parse({ url: `https://allowed.test:${port}/`, job_id: "tls" }), ctx()), "SCRAPE_FAILED");
      expect(e.details!.reason).to.equal("unreachable");
      expect(sni).to.equal("allowed.test");
      expect(dials).to.deep.equal([{ address: "127.0.0.2", port }]);
    } finally {
      await new Promise<void>((r) => tlsServer.close(() => r()));
    }
  });

  it("the HTTP Host header names the host, not the vetted address", async () => {
    let host = "";
    const h = await serve("127.0.0.2", (req, res) => {
      host = req.headers.host ?? "";
      res.end("ok");
    });
    try {
      await s.run(s.parse({ url: `http://allowed.test:${h.port}/`, job_id: "host" }), ctx());
      expect(host).to.equal(`allowed.test:${h.port}`);
    } finally {
      await h.close();
    }
  });
});
