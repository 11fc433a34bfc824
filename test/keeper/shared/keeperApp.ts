/** An in-process keeper on a test chain, with a private data directory and fast polling. */
import fs from "node:fs";
import path from "node:path";
import { toUtf8Bytes } from "ethers";
import { ConfigSchema } from "../../../keeper/config";
import { startApp, App } from "../../../keeper/app";
import { devWallet } from "../../../localnet/chain";
import { TestChain, tempDir } from "./chain";

export function keeperEnv(t: TestChain, dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  const deploymentFile = path.join(dataDir, "deployment.json");
  fs.writeFileSync(deploymentFile, JSON.stringify(t.deployment));
  return {
    RPC_URL: t.chain.rpcUrl,
    KEEPER_PRIVATE_KEY: devWallet(1).privateKey,
    DEPLOYMENT_FILE: deploymentFile,
    DATA_DIR: dataDir,
    CONFIRMATIONS: "2",
    POLL_INTERVAL_MS: "50",
    LOCAL_PROVIDER: "bubblewrap",
    HTTP_PORT: "0",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    ...extra,
  };
}

export async function startTestKeeper(t: TestChain, extra: Record<string, string> = {}): Promise<App & { dataDir: string }> {
  const dataDir = tempDir();
  const cfg = ConfigSchema.parse(keeperEnv(t, dataDir, extra));
  const app = await startApp(cfg, { listen: true });
  return Object.assign(app, { dataDir });
}

export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts a session paid in USDC by the test agent; returns its instance id. */
export async function startSession(t: TestChain, config: string | Uint8Array, duration = 3600, provider = 0): Promise<string> {
  const c = t.compute();
  await (await t.usdc().approve(await c.getAddress(), 10n ** 12n)).wait();
  const receipt = await (await c.startSession(duration, provider, typeof config === "string" ? toUtf8Bytes(config) : config)).wait();
  const ev = receipt!.logs.map((l) => c.interface.parseLog(l)).find((e) => e?.name === "SessionStarted")!;
  return ev.args.instanceId;
}
