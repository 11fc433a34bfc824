/**
 * Starts the Akash stand-in: one chain (REST) and N simulated providers (mTLS gateways), all on
 * 127.0.0.1. Block time and bid delay are milliseconds so tests stay fast.
 */
import crypto from "node:crypto";
import { toBech32 } from "@cosmjs/encoding";
import { DirectSecp256k1HdWallet } from "@cosmjs/proto-signing";
import { AkashChainStandin, type ChainStandinOptions } from "./chain";
import { AkashProviderStandin } from "./provider";

export { AkashChainStandin } from "./chain";
export { AkashProviderStandin } from "./provider";

/** Test-only mnemonics (BIP-39 test vectors); never hold value. */
export const TENANT_MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
export const OTHER_MNEMONIC = "legal winner thank year wave sausage worth useful legal winner thank yellow";

export async function addressOf(mnemonic: string): Promise<string> {
  const w = await DirectSecp256k1HdWallet.fromMnemonic(mnemonic, { prefix: "akash" });
  return (await w.getAccounts())[0].address;
}

export const randomAddress = () => toBech32("akash", crypto.randomBytes(20));

export interface SimProviderSpec {
  price: number;
  attributes?: Record<string, string>;
  auditedBy?: string[];
  silent?: boolean;
}

export interface AkashNetwork {
  chain: AkashChainStandin;
  providers: AkashProviderStandin[];
  restUrl: string;
  stop(): Promise<void>;
}

export async function startAkashNetwork(opts: ChainStandinOptions & { providers: SimProviderSpec[] }): Promise<AkashNetwork> {
  const chain = new AkashChainStandin(opts);
  const restUrl = await chain.start();
  const providers: AkashProviderStandin[] = [];
  for (const p of opts.providers) {
    const sp = new AkashProviderStandin(chain, randomAddress(), {
      price: p.price,
      attributes: p.attributes ?? {},
      auditedBy: p.auditedBy ?? [],
      silent: p.silent,
    });
    await sp.start();
    providers.push(sp);
  }
  return {
    chain,
    providers,
    restUrl,
    async stop() {
      for (const p of providers) await p.stop();
      await chain.stop();
    },
  };
}
