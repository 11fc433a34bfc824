/**
 * Settings that were renamed, and the one place the old names are still understood. An operator's
 * existing environment or config file keeps working after an upgrade: an old name (or an old value)
 * is read as the new one, and a deprecation warning names what to write instead. When both the old
 * and the new name are set, the new one is used and the old one is reported as ignored.
 */

/** Old key -> the key that replaced it. */
export const RENAMED_KEYS: Readonly<Record<string, string>> = {
  // The keeper's LI.FI payments to providers are "payouts"; "bridge" is the AgentComputeBridge contract.
  BRIDGE_PRIVATE_KEY: "PAYOUT_PRIVATE_KEY",
  BRIDGE_DESTINATIONS: "PAYOUT_DESTINATIONS",
  BRIDGE_MIN_USDC: "PAYOUT_MIN_USDC",
  BRIDGE_MAX_SLIPPAGE: "PAYOUT_MAX_SLIPPAGE",
  BRIDGE_MAX_ATTEMPTS: "PAYOUT_MAX_ATTEMPTS",
  BRIDGE_POLL_S: "PAYOUT_POLL_S",
};

/** Per key: old value -> the value that replaced it. */
export const RENAMED_VALUES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  // The bubblewrap sandbox had three names; "bwrap" now names only its executable.
  LOCAL_PROVIDER: { process: "bubblewrap" },
  EXECUTE_BACKEND: { bwrap: "bubblewrap" },
};

export interface Deprecation {
  /** The old key, or KEY=value for an old value. */
  old: string;
  /** What to write instead (key, or KEY=value). */
  replacement: string;
  message: string;
}

const isSet = (v: unknown) => v !== undefined && v !== "";

/**
 * One source's settings (the environment, or the config file) with old names and values replaced by
 * the current ones. Each source is renamed on its own, so that the environment still wins over the
 * file whichever of the two names each of them uses.
 */
export function applyRenames(
  settings: Readonly<Record<string, unknown>>,
  source: string,
): { settings: Record<string, unknown>; deprecations: Deprecation[] } {
  const out: Record<string, unknown> = { ...settings };
  const deprecations: Deprecation[] = [];
  for (const [old, replacement] of Object.entries(RENAMED_KEYS)) {
    if (!isSet(out[old])) {
      delete out[old];
      continue;
    }
    if (isSet(out[replacement])) {
      deprecations.push({ old, replacement, message: `${old} (${source}) is deprecated and ignored: ${replacement} is set` });
    } else {
      out[replacement] = out[old];
      deprecations.push({ old, replacement, message: `${old} (${source}) is deprecated: use ${replacement}` });
    }
    delete out[old];
  }
  for (const [key, values] of Object.entries(RENAMED_VALUES)) {
    const v = out[key];
    if (typeof v === "string" && Object.prototype.hasOwnProperty.call(values, v)) {
      out[key] = values[v];
      deprecations.push({
        old: `${key}=${v}`,
        replacement: `${key}=${values[v]}`,
        message: `${key}=${v} (${source}) is deprecated: use ${key}=${values[v]}`,
      });
    }
  }
  return { settings: out, deprecations };
}

/** Node's own channel for deprecations (stderr; silenced by --no-deprecation): the logger does not exist yet when settings are read. */
export function emitDeprecationWarning(d: Deprecation): void {
  process.emitWarning(d.message, { type: "DeprecationWarning", code: "AGENTCOMPUTE_RENAMED_SETTING" });
}
