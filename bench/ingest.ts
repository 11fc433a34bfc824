/**
 * Backlog replay: how fast the keeper ingests a chain holding 10,000 session events.
 * Builds the backlog on a real local chain (hardhat node child), then times the EventReader from the
 * deploy block to the head (eth_getLogs in ranges, SQLite inserts), and then the lifecycle applying
 * those events to the session state machine. Target: at least 2,000 events/s ingested.
 *
 *   npm run bench:ingest            (EVENTS=10000 RANGE=2000 by default)
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { JsonRpcProvider, toUtf8Bytes } from "ethers";
import pino from "pino";
import { deployLocal, devWallet, startLocalChain } from "../localnet/chain";
import { EventReader } from "../keeper/chain/eventReader";
import { SessionLifecycle } from "../keeper/sessions/lifecycle";
import { openStore } from "../keeper/store/store";
import { BulkAgent__factory, LocalUSDC__factory } from "../typechain-types";
import type { ComputeProvider } from "../keeper/providers/provider";

const EVENTS = Number(process.env.EVENTS ?? 10_000);
const RANGE = Number(process.env.RANGE ?? 2_000);
const PER_TX = 250;

async function main() {
  const chain = await startLocalChain(8611, 0);
  try {
    const d = await deployLocal(chain.rpcUrl);
    const rpc = new JsonRpcProvider(chain.rpcUrl, d.chainId, { staticNetwork: true, cacheTimeout: -1 });
    const deployer = devWallet(0).connect(rpc);
    const bulk = await new BulkAgent__factory(deployer).deploy();
    await bulk.waitForDeployment();
    await (await LocalUSDC__factory.connect(d.contracts.USDC, deployer).mint(await bulk.getAddress(), 10n ** 15n)).wait();
    const t0 = Date.now();
    const config = toUtf8Bytes('{"command":["true"]}');
    for (let made = 0; made < EVENTS; made += PER_TX) {
      await (
        await bulk.startMany(d.contracts.AgentCompute, d.contracts.USDC, Math.min(PER_TX, EVENTS - made), 3600, 0, config, {
          gasLimit: 29_000_000,
        })
      ).wait();
    }
    const head = await rpc.getBlockNumber();
    console.log(
      `backlog: ${EVENTS} SessionStarted events in ${head - d.startBlock} blocks, built in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-ingest-"));
    const store = openStore(path.join(dir, "keeper.sqlite"));
    const log = pino({ level: "silent" });
    const reader = new EventReader(
      store,
      rpc,
      {
        compute: d.contracts.AgentCompute,
        bridge: d.contracts.AgentComputeBridge,
        startBlock: d.startBlock,
        confirmations: 0,
        range: RANGE,
        reorgWindow: 256,
      },
      log,
    );
    const t1 = performance.now();
    let stored = 0;
    for (;;) {
      const step = await reader.step();
      stored += step.ingested;
      if (step.caughtUp) break;
    }
    const ingestS = (performance.now() - t1) / 1000;
    const started = await store.events.countNamed("SessionStarted");
    if (started !== EVENTS) throw new Error(`expected ${EVENTS} SessionStarted events, stored ${started}`);

    const unused = {} as ComputeProvider; // applying events never calls a provider
    const lifecycle = new SessionLifecycle(
      store,
      { providerFor: () => unused, claimIntervalSeconds: 600, provisionTimeoutSeconds: 300 },
      log,
    );
    const t2 = performance.now();
    let applied = 0;
    for (let n; (n = await lifecycle.applyEvents()) > 0;) applied += n;
    const applyS = (performance.now() - t2) / 1000;

    console.log(
      `ingest:  ${stored} events in ${ingestS.toFixed(2)} s = ${Math.round(stored / ingestS)} events/s (eth_getLogs range ${RANGE}, SQLite file, WAL, synchronous=FULL)`,
    );
    console.log(
      `apply:   ${applied} events to the session state machine in ${applyS.toFixed(2)} s = ${Math.round(applied / applyS)} events/s`,
    );
    console.log(`total:   ${Math.round(stored / (ingestS + applyS))} events/s ingested and applied (target >= 2000/s ingested)`);
    rpc.destroy();
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  } finally {
    await chain.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
