# Shared steps of scripts/demo and scripts/test. Every step is idempotent: it checks first and
# only does what is missing, so both commands can be re-run on a prepared or a fresh machine.
# shellcheck shell=bash
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_MAJOR=15
PG_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
PG_CONFIG="${PG_BIN}/pg_config"
PG_SOCKET_DIR=/var/run/postgresql
export DEBIAN_FRONTEND=noninteractive
export CARGO_TERM_COLOR=never
# A global RUSTFLAGS breaks the pgrx test harness link (pgrx-on-debian.md, pitfall 6).
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
export PATH="${HOME}/.cargo/bin:${PATH}"

SCRIPT_T0=$SECONDS
step() { printf '\n==> [%4ss] %s\n' "$((SECONDS - SCRIPT_T0))" "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

APT_PACKAGES=(
  postgresql-15 postgresql-server-dev-15 postgresql-15-postgis-3 postgresql-15-cron
  libclang-dev clang pkg-config libssl-dev sudo gdal-bin curl ca-certificates python3-venv chromium
  cgi-mapserver mapserver-bin
)

ensure_packages() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "Debian packages: all present"
    return
  fi
  echo "Debian packages: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
}

ensure_rust() {
  command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain (rustup) first"
}

pinned_pgrx_version() {
  local v
  v="$(awk '/^name = "pgrx"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock" 2>/dev/null || true)"
  [ -n "$v" ] || v="$(sed -n 's/^pgrx = "=\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)"
  [ -n "$v" ] || die "cannot find the pgrx version in Cargo.lock or Cargo.toml"
  echo "$v"
}

ensure_cargo_pgrx() {
  local want have
  want="$(pinned_pgrx_version)"
  have="$(cargo pgrx --version 2>/dev/null | awk '{print $2}' || true)"
  if [ "$have" = "$want" ]; then
    echo "cargo-pgrx $have: present"
  else
    echo "cargo-pgrx: installing $want (found '${have:-none}'; takes about 4 minutes)"
    cargo install cargo-pgrx --version "$want" --locked
  fi
  local cfg="${PGRX_HOME:-$HOME/.pgrx}/config.toml"
  if ! grep -qxF "pg${PG_MAJOR} = \"${PG_CONFIG}\"" "$cfg" 2>/dev/null; then
    cargo pgrx init --pg${PG_MAJOR} "$PG_CONFIG"
  fi
}

ensure_toolchain() {
  step "Debian packages (PostgreSQL ${PG_MAJOR}, PostGIS, pg_cron, clang, GDAL, sudo)"
  ensure_packages
  step "Rust toolchain and cargo-pgrx"
  ensure_rust
  ensure_cargo_pgrx
}

cluster_status() { # cluster name -> online|down|absent
  pg_lsclusters -h 2>/dev/null | awk -v c="$1" -v v="$PG_MAJOR" '$1 == v && $2 == c { print $4; found = 1 } END { if (!found) print "absent" }'
}

stop_cluster() {
  if [ "$(cluster_status "$1")" = "online" ]; then
    pg_ctlcluster "$PG_MAJOR" "$1" stop -m fast
  fi
}

# Stop every cluster that may have gn_flux loaded before its .so is replaced: pgrx copies the
# new library over the old one in place, which kills a running server (SIGBUS; pitfall 5).
stop_all_clusters() {
  local c
  for c in $(pg_lsclusters -h 2>/dev/null | awk -v v="$PG_MAJOR" '$1 == v { print $2 }'); do
    stop_cluster "$c"
  done
}

ensure_cluster() { # name port
  if [ "$(cluster_status "$1")" = "absent" ]; then
    pg_createcluster "$PG_MAJOR" "$1" --port "$2" >/dev/null
  fi
}

# Writes the gn_flux settings of a cluster. preload=yes loads pg_cron and gn_flux at start
# (the production setup, needed by pg_cron and the background worker); preload=no leaves them
# out, so gn_flux is loaded by CREATE EXTENSION alone.
configure_cluster() { # name preload(yes|no) cron_database
  local conf="/etc/postgresql/${PG_MAJOR}/$1/conf.d/90-gn_flux.conf"
  mkdir -p "$(dirname "$conf")"
  {
    echo "# Written by gn_flux scripts/lib.sh"
    if [ "$2" = yes ]; then
      echo "shared_preload_libraries = 'pg_cron,gn_flux'"
      echo "cron.database_name = '$3'"
      echo "cron.use_background_workers = on"
    fi
  } >"$conf"
  chmod 644 "$conf"
}

start_cluster() {
  if [ "$(cluster_status "$1")" = "online" ]; then
    pg_ctlcluster "$PG_MAJOR" "$1" restart -m fast
  else
    pg_ctlcluster "$PG_MAJOR" "$1" start
  fi
}

