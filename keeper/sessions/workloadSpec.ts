/**
 * A session's `config` bytes, as the agent wrote them on chain: UTF-8 JSON describing the workload.
 * Untrusted input: validated strictly, and a session whose config does not parse is refunded.
 */
import { toUtf8String } from "ethers";
import { z } from "zod";
import type { WorkloadSpec } from "../providers/provider";
import { currentProviderName } from "../providers/renamed";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export const WorkloadConfigSchema = z
  .object({
    image: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[a-z0-9][a-z0-9._/:@-]*$/i, "not an image reference")
      .optional(),
    command: z.array(z.string().max(4096)).min(1).max(64).optional(),
    cpu: z.number().positive().max(64).default(1),
    memoryMb: z.number().int().min(16).max(262_144).default(256),
    env: z
      .record(z.string().regex(ENV_NAME, "invalid variable name"), z.string().max(4096))
      .refine((e) => Object.keys(e).length <= 64, "at most 64 variables")
      .default({}),
    gpu: z
      .object({
        count: z.number().int().min(1).max(16),
        model: z
          .string()
          .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "a lower-case model name such as a100 or h100")
          .optional(),
        vendor: z.enum(["nvidia", "amd"]).optional(),
      })
      .strict()
      .optional(),
    storageMb: z.number().int().min(64).max(1_048_576).optional(),
    ports: z.array(z.number().int().min(1).max(65535)).min(1).max(16).optional(),
    /**
     * Providers the agent allows, in its order of preference, after the one it paid for on chain:
     * failover tries them when that one cannot provision (spheron, akash, ionet, local/docker/bubblewrap).
     * "process", bubblewrap's old name, is read as "bubblewrap": configs on chain cannot be changed.
     */
    providers: z
      .array(z.enum(["spheron", "akash", "ionet", "local", "docker", "bubblewrap", "process"]).transform(currentProviderName))
      .min(1)
      .max(8)
      .optional(),
  })
  .strict()
  .refine((c) => c.image !== undefined || c.command !== undefined, "needs an image or a command");

export class InvalidWorkloadConfig extends Error {
  name = "InvalidWorkloadConfig";
}

export function parseWorkloadConfig(configHex: string): WorkloadSpec & { providers?: string[] } {
  let json: unknown;
  try {
    json = JSON.parse(toUtf8String(configHex));
  } catch {
    throw new InvalidWorkloadConfig("config is not UTF-8 JSON");
  }
  const parsed = WorkloadConfigSchema.safeParse(json);
  if (!parsed.success) {
    throw new InvalidWorkloadConfig(parsed.error.issues.map((i) => `${i.path.join(".") || "config"}: ${i.message}`).join("; "));
  }
  return parsed.data;
}
