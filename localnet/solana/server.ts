/**
 * A local Solana JSON-RPC stand-in on 127.0.0.1 that executes real signed transactions (ledger.ts)
 * and answers what @solana/web3.js's Connection asks, in the real shapes, single and batch (a JSON
 * array): getLatestBlockhash, isBlockhashValid, getBlockHeight, getSlot, getVersion, getGenesisHash,
 * getHealth, getEpochInfo, getTransactionCount, getBalance, getMinimumBalanceForRentExemption,
 * getFeeForMessage, getAccountInfo / getMultipleAccounts (base64, base58, jsonParsed for token
 * accounts and mints: spl-token's getAccount / getMint work), getTokenAccountBalance, getTokenSupply,
 * getTokenAccountsByOwner, sendTransaction (base58 / base64, skipPreflight), simulateTransaction,
 * requestAirdrop (a real faucet transfer), getSignatureStatuses, getSignaturesForAddress (memo as
 * "[len] text", before / until / limit), getTransaction (json, jsonParsed, base64, base58; `version`
 * only when maxSupportedTransactionVersion is given). Unknown methods: -32601.
 * Faults: signatures hidden as if not yet confirmed (statuses, transactions and address history),
 * the next N HTTP requests answered 503. No websocket: confirm by polling getSignatureStatuses.
 */
import http from "node:http";
import { AddressInfo } from "node:net";
import { Keypair, PublicKey, VersionedMessage } from "@solana/web3.js";
import { ACCOUNT_SIZE, AccountLayout, MINT_SIZE, MintLayout, getAssociatedTokenAddressSync } from "@solana/spl-token";
import { decodeBase58, encodeBase58 } from "ethers";
import { Ledger, RpcFailure, TOKEN_PROGRAM, rentExempt, ui } from "./ledger";

/**
 * u64::MAX, the rentEpoch of rent-exempt accounts (a JSON number, as the RPC sends it). A JS number
 * cannot hold 2^64 - 1: clients parse the RPC's 18446744073709551615 to 2^64, the value sent here.
 */
const U64_MAX = 2 ** 64;

export interface SolanaFaults {
  /** Signatures that getSignatureStatuses, getTransaction and getSignaturesForAddress pretend not to know yet. */
  hidden: Set<string>;
  /** The next N HTTP requests answer 503 (a batch counts once). */
  failNext: number;
}

export interface RequestLog {
  /** HTTP requests (a batch is one). */
  http: number;
  /** JSON-RPC calls (each member of a batch counts). */
  total: number;
  byMethod: Record<string, number>;
  /** The last 10,000 calls. */
  log: { method: string; params: unknown }[];
}

export interface SolanaStandin {
  url: string;
  ledger: Ledger;
  faults: SolanaFaults;
  /** Calls per method (same counts as requests.byMethod). */
  calls: Map<string, number>;
  requests: RequestLog;
  /** A new mint (no transaction); `authority` is the mint authority, `address` the mint's key if given. */
  createMint(decimals: number, authority?: PublicKey | Keypair, address?: PublicKey | Keypair): PublicKey;
  /** Mints into the owner's associated token account, creating it if needed (no transaction); returns the account. */
  mintTo(owner: PublicKey, mint: PublicKey, amount: bigint): PublicKey;
  /** Credits lamports directly (no transaction; requestAirdrop over RPC makes a real one). */
  airdrop(to: PublicKey, lamports: bigint): void;
  /** The owner's associated token account address for `mint`. */
  tokenAccount(owner: PublicKey, mint: PublicKey): PublicKey;
  /** Amount in the owner's associated token account (0 if none). */
  tokenBalance(owner: PublicKey, mint: PublicKey): bigint;
  supply(mint: PublicKey): bigint;
  /**
   * Executes a signed wire transaction in-process, exactly as sendTransaction does (same checks, same
   * record) but without an HTTP round trip and without counting as an RPC call: for tests that need
   * thousands of real transfers quickly. Returns the signature.
   */
  submit(wire: Uint8Array, skipPreflight?: boolean): string;
  /** A fresh blockhash (valid for 150 blocks; every transaction is a block here). */
  latestBlockhash(): { blockhash: string; lastValidBlockHeight: number };
  close(): Promise<void>;
}

type Params = unknown[];

function b58bytes(s: string): Uint8Array {
  const n = decodeBase58(s);
  let hex = n.toString(16);
  if (hex.length % 2) hex = "0" + hex;
  const body = n === 0n ? [] : [...Buffer.from(hex, "hex")];
  const zeros = s.match(/^1*/)![0].length;
  return Uint8Array.from([...new Array(zeros).fill(0), ...body]);
}

