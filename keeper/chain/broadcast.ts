/**
 * What a node's refusal of a raw transaction means. Nodes answer eth_sendRawTransaction refusals
 * with words only (geth, reth, anvil and Hardhat word them alike; ethers maps just "nonce too low" to
 * its code NONCE_EXPIRED), so the words are read here, once, at the edge, and the keeper decides on
 * the answer's meaning instead:
 * - "known": the node already has this very transaction (pending or mined): nothing to do.
 * - "nonce-used": the nonce is spent: by this transaction (mined) or by another of the wallet's.
 */
export type BroadcastRefusal = "known" | "nonce-used";

export function broadcastRefusal(err: unknown): BroadcastRefusal | undefined {
  const e = err as
    { code?: unknown; message?: unknown; error?: { message?: unknown }; info?: { error?: { message?: unknown } } } | undefined;
  const words = [e?.message, e?.error?.message, e?.info?.error?.message]
    .filter((m): m is string => typeof m === "string")
    .join(" ")
    .toLowerCase();
  if (/already known|known transaction|already imported/.test(words)) return "known";
  if (e?.code === "NONCE_EXPIRED" || /nonce too low|nonce has already been used/.test(words)) return "nonce-used";
  return undefined;
}
