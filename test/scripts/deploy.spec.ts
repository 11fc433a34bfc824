/**
 * scripts/deploy.ts and the rules in scripts/lib/deployPlan.ts: every refusal with its exact code and
 * text, the happy paths, and real deployments on the in-process chain (chain id 8453, like Base).
 */
import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { artifacts, ethers, network } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { Signer, Wallet } from "ethers";
import {
  BASE_WETH,
  ChainFacts,
  checkChainFacts,
  constructorArgsModule,
  deployerFromEnv,
  DeployRefused,
  Env,
  NETWORKS,
  planDeploy,
  Problem,
  verifyCommands,
} from "../../scripts/lib/deployPlan";
import { deploy, DeploymentRecord, describeError, JsonRpc, readChainFacts } from "../../scripts/deploy";
import { CONFIG, HOUR, SPHERON, systemFixture } from "../shared/fixtures";

const KEY = "0x" + "11".repeat(32);
const KEY_ADDRESS = new Wallet(KEY).address;
const ADMIN = "0x1111111111111111111111111111111111111111";
const TREASURY = "0x2222222222222222222222222222222222222222";
const KEEPER = "0x3333333333333333333333333333333333333333";
const DEPLOYER = "0x4444444444444444444444444444444444444444";
const SECRET_URL = "https://base-mainnet.example/v2/SECRET-API-KEY";
const BASE_ENV: Env = {
  BASE_RPC_URL: SECRET_URL,
  DEPLOYER_PRIVATE_KEY: KEY,
  ADMIN_ADDRESS: ADMIN,
  TREASURY_ADDRESS: TREASURY,
  KEEPER_ADDRESS: KEEPER,
};
const BASE = NETWORKS.base.defaults!;
const ROOT = path.join(__dirname, "..", "..");

const hardhatRpc: JsonRpc = { send: (m, p) => network.provider.send(m, p) };

/** The single problem a change to the complete Base environment causes (and that there is no plan). */
function onlyProblem(network: string, env: Env): Problem {
  const { plan, problems } = planDeploy(network, env, DEPLOYER);
  expect(plan).to.equal(undefined);
  expect(problems).to.have.length(1, JSON.stringify(problems));
  return problems[0];
}

async function refusal(p: Promise<unknown>): Promise<DeployRefused> {
  try {
    await p;
  } catch (err) {
    if (err instanceof DeployRefused) return err;
    throw err;
  }
  throw new Error("expected DeployRefused, but the deployment went through");
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "deploy-spec-"));
}

