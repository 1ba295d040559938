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
