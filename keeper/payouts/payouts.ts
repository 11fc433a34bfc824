/**
 * Payouts: pays providers where they are paid. USDC claimed from escrow on Base (it lands in the
 * treasury wallet, PAYOUT_PRIVATE_KEY) is moved through LI.FI to each provider's destination.
 * ("Bridge" is the on-chain ETH -> USDC swap contract, AgentComputeBridge: a different thing.)
 *
 * - Batching: what the keeper owes a provider (provision_attempts.cost, see sessions/failover.ts)
 *   accumulates until it reaches PAYOUT_MIN_USDC; then one transfer takes all of it (the attempts
 *   point at the transfer in the same database transaction, so nothing is paid twice or forgotten).
 * - Per transfer: `getQuote` (slippage bounded by PAYOUT_MAX_SLIPPAGE, and the quote's minimum
 *   received is checked against it), approve the quote's spender when the allowance is short, sign
 *   the quote's `transactionRequest` with ethers, store the signed transaction, then broadcast it; poll
 *   `getStatus` until DONE or FAILED.
 * - Crash-safe: a transfer found `signed` after a restart is re-broadcast from the stored bytes (the
 *   same nonce and hash, so it can be mined once at most); a `sent` one is found by its hash.
 * - FAILED: recorded; retried as a new transfer (attempt + 1) up to PAYOUT_MAX_ATTEMPTS, then alerted
 *   (error log; `keeper status` lists it) and left for the operator.
 */
import { Contract, JsonRpcProvider, Transaction, Wallet, getAddress } from "ethers";
import { createClient, getQuote, getStatus, type SDKClient } from "@lifi/sdk";
import type { Logger } from "pino";
import { z } from "zod";
import type { KeeperConfig } from "../config";
import type { Deployment } from "../keeper";
import type { TransferRow } from "../store/payouts";
import type { Store } from "../store/store";
import { PermanentError, ProviderError, RetryableError } from "../errors";
import { broadcastRefusal } from "../chain/broadcast";

const Destination = z.object({
  chain: z.union([z.number().int().positive(), z.string().min(1).max(32)]),
  token: z.string().min(1).max(128),
  address: z.string().min(1).max(128),
});
export const DestinationsSchema = z.record(z.string().regex(/^[a-z0-9-]{1,32}$/), Destination);
export type Destinations = z.infer<typeof DestinationsSchema>;

export interface PayoutOptions {
  chainId: number;
  usdc: string;
  minUsdc: bigint;
  maxSlippage: number;
  maxAttempts: number;
  pollSeconds: number;
}

const ERC20 = [
  "function allowance(address,address) view returns (uint256)",
  "function approve(address,uint256) returns (bool)",
  "function balanceOf(address) view returns (uint256)",
];

export class Payouts {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private readonly client: SDKClient;

  constructor(
    private readonly store: Store,
    private readonly wallet: Wallet,
    lifi: { apiUrl: string; integrator: string },
    private readonly destinations: Destinations,
    private readonly o: PayoutOptions,
    private readonly log: Logger,
  ) {
    this.client = createClient({ integrator: lifi.integrator, apiUrl: lifi.apiUrl, preloadChains: false, disableVersionCheck: true });
  }

