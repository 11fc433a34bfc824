/**
 * The keeper's connection to the Akash chain: queries through @akashnetwork/chain-sdk's gRPC-gateway
 * (REST/LCD) transport, transactions through the same SDK's message methods with a TxClient that
 * signs offline (cosmjs DirectSecp256k1HdWallet, SIGN_MODE_DIRECT) and broadcasts to the REST
 * endpoint `/cosmos/tx/v1beta1/txs` (BROADCAST_MODE_SYNC), then polls the tx by hash until it is in a
 * block. REST rather than the SDK's Stargate client: one URL for everything, and the same endpoint
 * the Akash Console uses; the SDK's own Stargate client needs a Tendermint RPC websocket/HTTP endpoint.
 *
 * Transactions are serialised (one account sequence in flight); a sequence mismatch reported by the
 * node refetches the account and signs again once.
 */
import { akashV1, akashV1beta4, akashV1beta5, chainSdkWeb, type TxClient } from "./sdk";
import {
  DirectSecp256k1HdWallet,
  Registry,
  encodePubkey,
  makeAuthInfoBytes,
  makeSignDoc,
  type EncodeObject,
  type GeneratedType,
} from "@cosmjs/proto-signing";
import { encodeSecp256k1Pubkey } from "@cosmjs/amino";
import { fromBase64, toBase64, toHex } from "@cosmjs/encoding";
import { sha256 } from "@cosmjs/crypto";
import { TxRaw } from "cosmjs-types/cosmos/tx/v1beta1/tx";
import type { DeliverTxResponse } from "@cosmjs/stargate";
import { RpcError, sleep } from "../../errors";

/** Every message type the keeper sends. */
export const MESSAGE_TYPES: [string, GeneratedType][] = [
  akashV1beta4.MsgCreateDeployment,
  akashV1beta4.MsgCloseDeployment,
  akashV1beta5.MsgCreateLease,
  akashV1.MsgAccountDeposit,
  akashV1.MsgCreateCertificate,
].map((t) => [`/${(t as unknown as { $type: string }).$type}`, t as unknown as GeneratedType]);

/** What the Akash node answered (or failed to), as the keeper judges it: a code and a retry decision. */
export class ChainError extends RpcError {}

export interface ChainClientOptions {
  restUrl: string;
  chainId: string;
  mnemonic: string;
  /** Per HTTP request. */
  timeoutMs: number;
  /** How often a broadcast tx is looked up; and how long until it must be in a block. */
  txPollMs?: number;
  txWaitMs?: number;
  /** Gas limit and fee per tx (uakt). */
  gasLimit?: bigint;
  feeUakt?: string;
}

interface AccountInfo {
  accountNumber: bigint;
  sequence: bigint;
}

export class RestTxClient implements TxClient {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly registry = new Registry(MESSAGE_TYPES);

  constructor(
    private readonly opts: ChainClientOptions,
    private readonly wallet: DirectSecp256k1HdWallet,
    readonly address: string,
  ) {}

  async fetchJson(path: string, init?: RequestInit): Promise<{ status: number; body: RestAnswer }> {
    let res: Response;
    try {
      res = await fetch(this.opts.restUrl.replace(/\/$/, "") + path, { ...init, signal: AbortSignal.timeout(this.opts.timeoutMs) });
    } catch (err) {
      const e = err as Error;
      const timeout = e.name === "TimeoutError" || e.name === "AbortError";
      throw new ChainError(
        timeout ? `AKASH_API_TIMEOUT: ${path} took longer than ${this.opts.timeoutMs} ms` : `AKASH_API_UNREACHABLE: ${e.message}`,
        timeout ? "AKASH_API_TIMEOUT" : "AKASH_API_UNREACHABLE",
        true,
      );
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      throw new ChainError(`AKASH_API_BAD_RESPONSE: ${path} answered non-JSON (HTTP ${res.status})`, "AKASH_API_BAD_RESPONSE", true);
    }
    // Not validated: every field read is optional and checked where it is used.
    return { status: res.status, body: body as RestAnswer };
  }

  async account(): Promise<AccountInfo> {
    const { status, body } = await this.fetchJson(`/cosmos/auth/v1beta1/accounts/${this.address}`);
    if (status === 404)
      throw new ChainError(
        `AKASH_ACCOUNT_NOT_FOUND: ${this.address} has no account on chain (fund it with AKT)`,
        "AKASH_ACCOUNT_NOT_FOUND",
        false,
      );
    if (status !== 200 || !body.account) throw new ChainError(`AKASH_API_ERROR: account query HTTP ${status}`, "AKASH_API_ERROR", true);
    const a = body.account.base_account ?? body.account;
    return { accountNumber: BigInt(a.account_number ?? 0), sequence: BigInt(a.sequence ?? 0) };
  }

