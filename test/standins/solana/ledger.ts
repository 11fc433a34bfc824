/**
 * The state of the Solana stand-in and the execution of real signed transactions against it:
 * SOL balances, SPL mints and token accounts (Tokenkeg program), the associated-token-account
 * program, SPL Memo and System transfers. Signatures are verified (ed25519 over the serialized
 * message), the recent blockhash must be known and unexpired, the fee is 5000 lamports per
 * signature, and a failing instruction reverts the whole transaction (the fee is still taken) with
 * the error Solana reports, e.g. {"InstructionError":[1,{"Custom":1}]} for insufficient funds.
 * Executed transactions are kept in the jsonParsed shape getTransaction answers with.
 */
import crypto from "node:crypto";
import { PublicKey, VersionedTransaction, SystemProgram } from "@solana/web3.js";
import { getAssociatedTokenAddressSync, TOKEN_PROGRAM_ID, ASSOCIATED_TOKEN_PROGRAM_ID } from "@solana/spl-token";
import { encodeBase58 } from "ethers";

export const MEMO_V1 = "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo";
export const MEMO_V2 = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr";
const TOKEN = TOKEN_PROGRAM_ID.toBase58();
const ATA = ASSOCIATED_TOKEN_PROGRAM_ID.toBase58();
const SYSTEM = SystemProgram.programId.toBase58();
const COMPUTE_BUDGET = "ComputeBudget111111111111111111111111111111";
export const FEE_PER_SIGNATURE = 5000n;
export const TOKEN_ACCOUNT_RENT = 2_039_280n;
/** A blockhash is valid for this many blocks after it was handed out (Solana: 150). */
export const BLOCKHASH_VALIDITY = 150;

export interface Mint {
  decimals: number;
  supply: bigint;
  mintAuthority: string;
}
export interface TokenAccount {
  mint: string;
  owner: string;
  amount: bigint;
}

export type TxError = string | Record<string, unknown>;

export class RpcFailure extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

export interface StoredTx {
  signature: string;
  slot: number;
  blockTime: number;
  err: TxError | null;
  accounts: string[];
  memo: string | null;
  parsed: Record<string, unknown>;
}

interface State {
  lamports: Map<string, bigint>;
  mints: Map<string, Mint>;
  tokens: Map<string, TokenAccount>;
}

const clone = (s: State): State => ({
  lamports: new Map(s.lamports),
  mints: new Map([...s.mints].map(([k, v]) => [k, { ...v }])),
  tokens: new Map([...s.tokens].map(([k, v]) => [k, { ...v }])),
});

class InstructionFailure extends Error {
  constructor(readonly detail: TxError) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
}
const custom = (n: number) => new InstructionFailure({ Custom: n });

const u64 = (data: Uint8Array, at: number) => Buffer.from(data).readBigUInt64LE(at);
const ui = (amount: bigint, decimals: number) => {
  const s = amount.toString().padStart(decimals + 1, "0");
  const str = decimals ? `${s.slice(0, -decimals)}.${s.slice(-decimals)}`.replace(/\.?0+$/, "") : s;
  return { amount: amount.toString(), decimals, uiAmount: Number(str), uiAmountString: str };
};

export class Ledger {
  state: State = { lamports: new Map(), mints: new Map(), tokens: new Map() };
  readonly txs = new Map<string, StoredTx>();
  /** Per address, signatures in execution order (oldest first). */
  readonly byAddress = new Map<string, string[]>();
  readonly blockhashes = new Map<string, number>();
  slot = 1;
  blockHeight = 1;
  readonly genesisHash = encodeBase58(crypto.randomBytes(32));

  latestBlockhash(): { blockhash: string; lastValidBlockHeight: number } {
    const blockhash = encodeBase58(crypto.randomBytes(32));
    const lastValidBlockHeight = this.blockHeight + BLOCKHASH_VALIDITY;
    this.blockhashes.set(blockhash, lastValidBlockHeight);
    return { blockhash, lastValidBlockHeight };
  }

  /** Moves the chain on by n blocks (tests of expiry). */
  advance(n: number): void {
    this.slot += n;
    this.blockHeight += n;
  }

  airdrop(to: string, lamports: bigint): void {
    this.state.lamports.set(to, (this.state.lamports.get(to) ?? 0n) + lamports);
  }

  createMint(address: string, decimals: number, mintAuthority: string): void {
    this.state.mints.set(address, { decimals, supply: 0n, mintAuthority });
  }

