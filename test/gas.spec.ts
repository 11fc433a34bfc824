import { expect } from "chai";
import hre, { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { systemFixture, quoteEthFor, startActive, instanceIdOf, HOUR, CONFIG, SPHERON, System } from "./shared/fixtures";
import { snapshotGas } from "./shared/gasSnapshot";

async function gasOf(tx: Promise<{ wait(): Promise<{ gasUsed: bigint } | null> }>): Promise<bigint> {
  return (await (await tx).wait())!.gasUsed;
}

/** State every measurement starts from: one earlier session exists, so counters are warm as in production. */
async function warmFixture() {
  const s = await systemFixture();
  await startActive(s);
  return s;
}

async function bareRouterGas(s: System, usdcOut: bigint, maxIn: bigint): Promise<bigint> {
  const router = s.uni.router.connect(s.agent);
  const calls = [
    router.interface.encodeFunctionData("exactOutputSingle", [
      {
        tokenIn: await s.uni.weth.getAddress(),
        tokenOut: await s.usdc.getAddress(),
        fee: 500,
        recipient: s.agent.address,
        amountOut: usdcOut,
        amountInMaximum: maxIn,
        sqrtPriceLimitX96: 0,
      },
    ]),
    router.interface.encodeFunctionData("refundETH"),
  ];
  return gasOf(router.getFunction("multicall(bytes[])")(calls, { value: maxIn }));
}

describe("gas", function () {
  // Coverage instruments the bytecode, which changes every figure: gas is measured in the plain run only.
  before(function () {
    if ((hre as unknown as { __SOLIDITY_COVERAGE_RUNNING?: boolean }).__SOLIDITY_COVERAGE_RUNNING) this.skip();
  });

  it("startSession paid in ETH stays within 60k gas of a bare SwapRouter02 multicall(exactOutputSingle, refundETH)", async () => {
    const s = await loadFixture(warmFixture);
    const cost = await s.compute.getSessionCost(HOUR, SPHERON);
    const maxIn = ((await quoteEthFor(s, cost)) * 101n) / 100n;
    const bare = await bareRouterGas(s, cost, maxIn);
    const ours = await gasOf(s.c.startSession(HOUR, SPHERON, CONFIG, { value: maxIn }));
    snapshotGas("router multicall(exactOutputSingle, refundETH) [baseline]", bare);
    snapshotGas("startSession (ETH)", ours);
    console.log(`      ETH path ${ours} gas = bare router ${bare} + ${ours - bare}`);
    expect(ours - bare).to.be.lte(60_000n);
  });

  it("startSession (USDC)", async () => {
    const s = await loadFixture(warmFixture);
    snapshotGas("startSession (USDC)", await gasOf(s.c.startSession(HOUR, SPHERON, CONFIG)));
  });

  it("extendSession (USDC and ETH)", async () => {
    const s = await loadFixture(warmFixture);
    const id = await startActive(s);
    snapshotGas("extendSession (USDC)", await gasOf(s.c.extendSession(id, HOUR)));
    const maxIn = ((await quoteEthFor(s, await s.compute.getSessionCost(HOUR, SPHERON))) * 101n) / 100n;
    snapshotGas("extendSession (ETH)", await gasOf(s.c.extendSession(id, HOUR, { value: maxIn })));
  });

  it("startSessionWithMaxCost and extendSessionWithMaxCost (USDC)", async () => {
    const s = await loadFixture(warmFixture);
    const cost = await s.compute.getSessionCost(HOUR, SPHERON);
    snapshotGas("startSessionWithMaxCost", await gasOf(s.c.startSessionWithMaxCost(HOUR, SPHERON, CONFIG, cost)));
    const id = await startActive(s);
    snapshotGas("extendSessionWithMaxCost", await gasOf(s.c.extendSessionWithMaxCost(id, HOUR, cost)));
  });

  it("a renewal costs at most the USDC extension + 15k gas", async () => {
    const s = await loadFixture(warmFixture);
    // Same starting point for both: an active session's first extra tranche.
    const extended = await startActive(s);
    const extendGas = await gasOf(s.c.extendSession(extended, HOUR));
    const id = await startActive(s);
    snapshotGas("setAutoRenewal", await gasOf(s.c.setAutoRenewal(id, HOUR, 1_000_000n, 10_000_000n)));
    const renewGas = await gasOf(s.compute.connect(s.keeper).renew(id));
    snapshotGas("renew", renewGas);
    console.log(`      renew ${renewGas} gas = USDC extendSession ${extendGas} + ${renewGas - extendGas}`);
    expect(renewGas).to.be.lte(extendGas + 15_000n);
  });

  it("claim across a tranche boundary, recordOutcome (Provisioning), withdraw", async () => {
    const s = await loadFixture(warmFixture);
    const id = await startActive(s);
    await s.c.extendSession(id, HOUR);
    await time.increase(HOUR + 600n);
    snapshotGas("claim (across a tranche boundary)", await gasOf(s.compute.connect(s.keeper).claim(id)));
    snapshotGas("withdraw", await gasOf(s.compute.withdraw(s.treasury.address)));
    const pending = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
    snapshotGas("recordOutcome (Provisioning)", await gasOf(s.compute.connect(s.keeper).recordOutcome(pending, 4, "akash:dseq-42")));
  });

  it("endSession, claim, recordOutcome", async () => {
    const s = await loadFixture(warmFixture);
    const id = await instanceIdOf(s, s.c.startSession(HOUR, SPHERON, CONFIG));
    snapshotGas("recordOutcome (Running)", await gasOf(s.compute.connect(s.keeper).recordOutcome(id, 1, "docker:4f2a9c")));
    await time.increase(600);
    snapshotGas("claim", await gasOf(s.compute.connect(s.keeper).claim(id)));
    await time.increase(600);
    snapshotGas("endSession", await gasOf(s.c.endSession(id)));
  });

  it("recordJobBatch costs the same whatever the batch size, and at most 60k", async () => {
    const s = await loadFixture(warmFixture);
    const k = s.compute.connect(s.keeper);
    const gasFor = async (n: number) => {
      const leaves = Array.from({ length: n }, (_, i) => [`job-${n}-${i}`, ethers.id(`result-${i}`), 200n]);
      const tree = StandardMerkleTree.of(leaves, ["string", "bytes32", "uint256"]);
      return gasOf(k.recordJobBatch(tree.root, n, 200n * BigInt(n)));
    };
    const small = await gasFor(2);
    const large = await gasFor(10_000);
    snapshotGas("recordJobBatch", large);
    // Only calldata differs (more non-zero bytes in the larger counts): well under 100 gas.
    expect(large - small).to.be.lt(100n);
    expect(large).to.be.lte(60_000n);
  });
});
