#!/usr/bin/env bash
# Layer 5 of scripts/test: the Debian package (scripts/package), installed the way a DBA does.
#   - build it; check its file list, modes, stripped library and control fields; lintian (errors fail);
#   - move the development install of gn_flux out of PostgreSQL 15's directories, then
#     `apt-get install ./postgresql-15-gn-flux_*.deb` (after the previous release's package
#     first, when GN_FLUX_PREVIOUS_DEB names one);
#   - a fresh cluster preloading pg_cron and gn_flux: CREATE EXTENSION gn_flux CASCADE, a pull
#     from the GeoNature stand-in, export_view in CSV and GeoPackage (read back by ogrinfo);
#   - ALTER EXTENSION gn_flux UPDATE from every frozen earlier release with the packaged scripts;
#   - `dpkg -r` leaves no gn_flux file behind;
#   - always (trap): drop the cluster, remove the package, put the development install back,
#     restart the clusters that were running.
# Usage: tests/package/run.sh [CLUSTER PORT]     (as root; default gnflux_pkg 54339)
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
CLUSTER=${1:-gnflux_pkg}
PORT=${2:-54339}
FAKE_PORT=${GN_FLUX_TEST_PKG_FAKE_PORT:-18791}
PKG="postgresql-${PG_MAJOR}-gn-flux"
DB=gn_flux_pkg
OUT="$ROOT/target/package"
PKGLIBDIR="$("$PG_CONFIG" --pkglibdir)"
EXTDIR="$("$PG_CONFIG" --sharedir)/extension"
DOCDIR="/usr/share/doc/$PKG"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)"
WORK="$(mktemp -d /tmp/gn_flux-pkg.XXXXXX)"
chmod 755 "$WORK"
SAVED="$WORK/dev-install"   # the development install, moved aside while the package is tested
TEMP_FILES=()               # frozen install scripts put into EXTDIR for the upgrade check

expect_eq() { # what got want
  if [ "$2" != "$3" ]; then die "$1: got '$2', want '$3'"; fi
  echo "ok - $1"
}

dev_files() { # the files `cargo pgrx install` puts into PostgreSQL's directories
  find "$PKGLIBDIR" "$EXTDIR" -maxdepth 1 -type f \
    \( -name 'gn_flux.so' -o -name 'gn_flux.control' -o -name 'gn_flux--*.sql' \) | sort
}

