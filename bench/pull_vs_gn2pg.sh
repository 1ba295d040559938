#!/usr/bin/env bash
# Pull benchmark: GN2PG (gn2pg-client 1.10.1) against gn_flux.pull_source(), side by side, on the
# same PostgreSQL cluster and the same GeoNature stand-in. One command, re-runnable; prints a
# markdown report and writes it to bench/results/pull-<date>.md (raw values next to it, .json).
#
#   bench/pull_vs_gn2pg.sh                           # 100,000 rows, 3 repetitions, 1M-row memory run
#   BENCH_ROWS=5000 BENCH_REPS=1 BENCH_MEMORY_ROWS=0 bench/pull_vs_gn2pg.sh   # quick check
#
# Environment (see bench/README.md):
#   BENCH_ROWS=100000            rows served by the stand-in for the comparison
#   BENCH_REPS=3                 repetitions (the tool going first alternates)
#   BENCH_MEMORY_ROWS=1000000    rows of the gn_flux memory run (0 skips it)
#   BENCH_GN2PG_THREADS=1        gn2pg [tuning] nb_threads
#   BENCH_SKIP_GN_FLUX=1         run the GN2PG side only (no gn_flux needed, nothing installed)
#   GN_FLUX_BENCH_SKIP_INSTALL=1 use the gn_flux already installed (no build, no install)
#   GN_FLUX_BENCH_PROFILE=release|debug   how gn_flux is built and installed (default release)
#   BENCH_KEEP_CLUSTER=1         leave the cluster 15/gnflux_bench running at the end
#   CARGO_TARGET_DIR             where the stand-in (and gn_flux) are built
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"
COMMAND_LINE="$(bench_command_line pull_vs_gn2pg.sh "$@")"

export BENCH_ROWS="${BENCH_ROWS:-100000}"
export BENCH_REPS="${BENCH_REPS:-3}"
export BENCH_MEMORY_ROWS="${BENCH_MEMORY_ROWS:-1000000}"
export BENCH_SKIP_GN_FLUX="${BENCH_SKIP_GN_FLUX:-0}"
GN_FLUX_BENCH_SKIP_INSTALL="${GN_FLUX_BENCH_SKIP_INSTALL:-0}"
GN_FLUX_BENCH_PROFILE="${GN_FLUX_BENCH_PROFILE:-release}"
BENCH_KEEP_CLUSTER="${BENCH_KEEP_CLUSTER:-0}"

CLUSTER=gnflux_bench
export BENCH_PG_PORT=54330
export BENCH_DB=gn_bench
export BENCH_GN_PORT=18791
export BENCH_MEM_GN_PORT=18792
VENV="$ROOT/.venv"
RESULTS="$BENCH_DIR/results"

case "$GN_FLUX_BENCH_PROFILE" in release | debug) ;; *) die "GN_FLUX_BENCH_PROFILE must be release or debug" ;; esac
for n in BENCH_ROWS BENCH_REPS BENCH_MEMORY_ROWS; do
  [[ "${!n}" =~ ^[0-9]+$ ]] || die "$n must be a non-negative integer (got '${!n}')"
done
[ "$BENCH_ROWS" -gt 0 ] && [ "$BENCH_REPS" -gt 0 ] || die "BENCH_ROWS and BENCH_REPS must be > 0"
[ "$(id -u)" = 0 ] || die "run as root (creates a Debian cluster, reads /proc/<backend pid>/status)"
gn_flux_on() { [ "$BENCH_SKIP_GN_FLUX" != 1 ]; }

