/**
 * A local Solana JSON-RPC stand-in on 127.0.0.1 that executes real signed transactions (ledger.ts)
 * and answers what @solana/web3.js's Connection asks, in the real shapes, single and batch:
 * getLatestBlockhash, getBlockHeight, getSlot, getVersion, getGenesisHash, getBalance,
 * getMinimumBalanceForRentExemption, getFeeForMessage, getTokenAccountBalance, getAccountInfo
 * (jsonParsed token accounts and mints), sendTransaction, simulateTransaction (minimal),
 * getSignatureStatuses, getSignaturesForAddress (memo as "[len] text"), getTransaction (jsonParsed),
 * requestAirdrop. Faults: signatures hidden as if not yet confirmed, HTTP 503s.
 */
import http from "node:http";
import { AddressInfo } from "node:net";
import { Keypair, PublicKey } from "@solana/web3.js";
import { getAssociatedTokenAddressSync } from "@solana/spl-token";
import { decodeBase58, encodeBase58 } from "ethers";
import { Ledger, RpcFailure } from "./ledger";

export interface SolanaStandin {
  url: string;
  ledger: Ledger;
  faults: { hidden: Set<string>; failNext: number };
  /** Calls per method. */
  calls: Map<string, number>;
  createMint(decimals: number, authority?: PublicKey): PublicKey;
  mintTo(owner: PublicKey, mint: PublicKey, amount: bigint): PublicKey;
  airdrop(to: PublicKey, lamports: bigint): void;
  tokenBalance(owner: PublicKey, mint: PublicKey): bigint;
  supply(mint: PublicKey): bigint;
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
  const faults = { hidden: new Set<string>(), failNext: 0 };
  const calls = new Map<string, number>();
  const ctx = () => ({ context: { slot: ledger.slot, apiVersion: "1.18.26" } });
  const visible = (sig: string) => ledger.txs.has(sig) && !faults.hidden.has(sig);

  const methods: Record<string, (p: Params) => unknown> = {
    getHealth: () => "ok",
    getVersion: () => ({ "solana-core": "1.18.26", "feature-set": 3469865029 }),
    getGenesisHash: () => ledger.genesisHash,
    getSlot: () => ledger.slot,
    getBlockHeight: () => ledger.blockHeight,
    getEpochInfo: () => ({ absoluteSlot: ledger.slot, blockHeight: ledger.blockHeight, epoch: 0, slotIndex: ledger.slot, slotsInEpoch: 432000, transactionCount: ledger.txs.size }),
    getLatestBlockhash: () => ({ ...ctx(), value: ledger.latestBlockhash() }),
    isBlockhashValid: (p) => ({ ...ctx(), value: (ledger.blockhashes.get(String(p[0])) ?? -1) >= ledger.blockHeight }),
    getBalance: (p) => ({ ...ctx(), value: Number(ledger.state.lamports.get(new PublicKey(String(p[0])).toBase58()) ?? 0n) }),
    getMinimumBalanceForRentExemption: (p) => Math.ceil((Number(p[0] ?? 0) + 128) * 6960),
    getFeeForMessage: () => ({ ...ctx(), value: 5000 }),
    getTokenAccountBalance: (p) => {
      const t = ledger.state.tokens.get(String(p[0]));
      if (!t) throw new RpcFailure(-32602, "Invalid param: could not find account");
      const d = ledger.state.mints.get(t.mint)?.decimals ?? 0;
      const s = t.amount.toString().padStart(d + 1, "0");
      const str = d ? `${s.slice(0, -d)}.${s.slice(-d)}`.replace(/\.?0+$/, "") : s;
      return { ...ctx(), value: { amount: t.amount.toString(), decimals: d, uiAmount: Number(str), uiAmountString: str } };
    },
    getAccountInfo: (p) => {
      const addr = String(p[0]);
      const enc = (p[1] as { encoding?: string } | undefined)?.encoding;
      const lamports = Number(ledger.state.lamports.get(addr) ?? 0n);
      const t = ledger.state.tokens.get(addr);
      const m = ledger.state.mints.get(addr);
      if (!t && !m) return { ...ctx(), value: lamports ? { data: ["", "base64"], executable: false, lamports, owner: "11111111111111111111111111111111", rentEpoch: 0, space: 0 } : null };
      if (enc !== "jsonParsed") throw new RpcFailure(-32602, "this stand-in serves token accounts and mints as jsonParsed only");
      const data = t
        ? { program: "spl-token", parsed: { type: "account", info: { mint: t.mint, owner: t.owner, state: "initialized", isNative: false, tokenAmount: (methods.getTokenAccountBalance([addr]) as { value: unknown }).value } }, space: 165 }
        : { program: "spl-token", parsed: { type: "mint", info: { decimals: m!.decimals, supply: m!.supply.toString(), mintAuthority: m!.mintAuthority, freezeAuthority: null, isInitialized: true } }, space: 82 };
      return { ...ctx(), value: { data, executable: false, lamports, owner: "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", rentEpoch: 0, space: data.space } };
    },
    requestAirdrop: (p) => {
      ledger.airdrop(new PublicKey(String(p[0])).toBase58(), BigInt(Number(p[1])));
      return encodeBase58(Keypair.generate().secretKey.subarray(0, 64));
    },
    sendTransaction: (p) => {
      const o = (p[1] ?? {}) as { encoding?: string; skipPreflight?: boolean };
      const raw = String(p[0]);
      const bytes = o.encoding === "base64" ? Uint8Array.from(Buffer.from(raw, "base64")) : b58bytes(raw);
      return ledger.submit(bytes, o.skipPreflight === true);
    },
    simulateTransaction: () => ({ ...ctx(), value: { err: null, logs: [], accounts: null, unitsConsumed: 1500, returnData: null } }),
    getSignatureStatuses: (p) => ({
      ...ctx(),
      value: (p[0] as string[]).map((sig) => {
        if (!visible(sig)) return null;
        const t = ledger.txs.get(sig)!;
        return { slot: t.slot, confirmations: null, err: t.err, status: t.err ? { Err: t.err } : { Ok: null }, confirmationStatus: "finalized" };
      }),
    }),
    getSignaturesForAddress: (p) => {
      const o = (p[1] ?? {}) as { limit?: number; before?: string; until?: string };
      const limit = Math.min(1000, o.limit ?? 1000);
      const all = (ledger.byAddress.get(new PublicKey(String(p[0])).toBase58()) ?? []).filter(visible).reverse(); // newest first
      let start = 0;
      if (o.before) {
        const i = all.indexOf(o.before);
        start = i < 0 ? all.length : i + 1;
      }
      const out = [];
      for (let i = start; i < all.length && out.length < limit; i++) {
        if (o.until && all[i] === o.until) break;
        const t = ledger.txs.get(all[i])!;
        out.push({ signature: t.signature, slot: t.slot, err: t.err, memo: t.memo, blockTime: t.blockTime, confirmationStatus: "finalized" });
      }
      return out;
    },
    getTransaction: (p) => {
      const sig = String(p[0]);
      const o = (p[1] ?? {}) as { encoding?: string; maxSupportedTransactionVersion?: number };
      if (!visible(sig)) return null;
      const t = ledger.txs.get(sig)!;
      if (o.encoding !== "jsonParsed") throw new RpcFailure(-32602, "this stand-in serves transactions as jsonParsed only");
      if (t.parsed.version === 0 && o.maxSupportedTransactionVersion === undefined) {
        throw new RpcFailure(-32015, "Transaction version (0) is not supported by the requesting client. Please try the request again with the following configuration parameter: \"maxSupportedTransactionVersion\": 0");
      }
      return t.parsed;
    },
  };

