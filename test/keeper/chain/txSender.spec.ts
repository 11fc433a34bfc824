import { expect } from "chai";
import { ethers, Transaction, toUtf8Bytes } from "ethers";
import { TxSender, ActionRow } from "../../../keeper/chain/txSender";
import { computeInterface } from "../../../keeper/chain/contracts";
import { openDatabase, DB } from "../../../keeper/store/db";
import { Store } from "../../../keeper/store/store";
import { startTestChain, TestChain, silentLog, CONFIG } from "../shared/chain";

describe("keeper TxSender (outbox and nonce manager)", function () {
  let t: TestChain;
  let db: DB;
  let store: Store;
  let settled: { key: string; ok: boolean }[];

  before(async () => {
    t = await startTestChain();
  });
  after(async () => t.stop());
  let snapshot: string;
  beforeEach(async () => {
    db = openDatabase(":memory:");
    store = new Store(db);
    settled = [];
    await t.rpc.send("evm_setAutomine", [true]);
    snapshot = await t.rpc.send("evm_snapshot", []);
  });
  afterEach(async () => {
    db.close();
    await t.rpc.send("evm_revert", [snapshot]); // chain state and mempool back as they were
  });

  function sender(bumpAfterSeconds = 3600) {
    return new TxSender(
      store,
      t.rpc,
      t.keeper,
      { to: t.deployment.contracts.AgentCompute, chainId: BigInt(t.deployment.chainId), bumpAfterSeconds },
      silentLog,
      (a: ActionRow, ok: boolean) => {
        settled.push({ key: a.idempotency_key, ok });
      },
    );
  }
  /** A keeper action that succeeds: anchoring a fresh job batch root. */
  function batch(key: string) {
    return store.outbox.enqueue(
      key,
      "recordJobBatch",
      null,
      computeInterface.encodeFunctionData("recordJobBatch", [ethers.id(key + Math.random()), 1, 1]),
    );
  }
  const action = (key: string) => db.prepare("SELECT * FROM actions WHERE idempotency_key = ?").get(key) as ActionRow;
  const txCount = () => t.rpc.getTransactionCount(t.keeper.address, "latest");

  it("enqueuing the same idempotency key twice stores one action", async () => {
    expect(await batch("a")).to.equal(true);
    expect(await store.outbox.enqueue("a", "claim", null, "0x")).to.equal(false);
    expect((db.prepare("SELECT count(*) n FROM actions").get() as { n: number }).n).to.equal(1);
  });

  it("sends queued actions in order with consecutive nonces and settles them from receipts", async () => {
    const s = sender();
    await batch("first");
    await batch("second");
    const n0 = await txCount();
    await s.tick();
    await s.tick();
    expect(action("first").state).to.equal("mined");
    expect(action("second").state).to.equal("mined");
    expect([action("first").nonce, action("second").nonce]).to.deep.equal([n0, n0 + 1]);
    expect(settled).to.deep.equal([
      { key: "first", ok: true },
      { key: "second", ok: true },
    ]);
  });

  it("an action that would revert is skipped without spending a nonce", async () => {
    const s = sender();
    await store.outbox.enqueue("bad", "claim", null, computeInterface.encodeFunctionData("claim", [ethers.id("no such session")]));
    const n0 = await txCount();
    await s.tick();
    expect(action("bad").state).to.equal("skipped");
    expect(action("bad").nonce).to.equal(null);
    expect(action("bad").error).to.match(/0x|revert/);
    expect(await txCount()).to.equal(n0);
  });

  it("a transaction signed and stored but never broadcast (a crash) is broadcast on the next tick, once", async () => {
    await batch("crashed");
    const a = action("crashed");
    // Reproduce the state a crash leaves: the signed transaction is in the database, the node never saw it.
    const nonce = await t.rpc.getTransactionCount(t.keeper.address, "pending");
    const raw = await t.keeper.signTransaction({
      type: 2,
      chainId: BigInt(t.deployment.chainId),
      to: t.deployment.contracts.AgentCompute,
      data: a.calldata,
      nonce,
      gasLimit: 200_000,
      maxFeePerGas: 10n ** 10n,
      maxPriorityFeePerGas: 10n ** 9n,
    });
    db.prepare("UPDATE actions SET state = 'sent', nonce = ? WHERE id = ?").run(nonce, a.id);
    db.prepare(
      "INSERT INTO action_txs (tx_hash, action_id, raw, max_fee, priority, sent_at) VALUES (?, ?, ?, '10000000000', '1000000000', ?)",
    ).run(Transaction.from(raw).hash, a.id, raw, Math.floor(Date.now() / 1000));
    const s = sender();
    await s.tick(); // finds it unknown to the node: broadcasts the stored bytes
    await s.tick(); // receipt
    expect(action("crashed").state).to.equal("mined");
    expect(await txCount()).to.equal(nonce + 1);
  });

  it("a transaction the node dropped is re-broadcast", async () => {
    await t.rpc.send("evm_setAutomine", [false]);
    const s = sender();
    await batch("dropped");
    await s.tick();
    const hash = (db.prepare("SELECT tx_hash FROM action_txs").get() as { tx_hash: string }).tx_hash;
    expect(await t.rpc.send("hardhat_dropTransaction", [hash])).to.equal(true);
    expect(await t.rpc.getTransaction(hash)).to.equal(null);
    await s.tick(); // unknown to the node: re-broadcast
    await t.mine(1);
    await s.tick();
    expect(action("dropped").state).to.equal("mined");
  });

  it("a stuck transaction is replaced with higher fees at the same nonce, and exactly one of them is mined", async () => {
    await t.rpc.send("evm_setAutomine", [false]);
    const s = sender(0);
    await batch("stuck");
    const n0 = await txCount();
    await s.tick(); // sent
    await s.tick(); // not mined yet and older than 0 s: bump
    const txs = db.prepare("SELECT tx_hash, max_fee FROM action_txs ORDER BY rowid").all() as { tx_hash: string; max_fee: string }[];
    expect(txs).to.have.length.greaterThanOrEqual(2);
    expect(BigInt(txs[1].max_fee)).to.be.greaterThan(BigInt(txs[0].max_fee));
    await t.mine(1);
    await s.tick();
    expect(action("stuck").state).to.equal("mined");
    const receipts = await Promise.all(txs.map((x) => t.rpc.getTransactionReceipt(x.tx_hash)));
    expect(receipts.filter((r) => r !== null)).to.have.length(1);
    expect(await txCount()).to.equal(n0 + 1);
  });

  it("when its nonce is consumed by another transaction, the action is re-queued and sent with a new nonce", async () => {
    await t.rpc.send("evm_setAutomine", [false]);
    const s = sender();
    await batch("rewound");
    await s.tick();
    const first = action("rewound");
    const hash = (db.prepare("SELECT tx_hash FROM action_txs WHERE action_id = ?").get(first.id) as { tx_hash: string }).tx_hash;
    await t.rpc.send("hardhat_dropTransaction", [hash]);
    // Someone else uses the keeper key at that nonce.
    await t.keeper.sendTransaction({ to: t.keeper.address, value: 1n, nonce: first.nonce!, gasLimit: 21_000 });
    await t.mine(1);
    await s.tick(); // nonce gone with no receipt of ours: re-queued, and sent again with a fresh nonce
    expect(action("rewound").state).to.equal("sent");
    expect(action("rewound").nonce).to.equal(first.nonce! + 1);
    expect((db.prepare("SELECT count(*) n FROM action_txs WHERE action_id = ?").get(first.id) as { n: number }).n).to.equal(2);
    await t.mine(1);
    await s.tick();
    expect(action("rewound").state).to.equal("mined");
    expect(action("rewound").nonce).to.equal(first.nonce! + 1);
  });

  it("a new sender on the same database (a restart) settles what the old one sent and sends nothing twice", async () => {
    await t.rpc.send("evm_setAutomine", [false]);
    await batch("before-restart");
    await sender().tick();
    const n0 = await txCount();
    await t.mine(1);
    const restarted = sender();
    await restarted.tick();
    await restarted.tick();
    expect(action("before-restart").state).to.equal("mined");
    expect(await txCount()).to.equal(n0 + 1);
    expect((db.prepare("SELECT count(*) n FROM action_txs").get() as { n: number }).n).to.equal(1);
  });

  it("a real keeper outcome goes through: recordOutcome(Running) on a paid session", async () => {
    const c = t.compute();
    await (await t.usdc().approve(await c.getAddress(), 10n ** 12n)).wait();
    const r = await (await c.startSession(3600, 0, toUtf8Bytes(CONFIG))).wait();
    const id = c.interface.parseLog(r!.logs.find((l) => l.topics[0] === c.interface.getEvent("SessionStarted").topicHash)!)!.args
      .instanceId;
    await store.outbox.enqueue(
      `outcome:${id}:running`,
      "recordOutcome",
      id,
      computeInterface.encodeFunctionData("recordOutcome", [id, 1, "bubblewrap:pid:1"]),
    );
    const s = sender();
    await s.tick();
    await s.tick();
    expect(action(`outcome:${id}:running`).state).to.equal("mined");
    expect((await c.getSession(id)).status).to.equal(2n);
  });
});
