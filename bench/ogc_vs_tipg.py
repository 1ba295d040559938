"""Driver of bench/ogc_vs_tipg.sh: OGC API – Features items, gn_flux's API workers against tipg
1.6.1, on the same 1,000,000-row view (bench/serve_vs_geonature.sh's, plus a point geometry) and
the same cluster, in one run.

1. Time per 1000-item page at depths 0, 100,000 and 900,000 (medians of BENCH_REPS, one client on
   a keep-alive connection, after one untimed request of the same page):
   - gn_flux: `/geonature/ogc/collections/<id>/items?limit=1000[&cursor=<base64url(last pk)>]`
     (keyset: the page after pk d starts at d + 1);
   - tipg: `/collections/bench_serve.v_obs/items?limit=1000[&offset=d]` (COUNT(*) + OFFSET).
   Every page is checked: 1000 features, ids d + 1 … d + 1000.
2. BENCH_CLIENTS (16) threads for BENCH_DURATION (20) s, each walking from the first page by the
   replies' `next` links (back to the first page when a walk ends): summed items/s.
3. The servers' memory, sampled every 0.25 s through each side's run: gn_flux's API worker
   backends; tipg's uvicorn process tree and its pool's PostgreSQL backends.

tipg runs once per count in BENCH_TIPG_WORKERS ("1 2"), on 127.0.0.1:BENCH_TIPG_PORT. Both sides get
`Accept: application/geo+json` and http.client's `Accept-Encoding: identity` (no compression).
gn_flux's side is skipped, with a note in the report, when `/geonature/ogc/collections` answers 404.

Usage: python bench/ogc_vs_tipg.py REPORT.md
"""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit


sys.path.insert(0, str(Path(__file__).parent))
from benchlib import (
    pg_connect,
    scalar,
    query,  # noqa: E402
    Http,
    MemorySampler,
    env_flag,
    env_int,
    log,
    machine,
    process_tree,
    serve_data_sql,
    timed,
)

PG = dict(
    host="127.0.0.1",
    port=int(os.environ["BENCH_PG_PORT"]),
    user="bench",
    password="bench",
    dbname=os.environ["BENCH_DB"],
)
API_PORT = int(os.environ["BENCH_API_PORT"])
TIPG_PORT = int(os.environ.get("BENCH_TIPG_PORT", "18799"))
TIPG_VENV = Path(os.environ.get("BENCH_TIPG_VENV", "target/tipg-venv"))
RUN_DIR = Path(os.environ.get("BENCH_RUN_DIR", "/tmp"))
ROWS = env_int("BENCH_ROWS", 1_000_000)
REPS = env_int("BENCH_REPS", 5)
DURATION = env_int("BENCH_DURATION", 20)
CLIENTS = env_int("BENCH_CLIENTS", 16)
TIPG_WORKERS = [int(w) for w in os.environ.get("BENCH_TIPG_WORKERS", "1 2").split()]
SKIP_GN_FLUX = env_flag("BENCH_SKIP_GN_FLUX")
SKIP_TIPG = env_flag("BENCH_SKIP_TIPG")
LIMIT = 1000
DEPTHS = [d for d in (0, 100_000, 900_000) if d + LIMIT <= ROWS]
EXPORT_LABEL = "bench 1m"
OGC_ROOT = "/geonature/ogc"
TIPG_COLLECTION = "bench_serve.v_obs"
HEADERS = {"Accept": "application/geo+json"}
# tipg's settings (shared/reference/ogc-api-features.md §6). A view has no primary key: PK names it.
# The catalog's extent scans (ST_Extent, min/max of the dates over 1M rows) only slow the start.
TIPG_ENV = {
    "DATABASE_URL": f"postgresql://bench:bench@127.0.0.1:{PG['port']}/{PG['dbname']}?application_name=tipg",
    "TIPG_DB_SCHEMAS": '["bench_serve"]',
    "TIPG_DB_TABLES": f'["{TIPG_COLLECTION}"]',
    "TIPG_DB_FUNCTIONS": "[]",
    "TIPG_TABLE_CONFIG__bench_serve_v_obs__PK": "id_synthese",
    "TIPG_TABLE_CONFIG__bench_serve_v_obs__GEOMCOL": "geom",
    "TIPG_MAX_FEATURES_PER_QUERY": "10000",
    "TIPG_DEFAULT_FEATURES_LIMIT": "10",
    "TIPG_CATALOG_TTL": "0",
    "TIPG_CACHECONTROL": "no-cache",
    "TIPG_DB_SPATIAL_EXTENT": "false",
    "TIPG_DB_DATETIME_EXTENT": "false",
    "DB_MIN_CONN_SIZE": "1",
    "DB_MAX_CONN_SIZE": "10",
}


