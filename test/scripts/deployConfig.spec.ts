import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ethers, network } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { checkChainFacts, ChainFacts, DeployRefused, LIVE_NETWORKS, planLiveDeploy } from "../../scripts/lib/deployConfig";
import { deploy, readChainFacts } from "../../scripts/deploy";
import { systemFixture } from "../shared/fixtures";

const KEY = "0x" + "11".repeat(32);
const A = "0x1111111111111111111111111111111111111111";
const B = "0x2222222222222222222222222222222222222222";
const C = "0x3333333333333333333333333333333333333333";
const fullEnv = { BASE_RPC_URL: "http://127.0.0.1:1", DEPLOYER_PRIVATE_KEY: KEY, ADMIN_ADDRESS: A, TREASURY_ADDRESS: B, KEEPER_ADDRESS: C };

describe("scripts/deploy: what a live deployment needs", () => {
  it("with every setting, plans Base with design.md's addresses", () => {
    const { plan, problems } = planLiveDeploy("base", fullEnv);
    expect(problems).to.deep.equal([]);
    expect(plan).to.deep.include({
      chainId: 8453,
      usdc: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
      router: "0x2626664c2603336E57B271c5C0b26F421741e481",
      weth: "0x4200000000000000000000000000000000000006",
      quoter: "0x3d4e44Eb1374240CE5F1B871ab261CD16335B76a",
      admin: A,
      treasury: B,
      keeper: C,
      poolFee: 500,
    });
  });

  it("plans Base Sepolia with its own defaults and RPC variable", () => {
    const { plan, problems } = planLiveDeploy("baseSepolia", { ...fullEnv, BASE_RPC_URL: undefined, BASE_SEPOLIA_RPC_URL: "http://127.0.0.1:1" });
    expect(problems).to.deep.equal([]);
    expect(plan!.chainId).to.equal(84532);
    expect(plan!.router).to.equal(LIVE_NETWORKS.baseSepolia.router);
    expect(plan!.usdc).to.equal("0x036CbD53842c5426634e7929541eC2318f3dCF7e");
  });

  it("an address override replaces the default", () => {
    const { plan } = planLiveDeploy("base", { ...fullEnv, USDC_ADDRESS: A.toLowerCase() });
    expect(plan!.usdc).to.equal(A);
  });

  const refusals: [string, Record<string, string | undefined>, string][] = [
    ["the RPC URL is missing", { BASE_RPC_URL: undefined }, "BASE_RPC_URL is not set: the RPC URL of base"],
    ["the key is missing", { DEPLOYER_PRIVATE_KEY: undefined }, "DEPLOYER_PRIVATE_KEY is not set: the deploying account's key"],
    ["the key is malformed", { DEPLOYER_PRIVATE_KEY: "0x1234" }, "DEPLOYER_PRIVATE_KEY must be 0x followed by 64 hex digits"],
    ["the admin is unset", { ADMIN_ADDRESS: undefined }, "ADMIN_ADDRESS is not set"],
    ["the treasury is unset", { TREASURY_ADDRESS: undefined }, "TREASURY_ADDRESS is not set"],
    ["the keeper is unset", { KEEPER_ADDRESS: undefined }, "KEEPER_ADDRESS is not set"],
    ["an address is malformed", { USDC_ADDRESS: "0x1234" }, "USDC_ADDRESS is not a valid non-zero address: 0x1234"],
    ["an address is zero", { SWAP_ROUTER_ADDRESS: ethers.ZeroAddress }, `SWAP_ROUTER_ADDRESS is not a valid non-zero address: ${ethers.ZeroAddress}`],
    ["the pool fee is out of range", { POOL_FEE: "0" }, "POOL_FEE must be an integer in 1..999999, got 0"],
  ];
  for (const [when, change, message] of refusals) {
    it(`refuses when ${when}`, () => {
      const { plan, problems } = planLiveDeploy("base", { ...fullEnv, ...change });
      expect(plan).to.equal(undefined);
      expect(problems).to.include(message);
    });
  }

  it("refuses an unknown network", () => {
    expect(planLiveDeploy("mainnet", fullEnv).problems).to.deep.equal(["mainnet is not a live network this script knows (base, baseSepolia)"]);
  });

  describe("checks against the chain", () => {
    const plan = planLiveDeploy("base", fullEnv).plan!;
    const good: ChainFacts = { chainId: 8453, hasCode: { usdc: true, router: true, weth: true }, routerWeth: plan.weth, usdcDecimals: 6 };

    it("accepts facts that agree", () => {
      expect(checkChainFacts(plan, good)).to.deep.equal([]);
    });
    it("refuses a chain id mismatch", () => {
      expect(checkChainFacts(plan, { ...good, chainId: 1 })).to.deep.equal(["the RPC serves chain 1, but base is chain 8453"]);
    });
    it("refuses an address with no code", () => {
      expect(checkChainFacts(plan, { ...good, hasCode: { ...good.hasCode, weth: false } })).to.deep.equal([`no contract code at the weth address ${plan.weth}`]);
    });
    it("refuses a router whose WETH9() differs", () => {
      expect(checkChainFacts(plan, { ...good, routerWeth: A })).to.deep.equal([`the router's WETH9() is ${A}, not the WETH address ${plan.weth}`]);
    });
    it("refuses a router that is not a SwapRouter02", () => {
      expect(checkChainFacts(plan, { ...good, routerWeth: undefined })).to.deep.equal([`${plan.router} does not answer WETH9(): not a SwapRouter02`]);
    });
    it("refuses a USDC without 6 decimals, or without decimals()", () => {
      expect(checkChainFacts(plan, { ...good, usdcDecimals: 18 })).to.deep.equal([`the USDC address ${plan.usdc} has 18 decimals, not 6`]);
      expect(checkChainFacts(plan, { ...good, usdcDecimals: undefined })).to.deep.equal([`${plan.usdc} does not answer decimals(): not an ERC-20`]);
    });
  });
});