WERE_ONLINE=""
cleanup() {
  local rc=$? f
  set +e
  if [ -f "$WORK/fake.pid" ]; then kill "$(cat "$WORK/fake.pid")" 2>/dev/null; fi
  if [ "$(cluster_status "$CLUSTER")" != absent ]; then pg_dropcluster --stop "$PG_MAJOR" "$CLUSTER"; fi
  for f in "${TEMP_FILES[@]}"; do rm -f "$f"; done
  if [ "$(dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null)" = "install ok installed" ]; then
    dpkg -r "$PKG" >/dev/null
  fi
  if [ -d "$SAVED" ]; then
    # Put the development install back exactly as it was (same files, modes and dates).
    for f in "$SAVED"/lib/* "$SAVED"/ext/*; do
      [ -e "$f" ] || continue
      case "$f" in "$SAVED"/lib/*) mv -f "$f" "$PKGLIBDIR/" ;; *) mv -f "$f" "$EXTDIR/" ;; esac
    done
    echo "restored the development install ($(dev_files | wc -l) files)"
  fi
  # shellcheck disable=SC2086
  restart_clusters $WERE_ONLINE
  [ -n "${GN_FLUX_KEEP_PKG:-}" ] || rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

step "Build the package (scripts/package)"
bash "$ROOT/scripts/package" "$OUT" >"$WORK/package.log" 2>&1 || { tail -50 "$WORK/package.log"; die "scripts/package failed"; }
mapfile -t debs < <(ls "$OUT/${PKG}_"*"_amd64.deb")
expect_eq "scripts/package builds one ${PKG}_*_amd64.deb" "${#debs[@]}" "1"
DEB="${debs[0]}"
echo "    $DEB ($(du -h "$DEB" | cut -f1))"

step "Metadata (dpkg-deb -I)"
field() { dpkg-deb -f "$DEB" "$1"; }
expect_eq "Package" "$(field Package)" "$PKG"
case "$(field Version)" in "$VERSION"-*) echo "ok - Version $(field Version) is release $VERSION" ;;
  *) die "Version $(field Version) is not $VERSION-<revision>" ;; esac
expect_eq "Architecture" "$(field Architecture)" "amd64"
depends="$(field Depends)"
for dep in postgresql-15 postgresql-15-postgis-3 libc6; do
  echo "$depends" | tr ',' '\n' | sed 's/^ *//' | grep -q "^$dep\( \|$\)" || die "Depends lacks $dep: $depends"
done
echo "ok - Depends: $depends"
expect_eq "Recommends" "$(field Recommends)" "postgresql-15-cron"
expect_eq "Section" "$(field Section)" "database"

step "File list (dpkg-deb -c)"
dpkg-deb -c "$DEB" >"$WORK/contents"
awk '$1 !~ /^d/ { print $6 }' "$WORK/contents" | sed 's|^\./|/|' | sort >"$WORK/files.got"
{
  echo "$PKGLIBDIR/gn_flux.so"
  echo "$EXTDIR/gn_flux.control"
  echo "$EXTDIR/gn_flux--$VERSION.sql"
  for up in "$ROOT"/sql/gn_flux--*--*.sql; do
    if [ -e "$up" ]; then echo "$EXTDIR/$(basename "$up")"; fi
  done
  for d in README.md.gz changelog.Debian.gz changelog.gz copyright rust-crates.txt.gz; do echo "$DOCDIR/$d"; done
  if [ -f "$ROOT/packaging/lintian-overrides" ]; then echo "/usr/share/lintian/overrides/$PKG"; fi
} | sort >"$WORK/files.want"
diff -u "$WORK/files.want" "$WORK/files.got" || die "the package's file list differs from the expected one"
echo "ok - files: the library, the control file, the install script, $(ls "$ROOT"/sql/gn_flux--*--*.sql 2>/dev/null | wc -l) upgrade script(s), 5 doc files"
bad="$(awk '($1 ~ /^d/ && $1 != "drwxr-xr-x") || ($1 ~ /^-/ && $1 != "-rw-r--r--") || $2 != "root/root"' "$WORK/contents")"
expect_eq "every file 0644 and directory 0755, owned by root/root" "$bad" ""
mkdir "$WORK/x"
dpkg-deb -x "$DEB" "$WORK/x"
so="$WORK/x$PKGLIBDIR/gn_flux.so"
expect_eq "gn_flux.so is stripped (no .symtab, no .debug_* sections)" \
  "$(readelf -S -W "$so" | grep -cE '\.symtab|\.debug_' || true)" "0"
expect_eq "the control file says default_version '$VERSION'" \
  "$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$WORK/x$EXTDIR/gn_flux.control")" "$VERSION"
zcat "$WORK/x$DOCDIR/changelog.gz" | cmp -s - "$ROOT/CHANGELOG.md" || die "changelog.gz is not CHANGELOG.md"
echo "ok - doc: changelog.gz is CHANGELOG.md, README.md.gz, changelog.Debian.gz, DEP-5 copyright"

step "lintian"
lintian --fail-on error "$DEB" >"$WORK/lintian.txt" 2>&1 || { cat "$WORK/lintian.txt"; die "lintian reports errors"; }
expect_eq "lintian: no error" "$(grep -c '^E:' "$WORK/lintian.txt" || true)" "0"
echo "ok - lintian: $(grep -c '^W:' "$WORK/lintian.txt" || true) warning(s)"
sed 's/^/    /' "$WORK/lintian.txt"

step "Replace the development install with the package"
WERE_ONLINE="$(online_clusters | grep -vx "$CLUSTER" || true)"
stop_all_clusters   # a server with gn_flux loaded must not see its library swapped (pitfall 5)
if [ "$(dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null)" = "install ok installed" ]; then
  dpkg -r "$PKG"      # left by an interrupted run
