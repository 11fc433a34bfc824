/**
 * A local Akash chain stand-in: the Cosmos SDK REST (LCD / gRPC-gateway) surface the keeper uses,
 * with real transaction checking and the deployment / market / escrow / cert / provider / audit
 * modules reduced to their state machines.
 *
 * Transactions: `POST /cosmos/tx/v1beta1/txs` takes a protobuf TxRaw (base64), decodes body and auth
 * info, recovers the signer from its secp256k1 public key, checks the account sequence (code 32
 * "account sequence mismatch" like the SDK's ante handler) and verifies the signature over the
 * SignDoc built with THIS chain's id and the account's number (code 4 "unauthorized" otherwise), so a
 * wrong chain id, wrong account number or a bad signature all fail as on a real node. Accepted txs
 * sit in the mempool (sequence already incremented, as CheckTx does) and are executed in the next
 * block; `GET /cosmos/tx/v1beta1/txs/{hash}` finds them once in a block.
 *
 * Query answers are built from the SDK's own generated types (`fromPartial` then `toJSON`), so the
 * JSON is the proto3-JSON-with-original-names the real gateway serves.
 *
 * Simulated providers bid on open orders `bidDelayMs` after the order appears; escrow is charged
 * every block at the lease's rate. Faults: `noBids`, `slowMs` (every REST response delayed), and the
 * provider-side faults in provider.ts.
 */
import http from "node:http";
import { AddressInfo } from "node:net";
import { createHash } from "node:crypto";
import { decodeTxRaw, makeSignBytes, Registry, type GeneratedType } from "@cosmjs/proto-signing";
import { rawSecp256k1PubkeyToRawAddress } from "@cosmjs/amino";
import { Secp256k1, Secp256k1Signature, sha256 } from "@cosmjs/crypto";
import { fromBase64, toBase64, toBech32, toHex } from "@cosmjs/encoding";
import { PubKey } from "cosmjs-types/cosmos/crypto/secp256k1/keys";
import { TxRaw } from "cosmjs-types/cosmos/tx/v1beta1/tx";
import { akashV1, akashV1beta4, akashV1beta5 } from "../../../keeper/providers/akash/sdk";

const TYPES: [string, GeneratedType][] = [
  akashV1beta4.MsgCreateDeployment,
  akashV1beta4.MsgCloseDeployment,
  akashV1beta5.MsgCreateLease,
  akashV1.MsgAccountDeposit,
  akashV1.MsgCreateCertificate,
].map((t) => [`/${(t as unknown as { $type: string }).$type}`, t as unknown as GeneratedType]);

/** The SDK's message type of one of its codecs: what the registry decodes for that type URL. */
type Decoded<Codec extends { decode(...args: never[]): unknown }> = ReturnType<Codec["decode"]>;

/** What a deployment keeps of each group of its MsgCreateDeployment: the bid price is read from it. */
interface GroupRec {
  name: string;
  resources: { count: number; price: { denom?: string; amount?: string } }[];
  attributes: { key: string; value: string }[];
}

export interface SimProvider {
  owner: string;
  hostUri: string;
  attributes: Record<string, string>;
  /** Auditors that signed this provider's attributes. */
  auditedBy: string[];
  /** uakt per block. */
  price: number;
  /** PEM of the provider's TLS certificate, published on chain. */
  certPem?: string;
  /** Does not bid at all. */
  silent?: boolean;
}

export interface Faults {
  noBids: boolean;
  /** The tx index answers 404 for every tx (a node that lost its index): included txs look missing. */
  hideTxs: boolean;
  /** Delay every REST response by this much (API timeout fault). */
  slowMs: number;
}

interface Account {
  address: string;
  accountNumber: number;
  sequence: number;
  /** Sequence after the txs already in the mempool. */
  checkSequence: number;
  pubkey?: Uint8Array;
  balance: bigint;
}

interface DeploymentRec {
  owner: string;
  dseq: string;
  state: "active" | "closed";
  hash: Uint8Array;
  groups: GroupRec[];
  createdAt: number;
  escrow: number; // uakt remaining (may be fractional: Dec)
  transferred: number;
  deposits: { owner: string; height: number; amount: number }[];
  orderAt: number; // ms when the order opened
  bidsPlaced: boolean;
}

interface BidRec {
  owner: string;
  dseq: string;
  gseq: number;
  oseq: number;
  provider: string;
  bseq: number;
  state: "open" | "active" | "lost" | "closed";
  price: number;
  createdAt: number;
}

