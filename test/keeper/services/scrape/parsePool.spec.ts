/**
 * The parse workers give exactly what in-thread parsing gives, carry extraction errors across as
 * such, survive a worker's death, and never keep the process alive.
 */
import { expect } from "chai";
import { ParsePool } from "../../../../keeper/services/scrape/parsePool";
import { ExtractError, runParse, ParseTask } from "../../../../keeper/services/scrape/parse";

const html = Buffer.from(
  `<html lang="en"><head><title>T</title><meta name="description" content="d"></head><body><h1>Head</h1><p>caf\u00e9 <a href="/x">link</a></p><pre>  a\n b</pre><ul><li class="i">1</li><li class="i">2</li></ul></body></html>`,
);
const tasks: ParseTask[] = [
  { kind: "markup", body: html, xml: false, charset: "utf-8", format: "text", selectors: {}, baseUrl: "http://site.test/" },
  { kind: "markup", body: html, xml: false, charset: "utf-8", format: "json", selectors: {}, baseUrl: "http://site.test/" },
  {
    kind: "markup",
    body: html,
    xml: false,
    format: "json",
    selectors: { items: [".i"], first: "h1", href: "a@href" },
    baseUrl: "http://site.test/",
  },
  { kind: "html", html: html.toString(), format: "html", selectors: {}, baseUrl: "http://site.test/" },
  { kind: "text", body: Buffer.from('{"a":[1,2]}'), mediaType: "application/json", format: "json", selectors: {} },
];

describe("scrape parse workers", function () {
  this.timeout(30_000);
  const pool = new ParsePool(2);
  after(() => pool.close());

  it("give the same data as parsing in-thread, for every task kind", async () => {
    for (const t of tasks) expect(await pool.run(t)).to.deep.equal(runParse(t));
  });

  it("pass an extraction error through as ExtractError (SCRAPE_FAILED unsupported, refunded)", async () => {
    const err = await pool
      .run({ kind: "text", body: Buffer.from("a,b"), mediaType: "text/csv", format: "json", selectors: { x: "h1" } })
      .catch((e) => e);
    expect(err).to.be.instanceOf(ExtractError);
    expect(err.message).to.match(/selectors need an HTML or XML document/);
  });

  it("a body that is a view into a larger buffer is sent whole and only its bytes", async () => {
    const big = Buffer.concat([Buffer.from("GARBAGE"), html, Buffer.from("TRAILER")]);
    const view = big.subarray(7, 7 + html.length);
    const t: ParseTask = { kind: "markup", body: view, xml: false, format: "text", selectors: {}, baseUrl: "http://site.test/" };
    expect(await pool.run(t)).to.deep.equal(runParse({ ...t, body: html }));
    expect(big.subarray(0, 7).toString(), "the caller's buffer is untouched").to.equal("GARBAGE");
  });

  it("a worker that dies fails its tasks and is replaced", async () => {
    const slot = (pool as unknown as { slots: ({ worker: { terminate(): Promise<number> } } | undefined)[] }).slots.find(Boolean)!;
    await slot.worker.terminate();
    await new Promise((r) => setTimeout(r, 50));
    const results = await Promise.all(tasks.map((t) => pool.run(t)));
    expect(results).to.deep.equal(tasks.map(runParse));
  });

  it("size 0 parses in-thread", async () => {
    const p = new ParsePool(0);
    expect(await p.run(tasks[0])).to.deep.equal(runParse(tasks[0]));
    await p.close();
  });
});
