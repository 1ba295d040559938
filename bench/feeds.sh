#!/usr/bin/env bash
# Other flows: a WFS layer pulled into staging by gn_flux against GDAL's ogr2ogr copying the same
# WFS into PostGIS (what a DBA would use today), both from MapServer 8 on loopback, with the floor
# (a bare HTTP walk of the same pages, no parsing, no database); then API POST throughput (batches
# of 1,000 observations loaded into the GeoNature 2.17 fixture through the API workers) with the
# workers' memory. One run each. Writes bench/results/feeds-<date>.md (and .json).
#
#   bench/feeds.sh                                   # 100,000 features, 50 batches of 1,000
#   BENCH_FEATURES=20000 BENCH_POST_BATCHES=10 bench/feeds.sh     # quick
#
# Environment: BENCH_FEATURES (100000), BENCH_POST_BATCHES (50), BENCH_POST_BATCH (1000),
#   GN_FLUX_BENCH_SKIP_INSTALL=1, GN_FLUX_BENCH_PROFILE=release|debug, BENCH_KEEP_CLUSTER=1.
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"
# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"
COMMAND_LINE="$(bench_command_line feeds.sh "$@")"
export BENCH_FEATURES="${BENCH_FEATURES:-100000}" BENCH_POST_BATCHES="${BENCH_POST_BATCHES:-50}"
export BENCH_POST_BATCH="${BENCH_POST_BATCH:-1000}"
BENCH_KEEP_CLUSTER="${BENCH_KEEP_CLUSTER:-0}"
CLUSTER=gnflux_bench
export BENCH_PG_PORT=54330 BENCH_DB=gn_bench_feeds BENCH_API_PORT=18797 BENCH_MS_PORT=18798
VENV="$ROOT/.venv"
CONF="/etc/postgresql/${PG_MAJOR}/${CLUSTER}/conf.d/90-gn_flux.conf"
HBA="/etc/postgresql/${PG_MAJOR}/${CLUSTER}/pg_hba.conf"
MS_DIR="/tmp/gn_flux_bench_ms.$$"
STARTED_CLUSTER=0
for n in BENCH_FEATURES BENCH_POST_BATCHES BENCH_POST_BATCH; do
  [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || die "$n must be a positive integer (got '${!n}')"
done

cleanup() {
  local rc=$?
  bash "$ROOT/tests/e2e/mapserver/stop.sh" "$MS_DIR" >/dev/null 2>&1 || true
  rm -rf "$MS_DIR"
  [ -f "$HBA" ] && sed -i '/# gn_flux feeds bench$/d' "$HBA"
  if [ "$STARTED_CLUSTER" = 1 ] && [ "$BENCH_KEEP_CLUSTER" != 1 ]; then
    psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" >/dev/null 2>&1 || true
    stop_cluster "$CLUSTER" || true
    rm -f "$CONF"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
[ "$(id -u)" = 0 ] || die "run as root (MapServer's global config, a Debian cluster, /proc/<pid>/status)"

step "Debian packages (MapServer 8, GDAL) and Rust"
ensure_packages
[ "${GN_FLUX_BENCH_SKIP_INSTALL:-0}" = 1 ] || ensure_rust
bench_install_gn_flux
bench_python_venv "$VENV"

step "Cluster ${PG_MAJOR}/${CLUSTER} (port ${BENCH_PG_PORT}), API workers on 127.0.0.1:${BENCH_API_PORT}, the GeoNature fixture"
STARTED_CLUSTER=1
bench_serve_cluster "$CLUSTER" "$BENCH_PG_PORT" "$BENCH_API_PORT" "$BENCH_DB" feeds.sh
FIXTURE="$(mktemp -d /tmp/gn_flux_bench_fixture.XXXXXX)"
cp -r "$ROOT/tests/fixtures/geonature/." "$FIXTURE/"
chmod -R a+rX "$FIXTURE"
psql_as_postgres "$CLUSTER" "$BENCH_DB" -f "$FIXTURE/load.sql" >/dev/null
rm -rf "$FIXTURE"

step "A ${BENCH_FEATURES}-feature layer behind MapServer 8 on 127.0.0.1:${BENCH_MS_PORT}"
psql_as_postgres "$CLUSTER" "$BENCH_DB" -v table=obs_ms -v n="$BENCH_FEATURES" -f "$ROOT/tests/e2e/mapserver/layer.sql" >/dev/null
psql_as_postgres "$CLUSTER" "$BENCH_DB" >/dev/null <<'SQL'
SELECT 'CREATE ROLE gn_flux_ms LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gn_flux_ms') \gexec
GRANT SELECT ON obs_ms TO gn_flux_ms;
SQL
sed -i "1i local ${BENCH_DB} gn_flux_ms trust # gn_flux feeds bench" "$HBA"
psql_as_postgres "$CLUSTER" postgres -c "SELECT pg_reload_conf()" >/dev/null
bash "$ROOT/tests/e2e/mapserver/start.sh" "$MS_DIR" "$PG_SOCKET_DIR" "$BENCH_PG_PORT" "$BENCH_DB" gn_flux_ms obs_ms "$BENCH_MS_PORT"

step "Benchmark"
export BENCH_COMMIT="$(bench_repo_commit)" BENCH_COMMAND="$COMMAND_LINE" GN_FLUX_BENCH_PROFILE="${GN_FLUX_BENCH_PROFILE:-release}"
if [ "${GN_FLUX_BENCH_SKIP_INSTALL:-0}" = 1 ]; then
  export BENCH_GN_FLUX_BUILD="$(bench_installed_build)"
else
  export BENCH_GN_FLUX_BUILD="$GN_FLUX_BENCH_PROFILE"
fi
export NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost" PYTHONDONTWRITEBYTECODE=1
REPORT="$BENCH_DIR/results/feeds-$(date +%F).md"
"$VENV/bin/python" "$BENCH_DIR/feeds.py" "$REPORT"
step "Done: $REPORT"
