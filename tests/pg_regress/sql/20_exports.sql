-- Exports: files from SQL, the registry, filters, and every bad input as an error with a
-- SQLSTATE, a message and a HINT.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
CREATE SCHEMA regress_exp;
CREATE TABLE regress_exp.obs (
    id_synthese integer PRIMARY KEY,
    nom_cite varchar(50),
    altitude double precision,
    date_min date,
    derniere_action timestamp,
    geom geometry(Point, 2154)
);
INSERT INTO regress_exp.obs VALUES
    (1, 'Lynx; "boréal"', 1200.5, '2024-05-01', '2024-05-01 10:00', 'SRID=2154;POINT(700000 6600000)'),
    (2, NULL, 800, '2024-06-01', '2024-06-02 11:30:15.25', NULL),
    (3, E'Chamois\nligne 2', 2100, '2024-07-01', '2024-07-01 08:00', 'SRID=2154;POINT(710000 6610000)');
CREATE VIEW regress_exp.v_nogeom AS SELECT id_synthese, nom_cite FROM regress_exp.obs;
CREATE TABLE regress_exp.t (x integer);
CREATE TABLE regress_exp."x""; drop table t; --" ("c""; drop table t; --" integer);
INSERT INTO regress_exp."x""; drop table t; --" VALUES (1);

-- CSV as GeoNature writes it: ';', every field quoted, header, geometry as WKT, CRLF.
SELECT replace(convert_from(gn_flux.export_view('regress_exp', 'obs', 'csv'), 'UTF8'), E'\r', '<CR>') AS csv;
-- Filters use GeoNature's grammar, bound as parameters.
SELECT convert_from(gn_flux.export_view('regress_exp', 'obs', 'json', '{"filter_n_up_altitude": 1000, "orderby": "id_synthese:desc"}'), 'UTF8') AS json;
SELECT convert_from(gn_flux.export_view('regress_exp', 'obs', 'json', '{"filter_d_up_derniere_action": "2024-06-01", "filter_d_lo_date_min": "2024-06-30"}'), 'UTF8') AS json;
SELECT convert_from(gn_flux.export_view('regress_exp', 'obs', 'json', '{"ilike_nom_cite": "LYNX", "limit": 5}'), 'UTF8') AS json;
SELECT e->'id_synthese' AS id, ST_DWithin(ST_GeomFromText(e->>'geom'), 'POINT(3 46.5)', 1e-6) AS geom_in_4326
  FROM jsonb_array_elements(convert_from(gn_flux.export_view('regress_exp', 'obs', 'json', '{"geometry": "POLYGON((2.9 46.4, 3.1 46.4, 3.1 46.6, 2.9 46.6, 2.9 46.4))"}', 4326), 'UTF8')::jsonb) e;
-- GeoJSON is always EPSG:4326 (RFC 7946); feature id = the primary key.
SELECT f->'id' AS id, round((f->'geometry'->'coordinates'->>0)::numeric, 4) AS lon, round((f->'geometry'->'coordinates'->>1)::numeric, 4) AS lat
  FROM jsonb_array_elements(convert_from(gn_flux.export_view('regress_exp', 'obs', 'geojson'), 'UTF8')::jsonb->'features') f;
SET gn_flux.csv_separator = ',';
SELECT replace(convert_from(gn_flux.export_view('regress_exp', 'v_nogeom', 'csv', '{"id_synthese": 1}'), 'UTF8'), E'\r', '<CR>') AS csv;
RESET gn_flux.csv_separator;
-- Hostile identifiers are quoted, never executed.
SELECT replace(convert_from(gn_flux.export_view('regress_exp', 'x"; drop table t; --', 'csv', '{"c\"; drop table t; --": 1}'), 'UTF8'), E'\r', '<CR>') AS csv;
SELECT to_regclass('regress_exp.t') IS NOT NULL AS t_still_exists;
-- Every format, including empty results.
SELECT f AS format, length(gn_flux.export_view('regress_exp', 'obs', f)) > 0 AS not_empty,
       length(gn_flux.export_view('regress_exp', 'obs', f, '{"id_synthese": -1}')) > 0 AS empty_is_valid_file
  FROM unnest(ARRAY['csv', 'json', 'geojson', 'gpkg', 'shp', 'xlsx']) f;

