/**
 * A file-system- and Docker-safe name for a session's idempotency key. Keys that are already safe
 * (an instanceId in decimal or hex) are used as they are, so operators can recognise them; anything
 * else is hashed. The raw key is always stored next to the name (state file, container label) and
 * compared on lookup, so two keys can never be confused.
 */
import { createHash } from "node:crypto";
import { ProvisionError } from "./provider";

const SAFE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

export function workloadName(key: string): string {
  if (typeof key !== "string" || key.length === 0) throw new ProvisionError("empty idempotency key", false);
  if (SAFE.test(key) && !key.startsWith("h-")) return key;
  return `h-${createHash("sha256").update(key, "utf8").digest("hex").slice(0, 40)}`;
}
