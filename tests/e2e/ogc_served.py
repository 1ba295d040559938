"""Serve II end to end: OGC API – Features, the OpenAPI document and the web pages, checked with
real clients against the API workers (after crates/e2e/tests/serve.rs loaded the fixture).

- The OGC resources against the standard's rules (links, limit, bbox, datetime, crs, errors,
  CORS, HEAD), every answer compared with what PostGIS computes for the same predicate.
- GDAL's OAPIF driver (ogrinfo, ogr2ogr): lists the collections and copies the 20,000-row
  collection whole (count, geometries, attributes); bbox and attribute filters.
- The OpenAPI document passes openapi-spec-validator, and every route it lists answers.
- Headless Chromium (tests/e2e/browser.py): the catalogue, login, tokens, the dashboard (a failed
  run shown as failed), the collection pages and the documentation page, with and without
  JavaScript; screenshots are saved in $GN_FLUX_E2E_ARTIFACTS (default target/e2e-artifacts).

Run by tests/e2e/run.sh with a venv holding psycopg2 and openapi-spec-validator:
    python tests/e2e/ogc_served.py
Environment: GN_FLUX_E2E_SERVE_PG (host port user password dbname) and GN_FLUX_E2E_SERVE_URL
(http://127.0.0.1:PORT/geonature).
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg2
from openapi_spec_validator import validate

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser import Browser  # noqa: E402

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
READER, READER_PW = "gn_flux_e2e_reader", "reader-pw"
NOBODY, NOBODY_PW = "gn_flux_e2e_nobody", "nobody-pw"

SETUP = """
DROP VIEW IF EXISTS served.v_l93;
DELETE FROM gn_flux.export WHERE label = 'served l93';
CREATE VIEW served.v_l93 AS
SELECT id_synthese, nom_cite, cd_nom, date_debut, derniere_action,
       CAST(ST_Transform(geom, 2154) AS geometry(Point, 2154)) AS geom
  FROM served.obs;
GRANT SELECT ON served.v_l93 TO gn_flux_anonymous, gn_flux_e2e_reader;
INSERT INTO gn_flux.export (label, schema_name, view_name, view_pk_column, geometry_field, public, description)
VALUES ('served l93', 'served', 'v_l93', 'id_synthese', 'geom', true, 'Observations in Lambert-93 (EPSG:2154)');
GRANT gn_flux_monitor TO gn_flux_e2e_reader;
SET gn_flux.progress_notices = off;
SELECT gn_flux.drop_source(name) FROM gn_flux.source WHERE name = 'ogc_down';
SELECT gn_flux.add_source('ogc_down', 'http://127.0.0.1:9/geonature', 1, probe => false, max_retries => 0,
                          connect_timeout_ms => 200);
