#!/usr/bin/env bash
# A private Docker engine for the docker provider and its tests, with flags that leave the host's
# network alone: no bridge, no iptables/ip6tables rules, no IP forwarding or masquerading (the
# default flags rewrite the host firewall: never use them). Containers then only get
# --network none, which is all the provider uses.
#
#   scripts/docker-engine.sh start  [DIR]   start dockerd (no-op when it already runs), print DOCKER_HOST
#   scripts/docker-engine.sh stop   [DIR]   stop it (via its pidfile)
#   scripts/docker-engine.sh status [DIR]   exit 0 and print DOCKER_HOST when it answers, else exit 1
#
# DIR (default ./data/docker-engine, or $DOCKER_ENGINE_DIR) holds data/, exec/, docker.sock,
# docker.pid and dockerd.log. Needs root and the docker.io package (dockerd, docker CLI, containerd, runc).
# Env: DOCKER_ENGINE_TIMEOUT (seconds to wait for the engine, default 60).
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|status [DIR]" >&2
  exit 2
}

[ $# -ge 1 ] || usage
cmd=$1
dir=${2:-${DOCKER_ENGINE_DIR:-./data/docker-engine}}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd -P)
sock="$dir/docker.sock"
pidfile="$dir/docker.pid"
log="$dir/dockerd.log"
host="unix://$sock"
timeout=${DOCKER_ENGINE_TIMEOUT:-60}

die() {
  echo "docker-engine: $*" >&2
  exit 1
}

pid_running() {
  local pid
  [ -s "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "dockerd .*--pidfile $pidfile" || return 1
}

answers() {
  [ -S "$sock" ] && docker -H "$host" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

wait_answer() {
  local i
  for ((i = 0; i < timeout * 4; i++)); do
    if answers; then return 0; fi
    if ! pid_running; then
      echo "docker-engine: dockerd exited; last lines of $log:" >&2
      tail -n 30 "$log" >&2 || true
      exit 1
    fi
    sleep 0.25
  done
  echo "docker-engine: dockerd did not answer on $host within ${timeout}s; last lines of $log:" >&2
  tail -n 30 "$log" >&2 || true
  exit 1
}

case "$cmd" in
  start)
    if pid_running; then
      wait_answer
      echo "docker-engine: already running" >&2
      echo "DOCKER_HOST=$host"
      exit 0
    fi
    [ "$(id -u)" -eq 0 ] || die "dockerd needs root (run as root, e.g. in CI's setup step)"
    command -v dockerd >/dev/null || die "dockerd not found: apt-get install -y --no-install-recommends docker.io"
    command -v docker >/dev/null || die "docker CLI not found: apt-get install -y --no-install-recommends docker.io"
    # Unix socket paths are limited to 107 bytes (containerd's lives under exec/).
    [ ${#sock} -le 100 ] && [ $((${#dir} + 40)) -le 107 ] || die "DIR path too long for unix sockets: $dir (use a shorter DIR, e.g. /tmp/agentcompute-docker)"
    mkdir -p "$dir/data" "$dir/exec"
    rm -f "$sock" "$pidfile"
    echo "docker-engine: starting dockerd in $dir (log: $log)" >&2
    setsid nohup dockerd \
      --data-root "$dir/data" \
      --exec-root "$dir/exec" \
      -H "$host" \
      --pidfile "$pidfile" \
      --bridge=none \
      --iptables=false \
      --ip6tables=false \
      --ip-forward=false \
      --ip-masq=false \
      >>"$log" 2>&1 </dev/null &
    # The pidfile appears once dockerd has initialised; wait for it, then for the API.
    for ((i = 0; i < timeout * 4; i++)); do
      [ -s "$pidfile" ] && break
      sleep 0.25
    done
    [ -s "$pidfile" ] || {
      tail -n 30 "$log" >&2 || true
      die "dockerd wrote no pidfile within ${timeout}s"
    }
    wait_answer
    echo "DOCKER_HOST=$host"
    ;;
  stop)
    if ! pid_running; then
      echo "docker-engine: not running" >&2
      rm -f "$pidfile"
      exit 0
    fi
    pid=$(cat "$pidfile")
    kill -TERM "$pid"
    for ((i = 0; i < 120; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "docker-engine: dockerd did not stop in 30s, killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    echo "docker-engine: stopped" >&2
    ;;
  status)
    if pid_running && answers; then
      echo "DOCKER_HOST=$host"
      exit 0
    fi
    echo "docker-engine: not running ($dir)" >&2
    exit 1
    ;;
  *) usage ;;
esac
