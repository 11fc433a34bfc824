/**
 * Every provider this keeper can use, by name, and the on-chain provider ids they serve
 * (AgentCompute: SPHERON=0, AKASH=1, IONET=2). A cloud provider is configured by its API key; an id
 * whose provider is not configured is served by the operator's own hardware (the local provider),
 * as before failover existed.
 */
import type { KeeperConfig } from "../config";
import type { Logger } from "../log";
import type { ComputeProvider } from "./provider";
import { SpheronProvider } from "./spheron";
import { IonetProvider } from "./ionet";
import { createAkashProvider } from "./akash";
import type { Store } from "../store/store";
import { currentProviderName } from "./renamed";

/** On-chain provider id -> provider name. Ids added by the admin later map to names here. */
export const PROVIDER_IDS: Record<number, string> = { 0: "spheron", 1: "akash", 2: "ionet" };

/** Names an agent may write in its config's `providers` list for the operator's own hardware (current names: renamed.ts). */
const LOCAL_ALIASES = ["local", "docker", "bubblewrap"];

export class ProviderRegistry {
  private readonly byName = new Map<string, ComputeProvider>();

  constructor(
    readonly local: ComputeProvider,
    cloud: ComputeProvider[],
  ) {
    for (const p of cloud) this.byName.set(p.name, p);
    this.byName.set(local.name, local);
  }

  /**
   * The provider with this name (an old name, as an existing database may record it, finds the
   * renamed provider); a name no longer configured falls back to the local provider.
   */
  get(name: string | null | undefined): ComputeProvider {
    return (name && this.byName.get(currentProviderName(name))) || this.local;
  }

  has(name: string): boolean {
    return this.byName.has(currentProviderName(name));
  }

  /** The name serving an on-chain provider id. */
  nameForId(id: number): string {
    const n = PROVIDER_IDS[id];
    return n && this.byName.has(n) ? n : this.local.name;
  }

  forId(id: number): ComputeProvider {
    return this.get(this.nameForId(id));
  }

  /** An agent's provider name to a configured one (local aliases -> the local provider), or undefined. */
  resolve(name: string): string | undefined {
    const current = currentProviderName(name);
    if (LOCAL_ALIASES.includes(current)) return this.local.name;
    return this.byName.has(current) ? current : undefined;
  }

  isCloud(name: string): boolean {
    const current = currentProviderName(name);
    return current !== this.local.name && this.byName.has(current);
  }

  all(): ComputeProvider[] {
    return [...new Set(this.byName.values())];
  }

  /** For Keeper's id-keyed map (health and orphan clean-up). */
  idMap(): Map<number, ComputeProvider> {
    const m = new Map<number, ComputeProvider>();
    for (const [id, n] of Object.entries(PROVIDER_IDS)) if (this.byName.has(n)) m.set(Number(id), this.byName.get(n)!);
    return m;
  }
}

/** The cloud providers whose keys are configured. */
export function cloudProviders(cfg: KeeperConfig, log: Logger, store?: Store): ComputeProvider[] {
  const out: ComputeProvider[] = [];
  const akash = createAkashProvider(cfg, log, store);
  if (akash) {
    out.push(akash);
    log.info({ url: cfg.AKASH_REST_URL }, "provider akash configured");
  }
  const common = {
    requestTimeoutMs: cfg.PROVIDER_REQUEST_TIMEOUT_MS,
    startDeadlineMs: cfg.PROVIDER_START_DEADLINE_MS,
    pollMs: cfg.PROVIDER_POLL_MS,
  };
  if (cfg.SPHERON_API_KEY) {
    out.push(
      new SpheronProvider({
        apiUrl: cfg.SPHERON_API_URL,
        apiKey: cfg.SPHERON_API_KEY,
        instanceType: cfg.SPHERON_INSTANCE_TYPE,
        sshKeyId: cfg.SPHERON_SSH_KEY_ID,
        operatingSystem: cfg.SPHERON_OS,
        ...common,
      }),
    );
    log.info({ url: cfg.SPHERON_API_URL }, "provider spheron configured");
  }
  if (cfg.IONET_API_KEY) {
    out.push(
      new IonetProvider({
        apiUrl: cfg.IONET_API_URL,
        apiKey: cfg.IONET_API_KEY,
        hardwareId: cfg.IONET_HARDWARE_ID,
        locationIds: cfg.IONET_LOCATION_IDS.split(",").map(Number),
        gpusPerContainer: cfg.IONET_GPUS_PER_CONTAINER,
        trafficPort: 8080,
        ...common,
      }),
    );
    log.info({ url: cfg.IONET_API_URL }, "provider ionet configured");
  }
  return out;
}
