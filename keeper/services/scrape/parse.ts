/**
 * Document -> `data`, the CPU-heavy half of a scrape (HTML parsing and extraction). One function used
 * both in-thread and inside the parse workers (parsePool.ts), so both give identical results.
 */
import * as cheerio from "cheerio";
import { extractMarkup, extractText, ExtractError } from "./extract";
import type { OutputFormat } from "./request";

export type ParseTask =
  | {
      kind: "markup";
      body: Uint8Array;
      xml: boolean;
      charset?: string;
      format: OutputFormat;
      selectors: Record<string, string | [string]>;
      baseUrl: string;
    }
  | { kind: "html"; html: string; format: OutputFormat; selectors: Record<string, string | [string]>; baseUrl: string }
  | {
      kind: "text";
      body: Uint8Array;
      charset?: string;
      mediaType: string;
      format: OutputFormat;
      selectors: Record<string, string | [string]>;
    };

function decodeText(body: Uint8Array, charset?: string): string {
  try {
    return new TextDecoder(charset ?? "utf-8").decode(body);
  } catch {
    return new TextDecoder("utf-8").decode(body);
  }
}

export function runParse(t: ParseTask): Record<string, unknown> {
  switch (t.kind) {
    case "markup": {
      const $ = cheerio.loadBuffer(Buffer.from(t.body.buffer, t.body.byteOffset, t.body.byteLength), {
        xml: t.xml,
        encoding: { transportLayerEncodingLabel: t.charset },
      });
      return extractMarkup($, t.format, t.selectors, t.baseUrl, t.xml);
    }
    case "html":
      return extractMarkup(cheerio.load(t.html), t.format, t.selectors, t.baseUrl);
    case "text":
      return extractText(decodeText(t.body, t.charset), t.mediaType, t.format, t.selectors);
  }
}

export { ExtractError };
