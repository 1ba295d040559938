"""Helpers shared by the other-flows end-to-end scripts (feeds.py, intake.py, sinp_labels.py):
TAP-like checks, and a libpq connection from GN_FLUX_E2E_FEEDS_PG (host port user password dbname)."""

import os
import sys

import psycopg2

FAILS = []
CHECKS = [0]


def ok(cond, what):
    CHECKS[0] += 1
    print(("ok - " if cond else "not ok - ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def finish():
    print(f"{CHECKS[0]} checks, {len(FAILS)} failed")
    if FAILS:
        for f in FAILS:
            print("FAILED:", f)
        sys.exit(1)


host, port, user, password, dbname = os.environ["GN_FLUX_E2E_FEEDS_PG"].split()
def connect():
    c = psycopg2.connect(host=host, port=port, user=user, password=password, dbname=dbname)
    c.autocommit = True
    return c


conn = connect()


def q(sql, *args):
    with conn.cursor() as c:
        c.execute(sql, args if args else None)
        return c.fetchall() if c.description else None


def one(sql, *args):
    rows = q(sql, *args)
    return rows[0][0] if rows else None


def error_of(sql, *args):
    """(sqlstate, message, hint) of a failing statement, None when it succeeds."""
    try:
        q(sql, *args)
    except psycopg2.Error as e:
        return e.pgcode, e.diag.message_primary or "", e.diag.message_hint or ""
    return None


# the dataset the mapping tests load into (created by the scripts that need it)
DATASET = "8e3c4d2f-1a5b-4d66-8b2c-3d4e5f6a7b8c"


def ensure_dataset():
    q("""INSERT INTO gn_meta.t_acquisition_frameworks (unique_acquisition_framework_id, acquisition_framework_name,
                acquisition_framework_desc, acquisition_framework_start_date)
         SELECT '7d2b3c1e-0f4a-4c55-9a1b-2c3d4e5f6a7b', 'CA flux externes', 'Flux externes (gn_flux)', '2020-01-01'
          WHERE NOT EXISTS (SELECT 1 FROM gn_meta.t_acquisition_frameworks
                             WHERE unique_acquisition_framework_id = '7d2b3c1e-0f4a-4c55-9a1b-2c3d4e5f6a7b')""")
    q("""INSERT INTO gn_meta.t_datasets (unique_dataset_id, id_acquisition_framework, dataset_name, dataset_shortname,
                dataset_desc, marine_domain, terrestrial_domain)
         SELECT %s, id_acquisition_framework, 'JDD flux externes', 'JDD ext', '...', false, true
           FROM gn_meta.t_acquisition_frameworks WHERE unique_acquisition_framework_id = '7d2b3c1e-0f4a-4c55-9a1b-2c3d4e5f6a7b'
            AND NOT EXISTS (SELECT 1 FROM gn_meta.t_datasets WHERE unique_dataset_id = %s)""", DATASET, DATASET)
    return DATASET
