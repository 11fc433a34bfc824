/**
 * The state of the Solana stand-in and the execution of real signed transactions against it:
 * SOL balances, SPL mints and token accounts (Tokenkeg program: transfer, transferChecked, burn,
 * burnChecked, mintTo, mintToChecked, initializeMint/2, initializeAccount/2/3), the
 * associated-token-account program (create, createIdempotent), SPL Memo v1 and v2, System transfer
 * and createAccount, ComputeBudget (no-op). Every required signature is verified (ed25519 over the
 * message bytes as sent), the recent blockhash must be known and unexpired, the fee is 5000 lamports
 * per signature, and a failing instruction reverts the whole transaction (the fee is still taken)
 * with the error Solana reports, e.g. {"InstructionError":[1,{"Custom":1}]} for insufficient funds,
 * and the program logs. Preflight failures carry the real texts ("Transaction simulation failed:
 * Error processing Instruction 0: custom program error: 0x1") and the simulation in `data`.
 * Executed transactions are kept in the jsonParsed shape getTransaction answers with, plus the wire
 * bytes and the compiled message for the json / base64 encodings. Address lookup tables and
 * Token-2022 are not supported.
 */
import crypto from "node:crypto";
import { Keypair, PublicKey, VersionedTransaction, SystemProgram, Transaction } from "@solana/web3.js";
import { getAssociatedTokenAddressSync, TOKEN_PROGRAM_ID, ASSOCIATED_TOKEN_PROGRAM_ID, ACCOUNT_SIZE, MINT_SIZE } from "@solana/spl-token";
import { encodeBase58 } from "ethers";

export const MEMO_V1 = "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo";
export const MEMO_V2 = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr";
const TOKEN = TOKEN_PROGRAM_ID.toBase58();
const ATA = ASSOCIATED_TOKEN_PROGRAM_ID.toBase58();
const SYSTEM = SystemProgram.programId.toBase58();
const COMPUTE_BUDGET = "ComputeBudget111111111111111111111111111111";
const SYSVAR_RENT = "SysvarRent111111111111111111111111111111111";
export { TOKEN as TOKEN_PROGRAM, ATA as ATA_PROGRAM, SYSTEM as SYSTEM_PROGRAM, COMPUTE_BUDGET };
export const FEE_PER_SIGNATURE = 5000n;
export const TOKEN_ACCOUNT_RENT = 2_039_280n;
/** A blockhash is valid for this many blocks after it was handed out (Solana: 150). */
export const BLOCKHASH_VALIDITY = 150;

/** Rent-exempt minimum for `space` bytes, the real formula: (space + 128) * 3480 * 2 (165 bytes: 2039280). */
export const rentExempt = (space: number) => (space + 128) * 6960;

/** Program and sysvar accounts: the balances and loaders mainnet shows for them (read only). */
export const BUILTINS: Record<string, { lamports: number; owner: string }> = {
  [SYSTEM]: { lamports: 1, owner: "NativeLoader1111111111111111111111111111111" },
  [COMPUTE_BUDGET]: { lamports: 1, owner: "NativeLoader1111111111111111111111111111111" },
  [TOKEN]: { lamports: 934087680, owner: "BPFLoader2111111111111111111111111111111111" },
  [ATA]: { lamports: 731913600, owner: "BPFLoader2111111111111111111111111111111111" },
  [MEMO_V1]: { lamports: 121159680, owner: "BPFLoader1111111111111111111111111111111111" },
  [MEMO_V2]: { lamports: 521498880, owner: "BPFLoader2111111111111111111111111111111111" },
  [SYSVAR_RENT]: { lamports: 1009200, owner: "Sysvar1111111111111111111111111111111111111" },
};

/** InstructionError's Display (what "Error processing Instruction n: ..." and the program log show). */
export function instructionErrorText(e: TxError): string {
  if (typeof e !== "string") return "Custom" in e ? `custom program error: 0x${Number(e.Custom).toString(16)}` : JSON.stringify(e);
  return (
    (
      {
        MissingRequiredSignature: "missing required signature for instruction",
        InvalidAccountData: "invalid account data for instruction",
        InvalidInstructionData: "invalid instruction data",
        InvalidArgument: "invalid program argument",
        NotEnoughAccountKeys: "insufficient account keys for instruction",
        ReadonlyDataModified: "instruction modified data of a read-only account",
        UninitializedAccount: "instruction requires an initialized account",
        IllegalOwner: "Provided owner is not allowed",
        InvalidSeeds: "Provided seeds do not result in a valid address",
        IncorrectProgramId: "incorrect program id for instruction",
        UnsupportedProgramId: "Unsupported program id",
      } as Record<string, string>
    )[e] ?? e
  );
}

