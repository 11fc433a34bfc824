/** Structured JSON logs (pino). Secrets are redacted by key wherever they appear (up to two levels deep). */
import pino, { DestinationStream, Logger } from "pino";

export const REDACTED_KEYS = [
  "KEEPER_PRIVATE_KEY",
  "PAYOUT_PRIVATE_KEY",
  "BRIDGE_PRIVATE_KEY", // PAYOUT_PRIVATE_KEY's old name, still read (configRenames.ts)
  "AKASH_MNEMONIC",
  "SPHERON_API_KEY",
  "IONET_API_KEY",
  "WATT_SERVICE_SECRET",
  "X402_EVM_SETTLER_KEY",
  "privateKey",
  "secret",
  "secretKey",
  "apiKey",
  "authorization",
  "mnemonic",
  "raw",
  '["x-api-key"]',
  '["x-agent-signature"]',
];

export function createLogger(level: string, pretty = false, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { svc: "keeper" },
      redact: {
        paths: REDACTED_KEYS.flatMap((k) => (k.startsWith("[") ? [k, `*${k}`, `*.*${k}`] : [k, `*.${k}`, `*.*.${k}`])),
        censor: "[redacted]",
      },
      transport: pretty && !destination ? { target: "pino/file", options: { destination: 1 } } : undefined,
    },
    destination,
  );
}

export type { Logger };
