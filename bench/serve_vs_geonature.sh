#!/usr/bin/env bash
# Serve I benchmark: gn_flux's API workers against GeoNature's way of answering its export API
# (OFFSET plus two COUNTs per page) on the same 1,000,000-row view and cluster; gn2pg-client's
# full pull of 100,000 rows from gn_flux and from the GeoNature stand-in; 16 concurrent clients
# with the workers' memory. Writes bench/results/serve-<date>.md (raw values next to it, .json).
#
#   bench/serve_vs_geonature.sh                                   # 1,000,000 rows
#   BENCH_ROWS=100000 BENCH_GN2PG_ROWS=20000 BENCH_REPS=1 bench/serve_vs_geonature.sh   # quick
#
# Environment (see bench/README.md):
#   BENCH_ROWS=1000000           rows of the export walked
#   BENCH_GN2PG_ROWS=100000      rows of the gn2pg-client pulls (from gn_flux and the stand-in)
#   BENCH_REPS=5                 repetitions of the per-depth page timings
#   BENCH_CLIENTS=16             concurrent clients
#   BENCH_GN2PG_REPS=1           gn2pg-client pulls from each server (medians)
#   BENCH_GEONATURE_STRIDE=1     time GeoNature's SQL walk on every Nth page only (×N)
#   GN_FLUX_BENCH_SKIP_INSTALL=1 use the gn_flux already installed
#   GN_FLUX_BENCH_PROFILE=release|debug
#   BENCH_KEEP_CLUSTER=1         leave the cluster 15/gnflux_bench running
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"
# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"
COMMAND_LINE="$(bench_command_line serve_vs_geonature.sh "$@")"
export BENCH_ROWS="${BENCH_ROWS:-1000000}" BENCH_GN2PG_ROWS="${BENCH_GN2PG_ROWS:-100000}"
BENCH_KEEP_CLUSTER="${BENCH_KEEP_CLUSTER:-0}"
CLUSTER=gnflux_bench
export BENCH_PG_PORT=54330 BENCH_DB=gn_bench_serve
# Not the ports of the other benchmarks or of the tests.
export BENCH_API_PORT=18797 BENCH_GN_PORT=18798
VENV="$ROOT/.venv"
RUN_DIR="$(mktemp -d /tmp/gn_flux_bench_serve.XXXXXX)"
CONF="/etc/postgresql/${PG_MAJOR}/${CLUSTER}/conf.d/90-gn_flux.conf"
STARTED_CLUSTER=0
cleanup() {
  local rc=$?
  if [ -f "$RUN_DIR/gn.pid" ]; then kill "$(cat "$RUN_DIR/gn.pid")" 2>/dev/null || true; fi
  if [ "$STARTED_CLUSTER" = 1 ] && [ "$BENCH_KEEP_CLUSTER" != 1 ]; then
    psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" >/dev/null 2>&1 || true
    stop_cluster "$CLUSTER" || true
    rm -f "$CONF"
  fi
  rm -rf "$RUN_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
[ "$(id -u)" = 0 ] || die "run as root (creates a Debian cluster, runs psql as postgres)"

step "Debian packages and Rust"
ensure_packages
ensure_rust
bench_install_gn_flux

step "Python venv with gn2pg-client ${GN2PG_VERSION} ($VENV)"
ensure_gn2pg_venv "$VENV"

step "Cluster ${PG_MAJOR}/${CLUSTER} (port ${BENCH_PG_PORT}) with 2 API workers on 127.0.0.1:${BENCH_API_PORT}"
STARTED_CLUSTER=1
bench_serve_cluster "$CLUSTER" "$BENCH_PG_PORT" "$BENCH_API_PORT" "$BENCH_DB" serve_vs_geonature.sh

step "GeoNature stand-in: ${BENCH_GN2PG_ROWS} rows on 127.0.0.1:${BENCH_GN_PORT}"
start_fake_geonature "$RUN_DIR/gn.pid" "$RUN_DIR/gn.log" "$BENCH_GN_PORT" "$BENCH_GN2PG_ROWS" 42

step "Benchmark"
export BENCH_COMMIT="$(bench_repo_commit)" BENCH_COMMAND="$COMMAND_LINE" GN_FLUX_BENCH_PROFILE="${GN_FLUX_BENCH_PROFILE:-release}"
export NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost"
REPORT="$BENCH_DIR/results/serve-$(date +%F).md"
"$VENV/bin/python" "$BENCH_DIR/serve_vs_geonature.py" "$REPORT"
step "Done: $REPORT"
