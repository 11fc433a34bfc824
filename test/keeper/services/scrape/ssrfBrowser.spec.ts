/**
 * SSRF through Chromium, proved on loopback. The page comes from an allowed origin (127.0.0.2,
 * allowlisted); victims listen on 127.0.0.1 and [::1] and must see ZERO connections whatever the
 * page does: <img>, <script>, <link>, <iframe>, fetch, XHR, WebSocket, EventSource, sendBeacon,
 * https (CONNECT) and ws, localhost, names resolving to loopback or to private/metadata addresses
 * (data in the injected resolver; Chromium itself resolves nothing), redirects, script navigations.
 * The dial hook refuses any non-loopback address, so even a broken guard could not reach one.
 */
import { expect } from "chai";
import { ctx, dials, failsWith, forbiddenDials, html, LocalServer, serve, service, tableResolver, victim } from "./helpers";

describe("scrape: SSRF through Chromium never reaches a blocked address", function () {
  this.timeout(60_000);
  let origin: LocalServer;
  let v4: Awaited<ReturnType<typeof victim>>;
  let v6: Awaited<ReturnType<typeof victim>>;
  const resolver = tableResolver({
    "allowed.test": ["127.0.0.2"],
    "victim.test": ["127.0.0.1"],
    "meta.test": ["169.254.169.254"],
    "private.test": ["10.0.0.1"],
    "mixed.test": ["127.0.0.2", "127.0.0.1"],
  });
  const s = service({ SCRAPE_ALLOWED_CIDRS: "127.0.0.2/32" }, { resolver });

  function attackPage(): string {
    const targets = [
      `http://127.0.0.1:${v4.port}/`,
      `http://localhost:${v4.port}/`,
      `http://victim.test:${v4.port}/`,
      `http://[::1]:${v6.port}/`,
      `http://2130706433:${v4.port}/`,
      `http://meta.test/latest/meta-data/`,
      `http://private.test:8080/`,
      `http://mixed.test:${v4.port}/`,
    ];
    const tags = targets
      .map(
        (t, i) =>
          `<img src="${t}img${i}"><script src="${t}js${i}"></script><link rel="stylesheet" href="${t}css${i}"><iframe src="${t}frame${i}"></iframe>`,
      )
      .join("\n");
    const js = `
      const targets = ${JSON.stringify(targets)};
      const secure = ["https://127.0.0.1:${v4.port}/", "https://victim.test:${v4.port}/", "https://localhost:${v4.port}/"];
      const jobs = [];
      for (const t of targets.concat(secure)) {
        jobs.push(fetch(t + "fetch", { mode: "no-cors" }).catch(() => null));
        jobs.push(new Promise((r) => { const x = new XMLHttpRequest(); x.open("GET", t + "xhr"); x.onloadend = r; x.send(); }));
        try { navigator.sendBeacon(t + "beacon", "x"); } catch (e) {}
        try { const es = new EventSource(t + "sse"); setTimeout(() => es.close(), 300); } catch (e) {}
        for (const scheme of ["ws", "wss"]) {
          try { const ws = new WebSocket(t.replace(/^https?/, scheme) + "ws"); ws.onerror = () => {}; } catch (e) {}
        }
      }
      Promise.all(jobs).then(() => { document.getElementById("done").textContent = "attacks finished"; });
    `;
    return html(`<p id="done">running</p>${tags}<script>${js}</script>`);
  }

  let redirectTo = "";
  before(async () => {
    v4 = await victim("127.0.0.1");
    v6 = await victim("::1");
    origin = await serve("127.0.0.2", (req, res) => {
      if (req.url === "/attack") return void res.writeHead(200, { "content-type": "text/html" }).end(attackPage());
      if (req.url === "/redirect") return void res.writeHead(302, { location: redirectTo }).end();
      if (req.url === "/js-nav")
        return void res
          .writeHead(200, { "content-type": "text/html" })
          .end(html(`<p>leaving</p><script>location.href = ${JSON.stringify(redirectTo)};</script>`));
      if (req.url === "/probe")
        return void res.writeHead(200, { "content-type": "text/html" }).end(
          html(`<p id="rtc"></p><p id="sw"></p><script>
            document.getElementById("rtc").textContent = "rtc:" + typeof RTCPeerConnection;
            navigator.serviceWorker ? navigator.serviceWorker.register("/sw.js").then(() => { document.getElementById("sw").textContent = "sw:registered"; }, () => { document.getElementById("sw").textContent = "sw:refused"; })
              : (document.getElementById("sw").textContent = "sw:absent");
            try { location.href = "file:///etc/passwd"; } catch (e) {}
          </script>`),
        );
      if (req.url === "/sw.js")
        return void res.writeHead(200, { "content-type": "text/javascript" }).end("self.addEventListener('fetch', () => {});");
      if (req.url === "/download")
        return void res
          .writeHead(200, { "content-type": "application/octet-stream", "content-disposition": 'attachment; filename="x.bin"' })
          .end(Buffer.alloc(1000));
      res.writeHead(200, { "content-type": "text/html" }).end(html("<p>fine</p>"));
    });
  });
  after(async () => {
    await s.close!();
    await origin.close();
    await v4.close();
    await v6.close();
  });
  beforeEach(() => {
    dials.length = 0;
  });
  afterEach(() => {
    expect(v4.connections, "the 127.0.0.1 victim was contacted").to.equal(0);
    expect(v6.connections, "the [::1] victim was contacted").to.equal(0);
    expect(forbiddenDials, "a non-loopback address was dialed").to.deep.equal([]);
    expect(
      dials.every((d) => d.address === "127.0.0.2"),
      JSON.stringify(dials),
    ).to.equal(true);
  });

  it("a page firing every kind of request at loopback, localhost, private and metadata targets reaches none of them", async () => {
    const blockedBefore = s.browser.proxy.stats.blocked;
    const r = await s.run(
      s.parse({
        url: `http://allowed.test:${origin.port}/attack`,
        job_id: "atk",
        selectors: { done: "#done" },
        options: { javascript: true, timeout: 30 },
      }),
      ctx(),
    );
    expect(r.metadata.final_url).to.equal(`http://allowed.test:${origin.port}/attack`);
    // The page ran its attacks (the proxy refused them), and only 127.0.0.2 was ever dialed.
    expect(s.browser.proxy.stats.blocked - blockedBefore).to.be.greaterThan(20);
    expect(dials.length).to.be.greaterThan(0);
  });

  it("a screenshot of the attack page (JavaScript off) reaches none of them either", async () => {
    const r = await s.run(
      s.parse({ url: `http://allowed.test:${origin.port}/attack`, job_id: "atk2", options: { screenshots: true, timeout: 30 } }),
      ctx(),
    );
    expect(r.data.screenshot).to.be.a("string");
  });

  for (const [label, target] of [
    ["127.0.0.1", () => `http://127.0.0.1:${v4.port}/`],
    ["localhost", () => `http://localhost:${v4.port}/`],
    ["[::1]", () => `http://[::1]:${v6.port}/`],
    ["a name resolving to 127.0.0.1", () => `http://victim.test:${v4.port}/`],
    ["a name resolving to 169.254.169.254", () => `http://meta.test/latest/meta-data/`],
    ["https on 127.0.0.1 (a CONNECT tunnel)", () => `https://127.0.0.1:${v4.port}/`],
  ] as [string, () => string][]) {
    it(`an HTTP redirect of the page to ${label} is DOMAIN_BLOCKED`, async () => {
      redirectTo = target();
      await failsWith(
        s.run(
          s.parse({ url: `http://allowed.test:${origin.port}/redirect`, job_id: "rd", options: { javascript: true, timeout: 20 } }),
          ctx(),
        ),
        "DOMAIN_BLOCKED",
      );
    });
  }

  it("a script navigating the page to 127.0.0.1 after load is DOMAIN_BLOCKED, never a victim's page", async () => {
    redirectTo = `http://127.0.0.1:${v4.port}/`;
    await failsWith(
      s.run(s.parse({ url: `http://allowed.test:${origin.port}/js-nav`, job_id: "jn", options: { javascript: true, timeout: 20 } }), ctx()),
      "DOMAIN_BLOCKED",
    );
  });

  it("WebRTC is absent, service workers are refused, file: navigations do not happen", async () => {
    const before = origin.requests.filter((r) => r === "/sw.js").length;
    const r = await s.run(
      s.parse({
        url: `http://allowed.test:${origin.port}/probe`,
        job_id: "pr",
        selectors: { rtc: "#rtc", sw: "#sw" },
        options: { javascript: true, timeout: 20 },
      }),
      ctx(),
    );
    expect(r.data.rtc).to.equal("rtc:undefined");
    expect(r.data.sw).to.be.oneOf(["sw:refused", "sw:absent"]);
    expect(origin.requests.filter((x) => x === "/sw.js").length - before).to.equal(0);
    expect(r.metadata.final_url).to.equal(`http://allowed.test:${origin.port}/probe`);
    expect(JSON.stringify(r.data)).not.to.include("root:");
  });

  it("a download is not saved: SCRAPE_FAILED", async () => {
    const e = await failsWith(
      s.run(
        s.parse({ url: `http://allowed.test:${origin.port}/download`, job_id: "dl", options: { javascript: true, timeout: 20 } }),
        ctx(),
      ),
      "SCRAPE_FAILED",
    );
    expect(e.details!.refund).to.equal(true);
  });

  it("the starting URL itself is checked before Chromium is asked (blocked name: DOMAIN_BLOCKED, no dial)", async () => {
    await failsWith(
      s.run(s.parse({ url: `http://victim.test:${v4.port}/`, job_id: "st", options: { javascript: true, timeout: 20 } }), ctx()),
      "DOMAIN_BLOCKED",
    );
    expect(dials).to.deep.equal([]);
  });
});
