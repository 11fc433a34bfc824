import { expect } from "chai";
import { ethers, network } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { systemFixture, instanceIdOf, quoteEthFor, startActive, System, HOUR, SPHERON, IONET, CONFIG, USDC } from "../shared/fixtures";
import {
  withSlippage,
  mined,
  feeOfLastTx,
  ledger,
  expectNothingLeftBehind,
  expectUnchangedExcept,
  whaleBuysUsdc,
  whaleSellsUsdc,
  STF,
  TOO_MUCH_REQUESTED,
} from "./helpers";

const SLIPPAGE_BPS = 50n; // 0.5%
/** A front-run big enough to move the 2000 WETH pool's price by about 5%. */
const FRONT_RUN_ETH = ethers.parseEther("50");

/** The fixture plus a whale (a separate signer) who trades against the pool around the agent. */
async function sandwichFixture() {
  const s = await loadFixture(systemFixture); // derived from its snapshot: a fresh systemFixture() spends another 2,000 ETH of the deployer's
  const whale = (await ethers.getSigners())[9];
  await s.usdc.mint(whale.address, USDC(10_000_000));
  await s.usdc.connect(whale).approve(await s.uni.router.getAddress(), ethers.MaxUint256);
  return { ...s, whale };
}

async function oldQuote(s: System, duration = HOUR, provider = SPHERON) {
  const cost = await s.compute.getSessionCost(duration, provider);
  const quote = await quoteEthFor(s, cost);
  return { cost, quote, maxIn: withSlippage(quote, SLIPPAGE_BPS) };
}

