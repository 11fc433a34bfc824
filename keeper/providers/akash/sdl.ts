/**
 * The session's workload as an Akash SDL (v2.0), validated by the SDK's own SDL class, with the
 * deployment groups (MsgCreateDeployment.groups), the manifest (sent to the provider) and its version
 * hash (MsgCreateDeployment.hash; the provider rejects a manifest whose hash differs).
 *
 * The SDL is written as JSON, which is YAML 1.2, so no YAML emitter is needed and nothing the agent
 * wrote is ever interpolated into YAML syntax.
 */
import { chainSdk, type SdlInstance } from "./sdk";
import type { WorkloadSpec } from "../provider";
import { ProvisionError } from "../provider";

/** Fields of a workload only cloud providers use. Optional: absent means none. */
export interface AkashWorkloadExtras {
  /** GPU units and (optionally) model; vendor nvidia unless said otherwise. */
  gpu?: { count: number; model?: string; vendor?: "nvidia" | "amd" };
  /** Ephemeral storage in MiB. Default 1024. */
  storageMb?: number;
  /** Container ports exposed globally (as the same port number). */
  ports?: number[];
}

export type AkashWorkload = WorkloadSpec & AkashWorkloadExtras;

export const SERVICE = "app";
export const PLACEMENT = "akash";
export const DENOM = "uakt";

export interface BuiltSdl {
  sdl: SdlInstance;
  /** The SDL text (JSON, a YAML subset). */
  text: string;
  /** Deployment groups for MsgCreateDeployment (SDK's proto-shaped objects). */
  groups: unknown[];
  /** Manifest JSON exactly as sent to the provider (sorted keys). */
  manifestJson: string;
  /** sha256 of the sorted manifest: the deployment's version hash. */
  hash: Uint8Array;
}

export class InvalidSdl extends ProvisionError {
  readonly code = "AKASH_SDL_INVALID";
  constructor(message: string) {
    super(`AKASH_SDL_INVALID: ${message}`, false);
  }
}

const IMAGE = /^[a-z0-9][a-z0-9._/:@-]{0,255}$/i;

/** The SDL document for a workload; `maxPricePerBlock` (uakt) is the placement's price ceiling. */
export function sdlDocument(
  spec: AkashWorkload,
  maxPricePerBlock: number,
  attributes: Record<string, string> = {},
  auditors: string[] = [],
): Record<string, unknown> {
  if (!spec.image) throw new InvalidSdl("akash needs a container image");
  if (!IMAGE.test(spec.image)) throw new InvalidSdl("not an image reference");
  if (!(spec.cpu > 0 && spec.cpu <= 256)) throw new InvalidSdl("cpu out of range");
  if (!(Number.isInteger(spec.memoryMb) && spec.memoryMb >= 16)) throw new InvalidSdl("memoryMb out of range");
  const storageMb = spec.storageMb ?? 1024;
  if (!(Number.isInteger(storageMb) && storageMb >= 1)) throw new InvalidSdl("storageMb out of range");
  const ports = spec.ports ?? [];
  if (ports.length > 16 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) throw new InvalidSdl("ports out of range");
  if (new Set(ports).size !== ports.length) throw new InvalidSdl("duplicate port");
  for (const [k, v] of Object.entries(spec.env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new InvalidSdl(`invalid variable name`);
    if (/[\0\n]/.test(v)) throw new InvalidSdl(`invalid variable value`);
  }
  const resources: Record<string, unknown> = {
    cpu: { units: spec.cpu },
    memory: { size: `${spec.memoryMb}Mi` },
    storage: [{ size: `${storageMb}Mi` }],
  };
  if (spec.gpu && spec.gpu.count > 0) {
    if (!Number.isInteger(spec.gpu.count) || spec.gpu.count > 64) throw new InvalidSdl("gpu count out of range");
    const vendor = spec.gpu.vendor ?? "nvidia";
    if (spec.gpu.model !== undefined && !/^[a-z0-9][a-z0-9-]{0,31}$/.test(spec.gpu.model)) throw new InvalidSdl("invalid gpu model");
    resources.gpu = { units: spec.gpu.count, attributes: { vendor: { [vendor]: spec.gpu.model ? [{ model: spec.gpu.model }] : [] } } };
  }
  const service: Record<string, unknown> = {
    image: spec.image,
    env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    expose: ports.map((p) => ({ port: p, as: p, to: [{ global: true }] })),
  };
  if (spec.command?.length) {
    service.command = [spec.command[0]];
    if (spec.command.length > 1) service.args = spec.command.slice(1);
  }
  const placement: Record<string, unknown> = { pricing: { [SERVICE]: { denom: DENOM, amount: maxPricePerBlock } } };
  if (Object.keys(attributes).length) placement.attributes = attributes;
  if (auditors.length) placement.signedBy = { anyOf: auditors };
  return {
    version: "2.0",
    services: { [SERVICE]: service },
    profiles: { compute: { [SERVICE]: { resources } }, placement: { [PLACEMENT]: placement } },
    deployment: { [SERVICE]: { [PLACEMENT]: { profile: SERVICE, count: 1 } } },
  };
}

/** Builds and validates the SDL with the SDK; any SDK validation error is a non-retryable InvalidSdl. */
export async function buildSdl(
  spec: AkashWorkload,
  maxPricePerBlock: number,
  attributes: Record<string, string> = {},
  auditors: string[] = [],
): Promise<BuiltSdl> {
  const text = JSON.stringify(sdlDocument(spec, maxPricePerBlock, attributes, auditors), null, 2);
  return fromSdlText(text);
}

export async function fromSdlText(text: string): Promise<BuiltSdl> {
  let sdl: SdlInstance;
  try {
    sdl = chainSdk.SDL.fromString(text, "beta3", "mainnet");
  } catch (err) {
    throw new InvalidSdl((err as Error).message.slice(0, 300));
  }
  const groups = sdl.groups();
  const manifestJson = sdl.manifestSortedJSON();
  const hash = await sdl.manifestVersion();
  return { sdl, text, groups, manifestJson, hash: new Uint8Array(hash) };
}