  signAndBroadcast(messages: EncodeObject[], options?: { memo?: string }): Promise<DeliverTxResponse> {
    const run = this.queue.then(() => this.send(messages, options?.memo ?? "", true, undefined));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async send(
    messages: EncodeObject[],
    memo: string,
    retrySequence: boolean,
    forceSequence: bigint | undefined,
  ): Promise<DeliverTxResponse> {
    const account = await this.account();
    const accountNumber = account.accountNumber;
    const sequence = forceSequence ?? account.sequence;
    const [acc] = await this.wallet.getAccounts();
    const bodyBytes = this.registry.encodeTxBody({ messages, memo });
    const pubkey = encodePubkey(encodeSecp256k1Pubkey(acc.pubkey));
    const gasLimit = this.opts.gasLimit ?? 400_000n;
    const authInfoBytes = makeAuthInfoBytes(
      [{ pubkey, sequence }],
      [{ denom: "uakt", amount: this.opts.feeUakt ?? "10000" }],
      Number(gasLimit),
      undefined,
      undefined,
    );
    const signDoc = makeSignDoc(bodyBytes, authInfoBytes, this.opts.chainId, Number(accountNumber));
    const { signed, signature } = await this.wallet.signDirect(this.address, signDoc);
    const txBytes = TxRaw.encode(
      TxRaw.fromPartial({
        bodyBytes: signed.bodyBytes,
        authInfoBytes: signed.authInfoBytes,
        signatures: [fromBase64(signature.signature)],
      }),
    ).finish();
    const hash = toHex(sha256(txBytes)).toUpperCase();
    const { status, body } = await this.fetchJson("/cosmos/tx/v1beta1/txs", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ tx_bytes: toBase64(txBytes), mode: "BROADCAST_MODE_SYNC" }),
    });
    const r = body?.tx_response;
    if (status !== 200 || !r)
      throw new ChainError(
        `AKASH_BROADCAST_FAILED: HTTP ${status} ${String(body?.message ?? "").slice(0, 200)}`,
        "AKASH_BROADCAST_FAILED",
        true,
      );
    if (r.code !== 0) {
      // 32: ErrWrongSequence (another tx of this account is ahead, maybe still in the mempool, where the
      // account query cannot see it): sign again once with the sequence the node expects.
      const expected = /expected (\d+)/.exec(String(r.raw_log))?.[1];
      if (r.code === 32 && retrySequence && expected) return this.send(messages, memo, false, BigInt(expected));
      throw new ChainError(`AKASH_TX_REJECTED: code ${r.code}: ${String(r.raw_log).slice(0, 300)}`, "AKASH_TX_REJECTED", false);
    }
    return this.waitForTx(hash);
  }

  private async waitForTx(hash: string): Promise<DeliverTxResponse> {
    const deadline = Date.now() + (this.opts.txWaitMs ?? 60_000);
    for (;;) {
      const { status, body } = await this.fetchJson(`/cosmos/tx/v1beta1/txs/${hash}`);
      if (status === 200 && body.tx_response) {
        const r = body.tx_response;
        if (r.code !== 0)
          throw new ChainError(`AKASH_TX_FAILED: ${hash} code ${r.code}: ${String(r.raw_log).slice(0, 300)}`, "AKASH_TX_FAILED", false);
        return {
          code: 0,
          height: Number(r.height),
          txIndex: 0,
          transactionHash: hash,
          events: r.events ?? [],
          msgResponses: [],
          gasUsed: BigInt(r.gas_used ?? 0),
          gasWanted: BigInt(r.gas_wanted ?? 0),
          rawLog: r.raw_log,
        } as unknown as DeliverTxResponse;
      }
      if (Date.now() > deadline)
        throw new ChainError(
          `AKASH_TX_NOT_INCLUDED: ${hash} not in a block after ${this.opts.txWaitMs ?? 60_000} ms`,
          "AKASH_TX_NOT_INCLUDED",
          true,
        );
      await sleep(this.opts.txPollMs ?? 1_000);
    }
  }
}

/** The fields of the Cosmos REST gateway's answers this client reads (error answers carry only `message`). */
interface RestAnswer {
  message?: string;
  account?: RestAccount & { base_account?: RestAccount };
  tx_response?: RestTxResponse;
}

interface RestAccount {
  account_number?: string;
  sequence?: string;
}

interface RestTxResponse {
  code: number;
  raw_log?: string;
  height?: string;
  events?: unknown[];
  gas_used?: string;
  gas_wanted?: string;
}

export type AkashSdk = ReturnType<typeof chainSdkWeb.createChainNodeWebSDK>;

export interface ChainClient {
  address: string;
  tx: RestTxClient;
  sdk: AkashSdk;
}

export async function connectChain(opts: ChainClientOptions): Promise<ChainClient> {
  let wallet: DirectSecp256k1HdWallet;
  try {
    wallet = await DirectSecp256k1HdWallet.fromMnemonic(opts.mnemonic, { prefix: "akash" });
  } catch {
    // The library's message is generic, but nothing about the secret goes further than this line.
    throw new ChainError("AKASH_MNEMONIC_INVALID: AKASH_MNEMONIC is not a valid BIP-39 mnemonic", "AKASH_MNEMONIC_INVALID", false);
  }
  const [acc] = await wallet.getAccounts();
  const tx = new RestTxClient(opts, wallet, acc.address);
  const sdk = chainSdkWeb.createChainNodeWebSDK({
    // defaultTimeoutMs is passed through to the gRPC-gateway transport at run time (the SDK's type only names `retry`).
    query: { baseUrl: opts.restUrl.replace(/\/$/, ""), transportOptions: { defaultTimeoutMs: opts.timeoutMs } as { retry?: undefined } },
    tx: { signer: tx },
  });
  return { address: acc.address, tx, sdk };
}