def cursor(pk) -> str:
    """gn_flux's keyset cursor: base64url, no padding, of the last primary key's text."""
    return base64.urlsafe_b64encode(str(pk).encode()).rstrip(b"=").decode()




def connect(app="gn_flux_bench_ogc"):
    return pg_connect(PG, app)


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# --- the two servers -----------------------------------------------------------------------------


class Side:
    """One server under test: how to ask for the page after depth d, and which processes serve."""

    name: str
    label: str
    port: int

    def page_path(self, depth: int) -> str:
        raise NotImplementedError

    def samplers(self) -> dict[str, MemorySampler]:
        raise NotImplementedError


class GnFlux(Side):
    name, label, port = "gn_flux", "gn_flux (2 API workers)", API_PORT

    def __init__(self, conn, collection: str):
        self.collection = collection
        with conn.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'gn_flux api' ORDER BY pid")
            self.pids = [r[0] for r in cur.fetchall()]

    def page_path(self, depth: int) -> str:
        path = f"{OGC_ROOT}/collections/{self.collection}/items?limit={LIMIT}"
        return path + (f"&cursor={cursor(depth)}" if depth else "")

    def samplers(self):
        return {"API worker backends": MemorySampler(self.pids)}


class Tipg(Side):
    name, port = "tipg", TIPG_PORT

    def __init__(self, workers: int):
        self.workers = workers
        self.name = f"tipg-w{workers}"
        self.label = f"tipg {workers} worker{'s' if workers > 1 else ''}"
        self.proc: subprocess.Popen | None = None
        self.sampler_conn = None
        self.log_path = RUN_DIR / f"tipg-w{workers}.log"

    def page_path(self, depth: int) -> str:
        path = f"/collections/{TIPG_COLLECTION}/items?limit={LIMIT}"
        return path + (f"&offset={depth}" if depth else "")

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TIPG_", "POSTGRES_", "DB_", "DATABASE_URL"))}
        env.update(TIPG_ENV)
        cmd = [
            str(TIPG_VENV / "bin" / "uvicorn"), "tipg.main:app",
            "--host", "127.0.0.1", "--port", str(TIPG_PORT), "--workers", str(self.workers),
        ]
        log(f"starting {' '.join(cmd[1:])}")
        # its own process group (pid = pgid), killed whole by stop() or by ogc_vs_tipg.sh's cleanup;
        # its own directory, so that no stray .env is read
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=RUN_DIR, stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT, start_new_session=True
        )
        (RUN_DIR / "tipg.pid").write_text(str(self.proc.pid))
        t0 = time.monotonic()
        while True:
            text = self.log_path.read_text(errors="replace")
            # each uvicorn worker builds its own catalog before it accepts requests
            if text.count("Application startup complete.") >= self.workers:
                break
            if self.proc.poll() is not None or time.monotonic() - t0 > 180:
                raise RuntimeError(f"tipg did not start (exit {self.proc.poll()}):\n{text[-3000:]}")
            time.sleep(0.2)
        status, body = Http(TIPG_PORT, headers={"Accept": "application/json"}).request(f"/collections/{TIPG_COLLECTION}")
        if status != 200:
            raise RuntimeError(f"tipg: GET /collections/{TIPG_COLLECTION}: {status} {body[:500]!r}")
        log(f"tipg up with {self.workers} worker(s) in {time.monotonic() - t0:.1f} s")

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        (RUN_DIR / "tipg.pid").unlink(missing_ok=True)
        self.proc = None
        if self.sampler_conn is not None:
            self.sampler_conn.close()
            self.sampler_conn = None

    def samplers(self):
        pid = self.proc.pid
        conn = self.sampler_conn = connect("gn_flux_bench_ogc_sampler")

        def backends():
            with conn.cursor() as cur:
                cur.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'tipg'")
                return [r[0] for r in cur.fetchall()]

        return {
            "uvicorn process tree": MemorySampler(lambda: process_tree(pid)),
            "its PostgreSQL backends": MemorySampler(backends),
        }