SELECT status FROM gn_flux.pull_source('ogc_down', 'full');
"""

CHECKS = 0


def check(cond, msg):
    global CHECKS
    CHECKS += 1
    if not cond:
        print(f"FAILED: {msg}", file=sys.stderr)
        sys.exit(1)


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())


def http(url, method="GET", accept="application/json", headers=None, body=None):
    h = {"Accept": accept} if accept else {}
    h.update(headers or {})
    req = urllib.request.Request(url, data=body, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return Reply(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


def rows(cur, sql, args=()):
    cur.execute(sql, args)
    return cur.fetchall()


def one(cur, sql, args=()):
    return rows(cur, sql, args)[0][0]


def walk(url, headers=None):
    """Every feature, following `next` links; (features, pages, first page's numberMatched)."""
    features, pages, matched = [], 0, None
    while url:
        r = http(url, accept="application/geo+json, application/json", headers=headers)
        check(r.status == 200, f"{url}: {r.status} {r.body[:300]}")
        doc = r.json()
        if matched is None:
            matched = doc.get("numberMatched")
        check(doc["numberReturned"] == len(doc["features"]), "numberReturned = features in the page")
        features += doc["features"]
        pages += 1
        nxt = [l for l in doc["links"] if l["rel"] == "next"]
        check(len(nxt) <= 1, "at most one next link")
        url = nxt[0]["href"] if nxt else None
        if url:
            check(url.startswith("http://"), "next links are absolute")
            check(pages < 10000, "bounded walk")
    return features, pages, matched


def close(a, b, eps=1e-6):
    return all(math.isclose(x, y, abs_tol=eps) for x, y in zip(a, b)) and len(a) == len(b)


def main():
    host, port, user, password, db = os.environ["GN_FLUX_E2E_SERVE_PG"].split()
    base = os.environ["GN_FLUX_E2E_SERVE_URL"].rstrip("/")
    ogc = f"{base}/ogc"
    artifacts = Path(os.environ.get("GN_FLUX_E2E_ARTIFACTS", "target/e2e-artifacts")).resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    conn = psycopg2.connect(host=host, port=port, user=user, password=password, dbname=db)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(SETUP)
    time.sleep(0.2)

    login = http(f"{base}/api/auth/login", "POST", headers={"Content-Type": "application/json"},
                 body=json.dumps({"login": READER, "password": READER_PW}).encode())
    check(login.status == 200, f"login: {login.status}")
    bearer = {"Authorization": f"Bearer {login.json()['token']}"}
    geo_token = one(cur, "SELECT gn_flux.create_api_token('served geo', 'gn_flux_e2e_reader')")

    # --- The landing page, conformance, collections --------------------------------------------
    landing = http(f"{ogc}/")
    check(landing.status == 200 and landing.header("content-type").startswith("application/json"), "landing JSON")
    links = {l["rel"]: l for l in landing.json()["links"]}
    check(links["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0", "service-desc type")
    check(links["service-doc"]["type"] == "text/html", "service-doc type")
    check(links["data"]["href"] == f"{ogc}/collections", "data link")
    check(all(l["href"].startswith("http") and l.get("type") for l in landing.json()["links"]), "links absolute and typed")
    conf = http(f"{ogc}/conformance").json()["conformsTo"]
    check("http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conf and len(conf) == 5, "conformance classes")

    anon = http(f"{ogc}/collections").json()
    anon_ids = sorted(c["id"] for c in anon["collections"])
    check(anon_ids == ["served_l93", "served_public"], f"anonymous sees the public collections only: {anon_ids}")
    mine = sorted(c["id"] for c in http(f"{ogc}/collections", headers=bearer).json()["collections"])
    check({"served_geo", "served_flat", "served_l93"} <= set(mine), f"the reader sees its collections: {mine}")
    token_view = http(f"{ogc}/collections?token={geo_token}").json()["collections"]
    check([c["id"] for c in token_view] == ["served_geo"], "a token sees its export only")
    l93 = next(c for c in anon["collections"] if c["id"] == "served_l93")
    check(l93["storageCrs"] == f"{EPSG}2154" and l93["crs"][0] == CRS84 and f"{EPSG}4326" in l93["crs"], "crs list")
    ext = one(cur, "SELECT ARRAY[ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)] FROM "
                   "(SELECT ST_Transform(ST_SetSRID(ST_Extent(geom)::geometry, 2154), 4326) e FROM served.v_l93) s")
    check(close(l93["extent"]["spatial"]["bbox"][0], ext, 1e-9), f"extent = PostGIS's: {l93['extent']} {ext}")
    check(l93["extent"]["temporal"]["interval"][0][0].startswith("2020-01-01"), "temporal extent")
    single = http(f"{ogc}/collections/served_l93").json()
    for k in ("id", "title", "description", "extent", "itemType"):
        check(single[k] == l93[k], f"collection {k} equals its /collections entry")
    check(http(f"{ogc}/collections/nope").status == 404, "unknown collection: 404")
    check(http(f"{ogc}/collections/SERVED_L93").json()["id"] == "served_l93", "a collection id in another case")
    e = http(f"{ogc}/collections/nope?f=html")
    check(e.status == 404 and e.header("content-type").startswith("text/html") and b"no collection" in e.body,
          "an error for a browser is an HTML page")
    check(http(f"{ogc}/collections/served_geo").status == 401, "private collection, anonymous: 401")
    check(http(f"{ogc}/collections/served_flat?token={geo_token}").status == 403, "another export's token: 403")

    # --- Items -----------------------------------------------------------------------------------
    items = f"{ogc}/collections/served_l93/items"
    total = one(cur, "SELECT count(*) FROM served.v_l93")
    r = http(items, accept="application/json")
    check(r.status == 200 and r.header("content-type") == "application/geo+json", "items: GeoJSON even for Accept JSON")
    check(r.header("content-crs") == f"<{CRS84}>", "Content-Crs without crs")
    check(r.header("access-control-allow-origin") == "*", "CORS")
    doc = r.json()
    check(len(doc["features"]) == 10 and doc["numberMatched"] == total, "default limit 10, numberMatched = count(*)")
    rels = {l["rel"] for l in doc["links"]}
    check({"self", "alternate", "next", "collection"} <= rels, f"item links: {rels}")
    f0 = doc["features"][0]
    check(isinstance(f0["id"], int) and set(f0["properties"]) == {"id_synthese", "nom_cite", "cd_nom", "date_debut", "derniere_action"},
          "integer ids, every property")
    check(len(http(f"{items}?limit=100000").json()["features"]) == 1000, "limit above the maximum: the maximum")
    for bad in ["limit=0", "limit=abc", "bbox=1,2,3", "bbox=0,91,1,92", "datetime=garbage", "nope=1",
                f"crs={urllib.parse.quote(EPSG + '2056')}", "cursor=!!"]:
        e = http(f"{items}?{bad}")
        check(e.status == 400 and "description" in e.json(), f"{bad}: 400 with a description ({e.status})")
    check(http(f"{items}?limit=5", method="HEAD").status == 200, "HEAD")
    pre = http(items, method="OPTIONS", headers={"Origin": "http://x", "Access-Control-Request-Method": "GET"})
    check(pre.status == 204 and "GET" in pre.header("access-control-allow-methods"), "OPTIONS preflight")

    feats, pages, matched = walk(f"{items}?limit=1000")
    ids = [f["id"] for f in feats]
    check(matched == total and len(ids) == total and len(set(ids)) == total, f"walk: {len(ids)} of {total}")
    check(ids == [r[0] for r in rows(cur, "SELECT id_synthese FROM served.v_l93 ORDER BY 1")], "walk: the view's ids in order")
    check(pages == math.ceil(total / 1000), f"pages: {pages}")

    # bbox, in CRS84, in EPSG:4326 (latitude first) and in the storage CRS
    bb = (5.2, 44.05, 5.5, 44.12)
    expect = sorted(r[0] for r in rows(cur, "SELECT id_synthese FROM served.v_l93 WHERE geom IS NULL OR "
                                            "ST_Intersects(geom, ST_Transform(ST_MakeEnvelope(%s,%s,%s,%s,4326),2154))", bb))
    got = sorted(f["id"] for f in walk(f"{items}?limit=1000&bbox={','.join(map(str, bb))}")[0])
    check(got == expect and len(expect) > 100, f"bbox CRS84: {len(got)} vs PostGIS {len(expect)}")
    gdal_bbox = ",".join("%.18g" % v for v in bb)
    got = sorted(f["id"] for f in walk(f"{items}?limit=1000&bbox={gdal_bbox}")[0])
    check(got == expect, "bbox in GDAL's %.18g form")
    latlon = f"{bb[1]},{bb[0]},{bb[3]},{bb[2]}"
    got = sorted(f["id"] for f in walk(f"{items}?limit=1000&bbox={latlon}&bbox-crs={urllib.parse.quote(EPSG + '4326')}")[0])
    check(got == expect, "bbox-crs EPSG:4326 is latitude first")
    l93box = (900000, 6330000, 920000, 6345000)
    expect93 = sorted(r[0] for r in rows(cur, "SELECT id_synthese FROM served.v_l93 WHERE geom IS NULL OR "
                                              "ST_Intersects(geom, ST_MakeEnvelope(%s,%s,%s,%s,2154))", l93box))
    got = sorted(f["id"] for f in walk(f"{items}?limit=1000&bbox={','.join(map(str, l93box))}&bbox-crs={urllib.parse.quote(EPSG + '2154')}")[0])
    check(got == expect93, f"bbox-crs EPSG:2154: {len(got)} vs {len(expect93)}")

    # crs: the storage CRS, EPSG:4326 latitude first, CRS84 longitude first
    ref = {r[0]: r[1:] for r in rows(cur, "SELECT id_synthese, ST_X(geom), ST_Y(geom), ST_X(ST_Transform(geom,4326)), "
                                          "ST_Y(ST_Transform(geom,4326)) FROM served.v_l93 WHERE id_synthese <= 50 AND geom IS NOT NULL")}
    r93 = http(f"{items}?limit=50&crs={urllib.parse.quote(EPSG + '2154')}")
    check(r93.header("content-crs") == f"<{EPSG}2154>", "Content-Crs EPSG:2154")
    for f in r93.json()["features"]:
        if f["id"] in ref:
            check(close(f["geometry"]["coordinates"], ref[f["id"]][0:2], 1e-6), f"crs 2154 coordinates of {f['id']}")
    for f in http(f"{items}?limit=50&crs={urllib.parse.quote(EPSG + '4326')}").json()["features"]:
        if f["id"] in ref:
            x, y = ref[f["id"]][2:4]
            check(close(f["geometry"]["coordinates"], [y, x], 1e-9), "crs EPSG:4326: latitude first")
    for f in http(f"{items}?limit=50").json()["features"]:
        if f["id"] in ref:
            x, y = ref[f["id"]][2:4]
            check(close(f["geometry"]["coordinates"], [x, y], 1e-9), "CRS84: longitude first")

    # datetime (date_debut is the temporal property: the view has no date_min/date_max)
    def dt_count(value):
        d = http(f"{items}?limit=1&datetime={urllib.parse.quote(value)}")
        check(d.status == 200, f"datetime={value}: {d.status} {d.body[:200]}")
        return d.json()["numberMatched"]

    def sql_count(cond, args=()):
        return one(cur, f"SELECT count(*) FROM served.v_l93 WHERE date_debut IS NULL OR ({cond})", args)

    check(dt_count("2020-03-01") == sql_count("date_debut = '2020-03-01'"), "datetime instant (a day)")
    check(dt_count("2020-03-01T") == sql_count("date_debut = '2020-03-01'"), "datetime GDAL's 2020-03-01T")
    check(dt_count("2020-03-01/2020-03-05") == sql_count("date_debut BETWEEN '2020-03-01' AND '2020-03-05'"), "interval, ends included")
    check(dt_count("2021-06-01T00:00:00Z/..") == sql_count("date_debut >= '2021-06-01'"), "open end ..")
    check(dt_count("/2020-02-01") == sql_count("date_debut <= '2020-02-01'"), "open start (empty)")
    check(dt_count("0000-01-01T00:00:00Z/2020-02-01T00:00:00Z") == sql_count("date_debut <= '2020-02-01'"), "QGIS's year 0000")
    check(dt_count("2022-01-01/9999-12-31T00:00:00Z") == sql_count("date_debut >= '2022-01-01'"), "QGIS's year 9999")

    # property filters, ANDed with bbox
    name = one(cur, "SELECT nom_cite FROM served.v_l93 WHERE id_synthese = 7")
    n = http(f"{items}?limit=1&nom_cite={urllib.parse.quote(name)}&bbox={','.join(map(str, bb))}").json()["numberMatched"]
    check(n == one(cur, "SELECT count(*) FROM served.v_l93 WHERE nom_cite = %s AND (geom IS NULL OR "
                        "ST_Intersects(geom, ST_Transform(ST_MakeEnvelope(%s,%s,%s,%s,4326),2154)))", (name, *bb)), "property filter AND bbox")
    check(http(f"{items}?cd_nom=notanumber").status == 400, "a property filter with a bad value: 400")
    small = http(f"{items}?limit=1000&nom_cite={urllib.parse.quote(name)}").json()
    check(small["numberMatched"] == len(small["features"]) == one(cur, "SELECT count(*) FROM served.v_l93 WHERE nom_cite = %s", (name,))
          and not [l for l in small["links"] if l["rel"] == "next"], "a first page holding every match: its own count, no next link")

    # one feature
    it = http(f"{items}/7")
    check(it.status == 200 and it.json()["id"] == 7, "item 7")
    check({"self", "alternate", "collection"} <= {l["rel"] for l in it.json()["links"]}, "item links")
    check(http(f"{items}/99999999").status == 404 and http(f"{items}/abc").status == 404, "unknown feature: 404")

    # HTML representations
    for url in [f"{ogc}/", f"{ogc}/collections", f"{ogc}/collections/served_l93", items, f"{items}/7", f"{ogc}/conformance"]:
        h = http(url, accept="text/html,application/xhtml+xml,*/*;q=0.8")
        check(h.status == 200 and h.header("content-type").startswith("text/html") and b"<a href=" in h.body, f"HTML of {url}")
        check(http(url + ("&" if "?" in url else "?") + "f=html").header("content-type").startswith("text/html"), f"f=html {url}")

    # --- GDAL's OAPIF driver -------------------------------------------------------------------------
    def gdal(*args, env=None):
        p = subprocess.run(args, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})
        check(p.returncode == 0, f"{' '.join(args)}: {p.stderr[-2000:]}")
        return p.stdout

    out = gdal("ogrinfo", "-ro", "-q", f"OAPIF:{ogc}")
    check("served_l93" in out and "served_public" in out and "served_geo" not in out, f"ogrinfo lists the public collections: {out}")
    geo_total = one(cur, "SELECT count(*) FROM served.v_geo")
    out = gdal("ogrinfo", "-ro", "-so", f"OAPIF:{ogc}?token={geo_token}", "served_geo")
    check(f"Feature Count: {geo_total}\n" in out, f"ogrinfo -so counts from numberMatched ({geo_total}): {out[:500]}")
    with tempfile.TemporaryDirectory() as tmp:
        dst = f"{tmp}/copy.geojson"
        gdal("ogr2ogr", "-f", "GeoJSON", dst, f"OAPIF:{ogc}?token={geo_token}", "served_geo", "-oo", "PAGE_SIZE=1000")
        copied = json.load(open(dst))["features"]
        check(len(copied) == geo_total and geo_total >= 20000, f"ogr2ogr copied {len(copied)} of {geo_total} features")
        want = {r[0]: r[1:] for r in rows(cur, "SELECT id_synthese, nom_cite, cd_nom, ST_X(geom), ST_Y(geom) FROM served.v_geo")}
        seen = set()
        for f in copied:
            p = f["properties"]
            w = want[p["id_synthese"]]
            seen.add(p["id_synthese"])
            check(p["nom_cite"] == w[0] and p["cd_nom"] == w[1], f"attributes of {p['id_synthese']}")
            if w[2] is None:
                check(f["geometry"] is None, "a NULL geometry stays NULL")
            else:
                check(close(f["geometry"]["coordinates"], [w[2], w[3]], 1e-9), f"geometry of {p['id_synthese']}")
        check(len(seen) == geo_total, "every feature once")
        def items_requests():
            # (the workers flush the access log every second)
            time.sleep(1.5)
            return one(cur, "SELECT count(*) FROM gn_flux.api_log WHERE route = 'ogc_items'")

        whole_walk = math.ceil(total / 1000)
        before = items_requests()
        dst = f"{tmp}/bbox.geojson"
        gdal("ogr2ogr", "-f", "GeoJSON", dst, f"OAPIF:{ogc}", "served_l93", "-oo", "PAGE_SIZE=1000",
             "-spat", *map(str, bb))
        spat_requests = items_requests() - before
        got = sorted(f["properties"]["id_synthese"] for f in json.load(open(dst))["features"])
        inside = sorted(r[0] for r in rows(cur, "SELECT id_synthese FROM served.v_l93 WHERE "
                                                "ST_Intersects(geom, ST_Transform(ST_MakeEnvelope(%s,%s,%s,%s,4326),2154))", bb))
        check(got == inside, f"ogr2ogr -spat: {len(got)} vs PostGIS {len(inside)}")
        check(spat_requests < whole_walk, f"-spat is sent as bbox: {spat_requests} requests, a whole walk is {whole_walk}")
        before = items_requests()
        dst = f"{tmp}/where.geojson"
        gdal("ogr2ogr", "-f", "GeoJSON", dst, f"OAPIF:{ogc}", "served_l93", "-oo", "PAGE_SIZE=1000",
             "-where", "cd_nom = 60007")
        where_requests = items_requests() - before
        check(where_requests <= 3, f"-where is sent as cd_nom=60007: {where_requests} requests, a whole walk is {whole_walk}")
        got = sorted(f["properties"]["id_synthese"] for f in json.load(open(dst))["features"])
        check(got == sorted(r[0] for r in rows(cur, "SELECT id_synthese FROM served.v_l93 WHERE cd_nom = 60007")), "ogr2ogr -where")
    calls = one(cur, "SELECT count(*) FROM gn_flux.api_log WHERE route = 'ogc_items' AND path LIKE '%%served_l93/items%%'")
    check(calls > 0, "the access log names OGC routes")

    # --- OpenAPI -------------------------------------------------------------------------------------
    api = http(f"{ogc}/api", accept="application/vnd.oai.openapi+json;version=3.0, application/openapi+json;version=3.0, application/json",
               headers=bearer)
    check(api.status == 200 and "application/vnd.oai.openapi+json" in api.header("content-type")
          and "version=3.0" in api.header("content-type"), f"the API document's type: {api.header('content-type')}")
    spec = api.json()
    validate(spec)
    check(spec["openapi"].startswith("3.0.") and spec["components"]["parameters"]["limit"]["schema"]["maximum"] >= 1000, "3.0, limit")
    check("/collections/served_l93/items" in spec["paths"], "a concrete path per collection")
    first_id = one(cur, "SELECT min(id_synthese) FROM served.v_l93")
    flat_id = one(cur, "SELECT id FROM gn_flux.export WHERE label = 'served flat'")
    answered = 0
    for path, item in spec["paths"].items():
        server = (item.get("servers") or spec["servers"])[0]["url"]
        url = server + path.replace("{collectionId}", "served_l93").replace("{featureId}", str(first_id)) \
            .replace("{id}", str(flat_id)).replace("{format}", "csv")
        for method in ("get", "post"):
            if method not in item:
                continue
            if "/intake/" in path:
                # (API POST: tests/e2e/intake.py; here the route answers, and asks for a login)
                r = http(url, "POST", headers={"Content-Type": "application/json"}, body=b"[]")
                check(r.status == 401, f"POST {url} (listed in the OpenAPI document): 401 anonymously ({r.status})")
                answered += 1
                continue
            if method == "post":
                r = http(url, "POST", headers={"Content-Type": "application/json"},
                         body=json.dumps({"login": READER, "password": READER_PW}).encode())
            else:
                r = http(url, headers=bearer, accept="*/*")
            check(r.status == 200, f"{method.upper()} {url} (listed in the OpenAPI document): {r.status} {r.body[:200]}")
            answered += 1
    print(f"OpenAPI: valid, {answered} operations answered")

    # --- The web pages in Chromium ----------------------------------------------------------------------
    expected_rows = one(cur, "SELECT count(*) FROM served.v_l93")
    with Browser() as b:
        check(b.goto(f"{base}/catalogue") == 200, "catalogue")
        labels = b.attrs("[data-testid=export]", "data-label")
        check("served l93" in labels and "served geo" not in labels, f"anonymous catalogue: {labels}")
        row_count = b.eval("document.querySelector('[data-export] [data-testid=rows]') && "
                           "[...document.querySelectorAll('[data-testid=export]')].find(e => e.dataset.label === 'served l93')"
                           ".querySelector('[data-testid=rows]').innerText")
        check(row_count == f"{expected_rows:,}", f"row count shown: {row_count}")
        check(b.count("[data-label='served l93'] [data-testid=download]") == 6, "six download links for a spatial export")
        b.screenshot(str(artifacts / "catalogue-anonymous.png"))
        check(b.goto(f"{base}/dashboard") == 200 and "/login" in b.eval("location.pathname"), "dashboard → login")
        b.fill("input[name=login]", READER)
        b.fill("input[name=password]", "wrong")
        check(b.submit("form.login") == 401, "wrong password: 401")
        check(b.count("[data-testid=error]") == 1, "the login page says why")
        b.fill("input[name=password]", READER_PW)
        status = b.submit("form.login")
        check(status == 200, f"login: {status} {b.eval('location.href')} {b.texts('main')}")
        check(b.eval("location.pathname").endswith("/dashboard"), "back to the page asked for")
        check(b.texts("[data-testid=user]") == [READER], "logged in as the reader")
        statuses = b.eval("[...document.querySelectorAll('[data-testid=sources] tr')].filter(r => r.innerText.includes('ogc_down'))"
                          ".map(r => r.querySelector('[data-testid=status]').dataset.status)")
        check(statuses == ["failed"], f"the failed source is shown as failed: {statuses}")
        check(b.count("[data-testid=runs] .badge.failed") >= 1, "the failed run in the run log")
        check(b.count("[data-testid=errors]") == 1 and b.count("[data-testid=api] tbody tr") >= 1, "error log and API usage")
        b.screenshot(str(artifacts / "dashboard.png"))
        b.goto(f"{base}/dashboard?source=ogc_down&status=success&days=7")
        check(b.count("[data-testid=runs] .badge.failed") == 0, "run log filters")
        b.goto(f"{base}/catalogue")
        labels = b.attrs("[data-testid=export]", "data-label")
        check("served geo" in labels, f"after login the private export is listed: {labels}")
        b.eval("document.querySelector(\"[data-label='served geo'] details.tokens\").open = true")
        b.submit("[data-label='served geo'] form[data-testid=create-token]")
        token = b.texts("[data-testid=new-token]")
        check(len(token) == 1 and len(token[0]) == 43, "a new token, shown once")
        check(http(f"{ogc}/collections/served_geo/items?limit=1&token={token[0]}").status == 200, "the new token reads the export")
        b.screenshot(str(artifacts / "catalogue-tokens.png"))
        b.eval("document.querySelector(\"[data-label='served geo'] details.tokens\").open = true")
        b.submit("[data-label='served geo'] [data-testid=token] form")
        check(http(f"{ogc}/collections/served_geo/items?limit=1&token={token[0]}").status == 403, "revoked from the page")
        forged = http(f"{base}/catalogue/tokens", "POST", accept="text/html",
                      headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"token={login.json()['token']}"},
                      body=b"export_id=1&valid_for=1+year")
        check(forged.status == 403, f"a POST without the form token is refused: {forged.status}")
        b.goto(f"{ogc}/collections/served_l93/items?f=html&limit=10")
        check(b.count("[data-testid=feature]") == 10 and b.count("[data-testid=next]") == 1, "items page: 10 rows and a next link")
        b.click("[data-testid=next]", navigate=True)
        check(b.count("[data-testid=feature]") == 10, "next page in the browser")
        b.screenshot(str(artifacts / "items.png"))
        b.goto(f"{ogc}/collections?f=html")
        check(b.count("[data-testid=collection]") >= 3, "collections page")
        b.screenshot(str(artifacts / "collections.png"))
        b.goto(f"{ogc}/api?f=html")
        b.wait_for("document.getElementById('gn-docs').dataset.state === 'ready'")
        n_ops = b.count("[data-testid=operation]")
        check(n_ops >= 15, f"the docs page lists the operations: {n_ops}")
        b.screenshot(str(artifacts / "docs.png"))
        check(not b.js_errors, f"no JavaScript errors: {b.js_errors}")
        b.set_javascript(False)
        b.goto(f"{ogc}/api?f=html")
        check(b.count("[data-testid=operation-fallback]") >= 15, "the docs page without JavaScript")
        b.goto(f"{base}/catalogue")
        check(b.count("[data-testid=export]") >= 3, "the catalogue without JavaScript")
        b.set_javascript(True)
    with Browser() as b:
        b.goto(f"{base}/dashboard")
        b.fill("input[name=login]", NOBODY)
        b.fill("input[name=password]", NOBODY_PW)
        check(b.submit("form.login") == 403, "a role outside gn_flux_monitor may not see the dashboard")
    print(f"ogc_served: {CHECKS} checks passed; screenshots in {artifacts}")


if __name__ == "__main__":
    main()