describe("scripts/lib/deployPlan: what the environment must say", () => {
  describe("live networks", () => {
    it("with every setting, plans Base with design.md's addresses and the given roles", () => {
      const { plan, problems } = planDeploy("base", BASE_ENV, DEPLOYER);
      expect(problems).to.deep.equal([]);
      expect(plan).to.deep.equal({
        network: "base",
        chainId: 8453,
        live: true,
        stack: {
          usdc: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
          router: "0x2626664c2603336E57B271c5C0b26F421741e481",
          weth: "0x4200000000000000000000000000000000000006",
          quoter: "0x3d4e44Eb1374240CE5F1B871ab261CD16335B76a",
        },
        roles: { admin: ADMIN, treasury: TREASURY, keeper: KEEPER },
        poolFee: 500,
      });
    });

    it("plans Base Sepolia with its own addresses, chain id and RPC variable", () => {
      const env = { ...BASE_ENV, BASE_RPC_URL: undefined, BASE_SEPOLIA_RPC_URL: "http://127.0.0.1:8545" };
      const { plan, problems } = planDeploy("baseSepolia", env, DEPLOYER);
      expect(problems).to.deep.equal([]);
      expect(plan!.chainId).to.equal(84532);
      expect(plan!.stack).to.deep.equal({
        usdc: "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        router: "0x94cC0AaC535CCDB3C01d6787D6413C739ae12bc4",
        weth: "0x4200000000000000000000000000000000000006",
        quoter: "0xC5290058841028F1614F3A6F0F5816cAd0df5E27",
      });
    });

    it("takes overrides for every stack address and the pool fee, checksummed", () => {
      const env = {
        ...BASE_ENV,
        USDC_ADDRESS: ADMIN,
        SWAP_ROUTER_ADDRESS: TREASURY,
        WETH_ADDRESS: KEEPER,
        QUOTER_ADDRESS: DEPLOYER.toLowerCase(),
        POOL_FEE: "3000",
      };
      const { plan } = planDeploy("base", env, DEPLOYER);
      expect(plan!.stack).to.deep.equal({ usdc: ADMIN, router: TREASURY, weth: KEEPER, quoter: DEPLOYER });
      expect(plan!.poolFee).to.equal(3000);
    });

    it("treats an empty variable as unset (the default applies) and accepts a key without 0x, as Hardhat does", () => {
      const { plan, problems } = planDeploy("base", { ...BASE_ENV, USDC_ADDRESS: "", DEPLOYER_PRIVATE_KEY: KEY.slice(2) }, DEPLOYER);
      expect(problems).to.deep.equal([]);
      expect(plan!.stack!.usdc).to.equal(BASE.usdc);
      expect(deployerFromEnv({ DEPLOYER_PRIVATE_KEY: KEY.slice(2) })).to.equal(KEY_ADDRESS);
    });

    it("names every problem at once, in a fixed order", () => {
      const { plan, problems } = planDeploy("base", {}, DEPLOYER);
      expect(plan).to.equal(undefined);
      expect(problems.map((p) => p.code)).to.deep.equal([
        "RPC_URL_MISSING",
        "KEY_MISSING",
        "ADDRESS_UNSET",
        "ADDRESS_UNSET",
        "ADDRESS_UNSET",
      ]);
    });

    const refusals: [string, string, Env, Problem][] = [
      [
        "the RPC URL is missing",
        "base",
        { BASE_RPC_URL: undefined },
        { code: "RPC_URL_MISSING", message: "BASE_RPC_URL is not set: the JSON-RPC URL of base" },
      ],
      [
        "the RPC URL is empty",
        "base",
        { BASE_RPC_URL: "  " },
        { code: "RPC_URL_MISSING", message: "BASE_RPC_URL is not set: the JSON-RPC URL of base" },
      ],
      [
        "Base Sepolia's RPC URL is missing",
        "baseSepolia",
        {},
        { code: "RPC_URL_MISSING", message: "BASE_SEPOLIA_RPC_URL is not set: the JSON-RPC URL of baseSepolia" },
      ],
      [
        "the RPC URL is not a URL",
        "base",
        { BASE_RPC_URL: "base-mainnet.example/SECRET" },
        { code: "RPC_URL_MALFORMED", message: "BASE_RPC_URL is not an http(s) URL" },
      ],
      [
        "the RPC URL is a websocket",
        "base",
        { BASE_RPC_URL: "wss://base.example/SECRET" },
        { code: "RPC_URL_MALFORMED", message: "BASE_RPC_URL is not an http(s) URL" },
      ],
      [
        "the key is missing",
        "base",
        { DEPLOYER_PRIVATE_KEY: undefined },
        { code: "KEY_MISSING", message: "DEPLOYER_PRIVATE_KEY is not set: the key of the account that deploys and pays the gas" },
      ],
      [
        "the key is short",
        "base",
        { DEPLOYER_PRIVATE_KEY: "0x1234" },
        { code: "KEY_MALFORMED", message: "DEPLOYER_PRIVATE_KEY is not a private key (64 hex digits, 0x optional)" },
      ],
      [
        "the key is not hex",
        "base",
        { DEPLOYER_PRIVATE_KEY: "0x" + "zz".repeat(32) },
        { code: "KEY_MALFORMED", message: "DEPLOYER_PRIVATE_KEY is not a private key (64 hex digits, 0x optional)" },
      ],
      [
        "the key is zero",
        "base",
        { DEPLOYER_PRIVATE_KEY: "0x" + "00".repeat(32) },
        { code: "KEY_MALFORMED", message: "DEPLOYER_PRIVATE_KEY is not a private key (64 hex digits, 0x optional)" },
      ],
      [
        "the key is past the curve order",
        "base",
        { DEPLOYER_PRIVATE_KEY: "0x" + "ff".repeat(32) },
        { code: "KEY_MALFORMED", message: "DEPLOYER_PRIVATE_KEY is not a private key (64 hex digits, 0x optional)" },
      ],
      [
        "the keeper is unset",
        "base",
        { KEEPER_ADDRESS: undefined },
        {
          code: "ADDRESS_UNSET",
          message: "KEEPER_ADDRESS is not set: on base it must be named explicitly (it provisions sessions and claims escrow)",
        },
      ],
      [
        "the treasury is unset",
        "base",
        { TREASURY_ADDRESS: "" },
        {
          code: "ADDRESS_UNSET",
          message: "TREASURY_ADDRESS is not set: on base it must be named explicitly (it receives the claimed escrow)",
        },
      ],
      [
        "the admin is unset",
        "base",
        { ADMIN_ADDRESS: undefined },
        {
          code: "ADDRESS_UNSET",
          message: "ADMIN_ADDRESS is not set: on base it must be named explicitly (it controls prices, treasury, bridge, pause and roles)",
        },
      ],
      [
        "the keeper is unset on Base Sepolia",
        "baseSepolia",
        { BASE_SEPOLIA_RPC_URL: "http://127.0.0.1:8545", KEEPER_ADDRESS: undefined },
        {
          code: "ADDRESS_UNSET",
          message: "KEEPER_ADDRESS is not set: on baseSepolia it must be named explicitly (it provisions sessions and claims escrow)",
        },
      ],
      [
        "the USDC address is malformed",
        "base",
        { USDC_ADDRESS: "0x1234" },
        { code: "ADDRESS_MALFORMED", message: "USDC_ADDRESS is not a valid address: 0x1234" },
      ],
      [
        "the router address has a wrong checksum",
        "base",
        { SWAP_ROUTER_ADDRESS: "0x2626664c2603336E57B271c5C0b26F421741e482" },
        { code: "ADDRESS_MALFORMED", message: "SWAP_ROUTER_ADDRESS is not a valid address: 0x2626664c2603336E57B271c5C0b26F421741e482" },
      ],
      [
        "the WETH address is zero",
        "base",
        { WETH_ADDRESS: ethers.ZeroAddress },
        { code: "ADDRESS_MALFORMED", message: "WETH_ADDRESS is the zero address" },
      ],
      [
        "the keeper address is malformed",
        "base",
        { KEEPER_ADDRESS: "keeper.eth" },
        { code: "ADDRESS_MALFORMED", message: "KEEPER_ADDRESS is not a valid address: keeper.eth" },
      ],
      [
        "the pool fee is zero",
        "base",
        { POOL_FEE: "0" },
        { code: "POOL_FEE_INVALID", message: "POOL_FEE must be a whole number from 1 to 999999 (hundredths of a basis point), got 0" },
      ],
      [
        "the pool fee is 100%",
        "base",
        { POOL_FEE: "1000000" },
        {
          code: "POOL_FEE_INVALID",
          message: "POOL_FEE must be a whole number from 1 to 999999 (hundredths of a basis point), got 1000000",
        },
      ],
      [
        "the pool fee is not a whole number",
        "base",
        { POOL_FEE: "5e2" },
        { code: "POOL_FEE_INVALID", message: "POOL_FEE must be a whole number from 1 to 999999 (hundredths of a basis point), got 5e2" },
      ],
    ];
    for (const [when, net, change, expected] of refusals) {
      it(`refuses when ${when}`, () => {
        expect(onlyProblem(net, { ...BASE_ENV, ...change })).to.deep.equal(expected);
      });
    }

    it("never echoes the RPC URL or the key, which carry secrets", () => {
      const { problems } = planDeploy("base", { ...BASE_ENV, BASE_RPC_URL: "SECRET-URL", DEPLOYER_PRIVATE_KEY: "SECRET-KEY" }, DEPLOYER);
      expect(problems.map((p) => p.code)).to.deep.equal(["RPC_URL_MALFORMED", "KEY_MALFORMED"]);
      expect(JSON.stringify(problems)).to.not.contain("SECRET");
    });

    it("refuses a network it does not know", () => {
      expect(onlyProblem("mainnet", BASE_ENV)).to.deep.equal({
        code: "UNKNOWN_NETWORK",
        message: "mainnet is not a network this script deploys to (hardhat, localhost, baseSepolia, base)",
      });
    });
  });

  describe("local networks", () => {
    it("with nothing set, deploys its own stack and gives every role to the deployer", () => {
      for (const net of ["hardhat", "localhost"]) {
        const { plan, problems } = planDeploy(net, {}, DEPLOYER.toLowerCase());
        expect(problems).to.deep.equal([]);
        expect(plan).to.deep.equal({
          network: net,
          chainId: 8453,
          live: false,
          stack: undefined,
          roles: { admin: DEPLOYER, treasury: DEPLOYER, keeper: DEPLOYER },
          poolFee: 500,
        });
      }
    });

    it("needs no RPC URL or key: Hardhat's own accounts deploy", () => {
      expect(planDeploy("localhost", { KEEPER_ADDRESS: KEEPER }, DEPLOYER).plan!.roles).to.deep.equal({
        admin: DEPLOYER,
        treasury: DEPLOYER,
        keeper: KEEPER,
      });
    });

    it("builds on contracts already there when USDC and router are given (WETH defaults to Base's address)", () => {
      const { plan } = planDeploy("localhost", { USDC_ADDRESS: ADMIN, SWAP_ROUTER_ADDRESS: TREASURY }, DEPLOYER);
      expect(plan!.stack).to.deep.equal({ usdc: ADMIN, router: TREASURY, weth: BASE_WETH });
    });

    it("refuses half a stack", () => {
      expect(onlyProblem("localhost", { USDC_ADDRESS: ADMIN })).to.deep.equal({
        code: "ADDRESS_UNSET",
        message:
          "SWAP_ROUTER_ADDRESS is not set (to build on contracts already on localhost; unset every *_ADDRESS of the stack to deploy a fresh one)",
      });
    });

    it("refuses a pool fee Uniswap has no tier for, since it creates the pool", () => {
      expect(onlyProblem("hardhat", { POOL_FEE: "400" })).to.deep.equal({
        code: "POOL_FEE_INVALID",
        message: "POOL_FEE must be one of 100, 500, 3000, 10000, got 400",
      });
      expect(planDeploy("hardhat", { POOL_FEE: "3000" }, DEPLOYER).plan!.poolFee).to.equal(3000);
    });
  });
});