  const one = (req: { jsonrpc?: string; id?: unknown; method?: string; params?: Params }) => {
    const id = req?.id ?? null;
    const method = String(req?.method);
    calls.set(method, (calls.get(method) ?? 0) + 1);
    const f = methods[method];
    if (!f) return { jsonrpc: "2.0", id, error: { code: -32601, message: "Method not found" } };
    try {
      return { jsonrpc: "2.0", id, result: f(req.params ?? []) };
    } catch (e) {
      if (e instanceof RpcFailure) return { jsonrpc: "2.0", id, error: { code: e.code, message: e.message, ...(e.data !== undefined ? { data: e.data } : {}) } };
      return { jsonrpc: "2.0", id, error: { code: -32602, message: `Invalid params: ${(e as Error).message}` } };
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (faults.failNext > 0) {
        faults.failNext--;
        return res.writeHead(503, { "content-type": "text/plain" }).end("Service Unavailable");
      }
      if (req.method !== "POST") return res.writeHead(405).end();
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } }));
      }
      const out = Array.isArray(body) ? body.map(one) : one(body as never);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(out));
    });
  });
  await new Promise<void>((r) => server.listen(opts.port ?? 0, "127.0.0.1", () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    ledger,
    faults,
    calls,
    createMint(decimals, authority = Keypair.generate().publicKey) {
      const mint = Keypair.generate().publicKey;
      ledger.createMint(mint.toBase58(), decimals, authority.toBase58());
      return mint;
    },
    mintTo(owner, mint, amount) {
      return new PublicKey(ledger.mintTo(owner.toBase58(), mint.toBase58(), amount));
    },
    airdrop(to, lamports) {
      ledger.airdrop(to.toBase58(), lamports);
    },
    tokenBalance(owner, mint) {
      return ledger.state.tokens.get(getAssociatedTokenAddressSync(mint, owner, true).toBase58())?.amount ?? 0n;
    },
    supply(mint) {
      return ledger.state.mints.get(mint.toBase58())?.supply ?? 0n;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
