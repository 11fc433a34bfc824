/**
 * The isolation layer shared by the session providers (bubblewrap, and docker: hardened
 * HostConfig) and the code-execution API (runSandboxed). See sandboxSpec.ts for the checklist.
 */
export { createSandboxSpec, sandboxEnv, InvalidSandboxSpec, SANDBOX_UID, SANDBOX_GID, MiB } from "./sandboxSpec";
export type { SandboxSpec, SandboxSpecInput, Bind } from "./sandboxSpec";
export { buildBwrapInvocation, prlimitArgs } from "./bwrapInvocation";
export type { AppliedLimits, BwrapOptions, BwrapInvocation } from "./bwrapInvocation";
export { buildDockerHostConfig, buildDockerCreateOptions } from "./dockerConfig";
export { probeSandboxHost, sandboxHost } from "./host";
export type { SandboxHost } from "./host";
export { runSandboxed, launchDetached, writeDeadline, SandboxError } from "./launch";
export type { RunOptions, RunResult, DetachedLaunchRequest, DetachedSandbox } from "./launch";
