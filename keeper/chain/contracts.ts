/** The contracts' ABIs as the keeper reads them (from the compiled artifacts' typechain factories). */
import { Interface } from "ethers";
import { AgentCompute__factory, AgentComputeBridge__factory } from "../../typechain-types";

export const computeInterface = new Interface(AgentCompute__factory.abi);
export const bridgeInterface = new Interface(AgentComputeBridge__factory.abi);

export const OUTCOME = { Running: 1, Failed: 2, Completed: 3, Provisioning: 4 } as const;

/** IAgentCompute.RenewalFailure, by its uint8 value in RenewalFailed. */
export const RENEWAL_FAILURE = [
  "None",
  "BudgetExhausted",
  "AboveMaxPerRenewal",
  "CapExceeded",
  "ProviderInactive",
  "PaymentFailed",
] as const;

export function renewalFailureName(reason: number | string): string {
  return RENEWAL_FAILURE[Number(reason)] ?? `Unknown(${reason})`;
}

/**
 * The name of a contract custom error in `data` (revert data, hex), e.g. "RenewalTooEarly"; the data
 * itself when it is not one of the contracts' errors.
 */
export function contractErrorName(data: string): string {
  if (/^0x[0-9a-fA-F]{8,}$/.test(data)) {
    for (const iface of [computeInterface, bridgeInterface]) {
      try {
        const e = iface.parseError(data);
        if (e) return e.name;
      } catch {
        // not this contract's error
      }
    }
  }
  return data;
}

/** Event names the keeper ingests, from either contract. */
export const WATCHED_EVENTS = [
  "SessionStarted",
  "SessionExtended",
  "SessionActivated",
  "SessionEnded",
  "EscrowClaimed",
  "OutcomeRecorded",
  "JobBatchRecorded",
  "ComputeRequested",
  // contracts v2: pull payments and auto-renewal
  "Withdrawn",
  "RefundDeferred",
  "AutoRenewalSet",
  "AutoRenewalStopped",
  "SessionRenewed",
  "RenewalFailed",
] as const;
export type WatchedEvent = (typeof WATCHED_EVENTS)[number];
