#!/usr/bin/env bash
# Export benchmark: gn_flux.export_to_file() against GDAL's ogr2ogr, side by side, from the same
# 1,000,000-row PostGIS view to the same formats (gpkg, csv), on one PostgreSQL cluster. Prints a
# markdown report and writes it to bench/results/export-<date>.md (raw values in .json).
#
#   bench/export_vs_ogr2ogr.sh                                   # 1,000,000 rows, 3 repetitions
#   BENCH_EXPORT_ROWS=50000 BENCH_REPS=1 bench/export_vs_ogr2ogr.sh   # quick check
#
# Environment (see bench/README.md):
#   BENCH_EXPORT_ROWS=1000000    rows of the exported view
#   BENCH_REPS=3                 repetitions (the tool going first alternates)
#   GN_FLUX_BENCH_SKIP_INSTALL=1 use the gn_flux already installed (no build, no install)
#   GN_FLUX_BENCH_PROFILE=release|debug   how gn_flux is built and installed (default release)
#   BENCH_KEEP_CLUSTER=1         leave the cluster 15/gnflux_bench running at the end
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"
# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"
COMMAND_LINE="$(bench_command_line export_vs_ogr2ogr.sh "$@")"

export BENCH_EXPORT_ROWS="${BENCH_EXPORT_ROWS:-1000000}"
export BENCH_REPS="${BENCH_REPS:-3}"
BENCH_KEEP_CLUSTER="${BENCH_KEEP_CLUSTER:-0}"
CLUSTER=gnflux_bench
export BENCH_PG_PORT=54330
export BENCH_DB=gn_bench
VENV="$ROOT/.venv"
RESULTS="$BENCH_DIR/results"

for n in BENCH_EXPORT_ROWS BENCH_REPS; do
  [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || die "$n must be a positive integer (got '${!n}')"
done
[ "$(id -u)" = 0 ] || die "run as root (creates a Debian cluster, reads /proc/<pid>/status)"

export BENCH_OUT_DIR
BENCH_OUT_DIR="$(mktemp -d /tmp/gn_flux_export_bench.XXXXXX)"
chown postgres:postgres "$BENCH_OUT_DIR"
STARTED_CLUSTER=0
cleanup() {
  local rc=$?
  if [ "$STARTED_CLUSTER" = 1 ]; then
    psql_as_postgres "$CLUSTER" postgres -c "ALTER SYSTEM RESET gn_flux.export_directory" >/dev/null 2>&1 || true
    [ "$BENCH_KEEP_CLUSTER" = 1 ] || stop_cluster "$CLUSTER" || true
  fi
  rm -rf "$BENCH_OUT_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "Debian packages (gdal-bin for ogr2ogr) and Rust"
ensure_packages
ensure_rust
bench_install_gn_flux

step "Python venv with psycopg2 ($VENV)"
bench_python_venv "$VENV"

step "Cluster ${PG_MAJOR}/${CLUSTER} (port ${BENCH_PG_PORT})"
ensure_cluster "$CLUSTER" "$BENCH_PG_PORT"
CONF="/etc/postgresql/${PG_MAJOR}/${CLUSTER}/conf.d/90-gn_flux.conf"
mkdir -p "$(dirname "$CONF")"
printf '# Written by gn_flux bench/export_vs_ogr2ogr.sh\nshared_preload_libraries = %s\n' "'gn_flux'" >"$CONF"
chmod 644 "$CONF"
STARTED_CLUSTER=1
bench_start_cluster "$CLUSTER" "$BENCH_PG_PORT"
bench_role_and_database "$CLUSTER"
psql_as_postgres "$CLUSTER" postgres -c "ALTER SYSTEM SET gn_flux.export_directory = '$BENCH_OUT_DIR'" -c "SELECT pg_reload_conf()" >/dev/null
psql_as_postgres "$CLUSTER" "$BENCH_DB" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS postgis;
DROP EXTENSION IF EXISTS gn_flux CASCADE;
CREATE EXTENSION gn_flux;
SELECT gn_flux.version();
SQL

step "Benchmark: ${BENCH_EXPORT_ROWS} rows, BENCH_REPS=${BENCH_REPS}"
REPORT="$RESULTS/export-$(date +%F).md"
commit="$(bench_repo_commit)"
export BENCH_REPO_COMMIT="$commit" BENCH_COMMAND_LINE="$COMMAND_LINE"
"$VENV/bin/python" "$BENCH_DIR/export_vs_ogr2ogr.py" "$REPORT"
step "Done: $REPORT"
