#!/usr/bin/env bash
# Builds the code-execution runtime image without any registry:
#   agentcompute/runtime:local - the host's own /usr/bin/python3 (with its stdlib), node and bash,
#                                their shared libraries (ldd), /etc/passwd with nobody (65534), 1777 /tmp.
# One image serves the three languages (python, javascript, bash): one build, one layer cache.
# Idempotent: labelled with a hash of the copied binaries; rebuilt only when they change (or --force).
#
#   DOCKER_HOST=unix:///path/docker.sock scripts/build-runtime-images.sh [--force]
set -euo pipefail

IMAGE=${EXECUTE_DOCKER_IMAGE:-agentcompute/runtime:local}
force=0
[ "${1:-}" = "--force" ] && force=1
repo=$(cd "$(dirname "$0")/.." && pwd -P)
export DOCKER_HOST=${DOCKER_HOST:-unix://$repo/data/docker-engine/docker.sock}
die() {
  echo "build-runtime-images: $*" >&2
  exit 1
}
command -v docker >/dev/null || die "docker CLI not found"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "no Docker engine answers at $DOCKER_HOST"

PY=$(readlink -f /usr/bin/python3) || die "/usr/bin/python3 not found (apt-get install python3-minimal)"
NODE=$(readlink -f "$(command -v node)")
BASH_BIN=$(readlink -f /bin/bash)
pyver=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
STDLIB=/usr/lib/python$pyver
[ -d "$STDLIB" ] || die "$STDLIB not found"

sum=$( { sha256sum "$PY" "$NODE" "$BASH_BIN"; echo "$pyver"; sha256sum "$0"; } | sha256sum | cut -d' ' -f1)
current=$(docker image inspect --format '{{ index .Config.Labels "agentcompute.runtime.sha256" }}' "$IMAGE" 2>/dev/null || true)
if [ "$force" = 0 ] && [ "$current" = "$sum" ]; then
  echo "build-runtime-images: $IMAGE is up to date" >&2
  exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/usr/lib" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev"
ln -s usr/bin "$root/bin"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
mkdir -p "$root/usr/lib64"
chmod 1777 "$root/tmp"
install -m 0755 "$PY" "$root/usr/bin/python$pyver"
ln -s "python$pyver" "$root/usr/bin/python3"
install -m 0755 "$NODE" "$root/usr/bin/node"
install -m 0755 "$BASH_BIN" "$root/usr/bin/bash"
ln -s bash "$root/usr/bin/sh"
# The stdlib without tests, caches and pip's wheels; dist-packages (Debian's extras) is left out.
tar -C / --exclude='__pycache__' --exclude="${STDLIB#/}/test" --exclude="${STDLIB#/}/idlelib" \
  --exclude="${STDLIB#/}/ensurepip" --exclude="${STDLIB#/}/tkinter" -cf - "${STDLIB#/}" | tar -C "$root" -xf -
# Shared libraries of the binaries and of the stdlib's extension modules, with their real paths
# (under /usr: /lib is a link to /usr/lib in the image).
libs=$( { ldd "$PY" "$NODE" "$BASH_BIN"; find "$STDLIB/lib-dynload" -name '*.so' -exec ldd {} + 2>/dev/null; } |
  awk '/=> \//{print $3} /^[ \t]*\/.*ld-linux/{print $1}' | sort -u)
for l in $libs; do
  real=$(readlink -f "$l")
  dest=$root/usr${l#/usr}
  mkdir -p "$(dirname "$dest")"
  cp -L "$real" "$dest"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

tar --numeric-owner --owner=0 --group=0 -C "$root" -cf - . |
  docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --change "LABEL agentcompute.runtime.sha256=$sum" \
    - "$IMAGE" >/dev/null

smoke() {
  docker run --rm --network none --read-only --user 65534:65534 --cap-drop ALL \
    --security-opt no-new-privileges --memory 128m --pids-limit 32 "$IMAGE" "$@"
}
[ "$(smoke python3 -I -c 'import json, hashlib, ssl; print(6*7)')" = 42 ] || die "python smoke test failed"
[ "$(smoke node -e 'console.log(6*7)')" = 42 ] || die "node smoke test failed"
[ "$(smoke bash -c 'echo $((6*7))')" = 42 ] || die "bash smoke test failed"
echo "build-runtime-images: built $IMAGE" >&2
