/**
 * Treasury sweep (contracts v2 pull payments): the treasury's share of settled sessions is credited to
 * a balance in AgentCompute instead of pushed, so a blacklisted treasury cannot block refunds. The
 * keeper withdraws it to the treasury (`withdraw(treasury)`, callable by anyone), through the outbox,
 * at most once every `intervalBlocks` blocks and never while an earlier sweep is unsettled.
 */
import { Contract, JsonRpcProvider } from "ethers";
import type { Logger } from "pino";
import type { Store } from "../store/store";
import { computeInterface } from "./contracts";

/** Meta key: the block of the last sweep decision (enqueued or nothing to withdraw). */
const SWEEP_BLOCK = "sweep.lastBlock";

export class TreasurySweep {
  private readonly compute: Contract;

  constructor(
    private readonly store: Store,
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
    const stored = await this.store.meta.get(SWEEP_BLOCK);
    if (stored !== undefined && blockNumber - Number(stored) < this.intervalBlocks) return 0n;
    if ((await this.store.outbox.unsettled("withdraw")) > 0) return 0n;
    const treasury: string = await this.compute.treasury();
    const amount: bigint = await this.compute.withdrawable(treasury);
    await this.store.tx(async () => {
      await this.store.meta.set(SWEEP_BLOCK, String(blockNumber));
      if (amount > 0n)
        await this.store.outbox.enqueue(
          `withdraw:${treasury.toLowerCase()}:${blockNumber}`,
          "withdraw",
          null,
          computeInterface.encodeFunctionData("withdraw", [treasury]),
        );
    });
    if (amount > 0n) this.log.info({ treasury, amount: amount.toString(), block: blockNumber }, "treasury sweep enqueued");
    return amount;
  }
}
