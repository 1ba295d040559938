#!/usr/bin/env python3
"""Driver of bench/synthese_vs_gn2pg.sh: loading gn_synthese.synthese with gn_flux, with GN2PG
(gn2pg_cli 1.10.1 and its to_gnsynthese triggers) and with a plain set-based INSERT … SELECT.

Run by the shell script with the venv's python once the cluster, the role bench, the fixture copy
and the GeoNature stand-in are up; every setting comes from the environment (see bench/README.md).
It talks to PostgreSQL with psycopg2 (role bench over TCP) and with psql as postgres (the fixture,
the extensions, GN2PG's trigger script), to gn2pg through its CLI (HOME pointing at a temporary
directory that holds .gn2pg/bench.toml), and to the stand-in through its /_control endpoints.
It never sends traffic anywhere but 127.0.0.1.

Every repetition re-creates three databases, each with PostGIS and the GeoNature 2.17 fixture:
  - BENCH_DB_FLUX:  gn_flux, source 'bench' with the load enabled (enable_synthese(load => false));
  - BENCH_DB_FLOOR: gn_flux, source 'bench' without the load; after its pull, one INSERT … SELECT;
  - BENCH_DB_GN2PG: GN2PG's schema gn2pg_import with GN2PG's to_gnsynthese triggers.

Usage: python bench/synthese_vs_gn2pg.py REPORT.md
Writes REPORT.md (markdown) and REPORT.json (every raw value), and prints the markdown.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from importlib import metadata as importlib_metadata
from pathlib import Path

import psycopg2
import psycopg2.extras

from benchlib import env_flag, env_int, fmt_s, log, machine, median, pg_connect, scalar



ROWS = env_int("BENCH_ROWS", env_int("ROWS", 100_000))
REPS = env_int("BENCH_REPS", env_int("REPS", 3))
SKIP_GN2PG = env_flag("BENCH_SKIP_GN2PG")
GN2PG_THREADS = env_int("BENCH_GN2PG_THREADS", 1)
# Per mille of the rows changed before the update pulls: 3 updates, 1 insert, 1 delete (0.5 %).
MUTATE_UPDATE_PM = env_int("BENCH_MUTATE_UPDATE_PERMILLE", 3)
MUTATE_INSERT_PM = env_int("BENCH_MUTATE_INSERT_PERMILLE", 1)
MUTATE_DELETE_PM = env_int("BENCH_MUTATE_DELETE_PERMILLE", 1)
# gn_flux with the load against the floor: the target ratio.
TARGET_RATIO = 1.2

PG_PORT = env_int("BENCH_PG_PORT", 54330)
PG_SOCKET_DIR = os.environ.get("BENCH_PG_SOCKET_DIR", "/var/run/postgresql")
PSQL = os.environ.get("BENCH_PSQL", "psql")
DB_FLUX = os.environ.get("BENCH_DB_FLUX", "gn_bench_syn_flux")
DB_FLOOR = os.environ.get("BENCH_DB_FLOOR", "gn_bench_syn_floor")
DB_GN2PG = os.environ.get("BENCH_DB_GN2PG", "gn_bench_syn_gn2pg")
GN_PORT = env_int("BENCH_GN_PORT", 18793)
FIXTURE_DIR = os.environ.get("BENCH_FIXTURE_DIR", "")
GN2PG_SCRIPT = os.environ.get("BENCH_GN2PG_SCRIPT", "")
GN2PG_ADAPT = os.environ.get("BENCH_GN2PG_ADAPT", "")
SOURCE = "bench"
GN_URL = f"http://127.0.0.1:{GN_PORT}/geonature"
GN2PG_SCHEMA = "gn2pg_import"
GN2PG_CLI = str(Path(sys.executable).parent / "gn2pg_cli")
FLOOR_SOURCE = "bench floor"

PG = {"host": "127.0.0.1", "port": PG_PORT, "user": "bench", "password": "bench"}

# Loopback only: never go through a proxy, whatever the environment says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BenchError(Exception):
    pass



# ----------------------------------------------------------------------------------------------
# GeoNature stand-in control
# ----------------------------------------------------------------------------------------------
def control(method: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{GN_PORT}/_control/{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with _OPENER.open(req, timeout=60) as resp:
        return json.loads(resp.read().decode())


def live_rows() -> int:
    return int(control("GET", "state")["rows"])


def mutation_for(rows: int) -> dict:
    def n(pm: int) -> int:
        return max(1, round(rows * pm / 1000)) if pm > 0 else 0

    return {"update": n(MUTATE_UPDATE_PM), "insert": n(MUTATE_INSERT_PM), "delete": n(MUTATE_DELETE_PM)}


# ----------------------------------------------------------------------------------------------
# PostgreSQL
# ----------------------------------------------------------------------------------------------


def connect(dbname: str):
    return pg_connect(PG, "gn_flux_bench_synthese", dbname=dbname)


def execute(conn, sql: str, args=None) -> int:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.rowcount


def one_dict(conn, sql: str, args=None) -> dict:
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(sql, args)
        row = cur.fetchone()
    return {k: (str(v) if isinstance(v, (dt.timedelta, dt.datetime)) else v) for k, v in (row or {}).items()}


def all_rows(conn, sql: str, args=None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return [tuple(r) for r in cur.fetchall()]


class Psql:
    """psql as postgres over the Unix socket (the fixture, extensions, GN2PG's trigger script)."""

    def __init__(self, log_path: Path):
        self.log_path = log_path

    def run(self, db: str, *args: str, stdin: str | None = None, what: str = "psql") -> None:
        cmd = [
            "runuser", "-u", "postgres", "--", PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1",
            "-h", PG_SOCKET_DIR, "-p", str(PG_PORT), "-d", db, *args,
        ]
        with open(self.log_path, "ab") as out:
            out.write(f"\n$ {what} ({db})\n".encode())
            out.flush()
            rc = subprocess.run(
                cmd, input=None if stdin is None else stdin.encode(), stdout=out, stderr=subprocess.STDOUT, check=False
            ).returncode
        if rc != 0:
            raise BenchError(f"{what} on database {db} exited with {rc}; see {self.tail()}")

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no psql log)"
        return "the end of the psql output:\n    " + "\n    ".join(text[-lines:])


