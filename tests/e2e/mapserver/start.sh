#!/usr/bin/env bash
# Puts one PostGIS point table (SRID 2154, see layer.sql) behind a real MapServer 8 serving
# WFS 2.0 and OGC API - Features on 127.0.0.1, through Python's CGI web server.
#
# Usage: tests/e2e/mapserver/start.sh DIR PGHOST PGPORT DBNAME ROLE TABLE HTTP_PORT
#   DIR       work folder, created (mapfile, cgi-bin/mapserv wrapper, http.log, http.pid)
#   PGHOST    unix socket directory of the cluster, e.g. /var/run/postgresql
#   PGPORT    cluster port
#   DBNAME    database holding TABLE (columns id integer PK, geom geometry(Point, 2154))
#   ROLE      role MapServer connects as, WITHOUT password, over the unix socket
#   TABLE     table (layer name = TABLE with every character outside [A-Za-z0-9_] turned to _)
#   HTTP_PORT port of the web server on 127.0.0.1
# Stop with tests/e2e/mapserver/stop.sh DIR.
#
# Requirements:
#   - packages cgi-mapserver and mapserver-bin (/usr/bin/mapserv, MapServer 8);
#   - run as root: MapServer 8 only reads its global config at /etc/mapserver.conf, which this
#     script writes (a foreign one is backed up once to /etc/mapserver.conf.gn_flux-orig and put
#     back by stop.sh). Only one harness at a time can therefore run on a machine;
#   - when started as root, Python's CGI handler runs mapserv as OS user `nobody`: the caller must
#     let ROLE connect without password over the socket, e.g. a pg_hba.conf line (before any
#     other line matching it, then reload the cluster):
#         local   DBNAME   ROLE   trust
#     and ROLE needs SELECT on TABLE.
#
# Known behaviour of Debian 12's MapServer 8.0.0 that tests must expect:
#   - Python's CGI server always answers "HTTP/1.0 200"; MapServer's own status (400/404) only
#     shows as a "Status:" response header. Detect errors from the body (ows:ExceptionReport,
#     {"code": ...}).
#   - WFS SORTBY sorts as text (ids 1, 10, 100, 1000, 10000, 10001, ...); STARTINDEX is 0-based;
#     pages are capped at wfs_maxfeatures = 500 whatever COUNT asks.
#   - OGC API items ignore `offset` on PostGIS layers (MapServer bug #6613, fixed in 8.0.1): every
#     page returns the first `limit` rows, while the `next` links still advance offset; limit is
#     capped at 10000 (oga_max_limit); `next` links drop bbox.
set -euo pipefail

