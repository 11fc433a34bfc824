import { expect } from "chai";
import { toUtf8Bytes } from "ethers";
import { EventReader } from "../../../keeper/chain/eventReader";
import { openDatabase, DB } from "../../../keeper/store/db";
import { Store } from "../../../keeper/store/store";
import { startTestChain, TestChain, silentLog, CONFIG } from "../shared/chain";

const HOUR = 3600;

describe("keeper EventReader", function () {
  let t: TestChain;
  let db: DB;

  before(async () => {
    t = await startTestChain();
  });
  after(async () => t.stop());
  beforeEach(() => {
    db = openDatabase(":memory:");
  });
  afterEach(() => db.close());

  function reader(confirmations = 3, range = 2_000) {
    return new EventReader(
      new Store(db),
      t.rpc,
      {
        compute: t.deployment.contracts.AgentCompute,
        bridge: t.deployment.contracts.AgentComputeBridge,
        startBlock: t.deployment.startBlock,
        confirmations,
        range,
        reorgWindow: 64,
      },
      silentLog,
    );
  }
  /** Starts a session; returns the transaction hash (instance ids can repeat across a reorg). */
  async function start(): Promise<string> {
    const c = t.compute();
    await (await t.usdc().approve(await c.getAddress(), 10n ** 12n)).wait();
    const receipt = await (await c.startSession(HOUR, 0, toUtf8Bytes(CONFIG))).wait();
    return receipt!.hash;
  }
  const events = () =>
    db.prepare("SELECT name, tx_hash, status FROM events ORDER BY block_number, log_index").all() as {
      name: string;
      tx_hash: string;
      status: string;
    }[];
  async function drain(r: EventReader) {
    for (let i = 0; i < 1000; i++) if ((await r.step()).caughtUp) return;
    throw new Error("reader never caught up");
  }

  it("stores an event only once it has the configured confirmations", async () => {
    const r = reader(3);
    await drain(r);
    const id = await start();
    await drain(r);
    expect(events().filter((e) => e.tx_hash === id)).to.have.length(0);
    await t.mine(2);
    await drain(r);
    expect(events().filter((e) => e.tx_hash === id)).to.have.length(0);
    await t.mine(1);
    await drain(r);
    expect(
      events()
        .filter((e) => e.tx_hash === id)
        .map((e) => e.name),
    ).to.deep.equal(["SessionStarted"]);
  });

  it("never stores a log twice, even when the cursor is moved back and blocks are read again", async () => {
    const r = reader(0);
    await start();
    await drain(r);
    const before = events().length;
    expect(before).to.be.greaterThan(0);
    db.prepare("UPDATE meta SET value = ? WHERE key = 'cursor.block'").run(String(t.deployment.startBlock - 1));
    db.prepare("DELETE FROM meta WHERE key = 'cursor.hash'").run();
    await drain(r);
    expect(events().length).to.equal(before);
  });

  it("backfills a backlog after downtime in bounded ranges, in chain order", async () => {
    const r = reader(0, 3);
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await start());
    let steps = 0;
    while (!(await r.step()).caughtUp) steps++;
    expect(steps).to.be.greaterThan(4);
    const started = events()
      .filter((e) => e.name === "SessionStarted")
      .map((e) => e.tx_hash);
    expect(started.slice(-12)).to.deep.equal(ids);
  });

  it("a reorg shallower than the confirmations changes nothing in the database", async () => {
    const r = reader(3);
    await t.mine(3);
    await drain(r);
    const snapshot = await t.rpc.send("evm_snapshot", []);
    const orphan = await start();
    await t.mine(1);
    await drain(r);
    await t.rpc.send("evm_revert", [snapshot]);
    await t.mine(1); // a different block at the same height
    const kept = await start();
    await t.mine(4);
    const result = await r.step();
    await drain(r);
    expect(result.reorg).to.equal(undefined);
    const ids = events().map((e) => e.tx_hash);
    expect(ids).to.include(kept);
    expect(ids).not.to.include(orphan);
  });

  it("a reorg deeper than the confirmations is detected: cursor rewound, orphaned events marked, the new chain read", async () => {
    const r = reader(1);
    await t.mine(2);
    await drain(r);
    const snapshot = await t.rpc.send("evm_snapshot", []);
    const lost = await start();
    await t.mine(2);
    await drain(r);
    expect(events().find((e) => e.tx_hash === lost)?.status).to.equal("new");
    await t.rpc.send("evm_revert", [snapshot]);
    await t.mine(1);
    const replacement = await start();
    await t.mine(5);
    const result = await r.step();
    expect(result.reorg, "reorg reported").to.not.equal(undefined);
    expect(result.reorg!.orphaned).to.be.greaterThan(0);
    await drain(r);
    expect(events().find((e) => e.tx_hash === lost)?.status).to.equal("orphaned");
    expect(events().find((e) => e.tx_hash === replacement)?.status).to.equal("new");
  });

  it("after a deep reorg, an applied event whose transaction is mined again is not applied a second time", async () => {
    const r = reader(1);
    await t.mine(2);
    await drain(r);
    const snapshot = await t.rpc.send("evm_snapshot", []);
    const c = t.compute();
    await (await t.usdc().approve(await c.getAddress(), 10n ** 12n)).wait();
    const nonce = await t.rpc.getTransactionCount(t.agent.address);
    const signed = await t.agent.signTransaction(
      await t.agent.populateTransaction({
        to: await c.getAddress(),
        data: c.interface.encodeFunctionData("startSession", [HOUR, 0, toUtf8Bytes(CONFIG)]),
        nonce,
        gasLimit: 500_000,
      }),
    );
    const hash = await t.rpc.send("eth_sendRawTransaction", [signed]);
    await t.mine(2);
    await drain(r);
    db.prepare("UPDATE events SET status = 'applied', applied_at = 1 WHERE tx_hash = ?").run(hash);
    await t.rpc.send("evm_revert", [snapshot]);
    await t.mine(1); // the old transaction lands one block later than before: a different chain
    await (await t.usdc().approve(await c.getAddress(), 10n ** 12n)).wait();
    await t.rpc.send("eth_sendRawTransaction", [signed]);
    await t.mine(3);
    await drain(r);
    const rows = db.prepare("SELECT status FROM events WHERE tx_hash = ?").all(hash) as { status: string }[];
    expect(rows.map((x) => x.status)).to.deep.equal(["applied"]);
  });
});