interface LeaseRec {
  owner: string;
  dseq: string;
  gseq: number;
  oseq: number;
  provider: string;
  bseq: number;
  state: "active" | "insufficient_funds" | "closed";
  price: number;
  createdAt: number;
  closedOn: number;
  reason: number;
}

interface CertRec {
  owner: string;
  serial: string;
  cert: Uint8Array;
  pubkey: Uint8Array;
  state: "valid" | "revoked";
}

interface TxRec {
  hash: string;
  height: number;
  code: number;
  rawLog: string;
  memo: string;
  typeUrls: string[];
  bytes: string;
}

export interface ChainStandinOptions {
  chainId?: string;
  blockTimeMs?: number;
  bidDelayMs?: number;
  /** Genesis balances: address -> uakt. */
  balances?: Record<string, bigint>;
  /** Minimum deployment deposit (uakt). */
  minDeposit?: number;
}

const deploymentKey = (owner: string, dseq: string) => `${owner}/${dseq}`;

export class AkashChainStandin {
  readonly chainId: string;
  readonly faults: Faults = { noBids: false, hideTxs: false, slowMs: 0 };
  height = 1;
  readonly accounts = new Map<string, Account>();
  readonly deployments = new Map<string, DeploymentRec>();
  readonly bids: BidRec[] = [];
  readonly leases: LeaseRec[] = [];
  readonly certs: CertRec[] = [];
  readonly providers: SimProvider[] = [];
  readonly txs = new Map<string, TxRec>();
  /** Every tx accepted or rejected, in order, for tests. */
  readonly log: { hash: string; code: number; rawLog: string }[] = [];
  private mempool: {
    hash: string;
    bytes: Uint8Array;
    signer: string;
    msgs: { typeUrl: string; value: unknown }[];
    memo: string;
    fee: bigint;
  }[] = [];
  private server?: http.Server;
  private timer?: NodeJS.Timeout;
  private nextAccountNumber = 0;
  private readonly registry = new Registry(TYPES);
  url = "";

  constructor(private readonly opts: ChainStandinOptions = {}) {
    this.chainId = opts.chainId ?? "akash-standin-1";
    for (const [a, b] of Object.entries(opts.balances ?? {})) this.fund(a, b);
  }

  fund(address: string, uakt: bigint): void {
    const acc = this.accounts.get(address) ?? {
      address,
      accountNumber: this.nextAccountNumber++,
      sequence: 0,
      checkSequence: 0,
      balance: 0n,
    };
    acc.balance += uakt;
    this.accounts.set(address, acc);
  }

