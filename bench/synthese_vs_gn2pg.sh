#!/usr/bin/env bash
# GeoNature load benchmark: a full pull into gn_synthese.synthese with gn_flux's load
# (enable_synthese) against GN2PG 1.10.1 with its own to_gnsynthese triggers, and against the
# floor (gn_flux's pull alone plus one plain set-based INSERT … SELECT into the Synthese); then an
# update pull after 0.5 % of changes, with and without the load. Side by side in one run, on the
# same PostgreSQL cluster and the same GeoNature stand-in, every repetition on fresh databases
# holding the GeoNature 2.17 fixture (tests/fixtures/geonature/). Prints a markdown report and
# writes it to bench/results/synthese-<date>.md (raw values next to it, .json).
#
#   bench/synthese_vs_gn2pg.sh                                   # 100,000 rows, 3 repetitions
#   BENCH_ROWS=5000 BENCH_REPS=1 bench/synthese_vs_gn2pg.sh      # quick check
#   BENCH_SKIP_GN2PG=1 bench/synthese_vs_gn2pg.sh                # gn_flux and the floor only
#
# Environment (see bench/README.md):
#   BENCH_ROWS=100000            rows served by the stand-in (ROWS is accepted too)
#   BENCH_REPS=3                 repetitions (REPS is accepted too); the order of the tools rotates
#   BENCH_GN2PG_THREADS=1        gn2pg [tuning] nb_threads
#   BENCH_SKIP_GN2PG=1           leave GN2PG out (its full load takes minutes per 100,000 rows)
#   BENCH_MUTATE_{UPDATE,INSERT,DELETE}_PERMILLE=3,1,1   the change before the update pulls
#   GN_FLUX_BENCH_SKIP_INSTALL=1 use the gn_flux already installed (no build, no install)
#   GN_FLUX_BENCH_PROFILE=release|debug   how gn_flux is built and installed (default release)
#   BENCH_KEEP_CLUSTER=1         leave the cluster 15/gnflux_bench (and the last databases) running
#   CARGO_TARGET_DIR             where the stand-in (and gn_flux) are built
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"
COMMAND_LINE="$(bench_command_line synthese_vs_gn2pg.sh "$@")"
# ROWS / REPS are accepted as short names of BENCH_ROWS / BENCH_REPS (BENCH_* wins).
if [ -n "${REPS:-}" ]; then COMMAND_LINE="REPS=$REPS $COMMAND_LINE"; fi
if [ -n "${ROWS:-}" ]; then COMMAND_LINE="ROWS=$ROWS $COMMAND_LINE"; fi
export BENCH_ROWS="${BENCH_ROWS:-${ROWS:-100000}}"
export BENCH_REPS="${BENCH_REPS:-${REPS:-3}}"

export BENCH_SKIP_GN2PG="${BENCH_SKIP_GN2PG:-0}"
GN_FLUX_BENCH_SKIP_INSTALL="${GN_FLUX_BENCH_SKIP_INSTALL:-0}"
GN_FLUX_BENCH_PROFILE="${GN_FLUX_BENCH_PROFILE:-release}"
BENCH_KEEP_CLUSTER="${BENCH_KEEP_CLUSTER:-0}"

CLUSTER=gnflux_bench
export BENCH_PG_PORT=54330
export BENCH_PG_SOCKET_DIR="$PG_SOCKET_DIR"
export BENCH_PSQL="${PG_BIN}/psql"
# The databases of one repetition (dropped and created again by every repetition).
export BENCH_DB_FLUX=gn_bench_syn_flux BENCH_DB_FLOOR=gn_bench_syn_floor BENCH_DB_GN2PG=gn_bench_syn_gn2pg
# Not the ports of bench/pull_vs_gn2pg.sh (18791, 18792).
export BENCH_GN_PORT=18793
VENV="$ROOT/.venv"
RESULTS="$BENCH_DIR/results"
FIXTURE_SRC="$ROOT/tests/fixtures/geonature"
export BENCH_GN2PG_ADAPT="$ROOT/tests/fixtures/gn2pg/adapt_to_gnsynthese.sh"

case "$GN_FLUX_BENCH_PROFILE" in release | debug) ;; *) die "GN_FLUX_BENCH_PROFILE must be release or debug" ;; esac
for n in BENCH_ROWS BENCH_REPS; do
  [[ "${!n}" =~ ^[0-9]+$ ]] || die "$n must be a non-negative integer (got '${!n}')"
done
[ "$BENCH_ROWS" -gt 0 ] && [ "$BENCH_REPS" -gt 0 ] || die "BENCH_ROWS and BENCH_REPS must be > 0"
[ "$(id -u)" = 0 ] || die "run as root (creates a Debian cluster, runs psql as postgres)"
[ -f "$FIXTURE_SRC/load.sql" ] || die "the GeoNature fixture is missing: $FIXTURE_SRC/load.sql"
[ -f "$BENCH_GN2PG_ADAPT" ] || die "missing $BENCH_GN2PG_ADAPT"

