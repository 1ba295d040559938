"""gn2pg-client (the PyPI package, unmodified) pulls an export served by gn_flux's API workers.

`download --full` of the 20,000-row export 'served flat' must end with exactly the view's rows
(same ids, same item values as GeoNature would serialise them); after inserts, updates and
deletions in the base table, `download --update` must end exact again, deletions included (they
come from gn_flux.track_deletions through /api/synthese/log).

Run by tests/e2e/run.sh with the venv's python:
    python tests/e2e/gn2pg_served.py FIXTURE.sql
Environment: GN_FLUX_E2E_SERVE_PG (host port user password dbname, space separated) and
GN_FLUX_E2E_SERVE_URL (http://127.0.0.1:PORT/geonature).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

SCHEMA = "gn2pg_served"
SOURCE = "served"
ROLE, PASSWORD = "gn_flux_e2e_reader", "reader-pw"
EXPECTED = """
SELECT id_synthese::bigint, jsonb_build_object(
    'id_synthese', id_synthese, 'id_perm_sinp', id_perm_sinp::text, 'nom_cite', nom_cite,
    'observateurs', observateurs, 'cd_nom', cd_nom, 'nombre_min', nombre_min,
    'altitude', CASE WHEN altitude IS NULL OR altitude = 0 THEN NULL ELSE altitude::text END,
    'date_debut', date_debut::text, 'derniere_action', pg_catalog.to_char(derniere_action, 'YYYY-MM-DD HH24:MI:SS')
                 || CASE WHEN pg_catalog.date_part('microseconds', derniere_action)::bigint % 1000000 <> 0
                         THEN pg_catalog.to_char(derniere_action, '.US') ELSE '' END,
    'extra', extra, 'wkt_4326', wkt_4326)::text
  FROM served.v_flat
"""


def fail(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def main() -> None:
    host, port, user, password, dbname = os.environ["GN_FLUX_E2E_SERVE_PG"].split()
    url = os.environ["GN_FLUX_E2E_SERVE_URL"]
    conn = psycopg2.connect(host=host, port=port, user=user, password=password, dbname=dbname)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(Path(sys.argv[1]).read_text())
    cur.execute("SELECT id FROM gn_flux.export WHERE label = 'served flat'")
    export_id = cur.fetchone()[0]
    cur.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")

    home = Path(tempfile.mkdtemp(prefix="gn2pg-served-"))
    (home / ".gn2pg").mkdir()
    (home / ".gn2pg" / "served.toml").write_text(
        f"""[db]
db_host = "{host}"
db_port = {port}
db_user = "{user}"
db_password = "{password}"
db_name = "{dbname}"
db_schema_import = "{SCHEMA}"

[[source]]
name = "{SOURCE}"
user_name = "{ROLE}"
user_password = "{PASSWORD}"
url = "{url}"
data_export_id = {export_id}

[tuning]
max_page_length = 1000
nb_threads = 1
"""
    )
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(HOME=str(home), TZ="UTC", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    cli = str(Path(sys.executable).parent / "gn2pg_cli")
    log = home / "gn2pg.log"

    def run(*args: str) -> None:
        with open(log, "ab") as out:
            rc = subprocess.run([cli, *args, "served.toml"], env=env, stdout=out, stderr=subprocess.STDOUT).returncode
        if rc != 0:
            fail(f"gn2pg_cli {' '.join(args)} exited with {rc}:\n{log.read_text()[-3000:]}")

    def last_import() -> tuple:
        cur.execute(
            f"SELECT xfer_type, xfer_status, data_count_upserts, data_count_delete FROM {SCHEMA}.import_log "
            "WHERE source = %s ORDER BY id DESC LIMIT 1",
            (SOURCE,),
        )
        return cur.fetchone()

    def compare(what: str) -> int:
        cur.execute(EXPECTED)
        want = {r[0]: json.loads(r[1]) for r in cur.fetchall()}
        cur.execute(f"SELECT id_data::bigint, item::text FROM {SCHEMA}.data_json WHERE source = %s", (SOURCE,))
        got = {r[0]: json.loads(r[1]) for r in cur.fetchall()}
        if set(got) != set(want):
            missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
            fail(f"{what}: {len(got)} rows, want {len(want)}; missing {missing[:10]}, extra {extra[:10]}")
        diff = [i for i in want if got[i] != want[i]]
        if diff:
            i = diff[0]
            fail(f"{what}: {len(diff)} items differ, e.g. {i}:\n got  {got[i]}\n want {want[i]}")
        print(f"ok - gn2pg-client {what}: exactly the view's {len(want)} rows")
        return len(want)

    run("db", "--upgrade")
    run("download", "--full")
    imp = last_import()
    if imp[:2] != ("full", "success"):
        fail(f"download --full: import_log {imp}:\n{log.read_text()[-3000:]}")
    compare("download --full")

    # gn2pg's update window starts at its last run's start (to the second): let the clock pass.
    time.sleep(1.5)
    cur.execute(
        """INSERT INTO served.obs (id_synthese, id_perm_sinp, nom_cite, derniere_action, team)
             SELECT i, md5('gn2pg' || i)::uuid, 'Nouveau ' || i, date_trunc('second', now())::timestamp + interval '0.25 seconds', 'a' FROM generate_series(20001, 20250) i;
           UPDATE served.obs SET nom_cite = nom_cite || ' (revu)', derniere_action = date_trunc('second', now())::timestamp + interval '0.25 seconds'
            WHERE id_synthese % 400 = 3;
           DELETE FROM served.obs WHERE id_synthese BETWEEN 5000 AND 5099 OR id_synthese % 997 = 0;"""
    )
    time.sleep(1.5)
    run("download", "--update")
    imp = last_import()
    if imp[:2] != ("update", "success"):
        fail(f"download --update: import_log {imp}:\n{log.read_text()[-3000:]}")
    if imp[3] < 100:
        fail(f"download --update deleted {imp[3]} rows: the deletion log was not used")
    compare("download --update (inserts, updates, deletions)")
    cur.execute(f"DROP SCHEMA {SCHEMA} CASCADE")


if __name__ == "__main__":
    main()
