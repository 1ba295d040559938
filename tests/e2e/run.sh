#!/usr/bin/env bash
# Layers 3 and 4 of scripts/test, run after gn_flux is installed into PostgreSQL 15:
#   - SQL golden tests (pg_regress, tests/pg_regress/{sql,expected}) in a dedicated Debian
#     cluster that does NOT preload gn_flux (plain CREATE EXTENSION), then in the same cluster
#     preloading gn_flux and pg_cron; the expected output is the same in both modes;
#   - end-to-end checks of both load modes and of the GeoNature stand-in binary on 127.0.0.1.
# Usage: tests/e2e/run.sh CLUSTER PORT
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
CLUSTER=${1:?cluster name}
PORT=${2:?port}
REGRESS_DB=gn_flux_regress
CRON_DB=gn_flux_cron
PG_REGRESS="$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress"
WORK="$(mktemp -d /tmp/gn_flux-e2e.XXXXXX)"
chmod 755 "$WORK"
FAKE_PORT=${GN_FLUX_TEST_FAKE_PORT:-18790}

cleanup() {
  if [ -f "$WORK/fake.pid" ]; then kill "$(cat "$WORK/fake.pid")" 2>/dev/null || true; fi
  stop_cluster "$CLUSTER" || true
  rm -f "/etc/postgresql/${PG_MAJOR}/${CLUSTER}/conf.d/91-gn_flux-api.conf"
  [ -n "${GN_FLUX_KEEP_E2E:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

run_regress() { # label
  reset_fake
  local out="$WORK/regress-$1"
  mkdir -p "$out"
  cp -r "$ROOT/tests/pg_regress/sql" "$ROOT/tests/pg_regress/expected" "$out/"
  chown -R postgres:postgres "$out"
  local tests
  tests="$(cd "$out/sql" && ls -1 ./*.sql | sed 's|^\./||; s|\.sql$||' | sort | tr '\n' ' ')"
  psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE IF EXISTS $REGRESS_DB" -c "CREATE DATABASE $REGRESS_DB"
  # shellcheck disable=SC2086
  if ! (cd "$out" && runuser -u postgres -- "$PG_REGRESS" --use-existing --host="$PG_SOCKET_DIR" --port="$PORT" \
        --dbname="$REGRESS_DB" --inputdir="$out" --outputdir="$out" --bindir="$PG_BIN" $tests); then
    echo "---- regression.diffs ($1) ----"
    cat "$out/regression.diffs" 2>/dev/null || true
    die "SQL golden tests failed ($1)"
  fi
}

expect_eq() { # what got want
  if [ "$2" != "$3" ]; then die "$1: got '$2', want '$3'"; fi
  echo "ok - $1"
}

step "GeoNature stand-in (the golden tests pull from it) on 127.0.0.1:${FAKE_PORT}"
start_fake_geonature "$WORK/fake.pid" "$WORK/fake.log" "$FAKE_PORT" 2000 42
reset_fake() { curl -fsS -X POST "http://127.0.0.1:${FAKE_PORT}/_control/reset" >/dev/null; }

step "Dedicated test cluster ${PG_MAJOR}/${CLUSTER} on port ${PORT}"
ensure_cluster "$CLUSTER" "$PORT"
stop_cluster "$CLUSTER"
# An interrupted earlier run may have left its export directory in postgresql.auto.conf.
sed -i '/^\(gn_flux\.\|log_statement\|log_min_error_statement\)/d' "/var/lib/postgresql/${PG_MAJOR}/${CLUSTER}/postgresql.auto.conf" 2>/dev/null || true
rm -f "/etc/postgresql/${PG_MAJOR}/${CLUSTER}/conf.d/91-gn_flux-api.conf"

step "Mode 1: gn_flux NOT preloaded (plain CREATE EXTENSION)"
configure_cluster "$CLUSTER" no ""
start_cluster "$CLUSTER"
# Databases an interrupted run of the Serve step may have left (their objects would keep the
# test roles from being dropped and created again).
psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE IF EXISTS gn_flux_serve WITH (FORCE)" \
  -c "DROP DATABASE IF EXISTS gn_flux_serve_node WITH (FORCE)" >/dev/null 2>&1
run_regress not-preloaded
psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE IF EXISTS gn_flux_e2e" -c "CREATE DATABASE gn_flux_e2e"
got="$(psql_as_postgres "$CLUSTER" gn_flux_e2e -At -c "CREATE EXTENSION gn_flux CASCADE" -c "SELECT gn_flux._loaded_from_preload()")"
expect_eq "not preloaded: CREATE EXTENSION gn_flux CASCADE loads the library in a plain backend" "$got" "f"
got="$(psql_as_postgres "$CLUSTER" gn_flux_e2e -At -c "SELECT gn_flux.version() LIKE 'gn_flux 0.2.0 (commit %)'")"
expect_eq "not preloaded: gn_flux.version()" "$got" "t"

step "Mode 2: gn_flux and pg_cron preloaded (shared_preload_libraries)"
configure_cluster "$CLUSTER" yes "$CRON_DB"
psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE IF EXISTS $CRON_DB" -c "CREATE DATABASE $CRON_DB"
start_cluster "$CLUSTER"
run_regress preloaded
got="$(psql_as_postgres "$CLUSTER" gn_flux_e2e -At -c "SELECT gn_flux._loaded_from_preload()")"
expect_eq "preloaded: the library comes from shared_preload_libraries" "$got" "t"
got="$(psql_as_postgres "$CLUSTER" gn_flux_e2e -At -c "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings WHERE name LIKE 'gn_flux.api_%' AND context = 'postmaster'")"
expect_eq "preloaded: the API workers' postmaster settings (off by default)" "$got" "gn_flux.api_database= gn_flux.api_listen= gn_flux.api_workers=2"
got="$(psql_as_postgres "$CLUSTER" "$CRON_DB" -At \
  -c "CREATE EXTENSION pg_cron" -c "CREATE EXTENSION gn_flux CASCADE" \
  -c "SELECT cron.schedule('gn_flux-e2e', '*/5 * * * *', 'SELECT gn_flux.version()') > 0" \
  -c "SELECT cron.unschedule('gn_flux-e2e')")"
expect_eq "preloaded: pg_cron and gn_flux side by side" "$(echo "$got" | tr '\n' ' ')" "t t "

step "Multi-session end-to-end tests (cancel, statement_timeout, concurrent pulls)"
psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE IF EXISTS gn_flux_e2e" -c "CREATE DATABASE gn_flux_e2e" \
  -c "DROP ROLE IF EXISTS gn_flux_e2e" -c "CREATE ROLE gn_flux_e2e LOGIN SUPERUSER PASSWORD 'gn_flux_e2e'"
psql_as_postgres "$CLUSTER" gn_flux_e2e -c "CREATE EXTENSION gn_flux CASCADE"
(cd "$ROOT" && GN_FLUX_E2E_DSN="host=127.0.0.1 port=${PORT} user=gn_flux_e2e password=gn_flux_e2e dbname=gn_flux_e2e" \
  cargo test -p gn_flux_e2e --test sessions -- --test-threads=1 --show-output)
# pull scenarios; the schedule test runs in the database pg_cron runs in
(cd "$ROOT" && GN_FLUX_E2E_DSN="host=127.0.0.1 port=${PORT} user=gn_flux_e2e password=gn_flux_e2e dbname=gn_flux_e2e" \
  GN_FLUX_E2E_CRON_DSN="host=127.0.0.1 port=${PORT} user=gn_flux_e2e password=gn_flux_e2e dbname=${CRON_DB}" \
  cargo test -p gn_flux_e2e --test pull -- --test-threads=1)
psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE gn_flux_e2e"

# (load.sql includes its parts with \ir: copied where the postgres OS user may read them)
cp -r "$ROOT/tests/fixtures/geonature" "$WORK/geonature-fixture"
chmod -R a+rX "$WORK/geonature-fixture"
geonature_db() { # name: a new database with PostGIS, the GeoNature 2.17 fixture and gn_flux
  psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
  psql_as_postgres "$CLUSTER" "$1" -c "CREATE EXTENSION postgis" >/dev/null
  psql_as_postgres "$CLUSTER" "$1" -f "$WORK/geonature-fixture/load.sql" >/dev/null
  psql_as_postgres "$CLUSTER" "$1" -c "CREATE EXTENSION gn_flux" >/dev/null
}

step "GeoNature load: pulls into the GeoNature 2.17 fixture, compared with expectations computed from the items"
geonature_db gn_flux_synthese
(cd "$ROOT" && GN_FLUX_E2E_SYNTHESE_DSN="host=127.0.0.1 port=${PORT} user=gn_flux_e2e password=gn_flux_e2e dbname=gn_flux_synthese" \
  cargo test -p gn_flux_e2e --test synthese -- --test-threads=1)
psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE gn_flux_synthese"

step "GN2PG's own to_gnsynthese.sql (gn2pg-client ${GN2PG_VERSION}) installed on gn_flux's staging tables"
GN2PG_VENV="${GN_FLUX_GN2PG_VENV:-$ROOT/.venv}"
ensure_gn2pg_venv "$GN2PG_VENV"
geonature_db gn_flux_gn2pg
cp -r "$ROOT/tests/fixtures/gn2pg" "$WORK/gn2pg-fixture"
bash "$ROOT/tests/fixtures/gn2pg/adapt_to_gnsynthese.sh" "$(gn2pg_to_gnsynthese "$GN2PG_VENV")" gn_flux >"$WORK/gn2pg-fixture/to_gnsynthese_gn_flux.sql"
chmod -R a+rX "$WORK/gn2pg-fixture"
psql_as_postgres "$CLUSTER" gn_flux_gn2pg -1 -f "$WORK/gn2pg-fixture/to_gnsynthese_gn_flux.sql" >/dev/null 2>&1 ||
  psql_as_postgres "$CLUSTER" gn_flux_gn2pg -1 -f "$WORK/gn2pg-fixture/to_gnsynthese_gn_flux.sql"
echo "ok - GN2PG's script installs on schema gn_flux with only its schema name changed"
# rows staged as GN2PG writes them (metadata + data), then UPDATE and DELETE: its triggers act
psql_as_postgres "$CLUSTER" gn_flux_gn2pg -f "$WORK/gn2pg-fixture/staged_sample.sql" -f "$WORK/gn2pg-fixture/expected.sql" 2>&1 |
  grep -o 'ok - .*'
# a gn_flux pull feeds GN2PG's triggers: full, then an update pull with changes and deletions
reset_fake
got="$(psql_as_postgres "$CLUSTER" gn_flux_gn2pg -At >/dev/null <<SQL
SET gn_flux.progress_notices = off;
SELECT gn_flux.add_source('gn2pg_src', 'http://127.0.0.1:${FAKE_PORT}/geonature', 1, login => 'admin', password => 'admin',
       query_strings => '{"cd_nom": 61098}', page_size => 200);
SELECT status FROM gn_flux.pull_source('gn2pg_src');
SQL
)"
synthese_of_gn2pg_src="SELECT (SELECT count(*) FROM gn_flux.data_json WHERE source = 'gn2pg_src') || ' ' ||
  (SELECT count(*) FROM gn_synthese.synthese s JOIN gn_synthese.t_sources t USING (id_source) WHERE t.name_source = 'gn2pg_src')
  || ' ' || (SELECT count(*) FROM gn_synthese.synthese s JOIN gn_flux.data_json d ON d.uuid = s.unique_id_sinp
              WHERE d.source = 'gn2pg_src' AND s.cd_nom = 61098 AND s.entity_source_pk_value = d.id_data::text)"
got="$(psql_as_postgres "$CLUSTER" gn_flux_gn2pg -At -c "$synthese_of_gn2pg_src")"
read -r staged loaded matching <<<"$got"
[ "$staged" -gt 20 ] && [ "$loaded" = "$staged" ] && [ "$matching" = "$staged" ] ||
  die "GN2PG's triggers after a gn_flux full pull: staged $staged, in the Synthese $loaded, matching $matching"
echo "ok - a gn_flux full pull feeds GN2PG's triggers: $loaded observations in the Synthese"
curl -fsS -X POST -H 'Content-Type: application/json' -d '{"insert": 300, "update": 300, "delete": 300}' \
  "http://127.0.0.1:${FAKE_PORT}/_control/mutate" >/dev/null
got="$(psql_as_postgres "$CLUSTER" gn_flux_gn2pg -At -c "SET gn_flux.progress_notices = off" -c "SELECT status FROM gn_flux.pull_source('gn2pg_src')")"
expect_eq "update pull with GN2PG's triggers" "$got" "success"
got="$(psql_as_postgres "$CLUSTER" gn_flux_gn2pg -At -c "$synthese_of_gn2pg_src")"
read -r staged2 loaded2 matching2 <<<"$got"
[ "$loaded2" = "$staged2" ] && [ "$matching2" = "$staged2" ] ||
  die "GN2PG's triggers after an update pull: staged $staged2, in the Synthese $loaded2, matching $matching2 (before: $staged)"
echo "ok - an update pull (inserts, updates, deletions) keeps GN2PG's Synthese in step: $loaded2 observations"
psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE gn_flux_gn2pg"

step "Serve I: the API workers answer GeoNature's export API (pages, auth, tokens, deletions, files, robustness, node to node, gn2pg-client)"
API_PORT=${GN_FLUX_TEST_API_PORT:-18795}
API_CONF="/etc/postgresql/${PG_MAJOR}/${CLUSTER}/conf.d/91-gn_flux-api.conf"
cat >"$API_CONF" <<CONF
gn_flux.api_listen = '127.0.0.1:${API_PORT}'
gn_flux.api_database = 'gn_flux_serve'
gn_flux.api_workers = 2
CONF
chmod 644 "$API_CONF"
psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE IF EXISTS gn_flux_serve" -c "CREATE DATABASE gn_flux_serve" \
  -c "DROP DATABASE IF EXISTS gn_flux_serve_node" -c "CREATE DATABASE gn_flux_serve_node" >/dev/null
psql_as_postgres "$CLUSTER" gn_flux_serve -c "CREATE EXTENSION gn_flux CASCADE" >/dev/null
psql_as_postgres "$CLUSTER" gn_flux_serve_node -c "CREATE EXTENSION gn_flux CASCADE" >/dev/null
start_cluster "$CLUSTER"
for i in $(seq 1 100); do
  rc=0
  curl -fsS "http://127.0.0.1:${API_PORT}/geonature/api/exports/api/0" >/dev/null 2>&1 || rc=$?
  [ "$rc" = 22 ] && break  # an HTTP error status: the workers answer
  sleep 0.1
done
(cd "$ROOT" && GN_FLUX_E2E_SERVE_DSN="host=127.0.0.1 port=${PORT} user=gn_flux_e2e password=gn_flux_e2e dbname=gn_flux_serve" \
  GN_FLUX_E2E_SERVE_NODE_DSN="host=127.0.0.1 port=${PORT} user=gn_flux_e2e password=gn_flux_e2e dbname=gn_flux_serve_node" \
  GN_FLUX_E2E_SERVE_URL="http://127.0.0.1:${API_PORT}/geonature" \
  cargo test -p gn_flux_e2e --test serve -- --test-threads=1)
GN_FLUX_E2E_SERVE_PG="127.0.0.1 ${PORT} gn_flux_e2e gn_flux_e2e gn_flux_serve" \
  GN_FLUX_E2E_SERVE_URL="http://127.0.0.1:${API_PORT}/geonature" \
  "$GN2PG_VENV/bin/python" "$ROOT/tests/e2e/gn2pg_served.py" "$ROOT/tests/e2e/served_fixture.sql"

step "Serve II: OGC API – Features (GDAL's OAPIF driver, PostGIS-checked filters and CRS), the OpenAPI document (validated), the web pages in headless Chromium"
OGC_VENV="${GN_FLUX_OGC_VENV:-$ROOT/.venv-ogc}"
ensure_ogc_venv "$OGC_VENV"
python3 "$ROOT/tests/e2e/browser_selftest.py"
GN_FLUX_E2E_SERVE_PG="127.0.0.1 ${PORT} gn_flux_e2e gn_flux_e2e gn_flux_serve" \
  GN_FLUX_E2E_SERVE_URL="http://127.0.0.1:${API_PORT}/geonature" \
  GN_FLUX_E2E_ARTIFACTS="${GN_FLUX_E2E_ARTIFACTS:-${CARGO_TARGET_DIR:-$ROOT/target}/e2e-artifacts}" \
  "$OGC_VENV/bin/python" "$ROOT/tests/e2e/ogc_served.py"

step "Other flows: WFS and OGC API from MapServer 8, JSON APIs and GBIF (stand-ins), gn_flux's own OGC API, mapping to the Synthese"
geonature_db gn_flux_feeds
psql_as_postgres "$CLUSTER" gn_flux_feeds -v table=obs_ms -v n=20000 -f "$ROOT/tests/e2e/mapserver/layer.sql" >/dev/null
# (the layer's taxa, and a TAXREF link for GBIF keys, in the fixture)
psql_as_postgres "$CLUSTER" gn_flux_feeds >/dev/null <<'SQL'
INSERT INTO taxonomie.taxref (cd_nom, cd_ref, id_rang, regne, lb_nom, nom_vern)
SELECT DISTINCT l.cd_nom, l.cd_nom, 'ES', 'Animalia', l.nom_cite, l.nom_cite FROM obs_ms l
 WHERE NOT EXISTS (SELECT 1 FROM taxonomie.taxref t WHERE t.cd_nom = l.cd_nom);
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gn_flux_ms') THEN CREATE ROLE gn_flux_ms LOGIN; END IF;
END $$;
GRANT SELECT ON obs_ms TO gn_flux_ms;
SQL
HBA="/etc/postgresql/${PG_MAJOR}/${CLUSTER}/pg_hba.conf"
# MapServer runs as nobody and connects over the socket without a password, to this database only
sed -i '1i local gn_flux_feeds gn_flux_ms trust # gn_flux feeds test' "$HBA"
psql_as_postgres "$CLUSTER" postgres -c "SELECT pg_reload_conf()" >/dev/null
MS_DIR="/tmp/gn_flux-mapserver.$$"
MS_PORT=${GN_FLUX_TEST_MS_PORT:-18812}
STANDINS_PORT=${GN_FLUX_TEST_STANDINS_PORT:-18813}
GBIF_RECORDS=${GN_FLUX_TEST_GBIF_RECORDS:-120500}
feeds_cleanup() {
  bash "$ROOT/tests/e2e/mapserver/stop.sh" "$MS_DIR" >/dev/null 2>&1 || true
  [ -n "${STANDINS_PID:-}" ] && kill "$STANDINS_PID" 2>/dev/null || true
  sed -i '/# gn_flux feeds test$/d' "$HBA"
}
bash "$ROOT/tests/e2e/mapserver/start.sh" "$MS_DIR" "$PG_SOCKET_DIR" "$PORT" gn_flux_feeds gn_flux_ms obs_ms "$MS_PORT"
python3 "$ROOT/tests/e2e/standins.py" --port "$STANDINS_PORT" --gbif-records "$GBIF_RECORDS" >"$WORK/standins.log" 2>&1 &
STANDINS_PID=$!
for i in $(seq 1 100); do grep -q ready "$WORK/standins.log" && break; sleep 0.1; done
rc=0
GN_FLUX_E2E_FEEDS_PG="127.0.0.1 ${PORT} gn_flux_e2e gn_flux_e2e gn_flux_feeds" \
  GN_FLUX_E2E_WFS="http://127.0.0.1:${MS_PORT}/cgi-bin/mapserv" \
  GN_FLUX_E2E_OGC_MS="http://127.0.0.1:${MS_PORT}/cgi-bin/mapserv/gnflux/ogcapi" \
  GN_FLUX_E2E_STANDINS="http://127.0.0.1:${STANDINS_PORT}" \
  GN_FLUX_E2E_SERVE_OGC="http://127.0.0.1:${API_PORT}/geonature/ogc" \
  GN_FLUX_E2E_GBIF_RECORDS="$GBIF_RECORDS" \
  "$OGC_VENV/bin/python" "$ROOT/tests/e2e/feeds.py" || rc=$?
feeds_cleanup
[ "$rc" = 0 ] || die "other flows: tests/e2e/feeds.py failed"

step "API POST: observations posted to an intake through the API workers, loaded into the GeoNature fixture; another GeoNature's v_synthese_sinp (labels) pulled as a JSON API"
# First, workers configured for a database without gn_flux wait for it quietly (one LOG line),
# without an ERROR every few seconds (they used to wait on a socket they did not have).
PG_LOG="/var/log/postgresql/postgresql-${PG_MAJOR}-${CLUSTER}.log"
sed -i "s/^gn_flux.api_database = .*/gn_flux.api_database = 'postgres'/" "$API_CONF"
log_from=$(($(wc -l <"$PG_LOG") + 1))
start_cluster "$CLUSTER"
sleep 7
waiting="$(tail -n "+$log_from" "$PG_LOG" | grep -c 'gn_flux api: waiting for database "postgres"' || true)"
errors="$(tail -n "+$log_from" "$PG_LOG" | grep -c 'cannot wait on socket event' || true)"
[ "$waiting" -ge 1 ] && [ "$errors" = 0 ] ||
  die "API workers waiting for a database without gn_flux: $waiting waiting line(s), $errors socket error(s) in the log"
echo "ok - API workers wait quietly for a database without gn_flux ($waiting LOG line(s), no error)"
sed -i "s/^gn_flux.api_database = .*/gn_flux.api_database = 'gn_flux_feeds'/" "$API_CONF"
start_cluster "$CLUSTER"
for i in $(seq 1 100); do
  rc=0
  curl -fsS "http://127.0.0.1:${API_PORT}/geonature/api/exports/api/0" >/dev/null 2>&1 || rc=$?
  [ "$rc" = 22 ] && break
  sleep 0.1
done
rc=0
GN_FLUX_E2E_FEEDS_PG="127.0.0.1 ${PORT} gn_flux_e2e gn_flux_e2e gn_flux_feeds" \
  GN_FLUX_E2E_API="http://127.0.0.1:${API_PORT}/geonature" \
  "$OGC_VENV/bin/python" "$ROOT/tests/e2e/intake.py" || rc=$?
# (the same served database: another GeoNature's v_synthese_sinp, labels and all, pulled back)
[ "$rc" != 0 ] || GN_FLUX_E2E_FEEDS_PG="127.0.0.1 ${PORT} gn_flux_e2e gn_flux_e2e gn_flux_feeds" \
  GN_FLUX_E2E_API="http://127.0.0.1:${API_PORT}/geonature" \
  "$OGC_VENV/bin/python" "$ROOT/tests/e2e/sinp_labels.py" || rc=$?
psql_as_postgres "$CLUSTER" postgres -c "ALTER SYSTEM RESET gn_flux.api_max_post_size" >/dev/null
rm -f "$API_CONF"
start_cluster "$CLUSTER"
psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE gn_flux_feeds" >/dev/null
[ "$rc" = 0 ] || die "API POST / v_synthese_sinp: tests/e2e/intake.py or sinp_labels.py failed"
rm -f "$API_CONF"
start_cluster "$CLUSTER"
psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE gn_flux_serve" -c "DROP DATABASE gn_flux_serve_node" >/dev/null

step "Backups: pg_dump keeps every row gn_flux holds; a restored source goes on incrementally"
for db in gn_flux_dump_src gn_flux_dump_dst; do
  psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
done
reset_fake
psql_as_postgres "$CLUSTER" gn_flux_dump_src >/dev/null <<SQL
CREATE EXTENSION gn_flux CASCADE;
SET gn_flux.progress_notices = off;
SELECT gn_flux.add_source('dump_src', 'http://127.0.0.1:${FAKE_PORT}/geonature', 1, login => 'admin', password => 'admin', page_size => 500);
SELECT status FROM gn_flux.pull_source('dump_src', 'full');
SELECT gn_flux.add_source('dump_down', 'http://127.0.0.1:9/geonature', 1, probe => false, max_retries => 0, connect_timeout_ms => 200);
SELECT status FROM gn_flux.pull_source('dump_down', 'full');
CREATE TABLE public.dump_obs (id integer PRIMARY KEY, name text);
INSERT INTO public.dump_obs VALUES (1, 'a');
INSERT INTO gn_flux.licence (name_licence, url_licence) VALUES ('Local licence', 'https://example.org/licence');
SELECT gn_flux.add_export('Dump export', 'public', 'dump_obs', licence => 'Local licence');
SQL
runuser -u postgres -- pg_dump -h "$PG_SOCKET_DIR" -p "$PORT" -Fc gn_flux_dump_src >"$WORK/gn_flux.dump"
runuser -u postgres -- pg_restore -h "$PG_SOCKET_DIR" -p "$PORT" --exit-on-error -d gn_flux_dump_dst "$WORK/gn_flux.dump"
fingerprint_rows() { # db
  psql_as_postgres "$CLUSTER" "$1" -At <<'SQL'
SELECT c.relname || ' ' || (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text
       || ' ' || (xpath('/row/h/text()', query_to_xml(format('SELECT md5(coalesce(string_agg(t::text, %L ORDER BY t::text), %L)) AS h FROM %I.%I t', '|', '', n.nspname, c.relname), false, true, '')))[1]::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'gn_flux' AND c.relkind = 'r'
 ORDER BY 1;
SELECT 'sequence ' || sequencename || ' ' || coalesce(last_value, 0) FROM pg_sequences WHERE schemaname = 'gn_flux' ORDER BY 1;
SQL
}
fingerprint_rows gn_flux_dump_src >"$WORK/dump_src.txt"
fingerprint_rows gn_flux_dump_dst >"$WORK/dump_dst.txt"
diff -u "$WORK/dump_src.txt" "$WORK/dump_dst.txt" || die "a restored database differs from the dumped one"
staged="$(psql_as_postgres "$CLUSTER" gn_flux_dump_dst -At -c "SELECT count(*) FROM gn_flux.data_json WHERE source = 'dump_src'")"
expect_eq "backups: the restored database has the staged rows" "$staged" "2000"
echo "ok - backups: every gn_flux table and sequence restored identically ($(wc -l <"$WORK/dump_src.txt") tables and sequences)"
got="$(psql_as_postgres "$CLUSTER" gn_flux_dump_dst -At -c "SET gn_flux.progress_notices = off" \
  -c "SELECT mode || ' ' || status FROM gn_flux.pull_source('dump_src')")"
# (a sequence left behind would make this INSERT into import_log collide with a restored id)
expect_eq "backups: the next pull of a restored source is incremental" "$got" "update success"
for db in gn_flux_dump_src gn_flux_dump_dst; do psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE $db"; done

step "Secrets: a failed add_source with password_file leaves no secret in the server log"
SECRETS_DIR="$WORK/secrets"
install -d -o postgres -g postgres -m 700 "$SECRETS_DIR"
printf 'Sup3r-S3cret-pw\n' >"$SECRETS_DIR/leak.password"
chown postgres:postgres "$SECRETS_DIR/leak.password"
chmod 600 "$SECRETS_DIR/leak.password"
LOGFILE="/var/log/postgresql/postgresql-${PG_MAJOR}-${CLUSTER}.log"
psql_as_postgres "$CLUSTER" postgres -c "ALTER SYSTEM SET gn_flux.secrets_directory = '$SECRETS_DIR'" \
  -c "ALTER SYSTEM SET log_statement = 'all'" -c "ALTER SYSTEM SET log_min_error_statement = 'error'" -c "SELECT pg_reload_conf()" >/dev/null
psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE IF EXISTS gn_flux_secrets" -c "CREATE DATABASE gn_flux_secrets" >/dev/null
psql_as_postgres "$CLUSTER" gn_flux_secrets -c "CREATE EXTENSION gn_flux CASCADE" >/dev/null
log_before="$(wc -c <"$LOGFILE")"
if psql_as_postgres "$CLUSTER" gn_flux_secrets -c "SELECT gn_flux.add_source('leak_test', 'http://127.0.0.1:${FAKE_PORT}/geonature', 1, login => 'admin', password_file => 'leak.password', max_retries => 0)" 2>"$WORK/leak.err"; then
  die "add_source with a wrong password should have failed"
fi
grep -q "authentication failed" "$WORK/leak.err" || { cat "$WORK/leak.err"; die "add_source failed for another reason"; }
sleep 0.5
tail -c +"$((log_before + 1))" "$LOGFILE" >"$WORK/leak.log"
grep -q "leak.password" "$WORK/leak.log" || die "the failed statement was not logged: the check would prove nothing"
if grep -q "Sup3r-S3cret-pw" "$WORK/leak.log" "$WORK/leak.err"; then die "the secret reached the server log or the client"; fi
echo "ok - secrets: the failed statement is in the server log ($(wc -l <"$WORK/leak.log") lines), the secret is not"
psql_as_postgres "$CLUSTER" postgres -c "ALTER SYSTEM RESET gn_flux.secrets_directory" -c "ALTER SYSTEM RESET log_statement" \
  -c "ALTER SYSTEM RESET log_min_error_statement" -c "SELECT pg_reload_conf()" -c "DROP DATABASE gn_flux_secrets" >/dev/null

step "Exports end to end: files read back by GDAL, CSV, XLSX, zip and JSON readers; pg_cron schedules"
EXPORT_DIR="$WORK/exports"
mkdir -p "$EXPORT_DIR"
chown postgres:postgres "$EXPORT_DIR"
psql_as_postgres "$CLUSTER" postgres -c "ALTER SYSTEM SET gn_flux.export_directory = '$EXPORT_DIR'" -c "SELECT pg_reload_conf()" >/dev/null
(cd "$ROOT" && GN_FLUX_E2E_EXPORT_DSN="host=127.0.0.1 port=${PORT} user=gn_flux_e2e password=gn_flux_e2e dbname=${CRON_DB}" \
  GN_FLUX_E2E_EXPORT_DIR="$EXPORT_DIR" cargo test -p gn_flux_e2e --test exports -- --test-threads=1)
psql_as_postgres "$CLUSTER" postgres -c "ALTER SYSTEM RESET gn_flux.export_directory" -c "SELECT pg_reload_conf()" >/dev/null

step "Upgrades: every frozen earlier release, upgraded, equals a fresh install"
CURRENT="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)"
EXT_DIR="$("$PG_CONFIG" --sharedir)/extension"
upgraded=0
for frozen in "$ROOT"/sql/releases/gn_flux--*.sql; do
  [ -e "$frozen" ] || continue
  old="$(basename "$frozen" .sql)"; old="${old#gn_flux--}"
  [ "$old" = "$CURRENT" ] && continue
  install -m 644 "$frozen" "$EXT_DIR/gn_flux--${old}.sql"
  for db in gn_flux_upgraded gn_flux_fresh; do
    psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  done
  psql_as_postgres "$CLUSTER" gn_flux_upgraded -c "CREATE EXTENSION gn_flux VERSION '$old' CASCADE"
  # Data of the old version (written with its own SQL; the source row by hand, as 0.1.0's
  # validation calls a function whose arguments changed): it must survive the upgrade.
  psql_as_postgres "$CLUSTER" gn_flux_upgraded >/dev/null <<SQL
ALTER TABLE gn_flux.source DISABLE TRIGGER source_validate;
INSERT INTO gn_flux.source (name, url, export_id, login, password) VALUES ('kept_src', 'http://127.0.0.1:${FAKE_PORT}/geonature', 1, 'admin', 'admin');
ALTER TABLE gn_flux.source ENABLE TRIGGER source_validate;
INSERT INTO gn_flux.import_log (source, controler, xfer_type, xfer_status, xfer_start_ts) VALUES ('kept_src', 'data', 'full', 'success', now());
INSERT INTO gn_flux.data_json (source, controler, type, id_data, uuid, item, import_id)
SELECT 'kept_src', 'data', 'synthese_with_cd_nomenclature', i, gen_random_uuid(), jsonb_build_object('id_synthese', i), 1 FROM generate_series(1, 50) i;
CREATE TABLE public.kept_obs (id integer PRIMARY KEY);
SELECT gn_flux.add_export('Kept export', 'public', 'kept_obs');
SQL
  got="$(psql_as_postgres "$CLUSTER" gn_flux_upgraded -At -c "UPDATE gn_flux.source SET page_size = page_size" 2>&1 || true)"
  case "$got" in *"ALTER EXTENSION gn_flux UPDATE"*) echo "ok - before the update, $old's source check says to run ALTER EXTENSION UPDATE" ;;
    *) die "$old's _check_source with the new library: $got" ;; esac
  psql_as_postgres "$CLUSTER" gn_flux_upgraded -c "ALTER EXTENSION gn_flux UPDATE"
  got="$(psql_as_postgres "$CLUSTER" gn_flux_upgraded -At -c "SET gn_flux.progress_notices = off" \
    -c "UPDATE gn_flux.source SET page_size = 500 WHERE name = 'kept_src'" \
    -c "SELECT (SELECT count(*) FROM gn_flux.data_json) || ' ' || (SELECT count(*) FROM gn_flux.export)" \
    -c "SELECT mode || ' ' || status FROM gn_flux.pull_source('kept_src')")"
  expect_eq "upgrade $old -> $CURRENT keeps the data, and the kept source pulls incrementally" "$(echo "$got" | tr '\n' ' ')" "50 1 update success "
  psql_as_postgres "$CLUSTER" gn_flux_fresh -c "CREATE EXTENSION gn_flux CASCADE"
  psql_as_postgres "$CLUSTER" gn_flux_upgraded -At <"$ROOT/tests/e2e/schema_fingerprint.sql" >"$WORK/upgraded.txt"
  psql_as_postgres "$CLUSTER" gn_flux_fresh -At <"$ROOT/tests/e2e/schema_fingerprint.sql" >"$WORK/fresh.txt"
  diff -u "$WORK/fresh.txt" "$WORK/upgraded.txt" || die "upgrade from $old to $CURRENT differs from a fresh install"
  echo "ok - upgrade $old -> $CURRENT equals a fresh install ($(wc -l <"$WORK/fresh.txt") catalog lines)"
  upgraded=$((upgraded + 1))
