#!/usr/bin/env bash
# OGC API – Features: gn_flux's items route against tipg 1.6.1 serving the same 1,000,000-row view
# on the same cluster, in one run. Time per 1000-item page at depths 0, 100,000 and 900,000
# (gn_flux by keyset cursor, tipg by offset), 16 concurrent clients following `next` links for a
# fixed time, and the servers' peak memory. Writes bench/results/ogc-<date>.md (raw values next to
# it, .json).
#
#   bench/ogc_vs_tipg.sh                                          # 1,000,000 rows
#   BENCH_ROWS=100000 BENCH_REPS=1 BENCH_DURATION=5 bench/ogc_vs_tipg.sh   # quick
#   BENCH_SKIP_GN_FLUX=1 GN_FLUX_BENCH_SKIP_INSTALL=1 bench/ogc_vs_tipg.sh  # tipg side only
#
# Environment (see bench/README.md):
#   BENCH_ROWS=1000000           rows of the served view
#   BENCH_REPS=5                 repetitions of the per-depth page timings (medians)
#   BENCH_DURATION=20            seconds of each concurrent run
#   BENCH_CLIENTS=16             concurrent clients
#   BENCH_TIPG_WORKERS="1 2"     uvicorn worker counts to run tipg with, in turn
#   BENCH_SKIP_GN_FLUX=1         tipg only (gn_flux's OGC routes are skipped anyway when absent)
#   BENCH_SKIP_TIPG=1            gn_flux only
#   GN_FLUX_BENCH_SKIP_INSTALL=1 use the gn_flux already installed
#   GN_FLUX_BENCH_PROFILE=release|debug
#   BENCH_KEEP_CLUSTER=1         leave the cluster 15/gnflux_bench running (with the data)
#   CARGO_TARGET_DIR             tipg's venv is ${CARGO_TARGET_DIR:-target}/tipg-venv
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"
# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"
COMMAND_LINE="$(bench_command_line ogc_vs_tipg.sh "$@")"
export BENCH_ROWS="${BENCH_ROWS:-1000000}" BENCH_REPS="${BENCH_REPS:-5}" BENCH_DURATION="${BENCH_DURATION:-20}"
export BENCH_CLIENTS="${BENCH_CLIENTS:-16}" BENCH_TIPG_WORKERS="${BENCH_TIPG_WORKERS:-1 2}"
BENCH_KEEP_CLUSTER="${BENCH_KEEP_CLUSTER:-0}"
CLUSTER=gnflux_bench
# The cluster, database and API port of bench/serve_vs_geonature.sh; tipg next to them.
export BENCH_PG_PORT=54330 BENCH_DB=gn_bench_serve BENCH_API_PORT=18797 BENCH_TIPG_PORT=18799
VENV="$ROOT/.venv"
TIPG_VENV="${CARGO_TARGET_DIR:-$ROOT/target}/tipg-venv"
case "$TIPG_VENV" in /*) ;; *) TIPG_VENV="$ROOT/$TIPG_VENV" ;; esac
export BENCH_RUN_DIR
BENCH_RUN_DIR="$(mktemp -d /tmp/gn_flux_bench_ogc.XXXXXX)"
CONF="/etc/postgresql/${PG_MAJOR}/${CLUSTER}/conf.d/90-gn_flux.conf"
STARTED_CLUSTER=0

for n in BENCH_ROWS BENCH_REPS BENCH_DURATION BENCH_CLIENTS; do
  [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || die "$n must be a positive integer (got '${!n}')"
done
for w in $BENCH_TIPG_WORKERS; do
  [[ "$w" =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIPG_WORKERS must list positive integers (got '$BENCH_TIPG_WORKERS')"
done

cleanup() {
  local rc=$?
  # tipg (uvicorn and its workers), if the driver was interrupted before stopping it
  if [ -f "$BENCH_RUN_DIR/tipg.pid" ]; then kill -- "-$(cat "$BENCH_RUN_DIR/tipg.pid")" 2>/dev/null || true; fi
  if [ "$STARTED_CLUSTER" = 1 ] && [ "$BENCH_KEEP_CLUSTER" != 1 ]; then
    psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" >/dev/null 2>&1 || true
    stop_cluster "$CLUSTER" || true
    rm -f "$CONF"
  fi
  rm -rf "$BENCH_RUN_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
[ "$(id -u)" = 0 ] || die "run as root (creates a Debian cluster, runs psql as postgres, reads /proc/<pid>/status)"

step "Debian packages and Rust"
ensure_packages
[ "${GN_FLUX_BENCH_SKIP_INSTALL:-0}" = 1 ] || ensure_rust
bench_install_gn_flux

step "Python venvs: psycopg2 for the driver ($VENV), tipg ${TIPG_VERSION} and uvicorn ($TIPG_VENV)"
bench_python_venv "$VENV"
[ "${BENCH_SKIP_TIPG:-0}" = 1 ] || bench_tipg_venv "$TIPG_VENV"
export BENCH_TIPG_VENV="$TIPG_VENV"

step "Cluster ${PG_MAJOR}/${CLUSTER} (port ${BENCH_PG_PORT}) with 2 API workers on 127.0.0.1:${BENCH_API_PORT}"
STARTED_CLUSTER=1
bench_serve_cluster "$CLUSTER" "$BENCH_PG_PORT" "$BENCH_API_PORT" "$BENCH_DB" ogc_vs_tipg.sh

step "Benchmark: ${BENCH_ROWS} rows, BENCH_REPS=${BENCH_REPS}, ${BENCH_CLIENTS} clients for ${BENCH_DURATION} s, tipg workers: ${BENCH_TIPG_WORKERS}"
export BENCH_COMMIT="$(bench_repo_commit)" BENCH_COMMAND="$COMMAND_LINE" GN_FLUX_BENCH_PROFILE="${GN_FLUX_BENCH_PROFILE:-release}"
if [ "${GN_FLUX_BENCH_SKIP_INSTALL:-0}" = 1 ]; then
  export BENCH_GN_FLUX_BUILD="$(bench_installed_build)"
else
  export BENCH_GN_FLUX_BUILD="$GN_FLUX_BENCH_PROFILE"
fi
export NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost" PYTHONDONTWRITEBYTECODE=1
REPORT="$BENCH_DIR/results/ogc-$(date +%F).md"
"$VENV/bin/python" "$BENCH_DIR/ogc_vs_tipg.py" "$REPORT"
step "Done: $REPORT"
