#!/usr/bin/env bash
# Builds the docker provider's default image (and, through build-runtime-images.sh, the code-execution
# runtime image agentcompute/runtime:local) without any registry:
#   agentcompute/busybox:local  - a static busybox (package busybox-static) with all its applets,
#                                 /etc/passwd + /etc/group with nobody (65534), a 1777 /tmp.
# Idempotent: the image is labelled with the sha256 of the busybox binary and rebuilt only when that
# changes (or with --force).
#
#   DOCKER_HOST=unix:///path/docker.sock scripts/build-images.sh [--force]
#
# Default DOCKER_HOST: the engine of scripts/docker-engine.sh (./data/docker-engine/docker.sock).
set -euo pipefail

IMAGE=agentcompute/busybox:local
BUSYBOX=${BUSYBOX:-/bin/busybox}
force=0
[ "${1:-}" = "--force" ] && force=1

repo=$(cd "$(dirname "$0")/.." && pwd -P)
export DOCKER_HOST=${DOCKER_HOST:-unix://$repo/data/docker-engine/docker.sock}

die() {
  echo "build-images: $*" >&2
  exit 1
}

command -v docker >/dev/null || die "docker CLI not found: apt-get install -y --no-install-recommends docker.io"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "no Docker engine answers at $DOCKER_HOST (start one: scripts/docker-engine.sh start)"
[ -x "$BUSYBOX" ] || die "$BUSYBOX not found: apt-get install -y --no-install-recommends busybox-static"
"$BUSYBOX" true 2>/dev/null || die "$BUSYBOX does not run"

# The code-execution runtime image (python3, node, bash), idempotent on its own.
if [ "$force" = 1 ]; then "$repo/scripts/build-runtime-images.sh" --force; else "$repo/scripts/build-runtime-images.sh"; fi

sum=$(sha256sum "$BUSYBOX" | cut -d' ' -f1)
current=$(docker image inspect --format '{{ index .Config.Labels "agentcompute.busybox.sha256" }}' "$IMAGE" 2>/dev/null || true)
if [ "$force" = 0 ] && [ "$current" = "$sum" ]; then
  echo "build-images: $IMAGE is up to date" >&2
  exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/proc" "$root/sys" "$root/dev"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
install -m 0755 "$BUSYBOX" "$root/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

tar --numeric-owner --owner=0 --group=0 -C "$root" -cf - . |
  docker import \
    --change 'ENV PATH=/bin' \
    --change 'CMD ["sh"]' \
    --change "LABEL agentcompute.busybox.sha256=$sum" \
    - "$IMAGE" >/dev/null

# Smoke test with the provider's own hardening.
out=$(docker run --rm --network none --read-only --user 65534:65534 --cap-drop ALL \
  --security-opt no-new-privileges --memory 64m --pids-limit 32 "$IMAGE" sh -c 'id -u')
[ "$out" = 65534 ] || die "smoke test failed: expected uid 65534, got: $out"
echo "build-images: built $IMAGE" >&2