  addProvider(p: SimProvider): void {
    this.providers.push(p);
    this.fund(p.owner, 0n);
    if (p.certPem) {
      const der = Buffer.from(p.certPem.replace(/-----[^-]+-----|\s/g, ""), "base64");
      this.certs.push({
        owner: p.owner,
        serial: BigInt("0x" + createHash("sha256").update(der).digest("hex").slice(0, 14)).toString(),
        cert: Buffer.from(p.certPem),
        pubkey: new Uint8Array(),
        state: "valid",
      });
    }
  }

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ code: 13, message: String((err as Error).message), details: [] }));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.timer = setInterval(() => this.block(), this.opts.blockTimeMs ?? 50);
    return this.url;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }

  // ---------------------------------------------------------------- blocks

  /** One block: deliver the mempool, charge escrow, place simulated bids. */
  block(): void {
    this.height++;
    const pending = this.mempool;
    this.mempool = [];
    for (const tx of pending) {
      const acc = this.accounts.get(tx.signer)!;
      acc.sequence++;
      acc.balance -= tx.fee;
      let code = 0;
      let rawLog = "";
      try {
        // All messages of a tx apply or none: run on a snapshot, keep it only on success.
        const snapshot = this.snapshot();
        try {
          for (const m of tx.msgs) this.execute(tx.signer, m.typeUrl, m.value);
        } catch (err) {
          this.restore(snapshot);
          throw err;
        }
      } catch (err) {
        code = (err as { code?: number }).code ?? 1;
        rawLog = (err as Error).message;
      }
      this.txs.set(tx.hash, {
        hash: tx.hash,
        height: this.height,
        code,
        rawLog,
        memo: tx.memo,
        typeUrls: tx.msgs.map((m) => m.typeUrl),
        bytes: toBase64(tx.bytes),
      });
      this.log.push({ hash: tx.hash, code, rawLog });
    }
    this.chargeEscrow();
    this.placeBids();
  }

  private snapshot(): string {
    const replacer = (_k: string, v: unknown) =>
      typeof v === "bigint" ? { __big: v.toString() } : v instanceof Uint8Array ? { __u8: toBase64(v) } : v;
    return JSON.stringify({ a: [...this.accounts], d: [...this.deployments], b: this.bids, l: this.leases, c: this.certs }, replacer);
  }

  private restore(s: string): void {
    const reviver = (_k: string, v: unknown) =>
      v && typeof v === "object" && "__big" in v
        ? BigInt(v.__big as string)
        : v && typeof v === "object" && "__u8" in v
          ? fromBase64(v.__u8 as string)
          : v;
    const o = JSON.parse(s, reviver);
    this.accounts.clear();
    for (const [k, v] of o.a) this.accounts.set(k, v);
    this.deployments.clear();
    for (const [k, v] of o.d) this.deployments.set(k, v);
    this.bids.splice(0, this.bids.length, ...o.b);
    this.leases.splice(0, this.leases.length, ...o.l);
    this.certs.splice(0, this.certs.length, ...o.c);
  }

  private chargeEscrow(): void {
    for (const l of this.leases) {
      if (l.state !== "active") continue;
      const d = this.deployments.get(deploymentKey(l.owner, l.dseq))!;
      if (d.escrow < l.price) {
        // Overdrawn: the lease ends for lack of funds, as x/escrow does.
        l.state = "insufficient_funds";
        l.closedOn = this.height;
        d.state = "closed";
        continue;
      }
      d.escrow -= l.price;
      d.transferred += l.price;
    }
  }

  private placeBids(): void {
    if (this.faults.noBids) return;
    for (const d of this.deployments.values()) {
      if (d.state !== "active" || d.bidsPlaced || Date.now() - d.orderAt < (this.opts.bidDelayMs ?? 100)) continue;
      d.bidsPlaced = true;
      const pricing = Number(d.groups[0]?.resources?.[0]?.price?.amount ?? Infinity);
      for (const p of this.providers) {
        if (p.silent || p.price > pricing) continue;
        this.bids.push({
          owner: d.owner,
          dseq: d.dseq,
          gseq: 1,
          oseq: 1,
          provider: p.owner,
          bseq: 0,
          state: "open",
          price: p.price,
          createdAt: this.height,
        });
      }
    }
  }

  /** The provider side closes a lease (fault: accepted, then closed). */
  providerClosesLease(owner: string, dseq: string, provider: string): void {
    for (const l of this.leases) {
      if (l.owner === owner && l.dseq === dseq && l.provider === provider && l.state === "active") {
        l.state = "closed";
        l.closedOn = this.height;
        l.reason = 10000; // lease_closed_reason: unstable (provider-initiated)
      }
    }
  }

  // ---------------------------------------------------------------- messages

  private fail(code: number, message: string): never {
    throw Object.assign(new Error(message), { code });
  }

  private execute(signer: string, typeUrl: string, value: unknown): void {
    switch (typeUrl) {
      case "/akash.deployment.v1beta4.MsgCreateDeployment": {
        const m = value as Decoded<typeof akashV1beta4.MsgCreateDeployment>;
        const owner = m.id?.owner;
        const dseq = m.id?.dseq?.toString();
        if (owner !== signer) this.fail(4, "unauthorized: owner is not the signer");
        if (!dseq || dseq === "0") this.fail(2, "invalid deployment id");
        if (this.deployments.has(deploymentKey(owner, dseq))) this.fail(2, "deployment exists");
        if (!m.hash || m.hash.length !== 32) this.fail(2, "invalid: deployment version hash must be 32 bytes");
        if (!m.groups?.length) this.fail(2, "invalid: no groups");
        const amount = Number(m.deposit?.amount?.amount ?? 0);
        if (m.deposit?.amount?.denom !== "uakt" || amount < (this.opts.minDeposit ?? 500_000))
          this.fail(2, "insufficient deposit: minimum deposit not met");
        this.debit(signer, BigInt(amount));
        this.deployments.set(deploymentKey(owner, dseq), {
          owner,
          dseq,
          state: "active",
          hash: m.hash,
          groups: m.groups.map((g) => ({
            name: g.name,
            resources: g.resources.map((r) => ({ count: r.count, price: { denom: r.price?.denom, amount: r.price?.amount } })),
            attributes: g.requirements?.attributes ?? [],
          })),
          createdAt: this.height,
          escrow: amount,
          transferred: 0,
          deposits: [{ owner: signer, height: this.height, amount }],
          orderAt: Date.now(),
          bidsPlaced: false,
        });
        return;
      }
      case "/akash.escrow.v1.MsgAccountDeposit": {
        const m = value as Decoded<typeof akashV1.MsgAccountDeposit>;
        if (m.signer !== signer) this.fail(4, "unauthorized: signer mismatch");
        const xid: string = m.id?.xid ?? "";
        const d = this.deployments.get(xid);
        if (m.id?.scope !== 1 || !d) this.fail(5, `escrow account not found: ${xid}`);
        if (d!.state !== "active") this.fail(2, "escrow account closed");
        const amount = Number(m.deposit?.amount?.amount ?? 0);
        if (m.deposit?.amount?.denom !== "uakt" || amount <= 0) this.fail(2, "invalid deposit");
        this.debit(signer, BigInt(amount));
        d!.escrow += amount;
        d!.deposits.push({ owner: signer, height: this.height, amount });
        return;
      }
      case "/akash.market.v1beta5.MsgCreateLease": {
        const b = (value as Decoded<typeof akashV1beta5.MsgCreateLease>).bidId;
        if (b?.owner !== signer) this.fail(4, "unauthorized: bid owner is not the signer");
        const bid = this.bids.find(
          (x) =>
            x.owner === b.owner &&
            x.dseq === b.dseq.toString() &&
            x.gseq === b.gseq &&
            x.oseq === b.oseq &&
            x.provider === b.provider &&
            x.bseq === b.bseq,
        );
        if (!bid) this.fail(5, "bid not found");
        if (bid!.state !== "open") this.fail(2, "bid not open");
        const d = this.deployments.get(deploymentKey(bid!.owner, bid!.dseq))!;
        if (d.state !== "active") this.fail(2, "deployment closed");
        for (const x of this.bids) if (x.owner === bid!.owner && x.dseq === bid!.dseq && x !== bid) x.state = "lost";
        bid!.state = "active";
        this.leases.push({ ...bid!, state: "active", createdAt: this.height, closedOn: 0, reason: 0 });
        return;
      }
      case "/akash.deployment.v1beta4.MsgCloseDeployment": {
        const m = value as Decoded<typeof akashV1beta4.MsgCloseDeployment>;
        if (m.id?.owner !== signer) this.fail(4, "unauthorized");
        const d = this.deployments.get(deploymentKey(m.id.owner, m.id.dseq.toString()));
        if (!d) this.fail(5, "deployment not found");
        if (d!.state === "closed") this.fail(2, "deployment closed");
        d!.state = "closed";
        for (const l of this.leases)
          if (l.owner === d!.owner && l.dseq === d!.dseq && l.state === "active")
            Object.assign(l, { state: "closed", closedOn: this.height, reason: 1 });
        for (const b of this.bids) if (b.owner === d!.owner && b.dseq === d!.dseq && b.state !== "lost") b.state = "closed";
        // The unspent escrow goes back to the owner.
        const refund = BigInt(Math.floor(d!.escrow));
        this.accounts.get(d!.owner)!.balance += refund;
        d!.escrow -= Number(refund);
        return;
      }
      case "/akash.cert.v1.MsgCreateCertificate": {
        const m = value as Decoded<typeof akashV1.MsgCreateCertificate>;
        if (m.owner !== signer) this.fail(4, "unauthorized");
        const pem = Buffer.from(m.cert).toString();
        if (!/^-----BEGIN CERTIFICATE-----/.test(pem)) this.fail(2, "invalid certificate");
        const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
        const serial = BigInt("0x" + createHash("sha256").update(der).digest("hex").slice(0, 14)).toString();
        if (this.certs.some((c) => c.owner === signer && c.serial === serial)) this.fail(2, "certificate exists");
        this.certs.push({ owner: signer, serial, cert: m.cert, pubkey: m.pubkey, state: "valid" });
        return;
      }
      default:
        this.fail(6, `unknown message ${typeUrl}`);
    }
  }

  private debit(address: string, amount: bigint): void {
    const acc = this.accounts.get(address)!;
    if (acc.balance < amount) this.fail(5, `insufficient funds: ${acc.balance}uakt < ${amount}uakt`);
    acc.balance -= amount;
  }

  // ---------------------------------------------------------------- tx check (CheckTx)

  private async checkTx(txBytes: Uint8Array): Promise<{ code: number; rawLog: string; hash: string }> {
    const hash = toHex(sha256(txBytes)).toUpperCase();
    let decoded: ReturnType<typeof decodeTxRaw>;
    try {
      decoded = decodeTxRaw(txBytes);
    } catch {
      return { code: 2, rawLog: "tx parse error", hash };
    }
    const si = decoded.authInfo.signerInfos;
    if (si.length !== 1 || decoded.signatures.length !== 1) return { code: 4, rawLog: "unauthorized: exactly one signer supported", hash };
    const pk = si[0].publicKey;
    if (!pk || pk.typeUrl !== "/cosmos.crypto.secp256k1.PubKey")
      return { code: 4, rawLog: "unauthorized: secp256k1 public key required", hash };
    const pubkey = PubKey.decode(pk.value).key;
    const signer = toBech32("akash", rawSecp256k1PubkeyToRawAddress(pubkey));
    const acc = this.accounts.get(signer);
    if (!acc) return { code: 9, rawLog: `account ${signer} not found: unknown address`, hash };
    const seq = Number(si[0].sequence);
    if (seq !== acc.checkSequence)
      return { code: 32, rawLog: `account sequence mismatch, expected ${acc.checkSequence}, got ${seq}: incorrect account sequence`, hash };
    const raw = TxRaw.decode(txBytes);
    const doc = makeSignBytes({
      bodyBytes: raw.bodyBytes,
      authInfoBytes: raw.authInfoBytes,
      chainId: this.chainId,
      accountNumber: BigInt(acc.accountNumber),
    });
    const sig = decoded.signatures[0];
    let ok: boolean;
    try {
      ok = sig.length === 64 && (await Secp256k1.verifySignature(Secp256k1Signature.fromFixedLength(sig), sha256(doc), pubkey));
    } catch {
      ok = false;
    }
    if (!ok)
      return {
        code: 4,
        rawLog: `signature verification failed; please verify account number (${acc.accountNumber}), sequence (${acc.checkSequence}) and chain-id (${this.chainId}): unauthorized`,
        hash,
      };
    // Another tx of this account may have been checked while this one was verified.
    if (seq !== acc.checkSequence)
      return { code: 32, rawLog: `account sequence mismatch, expected ${acc.checkSequence}, got ${seq}: incorrect account sequence`, hash };
    const fee = decoded.authInfo.fee?.amount.find((c) => c.denom === "uakt");
    const feeAmount = BigInt(fee?.amount ?? "0");
    if (acc.balance < feeAmount) return { code: 5, rawLog: "insufficient funds to pay fee", hash };
    const msgs: { typeUrl: string; value: unknown }[] = [];
    for (const any of decoded.body.messages) {
      try {
        msgs.push({ typeUrl: any.typeUrl, value: this.registry.decode(any) });
      } catch {
        return { code: 6, rawLog: `unable to resolve type URL ${any.typeUrl}: tx parse error`, hash };
      }
    }
    acc.checkSequence++;
    acc.pubkey = pubkey;
    this.mempool.push({ hash, bytes: txBytes, signer, msgs, memo: decoded.body.memo, fee: feeAmount });
    return { code: 0, rawLog: "[]", hash };
  }

  // ---------------------------------------------------------------- REST

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (this.faults.slowMs) await new Promise((r) => setTimeout(r, this.faults.slowMs));
    if (res.destroyed || req.socket.destroyed) return;
    const url = new URL(req.url ?? "/", "http://x");
    const q = url.searchParams;
    const send = (status: number, body: unknown) => {
      if (res.destroyed) return;
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const notFound = (message: string) => send(404, { code: 5, message, details: [] });
    const p = url.pathname;
    let m: RegExpMatchArray | null;

    if (req.method === "POST" && p === "/cosmos/tx/v1beta1/txs") {
      let body: { tx_bytes?: string; mode?: string };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString());
      } catch {
        return send(400, { code: 3, message: "invalid JSON", details: [] });
      }
      if (body.mode !== "BROADCAST_MODE_SYNC" && body.mode !== "BROADCAST_MODE_ASYNC")
        return send(400, { code: 3, message: "unsupported broadcast mode", details: [] });
      const r = await this.checkTx(fromBase64(body.tx_bytes ?? ""));
      if (r.code !== 0) this.log.push(r);
      return send(200, {
        tx_response: {
          height: "0",
          txhash: r.hash,
          codespace: r.code ? "sdk" : "",
          code: r.code,
          data: "",
          raw_log: r.rawLog,
          logs: [],
          info: "",
          gas_wanted: "0",
          gas_used: "0",
          tx: null,
          timestamp: "",
          events: [],
        },
      });
    }
    if (req.method !== "GET") return send(501, { code: 12, message: "Not Implemented", details: [] });

    if ((m = p.match(/^\/cosmos\/tx\/v1beta1\/txs\/([0-9A-Fa-f]{64})$/))) {
      const tx = this.faults.hideTxs ? undefined : this.txs.get(m[1].toUpperCase());
      if (!tx) return notFound(`tx not found: ${m[1]}`);
      return send(200, {
        tx: { body: { messages: tx.typeUrls.map((t) => ({ "@type": t })), memo: tx.memo } },
        tx_response: {
          height: String(tx.height),
          txhash: tx.hash,
          codespace: tx.code ? "sdk" : "",
          code: tx.code,
          data: "",
          raw_log: tx.rawLog,
          logs: [],
          info: "",
          gas_wanted: "400000",
          gas_used: "100000",
          timestamp: new Date().toISOString(),
          events: [],
        },
      });
    }
    if ((m = p.match(/^\/cosmos\/auth\/v1beta1\/accounts\/(akash1[0-9a-z]+)$/))) {
      const a = this.accounts.get(m[1]);
      if (!a) return notFound(`account ${m[1]} not found`);
      return send(200, {
        account: {
          "@type": "/cosmos.auth.v1beta1.BaseAccount",
          address: a.address,
          pub_key: a.pubkey ? { "@type": "/cosmos.crypto.secp256k1.PubKey", key: toBase64(a.pubkey) } : null,
          account_number: String(a.accountNumber),
          sequence: String(a.sequence),
        },
      });
    }
    if ((m = p.match(/^\/cosmos\/bank\/v1beta1\/balances\/(akash1[0-9a-z]+)$/))) {
      const a = this.accounts.get(m[1]);
      return send(200, {
        balances: a && a.balance > 0n ? [{ denom: "uakt", amount: a.balance.toString() }] : [],
        pagination: { next_key: null, total: a ? "1" : "0" },
      });
    }
    if (p === "/cosmos/base/tendermint/v1beta1/node_info") {
      return send(200, {
        default_node_info: { network: this.chainId, version: "0.38.0", moniker: "standin" },
        application_version: { name: "akash", app_name: "akash", version: "standin" },
      });
    }
    if (p === "/akash/deployment/v1beta4/deployments/info") {
      const d = this.deployments.get(deploymentKey(q.get("id.owner") ?? "", q.get("id.dseq") ?? ""));
      if (!d) return notFound("deployment not found");
      return send(200, this.deploymentJson(d));
    }
    if (p === "/akash/deployment/v1beta4/deployments/list") {
      const owner = q.get("filters.owner");
      const state = q.get("filters.state");
      const dseq = q.get("filters.dseq");
      const list = [...this.deployments.values()].filter(
        (d) => (!owner || d.owner === owner) && (!state || d.state === state) && (!dseq || dseq === "0" || d.dseq === dseq),
      );
      return send(200, {
        deployments: list.map((d) => this.deploymentJson(d)),
        pagination: { next_key: null, total: String(list.length) },
      });
    }
    if (p === "/akash/market/v1beta5/bids/list") {
      const list = this.bids.filter((b) => matches(b, q, "filters."));
      const Q = akashV1beta5.QueryBidsResponse;
      return send(
        200,
        Q.toJSON(
          Q.fromPartial({
            bids: list.map((b) => ({
              bid: {
                id: { ...b, dseq: b.dseq as never },
                state: bidState(b.state),
                price: { denom: "uakt", amount: decimal(b.price) },
                createdAt: b.createdAt as never,
              },
            })) as never,
            pagination: { total: list.length as never },
          }),
        ),
      );
    }
    if (p === "/akash/market/v1beta5/leases/list") {
      const list = this.leases.filter((l) => matches(l, q, "filters."));
      const Q = akashV1beta5.QueryLeasesResponse;
      return send(
        200,
        Q.toJSON(
          Q.fromPartial({
            leases: list.map((l) => ({
              lease: {
                id: { ...l, dseq: l.dseq as never },
                state: leaseState(l.state),
                price: { denom: "uakt", amount: decimal(l.price) },
                createdAt: l.createdAt as never,
                closedOn: l.closedOn as never,
                reason: l.reason,
              },
            })) as never,
            pagination: { total: list.length as never },
          }),
        ),
      );
    }
    if (p === "/akash/cert/v1/certificates/list") {
      const owner = q.get("filter.owner");
      const state = q.get("filter.state");
      const list = this.certs.filter((c) => (!owner || c.owner === owner) && (!state || c.state === state));
      const Q = akashV1.QueryCertificatesResponse;
      return send(
        200,
        Q.toJSON(
          Q.fromPartial({
            certificates: list.map((c) => ({
              certificate: { state: c.state === "valid" ? 1 : 2, cert: c.cert, pubkey: c.pubkey },
              serial: c.serial,
            })),
            pagination: { total: list.length as never },
          }),
        ),
      );
    }
    if ((m = p.match(/^\/akash\/provider\/v1beta4\/providers\/(akash1[0-9a-z]+)$/))) {
      const pr = this.providers.find((x) => x.owner === m![1]);
      if (!pr) return notFound("invalid provider: address not found");
      return send(200, {
        provider: {
          owner: pr.owner,
          host_uri: pr.hostUri,
          attributes: Object.entries(pr.attributes).map(([key, value]) => ({ key, value })),
          info: { email: "", website: "" },
        },
      });
    }
    if ((m = p.match(/^\/akash\/audit\/v1\/audit\/attributes\/(akash1[0-9a-z]+)\/list$/))) {
      const pr = this.providers.find((x) => x.owner === m![1]);
      const list = (pr?.auditedBy ?? []).map((auditor) => ({
        owner: pr!.owner,
        auditor,
        attributes: Object.entries(pr!.attributes).map(([key, value]) => ({ key, value })),
      }));
      return send(200, { providers: list, pagination: { next_key: null, total: String(list.length) } });
    }
    return send(501, { code: 12, message: `Not Implemented: ${p}`, details: [] });
  }

  private deploymentJson(d: DeploymentRec): unknown {
    const Q = akashV1beta4.QueryDeploymentResponse;
    return Q.toJSON(
      Q.fromPartial({
        deployment: {
          id: { owner: d.owner, dseq: d.dseq as never },
          state: d.state === "active" ? 1 : 2,
          hash: d.hash,
          createdAt: d.createdAt as never,
        },
        groups: [],
        escrowAccount: {
          id: { scope: 1, xid: deploymentKey(d.owner, d.dseq) },
          state: {
            owner: d.owner,
            state: d.state === "active" ? 1 : 2,
            transferred: [{ denom: "uakt", amount: decimal(d.transferred) }],
            settledAt: this.height as never,
            funds: [{ denom: "uakt", amount: decimal(d.escrow) }],
            deposits: d.deposits.map((x) => ({
              owner: x.owner,
              height: x.height as never,
              source: 1,
              balance: { denom: "uakt", amount: decimal(x.amount) },
              direct: true,
            })),
          },
        },
      }),
    );
  }
}

/** Cosmos Dec: 18 decimals. */
function decimal(n: number): string {
  return n.toFixed(18);
}

function bidState(s: BidRec["state"]): number {
  return { open: 1, active: 2, lost: 3, closed: 4 }[s];
}

function leaseState(s: LeaseRec["state"]): number {
  return { active: 1, insufficient_funds: 2, closed: 3 }[s];
}

function matches(
  x: { owner: string; dseq: string; gseq: number; oseq: number; provider: string; state: string },
  q: URLSearchParams,
  prefix: string,
): boolean {
  const f = (k: string) => q.get(prefix + k);
  if (f("owner") && f("owner") !== x.owner) return false;
  if (f("dseq") && f("dseq") !== "0" && f("dseq") !== x.dseq) return false;
  if (f("gseq") && f("gseq") !== "0" && Number(f("gseq")) !== x.gseq) return false;
  if (f("oseq") && f("oseq") !== "0" && Number(f("oseq")) !== x.oseq) return false;
  if (f("provider") && f("provider") !== x.provider) return false;
  if (f("state") && f("state") !== x.state) return false;
  return true;
}
