/**
 * The static path end to end on a page served on 127.0.0.1 (allowed by SCRAPE_ALLOWED_CIDRS, an
 * operator setting): output formats, selectors, charsets, compression, content types, metadata,
 * and what is (not) sent to the site.
 */
import { expect } from "chai";
import zlib from "node:zlib";
import { ctx, failsWith, forbiddenDials, html, LocalServer, serve, service } from "./helpers";

const PAGE = html(
  `<header><nav><a href="/home">Home</a></nav></header>
   <h1>Main  title</h1>
   <p class="lead">First <b>bold</b> paragraph.</p>
   <script>var secret = "not text";</script><style>p { color: red }</style>
   <ul><li class="item"><a href="/a?x=1">Alpha</a></li><li class="item"><a href="https://other.example/b">Beta</a></li><li class="item">Gamma</li></ul>
   <h2>Sub</h2><pre>  keep   spaces
  here</pre>
   <table><tr><td>c1</td><td>c2</td></tr></table>
   <div hidden>hidden text</div>
   <img src="/logo.png" alt="Logo">`,
  `<title> The  Page </title><meta name="description" content="A test page">`,
).replace("<html>", '<html lang="en">');

describe("scrape: static fetch, formats and content", function () {
  this.timeout(30_000);
  let site: LocalServer;
  const seenHeaders: Record<string, string | string[] | undefined>[] = [];
  const s = service({ SCRAPE_ALLOWED_CIDRS: "127.0.0.1/32, ::1/128" });

  const routes: Record<string, (res: import("node:http").ServerResponse) => void> = {
    "/page": (res) => res.writeHead(200, { "content-type": "text/html; charset=utf-8", "set-cookie": "sid=secret; Path=/" }).end(PAGE),
    "/latin1": (res) =>
      res
        .writeHead(200, { "content-type": "text/html; charset=windows-1252" })
        .end(
          Buffer.from([
            ...Buffer.from("<title>caf"),
            0xe9,
            ...Buffer.from("</title><p>na"),
            0xef,
            ...Buffer.from("ve "),
            0x80,
            ...Buffer.from("</p>"),
          ]),
        ),
    "/sjis-meta": (res) =>
      // "日本" in Shift_JIS, declared only by <meta charset>.
      res
        .writeHead(200, { "content-type": "text/html" })
        .end(Buffer.concat([Buffer.from('<meta charset="shift_jis"><p>'), Buffer.from([0x93, 0xfa, 0x96, 0x7b]), Buffer.from("</p>")])),
    "/utf8-bom": (res) =>
      res.writeHead(200, { "content-type": "text/html" }).end(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("<p>ünï</p>")])),
    "/gzip": (res) =>
      res.writeHead(200, { "content-type": "text/html", "content-encoding": "gzip" }).end(zlib.gzipSync(html("<p>zipped</p>"))),
    "/br": (res) =>
      res.writeHead(200, { "content-type": "text/html", "content-encoding": "br" }).end(zlib.brotliCompressSync(html("<p>brotli</p>"))),
    "/deflate": (res) =>
      res.writeHead(200, { "content-type": "text/html", "content-encoding": "deflate" }).end(zlib.deflateSync(html("<p>deflated</p>"))),
    "/weird-encoding": (res) => res.writeHead(200, { "content-type": "text/html", "content-encoding": "zstd-ish" }).end("x"),
    "/plain": (res) => res.writeHead(200, { "content-type": "text/plain; charset=iso-8859-1" }).end(Buffer.from([0x63, 0x61, 0x66, 0xe9])),
    "/json": (res) => res.writeHead(200, { "content-type": "application/json" }).end('{"a":[1,2],"b":"c"}'),
    "/xml": (res) =>
      res
        .writeHead(200, { "content-type": "application/rss+xml" })
        .end(
          '<?xml version="1.0"?><rss><channel><item><title>One</title><link>https://e.example/1</link></item><item><title>Two</title></item></channel></rss>',
        ),
    "/png": (res) => res.writeHead(200, { "content-type": "image/png" }).end(Buffer.alloc(100)),
    "/404": (res) => res.writeHead(404, { "content-type": "text/html" }).end("<p>not here</p>"),
    "/500": (res) => res.writeHead(500).end("boom"),
    "/loop": (res) => res.writeHead(302, { location: "/loop" }).end(),
    "/cookie-redirect": (res) => res.writeHead(302, { location: "/page", "set-cookie": "sid=1" }).end(),
    "/creds-redirect": (res) => res.writeHead(302, { location: `http://user:pw@127.0.0.1:${site.port}/page` }).end(),
    "/hop1": (res) => res.writeHead(301, { location: "/hop2" }).end(),
    "/hop2": (res) => res.writeHead(307, { location: "/page" }).end(),
  };

  before(async () => {
    site = await serve("127.0.0.1", (req, res) => {
      seenHeaders.push(req.headers);
      const r = routes[(req.url ?? "").split("?")[0]];
      if (r) r(res);
      else res.writeHead(404).end();
    });
  });
  after(async () => {
    await site.close();
    await s.close!();
  });
  afterEach(() => expect(forbiddenDials).to.deep.equal([]));

  const run = (path: string, extra: object = {}) => s.run(s.parse({ url: site.url(path), job_id: "f", ...extra }), ctx());

  it("text: the readable text, one line per block, scripts/styles/hidden dropped, <pre> kept; metadata filled", async () => {
    const r = await run("/page");
    expect(r.data.title).to.equal("The Page");
    expect(r.data.text).to.equal(
      ["Home", "Main title", "First bold paragraph.", "Alpha", "Beta", "Gamma", "Sub", "  keep   spaces", "  here", "c1\tc2"].join("\n"),
    );
    expect(r.metadata).to.include({
      url: site.url("/page"),
      final_url: site.url("/page"),
      status: 200,
      content_type: "text/html",
      rendered: false,
      redirects: 0,
      tier: "simple",
    });
    expect(r.metadata.size_bytes).to.equal(Buffer.byteLength(PAGE));
    expect(Date.parse(r.metadata.scraped_at)).to.be.closeTo(Date.now(), 10_000);
    expect(r.metadata.execution_ms).to.be.a("number").and.at.least(0);
  });

  it("html: the whole document", async () => {
    const r = await run("/page", { output_format: "html" });
    expect(r.data.title).to.equal("The Page");
    expect(r.data.html).to.be.a("string").and.include('<p class="lead">First <b>bold</b> paragraph.</p>');
  });

  it("json: title, description, lang, headings, absolute http(s) links, text", async () => {
    const r = await run("/page", { output_format: "json" });
    expect(r.data).to.deep.include({
      title: "The Page",
      description: "A test page",
      lang: "en",
      headings: [
        { level: 1, text: "Main title" },
        { level: 2, text: "Sub" },
      ],
      links: [
        { text: "Home", href: site.url("/home") },
        { text: "Alpha", href: site.url("/a?x=1") },
        { text: "Beta", href: "https://other.example/b" },
      ],
    });
    expect(r.metadata.tier).to.equal("standard");
  });

  it("selectors: first match or null, [css] for all matches, @attr for attributes, html format gives outer HTML", async () => {
    const r = await run("/page", {
      selectors: {
        h1: "h1",
        lead: "p.lead",
        items: ["li.item"],
        hrefs: ["li.item a@href"],
        logo: "img@src",
        missing: "h6",
        none: [".nothing"],
      },
    });
    expect(r.data).to.deep.equal({
      h1: "Main title",
      lead: "First bold paragraph.",
      items: ["Alpha", "Beta", "Gamma"],
      hrefs: ["/a?x=1", "https://other.example/b"],
      logo: "/logo.png",
      missing: null,
      none: [],
    });
    const h = await run("/page", { output_format: "html", selectors: { lead: "p.lead", items: ["li.item"] } });
    expect(h.data.lead).to.equal('<p class="lead">First <b>bold</b> paragraph.</p>');
    expect((h.data.items as string[])[2]).to.equal('<li class="item">Gamma</li>');
  });

  it("charsets: from Content-Type, from <meta charset>, from a BOM", async () => {
    expect((await run("/latin1")).data).to.deep.equal({ title: "café", text: "naïve \u20ac" });
    expect((await run("/sjis-meta")).data.text).to.equal("日本");
    expect((await run("/utf8-bom")).data.text).to.equal("ünï");
    expect((await run("/plain")).data).to.deep.equal({ title: null, text: "café" });
  });

  it("gzip, brotli and deflate bodies are decompressed; size_bytes counts the decoded body", async () => {
    expect((await run("/gzip")).data.text).to.equal("zipped");
    expect((await run("/br")).data.text).to.equal("brotli");
    const d = await run("/deflate");
    expect(d.data.text).to.equal("deflated");
    expect(d.metadata.size_bytes).to.equal(Buffer.byteLength(html("<p>deflated</p>")));
    const e = await failsWith(run("/weird-encoding"), "SCRAPE_FAILED");
    expect(e.details).to.include({ reason: "unsupported", refund: true });
  });

  it("non-HTML: JSON parsed for json, XML queried with selectors, images refused", async () => {
    expect((await run("/json", { output_format: "json" })).data).to.deep.equal({ json: { a: [1, 2], b: "c" } });
    expect((await run("/json")).data).to.deep.equal({ title: null, text: '{"a":[1,2],"b":"c"}' });
    expect((await run("/xml", { selectors: { titles: ["item > title"], link: "item link" } })).data).to.deep.equal({
      titles: ["One", "Two"],
      link: "https://e.example/1",
    });
    const sel = await failsWith(run("/json", { selectors: { a: "p" } }), "SCRAPE_FAILED");
    expect(sel.message).to.include("selectors need an HTML or XML document");
    const png = await failsWith(run("/png"), "SCRAPE_FAILED");
    expect(png.message).to.include('unsupported content type "image/png"');
    expect(png.details).to.include({ reason: "unsupported", refund: true });
  });

  it("4xx and 5xx are SCRAPE_FAILED with the status, not refunded (the fetch was made)", async () => {
    for (const [p, st] of [
      ["/404", 404],
      ["/500", 500],
    ] as const) {
      const e = await failsWith(run(p), "SCRAPE_FAILED");
      expect(e.details).to.deep.equal({ refund: false, reason: "http_status", status: st });
      expect(e.message).to.equal(`the site answered HTTP ${st}`);
    }
  });

  it("connection refused is SCRAPE_FAILED, refunded", async () => {
    const gone = await serve("127.0.0.1");
    const url = gone.url("/");
    await gone.close();
    const e = await failsWith(s.run(s.parse({ url, job_id: "gone" }), ctx()), "SCRAPE_FAILED");
    expect(e.details).to.include({ refund: true, reason: "unreachable" });
    expect(e.message).to.include("ECONNREFUSED");
  });

  it("redirects are followed (301, 307) and counted; a loop stops at SCRAPE_MAX_REDIRECTS", async () => {
    const r = await run("/hop1");
    expect(r.metadata).to.include({ final_url: site.url("/page"), redirects: 2 });
    const few = service({ SCRAPE_ALLOWED_CIDRS: "127.0.0.1/32", SCRAPE_MAX_REDIRECTS: 3 });
    const before = site.requests.length;
    const e = await failsWith(few.run(few.parse({ url: site.url("/loop"), job_id: "l" }), ctx()), "SCRAPE_FAILED");
    expect(e.message).to.equal("more than 3 redirects");
    expect(site.requests.length - before).to.equal(4);
  });

  it("nothing of the caller is forwarded: no cookies (even ones the site set), no credentials, fixed headers", async () => {
    seenHeaders.length = 0;
    await run("/cookie-redirect");
    expect(seenHeaders).to.have.length(2);
    for (const h of seenHeaders) {
      expect(h.cookie).to.equal(undefined);
      expect(h.authorization).to.equal(undefined);
      expect(Object.keys(h).sort()).to.deep.equal(["accept", "accept-encoding", "accept-language", "connection", "host", "user-agent"]);
    }
    const e = await failsWith(run("/creds-redirect"), "SCRAPE_FAILED");
    expect(e.message).to.include("credentials");
  });

  it("IPv6 loopback works when allowlisted (the pinned connect handles v6)", async () => {
    const v6 = await serve("::1", (_q, res) => res.writeHead(200, { "content-type": "text/html" }).end("<p>over v6</p>"));
    try {
      const r = await s.run(s.parse({ url: v6.url("/"), job_id: "v6" }), ctx());
      expect(r.data.text).to.equal("over v6");
      expect(v6.connections).to.equal(1);
    } finally {
      await v6.close();
    }
  });
});
