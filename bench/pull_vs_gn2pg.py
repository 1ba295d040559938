#!/usr/bin/env python3
"""Driver of bench/pull_vs_gn2pg.sh: GN2PG (gn2pg_cli 1.10.1) against gn_flux.pull_source().

Run by the shell script with the venv's python once the cluster, the database and the GeoNature
stand-ins are up; every setting comes from the environment (see bench/README.md). It talks to
PostgreSQL with psycopg2, to gn2pg through its CLI (HOME pointing at a temporary directory that
holds .gn2pg/bench.toml), and to the stand-ins through their /_control endpoints (urllib). It
never sends traffic anywhere but 127.0.0.1.

Usage: python bench/pull_vs_gn2pg.py REPORT.md
Writes REPORT.md (markdown) and REPORT.json (every raw value), and prints the markdown.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from importlib import metadata as importlib_metadata
from pathlib import Path

import psycopg2
import psycopg2.extras

from benchlib import env_flag, env_int, fmt_s, log, machine, median, pg_connect, scalar



ROWS = env_int("BENCH_ROWS", 100_000)
REPS = env_int("BENCH_REPS", 3)
MEMORY_ROWS = env_int("BENCH_MEMORY_ROWS", 1_000_000)
SKIP_GN_FLUX = env_flag("BENCH_SKIP_GN_FLUX")
GN2PG_THREADS = env_int("BENCH_GN2PG_THREADS", 1)
SAMPLE_MS = env_int("BENCH_SAMPLE_MS", 100)
# Per mille of the rows changed before each update run: 3 updates, 1 insert, 1 delete (0.5 %).
MUTATE_UPDATE_PM = env_int("BENCH_MUTATE_UPDATE_PERMILLE", 3)
MUTATE_INSERT_PM = env_int("BENCH_MUTATE_INSERT_PERMILLE", 1)
MUTATE_DELETE_PM = env_int("BENCH_MUTATE_DELETE_PERMILLE", 1)

PG = {
    "host": "127.0.0.1",
    "port": env_int("BENCH_PG_PORT", 54330),
    "user": "bench",
    "password": "bench",
    "dbname": os.environ.get("BENCH_DB", "gn_bench"),
}
GN_PORT = env_int("BENCH_GN_PORT", 18791)
MEM_GN_PORT = env_int("BENCH_MEM_GN_PORT", 18792)
SOURCE = "bench"
MEM_SOURCE = "bench_1m"
GN2PG_SCHEMA = "gn2pg_import"
GN2PG_CLI = str(Path(sys.executable).parent / "gn2pg_cli")

# Loopback only: never go through a proxy, whatever the environment says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BenchError(Exception):
    pass



# ----------------------------------------------------------------------------------------------
# GeoNature stand-in control
# ----------------------------------------------------------------------------------------------
def control(port: int, method: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/_control/{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with _OPENER.open(req, timeout=60) as resp:
        return json.loads(resp.read().decode())


def live_rows(port: int) -> int:
    return int(control(port, "GET", "state")["rows"])


def mutation_for(rows: int) -> dict:
    def n(pm: int) -> int:
        return max(1, round(rows * pm / 1000)) if pm > 0 else 0

    return {"update": n(MUTATE_UPDATE_PM), "insert": n(MUTATE_INSERT_PM), "delete": n(MUTATE_DELETE_PM)}


# ----------------------------------------------------------------------------------------------
# PostgreSQL
# ----------------------------------------------------------------------------------------------


def connect():
    return pg_connect(PG, "gn_flux_bench")


def execute(conn, sql: str, args=None) -> None:
    with conn.cursor() as cur:
        cur.execute(sql, args)


def count_ids(conn, table: str, source: str, ids: list[int]) -> int:
    if not ids:
        return 0
    return scalar(
        conn,
        f"SELECT count(*) FROM {table} WHERE source = %s AND controler = 'data' AND id_data = ANY(%s)",
        (source, ids),
    )


def table_rows(conn, table: str, source: str) -> int:
    return scalar(conn, f"SELECT count(*) FROM {table} WHERE source = %s AND controler = 'data'", (source,))


# ----------------------------------------------------------------------------------------------
# GN2PG
# ----------------------------------------------------------------------------------------------
class Gn2pg:
    table = f"{GN2PG_SCHEMA}.data_json"

    def __init__(self, conn, home: Path):
        self.conn = conn
        self.home = home
        conf_dir = home / ".gn2pg"
        conf_dir.mkdir(parents=True, exist_ok=True)
        (conf_dir / "bench.toml").write_text(
            f"""[db]
