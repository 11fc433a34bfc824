/**
 * The Solana stand-in itself, through @solana/web3.js's Connection: real signed transactions, the
 * jsonParsed shapes the keeper reads, batch requests, failures and faults.
 */
import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { Connection, Keypair, PublicKey, Transaction, LAMPORTS_PER_SOL } from "@solana/web3.js";
import { createBurnCheckedInstruction, createTransferCheckedInstruction, getAssociatedTokenAddressSync, createAssociatedTokenAccountIdempotentInstruction } from "@solana/spl-token";
import { createMemoInstruction } from "@solana/spl-memo";
import { startSolanaStandin, SolanaStandin } from "./server";
import { startLocalSolana } from "./cli";
import { payWatt, sendAndConfirm } from "../../../scripts/lib/wattPayer";
import { tempDir } from "../../keeper/shared/chain";

describe("Solana JSON-RPC stand-in", function () {
  this.timeout(30_000);
  let s: SolanaStandin;
  let c: Connection;
  let mint: PublicKey;
  const agent = Keypair.generate();
  const service = Keypair.generate();
  before(async () => {
    s = await startSolanaStandin();
    c = new Connection(s.url, "confirmed");
    mint = s.createMint(9);
    s.airdrop(agent.publicKey, BigInt(LAMPORTS_PER_SOL));
    s.mintTo(agent.publicKey, mint, 1000n * 10n ** 9n);
    s.mintTo(service.publicKey, mint, 0n);
  });
  after(() => s?.close());
  const pay = (amount: bigint, memo: string, opts = {}) => payWatt(c, agent, { mint, decimals: 9, recipientOwner: service.publicKey, amount, memo }, opts);

  it("executes a signed transferChecked + memo and serves it as jsonParsed", async () => {
    const sig = await pay(5n * 10n ** 9n, "job-1");
    expect(s.tokenBalance(service.publicKey, mint)).to.equal(5n * 10n ** 9n);
    expect(s.tokenBalance(agent.publicKey, mint)).to.equal(995n * 10n ** 9n);
    const tx = (await c.getParsedTransaction(sig, { maxSupportedTransactionVersion: 0 }))!;
    expect(tx.meta!.err).to.equal(null);
    expect(tx.meta!.fee).to.equal(5000);
    const [transfer, memo] = tx.transaction.message.instructions as { program: string; parsed: unknown }[];
    expect(transfer.program).to.equal("spl-token");
    const dest = getAssociatedTokenAddressSync(mint, service.publicKey).toBase58();
    expect(transfer.parsed).to.deep.equal({
      type: "transferChecked",
      info: { source: getAssociatedTokenAddressSync(mint, agent.publicKey).toBase58(), mint: mint.toBase58(), destination: dest, authority: agent.publicKey.toBase58(), tokenAmount: { amount: "5000000000", decimals: 9, uiAmount: 5, uiAmountString: "5" } },
    });
    expect(memo).to.include({ program: "spl-memo", parsed: "job-1" });
    const idx = tx.transaction.message.accountKeys.findIndex((k) => k.pubkey.toBase58() === dest);
    const post = tx.meta!.postTokenBalances!.find((b) => b.accountIndex === idx)!;
    const pre = tx.meta!.preTokenBalances!.find((b) => b.accountIndex === idx)!;
    expect(BigInt(post.uiTokenAmount.amount) - BigInt(pre.uiTokenAmount.amount)).to.equal(5n * 10n ** 9n);
    expect(tx.transaction.message.accountKeys[0]).to.include({ signer: true, writable: true });
  });

  it("getSignaturesForAddress lists newest first with the memo as '[len] text'; batch getParsedTransactions", async () => {
    const a = await pay(1n, "caf\u00e9; [2] x");
    const b = await pay(2n, "second");
    const ata = getAssociatedTokenAddressSync(mint, service.publicKey);
    const list = await c.getSignaturesForAddress(ata, { limit: 2 });
    expect(list.map((x) => x.signature)).to.deep.equal([b, a]);
    expect(list[0].memo).to.equal("[6] second");
    expect(list[1].memo).to.equal("[12] caf\u00e9; [2] x");
    const older = await c.getSignaturesForAddress(ata, { before: a, limit: 10 });
    expect(older.map((x) => x.signature)).to.not.include(a);
    const before = s.calls.get("getTransaction") ?? 0;
    const txs = await c.getParsedTransactions([a, b], { maxSupportedTransactionVersion: 0 });
    expect(txs.map((t) => t!.transaction.signatures[0])).to.deep.equal([a, b]);
    expect(s.calls.get("getTransaction")! - before).to.equal(2); // one HTTP batch of two calls
  });

  it("refuses a transaction whose signature does not verify", async () => {
    const { blockhash } = await c.getLatestBlockhash();
    const tx = new Transaction({ feePayer: agent.publicKey, recentBlockhash: blockhash }).add(createMemoInstruction("forged", [agent.publicKey]));
    tx.sign(agent);
    const wire = tx.serialize();
    wire[wire.length - 1] ^= 1; // the memo text changes after signing
    const err = await c.sendRawTransaction(wire, { skipPreflight: true }).catch((e: Error) => e);
    expect(String(err)).to.match(/signature verification failure/);
  });

  it("a failing instruction: refused at preflight, or recorded with meta.err and no transfer when preflight is skipped", async () => {
    const bal = s.tokenBalance(agent.publicKey, mint);
    const pre = await pay(10n ** 15n, "too much").catch((e: Error) => e);
    expect(String(pre)).to.match(/Transaction simulation failed/);
    const sig = await pay(10n ** 15n, "too much", { skipPreflight: true });
    const tx = (await c.getParsedTransaction(sig, { maxSupportedTransactionVersion: 0 }))!;
    expect(tx.meta!.err).to.deep.equal({ InstructionError: [0, { Custom: 1 }] });
    expect(s.tokenBalance(agent.publicKey, mint)).to.equal(bal);
    expect(tx.meta!.preTokenBalances).to.deep.equal(tx.meta!.postTokenBalances);
  });

  it("replaying the same bytes is refused; an unknown blockhash is refused", async () => {
    const { blockhash } = await c.getLatestBlockhash();
    const tx = new Transaction({ feePayer: agent.publicKey, recentBlockhash: blockhash }).add(createMemoInstruction("once", [agent.publicKey]));
    tx.sign(agent);
    await c.sendRawTransaction(tx.serialize());
    expect(String(await c.sendRawTransaction(tx.serialize()).catch((e: Error) => e))).to.match(/already been processed/);
    const stale = new Transaction({ feePayer: agent.publicKey, recentBlockhash: Keypair.generate().publicKey.toBase58() }).add(createMemoInstruction("x", [agent.publicKey]));
    stale.sign(agent);
    expect(String(await c.sendRawTransaction(stale.serialize()).catch((e: Error) => e))).to.match(/Blockhash not found/);
  });

  it("burnChecked by the owner reduces the supply; by someone else it fails", async () => {
    const supply = s.supply(mint);
    const ata = getAssociatedTokenAddressSync(mint, agent.publicKey);
    s.airdrop(service.publicKey, BigInt(LAMPORTS_PER_SOL));
    await sendAndConfirm(c, [agent], [createBurnCheckedInstruction(ata, mint, agent.publicKey, 7n, 9)]);
    expect(s.supply(mint)).to.equal(supply - 7n);
    const err = await sendAndConfirm(c, [service], [createBurnCheckedInstruction(ata, mint, service.publicKey, 7n, 9)]).catch((e: Error) => e);
    expect(String(err)).to.match(/Custom":4|custom program error/i);
  });

  it("creates associated token accounts (idempotent) and checks mint and decimals of transferChecked", async () => {
    const other = Keypair.generate();
    await sendAndConfirm(c, [agent], [createAssociatedTokenAccountIdempotentInstruction(agent.publicKey, getAssociatedTokenAddressSync(mint, other.publicKey), other.publicKey, mint)]);
    await sendAndConfirm(c, [agent], [createAssociatedTokenAccountIdempotentInstruction(agent.publicKey, getAssociatedTokenAddressSync(mint, other.publicKey), other.publicKey, mint)]);
    const from = getAssociatedTokenAddressSync(mint, agent.publicKey);
    const to = getAssociatedTokenAddressSync(mint, other.publicKey);
    const wrongDecimals = await sendAndConfirm(c, [agent], [createTransferCheckedInstruction(from, mint, to, agent.publicKey, 1n, 6)]).catch((e: Error) => e);
    expect(String(wrongDecimals)).to.match(/Custom":18|0x12/);
    await sendAndConfirm(c, [agent], [createTransferCheckedInstruction(from, mint, to, agent.publicKey, 3n, 9)]);
    expect(s.tokenBalance(other.publicKey, mint)).to.equal(3n);
  });

  it("faults: a hidden signature is invisible to getTransaction and getSignaturesForAddress; failNext answers 503", async () => {
    const sig = await pay(1n, "hidden");
    s.faults.hidden.add(sig);
    expect(await c.getParsedTransaction(sig, { maxSupportedTransactionVersion: 0 })).to.equal(null);
    const list = await c.getSignaturesForAddress(getAssociatedTokenAddressSync(mint, service.publicKey));
    expect(list.map((x) => x.signature)).to.not.include(sig);
    s.faults.hidden.delete(sig);
    s.faults.failNext = 1;
    expect(String(await c.getSlot().catch((e: Error) => e))).to.match(/503/);
    expect(await c.getSlot()).to.be.a("number");
  });

  it("startLocalSolana writes the local set-up file with a funded agent", async () => {
    const dir = tempDir();
    const { standin, info, file } = await startLocalSolana({ port: 0, dataDir: dir });
    try {
      expect(file).to.equal(path.join(dir, "solana-local.json"));
      expect(JSON.parse(fs.readFileSync(file, "utf8"))).to.deep.equal(info);
      expect(standin.tokenBalance(new PublicKey(info.agent), new PublicKey(info.wattMint))).to.equal(1_000_000n * 10n ** 9n);
      expect(Keypair.fromSecretKey(Uint8Array.from(JSON.parse(info.serviceWalletSecret))).publicKey.toBase58()).to.equal(info.serviceWallet);
    } finally {
      await standin.close();
    }
  });
});