cluster_port() {
  pg_lsclusters -h | awk -v c="$1" -v v="$PG_MAJOR" '$1 == v && $2 == c { print $3 }'
}

# psql as the postgres superuser on a cluster; SQL on stdin (the checkout may be unreadable
# for postgres, pitfall 14).
psql_as_postgres() { # cluster db [psql args...]
  local port
  port="$(cluster_port "$1")"
  runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$port" -d "$2" "${@:3}"
}

install_extension() { # [release]: an optimised build (the demo, benchmarks); default: debug (tests)
  local flags=()
  [ "${1:-}" = release ] && flags=(--release)
  step "Build and install gn_flux (${1:-debug} build) into PostgreSQL ${PG_MAJOR}"
  stop_all_clusters
  (cd "$ROOT" && cargo pgrx install "${flags[@]}" --pg-config "$PG_CONFIG")
}

# Clusters running now (the demo's 15/main, say), to start again when a script that stops them
# for a library swap ends.
online_clusters() {
  pg_lsclusters -h 2>/dev/null | awk -v v="$PG_MAJOR" '$1 == v && $4 == "online" { print $2 }'
}

restart_clusters() { # names...
  local c
  for c in "$@"; do
    if [ "$(cluster_status "$c")" = "down" ]; then
      pg_ctlcluster "$PG_MAJOR" "$c" start || echo "warning: could not start cluster ${PG_MAJOR}/$c again" >&2
    fi
  done
}

# Builds the stand-in binary and echoes its path.
build_fake_geonature() {
  (cd "$ROOT" && cargo build --release -q -p fake_geonature --bin fake-geonature) >&2
  echo "${CARGO_TARGET_DIR:-$ROOT/target}/release/fake-geonature"
}

# Starts the stand-in in the background, replacing one started earlier from the same pid file.
start_fake_geonature() { # pidfile logfile port rows seed
  local bin pid
  bin="$(build_fake_geonature)"
  if [ -f "$1" ] && pid="$(cat "$1")" && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" && sleep 0.3
  fi
  nohup "$bin" --host 127.0.0.1 --port "$3" --rows "$4" --seed "$5" >"$2" 2>&1 &
  echo $! >"$1"
  local i
  for i in $(seq 1 50); do
    if curl -fsS "http://127.0.0.1:$3/_control/state" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  cat "$2" >&2
  die "fake-geonature did not start on port $3"
}

# A Python venv with pinned packages, made once and reused: ensure_venv VENV CHECK PACKAGE...
# CHECK is Python code exiting 0 when the venv already holds what is needed (its first argument
# is the venv's prefix).
ensure_venv() {
  local venv=$1 check=$2
  shift 2
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" 2>/dev/null; then
    echo "venv $venv: $* present"
    return
  fi
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "$@"
  "$venv/bin/python" -c "$check" || die "the venv $venv does not provide $*"
}
# The CHECK of ensure_venv for "module importable and distribution at version".
venv_has() { # module distribution version
  printf 'import sys, %s\nfrom importlib.metadata import version\nsys.exit(0 if version("%s") == "%s" else 1)' "$1" "$2" "$3"
}

# GN2PG, the peer: gn2pg-client (pinned) and psycopg2 (benchmarks, the served-API test, and the
# test that GN2PG's own to_gnsynthese.sql works on gn_flux's tables).
GN2PG_VERSION=1.10.1
ensure_gn2pg_venv() { # venv
  ensure_venv "$1" "$(venv_has psycopg2 gn2pg-client "$GN2PG_VERSION")" "gn2pg-client==${GN2PG_VERSION}" psycopg2-binary
  [ -x "$1/bin/gn2pg_cli" ] || die "the venv $1 has no gn2pg_cli"
}
# The Serve II test's tools: psycopg2 and a real OpenAPI validator (pinned), in a venv of their
# own (gn2pg-client pins its own dependencies).
OPENAPI_VALIDATOR_VERSION=0.9.0
ensure_ogc_venv() { # venv
  ensure_venv "$1" "$(venv_has psycopg2 openapi-spec-validator "$OPENAPI_VALIDATOR_VERSION")" \
    "openapi-spec-validator==${OPENAPI_VALIDATOR_VERSION}" psycopg2-binary
}
# GN2PG's own trigger script in a venv made by ensure_gn2pg_venv.
gn2pg_to_gnsynthese() { # venv
  local f
  f="$(ls "$1"/lib/python3*/site-packages/gn2pg/data/to_gnsynthese.sql 2>/dev/null | head -1)"
  [ -n "$f" ] || die "no gn2pg/data/to_gnsynthese.sql in the venv $1"
  echo "$f"
}
