"""API POST end to end: observations posted to an intake through the API workers, loaded into
the GeoNature 2.17 fixture by the intake's declared mapping.

A valid batch (rows compared with the Synthese by independent SQL), an idempotent repeat, an
update, a mixed batch with every rejected row and its reasons, a FeatureCollection, malformed
JSON, an oversize body and too many rows, no login, a role that is not a writer, an export token.

Environment: GN_FLUX_E2E_FEEDS_PG (host port user password dbname: the database the API workers
serve, holding the fixture) and GN_FLUX_E2E_API (http://127.0.0.1:PORT/geonature).
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from feedlib import ensure_dataset, finish, ok, one, q  # noqa: E402
import psycopg2  # noqa: E402

API = os.environ["GN_FLUX_E2E_API"]
INTAKE = API + "/api/gn_flux/intake/app_intake"


def http(method, url, body=None, headers=None):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict({"Content-Type": "application/json"}, **(headers or {})))
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


def login(role, pw):
    status, body = http("POST", API + "/api/auth/login", {"login": role, "password": pw})
    assert status == 200, (status, body)
    return {"Authorization": "Bearer " + body["token"]}


q("SET client_min_messages = warning")
q("""DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gn_flux_writers') THEN CREATE ROLE gn_flux_writers NOLOGIN; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gn_flux_poster') THEN CREATE ROLE gn_flux_poster LOGIN PASSWORD 'poster-pw'; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gn_flux_stranger') THEN CREATE ROLE gn_flux_stranger LOGIN PASSWORD 'stranger-pw'; END IF;
END $$""")
q("GRANT gn_flux_writers TO gn_flux_poster")
DATASET = ensure_dataset()
q("SELECT gn_flux.drop_source(name) FROM gn_flux.source WHERE name = 'app_intake'")
e = None
try:
    q("SELECT gn_flux.add_source('app_intake', 'http://x', kind => 'post', options => '{\"role\": \"gn_flux_writers\"}')")
except psycopg2.Error as ex:
    e = ex
ok(e is not None and e.pgcode == "22023" and "no url" in str(e), f"an intake has no url: {e and e.pgcode}")
q("""SELECT gn_flux.add_source('app_intake', NULL, kind => 'post',
        options => '{"role": "gn_flux_writers", "max_items": 2000, "geometry": "geometry"}')""")
mapping = {
    "id_dataset": f"'{DATASET}'",
    "nom_cite": "s.item ->> 'nom_cite'",
    "cd_nom": "s.item ->> 'cd_nom'",
    "date_min": "gn_flux.date_start(s.item ->> 'date_obs')",
    "date_max": "gn_flux.date_end(s.item ->> 'date_obs')",
    "count_min": "s.item ->> 'nombre'",
    "count_max": "s.item ->> 'nombre'",
    "observers": "s.item ->> 'observateur'",
    "id_nomenclature_sex": "gn_flux.nomenclature_code('SEXE', s.item ->> 'sexe')",
}
q("SELECT gn_flux.set_mapping('app_intake', %s::jsonb)", json.dumps(mapping))
q("SELECT * FROM gn_flux.enable_synthese('app_intake')")
taxa = [r[0] for r in q("SELECT cd_nom FROM taxonomie.taxref ORDER BY cd_nom LIMIT 5")]


def obs(i, **over):
    o = {"uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"gn_flux-intake-{i}")), "nom_cite": f"Taxon {i % 5}",
         "cd_nom": taxa[i % len(taxa)], "date_obs": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}", "nombre": 1 + i % 9,
         "observateur": f"Obs {i % 3}", "sexe": ["Mâle", "Femelle", "3"][i % 3],
         "geometry": {"type": "Point", "coordinates": [5.0 + (i % 100) / 100, 45.0 + (i // 100) / 100]}}
    o.update(over)
    return o


writer = login("gn_flux_poster", "poster-pw")
batch = [obs(i) for i in range(1000)]
status, body = http("POST", INTAKE, batch)
ok(status == 401 and isinstance(body, dict) and "description" in body, f"no login: 401 with a JSON body ({status})")
stranger = login("gn_flux_stranger", "stranger-pw")
status, body = http("POST", INTAKE, batch, stranger)
ok(status == 403 and "gn_flux_writers" in body.get("description", ""), f"a role outside the writers: 403 ({status} {body})")

t0 = time.time()
status, body = http("POST", INTAKE, batch, writer)
ok(status == 200 and body["accepted_count"] == 1000 and body["rejected_count"] == 0 and body["actions"] == {"inserted": 1000},
   f"a valid batch of 1,000: all inserted in {time.time() - t0:.2f} s ({status}, {str(body)[:200]})")
sid = one("SELECT id_source FROM gn_flux.synthese_load WHERE source = 'app_intake'")
bad = one("""SELECT count(*) FROM jsonb_array_elements(%s::jsonb) o
              LEFT JOIN gn_synthese.synthese s ON s.unique_id_sinp = (o ->> 'uuid')::uuid AND s.id_source = %s
             WHERE s.id_synthese IS NULL OR s.nom_cite <> o ->> 'nom_cite' OR s.cd_nom <> (o ->> 'cd_nom')::int
                OR s.date_min <> (o ->> 'date_obs')::timestamp OR s.count_min <> (o ->> 'nombre')::int
                OR s.observers <> o ->> 'observateur'
                OR ref_nomenclatures.get_cd_nomenclature(s.id_nomenclature_sex) <> CASE o ->> 'sexe' WHEN 'Mâle' THEN '3' WHEN 'Femelle' THEN '2' ELSE o ->> 'sexe' END
                OR NOT ST_Equals(s.the_geom_4326, ST_SetSRID(ST_GeomFromGeoJSON(o ->> 'geometry'), 4326))""",
          json.dumps(batch), sid)
ok(bad == 0, f"every posted row is in the Synthese as sent (labels turned into codes): {bad} differ")

status, body = http("POST", INTAKE, batch, writer)
ok(status == 200 and body["actions"] == {"unchanged": 1000}, f"the same batch again: all unchanged ({body.get('actions')})")
ok(one("SELECT count(*) FROM gn_synthese.synthese WHERE id_source = %s", sid) == 1000, "no duplicate in the Synthese")
batch2 = [obs(i, nombre=50) if i < 10 else obs(i) for i in range(1000)]
status, body = http("POST", INTAKE, batch2, writer)
ok(status == 200 and body["actions"] == {"updated": 10, "unchanged": 990}, f"10 rows changed: updated ({body.get('actions')})")
ok(one("SELECT count(*) FROM gn_synthese.synthese WHERE id_source = %s AND count_min = 50", sid) == 10,
   "their new values are in the Synthese")

mixed = [obs(2000), obs(2001, uuid=None), obs(2002, date_obs="hier"), obs(2003, geometry={"type": "Point"}),
         obs(2004), obs(2004, nombre=3), obs(2005, sexe="Licorne"), obs(2006, cd_nom=999999999)]
mixed[1].pop("uuid")
status, body = http("POST", INTAKE, mixed, writer)
rej = {r["index"]: r["reasons"] for r in body.get("rejected", [])}
acc = {r["index"] for r in body.get("accepted", [])}
ok(status == 200 and acc == {0, 5}, f"a mixed batch: rows 0 and 5 accepted ({sorted(acc)})")
ok(set(rej) == {1, 2, 3, 4, 6, 7}, f"and every other row rejected ({sorted(rej)})")
ok("uuid" in json.dumps(rej.get(1)), f"  no uuid: {rej.get(1)}")
ok("date_min" in rej.get(2, {}), f"  a date that is not one: {rej.get(2)}")
ok("geometry" in json.dumps(rej.get(3)), f"  an invalid geometry: {rej.get(3)}")
ok("again" in json.dumps(rej.get(4)), f"  a uuid twice in the batch (the later row kept): {rej.get(4)}")
ok("id_nomenclature_sex" in rej.get(6, {}), f"  an unknown nomenclature label: {rej.get(6)}")
ok("cd_nom" in rej.get(7, {}), f"  an unknown taxon: {rej.get(7)}")

fc = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": o.pop("geometry"), "properties": o} for o in [obs(3000 + i) for i in range(3)]]}
status, body = http("POST", INTAKE, fc, writer)
ok(status == 200 and body["accepted_count"] == 3, f"a GeoJSON FeatureCollection: 3 accepted ({body.get('actions')})")

status, body = http("POST", INTAKE, b'[{"uuid": ', writer)
ok(status == 400 and "not valid JSON" in body.get("description", ""), f"malformed JSON: 400 ({status} {body})")
status, body = http("POST", INTAKE, [obs(4000 + i) for i in range(2001)], writer)
ok(status == 413 and "2000" in body.get("description", ""), f"more rows than max_items: 413 ({status})")
q("ALTER SYSTEM SET gn_flux.api_max_post_size = 64")
q("SELECT pg_reload_conf()")
time.sleep(1.5)
big = b'[' + b','.join([json.dumps(obs(5000, observateur="x" * 1000)).encode()] * 100) + b']'
status, body = http("POST", INTAKE, big, writer)
ok(status == 413, f"a body above gn_flux.api_max_post_size (64 kB; {len(big) // 1024} kB sent): 413 ({status} {str(body)[:120]})")
q("ALTER SYSTEM RESET gn_flux.api_max_post_size")
q("SELECT pg_reload_conf()")
time.sleep(1.5)
status, body = http("POST", API + "/api/gn_flux/intake/nowhere", batch[:1], writer)
ok(status == 404, f"an unknown intake: 404 ({status})")
status, body = http("GET", INTAKE, None, writer)
ok(status == 405, f"GET on an intake: 405 ({status})")
ok(one("SELECT count(*) FROM gn_flux.import_log WHERE source = 'app_intake' AND xfer_type = 'post' AND xfer_status = 'success'") >= 5,
   "every batch is a run in import_log")

finish()
