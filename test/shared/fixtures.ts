/**
 * The one fixture every contract test starts from: the real Uniswap V3 stack from npm artifacts,
 * WETH9 at Base's address, a 6-decimal USDC with permit, a funded WETH/USDC 0.05% pool at $3,000,
 * and AgentCompute + AgentComputeBridge wired together with a keeper and a treasury.
 */
import { ethers, network } from "hardhat";
import { Contract, Signer } from "ethers";
import { createWethUsdcPool, deployUniswap } from "../../localnet/uniswap";
import { deploySystem } from "../../localnet/system";
import { BlacklistingUSDC__factory, LocalUSDC__factory } from "../../typechain-types";

export const USDC = (n: number | string) => ethers.parseUnits(String(n), 6);
export const ETH_PRICE_USDC = 3000_000000n;
export const HOUR = 3600n;
export const SPHERON = 0;
export const AKASH = 1;
export const IONET = 2;
export const CONFIG = ethers.toUtf8Bytes('{"image":"python:3.12-slim","cpu":1,"memoryMb":512}');

export async function systemFixture() {
  return deployFixture(false);
}

/** The same system on a USDC with Circle's blacklist (`usdc.blacklist(address, true)`), as on Base. */
export async function blacklistFixture() {
  const s = await deployFixture(true);
  return { ...s, usdc: s.usdc as unknown as Awaited<ReturnType<BlacklistingUSDC__factory["deploy"]>> };
}

async function deployFixture(blacklisting: boolean) {
  const [deployer, admin, keeper, treasury, agent, other, guardian] = await ethers.getSigners();
  const rpc = { send: (m: string, p: unknown[]) => network.provider.send(m, p) };
  // Each fixture wraps 2,000 ETH into the pool: top the deployer up so any number of fixtures fit
  // in one test process (Hardhat's 10,000 ETH would run out after four).
  await rpc.send("hardhat_setBalance", [deployer.address, "0x" + (10n ** 25n).toString(16)]);
  const uni = await deployUniswap(deployer, rpc);
  const usdc = blacklisting ? await new BlacklistingUSDC__factory(deployer).deploy() : await new LocalUSDC__factory(deployer).deploy();
  await usdc.waitForDeployment();
  await (await usdc.mint(deployer.address, USDC(100_000_000))).wait();
  const pool = await createWethUsdcPool(deployer, uni, usdc as unknown as Contract, {
    usdcPerEth: ETH_PRICE_USDC,
    wethLiquidity: ethers.parseEther("2000"),
  });
  const { compute, bridge } = await deploySystem(deployer, {
    usdc: await usdc.getAddress(),
    weth: await uni.weth.getAddress(),
    router: await uni.router.getAddress(),
    admin: admin.address,
    treasury: treasury.address,
    keeper: keeper.address,
  });
  const c = compute.connect(agent);
  // Agents start with USDC and have approved the escrow.
  for (const s of [agent, other]) {
    await usdc.mint(s.address, USDC(1_000_000));
    await usdc.connect(s).approve(await compute.getAddress(), ethers.MaxUint256);
  }
  return { deployer, admin, keeper, treasury, agent, other, guardian, uni, usdc, pool, compute, bridge, c };
}

export type System = Awaited<ReturnType<typeof systemFixture>>;
export type BlacklistSystem = Awaited<ReturnType<typeof blacklistFixture>>;

/** The instanceId a start transaction created, read from its SessionStarted event. */
export async function instanceIdOf(system: System, tx: Promise<{ wait(): Promise<unknown> }>): Promise<string> {
  const receipt = (await (await tx).wait()) as { logs: { topics: string[]; data: string }[] };
  for (const log of receipt.logs) {
    const parsed = system.compute.interface.parseLog(log);
    if (parsed?.name === "SessionStarted") return parsed.args.instanceId as string;
  }
  throw new Error("no SessionStarted in receipt");
}

/** ETH an exact-output swap for `usdcAmount` needs now, from the real QuoterV2. */
export async function quoteEthFor(system: System, usdcAmount: bigint, fee = 500): Promise<bigint> {
  const [amountIn] = await system.uni.quoter.quoteExactOutputSingle.staticCall({
    tokenIn: await system.uni.weth.getAddress(),
    tokenOut: await system.usdc.getAddress(),
    amount: usdcAmount,
    fee,
    sqrtPriceLimitX96: 0,
  });
  return amountIn as bigint;
}

/** Starts a session paid in USDC and has the keeper report it running; returns its id. */
export async function startActive(system: System, duration = HOUR, provider = SPHERON): Promise<string> {
  const id = await instanceIdOf(system, system.c.startSession(duration, provider, CONFIG));
  await system.compute.connect(system.keeper).recordOutcome(id, 1, "local-1");
  return id;
}

/** Parameters of AgentCompute's Permit struct. */
export interface PermitArgs {
  value: bigint;
  deadline: bigint;
  v: number;
  r: string;
  s: string;
}

/**
 * An EIP-2612 permit signed by `owner` for AgentCompute as spender. The EIP-712 domain is read from the
 * token itself (EIP-5267 `eip712Domain()`), so a change to the token's name or version cannot drift.
 */
export async function signPermit(system: System, owner: Signer, value: bigint, deadline: bigint): Promise<PermitArgs> {
  const d = await system.usdc.eip712Domain();
  const domain = { name: d.name, version: d.version, chainId: d.chainId, verifyingContract: d.verifyingContract };
  const types = {
    Permit: [
      { name: "owner", type: "address" },
      { name: "spender", type: "address" },
      { name: "value", type: "uint256" },
      { name: "nonce", type: "uint256" },
      { name: "deadline", type: "uint256" },
    ],
  };
  const ownerAddress = await owner.getAddress();
  const message = {
    owner: ownerAddress,
    spender: await system.compute.getAddress(),
    value,
    nonce: await system.usdc.nonces(ownerAddress),
    deadline,
  };
  const sig = ethers.Signature.from(await owner.signTypedData(domain, types, message));
  return { value, deadline, v: sig.v, r: sig.r, s: sig.s };
}