describe("scripts/lib/deployPlan: what the chain must say", () => {
  const plan = planDeploy("base", BASE_ENV, DEPLOYER).plan!;
  const stack = plan.stack!;
  const good: ChainFacts = {
    chainId: 8453,
    hasCode: { usdc: true, router: true, weth: true },
    routerWeth: BASE_WETH.toLowerCase(),
    usdcDecimals: 6,
    deployer: KEY_ADDRESS,
    deployerBalance: 1n,
    pool: { factory: ADMIN, address: TREASURY, liquidity: 10n ** 18n },
  };
  const check = (facts: Partial<ChainFacts>) => checkChainFacts(plan, stack, { ...good, ...facts });

  it("accepts facts that agree", () => {
    expect(check({})).to.deep.equal({ problems: [], warnings: [] });
  });

  it("refuses an RPC that serves another chain, and reports nothing else from it", () => {
    expect(check({ chainId: 84532, usdcDecimals: 18, deployerBalance: 0n })).to.deep.equal({
      problems: [{ code: "CHAIN_ID_MISMATCH", message: "the RPC serves chain 84532, but base is chain 8453" }],
      warnings: [],
    });
  });

  it("refuses each address without code, and asks nothing more of it", () => {
    const none = check({ hasCode: { usdc: false, router: false, weth: false }, routerWeth: undefined, usdcDecimals: undefined });
    expect(none.problems).to.deep.equal([
      { code: "NO_CODE", message: `no contract at the USDC address ${BASE.usdc} on base` },
      { code: "NO_CODE", message: `no contract at the SwapRouter02 address ${BASE.router} on base` },
      { code: "NO_CODE", message: `no contract at the WETH address ${BASE_WETH} on base` },
    ]);
  });

  it("refuses a router whose WETH9() is another token", () => {
    expect(check({ routerWeth: ADMIN }).problems).to.deep.equal([
      { code: "ROUTER_WETH_MISMATCH", message: `the router's WETH9() is ${ADMIN}, but the WETH address is ${BASE_WETH}` },
    ]);
  });

  it("refuses a router that does not answer WETH9()", () => {
    expect(check({ routerWeth: undefined }).problems).to.deep.equal([
      { code: "ROUTER_NOT_SWAPROUTER02", message: `${BASE.router} does not answer WETH9(): not a Uniswap SwapRouter02` },
    ]);
  });

  it("refuses a USDC whose decimals() is not 6", () => {
    expect(check({ usdcDecimals: 18 }).problems).to.deep.equal([
      { code: "USDC_DECIMALS", message: `the USDC at ${BASE.usdc} has 18 decimals, not 6` },
    ]);
  });

  it("refuses a USDC that does not answer decimals()", () => {
    expect(check({ usdcDecimals: undefined }).problems).to.deep.equal([
      { code: "USDC_NOT_ERC20", message: `${BASE.usdc} does not answer decimals(): not an ERC-20` },
    ]);
  });

  it("refuses a deployer without ETH for gas", () => {
    expect(check({ deployerBalance: 0n }).problems).to.deep.equal([
      { code: "DEPLOYER_NO_ETH", message: `the deployer ${KEY_ADDRESS} has no ETH on base to pay for gas` },
    ]);
  });

  it("only warns when the pool is missing or empty: USDC payments work without it", () => {
    expect(check({ pool: { factory: ADMIN, address: ethers.ZeroAddress } })).to.deep.equal({
      problems: [],
      warnings: [
        {
          code: "POOL_MISSING",
          message: `no WETH/USDC pool with fee 500 on the router's factory ${ADMIN}: ETH payments will revert until one exists (check POOL_FEE)`,
        },
      ],
    });
    expect(check({ pool: { factory: ADMIN, address: TREASURY, liquidity: 0n } }).warnings).to.deep.equal([
      { code: "POOL_EMPTY", message: `the WETH/USDC pool ${TREASURY} (fee 500) has no liquidity: ETH payments will revert` },
    ]);
    expect(check({ pool: undefined }).warnings).to.deep.equal([]);
  });

  it("DeployRefused lists every problem and exposes the codes", () => {
    const err = new DeployRefused([
      { code: "KEY_MISSING", message: "first" },
      { code: "NO_CODE", message: "second" },
    ]);
    expect(err.message).to.equal("refusing to deploy:\n  - first\n  - second");
    expect(err.codes).to.deep.equal(["KEY_MISSING", "NO_CODE"]);
  });

  it("builds the hardhat-verify commands, AgentCompute's array through a module file", () => {
    const bridgeArgs = [BASE.router, BASE_WETH, BASE.usdc, ADMIN, 500, TREASURY];
    expect(
      verifyCommands("base", { AgentCompute: ADMIN, AgentComputeBridge: KEEPER }, bridgeArgs, "deployments/base.AgentCompute.args.js"),
    ).to.deep.equal([
      `npx hardhat verify --network base --constructor-args deployments/base.AgentCompute.args.js ${ADMIN}`,
      `npx hardhat verify --network base ${KEEPER} ${BASE.router} ${BASE_WETH} ${BASE.usdc} ${ADMIN} 500 ${TREASURY}`,
    ]);
    expect(constructorArgsModule([ADMIN, ["1", "2"]])).to.equal(
      `// Constructor arguments for \`npx hardhat verify --constructor-args\`; written by scripts/deploy.ts.\nmodule.exports = [\n  "${ADMIN}",\n  [\n    "1",\n    "2"\n  ]\n];\n`,
    );
  });

  it("describes RPC errors without the URL, which may carry an API key", () => {
    expect(describeError(new Error(`request to ${SECRET_URL} failed\nmore`))).to.equal("request to <url> failed");
    expect(describeError({ shortMessage: "timeout", message: SECRET_URL })).to.equal("timeout");
  });
});