export async function startSolanaStandin(opts: { port?: number } = {}): Promise<SolanaStandin> {
  const ledger = new Ledger();
  const faults: SolanaFaults = { hidden: new Set<string>(), failNext: 0 };
  const calls = new Map<string, number>();
  const requests: RequestLog = { http: 0, total: 0, byMethod: {}, log: [] };
  const ctx = () => ({ context: { slot: ledger.slot, apiVersion: "2.2.14" } });
  const visible = (sig: string) => ledger.txs.has(sig) && !faults.hidden.has(sig);
  const pubkey = (v: unknown) => {
    try {
      return new PublicKey(String(v)).toBase58();
    } catch {
      throw new RpcFailure(-32602, "Invalid param: Invalid");
    }
  };
  const cfg = (p: Params, i: number) => (p[i] ?? {}) as Record<string, unknown>;
  const decimalsOf = (mint: string) => ledger.state.mints.get(mint)?.decimals ?? 0;

  /** Account data in the asked encoding; jsonParsed for token accounts and mints, else base64 (as the RPC falls back). */
  const accountValue = (addr: string, encoding: unknown) => {
    const meta = ledger.accountMeta(addr);
    if (!meta) return null;
    const t = ledger.state.tokens.get(addr);
    const m = ledger.state.mints.get(addr);
    const base = {
      executable: meta.executable,
      lamports: Number(ledger.lamportsOf(addr)),
      owner: meta.owner,
      rentEpoch: U64_MAX,
      space: meta.space,
    };
    if (encoding === "jsonParsed" && (t || m)) {
      const parsed = t
        ? {
            type: "account",
            info: { isNative: false, mint: t.mint, owner: t.owner, state: "initialized", tokenAmount: ui(t.amount, decimalsOf(t.mint)) },
          }
        : {
            type: "mint",
            info: {
              decimals: m!.decimals,
              freezeAuthority: m!.freezeAuthority ?? null,
              isInitialized: true,
              mintAuthority: m!.mintAuthority,
              supply: m!.supply.toString(),
            },
          };
      return { ...base, data: { parsed, program: "spl-token", space: meta.space } };
    }
    const bytes = accountBytes(addr);
    if (encoding === "base58") return { ...base, data: [bytes.length ? encodeBase58(bytes) : "", "base58"] };
    return { ...base, data: [bytes.toString("base64"), "base64"] };
  };
  const accountBytes = (addr: string): Buffer => {
    const t = ledger.state.tokens.get(addr);
    const m = ledger.state.mints.get(addr);
    const zero = new PublicKey(new Uint8Array(32));
    if (t) {
      const b = Buffer.alloc(ACCOUNT_SIZE);
      AccountLayout.encode(
        {
          mint: new PublicKey(t.mint),
          owner: new PublicKey(t.owner),
          amount: t.amount,
          delegateOption: 0,
          delegate: zero,
          state: 1,
          isNativeOption: 0,
          isNative: 0n,
          delegatedAmount: 0n,
          closeAuthorityOption: 0,
          closeAuthority: zero,
        },
        b,
      );
      return b;
    }
    if (m) {
      const b = Buffer.alloc(MINT_SIZE);
      MintLayout.encode(
        {
          mintAuthorityOption: m.mintAuthority ? 1 : 0,
          mintAuthority: m.mintAuthority ? new PublicKey(m.mintAuthority) : zero,
          supply: m.supply,
          decimals: m.decimals,
          isInitialized: true,
          freezeAuthorityOption: m.freezeAuthority ? 1 : 0,
          freezeAuthority: m.freezeAuthority ? new PublicKey(m.freezeAuthority) : zero,
        },
        b,
      );
      return b;
    }
    return Buffer.alloc(ledger.accountMeta(addr)?.kind === "allocated" ? ledger.accountMeta(addr)!.space : 0);
  };
  const wireOf = (p: Params) => {
    const o = cfg(p, 1);
    const raw = String(p[0]);
    return o.encoding === "base64" ? Uint8Array.from(Buffer.from(raw, "base64")) : b58bytes(raw);
  };

  const methods: Record<string, (p: Params) => unknown> = {
    getHealth: () => "ok",
    getVersion: () => ({ "solana-core": "2.2.14", "feature-set": 3294202862 }),
    getGenesisHash: () => ledger.genesisHash,
    getSlot: () => ledger.slot,
    getBlockHeight: () => ledger.blockHeight,
    getTransactionCount: () => ledger.txs.size,
    getEpochInfo: () => ({
      absoluteSlot: ledger.slot,
      blockHeight: ledger.blockHeight,
      epoch: 0,
      slotIndex: ledger.slot,
      slotsInEpoch: 432000,
      transactionCount: ledger.txs.size,
    }),
    getLatestBlockhash: () => ({ ...ctx(), value: ledger.latestBlockhash() }),
    isBlockhashValid: (p) => ({ ...ctx(), value: ledger.isBlockhashValid(String(p[0])) }),
    getBalance: (p) => ({ ...ctx(), value: Number(ledger.lamportsOf(pubkey(p[0]))) }),
    getMinimumBalanceForRentExemption: (p) => rentExempt(Number(p[0] ?? 0)),
    getFeeForMessage: (p) => {
      let msg: VersionedMessage;
      try {
        msg = VersionedMessage.deserialize(Buffer.from(String(p[0]), "base64"));
      } catch (e) {
        throw new RpcFailure(-32602, `invalid message: ${(e as Error).message}`);
      }
      return { ...ctx(), value: ledger.isBlockhashValid(msg.recentBlockhash) ? 5000 * msg.header.numRequiredSignatures : null };
    },
    getAccountInfo: (p) => ({ ...ctx(), value: accountValue(pubkey(p[0]), cfg(p, 1).encoding) }),
    getMultipleAccounts: (p) => ({ ...ctx(), value: (p[0] as unknown[]).map((a) => accountValue(pubkey(a), cfg(p, 1).encoding)) }),
    getTokenAccountBalance: (p) => {
      const addr = pubkey(p[0]);
      const t = ledger.state.tokens.get(addr);
      if (!t)
        throw new RpcFailure(
          -32602,
          ledger.accountMeta(addr) ? "Invalid param: not a Token account" : "Invalid param: could not find account",
        );
      return { ...ctx(), value: ui(t.amount, decimalsOf(t.mint)) };
    },
    getTokenSupply: (p) => {
      const m = ledger.state.mints.get(pubkey(p[0]));
      if (!m) throw new RpcFailure(-32602, "Invalid param: not a Token mint");
      return { ...ctx(), value: ui(m.supply, m.decimals) };
    },
    getTokenAccountsByOwner: (p) => {
      const owner = pubkey(p[0]);
      const filter = (p[1] ?? {}) as { mint?: string; programId?: string };
      if (filter.programId !== undefined && filter.programId !== TOKEN_PROGRAM) return { ...ctx(), value: [] };
      if (filter.mint === undefined && filter.programId === undefined)
        throw new RpcFailure(-32602, "Invalid params: missing mint or programId filter");
      const enc = cfg(p, 2).encoding;
      const value = [...ledger.state.tokens]
        .filter(([, t]) => t.owner === owner && (!filter.mint || t.mint === filter.mint))
        .map(([pk]) => ({ pubkey: pk, account: accountValue(pk, enc) }));
      return { ...ctx(), value };
    },
    requestAirdrop: (p) => ledger.airdropTx(pubkey(p[0]), BigInt(Number(p[1]))),
    sendTransaction: (p) => ledger.submit(wireOf(p), cfg(p, 1).skipPreflight === true),
    simulateTransaction: (p) => {
      const sim = ledger.simulate(wireOf(p), cfg(p, 1).sigVerify === true);
      return {
        ...ctx(),
        value: {
          accounts: null,
          err: sim.err,
          innerInstructions: null,
          loadedAccountsDataSize: 0,
          logs: sim.logs,
          replacementBlockhash: null,
          returnData: null,
          unitsConsumed: sim.unitsConsumed,
        },
      };
    },
    getSignatureStatuses: (p) => ({
      ...ctx(),
      value: (p[0] as string[]).map((sig) => {
        if (!visible(sig)) return null;
        const t = ledger.txs.get(sig)!;
        return {
          slot: t.slot,
          confirmations: null,
          err: t.err,
          status: t.err ? { Err: t.err } : { Ok: null },
          confirmationStatus: "finalized",
        };
      }),
    }),
    getSignaturesForAddress: (p) => {
      const o = cfg(p, 1) as { limit?: number; before?: string; until?: string };
      const limit = o.limit ?? 1000;
      if (limit < 1 || limit > 1000) throw new RpcFailure(-32602, "Invalid limit; max 1000");
      const all = (ledger.byAddress.get(pubkey(p[0])) ?? []).filter(visible).reverse(); // newest first
      let start = 0;
      if (o.before) {
        const i = all.indexOf(o.before);
        start = i < 0 ? all.length : i + 1;
      }
      const out = [];
      for (let i = start; i < all.length && out.length < limit; i++) {
        if (o.until && all[i] === o.until) break;
        const t = ledger.txs.get(all[i])!;
        out.push({
          signature: t.signature,
          slot: t.slot,
          err: t.err,
          memo: t.memo,
          blockTime: t.blockTime,
          confirmationStatus: "finalized",
        });
      }
      return out;
    },
    getTransaction: (p) => {
      const sig = String(p[0]);
      const o =
        typeof p[1] === "string"
          ? { encoding: p[1] }
          : (cfg(p, 1) as { encoding?: string; maxSupportedTransactionVersion?: number; commitment?: string });
      if ((o as { commitment?: string }).commitment === "processed")
        throw new RpcFailure(-32602, "Method does not support commitment below `confirmed`");
      if (!visible(sig)) return null;
      const t = ledger.txs.get(sig)!;
      const version = (t.parsed as { version: "legacy" | 0 }).version;
      const max = (o as { maxSupportedTransactionVersion?: number }).maxSupportedTransactionVersion;
      if (version === 0 && (max === undefined || max < 0)) {
        throw new RpcFailure(
          -32015,
          'Transaction version (0) is not supported by the requesting client. Please try the request again with the following configuration parameter: "maxSupportedTransactionVersion": 0',
        );
      }
      const { version: _v, ...rest } = t.parsed as Record<string, unknown> & { version: unknown };
      void _v;
      const withVersion = (x: Record<string, unknown>) => (max === undefined ? x : { ...x, version });
      const encoding = o.encoding ?? "json";
      if (encoding === "jsonParsed") return withVersion(rest);
      const meta = { ...(rest.meta as Record<string, unknown>), innerInstructions: [] };
      const base = { slot: t.slot, blockTime: t.blockTime, meta };
      if (encoding === "base64") return withVersion({ ...base, transaction: [t.wire.toString("base64"), "base64"] });
      if (encoding === "base58") return withVersion({ ...base, transaction: [encodeBase58(t.wire), "base58"] });
      if (encoding === "json") {
        const signatures = (rest.transaction as { signatures: string[] }).signatures;
        return withVersion({
          ...base,
          transaction: { signatures, message: { ...t.message, ...(version === 0 ? { addressTableLookups: [] } : {}) } },
        });
      }
      throw new RpcFailure(
        -32602,
        `Invalid params: unknown variant \`${encoding}\`, expected one of \`binary\`, \`base64\`, \`base58\`, \`json\`, \`jsonParsed\``,
      );
    },
  };

  const one = (req: { jsonrpc?: string; id?: unknown; method?: string; params?: Params }) => {
    const id = req?.id ?? null;
    if (typeof req !== "object" || req === null || req.jsonrpc !== "2.0" || typeof req.method !== "string")
      return { jsonrpc: "2.0", id, error: { code: -32600, message: "Invalid request" } };
    const method = req.method;
    calls.set(method, (calls.get(method) ?? 0) + 1);
    requests.total++;
    requests.byMethod[method] = (requests.byMethod[method] ?? 0) + 1;
    requests.log.push({ method, params: req.params ?? [] });
    if (requests.log.length > 10_000) requests.log.shift();
    const f = methods[method];
    if (!f) return { jsonrpc: "2.0", id, error: { code: -32601, message: "Method not found" } };
    try {
      return { jsonrpc: "2.0", id, result: f(req.params ?? []) };
    } catch (e) {
      if (e instanceof RpcFailure)
        return { jsonrpc: "2.0", id, error: { code: e.code, message: e.message, ...(e.data !== undefined ? { data: e.data } : {}) } };
      return { jsonrpc: "2.0", id, error: { code: -32602, message: `Invalid params: ${(e as Error).message}` } };
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      requests.http++;
      if ((faults.failNext ?? 0) > 0) {
        faults.failNext!--;
        return res.writeHead(503, { "content-type": "text/plain" }).end("Service Unavailable");
      }
      if (req.method !== "POST") return res.writeHead(405).end();
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        return res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } }));
      }
      if (Array.isArray(body) && body.length === 0)
        return res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32600, message: "Invalid request" } }));
      const out = Array.isArray(body) ? body.map(one) : one(body as never);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(out));
    });
  });
  await new Promise<void>((r) => server.listen(opts.port ?? 0, "127.0.0.1", () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const asKey = (k: PublicKey | Keypair) => ("secretKey" in k ? k.publicKey : k);
  return {
    url,
    ledger,
    faults,
    calls,
    requests,
    createMint(decimals, authority = Keypair.generate().publicKey, address = Keypair.generate()) {
      const mint = asKey(address);
      ledger.createMint(mint.toBase58(), decimals, asKey(authority).toBase58());
      return mint;
    },
    mintTo(owner, mint, amount) {
      return new PublicKey(ledger.mintTo(owner.toBase58(), mint.toBase58(), amount));
    },
    airdrop(to, lamports) {
      ledger.airdrop(to.toBase58(), lamports);
    },
    tokenAccount(owner, mint) {
      return getAssociatedTokenAddressSync(mint, owner, true);
    },
    tokenBalance(owner, mint) {
      return ledger.state.tokens.get(getAssociatedTokenAddressSync(mint, owner, true).toBase58())?.amount ?? 0n;
    },
    supply(mint) {
      return ledger.state.mints.get(mint.toBase58())?.supply ?? 0n;
    },
    submit: (wire, skipPreflight = false) => ledger.submit(wire, skipPreflight),
    latestBlockhash: () => ledger.latestBlockhash(),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
