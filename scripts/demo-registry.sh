#!/bin/sh
# A throw-away local registry for the README's quickstart: the CNCF distribution registry (Debian's
# `docker-registry`, or the `registry` binary of distribution releases) on one loopback address.
#   scripts/demo-registry.sh start [ADDRESS]   (default 127.0.0.1:5000)
#   scripts/demo-registry.sh stop
# State (config, storage, pid file) lives in $DEMO_DIR (default .demo/); stop ends only the PID
# written there by start.
set -eu
dir=${DEMO_DIR:-.demo}
addr=${2:-127.0.0.1:5000}
pidfile="$dir/registry.pid"

case "${1:-}" in
start)
  bin=$(command -v docker-registry || command -v registry || true)
  if [ -z "$bin" ]; then
    echo "demo-registry: no docker-registry on PATH (Debian: apt-get install docker-registry;" >&2
    echo "  elsewhere: the registry binary of github.com/distribution/distribution)" >&2
    exit 1
  fi
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "demo-registry: already running (pid $(cat "$pidfile")); run: $0 stop" >&2
    exit 1
  fi
  mkdir -p "$dir/registry"
  cat >"$dir/registry/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $(cd "$dir/registry" && pwd)/data
http:
  addr: $addr
YAML
  "$bin" serve "$dir/registry/config.yml" >"$dir/registry/log" 2>&1 &
  echo $! >"$pidfile"
  # Ready when /v2/ answers; a busy address makes the registry exit, which is reported.
  i=0
  until curl -fs "http://$addr/v2/" >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "demo-registry: the registry exited: $(tail -n 3 "$dir/registry/log")" >&2
      rm -f "$pidfile"
      exit 1
    fi
    i=$((i + 1))
    [ "$i" -lt 100 ] || { echo "demo-registry: no answer on http://$addr/v2/" >&2; exit 1; }
    sleep 0.1
  done
  echo "registry listening on $addr"
  ;;
stop)
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
  rm -rf "$dir/registry"
  echo "registry stopped"
  ;;
*)
  echo "usage: $0 start [ADDRESS] | stop" >&2
  exit 2
  ;;
esac