[ $# -eq 7 ] || { echo "usage: $0 DIR PGHOST PGPORT DBNAME ROLE TABLE HTTP_PORT" >&2; exit 2; }
DIR=$1 PGHOST_DIR=$2 PGPORT_NUM=$3 DBNAME=$4 ROLE=$5 TABLE=$6 HTTP_PORT=$7

die() { echo "mapserver harness: $*" >&2; exit 1; }

MAPSERV=/usr/bin/mapserv
CONF=/etc/mapserver.conf
CONF_BACKUP=/etc/mapserver.conf.gn_flux-orig
MARKER='# written by gn_flux tests'
ALIAS=gnflux
TEMPLATES=/usr/share/mapserver/ogcapi/templates/html-plain/

[ -x "$MAPSERV" ] || die "$MAPSERV missing: apt-get install cgi-mapserver mapserver-bin"
command -v python3 >/dev/null || die "python3 missing"
command -v curl >/dev/null || die "curl missing"
[[ $HTTP_PORT =~ ^[0-9]+$ ]] || die "HTTP_PORT must be a number: $HTTP_PORT"
[[ $PGPORT_NUM =~ ^[0-9]+$ ]] || die "PGPORT must be a number: $PGPORT_NUM"
for v in "$PGHOST_DIR" "$DBNAME" "$ROLE" "$TABLE"; do
  [[ $v =~ [\"\'[:space:]] ]] && die "quotes and blanks are not supported in arguments: '$v'"
done

if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:${HTTP_PORT}/"; then
  die "something already answers on 127.0.0.1:${HTTP_PORT}"
fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
LAYER=$(printf '%s' "$TABLE" | tr -c 'A-Za-z0-9_' '_')
BASE="http://127.0.0.1:${HTTP_PORT}/cgi-bin/mapserv"
OGCAPI="${BASE}/${ALIAS}/ogcapi"
MAPFILE="$DIR/gnflux.map"

if [ -f "$DIR/http.pid" ] && kill -0 "$(cat "$DIR/http.pid")" 2>/dev/null; then
  die "a server from $DIR is already running (pid $(cat "$DIR/http.pid")): run stop.sh $DIR first"
fi

# ---------------------------------------------------------------- files in DIR (world-readable)
mkdir -p "$DIR/cgi-bin"
chmod 755 "$DIR" "$DIR/cgi-bin"
# `nobody` must reach DIR: every parent folder needs the x bit for others.
p=$DIR
while [ "$p" != / ]; do
  p=$(dirname "$p")
  perm=$(stat -c %A "$p")
  [ "${perm:9:1}" = x ] || [ "${perm:9:1}" = t ] || die "$p is not traversable by others (nobody cannot reach $DIR)"
done

cat >"$MAPFILE" <<EOF
# written by gn_flux tests (tests/e2e/mapserver/start.sh): do not edit, regenerated on start.
MAP
  NAME "gnflux"
  STATUS ON
  # MapServer adds "ST_Intersects(geom, <extent>)" to every query: rows outside the extent are
  # never served. Metropolitan France in Lambert-93 (layer.sql stays in 600000..1000000 x
  # 6300000..6800000).
  EXTENT 100000 6000000 1300000 7200000
  UNITS METERS
  PROJECTION
    "init=epsg:2154"
  END

  OUTPUTFORMAT
    NAME "geojson"
    DRIVER "OGR/GEOJSON"
    MIMETYPE "application/json; subtype=geojson"
    FORMATOPTION "STORAGE=stream"
    FORMATOPTION "FORM=SIMPLE"
  END

  WEB
    METADATA
      "ows_title"                  "gn_flux MapServer test server"
      "ows_abstract"               "PostGIS test layer for gn_flux end-to-end tests"
      "ows_encoding"               "UTF-8"
      "wfs_enable_request"         "*"
      "oga_enable_request"         "*"
      "wfs_title"                  "gn_flux WFS"
      "wfs_srs"                    "EPSG:2154 EPSG:4326"
      "wfs_onlineresource"         "${BASE}?"
      "wfs_getfeature_formatlist"  "geojson"
      "wfs_maxfeatures"            "500"
      "oga_title"                  "gn_flux OGC API - Features"
      "oga_onlineresource"         "${OGCAPI}"
    END
  END

  LAYER
    NAME "${LAYER}"
    STATUS ON
    TYPE POINT
    CONNECTIONTYPE POSTGIS
    # MapServer runs as OS user nobody: ROLE must be trusted over the socket (pg_hba:
    # "local ${DBNAME} ${ROLE} trust").
    CONNECTION "host=${PGHOST_DIR} port=${PGPORT_NUM} dbname=${DBNAME} user=${ROLE}"
    DATA "geom from ${TABLE} using unique id using srid=2154"
    PROJECTION
      "init=epsg:2154"
    END
    EXTENT 100000 6000000 1300000 7200000
    TEMPLATE "ttt"
    METADATA
      "ows_title"                "${LAYER}"
      "ows_abstract"             "Table ${TABLE} (${DBNAME} on ${PGHOST_DIR}:${PGPORT_NUM})"
      "wfs_title"                "${LAYER}"
      "oga_title"                "${LAYER}"
      "wfs_enable_request"       "*"
      "oga_enable_request"       "*"
      "wfs_srs"                  "EPSG:2154 EPSG:4326"
      "wfs_extent"               "100000 6000000 1300000 7200000"
      "wfs_maxfeatures"          "500"
      "wfs_getfeature_formatlist" "geojson"
      "gml_include_items"        "all"
      "gml_featureid"            "id"
      "gml_types"                "auto"
    END
  END
END
EOF
chmod 644 "$MAPFILE"

cat >"$DIR/cgi-bin/mapserv" <<EOF
#!/bin/sh
# written by gn_flux tests (tests/e2e/mapserver/start.sh)
MS_MAPFILE='$MAPFILE'
export MS_MAPFILE
exec $MAPSERV "\$@"
EOF
chmod 755 "$DIR/cgi-bin/mapserv"

# ---------------------------------------------------------------- /etc/mapserver.conf
if [ -e "$CONF" ] && ! grep -qxF "$MARKER" "$CONF"; then
  if [ -e "$CONF_BACKUP" ]; then
    die "$CONF is not ours and $CONF_BACKUP already exists: sort them out by hand"
  fi
  cp -p "$CONF" "$CONF_BACKUP" || die "cannot back up $CONF (run as root)"
  echo "mapserver harness: backed up $CONF to $CONF_BACKUP"
fi
# MS_MAP_PATTERN is a regular expression: escape DIR.
DIR_RE=$(printf '%s' "$DIR/" | sed 's/[][\.^$*+?(){}|]/\\&/g')
tmpconf=$(mktemp)
cat >"$tmpconf" <<EOF
$MARKER
# (tests/e2e/mapserver/start.sh, for $DIR; stop.sh removes it or restores the original)
CONFIG
  ENV
    MS_MAP_PATTERN "^${DIR_RE}"
    OGCAPI_HTML_TEMPLATE_DIRECTORY "${TEMPLATES}"
  END
  MAPS
    ${ALIAS} "${MAPFILE}"
  END
END
EOF
cat "$tmpconf" >"$CONF" 2>/dev/null || { rm -f "$tmpconf"; die "cannot write $CONF (run as root)"; }
rm -f "$tmpconf"
chmod 644 "$CONF"

# ---------------------------------------------------------------- database reachable as nobody?
if [ "$(id -u)" = 0 ] && command -v psql >/dev/null && id nobody >/dev/null 2>&1; then
  if ! err=$(cd / && PGCONNECT_TIMEOUT=5 runuser -u nobody -- psql -X -q -At \
        "host=${PGHOST_DIR} port=${PGPORT_NUM} dbname=${DBNAME} user=${ROLE}" \
        -c "SELECT count(*) FROM (SELECT 1 FROM ${TABLE} LIMIT 1) s" 2>&1); then
    die "OS user nobody cannot query ${TABLE} as role ${ROLE} over ${PGHOST_DIR}:${PGPORT_NUM}:
  $err
Add to pg_hba.conf (above other matching lines) and reload:  local ${DBNAME} ${ROLE} trust
and GRANT SELECT ON ${TABLE} TO ${ROLE}."
  fi
fi

# ---------------------------------------------------------------- web server
: >"$DIR/http.log"
chmod 644 "$DIR/http.log"
(
  cd "$DIR"
  # Not a process-group leader here, so setsid and nohup exec: $! is python's pid, and python
  # leads its own process group (stop.sh kills the group, CGI children included).
  setsid nohup python3 -m http.server --cgi "$HTTP_PORT" --bind 127.0.0.1 \
    >>"$DIR/http.log" 2>&1 </dev/null &
  echo $! >"$DIR/http.pid"
)
chmod 644 "$DIR/http.pid"

CAPS="${BASE}?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetCapabilities"
ok=
for _ in $(seq 1 80); do
  if ! kill -0 "$(cat "$DIR/http.pid")" 2>/dev/null; then
    cat "$DIR/http.log" >&2
    die "the web server exited (log above)"
  fi
  caps=$(curl -fsS --max-time 5 "$CAPS" 2>/dev/null || true)
  if [[ $caps == *WFS_Capabilities* ]]; then ok=1; break; fi
  sleep 0.25
done
if [ -z "$ok" ]; then
  curl -sS --max-time 5 "$CAPS" >&2 || true
  echo >&2; tail -n 20 "$DIR/http.log" >&2
  die "WFS GetCapabilities did not answer within 20 s (stop with stop.sh $DIR)"
fi

# One feature through MapServer itself: catches database / pg_hba errors.
probe=$(curl -sS --max-time 20 \
  "${BASE}?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=ms:${LAYER}&COUNT=1&OUTPUTFORMAT=geojson" || true)
if [[ $probe != *'"FeatureCollection"'* ]]; then
  printf '%s\n' "$probe" | head -c 2000 >&2
  echo >&2
  die "MapServer could not read ${TABLE} (is 'local ${DBNAME} ${ROLE} trust' in pg_hba.conf and the cluster reloaded?). Stop with stop.sh $DIR"
fi

echo "WFS     ${BASE}"
echo "OGCAPI  ${OGCAPI}"
