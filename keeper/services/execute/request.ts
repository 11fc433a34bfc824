/**
 * POST /api/v1/execute request (design.md section 5, fixed wire format) and its price tier.
 * timeout is in seconds (the spec's tiers are in seconds), memory_mb in MiB.
 */
import { z } from "zod";
import { ServiceError } from "../jobService";

export const LANGUAGES = ["python", "javascript", "bash"] as const;
export type Language = (typeof LANGUAGES)[number];

/** Code goes to the interpreter as one argv string (-c / -e): Linux caps one argument at 128 KiB. */
export const MAX_CODE_BYTES = 100_000;

export const ExecuteRequestSchema = z
  .object({
    job_id: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9_.:-]+$/, "letters, digits and _.:- only"),
    language: z.enum(LANGUAGES),
    code: z
      .string()
      .min(1)
      .refine((c) => Buffer.byteLength(c, "utf8") <= MAX_CODE_BYTES, `code is larger than ${MAX_CODE_BYTES} bytes`)
      .refine((c) => !c.includes("\0"), "code must not contain NUL"),
    /** Seconds; the extended tier allows up to 60. */
    timeout: z.number().positive().max(60).default(5),
    /** MiB; the extended tier allows up to 512. */
    memory_mb: z.number().int().min(16).max(512).default(128),
  })
  .strict();

export type ExecuteRequest = z.infer<typeof ExecuteRequestSchema>;

export type Tier = "quick" | "standard" | "extended";

/** quick: timeout <= 5 s and memory <= 128 MB; standard: <= 30 s, <= 256 MB; extended: <= 60 s, <= 512 MB. */
export function tierOf(req: Pick<ExecuteRequest, "timeout" | "memory_mb">): Tier {
  if (req.timeout <= 5 && req.memory_mb <= 128) return "quick";
  if (req.timeout <= 30 && req.memory_mb <= 256) return "standard";
  return "extended";
}

export function parseExecuteRequest(body: unknown): ExecuteRequest {
  const r = ExecuteRequestSchema.safeParse(body);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`);
    throw new ServiceError("INVALID_REQUEST", `invalid execute request: ${problems.join("; ")}`, 400, { problems });
  }
  return r.data;
}