# --- pages ---------------------------------------------------------------------------------------

NUMBER_RETURNED = re.compile(rb'"numberReturned"\s*:\s*(\d+)')


def check_page(body: bytes, depth: int, what: str) -> dict:
    """A page after `depth`: 1000 features with ids depth + 1 … depth + 1000."""
    doc = json.loads(body)
    feats = doc.get("features")
    if doc.get("type") != "FeatureCollection" or not isinstance(feats, list):
        raise RuntimeError(f"{what}: not a FeatureCollection: {body[:300]!r}")
    ids = (feats[0].get("id"), feats[-1].get("id")) if feats else (None, None)
    if len(feats) != LIMIT or str(ids[0]) != str(depth + 1) or str(ids[1]) != str(depth + LIMIT):
        raise RuntimeError(
            f"{what}: {len(feats)} features, ids {ids[0]}…{ids[1]} (want {LIMIT}, {depth + 1}…{depth + LIMIT})"
        )
    if "numberReturned" in doc and doc["numberReturned"] != len(feats):
        raise RuntimeError(f"{what}: numberReturned {doc['numberReturned']} for {len(feats)} features")
    return doc


def next_path(body: bytes) -> str | None:
    """Path and query of the `next` link of a reply, found without parsing the features: the
    link objects around each `"next"` string."""
    start = 0
    while (i := body.find(b'"next"', start)) >= 0:
        start = i + 1
        lo, hi = body.rfind(b"{", 0, i), body.find(b"}", i)
        if lo < 0 or hi < 0:
            continue
        try:
            link = json.loads(body[lo : hi + 1])
        except ValueError:
            continue
        if isinstance(link, dict) and link.get("rel") == "next" and link.get("href"):
            u = urlsplit(link["href"])
            return u.path + (f"?{u.query}" if u.query else "")
    return None


def returned(body: bytes) -> int:
    m = NUMBER_RETURNED.search(body)
    return int(m.group(1)) if m else len(json.loads(body)["features"])


def depth_times(side: Side) -> dict:
    """Per depth: the median time of a page (s), items/s, the page's size."""
    http = Http(side.port, headers=HEADERS)
    out = {}
    for d in DEPTHS:
        path = side.page_path(d)
        check_page(http.get(path), d, f"{side.name} {path}")  # untimed: connection, caches
        times = []
        for _ in range(REPS):
            t, body = timed(lambda: http.get(path))
            check_page(body, d, f"{side.name} {path}")
            times.append(t)
        med = statistics.median(times)
        out[d] = {"s": med, "all_s": times, "items_per_s": LIMIT / med, "bytes": len(body), "path": path}
        log(f"{side.name} depth {d:,}: {med * 1000:.1f} ms ({', '.join(f'{x * 1000:.0f}' for x in times)})")
    http.close()
    return out


def check_next_walk(side: Side, pages: int = 3) -> None:
    """The first pages by `next` links: contiguous ids."""
    http = Http(side.port, headers=HEADERS)
    path = side.page_path(0)
    for p in range(pages):
        body = http.get(path)
        check_page(body, p * LIMIT, f"{side.name} page {p} by next links ({path})")
        path = next_path(body)
        if path is None:
            raise RuntimeError(f"{side.name}: page {p} has no next link")
    http.close()


