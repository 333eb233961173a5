#!/usr/bin/env bash
# The lab's own Docker daemon: Debian's dockerd with its own data root, exec root, socket and bridge, so it never
# touches a system Docker that may also run on the machine.
#
#   bash tests/lab/dockerd.sh start    # start if nothing answers on the socket; prints ONLY the export line on stdout
#   bash tests/lab/dockerd.sh status   # exit 0 when the socket answers
#   bash tests/lab/dockerd.sh stop     # stop the daemon started by `start` (containers in it stop too)
#
# Usage from a shell: eval "$(bash tests/lab/dockerd.sh start)"
# Everything except the export line goes to stderr or to the log file ($LAB_DOCKERD_LOG).
set -euo pipefail

RUN_DIR=${LAB_DOCKERD_RUN_DIR:-/run/pulumi-kk-lab}
DATA_ROOT=${LAB_DOCKERD_DATA_ROOT:-/var/lib/pulumi-kk-lab/docker}
SOCK="$RUN_DIR/docker.sock"
PIDFILE="$RUN_DIR/docker.pid"
EXEC_ROOT="$RUN_DIR/exec"
LOG=${LAB_DOCKERD_LOG:-/var/lib/pulumi-kk-lab/dockerd.log}
# Own bridge for the default "bridge" network: a system dockerd's docker0 stays untouched.
BRIDGE=kklab0
BRIDGE_CIDR=${LAB_DOCKERD_BRIDGE_CIDR:-10.209.255.1/24}
WAIT_S=${LAB_DOCKERD_WAIT_S:-60}

log() { echo "dockerd.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

answers() {
  # curl talks to the socket directly: no dependency on which docker CLI is first in PATH.
  [ -S "$SOCK" ] && [ "$(curl -s -m 3 --unix-socket "$SOCK" http://lab/_ping 2>/dev/null)" = "OK" ]
}

need() {  # need <command> <apt package>
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found: apt-get install $2"
}

ensure_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  if ! ip -o addr show dev "$BRIDGE" | grep -q " ${BRIDGE_CIDR%/*}/"; then
    ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
}

start() {
  if answers; then
    log "already answering on $SOCK"
  else
    [ "$(id -u)" = 0 ] || die "must run as root (starts dockerd)"
    need dockerd docker.io
    need containerd containerd
    need runc runc
    need curl curl
    need ip iproute2
    need iptables iptables
    mkdir -p "$RUN_DIR" "$DATA_ROOT" "$EXEC_ROOT" "$(dirname "$LOG")"
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      log "dockerd pid $(cat "$PIDFILE") exists but does not answer yet; waiting"
    else
      rm -f "$PIDFILE" "$SOCK"
      ensure_bridge
      log "starting dockerd (data root $DATA_ROOT, socket $SOCK, log $LOG)"
      # setsid + all fds redirected: the daemon outlives this script and never holds the caller's stdout pipe
      # (important for: eval "$(bash tests/lab/dockerd.sh start)").
      setsid dockerd \
        --host "unix://$SOCK" \
        --data-root "$DATA_ROOT" \
        --exec-root "$EXEC_ROOT" \
        --pidfile "$PIDFILE" \
        --bridge "$BRIDGE" \
        --storage-driver overlay2 \
        --log-level warn \
        >>"$LOG" 2>&1 </dev/null &
    fi
    local t0=$SECONDS
    until answers; do
      if [ $((SECONDS - t0)) -ge "$WAIT_S" ]; then
        tail -n 30 "$LOG" >&2 || true
        die "dockerd did not answer on $SOCK within ${WAIT_S}s (log: $LOG)"
      fi
      sleep 0.2
    done
    log "dockerd answers on $SOCK after $((SECONDS - t0))s"
  fi
  echo "export DOCKER_HOST=unix://$SOCK"
}

stop() {
  if [ -f "$PIDFILE" ]; then
    local pid
    pid=$(cat "$PIDFILE")
    if kill -0 "$pid" 2>/dev/null; then
      log "stopping dockerd pid $pid"
      kill -TERM "$pid"
      for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      if kill -0 "$pid" 2>/dev/null; then log "dockerd pid $pid still alive after 30s"; exit 1; fi
    fi
    rm -f "$PIDFILE"
  else
    log "no pidfile $PIDFILE: nothing to stop"
  fi
}

status() {
  if answers; then
    log "answering on $SOCK (pid $(cat "$PIDFILE" 2>/dev/null || echo '?'))"
    echo "export DOCKER_HOST=unix://$SOCK"
  else
    log "not answering on $SOCK"
    exit 1
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
