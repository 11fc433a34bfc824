/**
 * Provider names that were renamed, old -> current. Old names stay readable for good: agents'
 * workload configs on chain are immutable and may still name them, and existing databases record
 * them (sessions.provider, provision_attempts.provider).
 */
export const RENAMED_PROVIDERS: Readonly<Record<string, string>> = {
  // The bubblewrap sandbox provider was called "process".
  process: "bubblewrap",
};

/** The current name for `name` (itself when it was never renamed). */
export function currentProviderName(name: string): string {
  return Object.prototype.hasOwnProperty.call(RENAMED_PROVIDERS, name) ? RENAMED_PROVIDERS[name] : name;
}
