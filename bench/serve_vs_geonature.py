"""Driver of bench/serve_vs_geonature.sh: gn_flux's API workers against GeoNature's way of
answering the same export API (OFFSET plus two COUNTs per page), on the same view and cluster.

1. A 1,000,000-row export walked page by page (limit 1000) by one client:
   - gn_flux: `GET /geonature/api/exports/api/<id>?limit=1000&offset=<page>` over one keep-alive
     connection (what gn2pg-client sends), then the same walk by keyset (`filter_n_up_id_synthese`);
   - GeoNature's SQL, run by psycopg2 on the same cluster: per page `SELECT count(*)` of the view
     (`total`), `SELECT count(*)` of the ordered view after OFFSET (`total_filtered`), the page
     `ORDER BY pk LIMIT 1000 OFFSET page*1000`, and the rows serialised with json.dumps (Flask's
     work, without SQLAlchemy's, so GeoNature's real cost is higher).
   Time per page at depths 0, 100,000 and 900,000 rows (medians), and the full walks.
2. gn2pg-client 1.10.1's `download --full` of 100,000 rows from gn_flux and from the GeoNature
   stand-in (crates/fake_geonature).
3. 16 concurrent clients, each walking its own 1/16 of the 1,000,000 rows by keyset: rows/s, and
   the resident memory of the API workers (and of the cluster's backends) sampled during the run.

Usage: python bench/serve_vs_geonature.py REPORT.md
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).parent))
from benchlib import env_int, fmt_s, Http, log, machine, MemorySampler, pg_connect, query, scalar, serve_data_sql, timed  # noqa: E402

PG = dict(
    host=os.environ.get("BENCH_PG_HOST", "127.0.0.1"),
    port=int(os.environ["BENCH_PG_PORT"]),
    user="bench",
    password="bench",
    dbname=os.environ["BENCH_DB"],
)
API_PORT = int(os.environ["BENCH_API_PORT"])
GN_PORT = int(os.environ["BENCH_GN_PORT"])
ROWS = env_int("BENCH_ROWS", 1_000_000)
GN2PG_ROWS = env_int("BENCH_GN2PG_ROWS", 100_000)
REPS = env_int("BENCH_REPS", 5)
CLIENTS = env_int("BENCH_CLIENTS", 16)
# gn2pg-client writes one row per transaction (about 500 rows/s here): one pull each by default.
GN2PG_REPS = env_int("BENCH_GN2PG_REPS", 1)
LIMIT = 1000
GN2PG_CLI = str(Path(sys.executable).parent / "gn2pg_cli")
DEPTHS = [0, 100_000, 900_000]

SETUP = serve_data_sql(ROWS) + f"""
CREATE VIEW bench_serve.v_obs_gn2pg AS SELECT * FROM bench_serve.obs WHERE id_synthese <= {GN2PG_ROWS};
INSERT INTO gn_flux.export (label, schema_name, view_name, public) VALUES
    ('bench gn2pg', 'bench_serve', 'v_obs_gn2pg', false);
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bench_reader') THEN
    CREATE ROLE bench_reader LOGIN PASSWORD 'bench_reader';
  END IF;
END $$;
GRANT USAGE ON SCHEMA bench_serve TO bench_reader;
GRANT SELECT ON bench_serve.v_obs_gn2pg TO bench_reader;
"""




def connect():
    return pg_connect(PG, "gn_flux_bench_serve")


def Api() -> Http:
    """One keep-alive connection to the API workers."""
    return Http(API_PORT)


def worker_pids(conn) -> list[int]:
    with conn.cursor() as cur:
        cur.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'gn_flux api' ORDER BY pid")
        return [r[0] for r in cur.fetchall()]


def geonature_page(conn, page: int) -> int:
    """One page the way GeoNature's Export module answers it."""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM bench_serve.v_obs")
        total = cur.fetchone()[0]
        cur.execute(
            "SELECT count(*) FROM (SELECT * FROM bench_serve.v_obs ORDER BY id_synthese OFFSET %s) q",
            (page * LIMIT,),
        )
        total_filtered = cur.fetchone()[0]
        cur.execute(
            "SELECT * FROM bench_serve.v_obs ORDER BY id_synthese LIMIT %s OFFSET %s", (LIMIT, page * LIMIT)
        )
        names = [d[0] for d in cur.description]
        items = [dict(zip(names, r)) for r in cur.fetchall()]
    body = json.dumps(
        {"items": items, "total": total, "total_filtered": total_filtered, "limit": LIMIT, "page": page},
        default=str,
        sort_keys=True,
    )
    return len(body)


