/**
 * Payouts to providers through LI.FI: the real @lifi/sdk against a local LI.FI stand-in whose
 * quotes call a TestBridgeDiamond on a real local chain; the treasury wallet approves and sends the
 * quote's transactionRequest with ethers; the keeper's SQLite file records every transfer.
 */
import { expect } from "chai";
import path from "node:path";
import { Wallet } from "ethers";
import { startTestChain, TestChain, silentLog, tempDir } from "../shared/chain";
import { until } from "../shared/keeperApp";
import { startLifiStandin } from "../../standins/lifi/server";
import { Payouts } from "../../../keeper/payouts/payouts";
import type { TransferRow } from "../../../keeper/store/payouts";
import type { DB } from "../../../keeper/store/db";
import { openStore, Store } from "../../../keeper/store/store";
import { devWallet } from "../../../localnet/chain";
import { TestBridgeDiamond__factory } from "../../../typechain-types";

const USDC = (n: number) => BigInt(Math.round(n * 1e6));
const DEST = {
  ionet: { chain: "SOL", token: "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", address: "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin" },
};

describe("payouts to providers through LI.FI (stand-in API, real chain, real SDK)", function () {
  this.timeout(120_000);
  let t: TestChain;
  let lifi: Awaited<ReturnType<typeof startLifiStandin>>;
  let diamond: string;
  let treasury: Wallet;
  let store: Store;
  let db: DB;
  let item = 0;

  before(async () => {
    t = await startTestChain();
    await t.rpc.send("evm_setIntervalMining", [100]);
    const d = await new TestBridgeDiamond__factory(t.admin).deploy();
    await d.waitForDeployment();
    diamond = await d.getAddress();
    lifi = await startLifiStandin({
      rpcUrl: t.chain.rpcUrl,
      chainId: t.deployment.chainId,
      diamond,
      pendingPolls: 1,
      refunderKey: devWallet(0).privateKey,
    });
    treasury = new Wallet(devWallet(2).privateKey, t.rpc);
    await (await t.usdc(t.admin).mint(treasury.address, USDC(10_000))).wait();
  });
  after(async () => {
    store?.close();
    await lifi?.close();
    await t?.stop();
  });
  beforeEach(() => {
    store?.close();
    store = openStore(path.join(tempDir("payouts-"), "keeper.sqlite"));
    db = store.db;
    for (const k of Object.keys(lifi.faults)) delete (lifi.faults as Record<string, unknown>)[k];
  });

  const payouts = (o: Partial<{ min: number; maxAttempts: number; slippage: number }> = {}) =>
    new Payouts(
      store,
      treasury,
      { apiUrl: lifi.url, integrator: "agentcompute-test" },
      DEST,
      {
        chainId: t.deployment.chainId,
        usdc: t.deployment.contracts.USDC,
        minUsdc: USDC(o.min ?? 50),
        maxSlippage: o.slippage ?? 0.005,
        maxAttempts: o.maxAttempts ?? 3,
        pollSeconds: 1,
      },
      silentLog,
    );
  /** What the keeper owes io.net for one finished attempt (as sessions/failover.ts records it). */
  const owe = (provider: string, usdc: number) =>
    db
      .prepare(
        "INSERT INTO provision_attempts (instance_id, seq, provider, state, price_per_hour, started_at, deadline_at, running_at, stopped_at, cost) VALUES (?, 1, ?, 'stopped', ?, 0, 0, 0, 1, ?)",
      )
      .run(`0x${(++item).toString(16).padStart(64, "0")}`, provider, USDC(usdc).toString(), USDC(usdc).toString());
  const transfers = () => db.prepare("SELECT * FROM bridge_transfers ORDER BY id").all() as TransferRow[];
  const owed = () => (db.prepare("SELECT count(*) n FROM provision_attempts WHERE bridge_transfer_id IS NULL").get() as { n: number }).n;
  const drive = async (b: Payouts, done: () => boolean) => {
    await until(
      "payout progress",
      async () => {
        await b.tick();
        return done();
      },
      60_000,
    );
  };
  const balance = (a: string) => t.usdc().balanceOf(a);

  it("below PAYOUT_MIN_USDC nothing moves; above it one batched transfer is quoted, approved, sent and polled to DONE", async () => {
    const b = payouts({ min: 50 });
    owe("ionet", 20);
    owe("ionet", 10);
    owe("spheron", 500); // no destination configured for spheron: never paid out here
    await b.tick();
    expect(transfers()).to.have.length(0);
    owe("ionet", 25);
    const before = { treasury: await balance(treasury.address), diamond: await balance(diamond) };
    await drive(b, () => transfers()[0]?.state === "done");
    const [tr] = transfers();
    expect(tr.amount).to.equal(USDC(55).toString());
    expect(tr.attempt).to.equal(1);
    expect(tr.tool).to.equal("teststargate");
    expect(tr.receiving_tx).to.match(/^0x[0-9a-f]{64}$/);
    expect(await balance(treasury.address)).to.equal(before.treasury - USDC(55));
    expect(await balance(diamond)).to.equal(before.diamond + USDC(55));
    const receipt = await t.rpc.getTransactionReceipt(tr.tx_hash!);
    expect(receipt!.to!.toLowerCase()).to.equal(diamond.toLowerCase());
    expect(lifi.statusPolls.get(tr.tx_hash!), "PENDING first, then DONE").to.equal(2);
    const q = lifi.quotes.at(-1)!;
    expect(q).to.include({
      fromAmount: USDC(55).toString(),
      toChain: "SOL",
      toToken: DEST.ionet.token,
      toAddress: DEST.ionet.address,
      integrator: "agentcompute-test",
      slippage: "0.005",
    });
    // Every ionet cost is paid by that transfer; spheron's is still owed (no destination).
    const rows = db.prepare("SELECT provider, bridge_transfer_id FROM provision_attempts").all() as {
      provider: string;
      bridge_transfer_id: number | null;
    }[];
    expect(rows.filter((r) => r.provider === "ionet").every((r) => r.bridge_transfer_id === tr.id)).to.equal(true);
    expect(rows.filter((r) => r.provider === "spheron").every((r) => r.bridge_transfer_id === null)).to.equal(true);
    expect((await store.payouts.summary(3)).byState.done).to.deep.equal({ count: 1, amount: USDC(55).toString() });
  });

  it("a transfer LI.FI reports FAILED is recorded and retried as a new transfer that ends DONE", async () => {
    const b = payouts({ min: 1, maxAttempts: 3 });
    owe("ionet", 5);
    const before = { treasury: await balance(treasury.address), diamond: await balance(diamond) };
    lifi.faults.failStatus = true;
    await drive(b, () => transfers()[0]?.state === "failed");
    lifi.faults.failStatus = false;
    await drive(b, () => transfers()[1]?.state === "done");
    const [failed, retry] = transfers();
    expect(failed.error).to.match(/FAILED/);
    expect(retry.attempt).to.equal(2);
    expect(retry.amount).to.equal(failed.amount);
    expect(owed()).to.equal(0);
    const paidBy = db.prepare("SELECT DISTINCT bridge_transfer_id id FROM provision_attempts").all() as { id: number }[];
    expect(paidBy.map((r) => r.id)).to.deep.equal([retry.id]);
    expect((await store.payouts.summary(3)).alerts).to.have.length(0);
    // The failed transfer's USDC came back; the provider was paid exactly once.
    expect(await balance(treasury.address)).to.equal(before.treasury - USDC(5));
    expect(await balance(diamond)).to.equal(before.diamond + USDC(5));
  });

  it("a transfer larger than the treasury holds waits (nothing sent) until the claimed USDC is there", async () => {
    const b = payouts({ min: 1 });
    const held = await balance(treasury.address);
    db.prepare(
      "INSERT INTO provision_attempts (instance_id, seq, provider, state, price_per_hour, started_at, deadline_at, cost) VALUES ('0xbig', 1, 'ionet', 'stopped', '0', 0, 0, ?)",
    ).run((held + USDC(1)).toString());
    const nonce = await t.rpc.getTransactionCount(treasury.address);
    await b.tick();
    expect(transfers()[0].state).to.equal("pending");
    expect(transfers()[0].error).to.match(/treasury holds/);
    expect(await t.rpc.getTransactionCount(treasury.address)).to.equal(nonce);
    await (await t.usdc(t.admin).mint(treasury.address, USDC(1))).wait();
    await drive(b, () => transfers()[0].state === "done");
    expect(await balance(treasury.address)).to.equal(0n);
    await (await t.usdc(t.admin).mint(treasury.address, USDC(10_000))).wait();
  });

  it("FAILED on the last attempt is alerted (keeper status lists it) and not retried", async () => {
    const b = payouts({ min: 1, maxAttempts: 1 });
    owe("ionet", 3);
    lifi.faults.failStatus = true;
    await drive(b, () => transfers()[0]?.state === "failed");
    await b.tick();
    expect(transfers()).to.have.length(1);
    const s = await store.payouts.summary(1);
    expect(s.alerts.map((a) => a.id)).to.deep.equal([transfers()[0].id]);
    expect(s.alerts[0].error).to.match(/FAILED/);
  });

  it("a quote that loses more than PAYOUT_MAX_SLIPPAGE is refused before any transaction is sent", async () => {
    const b = payouts({ min: 1, maxAttempts: 1, slippage: 0.005 });
    owe("ionet", 7);
    lifi.faults.quoteLoss = 0.02;
    const before = await balance(treasury.address);
    const nonce = await t.rpc.getTransactionCount(treasury.address);
    await b.tick();
    const [tr] = transfers();
    expect(tr.state).to.equal("failed");
    expect(tr.error).to.match(/slippage bound/);
    expect(tr.tx_hash).to.equal(null);
    expect(await balance(treasury.address)).to.equal(before);
    expect(await t.rpc.getTransactionCount(treasury.address)).to.equal(nonce);
  });

  it("a LI.FI API error leaves the transfer pending (nothing sent) and the next pass completes it", async () => {
    const b = payouts({ min: 1 });
    owe("ionet", 4);
    lifi.faults.quoteError = true;
    await b.tick();
    expect(transfers()[0].state).to.equal("pending");
    expect(transfers()[0].error).to.match(/500|Internal/);
    lifi.faults.quoteError = false;
    await drive(b, () => transfers()[0].state === "done");
  });

  it("after a crash between storing the signed transaction and broadcasting it, a restart sends those same bytes once", async () => {
    const b = payouts({ min: 1 });
    owe("ionet", 6);
    await b.batch();
    // The state a crash leaves: the signed transaction stored, never broadcast (built as Payouts builds it).
    const quote = await (
      await fetch(
        `${lifi.url}/quote?fromChain=${t.deployment.chainId}&toChain=SOL&fromToken=${t.deployment.contracts.USDC}&toToken=x&fromAddress=${treasury.address}&toAddress=y&fromAmount=${USDC(6)}`,
      )
    ).json();
    await (await t.usdc(treasury).approve(diamond, USDC(6))).wait();
    const raw = await treasury.signTransaction(
      await treasury.populateTransaction({
        to: quote.transactionRequest.to,
        data: quote.transactionRequest.data,
        gasLimit: 300_000n,
        chainId: t.deployment.chainId,
      }),
    );
    const { Transaction } = await import("ethers");
    const hash = Transaction.from(raw).hash!;
    db.prepare("UPDATE bridge_transfers SET state = 'signed', raw_tx = ?, tx_hash = ?, tool = 'teststargate' WHERE id = ?").run(
      raw,
      hash,
      transfers()[0].id,
    );
    const nonce = await t.rpc.getTransactionCount(treasury.address);
    const restarted = payouts({ min: 1 });
    await drive(restarted, () => transfers()[0].state === "done");
    expect(transfers()[0].tx_hash).to.equal(hash);
    expect(await t.rpc.getTransactionCount(treasury.address), "exactly one transaction").to.equal(nonce + 1);
    expect(lifi.quotes.length).to.be.greaterThan(0);
  });
});
