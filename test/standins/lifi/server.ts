/**
 * LI.FI API stand-in (li.quest/v1 shapes, as @lifi/sdk reads them): GET /quote returns a LiFiStep
 * whose `transactionRequest` calls a TestBridgeDiamond on the local chain (pulling the USDC with
 * transferFrom after the quote's `approvalAddress` is approved); GET /status looks the transaction up
 * on that chain and answers PENDING for `pendingPolls` polls, then DONE, or FAILED when the fault
 * switch is on (or the transaction reverted / is unknown: NOT_FOUND). GET /chains for completeness.
 */
import { randomBytes } from "node:crypto";
import Fastify from "fastify";
import { Contract, Interface, JsonRpcProvider, Wallet } from "ethers";

const DIAMOND = new Interface([
  "function startBridgeTokensViaTest(bytes32 transactionId, address token, uint256 amount, string toChain, string receiver)",
  "event BridgeStarted(bytes32 indexed transactionId, address indexed token, address indexed from, uint256 amount, string toChain, string receiver)",
  "function refund(bytes32 transactionId)",
]);

export interface LifiFaults {
  /** /status answers FAILED (substatus) for transfers sent while this is set. */
  failStatus?: boolean;
  /** The quote promises less than asked (toAmountMin = fromAmount * (1 - this)). */
  quoteLoss?: number;
  /** /quote answers HTTP 500. */
  quoteError?: boolean;
}