/** TransactionError's Display, as in "Transaction simulation failed: <this>". */
export function transactionErrorText(err: TxError): string {
  if (typeof err === "string") {
    return (
      (
        {
          BlockhashNotFound: "Blockhash not found",
          AlreadyProcessed: "This transaction has already been processed",
          AccountNotFound: "Attempt to debit an account but found no record of a prior credit.",
          InsufficientFundsForFee: "Insufficient funds for fee",
          SignatureFailure: "Transaction did not pass signature verification",
        } as Record<string, string>
      )[err] ?? err
    );
  }
  const ie = (err as { InstructionError?: [number, TxError] }).InstructionError;
  return ie ? `Error processing Instruction ${ie[0]}: ${instructionErrorText(ie[1])}` : JSON.stringify(err);
}

/** The token program's own messages ("Program log: Error: ...") for its error codes. */
const TOKEN_ERRORS: Record<number, string> = {
  0: "Lamport balance below rent-exempt threshold",
  1: "insufficient funds",
  2: "Invalid Mint",
  3: "Account not associated with this Mint",
  4: "owner does not match",
  5: "the total supply of this token is fixed",
  6: "account or token already in use",
  14: "Operation overflowed",
  18: "The provided decimals value different from the Mint decimals",
};

export interface Mint {
  decimals: number;
  supply: bigint;
  mintAuthority: string | null;
  freezeAuthority?: string | null;
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
  /** The getTransaction answer for encoding jsonParsed (the server drops `version` unless maxSupportedTransactionVersion was given). */
  parsed: Record<string, unknown>;
  /** The wire bytes (encoding base64 / base58). */
  wire: Buffer;
  /** The message as encoding "json" shows it. */
  message: {
    accountKeys: string[];
    header: { numRequiredSignatures: number; numReadonlySignedAccounts: number; numReadonlyUnsignedAccounts: number };
    recentBlockhash: string;
    instructions: { programIdIndex: number; accounts: number[]; data: string; stackHeight: null }[];
  };
}

/** What a simulation (preflight or simulateTransaction) reports. */
export interface Simulation {
  err: TxError | null;
  logs: string[];
  unitsConsumed: number;
}

interface State {
  lamports: Map<string, bigint>;
  mints: Map<string, Mint>;
  tokens: Map<string, TokenAccount>;
  /** Accounts that SystemProgram.createAccount gave to a program, not initialized yet. */
  allocated: Map<string, { owner: string; space: number }>;
}

const clone = (s: State): State => ({
  lamports: new Map(s.lamports),
  mints: new Map([...s.mints].map(([k, v]) => [k, { ...v }])),
  tokens: new Map([...s.tokens].map(([k, v]) => [k, { ...v }])),
  allocated: new Map([...s.allocated].map(([k, v]) => [k, { ...v }])),
});

class InstructionFailure extends Error {
  constructor(
    readonly detail: TxError,
    readonly logs: string[] = [],
  ) {
    super(instructionErrorText(detail));
  }
}
const custom = (n: number) => new InstructionFailure({ Custom: n }, TOKEN_ERRORS[n] ? [`Program log: Error: ${TOKEN_ERRORS[n]}`] : []);

const u64 = (data: Uint8Array, at: number) => Buffer.from(data).readBigUInt64LE(at);
/** base58 of instruction data; empty data is "" (ethers' encoder would give "1"). */
export const encodeBase58OrEmpty = (data: Uint8Array) => (data.length ? encodeBase58(data) : "");
export const ui = (amount: bigint, decimals: number) => {
  const s = amount.toString().padStart(decimals + 1, "0");
  const str = decimals ? `${s.slice(0, -decimals)}.${s.slice(-decimals)}`.replace(/\.?0+$/, "") : s;
  return { amount: amount.toString(), decimals, uiAmount: Number(str), uiAmountString: str };
};

export class Ledger {
  state: State = { lamports: new Map(), mints: new Map(), tokens: new Map(), allocated: new Map() };
  readonly txs = new Map<string, StoredTx>();
  /** Per address, signatures in execution order (oldest first). */
  readonly byAddress = new Map<string, string[]>();
  readonly blockhashes = new Map<string, number>();
  slot = 1;
  blockHeight = 1;
  readonly genesisHash = encodeBase58(crypto.randomBytes(32));
  /** Signs the System transfers that requestAirdrop answers with. */
  readonly faucet = Keypair.generate();

