#!/usr/bin/env bash
# Stops the MapServer harness started by tests/e2e/mapserver/start.sh DIR ... and puts
# /etc/mapserver.conf back: the original from /etc/mapserver.conf.gn_flux-orig if start.sh made
# that backup, else ours is removed. Leaves DIR itself in place. Safe to run twice.
# Usage: tests/e2e/mapserver/stop.sh DIR
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
DIR=$1
CONF=/etc/mapserver.conf
CONF_BACKUP=/etc/mapserver.conf.gn_flux-orig
MARKER='# written by gn_flux tests'

if [ -f "$DIR/http.pid" ]; then
  pid=$(cat "$DIR/http.pid")
  if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    # python leads its own process group (setsid): end it with its CGI children.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$DIR/http.pid"
fi

if [ -e "$CONF_BACKUP" ]; then
  if [ ! -e "$CONF" ] || grep -qxF "$MARKER" "$CONF"; then
    mv -f "$CONF_BACKUP" "$CONF"
  else
    echo "mapserver harness: $CONF is not ours any more, left it and $CONF_BACKUP alone" >&2
  fi
elif [ -e "$CONF" ] && grep -qxF "$MARKER" "$CONF"; then
  rm -f "$CONF"
fi
