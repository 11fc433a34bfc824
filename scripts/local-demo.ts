/**
 * The contracts on their own, in one process: Hardhat's in-process chain (chain id 8453), the real
 * Uniswap V3 stack from npm artifacts, a test USDC, a funded pool, AgentCompute + AgentComputeBridge,
 * and a scripted agent that pays ETH for a session; this script plays the keeper's on-chain part.
 *
 *   npx hardhat run scripts/local-demo.ts        (npm run demo:contracts)
 */
import hre from "hardhat";
import { Contract, formatEther, formatUnits, toUtf8Bytes } from "ethers";
import { createWethUsdcPool, deployUniswap } from "./lib/uniswap";
import { deploySystem } from "./lib/system";
import { TestUSDC__factory } from "../typechain-types";

const usd = (v: bigint) => `${formatUnits(v, 6)} USDC`;

async function main() {
  const { ethers, network } = hre;
  const [deployer, keeper, treasury, agent] = await ethers.getSigners();
  const rpc = { send: (m: string, p: unknown[]) => network.provider.send(m, p) };
  const uni = await deployUniswap(deployer, rpc);
  const usdc = await new TestUSDC__factory(deployer).deploy();
  await (await usdc.mint(deployer.address, 10_000_000n * 10n ** 6n)).wait();
  await createWethUsdcPool(deployer, uni, usdc as unknown as Contract, { usdcPerEth: 3000_000000n, wethLiquidity: ethers.parseEther("1000") });
  const { compute, bridge } = await deploySystem(deployer, {
    usdc: await usdc.getAddress(),
    weth: await uni.weth.getAddress(),
    router: await uni.router.getAddress(),
    admin: deployer.address,
    treasury: treasury.address,
    keeper: keeper.address,
  });
  console.log(`chain ${(await ethers.provider.getNetwork()).chainId}: Uniswap V3 (factory ${await uni.factory.getAddress()}), WETH/USDC 0.05% pool at $3,000`);
  console.log(`AgentCompute ${await compute.getAddress()}   AgentComputeBridge ${await bridge.getAddress()}`);

  const c = compute.connect(agent);
  const cost = await c.getSessionCost(3600, 0);
  const [quote] = await uni.quoter.quoteExactOutputSingle.staticCall({ tokenIn: await uni.weth.getAddress(), tokenOut: await usdc.getAddress(), amount: cost, fee: 500, sqrtPriceLimitX96: 0 });
  const sent = (quote * 101n) / 100n;
  console.log(`\n1. agent ${agent.address} asks for 1 h on SPHERON: ${usd(cost)} = ${formatEther(quote)} ETH (QuoterV2); sends ${formatEther(sent)} ETH`);
  const ethBefore = await ethers.provider.getBalance(agent.address);
  const r1 = (await (await c.startSession(3600, 0, toUtf8Bytes('{"image":"agentcompute/busybox:local","cpu":1,"memoryMb":256}'), { value: sent })).wait())!;
  const id = r1.logs.map((l) => compute.interface.parseLog(l)).find((e) => e?.name === "SessionStarted")!.args.instanceId as string;
  const used = ethBefore - (await ethers.provider.getBalance(agent.address)) - r1.gasUsed * r1.gasPrice;
  console.log(`2. startSession: swap used ${formatEther(used)} ETH, ${formatEther(sent - used)} ETH refunded in the same tx; ${usd(cost)} escrowed; ${r1.gasUsed} gas`);

  await (await compute.connect(keeper).recordOutcome(id, 1, "docker:demo")).wait();
  console.log(`3. keeper: recordOutcome(Running): the session's clock starts now`);
  await network.provider.send("evm_increaseTime", [1200]);
  await network.provider.send("evm_mine", []);
  const claimed = await compute.connect(keeper).claim.staticCall(id);
  await (await compute.connect(keeper).claim(id)).wait();
  console.log(`4. 20 min later the keeper claims ${usd(claimed)} for the treasury`);

  const extra = await c.getSessionCost(1800, 0);
  await (await usdc.mint(agent.address, extra)).wait();
  await (await usdc.connect(agent).approve(await compute.getAddress(), extra)).wait();
  await (await c.extendSession(id, 1800)).wait();
  console.log(`5. agent extends by 30 min, paying ${usd(extra)} in USDC`);
  await (await c.setSpendingCaps(agent.address, 5_000_000, 20_000_000)).wait();
  const [daily, weekly] = await c.remainingAllowance(agent.address);
  console.log(`6. agent caps itself at 5 USDC/day, 20 USDC/week: ${usd(daily)} / ${usd(weekly)} left`);

  await network.provider.send("evm_increaseTime", [600]);
  const r2 = (await (await c.endSession(id)).wait())!;
  const ended = r2.logs.map((l) => compute.interface.parseLog(l)).find((e) => e?.name === "SessionEnded")!;
  console.log(`7. agent ends it after 30 min: ${usd(ended.args.paidToTreasury)} more to the treasury, ${usd(ended.args.refunded)} refunded`);

  const s = await compute.getSession(id);
  const held = await usdc.balanceOf(await compute.getAddress());
  const ok = s.deposited === s.claimed + (ended.args.refunded as bigint) && held === 0n;
  console.log(`\nmoney: deposited ${usd(s.deposited)} = claimed ${usd(s.claimed)} + refunded ${usd(ended.args.refunded)} + held ${usd(held)}  ${ok ? "OK" : "MISMATCH"}`);
  console.log("audit trail (eth_getLogs on AgentCompute and the bridge):");
  const logs = await ethers.provider.getLogs({ address: [await compute.getAddress(), await bridge.getAddress()], fromBlock: r1.blockNumber });
  for (const log of logs) {
    const ev = compute.interface.parseLog(log) ?? bridge.interface.parseLog(log);
    if (ev) console.log(`  block ${log.blockNumber}  ${ev.name}`);
  }
  if (!ok) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
