"""Helpers shared by the benchmark drivers (bench/*_vs_*.py): environment, log lines, the
machine description, number formatting; the served benchmark data, a keep-alive HTTP client and
a sampler of process memory."""
from __future__ import annotations

import os
import platform
import statistics
import sys
import threading
import time


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


def env_flag(name: str) -> bool:
    return os.environ.get(name, "0").strip().lower() in ("1", "yes", "true", "on")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def machine() -> dict:
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor(),
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": platform.platform(),
    }


def fmt_s(v) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def median(values):
    return statistics.median(values) if values else None


# --- shared by the served-API benchmarks (serve_vs_geonature.py, ogc_vs_tipg.py) ---------------

def serve_data_sql(rows: int, geometry: bool = False) -> str:
    """SQL that (re)creates the served benchmark data: `bench_serve.obs`, a `rows`-row table with
    13 Synthese-like columns (integer pk `id_synthese` 1..rows, uuid, text, dates, integers,
    numeric, timestamp, WKT in `wkt_4326`), the view `bench_serve.v_obs` on it, registered as the
    public export `bench 1m` readable by `gn_flux_anonymous`. Every export labelled `bench %` is
    dropped first. `geometry=True` adds a 14th column `geom geometry(Point, 4326)` holding the
    point of `wkt_4326` (the view then has a geometry column; the export's `geometry_field`)."""
    geom_col = ",\n    geom geometry(Point, 4326)" if geometry else ""
    geom_val = (
        ",\n       ST_SetSRID(ST_MakePoint(5 + (i % 1000) * 0.001, 44 + (i / 1000) * 0.0001), 4326)"
        if geometry
        else ""
    )
    export_cols, export_vals = (", geometry_field", ", 'geom'") if geometry else ("", "")
    return f"""
DROP SCHEMA IF EXISTS bench_serve CASCADE;
DELETE FROM gn_flux.export WHERE label LIKE 'bench %';
CREATE SCHEMA bench_serve;
CREATE TABLE bench_serve.obs (
    id_synthese integer PRIMARY KEY,
    id_perm_sinp uuid NOT NULL,
    cd_nom integer NOT NULL,
    nom_cite text NOT NULL,
    date_debut date NOT NULL,
    date_fin date NOT NULL,
    observateurs text,
    nombre_min integer,
    altitude_min integer,
    precision numeric(8, 2),
    derniere_action timestamp NOT NULL,
    wkt_4326 text,
    comment text{geom_col}
);
INSERT INTO bench_serve.obs
SELECT i, md5('obs' || i)::uuid, 60000 + i % 5000, 'Taxon ' || (i % 5000) || ' (L., 1758)',
       DATE '2015-01-01' + i % 3000, DATE '2015-01-01' + i % 3000 + 1, 'Observateur ' || (i % 300),
       i % 20, 200 + i % 2500, (i % 1000) / 10.0,
       TIMESTAMP '2020-01-01' + i * interval '7 seconds',
       'POINT(' || (5 + (i % 1000) * 0.001) || ' ' || (44 + (i / 1000) * 0.0001) || ')',
       CASE WHEN i % 3 = 0 THEN 'Remarque ' || i END{geom_val}
  FROM generate_series(1, {rows}) i;
CREATE VIEW bench_serve.v_obs AS SELECT * FROM bench_serve.obs;
ANALYZE bench_serve.obs;
INSERT INTO gn_flux.export (label, schema_name, view_name, public{export_cols}) VALUES
    ('bench 1m', 'bench_serve', 'v_obs', true{export_vals});
GRANT USAGE ON SCHEMA bench_serve TO gn_flux_anonymous;
GRANT SELECT ON bench_serve.v_obs TO gn_flux_anonymous;
"""


class Http:
    """One keep-alive HTTP/1.1 connection (http.client: it sends `Accept-Encoding: identity`, so
    replies are not compressed). `headers` go with every request."""

    def __init__(self, port: int, host: str = "127.0.0.1", headers: dict | None = None, timeout: float = 300):
        import http.client

        self.c = http.client.HTTPConnection(host, port, timeout=timeout)
        self.headers = dict(headers or {})

    def request(self, path: str) -> tuple[int, bytes]:
        self.c.request("GET", path, headers=self.headers)
        r = self.c.getresponse()
        return r.status, r.read()

    def get(self, path: str) -> bytes:
        status, body = self.request(path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
        return body

    def close(self) -> None:
        self.c.close()


def pg_connect(params: dict, app: str, **extra):
    """An autocommit connection (psycopg2 from the benchmark venv), named `app` in pg_stat_activity."""
    import psycopg2

    conn = psycopg2.connect(**params, **extra, application_name=app)
    conn.autocommit = True
    return conn


def scalar(conn, sql: str, args=None):
    """The first column of the first row (None without a row)."""
    with conn.cursor() as cur:
        cur.execute(sql, args)
        row = cur.fetchone()
        return None if row is None else row[0]


def query(conn, sql: str, args=None) -> list:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def timed(f):
    """(seconds, result) of f()."""
    t = time.perf_counter()
    out = f()
    return time.perf_counter() - t, out


def proc_status_kb(pid: int, fields=("VmRSS",)) -> dict:
    """Fields of /proc/<pid>/status in kB (0 when the process is gone)."""
    out = dict.fromkeys(fields, 0)
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in out:
                    out[key] = int(line.split()[1])
    except OSError:
        pass
    return out


def rss_kb(pid: int) -> int:
    return proc_status_kb(pid)["VmRSS"]


def process_tree(pid: int) -> list[int]:
    """pid and its descendants (by /proc/*/stat parent pids)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return sorted(out)


class MemorySampler(threading.Thread):
    """Samples VmRSS and RssAnon (kB) of processes every `period` s. `pids` is a list, or a callable
    returning the list at each sample (a process tree, a connection pool that grows)."""

    def __init__(self, pids, period: float = 0.25):
        super().__init__(daemon=True)
        self.pids = pids
        self.period = period
        self.samples: list[dict[int, dict]] = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            pids = self.pids() if callable(self.pids) else self.pids
            self.samples.append({p: proc_status_kb(p, ("VmRSS", "RssAnon")) for p in pids})
            self.stop.wait(self.period)

    def finish(self) -> "MemorySampler":
        self.stop.set()
        self.join()
        return self

    def _order(self) -> list[int]:
        if not callable(self.pids):
            return list(self.pids)
        return sorted({p for s in self.samples for p in s})

    def summary(self) -> dict:
        """VmRSS (MB) per process (in the order of `pids`, or by pid): first, max and last sample."""
        per = [[s.get(p, {}).get("VmRSS", 0) for s in self.samples] for p in self._order()]
        return {
            "first_mb": [round(s[0] / 1024, 1) for s in per if s],
            "max_mb": [round(max(s) / 1024, 1) for s in per if s],
            "last_mb": [round(s[-1] / 1024, 1) for s in per if s],
        }

    def peak_sum_mb(self, field: str = "VmRSS") -> float:
        """The largest sum over the processes of one sample (MB)."""
        sums = [sum(v[field] for v in s.values()) for s in self.samples]
        return round(max(sums, default=0) / 1024, 1)