done
[ "$upgraded" -gt 0 ] || echo "ok - no earlier release to upgrade from ($CURRENT is the first)"
got="$(psql_as_postgres "$CLUSTER" postgres -At -c "SELECT count(*) FROM pg_available_extension_versions WHERE name = 'gn_flux' AND version = '$CURRENT'")"
expect_eq "the current version $CURRENT is installed and available" "$got" "1"

step "GeoNature 2.17 fixture (tests/fixtures/geonature, for the Synthese load): loads, and its own checks pass"
psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE IF EXISTS gn_flux_geonature" -c "CREATE DATABASE gn_flux_geonature" >/dev/null
psql_as_postgres "$CLUSTER" gn_flux_geonature -c "CREATE EXTENSION postgis" >/dev/null
t0=$SECONDS
psql_as_postgres "$CLUSTER" gn_flux_geonature -f "$WORK/geonature-fixture/load.sql" >/dev/null
psql_as_postgres "$CLUSTER" gn_flux_geonature -f "$WORK/geonature-fixture/check.sql" | grep '^ok - '
echo "ok - GeoNature fixture loaded and checked in $((SECONDS - t0)) s"
psql_as_postgres "$CLUSTER" postgres -c "DROP DATABASE gn_flux_geonature" >/dev/null

step "GeoNature stand-in binary on 127.0.0.1:${FAKE_PORT}"
ROOT_URL="http://127.0.0.1:${FAKE_PORT}/geonature"
code="$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{"login":"admin","password":"admin"}' "$ROOT_URL/api/auth/login")"
expect_eq "stand-in: login" "$code" "200"
total="$(curl -fsS "$ROOT_URL/api/exports/api/1?limit=1&token=export1-token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')"
expect_eq "stand-in: export 1 serves 2000 rows" "$total" "2000"

step "Layers 3-4 passed"