-- Bad input.
SELECT gn_flux.export_view('regress_exp', 'obs', 'pdf');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.export_view('regress_exp', 'obs', NULL);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.export_view('regress_exp', 'nope', 'csv');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.export_view('nope', 'obs', 'csv');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.export_view(NULL, 'obs', 'csv');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.export_view('regress_exp', 'v_nogeom', 'gpkg');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.export_view('regress_exp', 'obs', 'csv', '{"cd_nom": 60015}');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.export_view('regress_exp', 'obs', 'csv', '{"id_synthese": "abc"}');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.export_view('regress_exp', 'obs', 'csv', '{"filter_d_up_date_min": "soon"}');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.export_view('regress_exp', 'obs', 'csv', '{"ilike_altitude": "12"}');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.export_view('regress_exp', 'obs', 'csv', '{"id_synthese": [1, 2]}');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.export_view('regress_exp', 'obs', 'csv', '[1]');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.export_view('regress_exp', 'obs', 'csv', '{"offset": 2}');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.export_view('regress_exp', 'obs', 'csv', '{"orderby": "nope"}');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.export_view('regress_exp', 'v_nogeom', 'csv', '{"geometry": "POINT(3 46)"}');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.export_view('regress_exp', 'obs', 'gpkg', srid => 999999);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.export_view('regress_exp', 'v_nogeom', 'csv', srid => 4326);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.export_view('regress_exp', 'obs', 'geojson', srid => 2154);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SET gn_flux.csv_separator = '||';
SELECT gn_flux.export_view('regress_exp', 'obs', 'csv');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
RESET gn_flux.csv_separator;
-- Privileges of the calling role are respected.
CREATE ROLE regress_exp_reader;
GRANT USAGE ON SCHEMA regress_exp TO regress_exp_reader;
SET ROLE regress_exp_reader;
SELECT gn_flux.export_view('regress_exp', 'obs', 'csv');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
RESET ROLE;
GRANT SELECT ON regress_exp.v_nogeom TO regress_exp_reader;
SET ROLE regress_exp_reader;
SELECT length(gn_flux.export_view('regress_exp', 'v_nogeom', 'xlsx')) > 0 AS reader_exports_what_it_may_read;
RESET ROLE;

-- The registry: detection of pk, geometry and SRID; validation on INSERT and UPDATE.
SELECT * FROM gn_flux.licence ORDER BY id_licence;
SELECT * FROM gn_flux.add_export('Observations régression', 'regress_exp', 'obs', description => 'test');
SELECT label, view_pk_column, geometry_field, geometry_srid, licence
  FROM gn_flux.add_export('Sans géométrie', 'regress_exp', 'v_nogeom', licence => 'ODC Open Database License v1.0');
SELECT gn_flux.add_export('Observations régression', 'regress_exp', 'obs');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
-- Two labels may not give the same scheduled file names (Synthèse / Synthese), nor one a
-- timestamped file name of the other.
SELECT gn_flux.add_export('Observations regression', 'regress_exp', 'obs');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_export('Observations régression 2024 05 01 03h00m00', 'regress_exp', 'obs');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
UPDATE gn_flux.export SET label = 'Observations régression!' WHERE label = 'Sans géométrie';
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_export('Autre', 'regress_exp', 'nope');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_export('Autre', 'regress_exp', 'obs', view_pk_column => 'nope');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_export('Autre', 'regress_exp', 'obs', geometry_field => 'nom_cite');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_export('Autre', 'regress_exp', 'obs', licence => 'WTFPL');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_export('', 'regress_exp', 'obs');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
UPDATE gn_flux.export SET geometry_srid = 123456 WHERE label = 'Observations régression';
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
UPDATE gn_flux.export SET geometry_srid = 4326 WHERE label = 'Observations régression';

-- Files on the server: the allowed directory, privileges, atomic writes, the log.
SET gn_flux.export_directory = '';
SELECT * FROM gn_flux.export_to_file('Observations régression', 'csv', '/tmp/gn_flux_regress.csv');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SET gn_flux.export_directory = '/tmp';
SELECT * FROM gn_flux.export_to_file('Observations régression', 'csv', '/etc/gn_flux_regress.csv');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM gn_flux.export_to_file('Observations régression', 'csv', '/tmp/../etc/gn_flux_regress.csv');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM gn_flux.export_to_file('Observations régression', 'csv', '/tmp/');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM gn_flux.export_to_file('Nope', 'csv', '/tmp/gn_flux_regress.csv');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM gn_flux.export_to_file('Observations régression', 'docx', '/tmp/gn_flux_regress.csv');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT path, rows, bytes, length(sha256) AS sha256_hex_chars,
       sha256 = encode(sha256(pg_read_binary_file(path)), 'hex') AS checksum_matches,
       pg_read_binary_file(path) = gn_flux.export_view('regress_exp', 'obs', 'csv', srid => 4326) AS same_as_export_view
  FROM gn_flux.export_to_file('Observations régression', 'csv', '/tmp/gn_flux_regress.csv');
SELECT label, format, schedule_id, status, path, rows, error FROM gn_flux.export_log ORDER BY id;
SET ROLE regress_exp_reader;
SELECT * FROM gn_flux.export_to_file('Observations régression', 'csv', '/tmp/gn_flux_regress.csv');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
RESET ROLE;

-- Schedules need pg_cron in this database (not installed here).
SELECT gn_flux.schedule_export('Nope', 'csv', '/tmp', '0 3 * * *');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.schedule_export('Observations régression', 'pdf', '/tmp', '0 3 * * *');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.schedule_export('Observations régression', 'csv', '/tmp', ' ');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.schedule_export('Observations régression', 'csv', '/tmp', '0 3 * * *');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.unschedule_export('Observations régression');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;