describe("keeper EventReader behind a faulty RPC", function () {
  it("with drops, delays and errors on a third of requests, ingests every event exactly once", async () => {
    const { startFaultyRpc } = await import("../shared/faultyRpc");
    const { JsonRpcProvider } = await import("ethers");
    const t = await startTestChain();
    const proxy = await startFaultyRpc(t.chain.rpcUrl, { drop: 0.1, error500: 0.1, rpcError: 0.1, delay: 0.2, delayMs: 100 });
    const db = openDatabase(":memory:");
    try {
      const c = t.compute();
      await (await t.usdc().approve(await c.getAddress(), 10n ** 12n)).wait();
      const hashes: string[] = [];
      for (let i = 0; i < 15; i++) hashes.push((await (await c.startSession(HOUR, 0, toUtf8Bytes(CONFIG))).wait())!.hash);
      await t.mine(3);
      const rpc = new JsonRpcProvider(proxy.url, t.deployment.chainId, { staticNetwork: true, cacheTimeout: -1, batchMaxCount: 1 });
      const r = new EventReader(
        new Store(db),
        rpc,
        { compute: t.deployment.contracts.AgentCompute, startBlock: t.deployment.startBlock, confirmations: 3, range: 4, reorgWindow: 64 },
        silentLog,
      );
      let failures = 0;
      for (let i = 0; i < 500; i++) {
        try {
          if ((await r.step()).caughtUp) break;
        } catch {
          failures++; // the keeper's loop backs off and retries; here we retry at once
        }
      }
      rpc.destroy();
      expect(failures, "the proxy did inject faults").to.be.greaterThan(0);
      expect(proxy.stats.dropped + proxy.stats.errors).to.be.greaterThan(0);
      const stored = db.prepare("SELECT tx_hash FROM events WHERE name = 'SessionStarted'").all() as { tx_hash: string }[];
      expect(stored.map((x) => x.tx_hash)).to.have.members(hashes);
      expect(stored).to.have.length(hashes.length);
    } finally {
      db.close();
      await proxy.close();
      await t.stop();
    }
  });
});
