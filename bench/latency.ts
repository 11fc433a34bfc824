/**
 * Latency from a confirmed SessionStarted to the provider's provision call.
 *
 * For each sample the agent starts a session, then the benchmark mines the confirmation blocks and
 * takes the time the last one is mined as "confirmed". The keeper (in process, real chain, real
 * SQLite file) finds it on its next poll, applies it and calls the provider; a wrapper around the
 * provider records the call. Reported: p50 / p99 of that delay, and of the keeper's own share (from
 * applying the event to the call), with the poll interval stated. Target: p50 under 100 ms.
 *
 *   npm run bench:latency            (SAMPLES=50 POLL_MS=50 CONFIRMATIONS=3)
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { JsonRpcProvider, Wallet, toUtf8Bytes } from "ethers";
import pino from "pino";
import { deployLocal, devWallet, startLocalChain } from "../localnet/chain";
import { Keeper } from "../keeper/keeper";
import { createMetrics } from "../keeper/metrics";
import { openStore } from "../keeper/store/store";
import type { ComputeProvider, ProvisionRequest } from "../keeper/providers/provider";
import { AgentCompute__factory, LocalUSDC__factory } from "../typechain-types";

const SAMPLES = Number(process.env.SAMPLES ?? 50);
const POLL_MS = Number(process.env.POLL_MS ?? 50);
const CONFIRMATIONS = Number(process.env.CONFIRMATIONS ?? 3);

/** A provider that only records when it is asked to provision: the benchmark stops at the call. */
class RecordingProvider implements ComputeProvider {
  readonly name = "recording";
  readonly calls = new Map<string, number>();
  async quote() {
    return { pricePerHour: 0n, available: true };
  }
  async provision(req: ProvisionRequest) {
    if (!this.calls.has(req.idempotencyKey)) this.calls.set(req.idempotencyKey, performance.now());
    return { ref: "bench", created: true };
  }
  async status() {
    return { state: "running" as const, ref: "bench" };
  }
  async extend() {}
  async terminate() {}
  async health() {
    return { ok: true };
  }
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function main() {
  const chain = await startLocalChain(8621, 0);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-latency-"));
  try {
    const d = await deployLocal(chain.rpcUrl);
    const rpc = new JsonRpcProvider(chain.rpcUrl, d.chainId, { staticNetwork: true, cacheTimeout: -1, batchStallTime: 0 });
    const agent = new Wallet(devWallet(3).privateKey, rpc);
    const compute = AgentCompute__factory.connect(d.contracts.AgentCompute, agent);
    await (await LocalUSDC__factory.connect(d.contracts.USDC, agent).approve(d.contracts.AgentCompute, 10n ** 15n)).wait();

    const provider = new RecordingProvider();
    const metrics = createMetrics();
    const keeper = new Keeper(
      openStore(path.join(dir, "keeper.sqlite")),
      rpc,
      new Wallet(devWallet(1).privateKey),
      { chainId: d.chainId, compute: d.contracts.AgentCompute, bridge: d.contracts.AgentComputeBridge, startBlock: d.startBlock },
      new Map(),
      provider,
      {
        confirmations: CONFIRMATIONS,
        logRange: 2000,
        reorgWindow: 256,
        pollIntervalMs: POLL_MS,
        claimIntervalSeconds: 3600,
        provisionTimeoutSeconds: 300,
        bumpAfterSeconds: 30,
      },
      pino({ level: "silent" }),
      metrics,
    );
    keeper.start();
    const config = toUtf8Bytes('{"command":["true"]}');
    const endToEnd: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const receipt = (await (await compute.startSession(3600, 0, config)).wait())!;
      const id = compute.interface.parseLog(
        receipt.logs.find((l) => l.topics[0] === compute.interface.getEvent("SessionStarted").topicHash)!,
      )!.args.instanceId as string;
      await new Promise((r) => setTimeout(r, Math.random() * POLL_MS)); // desynchronise from the poll
      await rpc.send("hardhat_mine", [`0x${CONFIRMATIONS.toString(16)}`]);
      const confirmedAt = performance.now();
      const key = `s-${id.slice(2)}-${receipt.hash.slice(2, 14)}`;
      const deadline = Date.now() + 10_000;
      while (!provider.calls.has(key)) {
        if (Date.now() > deadline) throw new Error(`no provision call for sample ${i}`);
        await new Promise((r) => setTimeout(r, 1));
      }
      endToEnd.push(provider.calls.get(key)! - confirmedAt);
    }
    await keeper.stop();
    const own = await metrics.startToProvision.get();
    const sum = own.values.find((v) => v.metricName === "keeper_start_to_provision_seconds_sum")!.value;
    const count = own.values.find((v) => v.metricName === "keeper_start_to_provision_seconds_count")!.value;
    console.log(`samples ${SAMPLES}, confirmations ${CONFIRMATIONS}, keeper poll interval ${POLL_MS} ms`);
    console.log(
      `confirmed SessionStarted -> provision call: p50 ${pct(endToEnd, 50).toFixed(1)} ms, p99 ${pct(endToEnd, 99).toFixed(1)} ms, max ${Math.max(...endToEnd).toFixed(1)} ms (target p50 < 100 ms)`,
    );
    console.log(
      `of which the keeper's own work (event applied -> provision call): mean ${((sum / count) * 1000).toFixed(2)} ms over ${count} sessions`,
    );
    rpc.destroy();
  } finally {
    await chain.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
