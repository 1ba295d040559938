-- Exports: the registry (as GeoNature's gn_exports.t_exports / t_licences), schedules, the run
-- log, and the SQL-side functions. Writers and checks are Rust (src/export, crates/gn_export).

CREATE TABLE gn_flux.licence (
    id_licence   serial PRIMARY KEY,
    name_licence varchar(100) NOT NULL UNIQUE,
    url_licence  varchar(500) NOT NULL
);
COMMENT ON TABLE gn_flux.licence IS 'Licences of exports, as GeoNature''s gn_exports.t_licences (the same three seeded rows).';
INSERT INTO gn_flux.licence (id_licence, name_licence, url_licence) VALUES
    (1, 'Creative Commons Attribution 1.0 Generic', 'https://spdx.org/licenses/CC-BY-1.0.html'),
    (2, 'ODC Open Database License v1.0', 'https://spdx.org/licenses/ODbL-1.0.html'),
    (3, 'Licence Ouverte/Open Licence Version 2.0', 'https://spdx.org/licenses/etalab-2.0.html');
SELECT setval('gn_flux.licence_id_licence_seq', 3);

CREATE TABLE gn_flux.export (
    id             serial PRIMARY KEY,
    label          text NOT NULL UNIQUE,
    schema_name    text NOT NULL,
    view_name      text NOT NULL,
    view_pk_column text NOT NULL,
    geometry_field text,
    geometry_srid  integer,
    public         boolean NOT NULL DEFAULT false,
    licence        integer NOT NULL DEFAULT 1 REFERENCES gn_flux.licence (id_licence),
    description    text
);
COMMENT ON TABLE gn_flux.export IS
  'Registered exports, as GeoNature''s gn_exports.t_exports. INSERT/UPDATE are checked (the relation must exist and be readable, the columns real) and missing view_pk_column, geometry_field and geometry_srid are detected.';
COMMENT ON COLUMN gn_flux.export.label IS 'Unique name; sanitised, it is also the file name of scheduled files (GeoNature''s rule).';
COMMENT ON COLUMN gn_flux.export.view_pk_column IS 'Column identifying rows: GeoJSON feature id (and the served API''s default order).';
COMMENT ON COLUMN gn_flux.export.geometry_field IS 'PostGIS geometry column written as the feature geometry; NULL for non-spatial exports.';
COMMENT ON COLUMN gn_flux.export.geometry_srid IS 'SRID files are written in (geometries are reprojected when it differs from the column''s); GeoJSON is always EPSG:4326.';
COMMENT ON COLUMN gn_flux.export.public IS 'Open without authentication in the served API (as GeoNature''s public flag).';

CREATE FUNCTION gn_flux._export_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    checked record;
BEGIN
    IF NEW.label IS NULL OR btrim(NEW.label) = '' THEN
        RAISE EXCEPTION 'export label must not be empty'
            USING ERRCODE = '22023', HINT = 'Give a unique label, e.g. ''Synthese SINP''.';
    END IF;
    SELECT * INTO checked
      FROM gn_flux._check_export(NEW.schema_name, NEW.view_name, NEW.view_pk_column, NEW.geometry_field, NEW.geometry_srid);
    NEW.view_pk_column := checked.view_pk_column;
    NEW.geometry_field := checked.geometry_field;
    NEW.geometry_srid := checked.geometry_srid;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION gn_flux._export_check() IS 'internal: validates and completes gn_flux.export rows';
CREATE TRIGGER export_check BEFORE INSERT OR UPDATE ON gn_flux.export
    FOR EACH ROW EXECUTE FUNCTION gn_flux._export_check();

CREATE FUNCTION gn_flux.add_export(
    label text,
    schema_name text,
    view_name text,
    view_pk_column text DEFAULT NULL,
    geometry_field text DEFAULT NULL,
    public boolean DEFAULT false,
    licence text DEFAULT NULL,
    description text DEFAULT NULL
) RETURNS gn_flux.export
LANGUAGE plpgsql AS $$
DECLARE
    licence_id integer;
    created gn_flux.export;
BEGIN
    IF add_export.licence IS NULL THEN
        licence_id := 1;
    ELSE
        SELECT l.id_licence INTO licence_id FROM gn_flux.licence l
         WHERE lower(l.name_licence) = lower(btrim(add_export.licence))
            OR l.id_licence::text = btrim(add_export.licence)
         ORDER BY l.id_licence LIMIT 1;
        IF licence_id IS NULL THEN
            RAISE EXCEPTION 'licence "%" does not exist', add_export.licence
                USING ERRCODE = '42704',
                      HINT = 'Give a name_licence or id_licence of gn_flux.licence (SELECT * FROM gn_flux.licence), or INSERT your own licence first.';
        END IF;
    END IF;
    BEGIN
        INSERT INTO gn_flux.export AS e (label, schema_name, view_name, view_pk_column, geometry_field, public, licence, description)
        VALUES (add_export.label, add_export.schema_name, add_export.view_name, add_export.view_pk_column,
                add_export.geometry_field, coalesce(add_export.public, false), licence_id, add_export.description)
        RETURNING e.* INTO created;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'export "%" already exists', add_export.label
            USING ERRCODE = '42710', HINT = 'Choose another label, or UPDATE gn_flux.export / gn_flux.drop_export() the existing one.';
    END;
    RETURN created;
END;
$$;
COMMENT ON FUNCTION gn_flux.add_export(text, text, text, text, text, boolean, text, text) IS
  'Registers a view or table as an export (as GeoNature''s Export module admin); detects the pk column, the geometry column and its SRID when not given.';

CREATE TABLE gn_flux.export_schedule (
    id         serial PRIMARY KEY,
    export_id  integer NOT NULL REFERENCES gn_flux.export (id) ON DELETE CASCADE,
    format     text NOT NULL CHECK (format IN ('csv', 'json', 'geojson', 'gpkg', 'shp', 'xlsx')),
    directory  text NOT NULL,
    schedule   text NOT NULL,
    created_by name NOT NULL DEFAULT current_user,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (export_id, format)
);
COMMENT ON TABLE gn_flux.export_schedule IS
  'Scheduled file exports (one pg_cron job gn_flux_export_<id> each, run as created_by). Files: <directory>/<Label>_<YYYY_MM_DD_HHhMMmSS>.<ext>, and <Label>.<ext> for the newest.';

CREATE TABLE gn_flux.export_log (
    id          bigserial PRIMARY KEY,
    export_id   integer REFERENCES gn_flux.export (id) ON DELETE SET NULL,
    label       text NOT NULL,
    format      text NOT NULL,
    schedule_id integer,
    run_by      name NOT NULL DEFAULT current_user,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz NOT NULL,
    status      text NOT NULL CHECK (status IN ('success', 'failed')),
    path        text,
    rows        bigint,
    bytes       bigint,
    sha256      text,
    error       text,
    removed_at  timestamptz
);
CREATE INDEX export_log_schedule_idx ON gn_flux.export_log (schedule_id, id);
COMMENT ON TABLE gn_flux.export_log IS
  'One row per file written by export_to_file() (schedule_id NULL) or by a scheduled run (failed runs too, with the error). removed_at: the file was removed by the retention policy.';

CREATE FUNCTION gn_flux._export_job_name(schedule_id integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT 'gn_flux_export_' || schedule_id $$;
COMMENT ON FUNCTION gn_flux._export_job_name(integer) IS 'internal: pg_cron job name of an export schedule';

CREATE FUNCTION gn_flux.schedule_export(label text, format text, directory text, schedule text) RETURNS bigint
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    the_export_id integer;
    fmt text := lower(btrim(schedule_export.format));
    dir text;
    schedule_id integer;
BEGIN
    SELECT e.id INTO the_export_id FROM gn_flux.export e WHERE e.label = schedule_export.label;
    IF the_export_id IS NULL THEN
        RAISE EXCEPTION 'export "%" does not exist', schedule_export.label
            USING ERRCODE = '42704', HINT = 'Register it with gn_flux.add_export(), or see SELECT label FROM gn_flux.export.';
    END IF;
    IF fmt IS NULL OR fmt NOT IN ('csv', 'json', 'geojson', 'gpkg', 'shp', 'xlsx') THEN
        RAISE EXCEPTION 'unknown export format "%"', coalesce(schedule_export.format, 'NULL')
            USING ERRCODE = '22023', HINT = 'Use one of: csv, json, geojson, gpkg, shp, xlsx.';
    END IF;
    dir := gn_flux._check_export_directory(schedule_export.directory);
    INSERT INTO gn_flux.export_schedule AS s (export_id, format, directory, schedule)
    VALUES (the_export_id, fmt, dir, schedule_export.schedule)
    ON CONFLICT (export_id, format) DO UPDATE
        SET directory = EXCLUDED.directory, schedule = EXCLUDED.schedule, created_by = current_user, created_at = now()
    RETURNING s.id INTO schedule_id;
    RETURN gn_flux._cron_schedule_job(gn_flux._export_job_name(schedule_id), schedule_export.schedule,
                                      format('SELECT gn_flux._run_export_schedule(%s)', schedule_id),
                                      '0 3 * * *', 'every day at 03:00 GMT');
END;
$$;
COMMENT ON FUNCTION gn_flux.schedule_export(text, text, text, text) IS
  'Schedules a file export with pg_cron (one job per export and format; re-scheduling replaces it). directory must lie inside gn_flux.export_directory. Returns the job id.';

CREATE FUNCTION gn_flux.unschedule_export(label text, format text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    s record;
    removed integer := 0;
BEGIN
    FOR s IN
        SELECT es.id FROM gn_flux.export_schedule es JOIN gn_flux.export e ON e.id = es.export_id
         WHERE e.label = unschedule_export.label
           AND (unschedule_export.format IS NULL OR es.format = lower(btrim(unschedule_export.format)))
    LOOP
        IF gn_flux._cron_schedule(gn_flux._export_job_name(s.id)) IS NOT NULL THEN
            EXECUTE 'SELECT cron.unschedule($1)' USING gn_flux._export_job_name(s.id);
        END IF;
        DELETE FROM gn_flux.export_schedule WHERE id = s.id;
        removed := removed + 1;
    END LOOP;
    IF removed = 0 THEN
        RAISE EXCEPTION 'export "%" has no schedule%', unschedule_export.label,
            CASE WHEN unschedule_export.format IS NULL THEN '' ELSE ' in format ' || unschedule_export.format END
            USING ERRCODE = '42704', HINT = 'See SELECT label, format, schedule FROM gn_flux.export_status.';
    END IF;
    RETURN removed;
END;
$$;
COMMENT ON FUNCTION gn_flux.unschedule_export(text, text) IS
  'Removes the schedules of an export (of one format, or all when format is NULL) and their pg_cron jobs. Returns how many were removed; files and log rows are kept.';

CREATE FUNCTION gn_flux.drop_export(label text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM gn_flux.export e WHERE e.label = drop_export.label) THEN
        RAISE EXCEPTION 'export "%" does not exist', drop_export.label
            USING ERRCODE = '42704', HINT = 'See SELECT label FROM gn_flux.export.';
    END IF;
    IF EXISTS (SELECT 1 FROM gn_flux.export_schedule es JOIN gn_flux.export e ON e.id = es.export_id WHERE e.label = drop_export.label) THEN
        PERFORM gn_flux.unschedule_export(drop_export.label);
    END IF;
    DELETE FROM gn_flux.export e WHERE e.label = drop_export.label;
END;
$$;
COMMENT ON FUNCTION gn_flux.drop_export(text) IS 'Removes an export and its schedules (pg_cron jobs included); files and gn_flux.export_log rows are kept.';

CREATE VIEW gn_flux.export_status AS
SELECT e.label, s.format, s.directory,
       gn_flux._cron_schedule(gn_flux._export_job_name(s.id)) AS schedule,
       s.created_by AS run_as,
       last.ended_at AS last_run,
       last.status AS last_status,
       last.error AS last_error,
       last.path AS last_file,
       last.rows AS last_rows,
       last.bytes AS last_bytes,
       last.sha256 AS last_sha256,
       ok.ended_at AS last_success,
       (SELECT count(*) FROM gn_flux.export_log f
         WHERE f.schedule_id = s.id AND f.status = 'failed' AND f.id > coalesce(ok.id, 0)) AS failures_since_success
  FROM gn_flux.export_schedule s
  JOIN gn_flux.export e ON e.id = s.export_id
  LEFT JOIN LATERAL (SELECT * FROM gn_flux.export_log l WHERE l.schedule_id = s.id ORDER BY l.id DESC LIMIT 1) last ON true
  LEFT JOIN LATERAL (SELECT * FROM gn_flux.export_log l WHERE l.schedule_id = s.id AND l.status = 'success' ORDER BY l.id DESC LIMIT 1) ok ON true;
COMMENT ON VIEW gn_flux.export_status IS
  'One row per scheduled export: its pg_cron schedule, last run (status, error, file, rows, bytes, sha256), last success and failures since.';

-- Privileges: the registry and the logs are readable by all; writing files needs superuser or
-- pg_write_server_files (checked again inside each function).
GRANT SELECT ON gn_flux.licence, gn_flux.export, gn_flux.export_schedule, gn_flux.export_log, gn_flux.export_status TO PUBLIC;
GRANT INSERT, UPDATE ON gn_flux.export_log TO pg_write_server_files;
GRANT USAGE ON SEQUENCE gn_flux.export_log_id_seq TO pg_write_server_files;
GRANT INSERT, UPDATE, DELETE ON gn_flux.export_schedule TO pg_write_server_files;
GRANT USAGE ON SEQUENCE gn_flux.export_schedule_id_seq TO pg_write_server_files;
REVOKE ALL ON FUNCTION gn_flux.add_export(text, text, text, text, text, boolean, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.drop_export(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.export_to_file(text, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.schedule_export(text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.unschedule_export(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux._run_export_schedule(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux._check_export_directory(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gn_flux.export_to_file(text, text, text, jsonb) TO pg_write_server_files;
GRANT EXECUTE ON FUNCTION gn_flux.schedule_export(text, text, text, text) TO pg_write_server_files;
GRANT EXECUTE ON FUNCTION gn_flux.unschedule_export(text, text) TO pg_write_server_files;
GRANT EXECUTE ON FUNCTION gn_flux._run_export_schedule(integer) TO pg_write_server_files;
GRANT EXECUTE ON FUNCTION gn_flux._check_export_directory(text) TO pg_write_server_files;

COMMENT ON FUNCTION gn_flux.export_view(text, text, text, jsonb, integer) IS
  'Exports a view or table the caller may SELECT as csv, json, geojson, gpkg, shp (zip) or xlsx, returned as bytea. filters: GeoNature''s export filter grammar (unknown columns are errors); srid: reproject (GeoJSON is always EPSG:4326).';
COMMENT ON FUNCTION gn_flux.export_to_file(text, text, text, jsonb) IS
  'Writes a registered export to a server file inside gn_flux.export_directory, atomically and streaming; returns (path, rows, bytes, sha256). Superusers and pg_write_server_files members only.';
COMMENT ON FUNCTION gn_flux._run_export_schedule(integer) IS 'internal: one scheduled export run (the pg_cron job command)';
COMMENT ON FUNCTION gn_flux._check_export(text, text, text, text, integer) IS 'internal: checks and completes an export definition';
COMMENT ON FUNCTION gn_flux._check_export_directory(text) IS 'internal: checks a schedule directory against gn_flux.export_directory';
