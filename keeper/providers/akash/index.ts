/**
 * The `akash` provider from keeper configuration. Enabled when AKASH_REST_URL and AKASH_MNEMONIC are
 * both set; otherwise undefined (the keeper runs without it).
 */
import path from "node:path";
import type { Logger } from "pino";
import type { KeeperConfig } from "../../config";
import { openStore, type Store } from "../../store/store";
import type { ComputeProvider } from "../provider";
import { AkashProvider, type AkashProviderOptions } from "./akashProvider";
import { parseAttributes } from "./bids";

export { AkashProvider, AkashProvisionError, dseqFor } from "./akashProvider";
export { buildSdl, sdlDocument, InvalidSdl, type AkashWorkload } from "./sdl";
export { chooseBid } from "./bids";
export { topUpAmount } from "./escrow";

export function akashOptions(cfg: KeeperConfig): AkashProviderOptions | undefined {
  if (!cfg.AKASH_REST_URL || !cfg.AKASH_MNEMONIC) return undefined;
  return {
    chain: {
      restUrl: cfg.AKASH_REST_URL,
      chainId: cfg.AKASH_CHAIN_ID,
      mnemonic: cfg.AKASH_MNEMONIC,
      timeoutMs: cfg.AKASH_REQUEST_TIMEOUT_MS,
      txWaitMs: cfg.AKASH_REQUEST_TIMEOUT_MS * 2,
      txPollMs: Math.min(1_000, Math.ceil((cfg.AKASH_BLOCK_TIME_S * 1000) / 4)),
    },
    depositUakt: cfg.AKASH_DEPOSIT_UAKT,
    bidWindowMs: cfg.AKASH_BID_WINDOW_MS,
    maxPricePerBlock: cfg.AKASH_MAX_PRICE_UAKT_PER_BLOCK,
    requiredAttributes: parseAttributes(cfg.AKASH_PROVIDER_ATTRIBUTES),
    auditors: cfg.AKASH_AUDITORS.split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    lookaheadS: cfg.AKASH_TOPUP_LOOKAHEAD_S,
    runwayS: cfg.AKASH_TOPUP_RUNWAY_S,
    blockTimeS: cfg.AKASH_BLOCK_TIME_S,
    requestTimeoutMs: cfg.AKASH_REQUEST_TIMEOUT_MS,
    provisionDeadlineMs: cfg.AKASH_PROVISION_DEADLINE_MS,
    usdcPerAkt: cfg.AKASH_USDC_PER_AKT,
  };
}

export function createAkashProvider(cfg: KeeperConfig, log: Logger, store?: Store): ComputeProvider | undefined {
  const opts = akashOptions(cfg);
  if (!opts) return undefined;
  const s = store ?? openStore(path.join(cfg.DATA_DIR, "keeper.sqlite"));
  return new AkashProvider(opts, s.akash, log.child({ provider: "akash" }));
}
