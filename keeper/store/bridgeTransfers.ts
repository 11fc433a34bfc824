/** Reads of the bridge transfers (table bridge_transfers) for the cost and bridge reports. */
import type { Unit } from "./unit";

export interface BridgeTransferSummaryRow {
  id: number;
  provider: string;
  amount: string;
  state: string;
  attempt: number;
  tx_hash: string | null;
  error: string | null;
}

export class BridgeTransfersRepo {
  constructor(private readonly unit: Unit) {}

  /** Every transfer, oldest first, with what a summary shows of it. */
  summaryRows(): Promise<BridgeTransferSummaryRow[]> {
    return this.unit.run((db) => db.prepare("SELECT id, provider, amount, state, attempt, tx_hash, error FROM bridge_transfers ORDER BY id").all() as BridgeTransferSummaryRow[]);
  }
}