  constructor() {
    this.state.lamports.set(this.faucet.publicKey.toBase58(), 10n ** 18n);
  }

  latestBlockhash(): { blockhash: string; lastValidBlockHeight: number } {
    const blockhash = encodeBase58(crypto.randomBytes(32));
    const lastValidBlockHeight = this.blockHeight + BLOCKHASH_VALIDITY;
    this.blockhashes.set(blockhash, lastValidBlockHeight);
    return { blockhash, lastValidBlockHeight };
  }

  isBlockhashValid(blockhash: string): boolean {
    return (this.blockhashes.get(blockhash) ?? -1) >= this.blockHeight;
  }

  /** Moves the chain on by n blocks (tests of expiry). */
  advance(n: number): void {
    this.slot += n;
    this.blockHeight += n;
  }

  airdrop(to: string, lamports: bigint): void {
    this.state.lamports.set(to, (this.state.lamports.get(to) ?? 0n) + lamports);
  }

  createMint(address: string, decimals: number, mintAuthority: string | null, freezeAuthority: string | null = null): void {
    this.state.mints.set(address, { decimals, supply: 0n, mintAuthority, freezeAuthority });
    if (!this.state.lamports.has(address)) this.state.lamports.set(address, BigInt(rentExempt(MINT_SIZE)));
  }

  /** Creates the owner's associated token account if needed and mints into it (test set-up, no transaction). */
  mintTo(owner: string, mint: string, amount: bigint): string {
    const ata = getAssociatedTokenAddressSync(new PublicKey(mint), new PublicKey(owner), true).toBase58();
    const m = this.state.mints.get(mint);
    if (!m) throw new Error(`no mint ${mint}`);
    const acct = this.state.tokens.get(ata) ?? { mint, owner, amount: 0n };
    if (!this.state.tokens.has(ata)) this.state.lamports.set(ata, (this.state.lamports.get(ata) ?? 0n) + TOKEN_ACCOUNT_RENT);
    acct.amount += amount;
    m.supply += amount;
    this.state.tokens.set(ata, acct);
    return ata;
  }

  /** Balance as pre/postBalances and getBalance show it (program accounts included). */
  lamportsOf(address: string, s: State = this.state): bigint {
    const b = BUILTINS[address];
    return b ? BigInt(b.lamports) : (s.lamports.get(address) ?? 0n);
  }

  /** The account's owner program, space and kind, or null when it does not exist. */
  accountMeta(
    address: string,
  ): { owner: string; space: number; executable: boolean; kind: "builtin" | "mint" | "token" | "allocated" | "system" } | null {
    const b = BUILTINS[address];
    if (b) return { owner: b.owner, space: 0, executable: address !== SYSVAR_RENT, kind: "builtin" };
    if (this.state.mints.has(address)) return { owner: TOKEN, space: MINT_SIZE, executable: false, kind: "mint" };
    if (this.state.tokens.has(address)) return { owner: TOKEN, space: ACCOUNT_SIZE, executable: false, kind: "token" };
    const a = this.state.allocated.get(address);
    if (a) return { owner: a.owner, space: a.space, executable: false, kind: "allocated" };
    if ((this.state.lamports.get(address) ?? 0n) > 0n) return { owner: SYSTEM, space: 0, executable: false, kind: "system" };
    return null;
  }