  start(): void {
    const loop = () => {
      this.running = this.tick()
        .catch((err) => this.log.warn({ err: (err as Error).message }, "payout pass failed; will retry"))
        .finally(() => {
          if (this.timer !== undefined) this.timer = setTimeout(loop, this.o.pollSeconds * 1000);
        });
    };
    this.timer = setTimeout(loop, 0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass: batch what is owed, then move every open transfer one step. */
  async tick(): Promise<void> {
    await this.batch();
    const open = await this.store.payouts.open();
    for (const t of open) {
      try {
        if (t.state === "pending") await this.send(t);
        else if (t.state === "signed") await this.broadcast(t);
        else await this.poll(t);
      } catch (err) {
        this.log.warn({ transfer: t.id, state: t.state, err: (err as Error).message }, "payout step failed; will retry");
        await this.store.payouts.noteError(t.id, (err as Error).message);
      }
    }
  }

  /** Owed costs per provider with a destination; a total at or above the minimum becomes a transfer. */
  async batch(): Promise<number[]> {
    const made: number[] = [];
    for (const provider of Object.keys(this.destinations)) {
      const b = await this.store.payouts.batchOwed(provider, String(this.destinations[provider].chain), this.o.minUsdc);
      if (!b) continue;
      made.push(b.id);
      this.log.info({ transfer: b.id, provider, amount: b.amount.toString(), items: b.items }, "payout batch created");
    }
    return made;
  }

  private async send(t: TransferRow): Promise<void> {
    const dest = this.destinations[t.provider];
    if (!dest) throw new PermanentError(`no destination configured for ${t.provider}`, "PAYOUT_NO_DESTINATION");
    const from = this.wallet.address;
    const quote = await getQuote(this.client, {
      fromChain: this.o.chainId,
      toChain: dest.chain as number,
      fromToken: this.o.usdc,
      toToken: dest.token,
      fromAmount: t.amount,
      fromAddress: from,
      toAddress: dest.address,
      slippage: this.o.maxSlippage,
    });
    const tx = quote.transactionRequest;
    if (!tx?.to || !tx.data) throw new ProviderError("LI.FI quote has no transactionRequest", "LIFI_QUOTE_INCOMPLETE", true);
    // The quote's own promise, checked rather than trusted: the minimum received is within the
    // slippage bound of the estimate (fees are in the estimate, and shown in the quote's feeCosts).
    const floor = (BigInt(quote.estimate.toAmount) * BigInt(Math.round((1 - this.o.maxSlippage) * 1_000_000))) / 1_000_000n;
    if (BigInt(quote.estimate.toAmountMin) < floor) {
      return this.failed(t, `quote below the slippage bound: ${quote.estimate.toAmountMin} < ${floor}`);
    }
    if (BigInt(quote.action.fromAmount) !== BigInt(t.amount) || getAddress(quote.action.fromToken.address) !== getAddress(this.o.usdc)) {
      return this.failed(t, "quote does not spend exactly this transfer's USDC");
    }
    const usdc = new Contract(this.o.usdc, ERC20, this.wallet);
    // Claimed escrow not yet in the treasury (or a failed transfer not yet refunded): wait, send nothing.
    const balance = (await usdc.balanceOf(from)) as bigint;
    if (balance < BigInt(t.amount))
      throw new RetryableError(`treasury holds ${balance} USDC units, the transfer needs ${t.amount}`, "PAYOUT_TREASURY_SHORT");
    const spender = quote.estimate.approvalAddress;
    if (spender) {
      const allowance = (await usdc.allowance(from, spender)) as bigint;
      if (allowance < BigInt(t.amount)) {
        const r = await (await usdc.approve(spender, BigInt(t.amount))).wait();
        this.log.info({ transfer: t.id, spender, tx: r?.hash }, "USDC approved for the LI.FI transfer");
      }
    }
    const provider = this.wallet.provider!;
    const fees = await provider.getFeeData();
    const populated = await this.wallet.populateTransaction({
      to: tx.to,
      data: tx.data as string,
      value: tx.value ? BigInt(tx.value as string) : 0n,
      gasLimit: tx.gasLimit ? BigInt(tx.gasLimit as string) : undefined,
      chainId: this.o.chainId,
      nonce: await provider.getTransactionCount(from, "pending"),
      maxFeePerGas: fees.maxFeePerGas ?? undefined,
      maxPriorityFeePerGas: fees.maxPriorityFeePerGas ?? undefined,
    });
    const raw = await this.wallet.signTransaction(populated);
    const hash = Transaction.from(raw).hash!;
    // Stored before it leaves: after a crash the same bytes are re-broadcast, never a second transfer.
    await this.store.payouts.markSigned(t.id, { rawTx: raw, txHash: hash, tool: quote.tool, toAmountMin: quote.estimate.toAmountMin });
    await this.broadcast({ ...t, raw_tx: raw, tx_hash: hash, state: "signed" });
  }

  private async broadcast(t: TransferRow): Promise<void> {
    const provider = this.wallet.provider! as JsonRpcProvider;
    const known = await provider.getTransaction(t.tx_hash!);
    if (!known) {
      try {
        await provider.broadcastTransaction(t.raw_tx!);
      } catch (err) {
        const refusal = broadcastRefusal(err);
        if (refusal === "nonce-used" && !(await provider.getTransactionReceipt(t.tx_hash!))) {
          // The nonce went to another transaction of this wallet: quote and sign again.
          await this.store.payouts.unsign(t.id, (err as Error).message);
          return;
        }
        if (refusal !== "known" && refusal !== "nonce-used") throw err;
      }
    }
    await this.store.payouts.markSent(t.id);
    this.log.info({ transfer: t.id, tx: t.tx_hash, amount: t.amount, provider: t.provider }, "payout transaction sent");
  }

  private async poll(t: TransferRow): Promise<void> {
    const provider = this.wallet.provider! as JsonRpcProvider;
    const receipt = await provider.getTransactionReceipt(t.tx_hash!);
    if (!receipt) {
      if (!(await provider.getTransaction(t.tx_hash!))) await provider.broadcastTransaction(t.raw_tx!).catch(() => undefined);
      return;
    }
    if (receipt.status === 0) return this.failed(t, "payout transaction reverted on the source chain");
    const st = await getStatus(this.client, {
      txHash: t.tx_hash!,
      bridge: t.tool ?? undefined,
      fromChain: this.o.chainId,
      toChain: t.to_chain,
    });
    if (st.status === "DONE") {
      const recv = (st as { receiving?: { txHash?: string } }).receiving?.txHash ?? null;
      await this.store.payouts.markDone(t.id, recv);
      this.log.info({ transfer: t.id, amount: t.amount, provider: t.provider, substatus: st.substatus }, "payout transfer DONE");
    } else if (st.status === "FAILED") {
      return this.failed(
        t,
        `LI.FI status FAILED${st.substatus ? ` (${st.substatus})` : ""}${st.substatusMessage ? `: ${st.substatusMessage}` : ""}`,
      );
    }
  }

  /** Records the failure; the costs go to a retry transfer, or stay with this one and are alerted. */
  private async failed(t: TransferRow, reason: string): Promise<void> {
    const retry = await this.store.payouts.fail(t, reason, this.o.maxAttempts);
    if (retry !== undefined) this.log.warn({ transfer: t.id, retry, attempt: t.attempt + 1, reason }, "payout transfer FAILED; retrying");
    else
      this.log.error(
        { transfer: t.id, provider: t.provider, amount: t.amount, reason },
        "ALERT: payout transfer FAILED after the last attempt; operator action needed",
      );
  }
}

export function parseDestinations(json: string): Destinations {
  return DestinationsSchema.parse(JSON.parse(json));
}

/** Payouts when PAYOUT_PRIVATE_KEY and at least one destination are configured. */
export function payoutsFromConfig(
  cfg: KeeperConfig,
  store: Store,
  rpc: JsonRpcProvider,
  deployment: Deployment & { usdc?: string },
  log: Logger,
  usdc?: string,
): Payouts | undefined {
  const destinations = parseDestinations(cfg.PAYOUT_DESTINATIONS);
  if (!cfg.PAYOUT_PRIVATE_KEY || Object.keys(destinations).length === 0) return undefined;
  if (!usdc) throw new PermanentError("payouts need the USDC address (from the AgentCompute contract)", "PAYOUT_NO_USDC");
  return new Payouts(
    store,
    new Wallet(cfg.PAYOUT_PRIVATE_KEY, rpc),
    { apiUrl: cfg.LIFI_API_URL, integrator: cfg.LIFI_INTEGRATOR },
    destinations,
    {
      chainId: deployment.chainId,
      usdc,
      minUsdc: BigInt(cfg.PAYOUT_MIN_USDC),
      maxSlippage: cfg.PAYOUT_MAX_SLIPPAGE,
      maxAttempts: cfg.PAYOUT_MAX_ATTEMPTS,
      pollSeconds: cfg.PAYOUT_POLL_S,
    },
    log,
  );
}
