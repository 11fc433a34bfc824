#!/usr/bin/env bash
# Installs everything this project needs on a fresh Debian machine with Node 20:
# - Debian packages: bubblewrap (the bubblewrap sandbox provider), docker.io and busybox-static (the docker
#   provider's engine and its registry-free image);
# - npm packages from the lockfile (better-sqlite3 builds from source: no prebuilt download);
# - the contracts compiled with the pinned npm `solc` (no compiler download).
# Nothing is fetched from outside the npm registry and Debian's apt.
set -euo pipefail
cd "$(dirname "$0")/.."

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" != "20" ]; then
  echo "setup: Node 20 is required (Hardhat 2.29 here; found $(node --version))" >&2
  exit 1
fi

apt_packages=(bubblewrap docker.io busybox-static python3 chromium) # python3: the execute API's interpreter (bwrap) and runtime image; chromium: the scraper's browser (playwright-core drives /usr/bin/chromium)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "setup: please install: ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

npm ci --no-audit --no-fund
npx hardhat compile --quiet

# A private Docker engine with the safe flags (scripts/docker-engine.sh; never the default flags,
# which rewrite the host's firewall) and the local images. Needs root; without it the keeper uses
# the bubblewrap sandbox, so a failure here is a warning, not an error.
if [ "$(id -u)" -eq 0 ] && command -v dockerd >/dev/null; then
  if bash scripts/docker-engine.sh start >/dev/null && DOCKER_HOST="unix://$PWD/data/docker-engine/docker.sock" bash scripts/build-images.sh; then
    echo "setup: Docker engine at unix://$PWD/data/docker-engine/docker.sock (stop: bash scripts/docker-engine.sh stop)"
  else
    echo "setup: warning: the Docker engine did not start (see data/docker-engine/dockerd.log); the keeper will use the bubblewrap sandbox" >&2
  fi
fi