RUN_DIR="$(mktemp -d /tmp/gn_flux_bench_syn.XXXXXX)"
STARTED_CLUSTER=0
cleanup() {
  local rc=$? f pid db
  for f in "$RUN_DIR"/*.pid; do
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
  done
  if [ "$STARTED_CLUSTER" = 1 ] && [ "$BENCH_KEEP_CLUSTER" != 1 ]; then
    # The databases are large (three copies of the load per repetition): drop them.
    if [ "$(cluster_status "$CLUSTER")" = online ]; then
      for db in "$BENCH_DB_FLUX" "$BENCH_DB_FLOOR" "$BENCH_DB_GN2PG"; do
        psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
      done
    fi
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

bench_install_gn_flux

step "Python venv with gn2pg-client ${GN2PG_VERSION} ($VENV)"
ensure_gn2pg_venv "$VENV"
# GN2PG's trigger script, from the installed package (the file gn2pg_cli --custom-script reads).
BENCH_GN2PG_SCRIPT="$(gn2pg_to_gnsynthese "$VENV")"
export BENCH_GN2PG_SCRIPT
echo "GN2PG triggers: $BENCH_GN2PG_SCRIPT"

step "GeoNature fixture (copied where postgres can read it)"
# The checkout may be unreadable for postgres (scripts/lib.sh, pitfall 14): psql -f runs as postgres.
chmod 755 "$RUN_DIR"
mkdir -p "$RUN_DIR/fixture"
cp -R "$FIXTURE_SRC" "$RUN_DIR/fixture/geonature"
chmod -R a+rX "$RUN_DIR/fixture"
export BENCH_FIXTURE_DIR="$RUN_DIR/fixture/geonature"
runuser -u postgres -- test -r "$BENCH_FIXTURE_DIR/load.sql" || die "postgres cannot read $BENCH_FIXTURE_DIR/load.sql"
echo "fixture: $BENCH_FIXTURE_DIR"

step "Cluster ${PG_MAJOR}/${CLUSTER} (port ${BENCH_PG_PORT})"
ensure_cluster "$CLUSTER" "$BENCH_PG_PORT"
[ "$(cluster_port "$CLUSTER")" = "$BENCH_PG_PORT" ] ||
  die "cluster ${PG_MAJOR}/${CLUSTER} listens on port $(cluster_port "$CLUSTER"), expected ${BENCH_PG_PORT}"
CONF="/etc/postgresql/${PG_MAJOR}/${CLUSTER}/conf.d/90-gn_flux.conf"
mkdir -p "$(dirname "$CONF")"
{
  echo "# Written by gn_flux bench/synthese_vs_gn2pg.sh"
  echo "shared_preload_libraries = 'gn_flux'"
  # The repetitions load 100,000-row Synthese tables into three databases of one cluster on a
  # 2-core machine: autovacuum waking up on the database just filled competes with the next
  # timed run (a first run measured 1.10x then 1.64x depending on the order). Off for every tool
  # alike; gn_flux and GeoNature's triggers get their statistics from explicit ANALYZEs.
  echo "autovacuum = off"
} >"$CONF"
chmod 644 "$CONF"
STARTED_CLUSTER=1
bench_start_cluster "$CLUSTER" "$BENCH_PG_PORT"

step "Role bench"
# (also makes the database gn_bench of the other benchmarks; this one uses its own databases)
bench_role_and_database "$CLUSTER"

step "GeoNature stand-in"
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  echo "building the stand-in in $ROOT/target (set CARGO_TARGET_DIR to build elsewhere)"
fi
port_free() { ! curl -fsS --noproxy '*' -o /dev/null "http://127.0.0.1:$1/_control/state" 2>/dev/null; }
port_free "$BENCH_GN_PORT" || die "something already answers on 127.0.0.1:${BENCH_GN_PORT} (a stand-in left running?)"
start_fake_geonature "$RUN_DIR/gn.pid" "$RUN_DIR/gn.log" "$BENCH_GN_PORT" "$BENCH_ROWS" 42
echo "stand-in: ${BENCH_ROWS} rows on http://127.0.0.1:${BENCH_GN_PORT}/geonature (pid $(cat "$RUN_DIR/gn.pid"))"

step "Benchmark: ${BENCH_ROWS} rows, BENCH_REPS=${BENCH_REPS}"
suffix=""
[ "$BENCH_SKIP_GN2PG" != 1 ] || suffix="-no-gn2pg"
REPORT="$RESULTS/synthese-$(date +%F)${suffix}.md"
commit="$(bench_repo_commit)"
export BENCH_REPO_COMMIT="$commit" BENCH_COMMAND_LINE="$COMMAND_LINE"
export NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost"
"$VENV/bin/python" "$BENCH_DIR/synthese_vs_gn2pg.py" "$REPORT"

step "Done: $REPORT"
