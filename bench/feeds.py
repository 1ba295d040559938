"""Driver of bench/feeds.sh: a WFS layer pulled by gn_flux vs ogr2ogr (and the bare HTTP floor),
then API POST throughput. Writes the report given as argv[1] (Markdown) and its .json."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import log, machine, median, pg_connect, proc_status_kb, scalar  # noqa: E402

N = int(os.environ["BENCH_FEATURES"])
BATCHES = int(os.environ["BENCH_POST_BATCHES"])
BATCH = int(os.environ["BENCH_POST_BATCH"])
PG = dict(host="127.0.0.1", port=int(os.environ["BENCH_PG_PORT"]), user="bench", password="bench",
          dbname=os.environ["BENCH_DB"])
WFS = f"http://127.0.0.1:{os.environ['BENCH_MS_PORT']}/cgi-bin/mapserv"
API = f"http://127.0.0.1:{os.environ['BENCH_API_PORT']}/geonature"
PAGE = 500  # MapServer's wfs_maxfeatures in tests/e2e/mapserver/start.sh: every client pages by 500


def floor_walk() -> dict:
    """The same pages gn_flux requests, read and thrown away: what the WFS server alone costs."""
    t = time.perf_counter()
    got, start, pages, size = 0, 0, 0, 0
    while True:
        url = (f"{WFS}?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=ms:obs_ms&SRSNAME=EPSG:2154"
               f"&SORTBY=id%20ASC&OUTPUTFORMAT=geojson&STARTINDEX={start}&COUNT=1000")
        body = urllib.request.urlopen(url, timeout=600).read()
        n = body.count(b'"type": "Feature"') + body.count(b'"type":"Feature"')
        pages += 1
        size += len(body)
        if n == 0:
            break
        got += n
        start += n
        if got >= N:
            break
    return {"seconds": time.perf_counter() - t, "features": got, "pages": pages, "bytes": size}


def gn_flux_pull() -> dict:
    conn = pg_connect(PG, "bench feeds gn_flux")
    with conn.cursor() as c:
        c.execute("SET client_min_messages = warning")
        c.execute("SET gn_flux.progress_notices = off")
        c.execute("SELECT gn_flux.drop_source(name) FROM gn_flux.source WHERE name = 'bench_wfs'")
        c.execute("""SELECT gn_flux.add_source('bench_wfs', %s, kind => 'wfs', page_size => 1000, probe => false,
                       options => '{"typename": "ms:obs_ms", "id": "id", "srid": 2154}')""", (WFS,))
    pid = scalar(conn, "SELECT pg_backend_pid()")
    t = time.perf_counter()
    row = scalar(conn, "SELECT row_to_json(p)::text FROM gn_flux.pull_source('bench_wfs', 'full') p")
    seconds = time.perf_counter() - t
    mem = proc_status_kb(pid, ("VmHWM", "VmRSS"))
    r = json.loads(row)
    staged = scalar(conn, "SELECT count(*) FROM gn_flux.data_json WHERE source = 'bench_wfs'")
    conn.close()
    return {"seconds": seconds, "status": r["status"], "items": r["items"], "staged": staged,
            "backend_peak_mb": round(mem.get("VmHWM", 0) / 1024, 1)}


def ogr2ogr_copy() -> dict:
    conn = pg_connect(PG, "bench feeds ogr")
    with conn.cursor() as c:
        c.execute("DROP TABLE IF EXISTS ogr_obs")
    dsn = f"PG:host=127.0.0.1 port={PG['port']} dbname={PG['dbname']} user=bench password=bench"
    cmd = ["ogr2ogr", "-f", "PostgreSQL", dsn, f"WFS:{WFS}?SERVICE=WFS&VERSION=2.0.0", "ms:obs_ms",
           "-nln", "ogr_obs", "--config", "OGR_WFS_PAGING_ALLOWED", "ON", "--config", "OGR_WFS_PAGE_SIZE", str(PAGE),
           "--config", "PG_USE_COPY", "YES"]
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - t
    err = p.stderr.read().decode(errors="replace")[-500:] if p.stderr else ""
    rows = scalar(conn, "SELECT count(*) FROM ogr_obs") if scalar(conn, "SELECT to_regclass('ogr_obs') IS NOT NULL") else 0
    distinct = scalar(conn, "SELECT count(DISTINCT id) FROM ogr_obs") if rows else 0
    conn.close()
    return {"seconds": seconds, "exit": os.waitstatus_to_exitcode(status), "rows": rows, "distinct_ids": distinct,
            "peak_mb": round(usage.ru_maxrss / 1024, 1), "stderr_tail": err, "command": " ".join(cmd[:3] + ["'PG:…'"] + cmd[4:])}


def api_post() -> dict:
    conn = pg_connect(PG, "bench feeds post")
    with conn.cursor() as c:
        c.execute("SET client_min_messages = warning")
        c.execute("""SELECT 'CREATE ROLE bench_writers NOLOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_writers')""")
        for (s,) in c.fetchall():
            c.execute(s)
        c.execute("""SELECT 'CREATE ROLE bench_poster LOGIN PASSWORD ''poster''' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_poster')""")
        for (s,) in c.fetchall():
            c.execute(s)
        c.execute("GRANT bench_writers TO bench_poster")
        c.execute("""INSERT INTO gn_meta.t_acquisition_frameworks (unique_acquisition_framework_id, acquisition_framework_name,
                         acquisition_framework_desc, acquisition_framework_start_date)
                     SELECT '5c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5', 'CA bench', 'bench', '2020-01-01'
                      WHERE NOT EXISTS (SELECT 1 FROM gn_meta.t_acquisition_frameworks WHERE unique_acquisition_framework_id = '5c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5')""")
        c.execute("""INSERT INTO gn_meta.t_datasets (unique_dataset_id, id_acquisition_framework, dataset_name, dataset_shortname,
                         dataset_desc, marine_domain, terrestrial_domain)
                     SELECT '6d2e3f4a-5b6c-4d7e-9f80-91a2b3c4d5e6', id_acquisition_framework, 'JDD bench', 'bench', '...', false, true
                       FROM gn_meta.t_acquisition_frameworks WHERE unique_acquisition_framework_id = '5c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5'
                        AND NOT EXISTS (SELECT 1 FROM gn_meta.t_datasets WHERE unique_dataset_id = '6d2e3f4a-5b6c-4d7e-9f80-91a2b3c4d5e6')""")
        c.execute("SELECT gn_flux.drop_source(name) FROM gn_flux.source WHERE name = 'bench_intake'")
        c.execute("""SELECT gn_flux.add_source('bench_intake', NULL, kind => 'post',
                        options => '{"role": "bench_writers", "max_items": 10000, "geometry": "geometry"}')""")
        mapping = {"id_dataset": "'6d2e3f4a-5b6c-4d7e-9f80-91a2b3c4d5e6'", "nom_cite": "s.item ->> 'nom_cite'",
                   "cd_nom": "s.item ->> 'cd_nom'", "date_min": "gn_flux.date_start(s.item ->> 'date_obs')",
                   "date_max": "gn_flux.date_end(s.item ->> 'date_obs')", "count_min": "s.item ->> 'nombre'",
                   "count_max": "s.item ->> 'nombre'", "observers": "s.item ->> 'observateur'"}
        c.execute("SELECT gn_flux.set_mapping('bench_intake', %s::jsonb)", (json.dumps(mapping),))
        c.execute("SELECT * FROM gn_flux.enable_synthese('bench_intake')")
        # (the same, staged only: what gn_flux itself costs, without GeoNature's triggers)
        c.execute("SELECT gn_flux.drop_source(name) FROM gn_flux.source WHERE name = 'bench_staged'")
        c.execute("""SELECT gn_flux.add_source('bench_staged', NULL, kind => 'post',
                        options => '{"role": "bench_writers", "max_items": 10000, "geometry": "geometry"}')""")
        c.execute("SELECT cd_nom FROM taxonomie.taxref ORDER BY cd_nom LIMIT 5")
        taxa = [r[0] for r in c.fetchall()]
    workers = [r for r in (scalar(conn, "SELECT array_agg(pid) FROM gn_flux.api_status WHERE running") or [])]
    req = urllib.request.Request(API + "/api/auth/login", data=json.dumps({"login": "bench_poster", "password": "poster"}).encode(),
                                 headers={"Content-Type": "application/json"})
    token = json.loads(urllib.request.urlopen(req, timeout=30).read())["token"]
    def run(intake):
        times, accepted = [], 0
        t0 = time.perf_counter()
        for b in range(BATCHES):
            rows = [{"uuid": str(uuid.uuid4()), "nom_cite": f"Taxon {i % 5}", "cd_nom": taxa[i % len(taxa)],
                     "date_obs": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}", "nombre": 1 + i % 9, "observateur": "Bench",
                     "geometry": {"type": "Point", "coordinates": [5 + (i % 100) / 100, 45 + (b % 100) / 100]}}
                    for i in range(BATCH)]
            body = json.dumps(rows).encode()
            t = time.perf_counter()
            r = urllib.request.Request(API + "/api/gn_flux/intake/" + intake + "", data=body, method="POST",
                                       headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
            reply = json.loads(urllib.request.urlopen(r, timeout=600).read())
            times.append(time.perf_counter() - t)
            accepted += reply["accepted_count"]
        return time.perf_counter() - t0, accepted, times

    staged_s, staged_n, staged_times = run("bench_staged")
    total, accepted, times = run("bench_intake")
    # The floor: the same number of rows INSERTed straight into the Synthese by SQL, batch by
    # batch, GeoNature's triggers on (what any writer pays).
    with conn.cursor() as c:
        c.execute("""INSERT INTO gn_synthese.t_sources (name_source, desc_source)
                     SELECT 'bench floor', 'bench' WHERE NOT EXISTS (SELECT 1 FROM gn_synthese.t_sources WHERE name_source = 'bench floor')""")
        c.execute("SELECT id_source FROM gn_synthese.t_sources WHERE name_source = 'bench floor'")
        floor_source = c.fetchone()[0]
        c.execute("SELECT id_dataset FROM gn_meta.t_datasets WHERE unique_dataset_id = '6d2e3f4a-5b6c-4d7e-9f80-91a2b3c4d5e6'")
        floor_dataset = c.fetchone()[0]
        c.execute("SELECT Find_SRID('gn_synthese', 'synthese', 'the_geom_local')")
        local_srid = c.fetchone()[0]
        t0 = time.perf_counter()
        for b in range(BATCHES):
            c.execute("""INSERT INTO gn_synthese.synthese (unique_id_sinp, id_source, id_dataset, nom_cite, cd_nom, date_min, date_max,
                                count_min, count_max, observers, the_geom_4326, the_geom_point, the_geom_local)
                         SELECT gen_random_uuid(), %s, %s, 'Taxon ' || (i %% 5), %s, '2025-01-02', '2025-01-02', 2, 2, 'Bench', g, g,
                                ST_Transform(g, %s)
                           FROM generate_series(1, %s) AS i,
                                LATERAL (SELECT ST_SetSRID(ST_MakePoint(5 + (i %% 100) / 100.0, 45 + %s / 100.0), 4326) AS g) p""",
                      (floor_source, floor_dataset, taxa[0], local_srid, BATCH, b % 100))
        floor_s = time.perf_counter() - t0
    mem = [proc_status_kb(p, ("VmHWM", "VmRSS")) for p in workers]
    in_synthese = scalar(conn, "SELECT count(*) FROM gn_synthese.synthese s JOIN gn_flux.synthese_load l USING (id_source) WHERE l.source = 'bench_intake'")
    conn.close()
    return {"batches": BATCHES, "batch": BATCH, "seconds": total, "rows_per_s": accepted / total, "accepted": accepted,
            "staged_only_rows_per_s": staged_n / staged_s, "floor_rows_per_s": BATCHES * BATCH / floor_s, "staged_only_batch_ms_median": median([x * 1000 for x in staged_times]),
            "in_synthese": in_synthese, "batch_ms_median": median([x * 1000 for x in times]),
            "workers_peak_mb": [round(m.get("VmHWM", 0) / 1024, 1) for m in mem],
            "workers_rss_mb": [round(m.get("VmRSS", 0) / 1024, 1) for m in mem]}


def main() -> None:
    report = sys.argv[1]
    log(f"floor: bare HTTP walk of {N} features")
    floor = floor_walk()
    log(f"gn_flux: pull_source of the WFS layer ({N} features)")
    gn = gn_flux_pull()
    log("ogr2ogr: the same WFS into PostGIS")
    ogr = ogr2ogr_copy()
    log(f"API POST: {BATCHES} batches of {BATCH}")
    post = api_post()
    res = {"machine": machine(), "commit": os.environ.get("BENCH_COMMIT"), "command": os.environ.get("BENCH_COMMAND"),
           "build": os.environ.get("BENCH_GN_FLUX_BUILD"), "features": N, "floor": floor, "gn_flux": gn, "ogr2ogr": ogr,
           "api_post": post}
    with open(report.replace(".md", ".json"), "w") as f:
        json.dump(res, f, indent=1)
    ratio = ogr["seconds"] / gn["seconds"] if gn["seconds"] else 0
    md = f"""# Other flows: WFS pull and API POST ({time.strftime('%Y-%m-%d')})

Command: `{res['command']}` — commit {res['commit']}, gn_flux build {res['build']}, {res['machine']['nproc']} cores,
{res['machine']['mem_gib']} GiB. One run each. MapServer 8.0.0 (Debian 12) serves a {N}-feature point
layer (EPSG:2154) with a 500-feature page cap; every client pages by 500.

## WFS layer into PostgreSQL

| tool | time | rows | peak memory |
|---|---:|---:|---:|
| bare HTTP walk of the same GeoJSON pages (floor: the server alone) | {floor['seconds']:.1f} s | {floor['features']} | — |
| gn_flux `pull_source` (GeoJSON, SORTBY id, into `data_json`, reprojected to 4326) | {gn['seconds']:.1f} s | {gn['staged']} | {gn['backend_peak_mb']} MB (backend) |
| GDAL `ogr2ogr` 3.6 (WFS driver defaults, paging on, COPY into PostGIS) | {ogr['seconds']:.1f} s | {ogr['rows']} ({ogr['distinct_ids']} distinct ids) | {ogr['peak_mb']} MB |

gn_flux / floor: {gn['seconds'] / floor['seconds']:.2f}×; ogr2ogr / gn_flux: {ratio:.2f}×.
ogr2ogr exit status {ogr['exit']}.

## API POST

{post['batches']} batches of {post['batch']} observations posted one after the other to an intake
(staged, mapped and loaded into the GeoNature 2.17 fixture's Synthese in each request):
**{post['rows_per_s']:.0f} rows/s**, median {post['batch_ms_median']:.0f} ms per batch, {post['in_synthese']}
observations in the Synthese. The same batches into an intake that only stages them (no Synthese
load: gn_flux's own cost): **{post['staged_only_rows_per_s']:.0f} rows/s**, median
{post['staged_only_batch_ms_median']:.0f} ms per batch. The floor, the same number of rows INSERTed
straight into the Synthese by SQL, batch by batch (GeoNature's triggers on): **{post['floor_rows_per_s']:.0f}
rows/s** (gn_flux's intake runs at {post['rows_per_s'] / post['floor_rows_per_s']:.2f}× of it). API workers' peak memory (VmHWM):
{post['workers_peak_mb']} MB.
"""
    with open(report, "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
