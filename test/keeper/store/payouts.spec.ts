/**
 * keeper/store/payouts.ts on real SQLite: owed costs move onto a transfer once, a failure
 * hands them to its retry (or keeps them for the operator at the last attempt), and state moves only
 * from the state each step expects.
 */
import { expect } from "chai";
import { openStore, type Store } from "../../../keeper/store/store";

describe("store: payouts", () => {
  let store: Store;
  beforeEach(() => (store = openStore(":memory:")));
  afterEach(() => store.close());

  const owe = (id: string, provider: string, cost: number) =>
    store.db
      .prepare(
        "INSERT INTO provision_attempts (instance_id, seq, provider, state, started_at, deadline_at, cost) VALUES (?, 1, ?, 'stopped', 0, 0, ?)",
      )
      .run(id, provider, String(cost));
  const paidBy = () =>
    store.db.prepare("SELECT instance_id, bridge_transfer_id FROM provision_attempts ORDER BY instance_id").all() as {
      instance_id: string;
      bridge_transfer_id: number | null;
    }[];

  it("batches what is owed at or above the minimum into one transfer, once", async () => {
    owe("a", "ionet", 30);
    owe("b", "ionet", 15);
    owe("c", "spheron", 99);
    expect(await store.payouts.batchOwed("ionet", "SOL", 50n)).to.equal(undefined);
    owe("d", "ionet", 5);
    const made = (await store.payouts.batchOwed("ionet", "SOL", 50n))!;
    expect([made.amount, made.items]).to.deep.equal([50n, 3]);
    expect(await store.payouts.batchOwed("ionet", "SOL", 1n), "nothing owed any more").to.equal(undefined);
    expect(paidBy()).to.deep.equal([
      { instance_id: "a", bridge_transfer_id: made.id },
      { instance_id: "b", bridge_transfer_id: made.id },
      { instance_id: "c", bridge_transfer_id: null },
      { instance_id: "d", bridge_transfer_id: made.id },
    ]);
    const [t] = await store.payouts.open();
    expect([t.id, t.provider, t.amount, t.state, t.attempt, t.to_chain]).to.deep.equal([made.id, "ionet", "50", "pending", 1, "SOL"]);
  });

  it("a failure below the last attempt hands the costs to a new pending transfer; at the last one they stay and it is alerted", async () => {
    owe("a", "ionet", 7);
    const first = (await store.payouts.batchOwed("ionet", "SOL", 1n))!;
    const [t1] = await store.payouts.open();
    const retry = (await store.payouts.fail(t1, "LI.FI status FAILED", 2))!;
    expect(retry).to.not.equal(first.id);
    expect(paidBy()[0].bridge_transfer_id).to.equal(retry);
    const [t2] = await store.payouts.open();
    expect([t2.id, t2.attempt, t2.amount]).to.deep.equal([retry, 2, "7"]);
    expect(await store.payouts.fail(t2, "LI.FI status FAILED again", 2)).to.equal(undefined);
    expect(paidBy()[0].bridge_transfer_id, "kept by the failed transfer").to.equal(retry);
    expect(await store.payouts.open()).to.deep.equal([]);
    const s = await store.payouts.summary(2);
    expect(s.byState.failed).to.deep.equal({ count: 2, amount: "14" });
    expect(s.alerts).to.deep.equal([{ id: retry, provider: "ionet", amount: "7", error: "LI.FI status FAILED again" }]);
  });

  it("signed only from pending, sent only from signed; unsign returns it to pending without its bytes", async () => {
    owe("a", "ionet", 3);
    const { id } = (await store.payouts.batchOwed("ionet", "SOL", 1n))!;
    await store.payouts.markSent(id);
    expect((await store.payouts.open())[0].state, "not signed yet: stays pending").to.equal("pending");
    await store.payouts.markSigned(id, { rawTx: "0xraw", txHash: "0xhash", tool: "stargate", toAmountMin: "2" });
    await store.payouts.markSigned(id, { rawTx: "0xother", txHash: "0xother", tool: "x", toAmountMin: "1" });
    let [t] = await store.payouts.open();
    expect([t.state, t.raw_tx, t.tx_hash]).to.deep.equal(["signed", "0xraw", "0xhash"]);
    await store.payouts.unsign(id, "nonce too low");
    [t] = await store.payouts.open();
    expect([t.state, t.raw_tx, t.tx_hash, t.error]).to.deep.equal(["pending", null, null, "nonce too low"]);
    await store.payouts.markSigned(id, { rawTx: "0xraw2", txHash: "0xhash2", tool: "stargate", toAmountMin: "2" });
    await store.payouts.markSent(id);
    await store.payouts.markDone(id, "0xrecv");
    expect(await store.payouts.open()).to.deep.equal([]);
    expect((await store.payouts.summary(3)).transfers[0]).to.include({ state: "done", txHash: "0xhash2", error: null });
  });
});
