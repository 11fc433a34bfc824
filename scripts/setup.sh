#!/usr/bin/env bash
# Installs everything this project needs on a fresh Debian machine:
# - Node 24 LTS when the machine's node is older than 22 (these machines come with Debian's Node 20,
#   end of life since 2026-04-30), from the npm registry's `node` package;
# - Debian packages: bubblewrap (the bubblewrap sandbox provider), docker.io and busybox-static (the docker
#   provider's engine and its registry-free image);
# - npm packages from the lockfile (better-sqlite3 13 carries its Node-API binaries in its registry
#   package: nothing to download or build);
# - the contracts compiled with the pinned npm `solc` (no compiler download).
# Nothing is fetched from outside the npm registry and Debian's apt.
set -euo pipefail
cd "$(dirname "$0")/.."

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "setup: needs root for: $*" >&2
    return 1
  fi
}

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# Node, from the npm registry (no download from elsewhere): its `node` package is a shell whose
# preinstall script installs node-<platform>-<arch>, which holds the real binary with its C headers.
# We install that package directly: it has no install script, whereas `node`'s preinstall needs
# allowing under npm 12, and `--allow-scripts=node` breaks it (the nested project install it runs
# inherits the flag and fails with EALLOWSCRIPTS). It goes into /usr/local: /usr/local/bin comes
# before /usr/bin on PATH, and /usr/bin/node belongs to Debian's nodejs package. NODE_PREFIX
# installs elsewhere (a private prefix for a trial run, whose bin must then come first on PATH).
# npm stays the machine's: /usr/bin/npm starts with `#!/usr/bin/env node`, so it runs under the
# first node on PATH, the new one. npm must run under Node >= 22, not only the tests: packages
# whose engines ask for it are otherwise skipped.
NODE_VERSION=24.21.0
NODE_PREFIX="${NODE_PREFIX:-/usr/local}"
NODE_PREFIX="${NODE_PREFIX%/}" # compared with `command -v node` below
installed_node=false
if [ "$(node_major)" -lt 22 ]; then
  node_package="node-$(uname -s | tr 'A-Z' 'a-z')-$(uname -m | sed 's/x86_64/x64/; s/aarch64/arm64/')"
  echo "setup: installing Node $NODE_VERSION ($node_package) into $NODE_PREFIX (found $(node --version 2>/dev/null || echo no node))"
  install_node=(npm install --global --prefix "$NODE_PREFIX" --no-audit --no-fund "$node_package@$NODE_VERSION")
  if mkdir -p "$NODE_PREFIX" 2>/dev/null && [ -w "$NODE_PREFIX" ]; then
    "${install_node[@]}"
  else
    as_root "${install_node[@]}"
  fi
  hash -r
  installed_node=true
  if [ "$(command -v node)" != "$NODE_PREFIX/bin/node" ]; then
    echo "setup: Node $NODE_VERSION is in $NODE_PREFIX/bin but \`node\` on PATH is $(command -v node):" \
      "put $NODE_PREFIX/bin before it in PATH (PATH=$PATH)" >&2
    exit 1
  fi
fi
npm_node=$(npm version --json | node -p 'JSON.parse(require("fs").readFileSync(0, "utf8")).node')
if [ "$(node_major)" -lt 22 ] || [ "${npm_node%%.*}" -lt 22 ]; then
  echo "setup: Node >= 22 is required (node $(node --version), npm runs under v$npm_node)" >&2
  exit 1
fi

# node-gyp builds a native addon from source (an install script npm runs, `npm rebuild`) against
# the headers in npm's `nodedir` (it would download them otherwise). These machines set
# nodedir=/usr, Debian's Node 20 headers: under Node 24 that builds an addon Node 24 refuses to load. Point it at the running Node's own headers; when this script
# installed that Node, also in the user's npm config, so that a later `npm ci` builds right too.
configured_nodedir=$(npm config get nodedir)
case "$configured_nodedir" in undefined | null) configured_nodedir= ;; esac
nodedir=$(node scripts/node-headers.js ${configured_nodedir:+"$configured_nodedir"})
if [ -n "$nodedir" ] && [ "$nodedir" != "$configured_nodedir" ]; then
  export npm_config_nodedir="$nodedir"
  if [ "$installed_node" = true ] && [ -n "$configured_nodedir" ]; then
    # `npm config set` refuses nodedir (a node-gyp setting, not an npm one): edit the file itself
    userconfig=$(npm config get userconfig)
    if grep -q '^nodedir *=' "$userconfig" 2>/dev/null; then
      sed -i "s|^nodedir *=.*|nodedir=$nodedir|" "$userconfig"
    else
      printf '\nnodedir=%s\n' "$nodedir" >>"$userconfig" # the user's config outranks the global one
    fi
    echo "setup: npm's nodedir was $configured_nodedir (headers of another Node); now $nodedir"
  fi
elif [ -z "$nodedir" ]; then
  echo "setup: warning: no C headers found for Node $(node --version); node-gyp will try to download them" >&2
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