  /** Decodes a wire transaction (legacy or v0 without lookup tables) and checks its signatures. */
  private decode(wire: Uint8Array) {
    let tx: VersionedTransaction;
    try {
      tx = VersionedTransaction.deserialize(wire);
    } catch (e) {
      throw new RpcFailure(
        -32602,
        `failed to deserialize solana_sdk::transaction::versioned::VersionedTransaction: ${(e as Error).message}`,
      );
    }
    const msg = tx.message;
    if (msg.addressTableLookups.length > 0)
      throw new RpcFailure(-32602, "invalid transaction: Transaction loads an address table account that doesn't exist");
    const nSig = msg.header.numRequiredSignatures;
    if (tx.signatures.length !== nSig)
      throw new RpcFailure(-32602, "invalid transaction: Transaction failed to sanitize accounts offsets correctly");
    // The signed bytes exactly as sent: everything after the signature section.
    const sigSection = (nSig < 0x80 ? 1 : 2) + 64 * nSig;
    const bytes = Buffer.from(wire).subarray(sigSection);
    let sigOk = true;
    for (let i = 0; i < nSig; i++) {
      const sig = tx.signatures[i];
      const pub = Buffer.from(msg.staticAccountKeys[i].toBytes());
      const key = crypto.createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: pub.toString("base64url") }, format: "jwk" });
      if (!sig || sig.every((b) => b === 0) || !crypto.verify(null, bytes, key, Buffer.from(sig))) sigOk = false;
    }
    return { tx, msg, sigOk, signature: encodeBase58(tx.signatures[0]) };
  }

  private preflightFailure(sim: Simulation): RpcFailure {
    return new RpcFailure(-32002, `Transaction simulation failed: ${transactionErrorText(sim.err!)}`, {
      accounts: null,
      err: sim.err,
      innerInstructions: null,
      loadedAccountsDataSize: 0,
      logs: sim.logs,
      replacementBlockhash: null,
      returnData: null,
      unitsConsumed: sim.unitsConsumed,
    });
  }

  /**
   * sendTransaction: verifies and executes a wire transaction; returns its signature or throws an
   * RpcFailure (-32003 signature verification failure, -32002 "Transaction simulation failed: ..."
   * with the simulation in `data`). With skipPreflight a failing instruction still lands, recorded
   * with meta.err (the fee is taken, nothing else changes).
   */
  submit(wire: Uint8Array, skipPreflight: boolean): string {
    const d = this.decode(wire);
    if (!d.sigOk) throw new RpcFailure(-32003, "Transaction signature verification failure");
    if (this.txs.has(d.signature)) throw this.preflightFailure({ err: "AlreadyProcessed", logs: [], unitsConsumed: 0 });
    const sim = this.run(d, Buffer.from(wire), true, skipPreflight);
    if (sim.err !== null && !this.txs.has(d.signature)) throw this.preflightFailure(sim);
    return d.signature;
  }

  /** simulateTransaction: runs without recording (sigVerify as the RPC's option, default off). */
  simulate(wire: Uint8Array, sigVerify = false): Simulation {
    const d = this.decode(wire);
    if (sigVerify && !d.sigOk) throw new RpcFailure(-32003, "Transaction signature verification failure");
    if (this.txs.has(d.signature)) return { err: "AlreadyProcessed", logs: [], unitsConsumed: 0 };
    return this.run(d, Buffer.from(wire), false, false);
  }

  /** requestAirdrop: a real System transfer from the faucet, executed and recorded; returns its signature. */
  airdropTx(to: string, lamports: bigint): string {
    const { blockhash } = this.latestBlockhash();
    const tx = new Transaction({ feePayer: this.faucet.publicKey, recentBlockhash: blockhash }).add(
      SystemProgram.transfer({ fromPubkey: this.faucet.publicKey, toPubkey: new PublicKey(to), lamports }),
    );
    tx.sign(this.faucet);
    return this.submit(tx.serialize(), false);
  }

  /**
   * Checks blockhash and fee payer, then runs the instructions on a copy of the state. Records the
   * transaction when `commit` and it succeeded, or failed in an instruction with `landFailures`.
   */
  private run(d: ReturnType<Ledger["decode"]>, wire: Buffer, commit: boolean, landFailures: boolean): Simulation {
    const { tx, msg, signature } = d;
    const keys = msg.staticAccountKeys.map((k) => k.toBase58());
    const nSig = msg.header.numRequiredSignatures;
    if (!this.isBlockhashValid(msg.recentBlockhash)) return { err: "BlockhashNotFound", logs: [], unitsConsumed: 0 };
    const feePayer = keys[0];
    const fee = FEE_PER_SIGNATURE * BigInt(nSig);
    const payerLamports = this.state.lamports.get(feePayer) ?? 0n;
    if (payerLamports === 0n) return { err: "AccountNotFound", logs: [], unitsConsumed: 0 };
    if (payerLamports < fee || this.state.tokens.has(feePayer) || this.state.mints.has(feePayer))
      return { err: "InsufficientFundsForFee", logs: [], unitsConsumed: 0 };
    const signers = new Set(keys.slice(0, nSig));
    const writable = new Set(keys.filter((_, i) => msg.isAccountWritable(i)));
    const before = clone(this.state);
    const work = clone(this.state);
    work.lamports.set(feePayer, payerLamports - fee);
    const afterFee = clone(work);
    const parsedIx: Record<string, unknown>[] = [];
    const logs: string[] = [];
    let err: TxError | null = null;
    let units = 0;
    const memos: string[] = [];
    const budget = 200_000 * msg.compiledInstructions.length;
    msg.compiledInstructions.forEach((ix, index) => {
      const programId = keys[ix.programIdIndex];
      const accts = ix.accountKeyIndexes.map((i) => keys[i]);
      parsedIx.push(this.describe(programId, accts, ix.data));
      if (programId === MEMO_V1 || programId === MEMO_V2) memos.push(Buffer.from(ix.data).toString("utf8"));
      if (err) return;
      logs.push(`Program ${programId} invoke [1]`);
      const cost =
        programId === TOKEN
          ? 4600
          : programId === ATA
            ? 22000
            : programId === MEMO_V1 || programId === MEMO_V2
              ? 6000 + 1000 * accts.length
              : 150;
      const consumed = () => {
        if (programId !== SYSTEM && programId !== COMPUTE_BUDGET)
          logs.push(`Program ${programId} consumed ${cost} of ${budget - units} compute units`);
        units += cost;
      };
      const ilogs: string[] = [];
      try {
        this.execute(work, programId, accts, ix.data, signers, writable, ilogs);
        logs.push(...ilogs);
        consumed();
        logs.push(`Program ${programId} success`);
      } catch (e) {
        if (!(e instanceof InstructionFailure)) throw e;
        err = { InstructionError: [index, e.detail] };
        logs.push(...ilogs, ...e.logs);
        consumed();
        logs.push(`Program ${programId} failed: ${e.message}`);
      }
    });
    if (!commit || (err && !landFailures)) return { err, logs, unitsConsumed: units };
    const after = err ? afterFee : work;
    this.state = after;
    this.slot += 1;
    this.blockHeight += 1;
    const blockTime = Math.floor(Date.now() / 1000);
    const tokenBalances = (s: State) =>
      keys.flatMap((k, accountIndex) => {
        const t = s.tokens.get(k);
        if (!t) return [];
        // Stored transaction statuses show a zero balance's uiAmount as null (the blockstore's protobuf conversion).
        const uiTokenAmount = ui(t.amount, s.mints.get(t.mint)?.decimals ?? 0);
        return [
          {
            accountIndex,
            mint: t.mint,
            owner: t.owner,
            programId: TOKEN,
            uiTokenAmount: t.amount === 0n ? { ...uiTokenAmount, uiAmount: null } : uiTokenAmount,
          },
        ];
      });
    const meta = {
      err,
      status: err ? { Err: err } : { Ok: null },
      fee: Number(fee),
      preBalances: keys.map((k) => Number(this.lamportsOf(k, before))),
      postBalances: keys.map((k) => Number(this.lamportsOf(k, after))),
      preTokenBalances: tokenBalances(before),
      postTokenBalances: tokenBalances(after),
      innerInstructions: [],
      logMessages: logs,
      rewards: [],
      loadedAddresses: { writable: [], readonly: [] },
      computeUnitsConsumed: units,
    };
    const signatures = tx.signatures.slice(0, nSig).map((s) => encodeBase58(s));
    const stored: StoredTx = {
      signature,
      slot: this.slot,
      blockTime,
      err,
      accounts: keys,
      memo: memos.length ? memos.map((m) => `[${Buffer.byteLength(m)}] ${m}`).join("; ") : null,
      wire,
      message: {
        accountKeys: keys,
        header: { ...msg.header },
        recentBlockhash: msg.recentBlockhash,
        instructions: msg.compiledInstructions.map((ix) => ({
          programIdIndex: ix.programIdIndex,
          accounts: [...ix.accountKeyIndexes],
          data: encodeBase58OrEmpty(ix.data),
          stackHeight: null,
        })),
      },
      parsed: {
        slot: this.slot,
        blockTime,
        version: tx.version,
        meta,
        transaction: {
          signatures,
          message: {
            accountKeys: keys.map((pubkey, i) => ({
              pubkey,
              signer: i < nSig,
              writable: writable.has(pubkey) && msg.isAccountWritable(i),
              source: "transaction",
            })),
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
    return { err, logs, unitsConsumed: units };
  }

  /** The jsonParsed form of one instruction (the field names of Solana's instruction parsers). */
  private describe(programId: string, a: string[], data: Uint8Array): Record<string, unknown> {
    const raw = { accounts: a, data: encodeBase58OrEmpty(data), programId, stackHeight: null };
    const parsed = (program: string, p: unknown) => ({ program, programId, parsed: p, stackHeight: null });
    const key = (from: number) => new PublicKey(Buffer.from(data).subarray(from, from + 32)).toBase58();
    /** "authority": a, or with a multisig authority "multisigAuthority" and "signers". */
    const auth = (name: string, at: number) =>
      a.length > at + 1 ? { [`multisig${name[0].toUpperCase()}${name.slice(1)}`]: a[at], signers: a.slice(at + 1) } : { [name]: a[at] };
    try {
      if (programId === MEMO_V1 || programId === MEMO_V2) return parsed("spl-memo", new TextDecoder("utf-8", { fatal: true }).decode(data));
      if (programId === SYSTEM) {
        const tag = Buffer.from(data).readUInt32LE(0);
        if (tag === 2 && a.length >= 2)
          return parsed("system", { type: "transfer", info: { source: a[0], destination: a[1], lamports: Number(u64(data, 4)) } });
        if (tag === 0 && a.length >= 2)
          return parsed("system", {
            type: "createAccount",
            info: { source: a[0], newAccount: a[1], lamports: Number(u64(data, 4)), space: Number(u64(data, 12)), owner: key(20) },
          });
        return raw;
      }
      if (programId === ATA) {
        const type = data.length === 0 || data[0] === 0 ? "create" : data[0] === 1 ? "createIdempotent" : undefined;
        if (type && a.length >= 6)
          return parsed("spl-associated-token-account", {
            type,
            info: { source: a[0], account: a[1], wallet: a[2], mint: a[3], systemProgram: a[4], tokenProgram: a[5] },
          });
        return raw;
      }
      if (programId === TOKEN) {
        const tag = data[0];
        if (tag === 3)
          return parsed("spl-token", {
            type: "transfer",
            info: { source: a[0], destination: a[1], amount: u64(data, 1).toString(), ...auth("authority", 2) },
          });
        if (tag === 12)
          return parsed("spl-token", {
            type: "transferChecked",
            info: { source: a[0], mint: a[1], destination: a[2], ...auth("authority", 3), tokenAmount: ui(u64(data, 1), data[9]) },
          });
        if (tag === 8)
          return parsed("spl-token", {
            type: "burn",
            info: { account: a[0], mint: a[1], ...auth("authority", 2), amount: u64(data, 1).toString() },
          });
        if (tag === 15)
          return parsed("spl-token", {
            type: "burnChecked",
            info: { account: a[0], mint: a[1], ...auth("authority", 2), tokenAmount: ui(u64(data, 1), data[9]) },
          });
        if (tag === 7)
          return parsed("spl-token", {
            type: "mintTo",
            info: { mint: a[0], account: a[1], ...auth("mintAuthority", 2), amount: u64(data, 1).toString() },
          });
        if (tag === 14)
          return parsed("spl-token", {
            type: "mintToChecked",
            info: { mint: a[0], account: a[1], ...auth("mintAuthority", 2), tokenAmount: ui(u64(data, 1), data[9]) },
          });
        if (tag === 1)
          return parsed("spl-token", { type: "initializeAccount", info: { account: a[0], mint: a[1], owner: a[2], rentSysvar: a[3] } });
        if (tag === 16)
          return parsed("spl-token", { type: "initializeAccount2", info: { account: a[0], mint: a[1], owner: key(1), rentSysvar: a[2] } });
        if (tag === 18) return parsed("spl-token", { type: "initializeAccount3", info: { account: a[0], mint: a[1], owner: key(1) } });
        if (tag === 0 || tag === 20) {
          const info: Record<string, unknown> = { mint: a[0], decimals: data[1], mintAuthority: key(2) };
          if (data[34] === 1) info.freezeAuthority = key(35);
          if (tag === 0) info.rentSysvar = a[1];
          return parsed("spl-token", { type: tag === 0 ? "initializeMint" : "initializeMint2", info });
        }
      }
    } catch {
      // malformed data: shown raw, and execute() fails it
    }
    return raw;
  }

  private execute(
    s: State,
    programId: string,
    a: string[],
    data: Uint8Array,
    signers: Set<string>,
    writable: Set<string>,
    logs: string[],
  ): void {
    const need = (n: number) => {
      if (a.length < n) throw new InstructionFailure("NotEnoughAccountKeys");
    };
    const signed = (k: string) => {
      if (!signers.has(k)) throw new InstructionFailure("MissingRequiredSignature");
    };
    const writes = (...ks: string[]) => {
      for (const k of ks) if (!writable.has(k)) throw new InstructionFailure("ReadonlyDataModified");
    };
    if (programId === MEMO_V1 || programId === MEMO_V2) {
      for (const k of a) {
        if (!signers.has(k)) {
          logs.push(`Program log: Signature check failed: ${k} not signed`);
          throw new InstructionFailure("MissingRequiredSignature");
        }
        logs.push(`Program log: Signed by ${k}`);
      }
      let text: string;
      try {
        text = new TextDecoder("utf-8", { fatal: true }).decode(data);
      } catch {
        logs.push("Program log: Invalid UTF-8, from byte 0");
        throw new InstructionFailure("InvalidInstructionData");
      }
      logs.push(`Program log: Memo (len ${data.length}): ${JSON.stringify(text)}`);
      return;
    }
    if (programId === COMPUTE_BUDGET) return;
    if (programId === SYSTEM) {
      const tag = data.length >= 4 ? Buffer.from(data).readUInt32LE(0) : -1;
      if (tag === 2 && data.length >= 12) {
        need(2);
        signed(a[0]);
        if (s.tokens.has(a[0]) || s.mints.has(a[0]) || s.allocated.has(a[0])) {
          logs.push("Transfer: `from` must not carry data");
          throw new InstructionFailure("InvalidArgument");
        }
        writes(a[0], a[1]);
        const lamports = u64(data, 4);
        const from = s.lamports.get(a[0]) ?? 0n;
        if (from < lamports) {
          logs.push(`Transfer: insufficient lamports ${from}, need ${lamports}`);
          throw new InstructionFailure({ Custom: 1 });
        }
        s.lamports.set(a[0], from - lamports);
        s.lamports.set(a[1], (s.lamports.get(a[1]) ?? 0n) + lamports);
        return;
      }
      if (tag === 0 && data.length >= 52) {
        need(2);
        const [from, created] = a;
        signed(from);
        signed(created);
        writes(from, created);
        const lamports = u64(data, 4);
        const space = Number(u64(data, 12));
        const owner = new PublicKey(Buffer.from(data).subarray(20, 52)).toBase58();
        if (s.tokens.has(created) || s.mints.has(created) || s.allocated.has(created) || (s.lamports.get(created) ?? 0n) > 0n) {
          logs.push(`Create Account: account Address { address: ${created}, base: None } already in use`);
          throw new InstructionFailure({ Custom: 0 });
        }
        const bal = s.lamports.get(from) ?? 0n;
        if (bal < lamports) {
          logs.push(`Transfer: insufficient lamports ${bal}, need ${lamports}`);
          throw new InstructionFailure({ Custom: 1 });
        }
        s.lamports.set(from, bal - lamports);
        s.lamports.set(created, lamports);
        if (owner !== SYSTEM) s.allocated.set(created, { owner, space });
        return;
      }
      throw new InstructionFailure("InvalidInstructionData");
    }
    if (programId === ATA) {
      need(6);
      const idempotent = data.length > 0 && data[0] === 1;
      if (data.length > 0 && data[0] > 1) throw new InstructionFailure("InvalidInstructionData");
      const [payer, ata, owner, mint, , tokenProgram] = a;
      logs.push(`Program log: ${idempotent ? "CreateIdempotent" : "Create"}`);
      if (tokenProgram !== TOKEN) throw new InstructionFailure("IncorrectProgramId");
      if (getAssociatedTokenAddressSync(new PublicKey(mint), new PublicKey(owner), true).toBase58() !== ata) {
        logs.push("Program log: Error: Associated address does not match seed derivation");
        throw new InstructionFailure("InvalidSeeds");
      }
      const existing = s.tokens.get(ata);
      if (existing) {
        if (idempotent && existing.owner === owner && existing.mint === mint) return;
        if (idempotent) throw new InstructionFailure("IllegalOwner");
        logs.push(`Create Account: account Address { address: ${ata}, base: None } already in use`);
        throw custom(0); // account already in use
      }
      if (!s.mints.has(mint)) throw new InstructionFailure("InvalidAccountData");
      signed(payer);
      writes(payer, ata);
      const have = s.lamports.get(ata) ?? 0n;
      const needed = have >= TOKEN_ACCOUNT_RENT ? 0n : TOKEN_ACCOUNT_RENT - have;
      const bal = s.lamports.get(payer) ?? 0n;
      if (bal < needed) {
        logs.push(`Transfer: insufficient lamports ${bal}, need ${needed}`);
        throw new InstructionFailure({ Custom: 1 });
      }
      s.lamports.set(payer, bal - needed);
      s.lamports.set(ata, have + needed);
      s.tokens.set(ata, { mint, owner, amount: 0n });
      logs.push("Program log: Initialize the associated token account");
      return;
    }
    if (programId === TOKEN) {
      const tag = data[0];
      const names: Record<number, string> = {
        0: "InitializeMint",
        1: "InitializeAccount",
        3: "Transfer",
        7: "MintTo",
        8: "Burn",
        12: "TransferChecked",
        14: "MintToChecked",
        15: "BurnChecked",
        16: "InitializeAccount2",
        18: "InitializeAccount3",
        20: "InitializeMint2",
      };
      if (names[tag] === undefined) throw new InstructionFailure("InvalidInstructionData");
      logs.push(`Program log: Instruction: ${names[tag]}`);
      const uninitialized = (k: string) => s.allocated.get(k)?.owner === TOKEN;
      const account = (k: string) => {
        const t = s.tokens.get(k);
        if (!t) throw new InstructionFailure(uninitialized(k) ? "UninitializedAccount" : "InvalidAccountData");
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
      /** validate_owner: the expected authority, and it signed. */
      const owner = (expected: string, auth: string) => {
        if (expected !== auth) throw custom(4); // OwnerMismatch
        signed(auth);
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
        if (from.amount < amount) throw custom(1); // InsufficientFunds
        if (from.mint !== to.mint) throw custom(3); // MintMismatch
        if (checked) {
          if (from.mint !== mintOrDst) throw custom(3);
          checkDecimals(mintOrDst, 9);
        }
        owner(from.owner, auth);
        writes(src, dst);
        from.amount -= amount;
        to.amount += amount;
        return;
      }
      if (tag === 8 || tag === 15) {
        need(3);
        const [acct, mint, auth] = a;
        const amount = amountAt1();
        const t = account(acct);
        if (t.amount < amount) throw custom(1);
        if (t.mint !== mint) throw custom(3);
        if (tag === 15) checkDecimals(mint, 9);
        owner(t.owner, auth);
        writes(acct, mint);
        t.amount -= amount;
        s.mints.get(mint)!.supply -= amount;
        return;
      }
      if (tag === 7 || tag === 14) {
        need(3);
        const [mint, acct, auth] = a;
        const amount = amountAt1();
        const m = s.mints.get(mint);
        if (!m) throw new InstructionFailure(uninitialized(mint) ? "UninitializedAccount" : "InvalidAccountData");
        const t = account(acct);
        if (t.mint !== mint) throw custom(3);
        if (tag === 14) checkDecimals(mint, 9);
        if (m.mintAuthority === null) throw custom(5); // FixedSupply
        owner(m.mintAuthority, auth);
        if (m.supply + amount > 0xffffffffffffffffn) throw custom(14); // Overflow
        writes(mint, acct);
        t.amount += amount;
        m.supply += amount;
        return;
      }
      if (tag === 0 || tag === 20) {
        need(1);
        const mint = a[0];
        if (data.length < 35) throw new InstructionFailure("InvalidInstructionData");
        if (s.mints.has(mint) || s.tokens.has(mint)) throw custom(6); // AlreadyInUse
        const alloc = s.allocated.get(mint);
        if (!alloc || alloc.owner !== TOKEN) throw new InstructionFailure("IncorrectProgramId");
        if (alloc.space !== MINT_SIZE) throw new InstructionFailure("InvalidAccountData");
        if ((s.lamports.get(mint) ?? 0n) < BigInt(rentExempt(MINT_SIZE))) throw custom(0); // NotRentExempt
        writes(mint);
        const key = (from: number) => new PublicKey(Buffer.from(data).subarray(from, from + 32)).toBase58();
        s.allocated.delete(mint);
        s.mints.set(mint, {
          decimals: data[1],
          supply: 0n,
          mintAuthority: key(2),
          freezeAuthority: data[34] === 1 && data.length >= 67 ? key(35) : null,
        });
        return;
      }
      // initializeAccount (owner = 3rd account), initializeAccount2 / 3 (owner in the data)
      need(tag === 1 ? 3 : 2);
      const [acct, mint] = a;
      if (tag !== 1 && data.length < 33) throw new InstructionFailure("InvalidInstructionData");
      const ownerKey = tag === 1 ? a[2] : new PublicKey(Buffer.from(data).subarray(1, 33)).toBase58();
      if (s.tokens.has(acct) || s.mints.has(acct)) throw custom(6);
      const alloc = s.allocated.get(acct);
      if (!alloc || alloc.owner !== TOKEN) throw new InstructionFailure("IncorrectProgramId");
      if (alloc.space !== ACCOUNT_SIZE) throw new InstructionFailure("InvalidAccountData");
      if (!s.mints.has(mint)) throw custom(2); // InvalidMint
      if ((s.lamports.get(acct) ?? 0n) < TOKEN_ACCOUNT_RENT) throw custom(0);
      writes(acct);
      s.allocated.delete(acct);
      s.tokens.set(acct, { mint, owner: ownerKey, amount: 0n });
      return;
    }
    throw new InstructionFailure("UnsupportedProgramId");
  }
}
