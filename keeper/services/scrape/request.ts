/**
 * POST /api/v1/scrape request (design.md section 5, fixed wire format), its price tier and its
 * per-URL rate-limit key.
 *
 * Selectors: `{ name: css }`. A string value gives the first match (string, or null when nothing
 * matches); a one-element array `[css]` gives every match (array of strings, at most MAX_MATCHES).
 * `css@attr` reads an attribute instead of the text (e.g. `"a.next@href"`).
 */
import { z } from "zod";
import * as cheerio from "cheerio";
import { ServiceError } from "../jobService";

export const OUTPUT_FORMATS = ["text", "json", "html"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const MAX_URL_LENGTH = 2048;
export const MAX_SELECTORS = 50;
export const MAX_SELECTOR_LENGTH = 512;
/** Array selectors return at most this many matches (documented; the rest are dropped). */
export const MAX_MATCHES = 1000;

export interface SelectorSpec {
  css: string;
  attr?: string;
  all: boolean;
}

/** Splits `css@attr` (the last `@` followed by an attribute name) from the CSS selector. */
export function parseSelector(value: string | [string]): SelectorSpec {
  const all = Array.isArray(value);
  const raw = (all ? value[0] : value).trim();
  const m = /^(.*)@([A-Za-z_:][-A-Za-z0-9_:.]*)$/s.exec(raw);
  if (m && m[1].trim() !== "") return { css: m[1].trim(), attr: m[2].toLowerCase(), all };
  return { css: raw, all };
}

const emptyDoc = cheerio.load("");

function cssProblem(value: string | [string]): string | undefined {
  const { css } = parseSelector(value);
  if (css === "") return "empty selector";
  try {
    emptyDoc(css);
    return undefined;
  } catch (e) {
    return `invalid CSS selector (${(e as Error).message.split("\n")[0].slice(0, 120)})`;
  }
}

export function scrapeRequestSchema(limits: { maxTimeoutS: number; defaultTimeoutS: number }) {
  const selectorValue = z.union([z.string().min(1).max(MAX_SELECTOR_LENGTH), z.tuple([z.string().min(1).max(MAX_SELECTOR_LENGTH)])]);
  return z
    .object({
      url: z
        .string()
        .max(MAX_URL_LENGTH)
        .superRefine((u, c) => {
          let parsed: URL;
          try {
            parsed = new URL(u);
          } catch {
            c.addIssue({ code: "custom", message: "not an absolute URL" });
            return;
          }
          if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
            c.addIssue({ code: "custom", message: `only http and https URLs can be scraped (got ${parsed.protocol.slice(0, 16)})` });
          }
          // Credentials would be sent to the target (and logged by it): never forwarded.
          if (parsed.username !== "" || parsed.password !== "")
            c.addIssue({ code: "custom", message: "URLs with user:password@ are not accepted" });
        }),
      job_id: z
        .string()
        .min(1)
        .max(128)
        .regex(/^[A-Za-z0-9_.:-]+$/, "letters, digits and _.:- only"),
      output_format: z.enum(OUTPUT_FORMATS).default("text"),
      selectors: z
        .record(
          z
            .string()
            .min(1)
            .max(64)
            .regex(/^[A-Za-z0-9_.:-]+$/, "selector names: letters, digits and _.:- only"),
          selectorValue,
        )
        .default({})
        .superRefine((sel, c) => {
          const names = Object.keys(sel);
          if (names.length > MAX_SELECTORS) c.addIssue({ code: "custom", message: `at most ${MAX_SELECTORS} selectors` });
          for (const n of names) {
            const p = cssProblem(sel[n]);
            if (p) c.addIssue({ code: "custom", path: [n], message: p });
          }
        }),
      options: z
        .object({
          javascript: z.boolean().default(false),
          screenshots: z.boolean().default(false),
          /** Seconds for the whole job (fetch or render, redirects included). */
          timeout: z.number().positive().max(limits.maxTimeoutS).default(Math.min(limits.defaultTimeoutS, limits.maxTimeoutS)),
        })
        .strict()
        .default({ javascript: false, screenshots: false, timeout: Math.min(limits.defaultTimeoutS, limits.maxTimeoutS) }),
    })
    .strict()
    .superRefine((r, c) => {
      if (r.options.screenshots && "screenshot" in r.selectors) {
        c.addIssue({
          code: "custom",
          path: ["selectors", "screenshot"],
          message: "the name 'screenshot' is taken by the screenshot when options.screenshots is true",
        });
      }
    });
}

export type ScrapeRequest = z.infer<ReturnType<typeof scrapeRequestSchema>>;

export function parseScrapeRequest(body: unknown, limits: { maxTimeoutS: number; defaultTimeoutS: number }): ScrapeRequest {
  const r = scrapeRequestSchema(limits).safeParse(body);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`);
    throw new ServiceError("INVALID_REQUEST", `invalid scrape request: ${problems.join("; ")}`, 400, { problems });
  }
  return r.data;
}

export type Tier = "simple" | "standard" | "js";

/**
 * simple: text or html of the whole page, no selectors (one fetch, no extraction work);
 * standard: selectors, or output_format json (structured extraction);
 * js: options.javascript (rendered in Chromium), whatever the format.
 * A screenshot is priced on top (it needs the browser even without JavaScript).
 */
export function tierOf(req: Pick<ScrapeRequest, "output_format" | "selectors" | "options">): Tier {
  if (req.options.javascript) return "js";
  if (req.output_format === "json" || Object.keys(req.selectors).length > 0) return "standard";
  return "simple";
}

/** `url:<scheme>://<host>[:port]<path>`: the same page whatever its query string or fragment. */
export function urlRateLimitKey(url: string): string {
  const u = new URL(url);
  const host = u.hostname.replace(/\.+$/, "").toLowerCase();
  return `url:${u.protocol}//${host}${u.port ? `:${u.port}` : ""}${u.pathname}`;
}