describe("scripts/deploy on the in-process chain", () => {
  /** A Base-like environment pointing at the fixture's real Uniswap stack and USDC. */
  async function baseEnvFor(s: Awaited<ReturnType<typeof systemFixture>>): Promise<Env> {
    return {
      ...BASE_ENV,
      USDC_ADDRESS: await s.usdc.getAddress(),
      SWAP_ROUTER_ADDRESS: await s.uni.router.getAddress(),
      QUOTER_ADDRESS: await s.uni.quoter.getAddress(),
    };
  }

  it("readChainFacts reads the real stack: chain id, code, WETH9(), decimals(), balance, pool and liquidity", async () => {
    const s = await loadFixture(systemFixture);
    const plan = planDeploy("base", await baseEnvFor(s), DEPLOYER).plan!;
    const facts = await readChainFacts(hardhatRpc, plan, plan.stack!, s.deployer.address);
    expect(facts).to.deep.include({
      chainId: 8453,
      hasCode: { usdc: true, router: true, weth: true },
      routerWeth: BASE_WETH,
      usdcDecimals: 6,
      deployer: s.deployer.address,
    });
    expect(facts.deployerBalance).to.equal(await ethers.provider.getBalance(s.deployer.address));
    expect(facts.pool!.factory).to.equal(await s.uni.factory.getAddress());
    expect(facts.pool!.address).to.equal(await s.pool.getAddress());
    expect(facts.pool!.liquidity).to.equal(await s.pool.liquidity());
    expect(checkChainFacts(plan, plan.stack!, facts)).to.deep.equal({ problems: [], warnings: [] });
  });

  it("readChainFacts catches a swapped USDC/WETH pair, an account that is not a router and a fee without a pool", async () => {
    const s = await loadFixture(systemFixture);
    const env = await baseEnvFor(s);
    const check = async (change: Env) => {
      const plan = planDeploy("base", { ...env, ...change }, DEPLOYER).plan!;
      return checkChainFacts(plan, plan.stack!, await readChainFacts(hardhatRpc, plan, plan.stack!, s.deployer.address));
    };
    const usdc = await s.usdc.getAddress();
    expect((await check({ USDC_ADDRESS: BASE_WETH, WETH_ADDRESS: usdc })).problems).to.deep.equal([
      { code: "ROUTER_WETH_MISMATCH", message: `the router's WETH9() is ${BASE_WETH}, but the WETH address is ${usdc}` },
      { code: "USDC_DECIMALS", message: `the USDC at ${BASE_WETH} has 18 decimals, not 6` },
    ]);
    expect((await check({ SWAP_ROUTER_ADDRESS: s.agent.address })).problems).to.deep.equal([
      { code: "NO_CODE", message: `no contract at the SwapRouter02 address ${s.agent.address} on base` },
    ]);
    // A contract, but not a router: AgentCompute has no WETH9().
    const compute = await s.compute.getAddress();
    expect((await check({ SWAP_ROUTER_ADDRESS: compute })).problems).to.deep.equal([
      { code: "ROUTER_NOT_SWAPROUTER02", message: `${compute} does not answer WETH9(): not a Uniswap SwapRouter02` },
    ]);
    expect((await check({ POOL_FEE: "3000" })).warnings.map((w) => w.code)).to.deep.equal(["POOL_MISSING"]);
  });

  it("deploy() on hardhat deploys Uniswap, USDC, a pool and the system, writes a complete record, and an ETH payment works", async () => {
    const [signer] = await ethers.getSigners();
    const outDir = tempDir();
    const lines: string[] = [];
    const record = await deploy({ network: "hardhat", signer, rpc: hardhatRpc, env: {}, outDir, log: (l) => lines.push(l) });
    expect(fs.readdirSync(outDir)).to.deep.equal(["hardhat.json"]);
    const written = JSON.parse(fs.readFileSync(path.join(outDir, "hardhat.json"), "utf8")) as DeploymentRecord;
    expect(written).to.deep.equal(JSON.parse(JSON.stringify(record)));
    expect(Object.keys(written)).to.deep.equal([
      "network",
      "chainId",
      "startBlock",
      "contracts",
      "poolFee",
      "stackDeployedHere",
      "constructorArgs",
      "roles",
      "deployer",
      "commit",
      "commitDirty",
      "deployedAt",
    ]);
    expect(written).to.deep.include({ network: "hardhat", chainId: 8453, poolFee: 500, stackDeployedHere: true, deployer: signer.address });
    expect(written.roles).to.deep.equal({ admin: signer.address, treasury: signer.address, keeper: signer.address });
    expect(Object.keys(written.contracts)).to.deep.equal([
      "AgentCompute",
      "AgentComputeBridge",
      "USDC",
      "WETH",
      "SwapRouter02",
      "QuoterV2",
    ]);
    expect(written.contracts.WETH).to.equal(BASE_WETH);
    for (const a of Object.values(written.contracts)) expect(await ethers.provider.getCode(a)).to.not.equal("0x");
    expect(written.commit).to.match(/^[0-9a-f]{40}$/);
    expect(typeof written.commitDirty).to.equal("boolean");
    expect(Date.now() - Date.parse(written.deployedAt)).to.be.within(0, 60_000);

    const compute = await ethers.getContractAt("AgentCompute", written.contracts.AgentCompute);
    const bridge = await ethers.getContractAt("AgentComputeBridge", written.contracts.AgentComputeBridge);
    expect((await creation(written, written.contracts.AgentCompute)).blockNumber).to.equal(written.startBlock);
    expect(await compute.bridge()).to.equal(written.contracts.AgentComputeBridge);
    expect(await compute.hasRole(await compute.KEEPER_ROLE(), signer.address)).to.equal(true);
    expect(await compute.treasury()).to.equal(signer.address);
    expect(written.constructorArgs).to.deep.equal({
      AgentCompute: [written.contracts.USDC, signer.address, signer.address, ["400000", "300000", "1200000"]],
      AgentComputeBridge: [
        written.contracts.SwapRouter02,
        BASE_WETH,
        written.contracts.USDC,
        written.contracts.AgentCompute,
        500,
        signer.address,
      ],
    });
    expect(await bridge.poolFee()).to.equal(500n);

    // The stack is real: 0.01 ETH buys the 0.4 USDC hour through the new pool, the rest comes back.
    const [, , , , , , , agent] = await ethers.getSigners();
    await (await compute.connect(agent).startSession(HOUR, SPHERON, CONFIG, { value: ethers.parseEther("0.01") })).wait();
    const usdc = await ethers.getContractAt("LocalUSDC", written.contracts.USDC);
    expect(await usdc.balanceOf(written.contracts.AgentCompute)).to.equal(400_000n);

    expect(lines).to.deep.equal([
      "hardhat: deployed Uniswap V3, a local USDC (LocalUSDC) and a WETH/USDC pool (fee 500, $3,000)",
      `AgentCompute        ${written.contracts.AgentCompute}`,
      `AgentComputeBridge  ${written.contracts.AgentComputeBridge}`,
      `  on chain 8453 from block ${written.startBlock}; USDC ${written.contracts.USDC}, SwapRouter02 ${written.contracts.SwapRouter02}, pool fee 500`,
      `  deployer ${signer.address}; admin the deployer; treasury the deployer; keeper the deployer`,
      `written to ${path.join(outDir, "hardhat.json")}`, // outside the working directory: absolute
    ]);
  });

  it("deploy() on a local chain builds on the stack named in the environment instead of deploying another", async () => {
    const s = await loadFixture(systemFixture);
    const outDir = tempDir();
    const before = await ethers.provider.getBlockNumber();
    const env = {
      USDC_ADDRESS: await s.usdc.getAddress(),
      SWAP_ROUTER_ADDRESS: await s.uni.router.getAddress(),
      KEEPER_ADDRESS: s.keeper.address,
      POOL_FEE: "500",
    };
    const record = await deploy({ network: "localhost", signer: s.deployer, rpc: hardhatRpc, env, outDir, log: () => undefined });
    expect(record.stackDeployedHere).to.equal(false);
    expect(record.contracts).to.deep.equal({
      AgentCompute: record.contracts.AgentCompute,
      AgentComputeBridge: record.contracts.AgentComputeBridge,
      USDC: env.USDC_ADDRESS,
      WETH: BASE_WETH,
      SwapRouter02: env.SWAP_ROUTER_ADDRESS,
    });
    expect(record.roles).to.deep.equal({ admin: s.deployer.address, treasury: s.deployer.address, keeper: s.keeper.address });
    // AgentCompute, bridge, setBridge, grantRole(keeper): four transactions, no Uniswap.
    expect((await ethers.provider.getBlockNumber()) - before).to.equal(4);
  });

  it("deploy() as Base (chain 8453 here too) checks the chain, hands admin over, writes the verify arguments and prints the commands", async () => {
    const s = await loadFixture(systemFixture);
    const outDir = tempDir();
    const lines: string[] = [];
    const env = { ...(await baseEnvFor(s)), ETHERSCAN_API_KEY: "set" };
    const record = await deploy({ network: "base", signer: s.deployer, rpc: hardhatRpc, env, outDir, log: (l) => lines.push(l) });
    expect(fs.readdirSync(outDir).sort()).to.deep.equal(["base.AgentCompute.args.js", "base.json"]);
    expect(record).to.deep.include({ network: "base", chainId: 8453, stackDeployedHere: false, deployer: s.deployer.address });
    expect(record.roles).to.deep.equal({ admin: ADMIN, treasury: TREASURY, keeper: KEEPER });
    expect(record.contracts.QuoterV2).to.equal(await s.uni.quoter.getAddress());

    const compute = await ethers.getContractAt("AgentCompute", record.contracts.AgentCompute);
    const adminRole = await compute.DEFAULT_ADMIN_ROLE();
    expect(await compute.hasRole(adminRole, ADMIN)).to.equal(true);
    expect(await compute.hasRole(adminRole, s.deployer.address)).to.equal(false);
    expect(await compute.hasRole(await compute.KEEPER_ROLE(), KEEPER)).to.equal(true);
    expect(await compute.treasury()).to.equal(TREASURY);

    const argsFile = path.join(outDir, "base.AgentCompute.args.js");
    // Loaded as hardhat-verify loads --constructor-args: a module whose default export is the list.
    const { default: argsFromFile } = (await import(argsFile)) as { default: unknown[] };
    expect(argsFromFile).to.deep.equal(record.constructorArgs.AgentCompute);
    const c = record.contracts;
    expect(lines.slice(-3)).to.deep.equal([
      "verify on the explorer:",
      `  npx hardhat verify --network base --constructor-args ${argsFile} ${c.AgentCompute}`,
      `  npx hardhat verify --network base ${c.AgentComputeBridge} ${c.SwapRouter02} ${BASE_WETH} ${c.USDC} ${c.AgentCompute} 500 ${ADMIN}`,
    ]);

    // What hardhat-verify will submit is exactly what was deployed: its own encoder, on the module file
    // and on the command line's words, gives the tail of each creation transaction.
    const { encodeArguments } = await import("@nomicfoundation/hardhat-verify/internal/utilities");
    const encoded = async (name: string, args: unknown[]) => {
      const artifact = await artifacts.readArtifact(name);
      return "0x" + (await encodeArguments(artifact.abi, artifact.sourceName, name, args)).replace(/^0x/, "");
    };
    const computeArgs = await encoded("AgentCompute", argsFromFile);
    expect((await creation(record, c.AgentCompute)).data.endsWith(computeArgs.slice(2))).to.equal(true);
    const bridgeWords = lines[lines.length - 1].trim().split(" ").slice(6);
    const bridgeArgs = await encoded("AgentComputeBridge", bridgeWords);
    expect((await creation(record, c.AgentComputeBridge)).data.endsWith(bridgeArgs.slice(2))).to.equal(true);
  });

  it("deploy() reminds of ETHERSCAN_API_KEY and passes warnings on", async () => {
    const s = await loadFixture(systemFixture);
    const lines: string[] = [];
    const env = { ...(await baseEnvFor(s)), POOL_FEE: "3000" };
    await deploy({ network: "base", signer: s.deployer, rpc: hardhatRpc, env, outDir: tempDir(), log: (l) => lines.push(l) });
    expect(lines[0]).to.equal(
      `warning: no WETH/USDC pool with fee 3000 on the router's factory ${await s.uni.factory.getAddress()}: ETH payments will revert until one exists (check POOL_FEE)`,
    );
    expect(lines).to.include("verify on the explorer (set ETHERSCAN_API_KEY first):");
  });

  describe("refusals: nothing is sent and nothing is written", () => {
    async function expectRefused(o: { network: string; env: Env; signer?: Signer; reader?: JsonRpc }): Promise<DeployRefused> {
      const s = await loadFixture(systemFixture);
      const outDir = tempDir();
      const before = await ethers.provider.getBlockNumber();
      const err = await refusal(
        deploy({
          network: o.network,
          signer: o.signer ?? s.deployer,
          rpc: hardhatRpc,
          reader: o.reader,
          env: o.env,
          outDir,
          log: () => undefined,
        }),
      );
      expect(await ethers.provider.getBlockNumber()).to.equal(before);
      expect(fs.readdirSync(outDir)).to.deep.equal([]);
      return err;
    }

    it("settings missing on Base", async () => {
      const err = await expectRefused({ network: "base", env: {} });
      expect(err.codes).to.deep.equal(["RPC_URL_MISSING", "KEY_MISSING", "ADDRESS_UNSET", "ADDRESS_UNSET", "ADDRESS_UNSET"]);
      expect(err.message).to.equal(
        [
          "refusing to deploy:",
          "  - BASE_RPC_URL is not set: the JSON-RPC URL of base",
          "  - DEPLOYER_PRIVATE_KEY is not set: the key of the account that deploys and pays the gas",
          "  - ADMIN_ADDRESS is not set: on base it must be named explicitly (it controls prices, treasury, bridge, pause and roles)",
          "  - TREASURY_ADDRESS is not set: on base it must be named explicitly (it receives the claimed escrow)",
          "  - KEEPER_ADDRESS is not set: on base it must be named explicitly (it provisions sessions and claims escrow)",
        ].join("\n"),
      );
    });

    it("the RPC serves another chain than the network's (8453 here, planned as Base Sepolia)", async () => {
      const s = await loadFixture(systemFixture);
      const env = { ...(await baseEnvFor(s)), BASE_SEPOLIA_RPC_URL: "http://127.0.0.1:8545" };
      const err = await expectRefused({ network: "baseSepolia", env });
      expect(err.problems).to.deep.equal([
        { code: "CHAIN_ID_MISMATCH", message: "the RPC serves chain 8453, but baseSepolia is chain 84532" },
      ]);
    });

    it("design.md's Base addresses have no code on this chain", async () => {
      const err = await expectRefused({ network: "base", env: BASE_ENV });
      expect(err.codes).to.deep.equal(["NO_CODE", "NO_CODE"]); // WETH9 is at 0x42..06 here as on Base
      expect(err.problems[0].message).to.equal(`no contract at the USDC address ${BASE.usdc} on base`);
    });

    it("the deployer has no ETH", async () => {
      const s = await loadFixture(systemFixture);
      const broke = Wallet.createRandom(ethers.provider);
      const err = await expectRefused({ network: "base", env: await baseEnvFor(s), signer: broke });
      expect(err.problems).to.deep.equal([
        { code: "DEPLOYER_NO_ETH", message: `the deployer ${broke.address} has no ETH on base to pay for gas` },
      ]);
    });

    it("the RPC does not answer (the message does not repeat its URL)", async () => {
      const s = await loadFixture(systemFixture);
      const dead: JsonRpc = {
        send: async () => {
          throw new Error("request to http://127.0.0.1:1/SECRET-API-KEY failed, reason: connect ECONNREFUSED");
        },
      };
      const err = await expectRefused({ network: "base", env: await baseEnvFor(s), reader: dead });
      expect(err.problems).to.deep.equal([
        { code: "RPC_UNREACHABLE", message: "cannot read base through its RPC: request to <url> failed, reason: connect ECONNREFUSED" },
      ]);
    });

    it("a local chain's stack named in the environment is checked like a live one", async () => {
      const s = await loadFixture(systemFixture);
      const err = await expectRefused({
        network: "localhost",
        env: { USDC_ADDRESS: BASE_WETH, SWAP_ROUTER_ADDRESS: await s.uni.router.getAddress() },
      });
      expect(err.problems).to.deep.equal([{ code: "USDC_DECIMALS", message: `the USDC at ${BASE_WETH} has 18 decimals, not 6` }]);
    });
  });
});