RUN_DIR="$(mktemp -d /tmp/gn_flux_bench.XXXXXX)"
STARTED_CLUSTER=0
cleanup() {
  local rc=$? f pid
  for f in "$RUN_DIR"/*.pid; do
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
  done
  if [ "$STARTED_CLUSTER" = 1 ] && [ "$BENCH_KEEP_CLUSTER" != 1 ]; then
    stop_cluster "$CLUSTER" || true
  fi
  rm -rf "$RUN_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "Debian packages and Rust"
ensure_packages
ensure_rust

if gn_flux_on; then
  bench_install_gn_flux
fi

step "Python venv with gn2pg-client ${GN2PG_VERSION} ($VENV)"
ensure_gn2pg_venv "$VENV"

step "Cluster ${PG_MAJOR}/${CLUSTER} (port ${BENCH_PG_PORT})"
ensure_cluster "$CLUSTER" "$BENCH_PG_PORT"
[ "$(cluster_port "$CLUSTER")" = "$BENCH_PG_PORT" ] ||
  die "cluster ${PG_MAJOR}/${CLUSTER} listens on port $(cluster_port "$CLUSTER"), expected ${BENCH_PG_PORT}"
CONF="/etc/postgresql/${PG_MAJOR}/${CLUSTER}/conf.d/90-gn_flux.conf"
mkdir -p "$(dirname "$CONF")"
{
  echo "# Written by gn_flux bench/pull_vs_gn2pg.sh"
  if gn_flux_on; then
    echo "shared_preload_libraries = 'gn_flux'"
  else
    echo "# BENCH_SKIP_GN_FLUX=1: gn_flux not preloaded"
  fi
} >"$CONF"
chmod 644 "$CONF"
STARTED_CLUSTER=1
bench_start_cluster "$CLUSTER" "$BENCH_PG_PORT"

step "Database ${BENCH_DB}, role bench"
bench_role_and_database "$CLUSTER"
psql_as_postgres "$CLUSTER" "$BENCH_DB" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS postgis;
DROP SCHEMA IF EXISTS gn2pg_import CASCADE;
SQL
if gn_flux_on; then
  # A fresh gn_flux schema every run: the installed version, empty staging tables.
  psql_as_postgres "$CLUSTER" "$BENCH_DB" <<'SQL'
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS gn_flux CASCADE;
CREATE EXTENSION gn_flux;
SELECT gn_flux.version();
SQL
fi

step "GeoNature stand-ins"
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  echo "building the stand-in in $ROOT/target (set CARGO_TARGET_DIR to build elsewhere)"
fi
port_free() { ! curl -fsS --noproxy '*' -o /dev/null "http://127.0.0.1:$1/_control/state" 2>/dev/null; }
port_free "$BENCH_GN_PORT" || die "something already answers on 127.0.0.1:${BENCH_GN_PORT} (a stand-in left running?)"
start_fake_geonature "$RUN_DIR/gn.pid" "$RUN_DIR/gn.log" "$BENCH_GN_PORT" "$BENCH_ROWS" 42
echo "stand-in: ${BENCH_ROWS} rows on http://127.0.0.1:${BENCH_GN_PORT}/geonature (pid $(cat "$RUN_DIR/gn.pid"))"
if gn_flux_on && [ "$BENCH_MEMORY_ROWS" -gt 0 ]; then
  port_free "$BENCH_MEM_GN_PORT" || die "something already answers on 127.0.0.1:${BENCH_MEM_GN_PORT}"
  # Seed 43: other uuids than the first stand-in (data_json.uuid is unique across sources).
  start_fake_geonature "$RUN_DIR/gn_mem.pid" "$RUN_DIR/gn_mem.log" "$BENCH_MEM_GN_PORT" "$BENCH_MEMORY_ROWS" 43
  echo "stand-in: ${BENCH_MEMORY_ROWS} rows on http://127.0.0.1:${BENCH_MEM_GN_PORT}/geonature (pid $(cat "$RUN_DIR/gn_mem.pid"))"
fi

step "Benchmark: ${BENCH_ROWS} rows, BENCH_REPS=${BENCH_REPS}"
suffix=""
gn_flux_on || suffix="-gn2pg-only"
REPORT="$RESULTS/pull-$(date +%F)${suffix}.md"
commit="$(bench_repo_commit)"
export BENCH_REPO_COMMIT="$commit" BENCH_COMMAND_LINE="$COMMAND_LINE"
export NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost"
"$VENV/bin/python" "$BENCH_DIR/pull_vs_gn2pg.py" "$REPORT"

step "Done: $REPORT"
