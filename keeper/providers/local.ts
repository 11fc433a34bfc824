/**
 * The operator's own hardware: the Docker provider when LOCAL_PROVIDER=docker, or (auto) when an
 * engine answers at DOCKER_HOST or at scripts/docker-engine.sh's socket under DATA_DIR; otherwise
 * the bubblewrap sandbox (design.md: the embedded default uses it where Docker is absent).
 */
import fs from "node:fs";
import path from "node:path";
import type { KeeperConfig } from "../config";
import type { Logger } from "../log";
import type { ComputeProvider } from "./provider";
import { BubblewrapProvider } from "./bubblewrap";
import { DockerProvider } from "./docker";

/** Where `scripts/docker-engine.sh start` puts its socket by default (relative to DATA_DIR's parent, ./data). */
function defaultDockerHost(cfg: KeeperConfig): string | undefined {
  const sock = path.resolve(cfg.DATA_DIR, "docker-engine", "docker.sock");
  try {
    return fs.statSync(sock).isSocket() ? `unix://${sock}` : undefined;
  } catch {
    return undefined;
  }
}

export async function chooseLocalProvider(cfg: KeeperConfig, log: Logger): Promise<ComputeProvider> {
  if (cfg.LOCAL_PROVIDER !== "bubblewrap") {
    const dockerHost = cfg.DOCKER_HOST ?? defaultDockerHost(cfg);
    if (dockerHost) {
      const docker = new DockerProvider({ dockerHost });
      const health = await docker.health();
      if (health.ok) {
        log.info({ dockerHost }, "local provider: docker");
        return docker;
      }
      if (cfg.LOCAL_PROVIDER === "docker") {
        log.warn(
          { dockerHost, detail: health.detail },
          "LOCAL_PROVIDER=docker but the engine is not healthy: sessions fail to provision and are refunded until it is",
        );
        return docker;
      }
      log.info({ dockerHost, detail: health.detail }, "no usable Docker engine: using the bubblewrap sandbox");
    } else if (cfg.LOCAL_PROVIDER === "docker") {
      throw new Error("LOCAL_PROVIDER=docker needs DOCKER_HOST (or an engine started with scripts/docker-engine.sh)");
    }
  }
  // The state directory keeps the provider's first name: workloads started before the rename are
  // found there (their records), and a renamed directory would lose them.
  const p = new BubblewrapProvider({ stateDir: path.join(cfg.DATA_DIR, "process-provider") });
  const health = await p.health();
  if (!health.ok)
    log.warn({ detail: health.detail }, "the bubblewrap provider's sandbox check failed: sessions will fail to provision and be refunded");
  else log.info("local provider: bubblewrap");
  return p;
}
