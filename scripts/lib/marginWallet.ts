/**
 * An agent's wallet that adds a margin to every gas estimate, as browser wallets do. The estimate is
 * made against the state before the transaction; a keeper transaction mined first can change what
 * the agent's call costs. The sharpest case: the keeper's treasury sweep empties the treasury's
 * withdrawable balance, so the next `endSession` or `claim` credits a zero slot (a 20,000-gas store)
 * where the estimate saw a non-zero one (2,900): about 17,000 gas more than estimated. Unused gas is
 * not charged, so the margin costs nothing but a higher limit.
 */
import { TransactionRequest, Wallet } from "ethers";

/** Covers one zero-to-non-zero storage write plus its cold access, with room to spare. */
export const GAS_MARGIN = 30_000n;

export class MarginWallet extends Wallet {
  override async estimateGas(tx: TransactionRequest): Promise<bigint> {
    return (await super.estimateGas(tx)) + GAS_MARGIN;
  }
}