def fresh_database(admin, psql: Psql, name: str, gn_flux: bool) -> None:
    """A new database: PostGIS, the GeoNature 2.17 fixture, and gn_flux when asked."""
    execute(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    execute(admin, f"CREATE DATABASE {name} OWNER bench")
    psql.run(name, "-c", "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS postgis", what="CREATE EXTENSION postgis")
    psql.run(name, "-f", str(Path(FIXTURE_DIR) / "load.sql"), what="GeoNature fixture load.sql")
    if gn_flux:
        psql.run(name, "-c", "SET client_min_messages = warning; CREATE EXTENSION gn_flux CASCADE", what="CREATE EXTENSION gn_flux")


def synthese_rows(conn) -> int:
    return scalar(conn, "SELECT count(*) FROM gn_synthese.synthese")


def synthese_ids_present(conn, ids: list[int]) -> int:
    """How many of these remote id_synthese are in gn_synthese.synthese (entity_source_pk_value)."""
    if not ids:
        return 0
    return scalar(
        conn,
        "SELECT count(*) FROM gn_synthese.synthese WHERE entity_source_pk_value = ANY(%s::text[])",
        ([str(i) for i in ids],),
    )


# ----------------------------------------------------------------------------------------------
# gn_flux (with or without the load)
# ----------------------------------------------------------------------------------------------
class GnFlux:
    table = "gn_flux.data_json"

    def __init__(self, dbname: str, load: bool):
        self.dbname = dbname
        self.load = load
        self.conn = connect(dbname)
        execute(self.conn, "SET gn_flux.progress_notices = off")
        self.version = scalar(self.conn, "SELECT gn_flux.version()")
        self.enable_row: dict | None = None

    def close(self) -> None:
        self.conn.close()

    def setup(self) -> None:
        """Registers the source (export 1, login: update pulls read deletions from the synthese log)
        and, for the load, enables it without loading anything yet."""
        execute(
            self.conn,
            "SELECT gn_flux.add_source(%s, %s, 1, login => 'admin', password => 'admin')",
            (SOURCE, GN_URL),
        )
        if self.load:
            self.enable_row = one_dict(self.conn, "SELECT * FROM gn_flux.enable_synthese(%s, load => false)", (SOURCE,))

    def pull(self, mode: str | None) -> tuple[float, dict]:
        execute(self.conn, "CHECKPOINT")
        with self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            t0 = time.perf_counter()
            if mode is None:
                cur.execute("SELECT * FROM gn_flux.pull_source(%s)", (SOURCE,))
            else:
                cur.execute("SELECT * FROM gn_flux.pull_source(%s, %s)", (SOURCE, mode))
            row = dict(cur.fetchone())
            elapsed = time.perf_counter() - t0
        row = {k: (str(v) if isinstance(v, dt.timedelta) else v) for k, v in row.items()}
        if row.get("status") != "success":
            raise BenchError(f"gn_flux pull_source({SOURCE!r}, {mode or 'auto'!r}) on {self.dbname} did not succeed: {row}")
        return elapsed, row

    def data_rows(self) -> int:
        return scalar(self.conn, f"SELECT count(*) FROM {self.table} WHERE source = %s AND controler = 'data'", (SOURCE,))

    def last_import(self) -> dict:
        return one_dict(
            self.conn,
            """SELECT id, xfer_type, xfer_status, api_count_items, data_count_upserts, data_count_delete,
                      data_count_errors, synthese_upserts, synthese_deletes, synthese_rejects
                 FROM gn_flux.import_log WHERE source = %s ORDER BY id DESC LIMIT 1""",
            (SOURCE,),
        )

    def rejected_rows(self) -> int:
        return scalar(
            self.conn,
            """SELECT count(DISTINCT id_data) FROM gn_flux.synthese_reject
                WHERE source = %s AND kind = 'observation' AND action = 'rejected'""",
            (SOURCE,),
        )

    def reject_reasons(self) -> dict:
        rows = all_rows(
            self.conn,
            """SELECT field || ' (' || action || ')', count(DISTINCT id_data) FROM gn_flux.synthese_reject
                WHERE source = %s AND kind = 'observation' GROUP BY 1 ORDER BY 1""",
            (SOURCE,),
        )
        return {k: v for k, v in rows}


# ----------------------------------------------------------------------------------------------
# The floor: one plain set-based INSERT … SELECT from gn_flux.data_json
# ----------------------------------------------------------------------------------------------
# (export key, ref_nomenclatures type, gn_synthese.synthese column): sql/synthese/observations.sql.
NOMENCLATURES = [
    ("nature_objet_geo", "NAT_OBJ_GEO", "id_nomenclature_geo_object_nature"),
    ("type_regroupement", "TYP_GRP", "id_nomenclature_grp_typ"),
    ("technique_obs", "METH_OBS", "id_nomenclature_obs_technique"),
    ("statut_biologique", "STATUT_BIO", "id_nomenclature_bio_status"),
    ("etat_biologique", "ETA_BIO", "id_nomenclature_bio_condition"),
    ("naturalite", "NATURALITE", "id_nomenclature_naturalness"),
    ("preuve_existante", "PREUVE_EXIST", "id_nomenclature_exist_proof"),
    ("statut_validation", "STATUT_VALID", "id_nomenclature_valid_status"),
    ("precision_diffusion", "NIV_PRECIS", "id_nomenclature_diffusion_level"),
    ("stade_vie", "STADE_VIE", "id_nomenclature_life_stage"),
    ("sexe", "SEXE", "id_nomenclature_sex"),
    ("objet_denombrement", "OBJ_DENBR", "id_nomenclature_obj_count"),
    ("type_denombrement", "TYP_DENBR", "id_nomenclature_type_count"),
    ("niveau_sensibilite", "SENSIBILITE", "id_nomenclature_sensitivity"),
    ("statut_observation", "STATUT_OBS", "id_nomenclature_observation_status"),
    ("floutage_dee", "DEE_FLOU", "id_nomenclature_blurring"),
    ("statut_source", "STATUT_SOURCE", "id_nomenclature_source_status"),
    ("type_info_geo", "TYP_INF_GEO", "id_nomenclature_info_geo_type"),
    ("comportement", "OCC_COMPORTEMENT", "id_nomenclature_behaviour"),
    ("statut_biogeo", "STAT_BIOGEO", "id_nomenclature_biogeo_status"),
    ("methode_determination", "METH_DETERMIN", "id_nomenclature_determination_method"),
]

# Plain (text) keys of the export row read by the floor, besides the nomenclatures.
FLOOR_TEXT_KEYS = [
    "id_perm_grp_sinp", "jdd_uuid", "cd_nom", "nom_cite", "version_taxref", "date_debut", "date_fin",
    "nombre_min", "nombre_max", "altitude_min", "altitude_max", "profondeur_min", "profondeur_max",
    "observateurs", "determinateur", "validateur", "numero_preuve", "preuve_numerique",
    "preuve_non_numerique", "comment_releve", "comment_occurrence", "reference_biblio", "code_habitat",
    "nom_lieu", "precision", "methode_regroupement",
]

# (synthese column, expression over x (the export row as a record), ds, hb and the n_<type> joins)
FLOOR_COLUMNS = [
    ("unique_id_sinp", "x.uuid"),
    ("unique_id_sinp_grp", "x.id_perm_grp_sinp::uuid"),
    ("id_source", "%(id_source)s"),
    ("entity_source_pk_value", "x.id_data::text"),
    ("id_dataset", "ds.id_dataset"),
    *[(col, f"n_{typ.lower()}.id_nomenclature") for _, typ, col in NOMENCLATURES],
    ("grp_method", "left(x.methode_regroupement, 255)"),
    ("reference_biblio", "x.reference_biblio"),
    ("count_min", "x.nombre_min::integer"),
    ("count_max", "x.nombre_max::integer"),
    ("cd_nom", "x.cd_nom::integer"),
    ("cd_hab", "hb.cd_hab"),
    ("nom_cite", "x.nom_cite"),
    ("meta_v_taxref", "x.version_taxref"),
    ("sample_number_proof", "x.numero_preuve"),
    ("digital_proof", "x.preuve_numerique"),
    ("non_digital_proof", "x.preuve_non_numerique"),
    ("altitude_min", "x.altitude_min::integer"),
    ("altitude_max", "x.altitude_max::integer"),
    ("depth_min", "x.profondeur_min::integer"),
    ("depth_max", "x.profondeur_max::integer"),
    ("place_name", "x.nom_lieu"),
    ("the_geom_4326", "x.geom"),
    ("the_geom_point", "ST_Centroid(x.geom)"),
    ("the_geom_local", "ST_Transform(x.geom, 2154)"),
    ('"precision"', 'x."precision"::integer'),
    ("date_min", "x.date_debut::timestamp"),
    ("date_max", "x.date_fin::timestamp"),
    ("validator", "x.validateur"),
    ("observers", "x.observateurs"),
    ("determiner", "x.determinateur"),
    ("comment_context", "x.comment_releve"),
    ("comment_description", "x.comment_occurrence"),
    ("additional_data",
     "CASE WHEN jsonb_typeof(x.donnees_additionnelles) = 'object' THEN x.donnees_additionnelles END"),
    ("last_action", "'I'"),
]


def _ident(key: str) -> str:
    return f'"{key}"' if key == "precision" else key


def floor_insert_sql() -> str:
    record_cols = ", ".join(
        [f"{_ident(k)} text" for k in FLOOR_TEXT_KEYS]
        + ["donnees_additionnelles jsonb"]
        + [f"{k} text" for k, _, _ in NOMENCLATURES]
    )
    joins = "\n".join(
        f"  LEFT JOIN nom n_{typ.lower()} ON n_{typ.lower()}.mnemonique = '{typ}'"
        f" AND n_{typ.lower()}.cd_nomenclature = x.{key}"
        for key, typ, _ in NOMENCLATURES
    )
    cols = ",\n    ".join(c for c, _ in FLOOR_COLUMNS)
    exprs = ",\n       ".join(e for _, e in FLOOR_COLUMNS)
    return f"""WITH nom AS MATERIALIZED (
    SELECT t.mnemonique, n.cd_nomenclature, n.id_nomenclature
      FROM ref_nomenclatures.t_nomenclatures n
      JOIN ref_nomenclatures.bib_nomenclatures_types t ON t.id_type = n.id_type
),
x AS (
    SELECT d.id_data, d.uuid, d.geom, r.*
      FROM gn_flux.data_json d
     CROSS JOIN LATERAL jsonb_to_record(d.item) AS r({record_cols})
     WHERE d.source = %(source)s AND d.controler = 'data'
)
INSERT INTO gn_synthese.synthese (
    {cols})
SELECT {exprs}
  FROM x
  JOIN gn_meta.t_datasets ds ON ds.unique_dataset_id = x.jdd_uuid::uuid
{joins}
  LEFT JOIN ref_habitats.habref hb ON hb.cd_hab = x.code_habitat::integer
 WHERE x.geom IS NOT NULL
   AND x.nom_cite IS NOT NULL
   AND x.date_debut IS NOT NULL AND x.date_fin IS NOT NULL
   AND EXISTS (SELECT 1 FROM taxonomie.taxref t WHERE t.cd_nom = x.cd_nom::integer)
   AND (x.date_fin::timestamp < x.date_debut::timestamp) IS NOT TRUE
   AND (x.nombre_max::integer < x.nombre_min::integer) IS NOT TRUE
   AND (x.altitude_max::integer < x.altitude_min::integer) IS NOT TRUE
   AND (x.profondeur_max::integer < x.profondeur_min::integer) IS NOT TRUE
   AND (n_typ_inf_geo.cd_nomenclature = '2') IS NOT TRUE"""


# The basic frameworks and datasets the observations name (ca_uuid/ca_nom, jdd_uuid/jdd_nom), made
# once before the timed INSERT (not timed), as any loader of this export shape must.
FLOOR_SOURCE_SQL = """INSERT INTO gn_synthese.t_sources (name_source, desc_source, entity_source_pk_field)
VALUES (%(name)s, 'bench/synthese_vs_gn2pg.py: the floor INSERT … SELECT', 'id_synthese')
RETURNING id_source"""

FLOOR_AF_SQL = """INSERT INTO gn_meta.t_acquisition_frameworks (unique_acquisition_framework_id,
       acquisition_framework_name, acquisition_framework_desc, acquisition_framework_start_date)
SELECT DISTINCT ON (f.ca_uuid) f.ca_uuid, left(coalesce(f.ca_nom, 'bench'), 255), '', current_date
  FROM (SELECT DISTINCT (d.item ->> 'ca_uuid')::uuid AS ca_uuid, d.item ->> 'ca_nom' AS ca_nom
          FROM gn_flux.data_json d WHERE d.source = %(source)s AND d.controler = 'data') f
 WHERE f.ca_uuid IS NOT NULL
 ORDER BY f.ca_uuid, f.ca_nom
ON CONFLICT (unique_acquisition_framework_id) DO NOTHING"""

FLOOR_DATASETS_SQL = """INSERT INTO gn_meta.t_datasets (unique_dataset_id, id_acquisition_framework, dataset_name,
       dataset_shortname, dataset_desc, marine_domain, terrestrial_domain)
SELECT DISTINCT ON (f.jdd_uuid) f.jdd_uuid, af.id_acquisition_framework, left(coalesce(f.jdd_nom, 'bench'), 255),
       left(coalesce(f.jdd_nom, 'bench'), 30), '', false, false
  FROM (SELECT DISTINCT (d.item ->> 'ca_uuid')::uuid AS ca_uuid, (d.item ->> 'jdd_uuid')::uuid AS jdd_uuid,
               d.item ->> 'jdd_nom' AS jdd_nom
          FROM gn_flux.data_json d WHERE d.source = %(source)s AND d.controler = 'data') f
  JOIN gn_meta.t_acquisition_frameworks af ON af.unique_acquisition_framework_id = f.ca_uuid
 WHERE f.jdd_uuid IS NOT NULL
 ORDER BY f.jdd_uuid, f.jdd_nom
ON CONFLICT (unique_dataset_id) DO NOTHING"""


def floor_insert(flux: GnFlux) -> tuple[float, int, dict]:
    """The datasets (not timed), then the timed INSERT … SELECT; returns (s, rows inserted, set-up)."""
    conn = flux.conn
    id_source = scalar(conn, FLOOR_SOURCE_SQL, {"name": FLOOR_SOURCE})
    afs = execute(conn, FLOOR_AF_SQL, {"source": SOURCE})
    datasets = execute(conn, FLOOR_DATASETS_SQL, {"source": SOURCE})
    sql = floor_insert_sql()
    # No CHECKPOINT here: the INSERT follows the pull as gn_flux's load follows each page.
    with conn.cursor() as cur:
        t0 = time.perf_counter()
        cur.execute(sql, {"source": SOURCE, "id_source": id_source})
        inserted = cur.rowcount
        elapsed = time.perf_counter() - t0
    return elapsed, inserted, {"id_source": id_source, "frameworks": afs, "datasets": datasets}


# ----------------------------------------------------------------------------------------------
# GN2PG with its to_gnsynthese triggers
# ----------------------------------------------------------------------------------------------
class Gn2pg:
    table = f"{GN2PG_SCHEMA}.data_json"

    def __init__(self, home: Path, psql: Psql):
        self.home = home
        self.psql = psql
        self.conn = None
        conf_dir = home / ".gn2pg"
        conf_dir.mkdir(parents=True, exist_ok=True)
        (conf_dir / "bench.toml").write_text(
            f"""[db]
db_host = "{PG['host']}"
db_port = {PG['port']}
db_user = "{PG['user']}"
db_password = "{PG['password']}"
db_name = "{DB_GN2PG}"
db_schema_import = "{GN2PG_SCHEMA}"

[[source]]
name = "{SOURCE}"
user_name = "admin"
user_password = "admin"
url = "{GN_URL}"
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

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

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

    def setup(self) -> int:
        """GN2PG's tables (gn2pg_cli db --upgrade), then its triggers, renamed to its schema by
        tests/fixtures/gn2pg/adapt_to_gnsynthese.sh, in one transaction. Returns the trigger count."""
        self.cli("db", "--upgrade")
        adapted = subprocess.run(
            ["bash", GN2PG_ADAPT, GN2PG_SCRIPT, GN2PG_SCHEMA], capture_output=True, text=True, check=False
        )
        if adapted.returncode != 0:
            raise BenchError(f"adapt_to_gnsynthese.sh failed: {adapted.stderr.strip()}")
        # (-1 applies to -f only: "-f -" reads the script from stdin)
        self.psql.run(DB_GN2PG, "-1", "-f", "-", stdin=adapted.stdout, what="GN2PG to_gnsynthese.sql")
        self.conn = connect(DB_GN2PG)
        triggers = scalar(
            self.conn,
            """SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = %s AND NOT t.tgisinternal""",
            (GN2PG_SCHEMA,),
        )
        if triggers < 3:
            raise BenchError(f"GN2PG's to_gnsynthese triggers are not in {GN2PG_SCHEMA} ({triggers} triggers found)")
        return triggers

    def last_import(self) -> dict:
        return one_dict(
            self.conn,
            f"""SELECT id, xfer_type, xfer_status, api_count_items, data_count_upserts, data_count_delete,
                       data_count_errors
                  FROM {GN2PG_SCHEMA}.import_log WHERE source = %s ORDER BY id DESC LIMIT 1""",
            (SOURCE,),
        )

    def pull(self, mode: str) -> tuple[float, dict]:
        execute(self.conn, "CHECKPOINT")
        elapsed = self.cli("download", f"--{mode}")
        imp = self.last_import()
        # gn2pg_cli exits 0 even when a source fails: its import_log says what happened. Rows a
        # trigger refused are data_count_errors (and error_log rows), not a failed transfer.
        if imp.get("xfer_status") != "success" or imp.get("xfer_type") != mode:
            raise BenchError(f"gn2pg {mode} did not succeed: import_log {imp}; {self.tail()}")
        return elapsed, imp

    def data_rows(self) -> int:
        return scalar(self.conn, f"SELECT count(*) FROM {self.table} WHERE source = %s AND controler = 'data'", (SOURCE,))

    def error_rows(self) -> int:
        return scalar(self.conn, f"SELECT count(*) FROM {GN2PG_SCHEMA}.error_log WHERE source = %s", (SOURCE,))


# ----------------------------------------------------------------------------------------------
# One repetition
# ----------------------------------------------------------------------------------------------
def rotate(items: list[str], r: int) -> list[str]:
    k = (r - 1) % len(items)
    return items[k:] + items[:k]


def check_rows(label: str, got: int, want: int) -> None:
    if got != want:
        raise BenchError(f"{label}: {got} rows stored, the stand-in serves {want}")


def run_rep(r: int, admin, psql: Psql, gn2pg: Gn2pg | None, warnings: list[str]) -> dict:
    rep: dict = {"rep": r}
    control("POST", "reset")
    served = live_rows()
    if served != ROWS:
        raise BenchError(f"the stand-in on port {GN_PORT} serves {served} rows, BENCH_ROWS is {ROWS}")
    rep["served"] = served

    def warn(msg: str) -> None:
        warnings.append(f"rep {r}: {msg}")
        log(f"WARNING rep {r}: {msg}")

    # ---- set-up, not timed: fresh databases ---------------------------------------------------
    log(f"rep {r}/{REPS}: fresh databases with the GeoNature fixture")
    t0 = time.perf_counter()
    fresh_database(admin, psql, DB_FLUX, gn_flux=True)
    fresh_database(admin, psql, DB_FLOOR, gn_flux=True)
    if gn2pg is not None:
        fresh_database(admin, psql, DB_GN2PG, gn_flux=False)
    flux = GnFlux(DB_FLUX, load=True)
    floor = GnFlux(DB_FLOOR, load=False)
    try:
        flux.setup()
        floor.setup()
        rep["enable_synthese"] = flux.enable_row
        if gn2pg is not None:
            rep["gn2pg_triggers"] = gn2pg.setup()
        rep["setup_s"] = time.perf_counter() - t0
        rep["versions"] = {"gn_flux": flux.version}

        # ---- full pulls -----------------------------------------------------------------------
        tools = ["gn_flux", "floor"] + ([] if gn2pg is None else ["gn2pg"])
        order = rotate(tools, r)
        rep["order"] = order
        log(f"rep {r}: full pulls, order {' then '.join(order)}")
        for tool in order:
            if tool == "gn_flux":
                t, row = flux.pull("full")
                rep["flux_full_s"], rep["flux_full_row"] = t, row
                check_rows(f"rep {r}: gn_flux (load) full", flux.data_rows(), served)
                rows = synthese_rows(flux.conn)
                rep["flux_full_synthese"] = rows
                rep["flux_full_import"] = flux.last_import()
                rep["flux_full_rejected"] = flux.rejected_rows()
                rep["flux_full_reasons"] = flux.reject_reasons()
                if rows == 0:
                    raise BenchError(f"rep {r}: gn_flux's load wrote no row into gn_synthese.synthese: {rep['flux_full_import']}")
                if rep["flux_full_import"].get("synthese_upserts") != rows:
                    warn(f"gn_flux import_log.synthese_upserts {rep['flux_full_import'].get('synthese_upserts')} "
                         f"<> {rows} rows in gn_synthese.synthese")
                if rows + rep["flux_full_rejected"] != served:
                    warn(f"gn_flux: {rows} loaded + {rep['flux_full_rejected']} rejected <> {served} served")
                log(f"rep {r}: gn_flux with the load {t:.2f} s, {rows} rows in the Synthese, "
                    f"{rep['flux_full_rejected']} rejected")
            elif tool == "floor":
                t, row = floor.pull("full")
                rep["floor_pull_s"], rep["floor_pull_row"] = t, row
                check_rows(f"rep {r}: gn_flux (no load) full", floor.data_rows(), served)
                if synthese_rows(floor.conn) != 0:
                    raise BenchError(f"rep {r}: the pull without the load wrote into gn_synthese.synthese")
                ti, inserted, setup = floor_insert(floor)
                rep["floor_insert_s"], rep["floor_rows"], rep["floor_setup"] = ti, inserted, setup
                rep["floor_total_s"] = t + ti
                if inserted <= 0 or synthese_rows(floor.conn) != inserted:
                    raise BenchError(f"rep {r}: the floor INSERT wrote {inserted} rows")
                log(f"rep {r}: floor: pull {t:.2f} s + INSERT … SELECT {ti:.2f} s ({inserted} rows)")
            else:
                t, imp = gn2pg.pull("full")
                rep["gn2pg_full_s"], rep["gn2pg_full_import"] = t, imp
                rep["gn2pg_full_data_rows"] = gn2pg.data_rows()
                rep["gn2pg_full_errors"] = gn2pg.error_rows()
                rows = synthese_rows(gn2pg.conn)
                rep["gn2pg_full_synthese"] = rows
                if rows == 0:
                    raise BenchError(f"rep {r}: GN2PG's triggers wrote no row into gn_synthese.synthese: {imp}")
                if rep["gn2pg_full_data_rows"] + (imp.get("data_count_errors") or 0) != served:
                    warn(f"gn2pg: {rep['gn2pg_full_data_rows']} staged + {imp.get('data_count_errors')} errors "
                         f"<> {served} served")
                log(f"rep {r}: gn2pg with to_gnsynthese {t:.2f} s, {rows} rows in the Synthese, "
                    f"{imp.get('data_count_errors')} rows refused")

        # ---- the change, then update pulls ------------------------------------------------------
        mut_req = mutation_for(served)
        mut = control("POST", "mutate", mut_req)
        live = live_rows()
        rep["mutation"] = {**mut_req, "at": mut["at"], "live_rows": live}
        log(f"rep {r}: mutated {mut_req} at {mut['at']}; {live} live rows")
        # gn2pg's update window ends at its own now() truncated to the second: let the clock pass
        # the mutation instant so the changed rows are inside it.
        time.sleep(1.1)

        utools = ["gn_flux", "no_load"] + ([] if gn2pg is None else ["gn2pg"])
        uorder = rotate(utools, r)
        rep["update_order"] = uorder
        for tool in uorder:
            if tool == "gn_flux":
                before = synthese_rows(flux.conn)
                t, row = flux.pull(None)
                if row.get("mode") != "update":
                    raise BenchError(f"rep {r}: gn_flux auto pull ran in mode {row.get('mode')!r}, not update")
                rep["flux_update_s"], rep["flux_update_row"] = t, row
                check_rows(f"rep {r}: gn_flux (load) after update", flux.data_rows(), live)
                rep["flux_update_import"] = flux.last_import()
                rows = synthese_rows(flux.conn)
                rep["flux_update_synthese"] = {"before": before, "after": rows}
                gone = synthese_ids_present(flux.conn, mut["deleted"])
                rep["flux_update_check"] = {
                    "deleted_still_in_synthese": gone,
                    "inserted_in_synthese": synthese_ids_present(flux.conn, mut["inserted"]),
                    "inserted": len(mut["inserted"]),
                }
                if gone:
                    warn(f"gn_flux: {gone} deleted observations still in gn_synthese.synthese")
                log(f"rep {r}: gn_flux update with the load {t:.2f} s; Synthese {before} -> {rows}")
            elif tool == "no_load":
                t, row = floor.pull(None)
                if row.get("mode") != "update":
                    raise BenchError(f"rep {r}: gn_flux auto pull ran in mode {row.get('mode')!r}, not update")
                rep["noload_update_s"], rep["noload_update_row"] = t, row
                check_rows(f"rep {r}: gn_flux (no load) after update", floor.data_rows(), live)
                log(f"rep {r}: gn_flux update without the load {t:.2f} s")
            else:
                before = synthese_rows(gn2pg.conn)
                t, imp = gn2pg.pull("update")
                rep["gn2pg_update_s"], rep["gn2pg_update_import"] = t, imp
                rows = synthese_rows(gn2pg.conn)
                rep["gn2pg_update_synthese"] = {"before": before, "after": rows}
                gone = synthese_ids_present(gn2pg.conn, mut["deleted"])
                rep["gn2pg_update_check"] = {
                    "deleted_still_in_synthese": gone,
                    "inserted_in_synthese": synthese_ids_present(gn2pg.conn, mut["inserted"]),
                    "inserted": len(mut["inserted"]),
                }
                if gone:
                    warn(f"gn2pg: {gone} deleted observations still in gn_synthese.synthese")
                log(f"rep {r}: gn2pg update with to_gnsynthese {t:.2f} s; Synthese {before} -> {rows}")
    finally:
        flux.close()
        floor.close()
        if gn2pg is not None:
            gn2pg.close()
    return rep


# ----------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------



def fmt_n(v) -> str:
    return "n/a" if v is None else f"{v:,}"



def ratio(a, b) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}×"


TIME_KEYS = (
    "flux_full_s", "floor_pull_s", "floor_insert_s", "floor_total_s", "gn2pg_full_s",
    "flux_update_s", "noload_update_s", "gn2pg_update_s",
)


def summarise(reps: list[dict]) -> dict:
    vals = {k: [r[k] for r in reps if k in r] for k in TIME_KEYS}
    return {"values": vals, "median": {k: median(v) for k, v in vals.items()}}


def render(res: dict) -> str:
    reps = res["runs"]
    m = res["machine"]
    v = res["versions"]
    vals = res["summary"]["values"]
    med = res["summary"]["median"]
    first = reps[0] if reps else {}
    mut = first.get("mutation", {})
    rows = res["rows"]

    def all_vals(key):
        return ", ".join(fmt_s(x) for x in vals[key]) if vals[key] else "skipped"

    def rps(key, n):
        return "n/a" if not med[key] or n is None else f"{n / med[key]:,.0f}"

    flux_rows = first.get("flux_full_synthese")
    floor_rows = first.get("floor_rows")
    gn2pg_rows = first.get("gn2pg_full_synthese")
    target = None
    if med["flux_full_s"] and med["floor_total_s"]:
        target = med["flux_full_s"] / med["floor_total_s"]

    L = []
    L.append(f"# GeoNature load benchmark: gn_flux vs GN2PG vs a plain INSERT … SELECT ({res['date']})")
    L.append("")
    if res["gn2pg_skipped"]:
        L.append("> **GN2PG skipped** (`BENCH_SKIP_GN2PG=1`): gn_flux and the floor only.")
        L.append("")
    L.append(f"- Command: `{res['command']}`")
    L.append(
        f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem_gib']} GiB RAM, Linux {m['kernel']}; "
        "everything (PostgreSQL, stand-in, clients) on the same host"
    )
    L.append(
        f"- Versions: gn2pg-client {v['gn2pg']} (Python {v['python']}), {v['postgres']}, "
        f"PostGIS {v['postgis']}, {v['gn_flux']}, repository commit {v['repo']}"
    )
    L.append(
        f"- Data: {rows:,} rows served by the GeoNature stand-in (export 1, `synthese_with_cd_nomenclature`, "
        f"seed 42, pages of 1000: 0.5 % each with an unknown cd_nom, an unknown SEXE code, no geometry); "
        f"{res['reps']} repetition{'s' if res['reps'] != 1 else ''}, each on fresh databases holding the "
        "GeoNature 2.17 fixture (`tests/fixtures/geonature/`), the order of the tools rotating"
    )
    L.append(
        "- **gn_flux**: `add_source(…, 1, login => 'admin', …)`, `enable_synthese('bench', load => false)`, then "
        "`SELECT * FROM gn_flux.pull_source('bench', 'full')` timed: the pull and the load into "
        "`gn_synthese.synthese` (and gn_meta) in one statement."
    )
    L.append(
        "- **Floor**: the same pull in a database where the load is not enabled, timed, then (after making the "
        "basic frameworks and datasets, not timed) one `INSERT INTO gn_synthese.synthese (…) SELECT … FROM "
        "gn_flux.data_json` with GeoNature's triggers and CHECKs on, timed; floor = pull + INSERT. The INSERT "
        "resolves nomenclatures by hash joins on (type, code), datasets by uuid, and leaves out the rows that "
        "would break a constraint (unknown cd_nom, no geometry, no dataset, inverted ranges); an unknown "
        "nomenclature code becomes NULL."
    )
    if not res["gn2pg_skipped"]:
        L.append(
            f"- **GN2PG**: `gn2pg_cli db --upgrade`, then its `to_gnsynthese.sql` (schema `{GN2PG_SCHEMA}`) installed "
            "(not timed); `gn2pg_cli download --full` timed (whole process; `nb_threads = "
            f"{res['gn2pg_threads']}`). A row its trigger refuses (unknown cd_nom) fails its own transaction and "
            "goes to `error_log`; GN2PG goes on."
        )
    if mut:
        L.append(
            f"- Update: the stand-in then changes {mut['update']} rows, inserts {mut['insert']} and deletes "
            f"{mut['delete']} (~{(mut['update'] + mut['insert'] + mut['delete']) * 100 / rows:.2f} %); "
            "`pull_source('bench')` (an update) is timed with the load (gn_flux database) and without it (floor "
            "database)" + ("" if res["gn2pg_skipped"] else ", and `gn2pg_cli download --update`") + "."
        )
    L.append("- Times are wall clock seen by the caller; a `CHECKPOINT` precedes every timed pull (not the floor's "
             "INSERT, which follows its pull as the load follows each page).")
    L.append("")
    L.append("## Summary (medians)")
    L.append("")
    L.append("| full load | time (s) | rows in gn_synthese.synthese | rows/s (served) |")
    L.append("|---|---:|---:|---:|")
    L.append(f"| gn_flux: pull with the load | {fmt_s(med['flux_full_s'])} | {fmt_n(flux_rows)} | {rps('flux_full_s', rows)} |")
    L.append(f"| floor: gn_flux pull alone | {fmt_s(med['floor_pull_s'])} | – | {rps('floor_pull_s', rows)} |")
    L.append(f"| floor: INSERT … SELECT | {fmt_s(med['floor_insert_s'])} | {fmt_n(floor_rows)} | {rps('floor_insert_s', floor_rows)} (inserted) |")
    L.append(f"| **floor: pull + INSERT** | {fmt_s(med['floor_total_s'])} | {fmt_n(floor_rows)} | {rps('floor_total_s', rows)} |")
    L.append(f"| GN2PG: download --full with to_gnsynthese | {fmt_s(med['gn2pg_full_s'])} | {fmt_n(gn2pg_rows)} | {rps('gn2pg_full_s', rows)} |")
    L.append("")
    L.append("| ratio (medians) | value |")
    L.append("|---|---:|")
    verdict = "n/a" if target is None else ("met" if target <= TARGET_RATIO else "**not met**")
    L.append(f"| gn_flux with the load / floor (target ≤ {TARGET_RATIO}×: {verdict}) | {ratio(med['flux_full_s'], med['floor_total_s'])} |")
    if med["flux_full_s"] is not None and med["floor_pull_s"] is not None:
        load_cost = med["flux_full_s"] - med["floor_pull_s"]
        L.append(f"| the load's own cost (gn_flux with load − pull alone) / floor INSERT | "
                 f"{ratio(load_cost, med['floor_insert_s'])} ({fmt_s(load_cost)} s vs {fmt_s(med['floor_insert_s'])} s) |")
    L.append(f"| GN2PG / gn_flux with the load | {ratio(med['gn2pg_full_s'], med['flux_full_s'])} |")
    L.append("")
    L.append("| update after ~0.5 % of changes | time (s) |")
    L.append("|---|---:|")
    L.append(f"| gn_flux update with the load | {fmt_s(med['flux_update_s'])} |")
    L.append(f"| gn_flux update without the load | {fmt_s(med['noload_update_s'])} |")
    L.append(f"| GN2PG download --update with to_gnsynthese | {fmt_s(med['gn2pg_update_s'])} |")
    L.append(f"| ratio update with load / without | {ratio(med['flux_update_s'], med['noload_update_s'])} |")
    L.append(f"| ratio GN2PG / gn_flux with load (update) | {ratio(med['gn2pg_update_s'], med['flux_update_s'])} |")
    L.append("")
    L.append("All values (s, in repetition order):")
    L.append("")
    for key, label in (
        ("flux_full_s", "gn_flux full with the load"),
        ("floor_pull_s", "floor: pull alone"),
        ("floor_insert_s", "floor: INSERT … SELECT"),
        ("floor_total_s", "floor: total"),
        ("gn2pg_full_s", "GN2PG full with to_gnsynthese"),
        ("flux_update_s", "gn_flux update with the load"),
        ("noload_update_s", "gn_flux update without the load"),
        ("gn2pg_update_s", "GN2PG update with to_gnsynthese"),
    ):
        L.append(f"- {label}: {all_vals(key)}")
    L.append("")
    L.append("## Runs")
    L.append("")
    L.append("| rep | order (full) | gn_flux+load s | floor pull s | floor INSERT s | GN2PG s | Synthese rows gn_flux / floor / GN2PG | gn_flux rejected | GN2PG refused | update+load s | update s | GN2PG update s |")
    L.append("|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for r in reps:
        L.append(
            f"| {r['rep']} | {' → '.join(r.get('order', []))} | {fmt_s(r.get('flux_full_s'))} | "
            f"{fmt_s(r.get('floor_pull_s'))} | {fmt_s(r.get('floor_insert_s'))} | {fmt_s(r.get('gn2pg_full_s'))} | "
            f"{fmt_n(r.get('flux_full_synthese'))} / {fmt_n(r.get('floor_rows'))} / {fmt_n(r.get('gn2pg_full_synthese'))} | "
            f"{fmt_n(r.get('flux_full_rejected'))} | {fmt_n((r.get('gn2pg_full_import') or {}).get('data_count_errors'))} | "
            f"{fmt_s(r.get('flux_update_s'))} | {fmt_s(r.get('noload_update_s'))} | {fmt_s(r.get('gn2pg_update_s'))} |"
        )
    L.append("")
    L.append("Checked after every run: both gn_flux databases' `data_json` held exactly the rows the stand-in "
             "served (after the full pull) or still had live (after the update); the pull without the load left "
             "the Synthese empty; each tool wrote rows into `gn_synthese.synthese`.")
    L.append("")
    last = reps[-1] if reps else {}
    L.append("What each tool reported (last repetition):")
    L.append("")
    for key, label in (
        ("flux_full_import", "gn_flux full, import_log"),
        ("flux_update_import", "gn_flux update, import_log"),
        ("floor_pull_row", "floor pull, pull_source()"),
        ("noload_update_row", "update without the load, pull_source()"),
        ("gn2pg_full_import", "GN2PG full, import_log"),
        ("gn2pg_update_import", "GN2PG update, import_log"),
    ):
        if last.get(key):
            body = ", ".join(f"{k}={val}" for k, val in last[key].items() if val is not None and k != "message")
            L.append(f"- {label}: {body}")
    if last.get("flux_full_reasons"):
        body = ", ".join(f"{k}: {n}" for k, n in last["flux_full_reasons"].items())
        L.append(f"- gn_flux rows not loaded or defaulted, by field (`gn_flux.synthese_reject`): {body}")
    for key, label in (("flux_update_synthese", "gn_flux"), ("gn2pg_update_synthese", "GN2PG")):
        if last.get(key):
            c = last.get(key.replace("_synthese", "_check"), {})
            L.append(
                f"- {label} update: Synthese {fmt_n(last[key]['before'])} → {fmt_n(last[key]['after'])} rows; "
                f"inserted observations present {c.get('inserted_in_synthese')}/{c.get('inserted')}, deleted ones "
                f"still there {c.get('deleted_still_in_synthese')}"
            )
    if last.get("floor_setup"):
        s = last["floor_setup"]
        L.append(f"- floor set-up (not timed): {s['frameworks']} frameworks, {s['datasets']} datasets, t_sources {s['id_source']}")
    L.append("")
    if res["warnings"]:
        L.append("## Warnings")
        L.append("")
        for w in res["warnings"]:
            L.append(f"- {w}")
        L.append("")
    L.append("## The floor's INSERT … SELECT")
    L.append("")
    id_source = (first.get("floor_setup") or {}).get("id_source", "<id_source>")
    L.append(f"With `source` = 'bench' and `id_source` = {id_source} (the floor's `gn_synthese.t_sources` row).")
    L.append("")
    L.append("```sql")
    L.append(floor_insert_sql() % {"source": f"'{SOURCE}'", "id_source": id_source})
    L.append("```")
    L.append("")
    L.append(f"Total benchmark time: {res['total_s']:.0f} s.")
    return "\n".join(L) + "\n"


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    required = {"BENCH_FIXTURE_DIR": FIXTURE_DIR}
    if not SKIP_GN2PG:
        required.update(BENCH_GN2PG_SCRIPT=GN2PG_SCRIPT, BENCH_GN2PG_ADAPT=GN2PG_ADAPT)
    missing = [name for name, value in required.items() if not value]
    if missing:
        print(f"{', '.join(missing)} not set: run bench/synthese_vs_gn2pg.sh", file=sys.stderr)
        return 2
    out_md = Path(sys.argv[1])
    t_start = time.perf_counter()
    admin = connect("postgres")
    home = Path(tempfile.mkdtemp(prefix="gn_flux_bench_syn_home."))
    keep_home = False
    psql = Psql(home / "psql.log")
    try:
        gn2pg = None if SKIP_GN2PG else Gn2pg(home, psql)
        versions = {
            "gn2pg": gn2pg.version if gn2pg else importlib_metadata.version("gn2pg-client") + " (skipped)",
            "python": platform.python_version(),
            "postgres": scalar(admin, "SELECT split_part(version(), ' on ', 1)"),
            "postgis": None,
            "gn_flux": None,
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
            "gn2pg_skipped": SKIP_GN2PG,
            "mutation_permille": {"update": MUTATE_UPDATE_PM, "insert": MUTATE_INSERT_PM, "delete": MUTATE_DELETE_PM},
        }
        warnings: list[str] = []
        reps = []
        for r in range(1, REPS + 1):
            reps.append(run_rep(r, admin, psql, gn2pg, warnings))
            if versions["gn_flux"] is None:
                versions["gn_flux"] = reps[-1]["versions"]["gn_flux"]
                c = connect(DB_FLUX)
                try:
                    versions["postgis"] = scalar(c, "SELECT postgis_lib_version()")
                finally:
                    c.close()
        res["runs"] = reps
        res["warnings"] = warnings
        res["summary"] = summarise(reps)
        res["total_s"] = time.perf_counter() - t_start
        doc = render(res)
        out_md.parent.mkdir(parents=True, exist_ok=True)
        out_md.write_text(doc)
        out_md.with_suffix(".json").write_text(json.dumps(res, indent=2, default=str) + "\n")
        print(doc)
        log(f"report written to {out_md} (raw values in {out_md.with_suffix('.json').name})")
    except (BenchError, psycopg2.Error, urllib.error.URLError) as e:
        keep_home = True
        log(f"FAILED: {e}")
        log(f"logs (gn2pg, psql) kept for inspection in {home}")
        return 1
    finally:
        admin.close()
        if not keep_home:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
