/**
 * The operator's own hardware: Docker when configured or reachable, else the bubblewrap process
 * sandbox (design.md: the embedded default uses the process provider where Docker is absent).
 */
import path from "node:path";
import type { KeeperConfig } from "../config";
import type { Logger } from "../log";
import type { ComputeProvider } from "./provider";
import { ProcessProvider } from "./process";

export async function chooseLocalProvider(cfg: KeeperConfig, log: Logger): Promise<ComputeProvider> {
  const processProvider = () => new ProcessProvider({ stateDir: path.join(cfg.DATA_DIR, "process-provider") });
  if (cfg.LOCAL_PROVIDER === "docker") {
    throw new Error("LOCAL_PROVIDER=docker: the Docker provider is not available in this build");
  }
  const p = processProvider();
  const health = await p.health();
  if (!health.ok) log.warn({ detail: health.detail }, "the process provider's sandbox check failed: sessions will fail to provision and be refunded");
  return p;
}