fi
mkdir -p "$SAVED/lib" "$SAVED/ext"
while read -r f; do
  case "$f" in "$PKGLIBDIR"/*) mv "$f" "$SAVED/lib/" ;; *) mv "$f" "$SAVED/ext/" ;; esac
done < <(dev_files)
echo "moved aside: $(find "$SAVED" -type f | wc -l) files of the development install"
expect_eq "no gn_flux file left in PostgreSQL's directories before installing" "$(dev_files)" ""
if [ "$(cluster_status "$CLUSTER")" != absent ]; then pg_dropcluster --stop "$PG_MAJOR" "$CLUSTER"; fi
pg_createcluster "$PG_MAJOR" "$CLUSTER" --port "$PORT" >/dev/null
configure_cluster "$CLUSTER" yes "$DB"

PREV="${GN_FLUX_PREVIOUS_DEB:-}"
if [ -n "$PREV" ]; then
  step "Previous release's package $PREV, a database using it"
  apt-get install -y -qq "$(realpath "$PREV")" >"$WORK/apt-prev.log" 2>&1 || { cat "$WORK/apt-prev.log"; die "apt-get install $PREV failed"; }
  start_cluster "$CLUSTER"
  psql_as_postgres "$CLUSTER" postgres -c "CREATE DATABASE gn_flux_pkg_prev"
  psql_as_postgres "$CLUSTER" gn_flux_pkg_prev -c "CREATE EXTENSION gn_flux CASCADE"
  prev_version="$(psql_as_postgres "$CLUSTER" gn_flux_pkg_prev -At -c "SELECT extversion FROM pg_extension WHERE extname = 'gn_flux'")"
  stop_cluster "$CLUSTER"
fi

step "apt-get install ./$(basename "$DEB")"
(cd "$OUT" && apt-get install -y -qq "./$(basename "$DEB")") >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log"; die "apt-get install failed"; }
expect_eq "dpkg: $PKG installed" "$(dpkg-query -W -f='${Status} ${Version}' "$PKG")" "install ok installed $(field Version)"
for f in "$PKGLIBDIR/gn_flux.so" "$EXTDIR/gn_flux.control" "$EXTDIR/gn_flux--$VERSION.sql" "$DOCDIR/copyright"; do
  [ -f "$f" ] || die "$f is missing after apt-get install"
done
echo "ok - the package's files are in place ($(dpkg -L "$PKG" | grep -c gn_flux) gn_flux paths)"

step "A fresh cluster ${PG_MAJOR}/${CLUSTER} (port ${PORT}) preloading pg_cron and gn_flux"
start_cluster "$CLUSTER"
psql_as_postgres "$CLUSTER" postgres -c "CREATE DATABASE $DB"
got="$(psql_as_postgres "$CLUSTER" "$DB" -At -c "CREATE EXTENSION pg_cron" -c "CREATE EXTENSION gn_flux CASCADE" \
  -c "SELECT extversion FROM pg_extension WHERE extname = 'gn_flux'" -c "SELECT gn_flux._loaded_from_preload()" \
  -c "SELECT gn_flux.version() LIKE 'gn_flux $VERSION (commit %)'")"
expect_eq "CREATE EXTENSION gn_flux CASCADE: version, preloaded, version()" "$(echo "$got" | tr '\n' ' ')" "$VERSION t t "

step "Pull from the GeoNature stand-in (127.0.0.1:${FAKE_PORT}) and export a view"
start_fake_geonature "$WORK/fake.pid" "$WORK/fake.log" "$FAKE_PORT" 300 13
got="$(psql_as_postgres "$CLUSTER" "$DB" -At <<SQL
SET gn_flux.progress_notices = off;
SELECT count(*) FROM gn_flux.add_source('pkg_src', 'http://127.0.0.1:${FAKE_PORT}/geonature', 1,
                                        login => 'admin', password => 'admin', page_size => 100);
SELECT mode || ' ' || status || ' ' || items FROM gn_flux.pull_source('pkg_src');
SELECT count(*) || ' ' || (count(geom) > 0) FROM gn_flux.data_json WHERE source = 'pkg_src';
SQL
)"
expect_eq "add_source, a full pull of 300 rows, stored with their geometries" "$(echo "$got" | tr '\n' ' ')" "1 full success 300 300 true "
psql_as_postgres "$CLUSTER" "$DB" -c "CREATE VIEW public.v_pkg AS SELECT id_data AS id, item->>'nom_cite' AS nom_cite, geom FROM gn_flux.data_json WHERE source = 'pkg_src'"
got="$(psql_as_postgres "$CLUSTER" "$DB" -At \
  -c "SELECT jsonb_array_length(convert_from(gn_flux.export_view('public', 'v_pkg', 'json'), 'UTF8')::jsonb)" \
  -c "SELECT split_part(convert_from(gn_flux.export_view('public', 'v_pkg', 'csv'), 'UTF8'), E'\r\n', 1)")"
expect_eq "export_view JSON (300 rows) and CSV (header)" "$(echo "$got" | tr '\n' ' ')" '300 "id";"nom_cite";"geom" '
psql_as_postgres "$CLUSTER" "$DB" -At -c "SELECT encode(gn_flux.export_view('public', 'v_pkg', 'gpkg'), 'base64')" | base64 -d >"$WORK/v_pkg.gpkg"
got="$(ogrinfo -ro -so -al "$WORK/v_pkg.gpkg" | sed -n 's/^Feature Count: //p')"
expect_eq "export_view GeoPackage, read back by ogrinfo: 300 features" "$got" "300"

step "Upgrades with the packaged scripts"
if [ -n "$PREV" ]; then
  got="$(psql_as_postgres "$CLUSTER" gn_flux_pkg_prev -At -c "ALTER EXTENSION gn_flux UPDATE" \
    -c "SELECT extversion FROM pg_extension WHERE extname = 'gn_flux'")"
  expect_eq "package upgrade: a database created with $prev_version, ALTER EXTENSION gn_flux UPDATE" "$got" "$VERSION"
else
  echo "ok - no previous release's package (set GN_FLUX_PREVIOUS_DEB to test a package upgrade)"
fi
for frozen in "$ROOT"/sql/releases/gn_flux--*.sql; do
  [ -e "$frozen" ] || continue
  old="$(basename "$frozen" .sql)"; old="${old#gn_flux--}"
  [ "$old" = "$VERSION" ] && continue
  # Stands in for a database created by release $old: its install script, not shipped by the
  # package, is put there for CREATE EXTENSION ... VERSION only.
  install -m 644 "$frozen" "$EXTDIR/gn_flux--$old.sql"
  TEMP_FILES+=("$EXTDIR/gn_flux--$old.sql")
  psql_as_postgres "$CLUSTER" postgres -c "CREATE DATABASE gn_flux_pkg_from_${old//./_}"
  got="$(psql_as_postgres "$CLUSTER" "gn_flux_pkg_from_${old//./_}" -At -c "CREATE EXTENSION gn_flux VERSION '$old' CASCADE" \
    -c "ALTER EXTENSION gn_flux UPDATE" -c "SELECT extversion FROM pg_extension WHERE extname = 'gn_flux'")"
  expect_eq "ALTER EXTENSION gn_flux UPDATE from $old with the package's scripts" "$got" "$VERSION"
  rm -f "$EXTDIR/gn_flux--$old.sql"
done

step "dpkg -r $PKG"
stop_cluster "$CLUSTER"
dpkg -r "$PKG" >"$WORK/dpkg-r.log" 2>&1 || { cat "$WORK/dpkg-r.log"; die "dpkg -r failed"; }
expect_eq "dpkg: $PKG no longer installed" "$(dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -c '^install ok installed' || true)" "0"
left="$(find "$PKGLIBDIR" "$EXTDIR" -maxdepth 1 -name 'gn_flux*' 2>/dev/null; if [ -e "$DOCDIR" ]; then echo "$DOCDIR"; fi)"
expect_eq "dpkg -r leaves no gn_flux file in $PKGLIBDIR, $EXTDIR, $DOCDIR" "$left" ""
pg_dropcluster "$PG_MAJOR" "$CLUSTER"
echo "ok - test cluster ${PG_MAJOR}/${CLUSTER} dropped"

step "Layer 5 (Debian package) passed"