db_host = "{PG['host']}"
db_port = {PG['port']}
db_user = "{PG['user']}"
db_password = "{PG['password']}"
db_name = "{PG['dbname']}"
db_schema_import = "{GN2PG_SCHEMA}"

[[source]]
name = "{SOURCE}"
user_name = "admin"
user_password = "admin"
url = "http://127.0.0.1:{GN_PORT}/geonature"
data_export_id = 1

[tuning]
max_page_length = 1000
nb_threads = {GN2PG_THREADS}
"""
        )
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env.update(
            HOME=str(home),
            # gn2pg compares its naive local now() with the server's UTC timestamps.
            TZ="UTC",
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
        )
        self.env = env
        self.log_path = home / "gn2pg-cli.log"
        self.version = importlib_metadata.version("gn2pg-client")

    def cli(self, *args: str) -> float:
        """Runs gn2pg_cli; returns its wall-clock time in seconds."""
        cmd = [GN2PG_CLI, *args, "bench.toml"]
        with open(self.log_path, "ab") as out:
            out.write(f"\n$ {' '.join(cmd)}\n".encode())
            out.flush()
            t0 = time.perf_counter()
            rc = subprocess.run(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
            elapsed = time.perf_counter() - t0
        if rc != 0:
            raise BenchError(f"gn2pg_cli {' '.join(args)} exited with {rc}; see {self.tail()}")
        return elapsed

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no gn2pg log)"
        return "the end of the gn2pg output:\n    " + "\n    ".join(text[-lines:])

    def startup_seconds(self) -> float:
        """Median wall-clock time of `gn2pg_cli --version`: the fixed cost of starting the CLI."""
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run([GN2PG_CLI, "--version"], env=self.env, capture_output=True, check=False)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    def reset_schema(self) -> None:
        execute(self.conn, f"DROP SCHEMA IF EXISTS {GN2PG_SCHEMA} CASCADE")
        self.cli("db", "--upgrade")

    def last_import(self) -> dict:
        with self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(
                f"""SELECT id, xfer_type, xfer_status, api_count_items, data_count_upserts, data_count_delete,
                           data_count_errors, comment
                    FROM {GN2PG_SCHEMA}.import_log WHERE source = %s ORDER BY id DESC LIMIT 1""",
                (SOURCE,),
            )
            row = cur.fetchone()
        return dict(row) if row else {}

    def pull(self, mode: str) -> tuple[float, dict]:
        execute(self.conn, "CHECKPOINT")
        elapsed = self.cli("download", f"--{mode}")
        imp = self.last_import()
        # gn2pg_cli exits 0 even when a source fails: its import_log says what happened.
        if imp.get("xfer_status") != "success" or imp.get("xfer_type") != mode:
            raise BenchError(f"gn2pg {mode} did not succeed: import_log {imp}; {self.tail()}")
        return elapsed, imp

    def rows(self) -> int:
        return table_rows(self.conn, self.table, SOURCE)


# ----------------------------------------------------------------------------------------------
# gn_flux
# ----------------------------------------------------------------------------------------------
class GnFlux:
    table = "gn_flux.data_json"

    def __init__(self, conn):
        self.conn = conn
        execute(conn, "SET gn_flux.progress_notices = off")
        self.version = scalar(conn, "SELECT gn_flux.version()")

    def reset_source(self, name: str, port: int) -> None:
        execute(self.conn, "SELECT gn_flux.drop_source(name) FROM gn_flux.source WHERE name = %s", (name,))
        execute(self.conn, "VACUUM gn_flux.data_json, gn_flux.metadata_json")
        execute(
            self.conn,
            "SELECT gn_flux.add_source(%s, %s, 1, login => 'admin', password => 'admin')",
            (name, f"http://127.0.0.1:{port}/geonature"),
        )

    def drop_source(self, name: str) -> None:
        execute(self.conn, "SELECT gn_flux.drop_source(name) FROM gn_flux.source WHERE name = %s", (name,))
        execute(self.conn, "VACUUM gn_flux.data_json, gn_flux.metadata_json")

    def pull(self, mode: str | None, name: str = SOURCE, conn=None) -> tuple[float, dict]:
        conn = conn or self.conn
        execute(self.conn, "CHECKPOINT")
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            t0 = time.perf_counter()
            if mode is None:
                cur.execute("SELECT * FROM gn_flux.pull_source(%s)", (name,))
            else:
                cur.execute("SELECT * FROM gn_flux.pull_source(%s, %s)", (name, mode))
            row = dict(cur.fetchone())
            elapsed = time.perf_counter() - t0
        row = {k: (str(v) if isinstance(v, dt.timedelta) else v) for k, v in row.items()}
        if row.get("status") != "success":
            raise BenchError(f"gn_flux pull_source({name!r}, {mode or 'auto'!r}) did not succeed: {row}")
        return elapsed, row

    def rows(self, name: str = SOURCE) -> int:
        return table_rows(self.conn, self.table, name)


# ----------------------------------------------------------------------------------------------
# The comparison
# ----------------------------------------------------------------------------------------------
def check_rows(label: str, got: int, want: int) -> None:
    if got != want:
        raise BenchError(f"{label}: {got} rows stored, the stand-in serves {want}")


def check_mutation(conn, label: str, table: str, mut: dict) -> dict:
    """Inserted ids present, deleted ids absent (hard); updated rows carry the new derniere_action (soft)."""
    ins = count_ids(conn, table, SOURCE, mut["inserted"])
    if ins != len(mut["inserted"]):
        raise BenchError(f"{label}: {ins} of {len(mut['inserted'])} inserted rows stored")
    dele = count_ids(conn, table, SOURCE, mut["deleted"])
    if dele != 0:
        raise BenchError(f"{label}: {dele} deleted rows still stored")
    fresh = 0
    if mut["updated"]:
        fresh = scalar(
            conn,
            f"""SELECT count(*) FROM {table} WHERE source = %s AND controler = 'data' AND id_data = ANY(%s)
                  AND left(item->>'derniere_action', 19) = left(%s, 19)""",
            (SOURCE, mut["updated"], mut["at"]),
        )
    return {"updated_fresh": fresh, "updated": len(mut["updated"])}


def run_comparison(conn, gn2pg: Gn2pg, flux: GnFlux | None) -> list[dict]:
    reps = []
    for r in range(1, REPS + 1):
        gn2pg_first = r % 2 == 1
        order = ["gn2pg", "gn_flux"] if gn2pg_first else ["gn_flux", "gn2pg"]
        if flux is None:
            order = ["gn2pg"]
        rep: dict = {"rep": r, "first": order[0]}
        log(f"rep {r}/{REPS}: reset the stand-in; order {' then '.join(order)}")
        control(GN_PORT, "POST", "reset")
        served = live_rows(GN_PORT)
        if served != ROWS:
            raise BenchError(f"the stand-in on port {GN_PORT} serves {served} rows, BENCH_ROWS is {ROWS}")

        # Set-up outside the timings.
        gn2pg.reset_schema()
        if flux is not None:
            flux.reset_source(SOURCE, GN_PORT)

        for tool in order:
            if tool == "gn2pg":
                t, imp = gn2pg.pull("full")
                rows = gn2pg.rows()
                rep["gn2pg_full_s"], rep["gn2pg_full_import"], rep["gn2pg_full_rows"] = t, imp, rows
                check_rows(f"rep {r}: gn2pg full", rows, served)
            else:
                t, row = flux.pull("full")
                rows = flux.rows()
                rep["gn_flux_full_s"], rep["gn_flux_full_row"], rep["gn_flux_full_rows"] = t, row, rows
                check_rows(f"rep {r}: gn_flux full", rows, served)
            log(f"rep {r}: {tool} full {t:.2f} s, {rows} rows")

        mut_req = mutation_for(served)
        mut = control(GN_PORT, "POST", "mutate", mut_req)
        live = live_rows(GN_PORT)
        rep["mutation"] = {**mut_req, "at": mut["at"], "live_rows": live}
        log(f"rep {r}: mutated {mut_req} at {mut['at']}; {live} live rows")
        # gn2pg's update window ends at its own now() truncated to the second: let the clock pass
        # the mutation instant so the changed rows are inside it.
        time.sleep(1.1)

        for tool in order:
            if tool == "gn2pg":
                t, imp = gn2pg.pull("update")
                rows = gn2pg.rows()
                rep["gn2pg_update_s"], rep["gn2pg_update_import"], rep["gn2pg_update_rows"] = t, imp, rows
            else:
                t, row = flux.pull(None)
                rows = flux.rows()
                rep["gn_flux_update_s"], rep["gn_flux_update_row"], rep["gn_flux_update_rows"] = t, row, rows
                if row.get("mode") != "update":
                    raise BenchError(f"rep {r}: gn_flux auto pull ran in mode {row.get('mode')!r}, not update")
            log(f"rep {r}: {tool} update {t:.2f} s, {rows} rows")
        check_rows(f"rep {r}: gn2pg after update", rep["gn2pg_update_rows"], live)
        rep["gn2pg_update_check"] = check_mutation(conn, f"rep {r}: gn2pg update", Gn2pg.table, mut)
        if flux is not None:
            check_rows(f"rep {r}: gn_flux after update", rep["gn_flux_update_rows"], live)
            rep["gn_flux_update_check"] = check_mutation(conn, f"rep {r}: gn_flux update", GnFlux.table, mut)
        reps.append(rep)
    return reps


# ----------------------------------------------------------------------------------------------
# Memory of the backend during a large pull
# ----------------------------------------------------------------------------------------------
STATUS_KEYS = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem")


def proc_status(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in STATUS_KEYS:
                out[key] = int(value.split()[0])  # kB
    return out


def run_memory(conn, flux: GnFlux) -> dict:
    log(f"memory: {MEMORY_ROWS} rows from 127.0.0.1:{MEM_GN_PORT}")
    control(MEM_GN_PORT, "POST", "reset")
    served = live_rows(MEM_GN_PORT)
    if served != MEMORY_ROWS:
        raise BenchError(f"the stand-in on port {MEM_GN_PORT} serves {served} rows, BENCH_MEMORY_ROWS is {MEMORY_ROWS}")
    # The staging tables hold one source per uuid: make room (and the numbers cleaner).
    flux.drop_source(SOURCE)
    flux.reset_source(MEM_SOURCE, MEM_GN_PORT)

    mconn = connect()
    try:
        execute(mconn, "SET gn_flux.progress_notices = off")
        scalar(mconn, "SELECT gn_flux.version()")  # warm-up: the library is loaded and initialised
        pid = scalar(mconn, "SELECT pg_backend_pid()")
        time.sleep(0.5)
        idle = proc_status(pid)
        samples: list[tuple[float, dict]] = []
        done = threading.Event()
        t0 = time.perf_counter()

        def sampler() -> None:
            while not done.is_set():
                try:
                    samples.append((time.perf_counter() - t0, proc_status(pid)))
                except (OSError, ValueError):
                    pass
                done.wait(SAMPLE_MS / 1000)

        th = threading.Thread(target=sampler, daemon=True)
        execute(conn, "CHECKPOINT")
        t0 = time.perf_counter()
        th.start()
        with mconn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("SELECT * FROM gn_flux.pull_source(%s, 'full')", (MEM_SOURCE,))
            row = dict(cur.fetchone())
        elapsed = time.perf_counter() - t0
        done.set()
        th.join()
        after = proc_status(pid)
    finally:
        mconn.close()
    row = {k: (str(v) if isinstance(v, dt.timedelta) else v) for k, v in row.items()}
    if row.get("status") != "success":
        raise BenchError(f"gn_flux pull_source({MEM_SOURCE!r}, 'full') did not succeed: {row}")
    rows = flux.rows(MEM_SOURCE)
    check_rows("memory pull", rows, served)
    log(f"memory: pull {elapsed:.1f} s, {len(samples)} samples; dropping {MEM_SOURCE}")
    flux.drop_source(MEM_SOURCE)

    peak_rss = max([s["VmRSS"] for _, s in samples] + [after["VmRSS"]])
    peak_anon = max([s.get("RssAnon", 0) for _, s in samples] + [after.get("RssAnon", 0)])
    series = []
    if samples:
        for pct in range(0, 101, 10):
            target = elapsed * pct / 100
            t, s = min(samples, key=lambda x: abs(x[0] - target))
            series.append({"pct": pct, "t": t, **s})
    return {
        "rows": rows,
        "pid": pid,
        "seconds": elapsed,
        "rows_per_s": rows / elapsed if elapsed > 0 else None,
        "pull_row": row,
        "idle": idle,
        "after": after,
        "peak_vmrss_kb": peak_rss,
        "peak_rssanon_kb": peak_anon,
        "vmhwm_after_kb": after["VmHWM"],
        "samples": len(samples),
        "series": series,
    }


# ----------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------



def fmt_mib(kb) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.1f} MiB"



def ratio(a, b) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.1f}×"


def render(res: dict) -> str:
    reps = res["runs"]
    m = res["machine"]
    v = res["versions"]
    skip = res["gn_flux_skipped"]
    vals = {
        key: [r[key] for r in reps if key in r]
        for key in ("gn2pg_full_s", "gn_flux_full_s", "gn2pg_update_s", "gn_flux_update_s")
    }
    med = {k: median(x) for k, x in vals.items()}
    mut = reps[0]["mutation"] if reps else {}

    def all_vals(key):
        return ", ".join(fmt_s(x) for x in vals[key]) if vals[key] else "skipped"

    def rps(key):
        return "n/a" if not med[key] else f"{res['rows'] / med[key]:,.0f}"

    L = []
    L.append(f"# Pull benchmark: GN2PG vs gn_flux ({res['date']})")
    L.append("")
    if skip:
        L.append("> **gn_flux skipped** (`BENCH_SKIP_GN_FLUX=1`): only the GN2PG side was run.")
        L.append("")
    L.append(f"- Command: `{res['command']}`")
    L.append(
        f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem_gib']} GiB RAM, Linux {m['kernel']}; "
        "everything (PostgreSQL, stand-in, clients) on the same host"
    )
    L.append(
        f"- Versions: gn2pg-client {v['gn2pg']} (Python {v['python']}), {v['postgres']}, "
        f"PostGIS {v['postgis']}, {v['gn_flux']}, stand-in from commit {v['repo']}"
    )
    L.append(
        f"- Data: {res['rows']:,} rows served by the GeoNature stand-in (export 1, "
        f"`synthese_with_cd_nomenclature`, seed 42, pages of 1000); {res['reps']} repetition"
        f"{'s' if res['reps'] != 1 else ''}, "
        "the tool going first alternating; gn2pg with `nb_threads = "
        f"{res['gn2pg_threads']}`"
    )
    if mut:
        L.append(
            f"- Update step: before each update the stand-in changes {mut['update']} rows, inserts "
            f"{mut['insert']} and deletes {mut['delete']} (~{(mut['update'] + mut['insert'] + mut['delete']) * 100 / res['rows']:.2f} %)"
        )
    L.append("- Times are wall clock seen by the caller: the whole `gn2pg_cli` process (Python start "
             "included: `gn2pg_cli --version` alone takes "
             f"{fmt_s(res.get('gn2pg_startup_s'))} s here), the whole "
             "`SELECT * FROM gn_flux.pull_source(…)` statement. Set-up (schema, source) is not timed; "
             "a `CHECKPOINT` precedes every timed run.")
    L.append("")
    L.append("## Summary (medians)")
    L.append("")
    L.append("| | GN2PG | gn_flux | GN2PG / gn_flux |")
    L.append("|---|---:|---:|---:|")
    L.append(
        f"| full pull (s) | {fmt_s(med['gn2pg_full_s'])} | {fmt_s(med['gn_flux_full_s'])} | "
        f"{ratio(med['gn2pg_full_s'], med['gn_flux_full_s'])} |"
    )
    L.append(f"| full pull (rows/s) | {rps('gn2pg_full_s')} | {rps('gn_flux_full_s')} | |")
    L.append(
        f"| update (s) | {fmt_s(med['gn2pg_update_s'])} | {fmt_s(med['gn_flux_update_s'])} | "
        f"{ratio(med['gn2pg_update_s'], med['gn_flux_update_s'])} |"
    )
    L.append("")
    L.append("All values (s, in repetition order):")
    L.append("")
    L.append(f"- GN2PG full: {all_vals('gn2pg_full_s')}")
    L.append(f"- gn_flux full: {all_vals('gn_flux_full_s')}")
    L.append(f"- GN2PG update: {all_vals('gn2pg_update_s')}")
    L.append(f"- gn_flux update: {all_vals('gn_flux_update_s')}")
    L.append("")
    L.append("## Runs")
    L.append("")
    L.append("| rep | first | GN2PG full s | gn_flux full s | GN2PG update s | gn_flux update s | rows after update | checks |")
    L.append("|---:|---|---:|---:|---:|---:|---:|---|")
    for r in reps:
        checks = []
        for tool in ("gn2pg", "gn_flux"):
            c = r.get(f"{tool}_update_check")
            if c:
                checks.append(f"{tool}: counts ok, updated rows fresh {c['updated_fresh']}/{c['updated']}")
        L.append(
            f"| {r['rep']} | {r['first']} | {fmt_s(r.get('gn2pg_full_s'))} | {fmt_s(r.get('gn_flux_full_s'))} | "
            f"{fmt_s(r.get('gn2pg_update_s'))} | {fmt_s(r.get('gn_flux_update_s'))} | "
            f"{r['mutation']['live_rows']:,} | {'; '.join(checks)} |"
        )
    L.append("")
    L.append("Row counts were checked after every run: each tool's `data_json` held exactly the rows the "
             "stand-in served (after a full pull) or still had live (after an update); the inserted ids "
             "were present and the deleted ids absent.")
    L.append("")
    L.append("What each tool reported (last repetition):")
    L.append("")
    last = reps[-1] if reps else {}
    for key, label in (
        ("gn2pg_full_import", "GN2PG full, import_log"),
        ("gn2pg_update_import", "GN2PG update, import_log"),
        ("gn_flux_full_row", "gn_flux full, pull_source()"),
        ("gn_flux_update_row", "gn_flux update, pull_source()"),
    ):
        if key in last:
            body = ", ".join(f"{k}={v}" for k, v in last[key].items() if v is not None and k != "comment")
            L.append(f"- {label}: {body}")
    mem = res.get("memory")
    L.append("")
    L.append("## Memory of the backend during a large gn_flux pull")
    L.append("")
    if mem is None:
        L.append(f"Skipped ({res.get('memory_skipped_reason', 'BENCH_MEMORY_ROWS=0')}).")
    else:
        idle = mem["idle"]
        L.append(
            f"`pull_source('{MEM_SOURCE}', 'full')` of {mem['rows']:,} rows (stand-in seed 43) in one fresh "
            f"backend (pid {mem['pid']}), `/proc/<pid>/status` read every {SAMPLE_MS} ms "
            f"({mem['samples']} samples)."
        )
        L.append("")
        L.append("| | VmRSS | RssAnon (private) |")
        L.append("|---|---:|---:|")
        L.append(f"| idle (after `SELECT gn_flux.version()`) | {fmt_mib(idle.get('VmRSS'))} | {fmt_mib(idle.get('RssAnon'))} |")
        L.append(f"| peak during the pull | {fmt_mib(mem['peak_vmrss_kb'])} | {fmt_mib(mem['peak_rssanon_kb'])} |")
        L.append(
            f"| peak − idle | {fmt_mib(mem['peak_vmrss_kb'] - idle.get('VmRSS', 0))} | "
            f"{fmt_mib(mem['peak_rssanon_kb'] - idle.get('RssAnon', 0))} |"
        )
        L.append("")
        L.append(
            f"VmHWM after the pull: {fmt_mib(mem['vmhwm_after_kb'])}. Pull time {mem['seconds']:.1f} s, "
            f"{mem['rows_per_s']:,.0f} rows/s. VmRSS counts the shared buffers the backend touched "
            "(RssShmem, bounded by `shared_buffers`); RssAnon is the backend's own memory."
        )
        L.append("")
        L.append("| % of the run | t (s) | VmRSS | RssAnon | RssShmem |")
        L.append("|---:|---:|---:|---:|---:|")
        for s in mem["series"]:
            L.append(
                f"| {s['pct']} | {s['t']:.1f} | {fmt_mib(s.get('VmRSS'))} | {fmt_mib(s.get('RssAnon'))} | "
                f"{fmt_mib(s.get('RssShmem'))} |"
            )
    L.append("")
    L.append(f"Total benchmark time: {res['total_s']:.0f} s.")
    return "\n".join(L) + "\n"


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out_md = Path(sys.argv[1])
    t_start = time.perf_counter()
    conn = connect()
    home = Path(tempfile.mkdtemp(prefix="gn_flux_bench_home."))
    keep_home = False
    try:
        gn2pg = Gn2pg(conn, home)
        flux = None if SKIP_GN_FLUX else GnFlux(conn)
        versions = {
            "gn2pg": gn2pg.version,
            "python": platform.python_version(),
            "postgres": scalar(conn, "SELECT split_part(version(), ' on ', 1)"),
            "postgis": scalar(conn, "SELECT postgis_lib_version()"),
            "gn_flux": flux.version if flux else "gn_flux skipped",
            "repo": os.environ.get("BENCH_REPO_COMMIT", "unknown"),
        }
        res = {
            "date": dt.date.today().isoformat(),
            "command": os.environ.get("BENCH_COMMAND_LINE", " ".join(sys.argv)),
            "machine": machine(),
            "versions": versions,
            "rows": ROWS,
            "reps": REPS,
            "gn2pg_threads": GN2PG_THREADS,
            "gn_flux_skipped": SKIP_GN_FLUX,
        }
        res["gn2pg_startup_s"] = gn2pg.startup_seconds()
        res["runs"] = run_comparison(conn, gn2pg, flux)
        if flux is None:
            res["memory"] = None
            res["memory_skipped_reason"] = "gn_flux skipped"
        elif MEMORY_ROWS <= 0:
            res["memory"] = None
            res["memory_skipped_reason"] = "BENCH_MEMORY_ROWS=0"
        else:
            res["memory"] = run_memory(conn, flux)
        res["total_s"] = time.perf_counter() - t_start
        doc = render(res)
        out_md.parent.mkdir(parents=True, exist_ok=True)
        out_md.write_text(doc)
        out_md.with_suffix(".json").write_text(json.dumps(res, indent=2, default=str) + "\n")
        print(doc)
        log(f"report written to {out_md} (raw values in {out_md.with_suffix('.json').name})")
    except (BenchError, psycopg2.Error) as e:
        keep_home = True
        log(f"FAILED: {e}")
        log(f"gn2pg home kept for inspection: {home}")
        return 1
    finally:
        conn.close()
        if not keep_home:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
