import { subtask } from "hardhat/config";
import { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } from "hardhat/builtin-tasks/task-names";
import type { HardhatUserConfig } from "hardhat/config";
import "@nomicfoundation/hardhat-toolbox";

const SOLC_VERSION = "0.8.28";

// Hardhat downloads compilers from the internet, which this project must never need. The npm package
// `solc` (pinned to SOLC_VERSION exactly in package.json) ships the same compiler as soljson.js.
subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD).setAction(async (args: { solcVersion: string }, _hre, runSuper) => {
  if (args.solcVersion !== SOLC_VERSION) return runSuper();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const solc = require("solc");
  return {
    compilerPath: require.resolve("solc/soljson.js"),
    isSolcJs: true,
    version: SOLC_VERSION,
    longVersion: solc.version(),
  };
});

/** RPC URL and key of a live network, from the environment; deploy.ts explains what is missing. */
function live(urlVar: string, chainId: number) {
  // A malformed key would make Hardhat refuse every command (HH8), tests included; deploy.ts names it instead.
  const key = process.env.DEPLOYER_PRIVATE_KEY?.trim();
  const wellFormed = key !== undefined && /^(0x)?[0-9a-fA-F]{64}$/.test(key);
  return {
    url: process.env[urlVar] ?? "",
    chainId,
    accounts: wellFormed ? [key.startsWith("0x") ? key : `0x${key}`] : [],
  };
}

const config: HardhatUserConfig = {
  solidity: {
    version: SOLC_VERSION,
    settings: {
      optimizer: { enabled: true, runs: 10_000 },
      evmVersion: "cancun",
    },
  },
  networks: {
    // The embedded default is Base's chain id, so the keeper sees the same chain id locally as on Base.
    hardhat: { chainId: 8453, hardfork: "cancun" },
    localhost: { url: process.env.LOCAL_RPC_URL ?? "http://127.0.0.1:8545", chainId: 8453 },
    baseSepolia: live("BASE_SEPOLIA_RPC_URL", 84532),
    base: live("BASE_RPC_URL", 8453),
  },
  etherscan: {
    apiKey: process.env.ETHERSCAN_API_KEY ?? "",
  },
  sourcify: { enabled: false },
  gasReporter: { enabled: process.env.REPORT_GAS === "1" },
  mocha: { timeout: 120_000, reporter: "./test/shared/reporter.js" },
};

export default config;
