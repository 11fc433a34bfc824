/**
 * From a fetched or rendered document to the response's `data` (cheerio). Shapes (docs/scraper.md):
 * - no selectors: text -> {title, text}; html -> {title, html}; json -> {title, description, lang,
 *   headings[{level, text}], links[{text, href}], text};
 * - selectors: {name: value} with value per selector: the first match (string or null) for a
 *   string selector, every match (string[]) for a `[css]` selector; the text of the element for
 *   text/json, its outer HTML for html, the attribute for `css@attr`.
 * Non-markup bodies (text/plain, JSON, CSV) have no DOM: text/html give the body as text, json
 * gives {json} for a JSON body; selectors on them fail.
 */
import * as cheerio from "cheerio";
import type { AnyNode, Element } from "domhandler";
import { MAX_MATCHES, OutputFormat, parseSelector } from "./request";

export const MAX_LINKS = 1000;
export const MAX_HEADINGS = 500;

const SKIP = new Set([
  "script",
  "style",
  "noscript",
  "template",
  "svg",
  "math",
  "iframe",
  "object",
  "embed",
  "canvas",
  "head",
  "title",
  "meta",
  "link",
]);
const BLOCK = new Set([
  "address",
  "article",
  "aside",
  "blockquote",
  "br",
  "dd",
  "details",
  "dialog",
  "div",
  "dl",
  "dt",
  "fieldset",
  "figcaption",
  "figure",
  "footer",
  "form",
  "h1",
  "h2",
  "h3",
  "h4",
  "h5",
  "h6",
  "header",
  "hr",
  "li",
  "main",
  "nav",
  "ol",
  "p",
  "pre",
  "section",
  "summary",
  "table",
  "tbody",
  "thead",
  "tfoot",
  "tr",
  "ul",
  "caption",
  "option",
  "body",
  "html",
]);
const CELL = new Set(["td", "th"]);

// Whitespace inside <pre> survives the line clean-up as these placeholders.
const PRE_SPACE = "\u0001";
const PRE_NL = "\u0002";
const PRE_TAB = "\u0003";

/**
 * Readable text: visible text nodes, one line per block element, whitespace collapsed (kept in
 * <pre>). In XML (xml = true) no element is skipped: <title> or <link> are data there. The nodes
 * passed in are always read, even a <title> a selector picked.
 */
export function readableText(nodes: AnyNode[], xml = false): string {
  const out: string[] = [];
  const walk = (n: AnyNode, pre: boolean, top: boolean) => {
    if (n.type === "text") {
      const t = (n as unknown as { data: string }).data;
      out.push(pre ? t.replace(/ /g, PRE_SPACE).replace(/\n/g, PRE_NL).replace(/\t/g, PRE_TAB) : t.replace(/\s+/g, " "));
      return;
    }
    if (n.type === "cdata" || n.type === "root") {
      for (const c of (n as unknown as { children: AnyNode[] }).children) walk(c, pre, false);
      return;
    }
    if (n.type !== "tag" && n.type !== "script" && n.type !== "style") return;
    const el = n as Element;
    const name = el.name.toLowerCase();
    if (!top && (xml ? name === "script" || name === "style" : SKIP.has(name) || el.attribs?.hidden !== undefined)) return;
    const block = xml || BLOCK.has(name);
    if (block) out.push("\n");
    if (CELL.has(name) && !xml) out.push("\t");
    for (const c of el.children) walk(c, pre || name === "pre", false);
    if (block) out.push("\n");
  };
  for (const n of nodes) walk(n, false, true);
  return out
    .join("")
    .split("\n")
    .map((l) => l.replace(/[ \u00a0]+/g, " ").replace(/^[ \t]+|[ \t]+$/g, ""))
    .filter((l) => l !== "")
    .join("\n")
    .replaceAll(PRE_SPACE, " ")
    .replaceAll(PRE_NL, "\n")
    .replaceAll(PRE_TAB, "\t");
}

function titleOf($: cheerio.CheerioAPI): string | null {
  const t = $("title").first().text().replace(/\s+/g, " ").trim();
  return t === "" ? null : t;
}

function absolute(href: string, base: string): string | null {
  try {
    const u = new URL(href, base);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch {
    return null;
  }
}

function valueOf($: cheerio.CheerioAPI, el: Element, format: OutputFormat, xml: boolean, attr?: string): string | null {
  if (attr) return $(el).attr(attr) ?? null;
  if (format === "html") return $.html(el);
  return readableText([el], xml);
}

export function extractMarkup(
  $: cheerio.CheerioAPI,
  format: OutputFormat,
  selectors: Record<string, string | [string]>,
  baseUrl: string,
  xml = false,
): Record<string, unknown> {
  const names = Object.keys(selectors);
  if (names.length > 0) {
    const data: Record<string, unknown> = {};
    for (const name of names) {
      const s = parseSelector(selectors[name]);
      const matches = $(s.css)
        .toArray()
        .filter((n): n is Element => n.type === "tag" || n.type === "script" || n.type === "style");
      data[name] = s.all
        ? matches
            .slice(0, MAX_MATCHES)
            .map((el) => valueOf($, el, format, xml, s.attr))
            .filter((v): v is string => v !== null)
        : matches.length
          ? valueOf($, matches[0], format, xml, s.attr)
          : null;
    }
    return data;
  }
  const root = $.root().toArray();
  if (format === "html") return { title: titleOf($), html: $.html() };
  const text = readableText(root, xml);
  if (format === "text") return { title: titleOf($), text };
  const headings = $("h1,h2,h3,h4,h5,h6")
    .toArray()
    .slice(0, MAX_HEADINGS)
    .map((el) => ({ level: Number((el as Element).name.slice(1)), text: readableText([el]) }));
  const links: { text: string; href: string }[] = [];
  for (const el of $("a[href]").toArray()) {
    if (links.length >= MAX_LINKS) break;
    const href = absolute($(el).attr("href") ?? "", baseUrl);
    if (href) links.push({ text: readableText([el]), href });
  }
  const description = $('meta[name="description" i]').attr("content") ?? $('meta[property="og:description" i]').attr("content") ?? null;
  const lang = $("html").attr("lang") ?? null;
  return { title: titleOf($), description, lang, headings, links, text };
}

export class ExtractError extends Error {}

export function extractText(
  text: string,
  mediaType: string,
  format: OutputFormat,
  selectors: Record<string, unknown>,
): Record<string, unknown> {
  if (Object.keys(selectors).length > 0)
    throw new ExtractError(`selectors need an HTML or XML document, the site sent ${mediaType || "no content type"}`);
  if (format === "json" && (mediaType === "application/json" || mediaType.endsWith("+json"))) {
    try {
      return { json: JSON.parse(text) };
    } catch {
      // not JSON after all: give the text
    }
  }
  if (format === "html") return { title: null, html: text };
  return { title: null, text };
}
