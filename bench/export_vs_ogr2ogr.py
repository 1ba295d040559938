"""Export benchmark: gn_flux.export_to_file() against GDAL's ogr2ogr on the same view.

Run by bench/export_vs_ogr2ogr.sh (which prepares the cluster, gn_flux and the venv). Builds a
synthese-like table of BENCH_EXPORT_ROWS rows with Lambert-93 points and a view over it, then for
each format (gpkg, csv) and repetition times:
  - gn_flux: SELECT * FROM gn_flux.export_to_file('Bench synthese', <format>, <path>)
  - ogr2ogr: ogr2ogr -f GPKG|CSV <path> PG:... bench_exp.v_synthese   (GPKG twice: GDAL's default,
    which also builds an R-tree spatial index, and -lco SPATIAL_INDEX=NO, which gn_flux matches)
Memory: the private memory (RssAnon) of the PostgreSQL backend doing the export, sampled every
50 ms, above its idle size; for ogr2ogr also the peak RSS of the ogr2ogr process (wait4).
Every output is checked: ogrinfo feature counts, CSV record counts.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchlib import pg_connect, scalar

ROWS = int(os.environ["BENCH_EXPORT_ROWS"])
REPS = int(os.environ["BENCH_REPS"])
OUT = Path(os.environ["BENCH_OUT_DIR"])
PORT = int(os.environ["BENCH_PG_PORT"])
DB = os.environ["BENCH_DB"]
PG = dict(host="127.0.0.1", port=PORT, dbname=DB, user="bench", password="bench")
PG_DSN = f"PG:host=127.0.0.1 port={PORT} dbname={DB} user=bench password=bench"
LABEL = "Bench synthese"
VIEW = "bench_exp.v_synthese"


def log(msg: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", flush=True)




def connect(app: str = "gn_flux_bench"):
    return pg_connect(PG, app)


def execute(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)


def setup(conn) -> None:
    exists = scalar(conn, "SELECT to_regclass('bench_exp.obs') IS NOT NULL")
    have = scalar(conn, "SELECT count(*) FROM bench_exp.obs") if exists else -1
    if have != ROWS:
        log(f"building bench_exp.obs with {ROWS} rows")
        execute(conn, "DROP SCHEMA IF EXISTS bench_exp CASCADE; CREATE SCHEMA bench_exp")
        execute(
            conn,
            """CREATE TABLE bench_exp.obs (
                   id_synthese integer PRIMARY KEY,
                   unique_id_sinp uuid NOT NULL,
                   cd_nom integer,
                   nom_cite text,
                   nom_valide varchar(500),
                   date_debut date,
                   date_min timestamp,
                   date_max timestamp,
                   altitude_min integer,
                   altitude_max integer,
                   count_min integer,
                   observateurs text,
                   is_valid boolean,
                   precision double precision,
                   derniere_action timestamp,
                   geom geometry(Point, 2154))""",
        )
        execute(
            conn,
            """INSERT INTO bench_exp.obs
               SELECT i, md5(i::text)::uuid, 60000 + i %% 5000,
                      'Espèce observée n°' || (i %% 1000) || ' "forêt"; lisière',
                      'Nom valide ' || (i %% 5000),
                      date '2020-01-01' + i %% 1500,
                      timestamp '2020-01-01 08:00' + (i %% 1500) * interval '1 day',
                      timestamp '2020-01-01 09:30' + (i %% 1500) * interval '1 day',
                      500 + i %% 2000, 600 + i %% 2000, 1 + i %% 12,
                      'Dupont Élise; Martin Loïc ' || (i %% 300),
                      i %% 3 <> 0, (i %% 100) / 3.0,
                      timestamp '2024-01-01' + i * interval '1 second',
                      ST_SetSRID(ST_MakePoint(100000 + (i::bigint * 7919) %% 1000000, 6100000 + (i::bigint * 104729) %% 1000000), 2154)
                 FROM generate_series(1, %s) i""",
            (ROWS,),
        )
        execute(conn, "CREATE VIEW bench_exp.v_synthese AS SELECT * FROM bench_exp.obs")
        execute(conn, "VACUUM ANALYZE bench_exp.obs")
    execute(conn, "SELECT gn_flux.drop_export(label) FROM gn_flux.export WHERE label = %s", (LABEL,))
    execute(conn, "SELECT gn_flux.add_export(%s, 'bench_exp', 'v_synthese')", (LABEL,))


def rss(pid: int) -> dict:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "RssAnon", "VmHWM"):
                    out[key] = int(value.split()[0])
    except FileNotFoundError:
        pass
    return out


class Sampler(threading.Thread):
    """Peak RssAnon of one process (given, or found by application_name) every 50 ms."""

    def __init__(self, pid: int | None = None, app: str | None = None):
        super().__init__(daemon=True)
        self.pid, self.app = pid, app
        self.start_anon = None
        self.peak_anon = 0
        self.samples: list[tuple[float, int]] = []
        self.t0 = time.perf_counter()
        self.stop_flag = threading.Event()

    def run(self):
        conn = connect("gn_flux_bench_sampler") if self.app else None
        while not self.stop_flag.is_set():
            if self.pid is None and conn is not None:
                self.pid = scalar(conn, "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (self.app,))
            if self.pid:
                s = rss(self.pid)
                if "RssAnon" in s:
                    if self.start_anon is None:
                        self.start_anon = s["RssAnon"]
                    self.peak_anon = max(self.peak_anon, s["RssAnon"])
                    self.samples.append((time.perf_counter() - self.t0, s["RssAnon"]))
            time.sleep(0.05)
        if conn is not None:
            conn.close()

    def stop(self) -> dict:
        self.stop_flag.set()
        self.join()
        return {"backend_start_anon_kb": self.start_anon, "backend_peak_anon_kb": self.peak_anon, "samples": self.samples}


def gn_flux_run(fmt: str, path: Path, filters: str = "{}", settings: dict | None = None) -> dict:
    if path.exists():
        path.unlink()
    conn = connect()
    for name, value in (settings or {}).items():
        execute(conn, "SELECT set_config(%s, %s, false)", (name, value))
    pid = scalar(conn, "SELECT pg_backend_pid()")
    scalar(conn, "SELECT gn_flux.version()")  # warm the library
    idle = rss(pid)["RssAnon"]
    execute(conn, "CHECKPOINT")
    sampler = Sampler(pid=pid)
    sampler.start()
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("SELECT rows, bytes FROM gn_flux.export_to_file(%s, %s, %s, %s::jsonb)", (LABEL, fmt, str(path), filters))
        rows, size = cur.fetchone()
    seconds = time.perf_counter() - t0
    mem = sampler.stop()
    conn.close()
    series = []
    for pct in range(10, 101, 10):
        upto = [a for t, a in mem["samples"] if t <= seconds * pct / 100]
        series.append(round(((upto[-1] if upto else idle) - idle) / 1024, 1))
    return {"seconds": seconds, "rows": rows, "bytes": size, "backend_idle_anon_kb": idle,
            "backend_peak_anon_kb": mem["backend_peak_anon_kb"],
            "backend_extra_anon_kb": mem["backend_peak_anon_kb"] - idle,
            "series_mib_above_idle": series}


def ogr2ogr_run(fmt: str, path: Path, extra: list[str]) -> dict:
    if path.exists():
        path.unlink()
    conn = connect()
    execute(conn, "CHECKPOINT")
    conn.close()
    driver = {"gpkg": "GPKG", "csv": "CSV"}[fmt]
    cmd = ["ogr2ogr", "-f", driver, str(path), PG_DSN, VIEW, "-nln", "v_synthese", *extra]
    env = dict(os.environ, PGAPPNAME="ogr2ogr_bench")
    sampler = Sampler(app="ogr2ogr_bench")
    sampler.start()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    mem = sampler.stop()
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"ogr2ogr failed ({proc.returncode}): {' '.join(cmd)}\n{stderr}")
    start = mem["backend_start_anon_kb"] or 0
    return {"seconds": seconds, "bytes": path.stat().st_size, "client_maxrss_kb": usage.ru_maxrss,
            "backend_peak_anon_kb": mem["backend_peak_anon_kb"], "backend_extra_anon_kb": mem["backend_peak_anon_kb"] - start,
            "command": " ".join(cmd).replace("password=bench", "password=***")}
    # (samples are not kept for ogr2ogr: its backend only streams rows)


def check_gpkg(path: Path) -> int:
    out = subprocess.run(["ogrinfo", "-ro", "-so", "-al", str(path)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("Feature Count:"):
            return int(line.split(":")[1])
    raise SystemExit(f"ogrinfo gave no feature count for {path}")


def check_csv(path: Path, delimiter: str) -> int:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter=delimiter)
        next(reader)
        return sum(1 for _ in reader)


def median(xs):
    return statistics.median(xs) if xs else None


def main(report_path: str) -> None:
    conn = connect()
    setup(conn)
    versions = {
        "postgresql": scalar(conn, "SHOW server_version"),
        "postgis": scalar(conn, "SELECT postgis_lib_version()"),
        "gn_flux": scalar(conn, "SELECT gn_flux.version()"),
        "gdal": subprocess.run(["ogr2ogr", "--version"], capture_output=True, text=True).stdout.strip(),
    }
    conn.close()
    # (name, ogr2ogr options or None for gn_flux, gn_flux settings, the gn_flux variant it compares with)
    variants = {
        "gpkg": [
            ("gn_flux (default: + R-tree index)", None, {}, None),
            ("gn_flux, gpkg_spatial_index = off", None, {"gn_flux.gpkg_spatial_index": "off"}, None),
            ("ogr2ogr (default: + R-tree index)", [], {}, "gn_flux (default: + R-tree index)"),
            ("ogr2ogr -lco SPATIAL_INDEX=NO", ["-lco", "SPATIAL_INDEX=NO"], {}, "gn_flux, gpkg_spatial_index = off"),
        ],
        "csv": [
            ("gn_flux", None, {}, None),
            ("ogr2ogr", ["-lco", "GEOMETRY=AS_WKT", "-lco", "SEPARATOR=SEMICOLON", "-lco", "STRING_QUOTING=ALWAYS"], {}, "gn_flux"),
        ],
    }
    results: dict = {}
    for fmt, tools in variants.items():
        results[fmt] = {name: [] for name, _, _, _ in tools}
        for rep in range(REPS):
            order = tools if rep % 2 == 0 else list(reversed(tools))
            for k, (name, extra, settings, _) in enumerate(order):
                path = OUT / f"out_{k}.{fmt}"
                r = gn_flux_run(fmt, path, settings=settings) if extra is None else ogr2ogr_run(fmt, path, extra)
                count = check_gpkg(path) if fmt == "gpkg" else check_csv(path, ";")
                if count != ROWS:
                    raise SystemExit(f"{name} {fmt}: {count} rows in {path}, expected {ROWS}")
                r["checked_rows"] = count
                results[fmt][name].append(r)
                log(f"{fmt} rep {rep + 1}/{REPS} {name}: {r['seconds']:.2f} s, {r['bytes'] / 1e6:.1f} MB, backend +{r['backend_extra_anon_kb'] / 1024:.1f} MiB")
                path.unlink()
    # Flat memory: the same export of a tenth of the rows.
    small = gn_flux_run("gpkg", OUT / "small.gpkg", json.dumps({"limit": ROWS // 10}))
    (OUT / "small.gpkg").unlink()

    lines = [f"# Export benchmark: gn_flux vs ogr2ogr ({dt.date.today()})", "",
             f"Command: `{os.environ.get('BENCH_COMMAND_LINE', '')}` (commit {os.environ.get('BENCH_REPO_COMMIT', '?')})", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB; "
             f"PostgreSQL {versions['postgresql']}, PostGIS {versions['postgis']}, {versions['gdal']}, {versions['gn_flux']}.", "",
             f"View `{VIEW}`: {ROWS:,} rows, 16 columns (integer, uuid, text, varchar, date, timestamp, boolean, double, Point 2154); "
             f"{REPS} repetitions, the tool going first alternates; every output re-read (ogrinfo feature count / CSV records).", ""]
    for fmt, by_tool in results.items():
        compare = {name: against for name, _, _, against in variants[fmt]}
        lines += [f"## {fmt}", "", "| tool | median s | all runs s | rows/s | ogr2ogr / gn_flux (like for like) | file MB | backend peak private memory above idle | client peak RSS |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, runs in by_tool.items():
            secs = [r["seconds"] for r in runs]
            med = median(secs)
            against = compare[name]
            ratio = f"{med / median([r['seconds'] for r in by_tool[against]]):.2f}× vs `{against}`" if against else ""
            extra_mb = max(r["backend_extra_anon_kb"] for r in runs) / 1024
            client = max((r.get("client_maxrss_kb") or 0) for r in runs) / 1024
            lines.append(f"| {name} | {med:.2f} | {', '.join(f'{s:.2f}' for s in secs)} | {ROWS / med:,.0f} | {ratio} | "
                         f"{runs[0]['bytes'] / 1e6:.1f} | {extra_mb:.1f} MiB | {'%.1f MiB' % client if client else '(in the backend)'} |")
        lines.append("")
    gpkg_default = results["gpkg"]["gn_flux (default: + R-tree index)"]
    big = max(r["backend_extra_anon_kb"] for r in gpkg_default) / 1024
    lines += ["## Memory stays flat", "",
              "Private memory (RssAnon) of the gn_flux backend above its idle size, sampled every 50 ms, at each 10 % of the "
              "run's time (last repetition):", "",
              "| format | 10 % | 20 % | 30 % | 40 % | 50 % | 60 % | 70 % | 80 % | 90 % | 100 % |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, runs in (("gpkg", gpkg_default), ("csv", results["csv"]["gn_flux"])):
        series = runs[-1]["series_mib_above_idle"]
        lines.append(f"| {label} | " + " | ".join(f"{v:.1f} MiB" for v in series) + " |")
    lines += ["", f"Peak for {ROWS // 10:,} rows (gpkg, `{{\"limit\": {ROWS // 10}}}`): +{small['backend_extra_anon_kb'] / 1024:.1f} MiB "
              f"({small['seconds']:.2f} s); for {ROWS:,} rows: +{big:.1f} MiB (the pipeline of 2,000-row batches fills within the first second).", ""]
    report = "\n".join(lines)
    print(report)
    Path(report_path).parent.mkdir(parents=True, exist_ok=True)
    Path(report_path).write_text(report + "\n")
    Path(report_path).with_suffix(".json").write_text(json.dumps({"rows": ROWS, "reps": REPS, "versions": versions, "results": results, "small": small}, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