/** `refunder` (a funded key) refunds a FAILED transfer to its sender on the source chain, as a failed bridge does. */
export async function startLifiStandin(opts: {
  rpcUrl: string;
  chainId: number;
  diamond: string;
  pendingPolls?: number;
  refunderKey?: string;
}) {
  const faults: LifiFaults = {};
  const rpc = new JsonRpcProvider(opts.rpcUrl, opts.chainId, { staticNetwork: true });
  const quotes: Record<string, string>[] = [];
  const statusPolls = new Map<string, number>();
  const failing = new Set<string>();
  const refunded = new Set<string>();
  const refunder = opts.refunderKey ? new Contract(opts.diamond, DIAMOND, new Wallet(opts.refunderKey, rpc)) : undefined;
  const app = Fastify({ forceCloseConnections: true });

  app.get("/chains", async () => ({
    chains: [
      {
        id: opts.chainId,
        key: "bas",
        name: "Base",
        chainType: "EVM",
        coin: "ETH",
        mainnet: true,
        diamondAddress: opts.diamond,
        nativeToken: {
          address: "0x0000000000000000000000000000000000000000",
          symbol: "ETH",
          decimals: 18,
          chainId: opts.chainId,
          name: "ETH",
          priceUSD: "3000",
        },
      },
    ],
  }));

  app.get("/quote", async (req, reply) => {
    const q = req.query as Record<string, string>;
    quotes.push(q);
    if (faults.quoteError) return reply.code(500).send({ message: "Internal server error", code: 1000 });
    for (const k of ["fromChain", "toChain", "fromToken", "toToken", "fromAddress", "fromAmount"]) {
      if (!q[k]) return reply.code(400).send({ message: `${k} is required`, code: 1011 });
    }
    if (Number(q.fromChain) !== opts.chainId)
      return reply.code(404).send({ message: "No available quotes for the requested transfer", code: 1002 });
    const amount = BigInt(q.fromAmount);
    const slippage = Number(q.slippage ?? 0.005);
    const fee = (amount * 10n) / 10_000n; // 0.1 % bridge fee
    const toAmount = amount - fee;
    const toAmountMin =
      faults.quoteLoss !== undefined
        ? (amount * BigInt(Math.round((1 - faults.quoteLoss) * 1e6))) / 1_000_000n
        : (toAmount * BigInt(Math.round((1 - slippage) * 1e6))) / 1_000_000n;
    const id = "0x" + randomBytes(32).toString("hex");
    const token = (address: string, chainId: number | string) => ({
      address,
      chainId,
      symbol: "USDC",
      decimals: 6,
      name: "USD Coin",
      priceUSD: "1",
    });
    return {
      type: "lifi",
      id,
      tool: "teststargate",
      toolDetails: { key: "teststargate", name: "Test Stargate", logoURI: "" },
      action: {
        fromChainId: opts.chainId,
        toChainId: isNaN(Number(q.toChain)) ? q.toChain : Number(q.toChain),
        fromToken: token(q.fromToken, opts.chainId),
        toToken: token(q.toToken, q.toChain),
        fromAmount: q.fromAmount,
        fromAddress: q.fromAddress,
        toAddress: q.toAddress ?? q.fromAddress,
        slippage,
      },
      estimate: {
        tool: "teststargate",
        approvalAddress: opts.diamond,
        fromAmount: q.fromAmount,
        toAmount: toAmount.toString(),
        toAmountMin: toAmountMin.toString(),
        executionDuration: 60,
        feeCosts: [
          {
            name: "Bridge fee",
            description: "",
            percentage: "0.001",
            token: token(q.fromToken, opts.chainId),
            amount: fee.toString(),
            amountUSD: "0",
            included: true,
          },
        ],
        gasCosts: [],
      },
      includedSteps: [],
      integrator: q.integrator,
      transactionRequest: {
        from: q.fromAddress,
        to: opts.diamond,
        chainId: opts.chainId,
        data: DIAMOND.encodeFunctionData("startBridgeTokensViaTest", [
          id,
          q.fromToken,
          amount,
          String(q.toChain),
          q.toAddress ?? q.fromAddress,
        ]),
        value: "0x0",
        gasLimit: "0x" + (300_000).toString(16),
      },
    };
  });

  app.get("/status", async (req, reply) => {
    const q = req.query as Record<string, string>;
    if (!q.txHash) return reply.code(400).send({ message: "txHash is required", code: 1011 });
    const receipt = await rpc.getTransactionReceipt(q.txHash);
    const sending = { txHash: q.txHash, chainId: opts.chainId, txLink: `local://tx/${q.txHash}` };
    if (!receipt || receipt.status !== 1) return { status: "NOT_FOUND", sending };
    const log = receipt.logs
      .map((l) => {
        try {
          return DIAMOND.parseLog(l);
        } catch {
          return null;
        }
      })
      .find((l) => l?.name === "BridgeStarted");
    if (!log) return { status: "INVALID", substatusMessage: "not a bridge transaction", sending };
    if (faults.failStatus) failing.add(q.txHash);
    const n = (statusPolls.get(q.txHash) ?? 0) + 1;
    statusPolls.set(q.txHash, n);
    const base = {
      tool: "teststargate",
      transactionId: log.args.transactionId,
      sending: { ...sending, amount: log.args.amount.toString() },
      fromAddress: log.args.from,
      toAddress: log.args.receiver,
      lifiExplorerLink: "",
      feeCosts: [],
      metadata: { integrator: q.integrator ?? "" },
    };
    if (n <= (opts.pendingPolls ?? 1))
      return { ...base, status: "PENDING", substatus: "WAIT_DESTINATION_TRANSACTION", receiving: { chainId: log.args.toChain } };
    if (failing.has(q.txHash)) {
      if (refunder && !refunded.has(q.txHash)) {
        refunded.add(q.txHash);
        await (await refunder.refund(log.args.transactionId)).wait();
      }
      return {
        ...base,
        status: "FAILED",
        substatus: "UNKNOWN_FAILED_ERROR",
        substatusMessage: "The bridge transfer failed; funds returned on the source chain",
      };
    }
    return {
      ...base,
      status: "DONE",
      substatus: "COMPLETED",
      receiving: { chainId: log.args.toChain, txHash: "0x" + Buffer.from(q.txHash.slice(2), "hex").reverse().toString("hex"), txLink: "" },
    };
  });

  await app.listen({ host: "127.0.0.1", port: 0 });
  return {
    url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`,
    faults,
    quotes,
    statusPolls,
    async close() {
      await app.close();
      rpc.destroy();
    },
  };
}
