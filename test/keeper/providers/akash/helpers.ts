import pino from "pino";
import { AkashProvider, type AkashProviderOptions } from "../../../../keeper/providers/akash/akashProvider";
import { openStore } from "../../../../keeper/store/store";
import type { AkashNetwork } from "../../../standins/akash";
import { TENANT_MNEMONIC } from "../../../standins/akash";

export const silentLog = pino({ level: "silent" });

export function providerOptions(net: AkashNetwork, over: Partial<AkashProviderOptions> = {}): AkashProviderOptions {
  return {
    chain: { restUrl: net.restUrl, chainId: net.chain.chainId, mnemonic: TENANT_MNEMONIC, timeoutMs: 2_000, txPollMs: 10, txWaitMs: 5_000 },
    depositUakt: 500_000,
    bidWindowMs: 150,
    maxPricePerBlock: 100,
    requiredAttributes: {},
    auditors: [],
    lookaheadS: 86_400,
    runwayS: 86_400,
    blockTimeS: 6,
    requestTimeoutMs: 2_000,
    provisionDeadlineMs: 10_000,
    usdcPerAkt: 1_000_000,
    pollMs: 10,
    topUpCheckMs: 0,
    ...over,
  };
}

export function makeProvider(net: AkashNetwork, dbFile = ":memory:", over: Partial<AkashProviderOptions> = {}) {
  // `store` is the Akash repository the provider writes through; `db` the raw file, for assertions.
  const { akash: store, db } = openStore(dbFile);
  return { provider: new AkashProvider(providerOptions(net, over), store, silentLog), store, db };
}

export const spec = { image: "nginx:1.25", cpu: 0.5, memoryMb: 512, env: { MODE: "test" } };