describe("scripts/deploy against a real chain", () => {
  it("reads the facts from real contracts: a swapped USDC/WETH and a missing router are caught", async () => {
    const s = await loadFixture(systemFixture);
    const plan = {
      ...planLiveDeploy("base", fullEnv).plan!,
      chainId: 8453,
      usdc: await s.uni.weth.getAddress(), // 18 decimals
      router: await s.uni.router.getAddress(),
      weth: await s.usdc.getAddress(), // not the router's WETH
    };
    const problems = checkChainFacts(plan, await readChainFacts(ethers.provider, plan));
    expect(problems).to.deep.equal([
      `the router's WETH9() is ${await s.uni.weth.getAddress()}, not the WETH address ${plan.weth}`,
      `the USDC address ${plan.usdc} has 18 decimals, not 6`,
    ]);
    const noRouter = { ...plan, router: A };
    expect(checkChainFacts(noRouter, await readChainFacts(ethers.provider, noRouter))).to.include(`no contract code at the router address ${A}`);
  });

  it("deploy() on the in-process network deploys everything and writes a complete deployments file", async () => {
    const [signer] = await ethers.getSigners();
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "deploy-"));
    const rpc = Object.assign(ethers.provider, { send: (m: string, p: unknown[]) => network.provider.send(m, p) });
    const lines: string[] = [];
    const record = await deploy({ network: "hardhat", signer, rpc, env: {}, outDir, log: (l) => lines.push(l) });
    const written = JSON.parse(fs.readFileSync(path.join(outDir, "hardhat.json"), "utf8"));
    expect(written).to.deep.equal(JSON.parse(JSON.stringify(record)));
    expect(written.chainId).to.equal(8453);
    expect(written.contracts.WETH).to.equal("0x4200000000000000000000000000000000000006");
    expect(await ethers.provider.getCode(written.contracts.AgentCompute)).to.not.equal("0x");
    const compute = await ethers.getContractAt("AgentCompute", written.contracts.AgentCompute);
    expect(await compute.bridge()).to.equal(written.contracts.AgentComputeBridge);
    expect(await compute.hasRole(await compute.KEEPER_ROLE(), signer.address)).to.equal(true);
    expect(written.constructorArgs.AgentComputeBridge).to.deep.equal([written.contracts.SwapRouter02, written.contracts.WETH, written.contracts.USDC, written.contracts.AgentCompute, 500, signer.address]);
    expect(written.startBlock).to.be.greaterThan(0);
    expect(written.commit === null || /^[0-9a-f]{40}$/.test(written.commit)).to.equal(true);
    expect(lines.join("\n")).to.contain("AgentCompute");
  });

  it("deploy() to a live network with missing settings throws DeployRefused before touching the chain", async () => {
    const [signer] = await ethers.getSigners();
    const rpc = Object.assign(ethers.provider, { send: (m: string, p: unknown[]) => network.provider.send(m, p) });
    const before = await ethers.provider.getBlockNumber();
    let error: unknown;
    try {
      await deploy({ network: "base", signer, rpc, env: {}, log: () => undefined });
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(DeployRefused);
    expect((error as DeployRefused).problems).to.include("KEEPER_ADDRESS is not set");
    expect(await ethers.provider.getBlockNumber()).to.equal(before);
  });

  it("deploy() to Base refuses when the RPC actually serves another chain (here: 8453 locally, planned as baseSepolia)", async () => {
    const [signer] = await ethers.getSigners();
    const rpc = Object.assign(ethers.provider, { send: (m: string, p: unknown[]) => network.provider.send(m, p) });
    let error: unknown;
    try {
      await deploy({ network: "baseSepolia", signer, rpc, env: { ...fullEnv, BASE_SEPOLIA_RPC_URL: "http://127.0.0.1:1" }, log: () => undefined });
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(DeployRefused);
    expect((error as DeployRefused).problems).to.include("the RPC serves chain 8453, but baseSepolia is chain 84532");
  });
});