describe("scripts/deploy.ts from the command line", () => {
  /** `npx hardhat run scripts/deploy.ts` in a child, with the given environment only (plus PATH/HOME). */
  function runDeploy(networkName: string, env: Env) {
    const base: Env = { PATH: process.env.PATH, HOME: process.env.HOME, HARDHAT_DISABLE_TELEMETRY_PROMPT: "true" };
    const cli = require.resolve("hardhat/internal/cli/cli", { paths: [ROOT] });
    return spawnSync(process.execPath, [cli, "run", "scripts/deploy.ts", "--network", networkName, "--no-compile"], {
      cwd: ROOT,
      env: { ...base, ...env } as NodeJS.ProcessEnv,
      encoding: "utf8",
      timeout: 60_000,
    });
  }

  it("on Base with nothing set: exit 2 and a readable list of what is missing, before Hardhat connects anywhere", () => {
    const r = runDeploy("base", {});
    expect(r.status, r.stderr).to.equal(2);
    expect(r.stderr).to.contain(
      [
        "refusing to deploy:",
        "  - BASE_RPC_URL is not set: the JSON-RPC URL of base",
        "  - DEPLOYER_PRIVATE_KEY is not set: the key of the account that deploys and pays the gas",
        "  - ADMIN_ADDRESS is not set: on base it must be named explicitly (it controls prices, treasury, bridge, pause and roles)",
      ].join("\n"),
    );
    expect(r.stderr).to.not.contain("HardhatError");
  });

  it("on localhost with no node: exit 2 and what to start", () => {
    const r = runDeploy("localhost", { LOCAL_RPC_URL: "http://127.0.0.1:1" });
    expect(r.status, r.stderr).to.equal(2);
    expect(r.stderr).to.contain("refusing to deploy:\n  - localhost does not answer as configured (");
    expect(r.stderr).to.contain("): start `npx hardhat node`, or set LOCAL_RPC_URL");
  });
});

/** The transaction that created `address`, searched from the record's deploy block on. */
async function creation(record: DeploymentRecord, address: string): Promise<{ data: string; blockNumber: number }> {
  const latest = await ethers.provider.getBlockNumber();
  for (let n = record.startBlock; n <= latest; n++) {
    const block = await ethers.provider.getBlock(n, true);
    for (const tx of block!.prefetchedTransactions) {
      const receipt = await ethers.provider.getTransactionReceipt(tx.hash);
      if (receipt?.contractAddress === address) return { data: tx.data, blockNumber: n };
    }
  }
  throw new Error(`no creation of ${address} since block ${record.startBlock}`);
}
