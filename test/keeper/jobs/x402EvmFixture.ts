/** x402 USDC on the local chain: the keeper's EVM settings and an @x402/fetch client with the @x402/evm signer (viem account). */
import { HDNodeWallet, Wallet } from "ethers";
import { privateKeyToAccount } from "viem/accounts";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { ExactEvmScheme } from "@x402/evm/exact/client";
import { toClientEvmSigner } from "@x402/evm";
import type { TestChain } from "../shared/chain";
import { devWallet } from "../../../localnet/chain";

export interface UsdcRail {
  env: Record<string, string>;
  payTo: string;
  network: string;
  /** A new agent wallet holding `usdc` base units. */
  agent(usdc?: bigint): Promise<Wallet | HDNodeWallet>;
  balance(addr: string): Promise<bigint>;
}

export async function usdcRail(chain: TestChain): Promise<UsdcRail> {
  const payTo = Wallet.createRandom().address;
  const settler = devWallet(5);
  return {
    payTo,
    network: `eip155:${chain.deployment.chainId}`,
    env: {
      X402_EVM_RPC_URL: chain.chain.rpcUrl,
      X402_USDC_ADDRESS: chain.deployment.contracts.USDC,
      X402_EVM_PAY_TO: payTo,
      X402_EVM_SETTLER_KEY: settler.privateKey,
      X402_USDC_PER_WATT: "0.0001",
    },
    async agent(usdc = 10_000_000n) {
      const w = Wallet.createRandom();
      await (await chain.usdc(chain.admin).mint(w.address, usdc)).wait();
      return w;
    },
    balance: (addr) => chain.usdc().balanceOf(addr),
  };
}

export function evmScheme(agent: Wallet | HDNodeWallet): ExactEvmScheme {
  return new ExactEvmScheme(toClientEvmSigner(privateKeyToAccount(agent.privateKey as `0x${string}`)));
}

/** fetch that pays USDC by EIP-3009 (the local USDC is not a default asset: allowed explicitly). */
export function usdcFetch(rail: UsdcRail, usdc: string, agent: Wallet | HDNodeWallet, maxUsdc = 1_000_000n): typeof fetch {
  const client = new x402Client().register(rail.network as `${string}:${string}`, evmScheme(agent));
  client.setSpendControls({
    allowedAssets: [{ network: rail.network as `${string}:${string}`, asset: usdc, maxAmountPerPayment: maxUsdc.toString() }],
  });
  return wrapFetchWithPayment(fetch, client);
}