def main(report: Path) -> None:
    res: dict = {"machine": machine(), "rows": ROWS, "reps": REPS, "clients": CLIENTS}
    conn = connect()
    log(f"setup: {ROWS} rows")
    with conn.cursor() as cur:
        cur.execute(SETUP)
        cur.execute("VACUUM ANALYZE bench_serve.obs")
    export_id = scalar(conn, "SELECT id FROM gn_flux.export WHERE label = 'bench 1m'")
    gn2pg_export = scalar(conn, "SELECT id FROM gn_flux.export WHERE label = 'bench gn2pg'")
    res["postgres"] = scalar(conn, "SELECT version()")
    pages = ROWS // LIMIT
    base = f"/geonature/api/exports/api/{export_id}?limit={LIMIT}"
    api = Api()
    api.get(base)  # warm the connection and the counts

    # 1. Time per page at depths, medians of REPS.
    depth = {}
    for d in DEPTHS:
        if d >= ROWS:
            continue
        p = d // LIMIT
        offset_t, keyset_t, gn_t = [], [], []
        for _ in range(REPS):
            # (a sequential walk reaches page p after page p-1: the resume point is there)
            api.get(f"{base}&offset={p - 1}") if p > 0 else None
            offset_t.append(timed(lambda: api.get(f"{base}&offset={p}"))[0])
            keyset_t.append(timed(lambda: api.get(f"{base}&orderby=id_synthese&filter_n_up_id_synthese={d + 1}"))[0])
            cold = Api()
            offset_t_cold = timed(lambda: cold.get(f"{base}&offset={p}"))[0]
            depth.setdefault(d, {}).setdefault("gn_flux_offset_cold_s", []).append(offset_t_cold)
            gn_t.append(timed(lambda: geonature_page(conn, p))[0])
        depth[d].update(
            gn_flux_offset_s=statistics.median(offset_t),
            gn_flux_keyset_s=statistics.median(keyset_t),
            geonature_s=statistics.median(gn_t),
        )
        depth[d]["gn_flux_offset_cold_s"] = statistics.median(depth[d]["gn_flux_offset_cold_s"])
        log(f"depth {d}: {depth[d]}")
    res["depth"] = depth

    # 2. Full walks (one client).
    pids = worker_pids(conn)
    sampler = MemorySampler(pids)
    sampler.start()
    walk = Api()
    t, _ = timed(lambda: [walk.get(f"{base}&offset={p}") for p in range(pages)])
    res["walk_gn_flux_offset_s"] = t
    log(f"gn_flux page-index walk: {t:.1f} s")
    t, _ = timed(lambda: [walk.get(f"{base}&orderby=id_synthese&filter_n_up_id_synthese={p * LIMIT + 1}") for p in range(pages)])
    res["walk_gn_flux_keyset_s"] = t
    log(f"gn_flux keyset walk: {t:.1f} s")
    sampler.stop.set()
    sampler.join()
    res["walk_memory"] = sampler.summary()
    stride = max(1, env_int("BENCH_GEONATURE_STRIDE", 1))
    sampled = list(range(0, pages, stride))
    t, _ = timed(lambda: [geonature_page(conn, p) for p in sampled])
    res["walk_geonature_s"] = t * stride
    res["geonature_stride"] = stride
    log(f"GeoNature's SQL walk: {t * stride:.1f} s (every {stride} page(s) timed)")

    # 3. gn2pg-client full pull of GN2PG_ROWS rows: from gn_flux, from the stand-in.
    res["gn2pg"] = {}
    for name, url, export, user, password in [
        ("gn_flux", f"http://127.0.0.1:{API_PORT}/geonature", gn2pg_export, "bench_reader", "bench_reader"),
        ("stand-in", f"http://127.0.0.1:{GN_PORT}/geonature", 1, "admin", "admin"),
    ]:
        times = []
        for _ in range(GN2PG_REPS):
            times.append(gn2pg_full(conn, url, export, user, password))
        res["gn2pg"][name] = statistics.median(times)
        log(f"gn2pg-client full pull from {name}: {res['gn2pg'][name]:.1f} s")

    # 4. Concurrent clients.
    per = ROWS // CLIENTS
    errors: list[str] = []

    def client(k: int):
        a = Api()
        lo, hi = k * per + 1, (k + 1) * per
        nxt = lo
        while nxt <= hi:
            body = a.get(f"{base}&orderby=id_synthese&filter_n_up_id_synthese={nxt}&filter_n_lo_id_synthese={hi}")
            page = json.loads(body)
            if not page["items"]:
                break
            nxt = page["items"][-1]["id_synthese"] + 1

    pids = worker_pids(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
        backends = [r[0] for r in cur.fetchall()]
    sampler = MemorySampler(pids + backends)
    sampler.start()
    threads = [threading.Thread(target=lambda k=k: wrap(client, k, errors)) for k in range(CLIENTS)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    if errors:
        raise RuntimeError(errors[0])
    res["concurrent_s"] = t
    res["concurrent_rows_per_s"] = per * CLIENTS / t
    res["concurrent_memory"] = sampler.summary()
    res["concurrent_workers"] = len(pids)
    log(f"{CLIENTS} clients: {res['concurrent_rows_per_s']:.0f} rows/s")
    res["api_status"] = [
        list(r) for r in query(conn, "SELECT worker, requests, errors FROM gn_flux.api_status ORDER BY worker")
    ]
    write_report(report, res)


def wrap(f, k, errors):
    try:
        f(k)
    except Exception as e:  # noqa: BLE001
        errors.append(f"client {k}: {e}")




def gn2pg_full(conn, url: str, export: int, user: str, password: str) -> float:
    schema = "gn2pg_bench_serve"
    with conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    home = Path(tempfile.mkdtemp(prefix="gn2pg-bench-serve-"))
    (home / ".gn2pg").mkdir()
    (home / ".gn2pg" / "b.toml").write_text(
        f"""[db]
db_host = "{PG['host']}"
db_port = {PG['port']}
db_user = "{PG['user']}"
db_password = "{PG['password']}"
db_name = "{PG['dbname']}"
db_schema_import = "{schema}"

[[source]]
name = "b"
user_name = "{user}"
user_password = "{password}"
url = "{url}"
data_export_id = {export}

[tuning]
max_page_length = 1000
nb_threads = 1
"""
    )
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(HOME=str(home), TZ="UTC", NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    subprocess.run([GN2PG_CLI, "db", "--upgrade", "b.toml"], env=env, capture_output=True, check=True)
    t0 = time.perf_counter()
    subprocess.run([GN2PG_CLI, "download", "--full", "b.toml"], env=env, capture_output=True, check=True)
    t = time.perf_counter() - t0
    n = scalar(conn, f"SELECT count(*) FROM {schema}.data_json")
    status = scalar(conn, f"SELECT xfer_status FROM {schema}.import_log ORDER BY id DESC LIMIT 1")
    if status != "success" or n != GN2PG_ROWS:
        raise RuntimeError(f"gn2pg from {url}: {status}, {n} rows (want {GN2PG_ROWS})")
    return t


def write_report(path: Path, res: dict) -> None:
    m = res["machine"]
    ms = lambda s: f"{s * 1000:.1f}"  # noqa: E731
    L = [
        f"# Serve I: gn_flux's API workers vs GeoNature's export API SQL ({time.strftime('%Y-%m-%d')})",
        "",
        f"- Command: `{os.environ.get('BENCH_COMMAND', 'bench/serve_vs_geonature.sh')}`",
        f"- Machine: {m['nproc']} cores ({m['cpu']}), {m['mem_gib']} GiB, {m['os']}",
        f"- {res['postgres'].split(' on ')[0]}; gn_flux commit {os.environ.get('BENCH_COMMIT', '?')}, "
        f"{os.environ.get('GN_FLUX_BENCH_PROFILE', 'release')} build, 2 API workers",
        f"- Export: {res['rows']:,} rows, 13 columns (a Synthese-like flat view); pages of {LIMIT}; "
        f"medians of {res['reps']} for the depth table",
        "",
        "## Time per page by depth (one client, ms)",
        "",
        "| depth (rows) | gn_flux, page index (walk) | gn_flux, page index (cold) | gn_flux, keyset | GeoNature's SQL (OFFSET + 2 COUNT) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for d, v in sorted(res["depth"].items()):
        L.append(
            f"| {d:,} | {ms(v['gn_flux_offset_s'])} | {ms(v['gn_flux_offset_cold_s'])} | "
            f"{ms(v['gn_flux_keyset_s'])} | {ms(v['geonature_s'])} |"
        )
    g = res["walk_geonature_s"]
    L += [
        "",
        "\"walk\": page k requested right after page k−1 on the same connection (what gn2pg-client does): "
        "gn_flux resumes after page k−1's last id. \"cold\": a new connection asking for page k directly "
        "(the other worker may answer it): OFFSET, served by the primary key's index.",
        "",
        "## Full walk of the export (one client)",
        "",
        "| walk | time (s) | ratio to GeoNature's SQL |",
        "|---|---:|---:|",
        f"| GeoNature's SQL, page index{' (every %d pages timed, ×%d)' % (res['geonature_stride'], res['geonature_stride']) if res['geonature_stride'] > 1 else ''} | {fmt_s(g)} | 1 |",
        f"| gn_flux, page index (`offset=<page>`) | {fmt_s(res['walk_gn_flux_offset_s'])} | {g / res['walk_gn_flux_offset_s']:.1f}× |",
        f"| gn_flux, keyset (`filter_n_up_id_synthese`) | {fmt_s(res['walk_gn_flux_keyset_s'])} | {g / res['walk_gn_flux_keyset_s']:.1f}× |",
        "",
        f"API worker memory (RSS, MB) during the walks: first {res['walk_memory']['first_mb']}, "
        f"max {res['walk_memory']['max_mb']}, last {res['walk_memory']['last_mb']}.",
        "",
        f"## gn2pg-client 1.10.1 `download --full` of {GN2PG_ROWS:,} rows",
        "",
        "| served by | time (s) | ratio |",
        "|---|---:|---:|",
        f"| GeoNature stand-in (crates/fake_geonature) | {fmt_s(res['gn2pg']['stand-in'])} | 1 |",
        f"| gn_flux API workers | {fmt_s(res['gn2pg']['gn_flux'])} | {res['gn2pg']['stand-in'] / res['gn2pg']['gn_flux']:.2f}× |",
        "",
        "(gn2pg-client writes one row per transaction: its own writes dominate both.)",
        "",
        f"## {res['clients']} concurrent clients (keyset walks, each over its own range of ids)",
        "",
        f"- {res['rows']:,} rows in {fmt_s(res['concurrent_s'])} s: **{res['concurrent_rows_per_s']:,.0f} rows/s** "
        f"with {res['concurrent_workers']} API workers.",
        f"- RSS (MB) of the API workers then the client backends: first {res['concurrent_memory']['first_mb']}, "
        f"max {res['concurrent_memory']['max_mb']}, last {res['concurrent_memory']['last_mb']}.",
        f"- gn_flux.api_status after the run (worker, requests, errors): {res['api_status']}",
        "",
    ]
    text = "\n".join(L)
    path.write_text(text)
    path.with_suffix(".json").write_text(json.dumps(res, indent=1, default=str))
    print(text)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
