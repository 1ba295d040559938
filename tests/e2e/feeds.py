"""Other flows end to end: sources of kind wfs, ogcapi, json and gbif pulled by
gn_flux.pull_source() from real servers, and their declarative mapping to the Synthese.

- WFS 2.0 from MapServer 8 (tests/e2e/mapserver, a PostGIS layer of 20,000 points in EPSG:2154,
  server page cap 500): GeoJSON and GML 3.2, the pulled rows equal the layer's (keys, attributes,
  geometries reprojected to 4326), bbox and attribute filters, an incremental update pull.
- OGC API – Features from MapServer (one page) and from gn_flux's own API workers (Serve II,
  20,000+ rows by next links); MapServer 8.0.0's broken offset paging is caught by the
  exactness check.
- Generic JSON APIs and GBIF from the stand-ins (tests/e2e/standins.py): every paging style,
  an API key header, faults with Retry-After, a GBIF query above 100,000 results pulled whole.
- Mapping: set_mapping's errors, the example mappings loaded into the GeoNature 2.17 fixture and
  compared with an expectation computed from the layer, GBIF rejects and replay.

Environment: GN_FLUX_E2E_FEEDS_PG (host port user password dbname of a database holding the
GeoNature fixture, gn_flux and the layer table obs_ms), GN_FLUX_E2E_WFS (MapServer CGI url),
GN_FLUX_E2E_OGC_MS (MapServer OGC API root), GN_FLUX_E2E_STANDINS (stand-ins root),
GN_FLUX_E2E_SERVE_OGC (gn_flux's own OGC API root), GN_FLUX_E2E_GBIF_RECORDS.
"""

import json
import os
import sys
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from feedlib import connect, ensure_dataset, error_of, finish, ok, one, q  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

WFS = os.environ["GN_FLUX_E2E_WFS"]
OGC_MS = os.environ["GN_FLUX_E2E_OGC_MS"]
STANDINS = os.environ["GN_FLUX_E2E_STANDINS"]
SERVE_OGC = os.environ.get("GN_FLUX_E2E_SERVE_OGC")
GBIF_RECORDS = int(os.environ.get("GN_FLUX_E2E_GBIF_RECORDS", "120500"))


def add(name, url, kind, options, **extra):
    q("SELECT gn_flux.drop_source(name) FROM gn_flux.source WHERE name = %s", name)
    cols = "".join(f", {k} => %s" for k in extra)
    q(f"SELECT gn_flux.add_source(%s, %s, kind => %s, options => %s::jsonb, probe => true{cols})",
      name, url, kind, json.dumps(options), *extra.values())


def pull(name, mode="full"):
    row = q("SELECT status, items, inserted, updated, errors, message, import_id FROM gn_flux.pull_source(%s, %s)",
            name, mode)[0]
    return dict(zip(["status", "items", "inserted", "updated", "errors", "message", "import_id"], row))


def keys(name):
    return {r[0] for r in q("SELECT k.key FROM gn_flux.data_json d JOIN gn_flux.feed_key k ON k.id_data = d.id_data "
                              "WHERE d.source = %s", name)}