describe("AgentComputeBridge: the price moves between the agent's quote and its payment", () => {
  describe("when a large ETH->USDC swap ran just before the agent's payment (a sandwich's front-run)", () => {
    it("startSession with the old quote + 0.5% reverts with SwapFailed(Error('STF')): the agent loses only gas", async () => {
      const s = await loadFixture(sandwichFixture);
      const { quote, maxIn } = await oldQuote(s);
      await whaleBuysUsdc(s, s.whale, FRONT_RUN_ETH);
      const fresh = await quoteEthFor(s, await s.compute.getSessionCost(HOUR, SPHERON));
      expect(fresh).to.be.gt(maxIn); // the move is beyond the agent's slippage
      expect(fresh).to.be.gt(quote);
      const before = await ledger(s);
      await expect(s.c.startSession(HOUR, SPHERON, CONFIG, { value: maxIn }))
        .to.be.revertedWithCustomError(s.bridge, "SwapFailed")
        .withArgs(STF);
      const fee = await feeOfLastTx(s.agent.address);
      const after = await ledger(s);
      expect(before.agentEth - after.agentEth).to.equal(fee);
      expectUnchangedExcept(before, after, ["agentEth"]);
      expectNothingLeftBehind(after);
    });

    it("extendSession with the old quote + 0.5% reverts with SwapFailed(Error('STF')) and the session is unchanged", async () => {
      const s = await loadFixture(sandwichFixture);
      const id = await startActive(s);
      const session = await s.compute.getSession(id);
      const { maxIn } = await oldQuote(s);
      await whaleBuysUsdc(s, s.whale, FRONT_RUN_ETH);
      const before = await ledger(s);
      await expect(s.c.extendSession(id, HOUR, { value: maxIn }))
        .to.be.revertedWithCustomError(s.bridge, "SwapFailed")
        .withArgs(STF);
      const fee = await feeOfLastTx(s.agent.address);
      const after = await ledger(s);
      expect(before.agentEth - after.agentEth).to.equal(fee);
      expectUnchangedExcept(before, after, ["agentEth"]);
      const unchanged = await s.compute.getSession(id);
      expect(unchanged.deposited).to.equal(session.deposited);
      expect(unchanged.endTime).to.equal(session.endTime);
    });

    it("the same payment with a fresh quote + 0.5% succeeds and spends exactly the fresh quote", async () => {
      const s = await loadFixture(sandwichFixture);
      const { cost, quote } = await oldQuote(s);
      await whaleBuysUsdc(s, s.whale, FRONT_RUN_ETH);
      const fresh = await quoteEthFor(s, cost);
      expect(fresh).to.be.gt(withSlippage(quote, SLIPPAGE_BPS));
      const before = await ledger(s);
      const value = withSlippage(fresh, SLIPPAGE_BPS);
      const tx = s.c.startSession(HOUR, SPHERON, CONFIG, { value });
      const receipt = await mined(tx);
      await expect(tx)
        .to.emit(s.bridge, "ComputeRequested")
        .withArgs(s.agent.address, await instanceIdOf(s, tx), SPHERON, HOUR, cost, value, fresh, value - fresh);
      const after = await ledger(s);
      expect(before.agentEth - after.agentEth).to.equal(fresh + receipt.fee);
      expect(after.computeUsdc - before.computeUsdc).to.equal(cost);
      expectNothingLeftBehind(after);
    });
  });

  describe("when the front-run, the agent's payment and the back-run are mined in one block (ordered by priority fee)", () => {
    it("the agent's transaction reverts with SwapFailed(Error('STF')) and the agent loses only gas", async () => {
      const s = await loadFixture(sandwichFixture);
      const { maxIn } = await oldQuote(s, 4n * HOUR, IONET);
      const usdcFromFrontRun = USDC(140_000); // roughly what 50 ETH buys after the move; sold back in the back-run
      const before = await ledger(s);
      const fees = { maxFeePerGas: ethers.parseUnits("100", "gwei") };
      const router = s.uni.router.connect(s.whale).getFunction("exactInputSingle");
      const weth = await s.uni.weth.getAddress();
      const usdc = await s.usdc.getAddress();
      await network.provider.send("evm_setAutomine", [false]);
      let frontHash: string, agentHash: string, backHash: string;
      try {
        frontHash = (
          await router(
            {
              tokenIn: weth,
              tokenOut: usdc,
              fee: 500,
              recipient: s.whale.address,
              amountIn: FRONT_RUN_ETH,
              amountOutMinimum: 0n,
              sqrtPriceLimitX96: 0n,
            },
            { value: FRONT_RUN_ETH, gasLimit: 1_000_000, ...fees, maxPriorityFeePerGas: ethers.parseUnits("50", "gwei") },
          )
        ).hash;
        agentHash = (
          await s.c.startSession(4n * HOUR, IONET, CONFIG, {
            value: maxIn,
            gasLimit: 2_000_000,
            ...fees,
            maxPriorityFeePerGas: ethers.parseUnits("2", "gwei"),
          })
        ).hash;
        backHash = (
          await router(
            {
              tokenIn: usdc,
              tokenOut: weth,
              fee: 500,
              recipient: s.whale.address,
              amountIn: usdcFromFrontRun,
              amountOutMinimum: 0n,
              sqrtPriceLimitX96: 0n,
            },
            { gasLimit: 1_000_000, ...fees, maxPriorityFeePerGas: ethers.parseUnits("1", "gwei") },
          )
        ).hash;
        await network.provider.send("evm_mine", []);
      } finally {
        await network.provider.send("evm_setAutomine", [true]);
      }
      const block = await ethers.provider.getBlock("latest");
      expect(block!.transactions).to.deep.equal([frontHash, agentHash, backHash]);
      const agentReceipt = await ethers.provider.getTransactionReceipt(agentHash);
      expect(agentReceipt!.status).to.equal(0);
      expect((await ethers.provider.getTransactionReceipt(frontHash))!.status).to.equal(1);
      expect((await ethers.provider.getTransactionReceipt(backHash))!.status).to.equal(1);
      // A mined revert's data is only in the trace.
      const trace = await network.provider.send("debug_traceTransaction", [
        agentHash,
        { disableStorage: true, disableStack: true, disableMemory: true },
      ]);
      const err = s.bridge.interface.parseError(`0x${String(trace.returnValue).replace(/^0x/, "")}`);
      expect(err?.name).to.equal("SwapFailed");
      expect(err?.args[0]).to.equal(STF);
      const after = await ledger(s);
      expect(before.agentEth - after.agentEth).to.equal(agentReceipt!.fee);
      expect(after.agentUsdc).to.equal(before.agentUsdc);
      expect(after.computeUsdc).to.equal(before.computeUsdc);
      expectNothingLeftBehind(after);
    });
  });

  describe("when the price moved against the agent but within its slippage", () => {
    it("pays the new price (more than its quote, at most msg.value) and gets the rest back", async () => {
      const s = await loadFixture(sandwichFixture);
      const { cost, quote, maxIn } = await oldQuote(s);
      await whaleBuysUsdc(s, s.whale, ethers.parseEther("2")); // about 0.2%
      const fresh = await quoteEthFor(s, cost);
      expect(fresh).to.be.gt(quote);
      expect(fresh).to.be.lte(maxIn);
      const before = await ledger(s);
      const tx = s.c.startSession(HOUR, SPHERON, CONFIG, { value: maxIn });
      const receipt = await mined(tx);
      await expect(tx)
        .to.emit(s.bridge, "ComputeRequested")
        .withArgs(s.agent.address, await instanceIdOf(s, tx), SPHERON, HOUR, cost, maxIn, fresh, maxIn - fresh);
      const after = await ledger(s);
      expect(before.agentEth - after.agentEth).to.equal(fresh + receipt.fee);
      expect(after.computeUsdc - before.computeUsdc).to.equal(cost);
      expectNothingLeftBehind(after);
    });
  });

  describe("when the price moved in the agent's favour (someone sold USDC for ETH)", () => {
    it("pays less than its quote and gets more back", async () => {
      const s = await loadFixture(sandwichFixture);
      const { cost, quote, maxIn } = await oldQuote(s);
      await whaleSellsUsdc(s, s.whale, USDC(300_000));
      const fresh = await quoteEthFor(s, cost);
      expect(fresh).to.be.lt(quote);
      const before = await ledger(s);
      const receipt = await mined(s.c.startSession(HOUR, SPHERON, CONFIG, { value: maxIn }));
      const after = await ledger(s);
      expect(before.agentEth - after.agentEth).to.equal(fresh + receipt.fee);
      expect(after.computeUsdc - before.computeUsdc).to.equal(cost);
      expectNothingLeftBehind(after);
    });
  });

  describe("when msg.value is below the quote from the start", () => {
    it("quote - 1 wei: reverts with SwapFailed(Error('STF')) and the agent loses only gas", async () => {
      const s = await loadFixture(sandwichFixture);
      const { quote } = await oldQuote(s);
      const before = await ledger(s);
      await expect(s.c.startSession(HOUR, SPHERON, CONFIG, { value: quote - 1n }))
        .to.be.revertedWithCustomError(s.bridge, "SwapFailed")
        .withArgs(STF);
      const fee = await feeOfLastTx(s.agent.address);
      const after = await ledger(s);
      expect(before.agentEth - after.agentEth).to.equal(fee);
      expectUnchangedExcept(before, after, ["agentEth"]);
    });

    it("1 wei: reverts with SwapFailed(Error('STF'))", async () => {
      const s = await loadFixture(sandwichFixture);
      await expect(s.c.startSession(HOUR, SPHERON, CONFIG, { value: 1n }))
        .to.be.revertedWithCustomError(s.bridge, "SwapFailed")
        .withArgs(STF);
    });

    it("extendSession with quote - 1 wei: reverts with SwapFailed(Error('STF'))", async () => {
      const s = await loadFixture(sandwichFixture);
      const id = await startActive(s);
      const { quote } = await oldQuote(s);
      await expect(s.c.extendSession(id, HOUR, { value: quote - 1n }))
        .to.be.revertedWithCustomError(s.bridge, "SwapFailed")
        .withArgs(STF);
    });
  });

  describe("when ETH stranded in the router would cover the agent's shortfall", () => {
    it("the router's own amountInMaximum check still rejects it: SwapFailed(Error('Too much requested'))", async () => {
      const s = await loadFixture(sandwichFixture);
      const { quote } = await oldQuote(s);
      // Someone overpays an exact-input swap without refundETH: the router keeps 0.3 ETH.
      const params = {
        tokenIn: await s.uni.weth.getAddress(),
        tokenOut: await s.usdc.getAddress(),
        fee: 500,
        recipient: s.other.address,
        amountIn: ethers.parseEther("0.2"),
        amountOutMinimum: 0n,
        sqrtPriceLimitX96: 0n,
      };
      await mined(s.uni.router.connect(s.other).getFunction("exactInputSingle")(params, { value: ethers.parseEther("0.5") }));
      const before = await ledger(s);
      expect(before.routerEth).to.equal(ethers.parseEther("0.3"));
      await expect(s.c.startSession(HOUR, SPHERON, CONFIG, { value: quote - 1n }))
        .to.be.revertedWithCustomError(s.bridge, "SwapFailed")
        .withArgs(TOO_MUCH_REQUESTED);
      const fee = await feeOfLastTx(s.agent.address);
      const after = await ledger(s);
      expect(before.agentEth - after.agentEth).to.equal(fee);
      expectUnchangedExcept(before, after, ["agentEth"]);
    });
  });
});
