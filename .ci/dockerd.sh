#!/usr/bin/env bash
# A private Docker engine for the Docker executor's tests (test/runtime/docker-executor.test.ts).
#
#   .ci/dockerd.sh start <dir>   installs docker.io and busybox-static when missing, starts a
#                                dockerd of its own on unix://<dir>/docker.sock with its data and
#                                exec roots under <dir>, and makes the test image
#                                swarm-test/busybox:1 from the local busybox (nothing is pulled:
#                                no registry is reachable here)
#   .ci/dockerd.sh stop <dir>    stops that dockerd (by its pidfile) and waits until it is gone
#
# The engine shares nothing with a system dockerd: no bridge, no iptables rules (containers run
# with host networking), its own containerd under <dir>/exec. A unix socket path must be shorter
# than 108 bytes, so keep <dir> short (a mktemp directory under /tmp is).
set -euo pipefail

IMAGE='swarm-test/busybox:1'
APPLETS=(sh sleep echo cat ls true false httpd wget nc kill env)
START_WAIT_S=30
STOP_WAIT_S=30

usage() {
  echo "usage: $0 start|stop <dir>" >&2
  exit 2
}

[ $# -eq 2 ] || usage
command=$1
dir=$2
case "$dir" in
  /*) ;;
  *) dir="$(pwd)/$dir" ;;
esac
socket="$dir/docker.sock"
pidfile="$dir/docker.pid"
host="unix://$socket"

if [ "${#socket}" -ge 100 ]; then
  echo "$0: the socket path $socket is too long for a unix socket; use a shorter directory" >&2
  exit 2
fi

# Installs Debian's docker.io and busybox-static when dockerd or /bin/busybox is missing; the
# package lists are refreshed only when an install without them fails.
install_missing() {
  if command -v dockerd >/dev/null && command -v docker >/dev/null && [ -x /bin/busybox ]; then
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "$0: dockerd or /bin/busybox is missing and installing them needs root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # The package would start a system dockerd (bridge, iptables) from its postinst: services are
  # kept from starting while it installs, as in any Debian container image.
  local policy=/usr/sbin/policy-rc.d
  local own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
  fi
  local status=0
  if ! apt-get install -y docker.io busybox-static; then
    apt-get update && apt-get install -y docker.io busybox-static || status=$?
  fi
  if [ "$own_policy" -eq 1 ]; then
    rm -f "$policy"
  fi
  if [ "$status" -ne 0 ]; then
    echo "$0: installing docker.io and busybox-static failed" >&2
    exit "$status"
  fi
}

running_pid() {
  local pid
  [ -s "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# A root with /bin/busybox and its applets as symlinks, imported as an image.
make_image() {
  if docker --host "$host" image inspect "$IMAGE" >/dev/null 2>&1; then
    return
  fi
  local root
  root=$(mktemp -d "$dir/root.XXXXXX")
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/proc" "$root/sys" "$root/dev"
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for applet in "${APPLETS[@]}"; do
    ln -s busybox "$root/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  tar -C "$root" -c . | docker --host "$host" import --change 'ENV PATH=/bin' --change 'CMD ["sh"]' - "$IMAGE" >/dev/null
  rm -rf "$root"
}

start() {
  mkdir -p "$dir"
  install_missing
  if running_pid >/dev/null && docker --host "$host" info >/dev/null 2>&1; then
    make_image
    echo "dockerd already running on $host"
    return
  fi
  # Its own session, stdio to the log: the caller (a test's child process) does not wait on it.
  setsid dockerd \
    --host "$host" \
    --data-root "$dir/data" \
    --exec-root "$dir/exec" \
    --pidfile "$pidfile" \
    --bridge=none --iptables=false --ip6tables=false \
    --label swarm.test=engine \
    </dev/null >>"$dir/dockerd.log" 2>&1 &
  local launched=$!
  local waited=0
  until docker --host "$host" info >/dev/null 2>&1; do
    if ! kill -0 "$launched" 2>/dev/null; then
      echo "$0: dockerd exited while starting; the end of $dir/dockerd.log:" >&2
      tail -n 30 "$dir/dockerd.log" >&2
      exit 1
    fi
    if [ "$waited" -ge $((START_WAIT_S * 5)) ]; then
      echo "$0: dockerd did not answer on $host within ${START_WAIT_S}s; the end of $dir/dockerd.log:" >&2
      tail -n 30 "$dir/dockerd.log" >&2
      kill "$launched" 2>/dev/null || true
      exit 1
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
  make_image
  echo "dockerd running on $host"
}

stop() {
  local pid
  if pid=$(running_pid); then
    kill -TERM "$pid"
    local waited=0
    while kill -0 "$pid" 2>/dev/null; do
      if [ "$waited" -ge $((STOP_WAIT_S * 5)) ]; then
        echo "$0: dockerd (pid $pid) did not stop within ${STOP_WAIT_S}s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.2
      waited=$((waited + 1))
    done
  fi
  # Whatever the engine left mounted under <dir> (a killed one leaves its overlays), deepest first,
  # so that <dir> can be deleted.
  if [ -r /proc/self/mounts ]; then
    awk -v prefix="$dir/" 'index($2, prefix) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r mountpoint; do
      umount -l "$mountpoint" 2>/dev/null || true
    done
  fi
  rm -f "$pidfile"
}

case "$command" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
