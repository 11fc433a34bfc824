/**
 * keeper/chain/broadcast.ts against a real node's refusals (the local Hardhat chain), through both
 * ways the keeper broadcasts: raw JSON-RPC (the outbox) and ethers' broadcastTransaction (payouts).
 */
import { expect } from "chai";
import { Wallet } from "ethers";
import { broadcastRefusal } from "../../../keeper/chain/broadcast";
import { startTestChain, TestChain } from "../shared/chain";

describe("broadcast refusals, as a real node words them", () => {
  let t: TestChain;
  before(async () => {
    t = await startTestChain();
  });
  after(async () => {
    await t?.stop();
  });

  const caught = async (p: Promise<unknown>) =>
    p.then(
      () => expect.fail("the node accepted it"),
      (err: unknown) => err,
    );
  const sign = async (w: Pick<Wallet, "signTransaction" | "populateTransaction" | "address">, nonce: number, value = 1n) =>
    w.signTransaction(
      await w.populateTransaction({
        to: w.address,
        value,
        nonce,
        gasLimit: 21_000,
        maxFeePerGas: 10n ** 10n,
        maxPriorityFeePerGas: 10n ** 9n,
      }),
    );

  it("the same transaction twice while pending: known, by raw JSON-RPC and by ethers", async () => {
    const w = t.admin;
    await t.rpc.send("evm_setAutomine", [false]);
    try {
      const raw = await sign(w, await t.rpc.getTransactionCount(w.address, "pending"));
      await t.rpc.send("eth_sendRawTransaction", [raw]);
      expect(broadcastRefusal(await caught(t.rpc.send("eth_sendRawTransaction", [raw])))).to.equal("known");
      expect(broadcastRefusal(await caught(t.rpc.broadcastTransaction(raw)))).to.equal("known");
    } finally {
      await t.rpc.send("evm_setAutomine", [true]);
      await t.rpc.send("evm_mine", []);
    }
  });

  it("a spent nonce, by this transaction once mined or by another: nonce-used", async () => {
    const w = t.admin;
    const nonce = await t.rpc.getTransactionCount(w.address, "pending");
    const raw = await sign(w, nonce);
    await (await t.rpc.broadcastTransaction(raw)).wait();
    expect(broadcastRefusal(await caught(t.rpc.send("eth_sendRawTransaction", [raw])))).to.be.oneOf(["known", "nonce-used"]);
    const other = await sign(w, nonce, 2n);
    expect(broadcastRefusal(await caught(t.rpc.send("eth_sendRawTransaction", [other])))).to.equal("nonce-used");
    expect(broadcastRefusal(await caught(t.rpc.broadcastTransaction(other)))).to.equal("nonce-used");
  });

  it("any other refusal is not one of these: the caller rethrows it", async () => {
    const poor = Wallet.createRandom().connect(t.rpc);
    const raw = await sign(poor, 0);
    expect(broadcastRefusal(await caught(t.rpc.send("eth_sendRawTransaction", [raw])))).to.equal(undefined);
    expect(broadcastRefusal(new Error("connect ECONNREFUSED 127.0.0.1:8545"))).to.equal(undefined);
    expect(broadcastRefusal(undefined)).to.equal(undefined);
  });
});
