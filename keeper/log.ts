/** Structured JSON logs (pino). Secrets are redacted by key wherever they appear. */
import pino, { Logger } from "pino";

export const REDACTED_KEYS = ["KEEPER_PRIVATE_KEY", "privateKey", "secret", "apiKey", "authorization", "mnemonic", "raw"];

export function createLogger(level: string, pretty = false): Logger {
  return pino({
    level,
    base: { svc: "keeper" },
    redact: { paths: REDACTED_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]), censor: "[redacted]" },
    transport: pretty ? { target: "pino/file", options: { destination: 1 } } : undefined,
  });
}

export type { Logger };