  /** Creates the owner's associated token account if needed and mints into it (test set-up, no transaction). */
  mintTo(owner: string, mint: string, amount: bigint): string {
    const ata = getAssociatedTokenAddressSync(new PublicKey(mint), new PublicKey(owner), true).toBase58();
    const m = this.state.mints.get(mint);
    if (!m) throw new Error(`no mint ${mint}`);
    const acct = this.state.tokens.get(ata) ?? { mint, owner, amount: 0n };
    acct.amount += amount;
    m.supply += amount;
    this.state.tokens.set(ata, acct);
    return ata;
  }

  /** Verifies and executes a wire transaction; returns its signature or throws an RpcFailure. */
  submit(wire: Uint8Array, skipPreflight: boolean): string {
    let tx: VersionedTransaction;
    try {
      tx = VersionedTransaction.deserialize(wire);
    } catch (e) {
      throw new RpcFailure(-32602, `invalid transaction: failed to deserialize (${(e as Error).message})`);
    }
    const msg = tx.message;
    if (msg.addressTableLookups.length > 0) throw new RpcFailure(-32602, "invalid transaction: address lookup tables are not supported by this stand-in");
    const keys = msg.staticAccountKeys.map((k) => k.toBase58());
    const nSig = msg.header.numRequiredSignatures;
    const bytes = msg.serialize();
    for (let i = 0; i < nSig; i++) {
      const sig = tx.signatures[i];
      const pub = Buffer.from(msg.staticAccountKeys[i].toBytes());
      const key = crypto.createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: pub.toString("base64url") }, format: "jwk" });
      if (!sig || sig.every((b) => b === 0) || !crypto.verify(null, bytes, key, Buffer.from(sig))) {
        throw new RpcFailure(-32003, "Transaction signature verification failure");
      }
    }
    const signature = encodeBase58(tx.signatures[0]);
    if (this.txs.has(signature)) throw new RpcFailure(-32002, "Transaction simulation failed: This transaction has already been processed", { err: "AlreadyProcessed", logs: [] });
    const lastValid = this.blockhashes.get(msg.recentBlockhash);
    if (lastValid === undefined || lastValid < this.blockHeight) {
      throw new RpcFailure(-32002, "Transaction simulation failed: Blockhash not found", { err: "BlockhashNotFound", logs: [] });
    }
    const feePayer = keys[0];
    const fee = FEE_PER_SIGNATURE * BigInt(nSig);
    if ((this.state.lamports.get(feePayer) ?? 0n) < fee) {
      throw new RpcFailure(-32002, "Transaction simulation failed: Attempt to debit an account but found no record of a prior credit.", { err: "AccountNotFound", logs: [] });
    }
    const signers = new Set(keys.slice(0, nSig));
    const before = clone(this.state);
    const work = clone(this.state);
    work.lamports.set(feePayer, work.lamports.get(feePayer)! - fee);
    const afterFee = clone(work);
    const parsedIx: Record<string, unknown>[] = [];
    const logs: string[] = [];
    let err: TxError | null = null;
    const memos: string[] = [];
    msg.compiledInstructions.forEach((ix, index) => {
      const programId = keys[ix.programIdIndex];
      const accts = ix.accountKeyIndexes.map((i) => keys[i]);
      const parsed = this.describe(programId, accts, ix.data);
      parsedIx.push(parsed);
      if (programId === MEMO_V1 || programId === MEMO_V2) memos.push(Buffer.from(ix.data).toString("utf8"));
      if (err) return;
      logs.push(`Program ${programId} invoke [1]`);
      try {
        this.execute(work, programId, accts, ix.data, signers);
        logs.push(`Program ${programId} success`);
      } catch (e) {
        if (!(e instanceof InstructionFailure)) throw e;
        err = { InstructionError: [index, e.detail] };
        logs.push(`Program ${programId} failed: ${e.message}`);
      }
    });
    if (err && !skipPreflight) {
      throw new RpcFailure(-32002, `Transaction simulation failed: Error processing Instruction ${(err as { InstructionError: [number, unknown] }).InstructionError[0]}: ${JSON.stringify((err as { InstructionError: [number, unknown] }).InstructionError[1])}`, { err, logs });
    }
    const after = err ? afterFee : work;
    this.state = after;
    this.slot += 1;
    this.blockHeight += 1;
    const blockTime = Math.floor(Date.now() / 1000);
    const tokenBalances = (s: State) =>
      keys.flatMap((k, accountIndex) => {
        const t = s.tokens.get(k);
        if (!t) return [];
        return [{ accountIndex, mint: t.mint, owner: t.owner, programId: TOKEN, uiTokenAmount: ui(t.amount, s.mints.get(t.mint)?.decimals ?? 0) }];
      });
    const writable = (i: number) => msg.isAccountWritable(i);
    const stored: StoredTx = {
      signature,
      slot: this.slot,
      blockTime,
      err,
      accounts: keys,
      memo: memos.length ? memos.map((m) => `[${Buffer.byteLength(m)}] ${m}`).join("; ") : null,
      parsed: {
        slot: this.slot,
        blockTime,
        version: tx.version,
        meta: {
          err,
          status: err ? { Err: err } : { Ok: null },
          fee: Number(fee),
          preBalances: keys.map((k) => Number(before.lamports.get(k) ?? 0n)),
          postBalances: keys.map((k) => Number(after.lamports.get(k) ?? 0n)),
          preTokenBalances: tokenBalances(before),
          postTokenBalances: tokenBalances(after),
          innerInstructions: [],
          logMessages: logs,
          rewards: [],
          computeUnitsConsumed: 1500 * parsedIx.length,
        },
        transaction: {
          signatures: tx.signatures.slice(0, nSig).map((s) => encodeBase58(s)),
          message: {
            accountKeys: keys.map((pubkey, i) => ({ pubkey, signer: i < nSig, writable: writable(i), source: "transaction" })),
            recentBlockhash: msg.recentBlockhash,
            instructions: parsedIx,
          },
        },
      },
    };
    this.txs.set(signature, stored);
    for (const k of new Set(keys)) {
      const list = this.byAddress.get(k) ?? [];
      list.push(signature);
      this.byAddress.set(k, list);
    }
    return signature;
  }

  /** The jsonParsed form of one instruction. */
  private describe(programId: string, a: string[], data: Uint8Array): Record<string, unknown> {
    const raw = { accounts: a, data: encodeBase58(data.length ? data : new Uint8Array([0])).replace(/^1$/, ""), programId, stackHeight: null };
    const mintDecimals = (mint: string) => this.state.mints.get(mint)?.decimals ?? 0;
    const parsed = (program: string, p: unknown) => ({ program, programId, parsed: p, stackHeight: null });
    try {
      if (programId === MEMO_V1 || programId === MEMO_V2) return parsed("spl-memo", Buffer.from(data).toString("utf8"));
      if (programId === SYSTEM && data.length >= 12 && Buffer.from(data).readUInt32LE(0) === 2) {
        return parsed("system", { type: "transfer", info: { source: a[0], destination: a[1], lamports: Number(u64(data, 4)) } });
      }
      if (programId === ATA) {
        const type = data.length === 0 || data[0] === 0 ? "create" : data[0] === 1 ? "createIdempotent" : undefined;
        if (type) return parsed("spl-associated-token-account", { type, info: { source: a[0], account: a[1], wallet: a[2], mint: a[3], systemProgram: a[4], tokenProgram: a[5] } });
      }
      if (programId === TOKEN) {
        const tag = data[0];
        if (tag === 3) return parsed("spl-token", { type: "transfer", info: { source: a[0], destination: a[1], authority: a[2], amount: u64(data, 1).toString() } });
        if (tag === 12) {
          return parsed("spl-token", { type: "transferChecked", info: { source: a[0], mint: a[1], destination: a[2], authority: a[3], tokenAmount: ui(u64(data, 1), data[9]) } });
        }
        if (tag === 8) return parsed("spl-token", { type: "burn", info: { account: a[0], mint: a[1], authority: a[2], amount: u64(data, 1).toString() } });
        if (tag === 15) return parsed("spl-token", { type: "burnChecked", info: { account: a[0], mint: a[1], authority: a[2], tokenAmount: ui(u64(data, 1), data[9]) } });
        if (tag === 7) return parsed("spl-token", { type: "mintTo", info: { mint: a[0], account: a[1], mintAuthority: a[2], amount: u64(data, 1).toString() } });
        if (tag === 14) return parsed("spl-token", { type: "mintToChecked", info: { mint: a[0], account: a[1], mintAuthority: a[2], tokenAmount: ui(u64(data, 1), data[9] ?? mintDecimals(a[0])) } });
      }
    } catch {
      // malformed data: shown raw, and execute() fails it
    }
    return raw;
  }

  private execute(s: State, programId: string, a: string[], data: Uint8Array, signers: Set<string>): void {
    const need = (n: number) => {
      if (a.length < n) throw new InstructionFailure("NotEnoughAccountKeys");
    };
    const signed = (k: string) => {
      if (!signers.has(k)) throw new InstructionFailure("MissingRequiredSignature");
    };
    if (programId === MEMO_V1 || programId === MEMO_V2) {
      for (const k of a) signed(k);
      try {
        new TextDecoder("utf-8", { fatal: true }).decode(data);
      } catch {
        throw new InstructionFailure("InvalidInstructionData");
      }
      return;
    }
    if (programId === COMPUTE_BUDGET) return;
    if (programId === SYSTEM) {
      if (data.length < 12 || Buffer.from(data).readUInt32LE(0) !== 2) throw new InstructionFailure("InvalidInstructionData");
      need(2);
      signed(a[0]);
      const lamports = u64(data, 4);
      const from = s.lamports.get(a[0]) ?? 0n;
      if (from < lamports) throw custom(1);
      s.lamports.set(a[0], from - lamports);
      s.lamports.set(a[1], (s.lamports.get(a[1]) ?? 0n) + lamports);
      return;
    }
    if (programId === ATA) {
      need(4);
      const idempotent = data.length > 0 && data[0] === 1;
      const [payer, ata, owner, mint] = a;
      signed(payer);
      if (getAssociatedTokenAddressSync(new PublicKey(mint), new PublicKey(owner), true).toBase58() !== ata) throw new InstructionFailure("InvalidSeeds");
      if (!s.mints.has(mint)) throw new InstructionFailure("InvalidAccountData");
      const existing = s.tokens.get(ata);
      if (existing) {
        if (idempotent && existing.owner === owner && existing.mint === mint) return;
        throw custom(0); // account already in use
      }
      const bal = s.lamports.get(payer) ?? 0n;
      if (bal < TOKEN_ACCOUNT_RENT) throw custom(1);
      s.lamports.set(payer, bal - TOKEN_ACCOUNT_RENT);
      s.lamports.set(ata, TOKEN_ACCOUNT_RENT);
      s.tokens.set(ata, { mint, owner, amount: 0n });
      return;
    }
    if (programId === TOKEN) {
      const tag = data[0];
      const account = (k: string) => {
        const t = s.tokens.get(k);
        if (!t) throw new InstructionFailure("InvalidAccountData");
        return t;
      };
      const amountAt1 = () => {
        if (data.length < 9) throw new InstructionFailure("InvalidInstructionData");
        return u64(data, 1);
      };
      const checkDecimals = (mint: string, at: number) => {
        if (data.length < at + 1) throw new InstructionFailure("InvalidInstructionData");
        if (s.mints.get(mint)?.decimals !== data[at]) throw custom(18); // MintDecimalsMismatch
      };
      if (tag === 3 || tag === 12) {
        const checked = tag === 12;
        need(checked ? 4 : 3);
        const [src, mintOrDst, dstOrAuth, authChecked] = a;
        const dst = checked ? dstOrAuth : mintOrDst;
        const auth = checked ? authChecked : dstOrAuth;
        const amount = amountAt1();
        const from = account(src);
        const to = account(dst);
        if (checked) {
          if (from.mint !== mintOrDst) throw custom(3); // MintMismatch
          checkDecimals(mintOrDst, 9);
        }
        if (from.mint !== to.mint) throw custom(3);
        if (from.owner !== auth) throw custom(4); // OwnerMismatch
        signed(auth);
        if (from.amount < amount) throw custom(1); // InsufficientFunds
        from.amount -= amount;
        to.amount += amount;
        return;
      }
      if (tag === 8 || tag === 15) {
        need(3);
        const [acct, mint, auth] = a;
        const amount = amountAt1();
        const t = account(acct);
        if (t.mint !== mint) throw custom(3);
        if (tag === 15) checkDecimals(mint, 9);
        if (t.owner !== auth) throw custom(4);
        signed(auth);
        if (t.amount < amount) throw custom(1);
        t.amount -= amount;
        s.mints.get(mint)!.supply -= amount;
        return;
      }
      if (tag === 7 || tag === 14) {
        need(3);
        const [mint, acct, auth] = a;
        const amount = amountAt1();
        const m = s.mints.get(mint);
        if (!m) throw new InstructionFailure("InvalidAccountData");
        if (tag === 14) checkDecimals(mint, 9);
        if (m.mintAuthority !== auth) throw custom(4);
        signed(auth);
        const t = account(acct);
        if (t.mint !== mint) throw custom(3);
        t.amount += amount;
        m.supply += amount;
        return;
      }
      throw new InstructionFailure("InvalidInstructionData");
    }
    throw new InstructionFailure("UnsupportedProgramId");
  }
}
