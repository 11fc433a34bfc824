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

const SKIP = new Set(["script", "style", "noscript", "template", "svg", "math", "iframe", "object", "embed", "canvas", "head", "title", "meta", "link"]);
const BLOCK = new Set([
  "address", "article", "aside", "blockquote", "br", "dd", "details", "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure",
  "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary",
  "table", "tbody", "thead", "tfoot", "tr", "ul", "caption", "option", "body", "html",
]);
const CELL = new Set(["td", "th"]);

/** Readable text: visible text nodes, one line per block element, whitespace collapsed (kept in <pre>). */
export function readableText(nodes: AnyNode[]): string {
  const out: string[] = [];
  const walk = (n: AnyNode, pre: boolean) => {
    if (n.type === "text") {
      const t = (n as unknown as { data: string }).data;
      out.push(pre ? t : t.replace(/\s+/g, " "));
      return;
    }
    if (n.type !== "tag" && n.type !== "root" && n.type !== "script" && n.type !== "style") return;
    if (n.type === "root") {
      for (const c of (n as unknown as { children: AnyNode[] }).children) walk(c, pre);
      return;
    }
    const el = n as Element;
    const name = el.name.toLowerCase();
    if (SKIP.has(name) || el.attribs?.hidden !== undefined) return;
    const block = BLOCK.has(name);
    if (block) out.push("\n");
    if (CELL.has(name)) out.push("\t");
    for (const c of el.children) walk(c, pre || name === "pre");
    if (block) out.push("\n");
  };
  for (const n of nodes) walk(n, false);
  return out
    .join("")
    .split("\n")
    .map((l) => l.replace(/[ \u00a0]+/g, " ").replace(/^[ \t]+|[ \t]+$/g, ""))
    .filter((l) => l !== "")
    .join("\n");
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

function valueOf($: cheerio.CheerioAPI, el: Element, format: OutputFormat, attr?: string): string | null {
  if (attr) return $(el).attr(attr) ?? null;
  if (format === "html") return $.html(el);
  return readableText([el]);
}

export function extractMarkup($: cheerio.CheerioAPI, format: OutputFormat, selectors: Record<string, string | [string]>, baseUrl: string): Record<string, unknown> {
  const names = Object.keys(selectors);
  if (names.length > 0) {
    const data: Record<string, unknown> = {};
    for (const name of names) {
      const s = parseSelector(selectors[name]);
      const matches = $(s.css).toArray().filter((n): n is Element => n.type === "tag" || n.type === "script" || n.type === "style");
      data[name] = s.all
        ? matches.slice(0, MAX_MATCHES).map((el) => valueOf($, el, format, s.attr)).filter((v): v is string => v !== null)
        : matches.length
          ? valueOf($, matches[0], format, s.attr)
          : null;
    }
    return data;
  }
  const root = $.root().toArray();
  if (format === "html") return { title: titleOf($), html: $.html() };
  const text = readableText(root);
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

export function extractText(text: string, mediaType: string, format: OutputFormat, selectors: Record<string, unknown>): Record<string, unknown> {
  if (Object.keys(selectors).length > 0) throw new ExtractError(`selectors need an HTML or XML document, the site sent ${mediaType || "no content type"}`);
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