def get_json(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


q("SET gn_flux.progress_notices = off")
q("SET client_min_messages = warning")
layer_ids = {str(r[0]) for r in q("SELECT id FROM obs_ms")}
ok(len(layer_ids) == 20000, "the MapServer layer holds 20,000 rows")

# ----- options are checked on save ---------------------------------------------------------
e = error_of("SELECT gn_flux.add_source('bad_wfs', %s, kind => 'wfs', options => '{}', probe => false)", WFS)
ok(e and e[0] == "22023" and "typename" in e[1] and e[2], f"a wfs source without typename: 22023 with a hint ({e})")
e = error_of("SELECT gn_flux.add_source('bad_kind', %s, kind => 'sftp', probe => false)", WFS)
ok(e and e[0] == "22023" and "sftp" in e[1], f"an unknown kind: 22023 ({e})")
e = error_of("SELECT gn_flux.add_source('bad_exp', %s, 3, kind => 'gbif', probe => false)", STANDINS + "/gbif/v1")
ok(e and e[0] == "22023" and "export_id" in e[1], f"export_id on a gbif source: 22023 ({e})")
e = error_of("SELECT gn_flux.add_source('bad_json', %s, kind => 'json', options => '{\"paging\": \"page\", \"items\": \"/items\", \"id\": \"id\", \"colour\": 1}', probe => false)", STANDINS)
ok(e and "colour" in e[1] and "paging" in e[2], f"an unknown option names the allowed ones ({e})")
e = error_of("SELECT gn_flux.add_source('bad_gbif', %s, kind => 'gbif', page_size => 1000, probe => false)", STANDINS + "/gbif/v1")
ok(e and "300" in e[1], f"a GBIF page size above 300 ({e})")

# ----- WFS, GeoJSON --------------------------------------------------------------------------
add("wfs_ms", WFS, "wfs", {"typename": "ms:obs_ms", "id": "id", "srid": 2154, "modified": "date_modification"},
    page_size=1000)
r = pull("wfs_ms")
ok(r["status"] == "success" and r["items"] == 20000 and r["inserted"] == 20000,
   f"WFS GeoJSON full pull through a 500-feature server cap: {r}")
ok(keys("wfs_ms") == layer_ids, "the pulled keys are exactly the layer's ids")
log = q("SELECT pages, paging, http_requests, watermark FROM gn_flux.import_log WHERE id = %s", r["import_id"])[0]
ok(log[0] == 40 and log[1] == "startindex" and log[2] == 43,
   f"40 pages of 500 (the server's CountDefault) by startIndex; requests: capabilities, hits, 40 pages, hits: {log}")
bad = one("""SELECT count(*) FROM gn_flux.data_json d JOIN gn_flux.feed_key k ON k.id_data = d.id_data
             JOIN obs_ms l ON l.id::text = k.key
            WHERE d.source = 'wfs_ms'
              AND (d.type <> 'wfs' OR ST_SRID(d.geom) <> 4326
                   OR ST_Distance(d.geom, ST_Transform(l.geom, 4326)) > 1e-7
                   OR d.item ->> 'nom_cite' IS DISTINCT FROM l.nom_cite
                   OR (d.item ->> 'cd_nom')::int IS DISTINCT FROM l.cd_nom
                   OR (d.item ->> 'nombre')::int IS DISTINCT FROM l.nombre
                   OR d.item ->> 'commune' IS DISTINCT FROM l.commune
                   OR d.uuid IS NULL)""")
ok(bad == 0, f"every staged row equals its layer row (attributes, geometry reprojected from 2154 to 4326): {bad} differ")
ok(str(log[3]).startswith(str(one("SELECT max(date_modification) FROM obs_ms"))[:19]),
   f"the watermark is the layer's largest date_modification ({log[3]})")

# an update pull reads what changed since the watermark
q("UPDATE obs_ms SET nombre = nombre + 1000, date_modification = '2025-02-01 10:00:00' WHERE id % 2000 = 7")
r = pull("wfs_ms", "update")
ok(r["status"] == "success" and r["updated"] == 10 and r["items"] < 100,
   f"an incremental WFS pull (filter on date_modification) reads the 10 changed rows: {r}")
ok(one("SELECT count(*) FROM gn_flux.data_json d JOIN gn_flux.feed_key k ON k.id_data = d.id_data "
       "WHERE d.source = 'wfs_ms' AND (d.item ->> 'nombre')::int >= 1000") == 10, "their new values are staged")
r = pull("wfs_ms", "full")
ok(r["status"] == "success" and r["inserted"] == 0 and r["updated"] == 0, f"a second full pull changes nothing: {r}")

# ----- WFS, GML 3.2 with bbox and attribute filters ------------------------------------------
# (no srid: the layer's DefaultCRS, EPSG:2154, is read from the capabilities)
add("wfs_gml", WFS, "wfs", {"typename": "ms:obs_ms", "id": "id", "output": "gml",
                            "bbox": [700000, 6400000, 800000, 6500000], "filter": {"commune": "Mâcon"}},
    page_size=50)
r = pull("wfs_gml")
expected = {str(x[0]) for x in q("SELECT id FROM obs_ms WHERE commune = 'Mâcon' "
                                  "AND geom && ST_MakeEnvelope(700000, 6400000, 800000, 6500000, 2154)")}
ok(r["status"] == "success" and keys("wfs_gml") == expected and len(expected) > 50,
   f"WFS GML 3.2 with a bbox and an attribute filter: {len(keys('wfs_gml'))} rows, PostGIS says {len(expected)} ({r})")
bad = one("""SELECT count(*) FROM gn_flux.data_json d JOIN gn_flux.feed_key k ON k.id_data = d.id_data
             JOIN obs_ms l ON l.id::text = k.key
            WHERE d.source = 'wfs_gml' AND (ST_Distance(d.geom, ST_Transform(l.geom, 4326)) > 1e-6
                                           OR d.item ->> 'nom_cite' IS DISTINCT FROM l.nom_cite)""")
ok(bad == 0, f"GML geometries and text equal the layer's: {bad} differ")

# ----- OGC API – Features -----------------------------------------------------------------
add("ogc_ms", OGC_MS, "ogcapi", {"collection": "obs_ms", "bbox": [4, 45, 5, 46]}, page_size=1000)
r = pull("ogc_ms")
matched = get_json(OGC_MS + "/collections/obs_ms/items?f=json&limit=1&bbox=4,45,5,46")["numberMatched"]
ok(r["status"] == "success" and r["items"] == matched and len(keys("ogc_ms")) == matched,
   f"MapServer's OGC API, one bbox page: {r['items']} rows = numberMatched {matched}")
bad = one("""SELECT count(*) FROM gn_flux.data_json d JOIN gn_flux.feed_key k ON k.id_data = d.id_data
             JOIN obs_ms l ON l.id::text = k.key
            WHERE d.source = 'ogc_ms' AND ST_Distance(d.geom, ST_Transform(l.geom, 4326)) > 2e-6""")
ok(bad == 0, f"its geometries equal the layer's (6 decimals): {bad} differ")
add("ogc_ms_all", OGC_MS, "ogcapi", {"collection": "obs_ms"}, page_size=5000)
r = pull("ogc_ms_all")
ok(r["status"] == "failed" and "ignores the paging" in (r["message"] or ""),
   f"MapServer 8.0.0 ignores offset (every page is the first): the walk stops, nothing stored: {r['message']}")
ok(one("SELECT count(*) FROM gn_flux.data_json WHERE source = 'ogc_ms_all'") == 0, "the failed run left nothing")
if SERVE_OGC:
    cols = get_json(SERVE_OGC + "/collections?f=json")["collections"]
    big = max(cols, key=lambda c: get_json(SERVE_OGC + f"/collections/{c['id']}/items?f=json&limit=1").get("numberMatched", 0))
    n = get_json(SERVE_OGC + f"/collections/{big['id']}/items?f=json&limit=1")["numberMatched"]
    add("ogc_self", SERVE_OGC, "ogcapi", {"collection": big["id"]}, page_size=1000)
    r = pull("ogc_self")
    ok(r["status"] == "success" and r["items"] == n and len(keys("ogc_self")) == n,
       f"gn_flux's own OGC API ({big['id']}): {r['items']} rows by next links = numberMatched {n}")

# ----- generic JSON APIs ---------------------------------------------------------------------
all_json = get_json(STANDINS + "/json/_all")
json_ids = {str(i["id"]) for i in all_json}
styles = {
    "json_page": ("/json/page", {"paging": "page", "items": "/items", "limit_param": "per_page", "total": "/total"}),
    "json_offset": ("/json/offset", {"paging": "offset", "items": "/data/rows", "total": "/meta/count"}),
    "json_cursor": ("/json/cursor", {"paging": "cursor", "items": "/results", "limit_param": "size"}),
    "json_next": ("/json/next", {"paging": "next", "items": "/items"}),
    "json_array": ("/json/array", {"paging": "page", "items": ""}),
}
for name, (path, opts) in styles.items():
    opts = dict(opts, id="id", geometry="geometry", modified="modifie")
    add(name, STANDINS + path, "json", opts, page_size=500)
    r = pull(name)
    ok(r["status"] == "success" and keys(name) == json_ids and r["items"] == len(json_ids),
       f"JSON API, {opts['paging']} paging through a 200-item server cap: {r['items']} items, all once ({r['message']})")
ok(one("SELECT count(*) FROM gn_flux.data_json WHERE source = 'json_next' AND geom IS NULL") == 0,
   "JSON items' GeoJSON geometries are staged")


def control(body):
    req = urllib.request.Request(STANDINS + "/_control", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()


# a cancel stops a pull waiting on a slow server within a second, and changes nothing
control({"delay_ms": 3000})
other = connect()
pid = other.cursor()
pid.execute("SELECT pg_backend_pid()")
backend = pid.fetchone()[0]
outcome = {}


def slow_pull():
    try:
        with other.cursor() as c:
            c.execute("SET gn_flux.progress_notices = off")
            c.execute("SELECT status FROM gn_flux.pull_source('json_offset', 'full')")
            outcome["rows"] = c.fetchall()
    except Exception as ex:  # noqa: BLE001
        outcome["error"] = getattr(ex, "pgcode", str(ex))
    outcome["at"] = time.time()


worker = threading.Thread(target=slow_pull)
worker.start()
time.sleep(1.5)
cancelled_at = time.time()
q("SELECT pg_cancel_backend(%s)", backend)
worker.join(30)
control({"reset": True})
took = outcome.get("at", 1e9) - cancelled_at
ok(outcome.get("error") == "57014" and took < 1.5, f"pg_cancel_backend stops a feed pull within a second: {took:.2f} s ({outcome})")
ok(one("SELECT count(*) FROM gn_flux.data_json WHERE source = 'json_offset'") == len(json_ids),
   "the cancelled run changed nothing")
other.close()
# an API key in a header, from the token; faults answered with Retry-After
q("SELECT gn_flux.drop_source(name) FROM gn_flux.source WHERE name = 'json_keyed'")
e = error_of("SELECT gn_flux.add_source('json_keyed', %s, kind => 'json', options => %s::jsonb)",
             STANDINS + "/json/keyed/offset", json.dumps({"paging": "offset", "items": "/data/rows", "id": "id"}))
ok(e and "401" in e[1], f"without its key, the keyed API refuses the probe: {e}")
add("json_keyed", STANDINS + "/json/keyed/offset", "json",
    {"paging": "offset", "items": "/data/rows", "id": "id", "api_key_header": "X-Api-Key",
     "modified": "modifie", "modified_param": "modified_since"},
    token="s3cret-key", retry_backoff_ms=100)
urllib.request.urlopen(urllib.request.Request(STANDINS + "/_control", data=json.dumps({"fail_next": [503, 429]}).encode(),
                                              headers={"Content-Type": "application/json"}), timeout=10).read()
r = pull("json_keyed")
retries = one("SELECT api_count_errors FROM gn_flux.import_log WHERE id = %s", r["import_id"])
ok(r["status"] == "success" and keys("json_keyed") == json_ids and retries == 2,
   f"the API key goes in its header; a 503 and a 429 (Retry-After) are retried: {retries} retries, {r['items']} items")
ok("s3cret-key" not in json.dumps(q("SELECT xfer_filters, comment FROM gn_flux.import_log WHERE source = 'json_keyed'")),
   "the key appears in no log row")
r = pull("json_keyed", "update")
ok(r["status"] == "success" and r["items"] < len(json_ids), f"an update pull sends modified_since: {r['items']} items")

# ----- GBIF ----------------------------------------------------------------------------------
GBIF = STANDINS + "/gbif/v1"
total = get_json(GBIF + "/occurrence/search?limit=0")["count"]
add("gbif_all", GBIF, "gbif", {}, page_size=300)
r = pull("gbif_all")
expected = {str(4_000_000_000 + 7 * i) for i in range(GBIF_RECORDS)}
ok(total == GBIF_RECORDS and total > 100_000, f"the GBIF stand-in counts {total} records (above the 100,000 offset cap)")
ok(r["status"] == "success" and keys("gbif_all") == expected,
   f"a GBIF query above 100,000 results is pulled whole by lastInterpreted ranges: {r['items']} items ({r['message']})")
ok(one("SELECT max(id_data) FROM gn_flux.data_json WHERE source = 'gbif_all'") < 2**31,
   "GBIF keys beyond 32 bits are staged under integer ids (feed_key)")
stats = get_json(STANDINS + "/_stats")
ok("400" not in (stats.get("statuses") or {}), f"no request hit GBIF's offset cap (400): {stats.get('statuses')}")
add("gbif_birds", GBIF, "gbif", {}, page_size=300, query_strings=json.dumps({"taxonKey": 212}))
r = pull("gbif_birds")
birds = get_json(GBIF + "/occurrence/search?limit=0&taxonKey=212")["count"]
ok(r["status"] == "success" and r["items"] == birds, f"a filtered GBIF query (taxonKey=212): {r['items']} = count {birds}")

# ----- mapping to the Synthese -------------------------------------------------------------
dataset = ensure_dataset()
e = error_of("SELECT gn_flux.set_mapping('wfs_ms', '{\"colour\": \"1\"}')")
ok(e and e[0] == "42703" and e[2], f"an unknown column: 42703 with a hint ({e})")
e = error_of("SELECT gn_flux.set_mapping('wfs_ms', '{\"nom_cite\": \"s.item ->> ''nom_cite''\"}')")
ok(e and e[0] == "23502" and "date_min" in e[1] and "id_dataset" in e[1], f"NOT NULL columns without a value: 23502 ({e})")
bad_type = dict(json.loads(one("SELECT gn_flux.example_mapping('wfs_layer', %s::uuid)::text", dataset)),
                the_geom_4326="s.item -> 'commune'")
e = error_of("SELECT gn_flux.set_mapping('wfs_ms', %s::jsonb)", json.dumps(bad_type))
ok(e and e[0] == "22023" and "the_geom_4326" in (e[1] + e[2]) or (e and "geometry" in e[1]), f"a wrong type: 22023 ({e})")
e = error_of("SELECT gn_flux.set_mapping('wfs_ms', '{\"nom_cite\": \"1; DROP TABLE x\"}')")
ok(e and e[0] == "22023", f"a statement in an expression is refused ({e})")
q("SELECT gn_flux.set_mapping('wfs_ms', gn_flux.example_mapping('wfs_layer', %s::uuid))", dataset)
q("SELECT * FROM gn_flux.enable_synthese('wfs_ms')")
loaded = one("SELECT count(*) FROM gn_synthese.synthese s JOIN gn_synthese.t_sources t USING (id_source) "
             "WHERE t.name_source ILIKE '%wfs_ms%'")
ok(loaded == 20000, f"the WFS layer mapped into the Synthese: {loaded} observations")
bad = one("""SELECT count(*) FROM obs_ms l
              LEFT JOIN gn_synthese.synthese s ON s.entity_source_pk_value = l.id::text
               AND s.id_source = (SELECT id_source FROM gn_flux.synthese_load WHERE source = 'wfs_ms')
             WHERE s.id_synthese IS NULL OR s.nom_cite <> l.nom_cite OR s.cd_nom <> l.cd_nom
                OR s.date_min <> l.date_obs::timestamp OR s.date_max <> l.date_obs::timestamp
                OR s.count_min <> l.nombre OR s.observers <> l.observateur OR s.place_name <> l.commune
                OR ST_Distance(s.the_geom_local, l.geom) > 0.01
                OR s.id_dataset <> (SELECT id_dataset FROM gn_meta.t_datasets WHERE unique_dataset_id = %s::uuid)""",
          dataset)
ok(bad == 0, f"every Synthese row equals the layer row it comes from (independent SQL): {bad} differ")
# GBIF: rejects with reasons, then a mapping fix and a replay
q("SELECT gn_flux.set_mapping('gbif_birds', gn_flux.example_mapping('gbif', %s::uuid))", dataset)
q("SELECT * FROM gn_flux.enable_synthese('gbif_birds')")
no_date = one("SELECT count(*) FROM gn_flux.data_json WHERE source = 'gbif_birds' AND item ->> 'eventDate' IS NULL")
rejected = one("SELECT count(DISTINCT id_data) FROM gn_flux.synthese_reject WHERE source = 'gbif_birds' AND field = 'date_min'")
ok(no_date > 0 and rejected == no_date, f"GBIF records without eventDate are rejected with the reason: {rejected} of {no_date}")
fixed = dict(json.loads(one("SELECT gn_flux.example_mapping('gbif', %s::uuid)::text", dataset)),
             date_min="coalesce(gn_flux.date_start(s.item ->> 'eventDate'), gn_flux.date_start(s.item ->> 'lastInterpreted'))",
             date_max="coalesce(gn_flux.date_end(s.item ->> 'eventDate'), gn_flux.date_start(s.item ->> 'lastInterpreted'))")
q("SELECT gn_flux.set_mapping('gbif_birds', %s::jsonb)", json.dumps(fixed))
q("SELECT * FROM gn_flux.replay_synthese('gbif_birds')")
left = one("SELECT count(*) FROM gn_flux.synthese_reject WHERE source = 'gbif_birds' AND field = 'date_min'")
ok(left == 0, f"after the mapping fix, replay_synthese loads them: {left} date rejects left")
# one dataset per GBIF datasetKey, created by the load
q("SELECT gn_flux.set_datasets('gbif_birds', 's.item ->> ''datasetKey''', '''GBIF dataset '' || (s.item ->> ''datasetKey'')')")
per_key = dict(fixed, id_dataset="s.item ->> 'datasetKey'")
q("SELECT gn_flux.set_mapping('gbif_birds', %s::jsonb)", json.dumps(per_key))
q("SELECT * FROM gn_flux.load_synthese('gbif_birds')")
keys_ds = {r[0] for r in q("SELECT DISTINCT item ->> 'datasetKey' FROM gn_flux.data_json WHERE source = 'gbif_birds'")}
made = {r[0] for r in q("SELECT unique_dataset_id::text FROM gn_meta.t_datasets d JOIN gn_meta.t_acquisition_frameworks a USING (id_acquisition_framework) WHERE a.acquisition_framework_name = 'gn_flux: gbif_birds'")}
ok(keys_ds and made == keys_ds, f"one dataset per GBIF datasetKey, under the source's framework: {len(made)} for {len(keys_ds)} keys")
wrong = one("""SELECT count(*) FROM gn_synthese.synthese s JOIN gn_flux.synthese_load l USING (id_source)
               JOIN gn_flux.data_json d ON d.source = l.source AND d.uuid = s.unique_id_sinp
               JOIN gn_meta.t_datasets ds ON ds.id_dataset = s.id_dataset
              WHERE l.source = 'gbif_birds' AND ds.unique_dataset_id::text <> d.item ->> 'datasetKey'""")
ok(wrong == 0, f"every GBIF observation is in the dataset of its datasetKey: {wrong} elsewhere")

finish()