def throughput(side: Side) -> dict:
    """CLIENTS threads walking by next links for DURATION s; items of the pages completed in time."""
    items = [0] * CLIENTS
    pages = [0] * CLIENTS
    restarts = [0] * CLIENTS
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter() + 0.5
    deadline = start + DURATION

    def client(k: int) -> None:
        try:
            http = Http(side.port, headers=HEADERS)
            first = side.page_path(0)
            path = first
            time.sleep(max(0.0, start - time.perf_counter()))
            while True:
                t0 = time.perf_counter()
                status, body = http.request(path)
                t1 = time.perf_counter()
                if t1 > deadline:
                    break
                if status != 200:
                    errors.append(f"client {k}: GET {path}: {status} {body[:300]!r}")
                    return
                items[k] += returned(body)
                pages[k] += 1
                latencies.append(t1 - t0)
                path = next_path(body)
                if path is None:
                    restarts[k] += 1
                    path = first
            http.close()
        except Exception as e:  # noqa: BLE001
            errors.append(f"client {k}: {e!r}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise RuntimeError(f"{side.name}: {len(errors)} client error(s), first: {errors[0]}")
    total = sum(items)
    lat = sorted(latencies)
    res = {
        "items": total,
        "pages": sum(pages),
        "items_per_s": total / DURATION,
        "per_client_items": items,
        "restarts": sum(restarts),
        "latency_median_s": statistics.median(lat) if lat else None,
        "latency_p95_s": lat[int(0.95 * (len(lat) - 1))] if lat else None,
    }
    log(f"{side.name}: {CLIENTS} clients, {res['items_per_s']:,.0f} items/s ({res['pages']} pages)")
    return res


def run_side(side: Side) -> dict:
    samplers = side.samplers()
    for s in samplers.values():
        s.start()
    time.sleep(0.3)  # an idle sample first
    res: dict = {"label": side.label, "loadavg_before": loadavg()}
    try:
        res["depth"] = depth_times(side)
        check_next_walk(side)
        res["concurrent"] = throughput(side)
    finally:
        res["memory"] = {}
        for name, s in samplers.items():
            s.finish()
            res["memory"][name] = {
                "processes": len(s._order()),
                "idle_vmrss_mb": round(sum(v["VmRSS"] for v in s.samples[0].values()) / 1024, 1) if s.samples else 0,
                "peak_vmrss_mb": s.peak_sum_mb("VmRSS"),
                "peak_rssanon_mb": s.peak_sum_mb("RssAnon"),
                "per_process_max_mb": s.summary()["max_mb"],
            }
    res["loadavg_after"] = loadavg()
    return res


# --- main ----------------------------------------------------------------------------------------


def gn_flux_collection() -> tuple[str | None, str]:
    """The collection id of the export, or None and why gn_flux's side is skipped."""
    status, body = Http(API_PORT, headers={"Accept": "application/json"}).request(f"{OGC_ROOT}/collections")
    if status == 404:
        return None, (
            f"GET {OGC_ROOT}/collections answered 404: the installed gn_flux has no OGC API routes yet, "
            "so its side was skipped."
        )
    if status != 200:
        raise RuntimeError(f"gn_flux: GET {OGC_ROOT}/collections: {status} {body[:500]!r}")
    cols = json.loads(body).get("collections", [])
    for c in cols:
        if c.get("title") == EXPORT_LABEL:
            return c["id"], ""
    raise RuntimeError(f"gn_flux: no collection titled {EXPORT_LABEL!r} in {[c.get('id') for c in cols]}")


def pip_versions() -> dict:
    code = (
        "import json, importlib.metadata as m\n"
        "print(json.dumps({p: m.version(p) for p in "
        "('tipg', 'uvicorn', 'fastapi', 'starlette', 'asyncpg', 'orjson', 'starlette-cramjam')}))"
    )
    out = subprocess.run([str(TIPG_VENV / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main(report: Path) -> None:
    res: dict = {
        "machine": machine(), "rows": ROWS, "reps": REPS, "clients": CLIENTS, "duration_s": DURATION,
        "limit": LIMIT, "depths": DEPTHS, "sides": {}, "notes": [],
    }
    conn = connect()
    log(f"setup: {ROWS:,} rows with a point geometry")
    t, _ = timed(lambda: conn.cursor().execute(serve_data_sql(ROWS, geometry=True)))
    conn.cursor().execute("VACUUM ANALYZE bench_serve.obs")
    log(f"setup done in {t:.0f} s")
    res["postgres"] = scalar(conn, "SELECT version()")
    res["postgis"] = scalar(conn, "SELECT postgis_lib_version()")
    res["gn_flux_version"] = scalar(conn, "SELECT gn_flux.version()")
    res["loadavg_start"] = loadavg()
    res["floor"] = floor(conn)

    if SKIP_GN_FLUX:
        res["notes"].append("gn_flux's side was skipped (BENCH_SKIP_GN_FLUX=1).")
    else:
        collection, why = gn_flux_collection()
        if collection is None:
            log(f"gn_flux: {why}")
            res["notes"].append(f"gn_flux: {why}")
        else:
            res["gn_flux_collection"] = collection
            log(f"gn_flux: collection {collection!r}")
            res["sides"]["gn_flux"] = run_side(GnFlux(conn, collection))
            res["api_status"] = [
                list(r) for r in query(conn, "SELECT worker, requests, errors FROM gn_flux.api_status ORDER BY worker")
            ]

    if SKIP_TIPG:
        res["notes"].append("tipg's side was skipped (BENCH_SKIP_TIPG=1).")
    else:
        res["tipg_versions"] = pip_versions()
        res["tipg_env"] = TIPG_ENV
        for w in TIPG_WORKERS:
            side = Tipg(w)
            try:
                side.start()
                res["sides"][side.name] = run_side(side)
            finally:
                side.stop()
    write_report(report, res)


def floor(conn) -> dict:
    """PostgreSQL's own cost of what a first page needs: the exact count (`numberMatched`) and
    the 1000 rows as GeoJSON text, in SQL over libpq (medians of REPS)."""
    # (the same statements as gn_flux's: the first page has no key bound, the next ones `pk > last`)
    # (the text key is aliased: ORDER BY id_synthese would otherwise sort by that text column)
    select = "SELECT id_synthese::text AS pk, ST_AsGeoJSON(geom, 9), to_json(nom_cite)::text FROM bench_serve.v_obs "
    page_0 = select + "ORDER BY id_synthese LIMIT 1001"
    page_n = select + "WHERE id_synthese > %s ORDER BY id_synthese LIMIT 1001"
    out = {}
    for name, sql, args in [("count", "SELECT count(*) FROM bench_serve.v_obs", None),
                            ("page_0", page_0, None), ("page_900000", page_n, (900_000,))]:
        times = []
        for _ in range(max(REPS, 3)):
            with conn.cursor() as cur:
                t, _ = timed(lambda: (cur.execute(sql, args), cur.fetchall()))
            times.append(t)
        out[name] = statistics.median(times)
    log("floor: count {:.1f} ms, page 0 {:.1f} ms, page 900,000 {:.1f} ms".format(
        *(out[k] * 1000 for k in ("count", "page_0", "page_900000"))))
    return out




def write_report(path: Path, res: dict) -> None:
    m = res["machine"]
    sides = res["sides"]
    g = sides.get("gn_flux")
    tipgs = [(k, v) for k, v in sides.items() if k.startswith("tipg")]
    every = ([("gn_flux", g)] if g else []) + tipgs
    t1 = sides.get("tipg-w1") or (tipgs[0][1] if tipgs else None)
    ms = lambda s: f"{s * 1000:.1f}"  # noqa: E731
    na = "n/a"
    tv = res.get("tipg_versions", {})
    L = [
        f"# OGC API – Features: gn_flux vs tipg {tv.get('tipg', '')} ({time.strftime('%Y-%m-%d')})",
        "",
        f"- Command: `{os.environ.get('BENCH_COMMAND', 'bench/ogc_vs_tipg.sh')}`",
        f"- Machine: {m['nproc']} cores ({m['cpu']}), {m['mem_gib']} GiB, {m['os']}; load average at the start "
        f"{res['loadavg_start']}",
        f"- {res['postgres'].split(' on ')[0]}, PostGIS {res['postgis']}; {res['gn_flux_version']}, repository "
        f"{os.environ.get('BENCH_COMMIT', '?')}, "
        + f"{os.environ.get('BENCH_GN_FLUX_BUILD', 'unknown')} build"
        + (" (installed before the run)" if env_flag("GN_FLUX_BENCH_SKIP_INSTALL") else "")
        + ", 2 API workers",
    ]
    if tv:
        L.append(
            "- tipg " + ", ".join(f"{k} {v}" for k, v in tv.items() if k != "tipg")
            + f"; `uvicorn tipg.main:app --workers N` on 127.0.0.1:{TIPG_PORT} (default logging, access log on)"
        )
    L += [
        f"- Data: `bench_serve.v_obs`, {res['rows']:,} rows, the 13 columns of bench/serve_vs_geonature.sh plus "
        "`geom geometry(Point, 4326)`; integer pk `id_synthese` 1…N; gn_flux export `bench 1m` (public, read "
        f"anonymously){', collection `' + res['gn_flux_collection'] + '`' if res.get('gn_flux_collection') else ''}; "
        f"tipg collection `{TIPG_COLLECTION}`",
        f"- Requests: pages of {LIMIT}; `Accept: application/geo+json` and `Accept-Encoding: identity` on both "
        "sides (no compression); keep-alive connections; gn_flux pages by keyset cursor "
        "(`cursor=base64url(last pk)`), tipg by `offset`.",
        "",
    ]
    for n in res["notes"]:
        L += [f"**Note.** {n}", ""]

    L += [
        f"## Time per {LIMIT}-item page by depth (one client, ms, median of {res['reps']})",
        "",
        "Each page was asked once untimed, then timed; every reply was checked: "
        f"{LIMIT} features, ids depth + 1 … depth + {LIMIT}.",
        "",
    ]
    head = "| depth (rows) | gn_flux ms | " + " | ".join(f"{v['label']} ms" for _, v in tipgs)
    head += " | ratio (tipg 1 worker / gn_flux) | gn_flux items/s | " + " | ".join(
        f"{v['label']} items/s" for _, v in tipgs) + " |"
    L += [head, "|" + "---:|" * (head.count("|") - 1)]
    for d in res["depths"]:
        gd = g["depth"][d] if g else None
        row = [f"{d:,}", ms(gd["s"]) if gd else na]
        row += [ms(v["depth"][d]["s"]) for _, v in tipgs]
        row.append(f"{t1['depth'][d]['s'] / gd['s']:.1f}×" if gd and t1 else na)
        row.append(f"{gd['items_per_s']:,.0f}" if gd else na)
        row += [f"{v['depth'][d]['items_per_s']:,.0f}" for _, v in tipgs]
        L.append("| " + " | ".join(row) + " |")
    fl = res.get("floor")
    if fl:
        L.append("")
        L.append(
            f"PostgreSQL's floor, in SQL over libpq (median): `count(*)` of the view {fl['count'] * 1000:.1f} ms "
            f"(what an exact `numberMatched` costs on a first page, both servers pay it), a keyset page of "
            f"{LIMIT} rows with GeoJSON geometries {fl['page_0'] * 1000:.1f} ms at depth 0 and "
            f"{fl['page_900000'] * 1000:.1f} ms at depth 900,000."
        )
    dmax = res["depths"][-1]
    L.append("")
    flat = []
    for name, v in every:
        t = v["depth"]
        f = f"{v['label']}: {t[dmax]['s'] / t[0]['s']:.2f}"
        if len(res["depths"]) > 2:
            f += f" (and page at {dmax:,} / page at {res['depths'][1]:,}: {t[dmax]['s'] / t[res['depths'][1]]['s']:.2f})"
        flat.append(f)
    if flat and dmax:
        L.append(f"Flatness with depth, page at {dmax:,} / page at 0 (target for gn_flux: about 1): " + "; ".join(flat) + ".")
    sizes = [f"{v['label']} {v['depth'][0]['bytes'] / 1024:.0f} KiB" for _, v in every]
    L += ["", "Reply size of a page: " + ", ".join(sizes) + ".", ""]

    L += [
        f"## {res['clients']} concurrent clients for {res['duration_s']} s",
        "",
        "Each client walks from the first page by the replies' `next` links (and starts again at the first page "
        "when a walk ends); items of the pages completed within the time, summed. A request in flight at the end "
        "is not counted.",
        "",
        "| server | items/s | pages | median / p95 page latency (ms) | gn_flux / this |",
        "|---|---:|---:|---:|---:|",
    ]
    for _, v in every:
        c = v["concurrent"]
        ratio = f"{g['concurrent']['items_per_s'] / c['items_per_s']:.2f}×" if g else na
        L.append(
            f"| {v['label']} | {c['items_per_s']:,.0f} | {c['pages']:,} | "
            f"{ms(c['latency_median_s'])} / {ms(c['latency_p95_s'])} | {ratio} |"
        )
    L += [
        "",
        "Load average (1, 5, 15 min) before and after each side's run (the machine is shared; other work "
        "skews single values): "
        + "; ".join(
            f"{v['label']} {v['loadavg_before']} → {v['loadavg_after']}" for _, v in every
        )
        + ".",
    ]
    L += ["", "## Memory of the serving processes (sampled every 0.25 s through each side's run)", ""]
    L += ["| server | processes | idle VmRSS (MB) | peak VmRSS (MB) | peak RssAnon (MB) | per-process max VmRSS (MB) |",
          "|---|---|---:|---:|---:|---|"]
    for _, v in every:
        for what, mm in v["memory"].items():
            L.append(
                f"| {v['label']} | {what} ({mm['processes']}) | {mm['idle_vmrss_mb']} | {mm['peak_vmrss_mb']} | "
                f"{mm['peak_rssanon_mb']} | {mm['per_process_max_mb']} |"
            )
    L += [
        "",
        "Peaks are of the sum over a side's processes in one sample. VmRSS of a PostgreSQL backend includes the "
        "shared buffers it touched; RssAnon is its own memory. gn_flux answers HTTP and runs the SQL in its API "
        "worker backends; tipg answers in Python (uvicorn) and runs the SQL in its pool's backends.",
        "",
        "## Targets",
        "",
    ]
    if g and tipgs:
        for _, v in tipgs:
            r = g["concurrent"]["items_per_s"] / v["concurrent"]["items_per_s"]
            L.append(f"- Throughput at least 2× tipg's ({v['label']}): {r:.2f}× — {'met' if r >= 2 else 'not met'}.")
        f = g["depth"][dmax]["s"] / g["depth"][0]["s"]
        L.append(
            f"- Flat per-page time with depth: gn_flux's page at {dmax:,} takes {f:.2f}× its page at 0 "
            f"({max(g['depth'][d]['s'] for d in res['depths']) * 1000:.1f} ms at most, "
            f"{min(g['depth'][d]['s'] for d in res['depths']) * 1000:.1f} ms at least)."
        )
    else:
        L.append("- Not assessed: one side was not measured (see the note above).")
    if res.get("tipg_env"):
        L += ["", "## tipg's environment", "", "```sh"]
        L += [f"{k}='{v}'" for k, v in res["tipg_env"].items()]
        L += ["```"]
    if res.get("api_status"):
        L += ["", f"gn_flux.api_status after the run (worker, requests, errors): {res['api_status']}"]
    L.append("")
    text = "\n".join(L)
    path.write_text(text)
    path.with_suffix(".json").write_text(json.dumps(res, indent=1, default=str))
    print(text)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
