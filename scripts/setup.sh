#!/usr/bin/env bash
# Installs everything this project needs on a fresh Debian machine with Node 20: npm packages from
# the lockfile. Nothing is downloaded from outside the npm registry and Debian's apt: Solidity
# compiles with the pinned npm `solc`, Uniswap comes from its npm artifacts.
set -euo pipefail
cd "$(dirname "$0")/.."

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" != "20" ]; then
  echo "setup: Node 20 is required (Hardhat 2.29 here; found $(node --version))" >&2
  exit 1
fi

npm ci --no-audit --no-fund
npx hardhat compile --quiet
