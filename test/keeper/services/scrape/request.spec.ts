/** The scrape request: validation (INVALID_REQUEST naming every problem), defaults, tiers and prices, the per-URL rate-limit key. */
import { expect } from "chai";
import { parseSelector, tierOf, urlRateLimitKey } from "../../../../keeper/services/scrape/request";
import { service, thrownBy } from "./helpers";

describe("scrape: request parsing, prices and rate-limit key", () => {
  const s = service();

  it("fills the defaults: text, no selectors, no JavaScript, no screenshot, 30 s", () => {
    const r = s.parse({ url: "https://example.com/a", job_id: "j-1" });
    expect(r).to.deep.equal({
      url: "https://example.com/a",
      job_id: "j-1",
      output_format: "text",
      selectors: {},
      options: { javascript: false, screenshots: false, timeout: 30 },
    });
  });

  it("a body with several problems gets INVALID_REQUEST listing each of them", () => {
    const e = thrownBy(() =>
      s.parse({
        url: "not a url",
        job_id: "bad id!",
        output_format: "pdf",
        selectors: { t: "h1[" },
        options: { timeout: 999, javascript: "yes" },
        extra: 1,
      }),
    );
    expect(e.code).to.equal("INVALID_REQUEST");
    expect(e.httpStatus).to.equal(400);
    const problems = e.details!.problems as string[];
    for (const p of [
      "url: not an absolute URL",
      "job_id:",
      "output_format:",
      "selectors.t: invalid CSS selector",
      "options.timeout:",
      "options.javascript:",
      'Unrecognized key: "extra"',
    ]) {
      expect(
        problems.some((x) => x.includes(p)),
        `${p} in ${JSON.stringify(problems)}`,
      ).to.equal(true);
    }
  });

  it("only http and https, and never user:password@ in the URL", () => {
    for (const url of ["file:///etc/passwd", "ftp://example.com/x", "javascript:alert(1)", "data:text/html,hi", "gopher://example.com/"]) {
      const e = thrownBy(() => s.parse({ url, job_id: "j" }));
      expect(e.code, url).to.equal("INVALID_REQUEST");
      expect(JSON.stringify(e.details!.problems), url).to.match(/only http and https|not an absolute URL/);
    }
    const e = thrownBy(() => s.parse({ url: "https://user:pw@example.com/", job_id: "j" }));
    expect(e.details!.problems).to.deep.equal(["url: URLs with user:password@ are not accepted"]);
  });

  it("options.timeout is bounded by SCRAPE_MAX_TIMEOUT_S", () => {
    const small = service({ SCRAPE_MAX_TIMEOUT_S: 10 });
    expect(small.parse({ url: "https://example.com/", job_id: "j" }).options.timeout).to.equal(10);
    expect(thrownBy(() => small.parse({ url: "https://example.com/", job_id: "j", options: { timeout: 11 } })).code).to.equal(
      "INVALID_REQUEST",
    );
    expect(thrownBy(() => small.parse({ url: "https://example.com/", job_id: "j", options: { timeout: 0 } })).code).to.equal(
      "INVALID_REQUEST",
    );
  });

  it("selectors: names and count are bounded, 'screenshot' is reserved when a screenshot is asked for", () => {
    const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`s${i}`, "p"]));
    expect(JSON.stringify(thrownBy(() => s.parse({ url: "https://e.com/", job_id: "j", selectors: many })).details)).to.include(
      "at most 50 selectors",
    );
    expect(thrownBy(() => s.parse({ url: "https://e.com/", job_id: "j", selectors: { "bad name": "p" } })).code).to.equal(
      "INVALID_REQUEST",
    );
    expect(thrownBy(() => s.parse({ url: "https://e.com/", job_id: "j", selectors: { a: "" } })).code).to.equal("INVALID_REQUEST");
    const e = thrownBy(() =>
      s.parse({ url: "https://e.com/", job_id: "j", selectors: { screenshot: "img" }, options: { screenshots: true } }),
    );
    expect(JSON.stringify(e.details)).to.include("selectors.screenshot");
    expect(s.parse({ url: "https://e.com/", job_id: "j", selectors: { screenshot: "img" } }).selectors).to.deep.equal({
      screenshot: "img",
    });
  });

  it("selector syntax: css, [css] for every match, css@attr for an attribute", () => {
    expect(parseSelector("h1")).to.deep.equal({ css: "h1", all: false });
    expect(parseSelector(["li.item"])).to.deep.equal({ css: "li.item", all: true });
    expect(parseSelector("a.next@href")).to.deep.equal({ css: "a.next", attr: "href", all: false });
    expect(parseSelector(["img@data-src"])).to.deep.equal({ css: "img", attr: "data-src", all: true });
    expect(parseSelector('a[href$="@x"]')).to.deep.equal({ css: 'a[href$="@x"]', all: false });
  });

  it("tiers: simple = text/html without selectors, standard = selectors or json, js = javascript", () => {
    const base = { selectors: {}, options: { javascript: false, screenshots: false, timeout: 30 } };
    expect(tierOf({ ...base, output_format: "text" })).to.equal("simple");
    expect(tierOf({ ...base, output_format: "html" })).to.equal("simple");
    expect(tierOf({ ...base, output_format: "json" })).to.equal("standard");
    expect(tierOf({ ...base, output_format: "text", selectors: { t: "h1" } })).to.equal("standard");
    expect(tierOf({ ...base, output_format: "json", options: { ...base.options, javascript: true } })).to.equal("js");
  });

  it("prices in WATT base units (9 decimals) from the SCRAPE_PRICE_* settings; a screenshot adds its price", () => {
    const W = 10n ** 9n;
    const p = (b: object) => s.price(s.parse({ url: "https://e.com/", job_id: "j", ...b }));
    expect(p({})).to.equal(100n * W);
    expect(p({ output_format: "json" })).to.equal(200n * W);
    expect(p({ selectors: { t: "h1" } })).to.equal(200n * W);
    expect(p({ options: { javascript: true } })).to.equal(500n * W);
    expect(p({ options: { screenshots: true } })).to.equal(400n * W);
    expect(p({ options: { javascript: true, screenshots: true } })).to.equal(800n * W);
    const custom = service({ SCRAPE_PRICE_SIMPLE: 7, SCRAPE_PRICE_JS: 50, SCRAPE_PRICE_SCREENSHOT: 3 }, { wattDecimals: 6 });
    expect(custom.price(custom.parse({ url: "https://e.com/", job_id: "j" }))).to.equal(7_000_000n);
    expect(custom.price(custom.parse({ url: "https://e.com/", job_id: "j", options: { javascript: true, screenshots: true } }))).to.equal(
      53_000_000n,
    );
  });

  it("the per-URL rate-limit key ignores query, fragment, host case and the root dot", () => {
    expect(urlRateLimitKey("https://Example.COM./a/b?x=1#f")).to.equal("url:https://example.com/a/b");
    expect(urlRateLimitKey("http://example.com:8080/")).to.equal("url:http://example.com:8080/");
    expect(s.rateLimitKeys!(s.parse({ url: "https://example.com/p?q=2", job_id: "j" }))).to.deep.equal(["url:https://example.com/p"]);
  });
});
