/** The contracts' ABIs as the keeper reads them (from the compiled artifacts' typechain factories). */
import { Interface } from "ethers";
import { AgentCompute__factory, AgentComputeBridge__factory } from "../../typechain-types";

export const computeInterface = new Interface(AgentCompute__factory.abi);
export const bridgeInterface = new Interface(AgentComputeBridge__factory.abi);

export const OUTCOME = { Running: 1, Failed: 2, Completed: 3 } as const;

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
] as const;
export type WatchedEvent = (typeof WATCHED_EVENTS)[number];
