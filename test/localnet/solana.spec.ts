/**
 * The Solana stand-in itself, through @solana/web3.js's Connection: real signed transactions, the
 * jsonParsed shapes the keeper reads, batch requests, failures and faults.
 */
import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import {
  Connection,
  Keypair,
  PublicKey,
  Transaction,
  LAMPORTS_PER_SOL,
  SystemProgram,
  TransactionMessage,
  VersionedTransaction,
  SendTransactionError,
} from "@solana/web3.js";
import {
  createBurnCheckedInstruction,
  createTransferCheckedInstruction,
  getAssociatedTokenAddressSync,
  createAssociatedTokenAccountIdempotentInstruction,
  createAssociatedTokenAccountInstruction,
  createInitializeMint2Instruction,
  createMintToInstruction,
  createTransferInstruction,
  getAccount,
  getMint,
  MINT_SIZE,
  TOKEN_PROGRAM_ID,
} from "@solana/spl-token";
import { createMemoInstruction } from "@solana/spl-memo";
import { encodeBase58 } from "ethers";
import { startSolanaStandin, SolanaStandin } from "../../localnet/solana/server";
import { startLocalSolana } from "../../localnet/solana/cli";
import { confirm, payWatt, sendAndConfirm } from "../../scripts/lib/wattPayer";
import { tempDir } from "../keeper/shared/chain";

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
  const rpc = async (method: string, params: unknown[]) => {
    const res = await fetch(s.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: "x", method, params }),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return (await res.json()) as any;
  };
  const pay = (amount: bigint, memo: string, opts = {}) =>
    payWatt(c, agent, { mint, decimals: 9, recipientOwner: service.publicKey, amount, memo }, opts);

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
      info: {
        source: getAssociatedTokenAddressSync(mint, agent.publicKey).toBase58(),
        mint: mint.toBase58(),
        destination: dest,
        authority: agent.publicKey.toBase58(),
        tokenAmount: { amount: "5000000000", decimals: 9, uiAmount: 5, uiAmountString: "5" },
      },
    });
    expect(memo).to.include({ program: "spl-memo", parsed: "job-1" });
    expect((memo as unknown as { programId: PublicKey }).programId.toBase58()).to.equal("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");
    const raw = await rpc("getTransaction", [sig, { encoding: "jsonParsed", maxSupportedTransactionVersion: 0 }]);
    expect(raw.result.transaction.message.instructions[1]).to.deep.equal({
      program: "spl-memo",
      programId: "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr",
      parsed: "job-1",
      stackHeight: null,
    });
    expect(raw.result.transaction.message.instructions[0]).to.deep.include({
      program: "spl-token",
      programId: TOKEN_PROGRAM_ID.toBase58(),
      stackHeight: null,
    });
    expect(raw.result.transaction.message.accountKeys[0]).to.deep.equal({
      pubkey: agent.publicKey.toBase58(),
      signer: true,
      writable: true,
      source: "transaction",
    });
    expect(raw.result.meta).to.deep.include({ err: null, status: { Ok: null }, fee: 5000, innerInstructions: [] });
    expect(raw.result.version).to.equal("legacy");
    const idx = tx.transaction.message.accountKeys.findIndex((k) => k.pubkey.toBase58() === dest);
    const post = tx.meta!.postTokenBalances!.find((b) => b.accountIndex === idx)!;
    const pre = tx.meta!.preTokenBalances!.find((b) => b.accountIndex === idx)!;
    expect(BigInt(post.uiTokenAmount.amount) - BigInt(pre.uiTokenAmount.amount)).to.equal(5n * 10n ** 9n);
    expect(pre.uiTokenAmount).to.deep.equal({ amount: "0", decimals: 9, uiAmount: null, uiAmountString: "0" }); // as stored statuses show a zero balance
    expect(post).to.deep.equal({
      accountIndex: idx,
      mint: mint.toBase58(),
      owner: service.publicKey.toBase58(),
      programId: TOKEN_PROGRAM_ID.toBase58(),
      uiTokenAmount: { amount: "5000000000", decimals: 9, uiAmount: 5, uiAmountString: "5" },
    });
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
    const tx = new Transaction({ feePayer: agent.publicKey, recentBlockhash: blockhash }).add(
      createMemoInstruction("forged", [agent.publicKey]),
    );
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
    const tx = new Transaction({ feePayer: agent.publicKey, recentBlockhash: blockhash }).add(
      createMemoInstruction("once", [agent.publicKey]),
    );
    tx.sign(agent);
    await c.sendRawTransaction(tx.serialize());
    expect(String(await c.sendRawTransaction(tx.serialize()).catch((e: Error) => e))).to.match(/already been processed/);
    const stale = new Transaction({ feePayer: agent.publicKey, recentBlockhash: Keypair.generate().publicKey.toBase58() }).add(
      createMemoInstruction("x", [agent.publicKey]),
    );
    stale.sign(agent);
    expect(String(await c.sendRawTransaction(stale.serialize()).catch((e: Error) => e))).to.match(/Blockhash not found/);
  });

  it("burnChecked by the owner reduces the supply; by someone else it fails", async () => {
    const supply = s.supply(mint);
    const ata = getAssociatedTokenAddressSync(mint, agent.publicKey);
    s.airdrop(service.publicKey, BigInt(LAMPORTS_PER_SOL));
    await sendAndConfirm(c, [agent], [createBurnCheckedInstruction(ata, mint, agent.publicKey, 7n, 9)]);
    expect(s.supply(mint)).to.equal(supply - 7n);
    const err = await sendAndConfirm(c, [service], [createBurnCheckedInstruction(ata, mint, service.publicKey, 7n, 9)]).catch(
      (e: Error) => e,
    );
    expect(String(err)).to.match(/Custom":4|custom program error/i);
  });

  it("creates associated token accounts (idempotent) and checks mint and decimals of transferChecked", async () => {
    const other = Keypair.generate();
    await sendAndConfirm(
      c,
      [agent],
      [
        createAssociatedTokenAccountIdempotentInstruction(
          agent.publicKey,
          getAssociatedTokenAddressSync(mint, other.publicKey),
          other.publicKey,
          mint,
        ),
      ],
    );
    await sendAndConfirm(
      c,
      [agent],
      [
        createAssociatedTokenAccountIdempotentInstruction(
          agent.publicKey,
          getAssociatedTokenAddressSync(mint, other.publicKey),
          other.publicKey,
          mint,
        ),
      ],
    );
    const from = getAssociatedTokenAddressSync(mint, agent.publicKey);
    const to = getAssociatedTokenAddressSync(mint, other.publicKey);
    const wrongDecimals = await sendAndConfirm(
      c,
      [agent],
      [createTransferCheckedInstruction(from, mint, to, agent.publicKey, 1n, 6)],
    ).catch((e: Error) => e);
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

  it("preflight failures carry the real message, error and program logs", async () => {
    const e = (await pay(10n ** 15n, "overdraft").catch((x: Error) => x)) as SendTransactionError;
    expect(e).to.be.instanceOf(SendTransactionError);
    expect(e.transactionError.message).to.equal("Transaction simulation failed: Error processing Instruction 0: custom program error: 0x1");
    const logs = e.transactionError.logs!;
    expect(logs).to.include("Program log: Instruction: TransferChecked");
    expect(logs).to.include("Program log: Error: insufficient funds");
    expect(logs[logs.length - 1]).to.equal(`Program ${TOKEN_PROGRAM_ID.toBase58()} failed: custom program error: 0x1`);
    const ok = await pay(1n, "logs");
    const tx = (await c.getParsedTransaction(ok, { maxSupportedTransactionVersion: 0 }))!;
    expect(tx.meta!.logMessages).to.include('Program log: Memo (len 4): "logs"');
    expect(tx.meta!.logMessages).to.include(`Program ${TOKEN_PROGRAM_ID.toBase58()} success`);
  });

  it("simulateTransaction runs without recording anything", async () => {
    const { blockhash } = await c.getLatestBlockhash();
    const from = getAssociatedTokenAddressSync(mint, agent.publicKey);
    const to = getAssociatedTokenAddressSync(mint, service.publicKey);
    const tx = new Transaction({ feePayer: agent.publicKey, recentBlockhash: blockhash }).add(
      createTransferCheckedInstruction(from, mint, to, agent.publicKey, 10n ** 15n, 9),
    );
    tx.sign(agent);
    const slot = await c.getSlot();
    const sim = await c.simulateTransaction(tx);
    expect(sim.value.err).to.deep.equal({ InstructionError: [0, { Custom: 1 }] });
    expect(sim.value.logs).to.include("Program log: Error: insufficient funds");
    expect(await c.getSlot()).to.equal(slot);
    expect((await c.getSignatureStatuses([encodeBase58(tx.signature!)])).value[0]).to.equal(null);
  });

  it("requestAirdrop is a real faucet transfer that confirms", async () => {
    const k = Keypair.generate();
    const sig = await c.requestAirdrop(k.publicKey, 2 * LAMPORTS_PER_SOL);
    await confirm(c, sig);
    expect(await c.getBalance(k.publicKey)).to.equal(2 * LAMPORTS_PER_SOL);
    const tx = (await c.getParsedTransaction(sig, { maxSupportedTransactionVersion: 0 }))!;
    expect(tx.transaction.message.instructions[0]).to.deep.include({
      program: "system",
      parsed: {
        type: "transfer",
        info: { source: s.ledger.faucet.publicKey.toBase58(), destination: k.publicKey.toBase58(), lamports: 2 * LAMPORTS_PER_SOL },
      },
    });
  });

  it("accounts in base64 (spl-token getAccount / getMint) and jsonParsed; token supply and accounts by owner", async () => {
    const ata = getAssociatedTokenAddressSync(mint, agent.publicKey);
    const acct = await getAccount(c, ata);
    expect(acct.owner.toBase58()).to.equal(agent.publicKey.toBase58());
    expect(acct.mint.toBase58()).to.equal(mint.toBase58());
    expect(acct.amount).to.equal(s.tokenBalance(agent.publicKey, mint));
    const m = await getMint(c, mint);
    expect(m.decimals).to.equal(9);
    expect(m.supply).to.equal(s.supply(mint));
    const parsed = (await c.getParsedAccountInfo(ata)).value!;
    expect(parsed.owner.toBase58()).to.equal(TOKEN_PROGRAM_ID.toBase58());
    expect((parsed.data as { parsed: { type: string; info: { owner: string; tokenAmount: { amount: string } } } }).parsed).to.deep.include({
      type: "account",
    });
    expect((await c.getTokenSupply(mint)).value.amount).to.equal(s.supply(mint).toString());
    const byOwner = await c.getParsedTokenAccountsByOwner(agent.publicKey, { mint });
    expect(byOwner.value.map((v) => v.pubkey.toBase58())).to.deep.equal([ata.toBase58()]);
    expect(await c.getAccountInfo(Keypair.generate().publicKey)).to.equal(null);
    expect(await c.getMinimumBalanceForRentExemption(165)).to.equal(2039280);
  });

  it("a mint and accounts made by transactions: createAccount, initializeMint2, ATA create, mintTo, transfer; parsed shapes", async () => {
    const authority = Keypair.generate();
    const mintKey = Keypair.generate();
    s.airdrop(authority.publicKey, BigInt(LAMPORTS_PER_SOL));
    const rent = await c.getMinimumBalanceForRentExemption(MINT_SIZE);
    const ata = getAssociatedTokenAddressSync(mintKey.publicKey, authority.publicKey);
    const sig = await sendAndConfirm(
      c,
      [authority, mintKey],
      [
        SystemProgram.createAccount({
          fromPubkey: authority.publicKey,
          newAccountPubkey: mintKey.publicKey,
          lamports: rent,
          space: MINT_SIZE,
          programId: TOKEN_PROGRAM_ID,
        }),
        createInitializeMint2Instruction(mintKey.publicKey, 6, authority.publicKey, null),
        createAssociatedTokenAccountInstruction(authority.publicKey, ata, authority.publicKey, mintKey.publicKey),
        createMintToInstruction(mintKey.publicKey, ata, authority.publicKey, 1_500_000n),
      ],
    );
    expect(s.tokenBalance(authority.publicKey, mintKey.publicKey)).to.equal(1_500_000n);
    const tx = (await c.getParsedTransaction(sig, { maxSupportedTransactionVersion: 0 }))!;
    expect(tx.meta!.fee).to.equal(10_000);
    const ix = tx.transaction.message.instructions as { program: string; parsed: { type: string; info: Record<string, unknown> } }[];
    expect(ix.map((i) => `${i.program}:${i.parsed.type}`)).to.deep.equal([
      "system:createAccount",
      "spl-token:initializeMint2",
      "spl-associated-token-account:create",
      "spl-token:mintTo",
    ]);
    expect(ix[3].parsed.info).to.deep.equal({
      mint: mintKey.publicKey.toBase58(),
      account: ata.toBase58(),
      mintAuthority: authority.publicKey.toBase58(),
      amount: "1500000",
    });
    expect(ix[2].parsed.info).to.deep.equal({
      source: authority.publicKey.toBase58(),
      account: ata.toBase58(),
      wallet: authority.publicKey.toBase58(),
      mint: mintKey.publicKey.toBase58(),
      systemProgram: SystemProgram.programId.toBase58(),
      tokenProgram: TOKEN_PROGRAM_ID.toBase58(),
    });
    // a plain transfer (not checked) to a fresh ATA
    const other = Keypair.generate();
    const otherAta = getAssociatedTokenAddressSync(mintKey.publicKey, other.publicKey);
    const t2 = await sendAndConfirm(
      c,
      [authority],
      [
        createAssociatedTokenAccountIdempotentInstruction(authority.publicKey, otherAta, other.publicKey, mintKey.publicKey),
        createTransferInstruction(ata, otherAta, authority.publicKey, 500_000n),
      ],
    );
    const p2 = (await c.getParsedTransaction(t2, { maxSupportedTransactionVersion: 0 }))!;
    expect((p2.transaction.message.instructions[1] as { parsed: unknown }).parsed).to.deep.equal({
      type: "transfer",
      info: { source: ata.toBase58(), destination: otherAta.toBase58(), amount: "500000", authority: authority.publicKey.toBase58() },
    });
    const post = p2.meta!.postTokenBalances!.find((b) => b.owner === other.publicKey.toBase58())!;
    expect(post.uiTokenAmount).to.deep.equal({ amount: "500000", decimals: 6, uiAmount: 0.5, uiAmountString: "0.5" });
    expect(p2.meta!.preTokenBalances!.find((b) => b.owner === other.publicKey.toBase58())).to.equal(undefined); // created in this transaction
    // minting by someone who is not the authority fails with OwnerMismatch (custom 4)
    const rogue = await sendAndConfirm(c, [agent], [createMintToInstruction(mintKey.publicKey, ata, agent.publicKey, 1n)]).catch(
      (e: Error) => e,
    );
    expect(String(rogue)).to.match(/custom program error: 0x4/);
  });

  it("getTransaction in json and base64; version only when maxSupportedTransactionVersion is given; v0 transactions", async () => {
    const sig = await pay(3n, "enc");
    const json = (await c.getTransaction(sig, { maxSupportedTransactionVersion: 0 }))!;
    expect(json.version).to.equal("legacy");
    const keys = json.transaction.message.staticAccountKeys.map((k) => k.toBase58());
    const ixs = json.transaction.message.compiledInstructions;
    expect(keys[ixs[0].programIdIndex]).to.equal(TOKEN_PROGRAM_ID.toBase58());
    expect(keys[ixs[1].programIdIndex]).to.equal("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");
    expect(Buffer.from(ixs[1].data).toString()).to.equal("enc");
    const noVersion = await rpc("getTransaction", [sig, { encoding: "jsonParsed" }]);
    expect(noVersion.result).to.not.have.property("version");
    const b64 = await rpc("getTransaction", [sig, { encoding: "base64", maxSupportedTransactionVersion: 0 }]);
    const tx = VersionedTransaction.deserialize(Buffer.from(b64.result.transaction[0], "base64"));
    expect(encodeBase58(tx.signatures[0])).to.equal(sig);
    expect(json.transaction.signatures).to.deep.equal([sig]);
    // a v0 message (no lookup tables)
    const { blockhash } = await c.getLatestBlockhash();
    const from = getAssociatedTokenAddressSync(mint, agent.publicKey);
    const to = getAssociatedTokenAddressSync(mint, service.publicKey);
    const v0 = new VersionedTransaction(
      new TransactionMessage({
        payerKey: agent.publicKey,
        recentBlockhash: blockhash,
        instructions: [
          createTransferCheckedInstruction(from, mint, to, agent.publicKey, 4n, 9),
          createMemoInstruction("v0", [agent.publicKey]),
        ],
      }).compileToV0Message(),
    );
    v0.sign([agent]);
    const v0sig = await c.sendTransaction(v0);
    await confirm(c, v0sig);
    const parsed = (await c.getParsedTransaction(v0sig, { maxSupportedTransactionVersion: 0 }))!;
    expect(parsed.version).to.equal(0);
    expect((parsed.transaction.message.instructions[1] as { parsed: unknown }).parsed).to.equal("v0");
    const refused = await rpc("getTransaction", [v0sig, { encoding: "jsonParsed" }]);
    expect(refused.error.code).to.equal(-32015);
  });

  it("getFeeForMessage, expiry of blockhashes, pagination with before / until", async () => {
    const { blockhash } = await c.getLatestBlockhash();
    const msg = new Transaction({ feePayer: agent.publicKey, recentBlockhash: blockhash })
      .add(createMemoInstruction("fee", [agent.publicKey, service.publicKey]))
      .compileMessage();
    expect((await c.getFeeForMessage(msg)).value).to.equal(10_000);
    const a = await pay(1n, "p1");
    const b = await pay(1n, "p2");
    const cc = await pay(1n, "p3");
    const ata = getAssociatedTokenAddressSync(mint, service.publicKey);
    expect((await c.getSignaturesForAddress(ata, { until: a })).map((x) => x.signature).slice(0, 2)).to.deep.equal([cc, b]);
    expect((await c.getSignaturesForAddress(ata, { until: a })).map((x) => x.signature)).to.not.include(a);
    expect((await c.getSignaturesForAddress(ata, { before: cc, limit: 1 })).map((x) => x.signature)).to.deep.equal([b]);
    expect((await c.getSignaturesForAddress(ata, { before: cc, until: a })).map((x) => x.signature)).to.deep.equal([b]);
    // an expired blockhash is refused like an unknown one
    const old = new Transaction({ feePayer: agent.publicKey, recentBlockhash: blockhash }).add(
      createMemoInstruction("late", [agent.publicKey]),
    );
    old.sign(agent);
    s.ledger.advance(151);
    expect(await c.isBlockhashValid(blockhash)).to.deep.include({ value: false });
    expect(String(await c.sendRawTransaction(old.serialize()).catch((e: Error) => e))).to.match(/Blockhash not found/);
  });

  it("raw JSON-RPC: batches, unknown method -32601, invalid request -32600, request log", async () => {
    const before = s.requests.http;
    const res = await fetch(s.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([
        { jsonrpc: "2.0", id: "1", method: "getSlot" },
        { jsonrpc: "2.0", id: "2", method: "noSuchMethod", params: [] },
        { id: "3", method: "getSlot" },
      ]),
    });
    const out = (await res.json()) as { id: string; result?: unknown; error?: { code: number; message: string } }[];
    expect(out.map((o) => o.id)).to.deep.equal(["1", "2", "3"]);
    expect(out[0].result).to.be.a("number");
    expect(out[1].error).to.deep.equal({ code: -32601, message: "Method not found" });
    expect(out[2].error!.code).to.equal(-32600);
    expect(s.requests.http).to.equal(before + 1);
    expect(s.requests.log.at(-1)).to.deep.equal({ method: "noSuchMethod", params: [] });
  });

  it("submit() executes a signed transaction in-process like sendTransaction, without an RPC call; bad ones are refused the same way", async () => {
    const calls = s.requests.total;
    const from = getAssociatedTokenAddressSync(mint, agent.publicKey);
    const to = getAssociatedTokenAddressSync(mint, service.publicKey);
    const before = s.tokenBalance(service.publicKey, mint);
    const tx = new Transaction({ feePayer: agent.publicKey, ...s.latestBlockhash() }).add(
      createTransferCheckedInstruction(from, mint, to, agent.publicKey, 7n, 9),
      createMemoInstruction("in-process", [agent.publicKey]),
    );
    tx.sign(agent);
    const sig = s.submit(tx.serialize());
    expect(s.requests.total, "no RPC call").to.equal(calls);
    expect(s.tokenBalance(service.publicKey, mint)).to.equal(before + 7n);
    const seen = await c.getParsedTransaction(sig, { maxSupportedTransactionVersion: 0 });
    expect(seen?.meta?.err).to.equal(null);
    const listed = await c.getSignaturesForAddress(to, { limit: 1 });
    expect(listed[0]).to.include({ signature: sig, memo: "[10] in-process" });
    expect(() => s.submit(tx.serialize()), "the same bytes twice").to.throw(/already been processed/);
  });

  it("startLocalSolana writes the local set-up file with a funded agent", async () => {
    const dir = tempDir();
    const { standin, info, file } = await startLocalSolana({ port: 0, dataDir: dir });
    try {
      expect(file).to.equal(path.join(dir, "solana-local.json"));
      expect(JSON.parse(fs.readFileSync(file, "utf8"))).to.deep.equal(info);
      expect(standin.tokenBalance(new PublicKey(info.agent), new PublicKey(info.wattMint))).to.equal(1_000_000n * 10n ** 9n);
      expect(Keypair.fromSecretKey(Uint8Array.from(JSON.parse(info.serviceWalletSecret))).publicKey.toBase58()).to.equal(
        info.serviceWallet,
      );
    } finally {
      await standin.close();
    }
  });
});