-- Schedules and run logs belong to their owner; run details (error texts may quote observation
-- data, paths) are for owners, gn_flux_monitor members and superusers. The rows are made by hand:
-- this database has no pg_cron.
CREATE ROLE regress_exp_owner;
CREATE ROLE regress_exp_intruder;
GRANT pg_write_server_files TO regress_exp_owner, regress_exp_intruder;
INSERT INTO gn_flux.export_schedule (export_id, format, directory, schedule, created_by)
SELECT id, 'csv', '/tmp', '0 3 * * *', 'regress_exp_owner' FROM gn_flux.export WHERE label = 'Observations régression';
INSERT INTO gn_flux.export_log (export_id, label, format, schedule_id, run_by, started_at, ended_at, status, path, error)
SELECT s.export_id, 'Observations régression', 'csv', s.id, 'regress_exp_owner', '2024-05-01 03:00', '2024-05-01 03:01', 'failed',
       '/tmp/secret.csv', 'Failing row contains (1, Lynx)'
  FROM gn_flux.export_schedule s;
SET ROLE regress_exp_reader;
SELECT label, format, directory, run_as, last_status, last_error, last_file, failures_since_success
  FROM gn_flux.export_status ORDER BY label, format;
SELECT count(*) FROM gn_flux.export_log;
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
RESET ROLE;
GRANT gn_flux_monitor TO regress_exp_reader;
SET ROLE regress_exp_reader;
SELECT label, last_error, last_file FROM gn_flux.export_status ORDER BY label, format;
SELECT label, run_by = 'regress_exp_owner' AS owners_run, error FROM gn_flux.export_log ORDER BY id;
RESET ROLE;
REVOKE gn_flux_monitor FROM regress_exp_reader;
SET ROLE regress_exp_owner;
SELECT label, last_error, last_file FROM gn_flux.export_status ORDER BY label, format;
SELECT label, run_by, error FROM gn_flux.export_log ORDER BY id;
RESET ROLE;
-- Another member of pg_write_server_files may neither redirect that schedule nor forge its runs.
SET ROLE regress_exp_intruder;
UPDATE gn_flux.export_schedule SET directory = '/var/lib/postgresql';
DELETE FROM gn_flux.export_schedule;
SELECT gn_flux.schedule_export('Observations régression', 'csv', '/tmp/elsewhere', '0 3 * * *');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.unschedule_export('Observations régression', 'csv');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux._run_export_schedule(id) FROM gn_flux.export_schedule;
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
INSERT INTO gn_flux.export_log (export_id, label, format, schedule_id, started_at, ended_at, status, path)
SELECT s.export_id, 'x', 'csv', s.id, '2000-01-01', '2000-01-01', 'success', '/etc/passwd' FROM gn_flux.export_schedule s;
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
INSERT INTO gn_flux.export_log (label, format, run_by, started_at, ended_at, status, path)
VALUES ('x', 'csv', 'regress_exp_owner', '2000-01-01', '2000-01-01', 'success', '/etc/passwd');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
RESET ROLE;
SELECT directory, created_by FROM gn_flux.export_schedule;
SELECT count(*) AS forged_rows FROM gn_flux.export_log WHERE path = '/etc/passwd';
SELECT gn_flux.drop_export('Observations régression');
SELECT gn_flux.drop_export('Observations régression');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT label FROM gn_flux.export ORDER BY label;

-- Dates beyond what export files can hold are a clear error naming the column and the row, not a
-- crash; infinite dates are written as NULL with a NOTICE.
SET datestyle = 'ISO, YMD';
CREATE TABLE regress_exp.far (id int PRIMARY KEY, d date, ts timestamp);
INSERT INTO regress_exp.far VALUES (1, '2024-01-01', '2024-01-01'), (2, '5874897-12-31', '2024-01-01'), (3, '2024-01-01', '294276-01-01');
SELECT gn_flux.export_view('regress_exp', 'far', 'csv', '{"orderby": "id"}');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.export_view('regress_exp', 'far', 'csv', '{"id": 3}');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
UPDATE regress_exp.far SET d = 'infinity', ts = '-infinity' WHERE id > 1;
SET client_min_messages = notice;
SELECT convert_from(gn_flux.export_view('regress_exp', 'far', 'json', '{"orderby": "id"}'), 'UTF8') AS infinite_dates_as_null;
SET client_min_messages = warning;
DROP TABLE regress_exp.far;

DROP SCHEMA regress_exp CASCADE;
SELECT gn_flux.drop_export('Sans géométrie');
DELETE FROM gn_flux.export_log;
DROP ROLE regress_exp_reader;
DROP ROLE regress_exp_owner;
DROP ROLE regress_exp_intruder;

