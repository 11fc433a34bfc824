/**
 * What this host offers the bubblewrap sandbox, probed once: where bwrap, prlimit and bash are,
 * which bwrap options exist, the merged-/usr layout, writable cgroups, the seccomp program, and
 * whether the keeper can switch to uid 65534 itself (root) or needs bwrap's user namespace.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { BwrapFeatures, BwrapHostLayout, DEFAULT_LAYOUT, RootEntry } from "./bwrapInvocation";
import { CgroupSupport, detectCgroups } from "./cgroups";
import { buildSeccompFilter } from "./seccomp";

export interface SandboxHost {
  /** Why the sandbox cannot run here; empty when it can. */
  problems: string[];
  bwrapVersion?: string;
  features: BwrapFeatures;
  layout: BwrapHostLayout;
  /** bash closes inherited file descriptors before exec'ing bwrap, and supervises detached workloads. */
  bash: string;
  identity: "spawn" | "userns";
  cgroups?: CgroupSupport;
  seccomp?: Buffer;
}

export interface ProbeOptions {
  /** bwrap binary (default: found on PATH, then /usr/bin/bwrap). */
  bwrap?: string;
  /** false: never use cgroups (rlimit fallbacks only). Default: use them when writable. */
  cgroups?: boolean;
  /** false: no seccomp filter. */
  seccomp?: boolean;
}

function findOnPath(name: string, extra: string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":").filter(Boolean), "/usr/bin", "/bin", "/usr/sbin", ...extra];
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

function rootLayout(): RootEntry[] {
  const root: RootEntry[] = [{ path: "/usr" }];
  for (const d of ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]) {
    try {
      const st = fs.lstatSync(d);
      if (st.isSymbolicLink()) root.push({ path: d, symlink: fs.readlinkSync(d) });
      else if (st.isDirectory()) root.push({ path: d });
    } catch {
      // absent on this host
    }
  }
  return root;
}

export function probeSandboxHost(opts: ProbeOptions = {}): SandboxHost {
  const problems: string[] = [];
  const bwrap = opts.bwrap ?? findOnPath("bwrap");
  let help = "";
  let bwrapVersion: string | undefined;
  if (!bwrap) problems.push("bubblewrap is not installed (apt-get install bubblewrap)");
  else {
    try {
      help = execFileSync(bwrap, ["--help"], { encoding: "utf8", env: {}, timeout: 5000 });
      bwrapVersion = execFileSync(bwrap, ["--version"], { encoding: "utf8", env: {}, timeout: 5000 }).trim();
    } catch (e) {
      problems.push(`${bwrap} does not run: ${(e as Error).message}`);
    }
  }
  const prlimit = ["/usr/bin/prlimit"].find((p) => fs.existsSync(p));
  if (!prlimit) problems.push("prlimit (util-linux) not found at /usr/bin/prlimit");
  const bash = ["/bin/bash", "/usr/bin/bash"].find((p) => fs.existsSync(p));
  if (!bash) problems.push("bash not found");
  const root = rootLayout();
  const layout: BwrapHostLayout = {
    ...DEFAULT_LAYOUT,
    bwrap: bwrap ?? DEFAULT_LAYOUT.bwrap,
    prlimit: prlimit ?? DEFAULT_LAYOUT.prlimit,
    root,
  };
  return {
    problems,
    bwrapVersion,
    features: { disableUserns: help.includes("--disable-userns"), tmpfsSize: /^\s*--size\b/m.test(help) },
    layout,
    bash: bash ?? "/bin/bash",
    identity: process.getuid?.() === 0 ? "spawn" : "userns",
    cgroups: opts.cgroups === false ? undefined : detectCgroups(),
    seccomp: opts.seccomp === false ? undefined : buildSeccompFilter(),
  };
}

let cached: SandboxHost | undefined;

/** The probe with default options, done once per process. */
export function sandboxHost(): SandboxHost {
  cached ??= probeSandboxHost();
  return cached;
}
