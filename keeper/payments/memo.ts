/**
 * The `memo` field of getSignaturesForAddress: Solana's RPC joins a transaction's memos as
 * "[<byte length>] <text>" entries separated by "; ". The length prefix (UTF-8 bytes) is what makes
 * the split unambiguous when a memo itself contains "; [".
 */
export function parseMemoField(field: string | null | undefined): string[] {
  if (!field) return [];
  const buf = Buffer.from(field, "utf8");
  const out: string[] = [];
  let i = 0;
  while (i < buf.length) {
    const head = /^\[(\d{1,6})\] /.exec(buf.subarray(i, i + 10).toString("latin1"));
    if (!head) break; // not the documented format: stop rather than guess
    const len = Number(head[1]);
    const start = i + head[0].length;
    if (start + len > buf.length) break;
    out.push(buf.subarray(start, start + len).toString("utf8"));
    i = start + len;
    if (buf.subarray(i, i + 2).toString("latin1") === "; ") i += 2;
    else break;
  }
  return out;
}
