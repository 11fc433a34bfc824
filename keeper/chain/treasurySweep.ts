/**
 * Treasury sweep (contracts v2 pull payments): the treasury's share of settled sessions is credited to
 * a balance in AgentCompute instead of pushed, so a blacklisted treasury cannot block refunds. The
 * keeper withdraws it to the treasury (`withdraw(treasury)`, callable by anyone), through the outbox,
 * at most once every `intervalBlocks` blocks and never while an earlier sweep is unsettled.
 */
import { Contract, JsonRpcProvider } from "ethers";
import type { Logger } from "pino";
import type { DB } from "../store/db";
import { lastSweepBlock, setLastSweepBlock, unsettledActions } from "../store/autoRenewal";
import { enqueueAction } from "./txSender";
import { computeInterface } from "./contracts";

export class TreasurySweep {
  private readonly compute: Contract;

  constructor(
    private readonly db: DB,
    rpc: JsonRpcProvider,
    computeAddress: string,
    private readonly intervalBlocks: number,
    private readonly log: Logger,
  ) {
    this.compute = new Contract(computeAddress, computeInterface, rpc);
  }

  /** Enqueues a sweep when one is due and the treasury has something to withdraw. Returns the amount. */
  async tick(blockNumber: number): Promise<bigint> {
    if (this.intervalBlocks <= 0) return 0n;
    const last = lastSweepBlock(this.db);
    if (last !== undefined && blockNumber - last < this.intervalBlocks) return 0n;
    if (unsettledActions(this.db, "withdraw") > 0) return 0n;
    const treasury: string = await this.compute.treasury();
    const amount: bigint = await this.compute.withdrawable(treasury);
    this.db.transaction(() => {
      setLastSweepBlock(this.db, blockNumber);
      if (amount > 0n) enqueueAction(this.db, `withdraw:${treasury.toLowerCase()}:${blockNumber}`, "withdraw", null, computeInterface.encodeFunctionData("withdraw", [treasury]));
    })();
    if (amount > 0n) this.log.info({ treasury, amount: amount.toString(), block: blockNumber }, "treasury sweep enqueued");
    return amount;
  }
}
