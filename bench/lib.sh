# Shared steps of the bench/ scripts (sourced after scripts/lib.sh).

# The exact command line, with the benchmark settings that were given, for the report.
bench_command_line() { # script-name [args...]
  local v line=""
  for v in $(compgen -e | grep -E '^(BENCH_|GN_FLUX_BENCH_|CARGO_TARGET_DIR$)' | sort); do
    line+="$v=${!v} "
  done
  local args="${*:2}"
  echo "${line}bench/$1${args:+ $args}"
}

# Builds and installs gn_flux in GN_FLUX_BENCH_PROFILE (release by default) unless
# GN_FLUX_BENCH_SKIP_INSTALL=1; then checks it is installed.
bench_install_gn_flux() {
  case "${GN_FLUX_BENCH_PROFILE:-release}" in release | debug) ;; *) die "GN_FLUX_BENCH_PROFILE must be release or debug" ;; esac
  if [ "${GN_FLUX_BENCH_SKIP_INSTALL:-0}" != 1 ]; then
    ensure_cargo_pgrx
    step "Build and install gn_flux (${GN_FLUX_BENCH_PROFILE:-release}) into PostgreSQL ${PG_MAJOR}"
    # Replacing a loaded .so kills the server: stop every cluster first (scripts/lib.sh).
    stop_all_clusters
    if [ "${GN_FLUX_BENCH_PROFILE:-release}" = release ]; then
      (cd "$ROOT" && cargo pgrx install --release --pg-config "$PG_CONFIG")
    else
      (cd "$ROOT" && cargo pgrx install --pg-config "$PG_CONFIG")
    fi
  fi
  [ -f "$("$PG_CONFIG" --pkglibdir)/gn_flux.so" ] ||
    die "gn_flux is not installed in PostgreSQL ${PG_MAJOR}: run without GN_FLUX_BENCH_SKIP_INSTALL=1"
}

# Starts the cluster and waits until it accepts connections.
bench_start_cluster() { # cluster port
  start_cluster "$1"
  for _ in $(seq 1 50); do
    runuser -u postgres -- pg_isready -q -h "$PG_SOCKET_DIR" -p "$2" && return 0
    sleep 0.2
  done
  die "cluster $1 does not accept connections on port $2"
}

# The role bench (superuser, password bench; clients connect over TCP) and the database gn_bench.
bench_role_and_database() { # cluster
  psql_as_postgres "$1" postgres <<'SQL' >/dev/null
SELECT 'CREATE ROLE bench LOGIN SUPERUSER PASSWORD ''bench'''
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench') \gexec
ALTER ROLE bench LOGIN SUPERUSER PASSWORD 'bench';
SELECT 'CREATE DATABASE gn_bench OWNER bench'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'gn_bench') \gexec
SQL
}

# The repository commit for the report, "-dirty" when tracked files are modified.
bench_repo_commit() {
  local commit
  commit="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
  if [ "$commit" != unknown ] && [ -n "$(git --no-optional-locks -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    commit+="-dirty"
  fi
  echo "$commit"
}

# A Python venv with psycopg2 for the drivers (bench/*.py), made once and reused.
bench_python_venv() { # venv
  ensure_venv "$1" "import psycopg2" psycopg2-binary
}

# tipg, the OGC API – Features peer (bench/ogc_vs_tipg.sh): a venv with tipg (pinned) and uvicorn,
# made once and reused.
TIPG_VERSION=1.6.1
bench_tipg_venv() { # venv
  ensure_venv "$1" "$(venv_has uvicorn tipg "$TIPG_VERSION")" "tipg==${TIPG_VERSION}" uvicorn
}

# The served-API setup (bench/serve_vs_geonature.sh, bench/ogc_vs_tipg.sh): the cluster preloading
# gn_flux with 2 API workers on 127.0.0.1:<api port> serving <database>, started; the role bench;
# <database> re-created (owner bench) with the gn_flux extension; then waits until the workers
# answer. The caller sets STARTED_CLUSTER=1 before, for its cleanup.
bench_serve_cluster() { # cluster pg-port api-port database script-name
  local conf="/etc/postgresql/${PG_MAJOR}/$1/conf.d/90-gn_flux.conf" rc
  ensure_cluster "$1" "$2"
  mkdir -p "$(dirname "$conf")"
  cat >"$conf" <<CONF
# Written by gn_flux bench/$5
shared_preload_libraries = 'gn_flux'
gn_flux.api_listen = '127.0.0.1:$3'
gn_flux.api_database = '$4'
gn_flux.api_workers = 2
CONF
  chmod 644 "$conf"
  bench_start_cluster "$1" "$2"
  bench_role_and_database "$1"
  psql_as_postgres "$1" postgres -c "DROP DATABASE IF EXISTS $4 WITH (FORCE)" -c "CREATE DATABASE $4 OWNER bench" >/dev/null
  psql_as_postgres "$1" "$4" -c "CREATE EXTENSION gn_flux CASCADE" >/dev/null
  # the workers wait for the extension: give them a moment to see it (an unknown export: 404)
  for _ in $(seq 1 100); do
    rc=0
    curl -fsS --noproxy '*' "http://127.0.0.1:$3/geonature/api/exports/api/0" >/dev/null 2>&1 || rc=$?
    [ "$rc" = 22 ] && return 0
    sleep 0.2
  done
  echo "warning: the API workers on 127.0.0.1:$3 do not answer yet" >&2
}

# Which build of gn_flux is installed: release or debug when the library is the one in
# ${CARGO_TARGET_DIR:-target}/<profile>/, else unknown (for reports run with GN_FLUX_BENCH_SKIP_INSTALL=1).
bench_installed_build() {
  local so target p
  so="$("$PG_CONFIG" --pkglibdir)/gn_flux.so"
  target="${CARGO_TARGET_DIR:-$ROOT/target}"
  case "$target" in /*) ;; *) target="$ROOT/$target" ;; esac
  for p in release debug; do
    if [ -f "$target/$p/libgn_flux.so" ] && cmp -s "$so" "$target/$p/libgn_flux.so"; then
      echo "$p"
      return
    fi
  done
  echo unknown
}
