/**
 * WATT amounts. Internally every amount is a bigint of base units (the mint's decimals); the wire
 * format of design.md section 5 reports whole WATT as JSON numbers (`watt_charged: 100`).
 */

/** The burn: 0.15 % of what a job is charged (design.md section 5), rounded down to a base unit. */
export const BURN_BPS = 15n;
export const burnOf = (charged: bigint): bigint => (charged * BURN_BPS) / 10_000n;

/** Base units to a JSON number of WATT (exact for amounts below 2^53 base units, i.e. 9 million WATT at 9 decimals). */
export function toWatt(base: bigint, decimals: number): number {
  return Number(formatWatt(base, decimals));
}

/** Base units to a decimal string without loss ("0.15", "100", "-3.000000001"). */
export function formatWatt(base: bigint, decimals: number): string {
  const neg = base < 0n;
  const abs = neg ? -base : base;
  const unit = 10n ** BigInt(decimals);
  const whole = abs / unit;
  const frac = (abs % unit).toString().padStart(decimals, "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${whole}${frac ? `.${frac}` : ""}`;
}

/** A decimal WATT string ("12.5") to base units; throws on more decimals than the mint has. */
export function parseWatt(text: string, decimals: number): bigint {
  const m = /^(\d{1,18})(?:\.(\d+))?$/.exec(text.trim());
  if (!m) throw new Error(`not a WATT amount: ${JSON.stringify(text)}`);
  const frac = m[2] ?? "";
  if (frac.length > decimals) throw new Error(`WATT has ${decimals} decimals: ${text}`);
  return BigInt(m[1]) * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, "0") || "0");
}
