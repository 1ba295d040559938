-- Exports: the registry (as GeoNature's gn_exports.t_exports / t_licences), schedules, the run
-- log, and the SQL-side functions. Writers and checks are Rust (src/export, crates/gn_export).
-- Every function pins search_path = pg_catalog, pg_temp: no name or operator in them resolves
-- through a schema another role can write to (ours are all schema-qualified).

CREATE TABLE gn_flux.licence (
    id_licence   serial PRIMARY KEY,
    name_licence varchar(100) NOT NULL UNIQUE,
    url_licence  varchar(500) NOT NULL
);
-- pg_dump keeps the licences users add, not the three seeded here.
SELECT pg_catalog.pg_extension_config_dump('gn_flux.licence', 'WHERE id_licence > 3');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.licence_id_licence_seq', '');
COMMENT ON TABLE gn_flux.licence IS 'Licences of exports, as GeoNature''s gn_exports.t_licences (the same three seeded rows).';
INSERT INTO gn_flux.licence (id_licence, name_licence, url_licence) VALUES
    (1, 'Creative Commons Attribution 1.0 Generic', 'https://spdx.org/licenses/CC-BY-1.0.html'),
    (2, 'ODC Open Database License v1.0', 'https://spdx.org/licenses/ODbL-1.0.html'),
    (3, 'Licence Ouverte/Open Licence Version 2.0', 'https://spdx.org/licenses/etalab-2.0.html');
SELECT pg_catalog.setval('gn_flux.licence_id_licence_seq', 3);

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
SELECT pg_catalog.pg_extension_config_dump('gn_flux.export', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.export_id_seq', '');
COMMENT ON TABLE gn_flux.export IS
  'Registered exports, as GeoNature''s gn_exports.t_exports. INSERT/UPDATE are checked (the relation must exist and be readable, the columns real) and missing view_pk_column, geometry_field and geometry_srid are detected.';
COMMENT ON COLUMN gn_flux.export.label IS 'Unique name; sanitised (gn_flux._export_file_stem), it is also the file name of scheduled files (GeoNature''s rule), so two labels may not give the same file name.';
COMMENT ON COLUMN gn_flux.export.view_pk_column IS 'Column identifying rows: the GeoJSON feature id (GeoNature''s id_synthese for Synthese views).';
COMMENT ON COLUMN gn_flux.export.geometry_field IS 'PostGIS geometry column written as the feature geometry; NULL for non-spatial exports.';
COMMENT ON COLUMN gn_flux.export.geometry_srid IS 'SRID files are written in (geometries are reprojected when it differs from the column''s); GeoJSON is always EPSG:4326.';
COMMENT ON COLUMN gn_flux.export.public IS 'Public export (as GeoNature''s public flag, open without authentication in GeoNature''s API). Files of public exports are written readable by all (0644), of private ones by the server''s OS user only (0600).';

CREATE FUNCTION gn_flux._export_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    checked record;
    stem text;
    clash text;
BEGIN
    IF NEW.label IS NULL OR btrim(NEW.label) = '' THEN
        RAISE EXCEPTION 'export label must not be empty'
            USING ERRCODE = '22023', HINT = 'Give a unique label, e.g. ''Synthese SINP''.';
    END IF;
    IF TG_OP = 'INSERT' OR NEW.label IS DISTINCT FROM OLD.label THEN
        -- Scheduled files are named <stem>_<YYYY_MM_DD_HHhMMmSS>.<ext> and <stem>.<ext>: two labels
        -- with the same stem (Synthèse / Synthese), or a stem that is another's timestamped name,
        -- would replace (or have retention remove) each other's files. The lock serialises the
        -- check between concurrent transactions.
        PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('gn_flux.export file stems'));
        stem := gn_flux._export_file_stem(NEW.label);
        SELECT e.label INTO clash
          FROM gn_flux.export e
         WHERE e.id IS DISTINCT FROM NEW.id AND e.label <> NEW.label
           AND (gn_flux._export_file_stem(e.label) = stem
                OR stem ~ ('^' || gn_flux._export_file_stem(e.label) || '_[0-9]{4}_[0-9]{2}_[0-9]{2}_[0-9]{2}h[0-9]{2}m[0-9]{2}$')
                OR gn_flux._export_file_stem(e.label) ~ ('^' || stem || '_[0-9]{4}_[0-9]{2}_[0-9]{2}_[0-9]{2}h[0-9]{2}m[0-9]{2}$'))
         ORDER BY e.id LIMIT 1;
        IF clash IS NOT NULL THEN
            RAISE EXCEPTION 'export label "%" gives the same file names (%) as export "%"', NEW.label, stem, clash
                USING ERRCODE = '42710',
                      HINT = 'Scheduled files are named after the label without accents, spaces or punctuation (GeoNature''s rule): choose a label that differs in its letters or digits.';
        END IF;
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
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
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
SELECT pg_catalog.pg_extension_config_dump('gn_flux.export_schedule', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.export_schedule_id_seq', '');
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
SELECT pg_catalog.pg_extension_config_dump('gn_flux.export_log', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.export_log_id_seq', '');
CREATE INDEX export_log_schedule_idx ON gn_flux.export_log (schedule_id, id);
COMMENT ON TABLE gn_flux.export_log IS
  'One row per file written by export_to_file() (schedule_id NULL) or by a scheduled run (failed runs too, with the error). removed_at: the file was removed by the retention policy. Readable by superusers, members of gn_flux_monitor, and each role for its own runs (row-level security).';

CREATE FUNCTION gn_flux._export_job_name(schedule_id integer) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT 'gn_flux_export_' || schedule_id $$;
COMMENT ON FUNCTION gn_flux._export_job_name(integer) IS 'internal: pg_cron job name of an export schedule';

CREATE FUNCTION gn_flux.schedule_export(label text, format text, directory text, schedule text) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    the_export_id integer;
    fmt text := lower(btrim(schedule_export.format));
    dir text;
    schedule_id integer;
    previous_owner name;
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
    -- A schedule belongs to the role that made it (its pg_cron job runs as that role): another
    -- role may not redirect it, except a superuser, who then takes it over.
    SELECT s.created_by INTO previous_owner
      FROM gn_flux.export_schedule s WHERE s.export_id = the_export_id AND s.format = fmt;
    IF previous_owner IS NOT NULL AND previous_owner <> current_user THEN
        IF NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user), false) THEN
            RAISE EXCEPTION 'permission denied: export "%" in format % is scheduled by role "%"', schedule_export.label, fmt, previous_owner
                USING ERRCODE = '42501',
                      HINT = 'Only the role that scheduled it, or a superuser, may change it: ask that role to run gn_flux.unschedule_export(), or schedule another format.';
        END IF;
        IF pg_catalog.to_regclass('cron.job') IS NOT NULL THEN
            -- The previous owner's job would go on running as that role.
            EXECUTE 'SELECT cron.unschedule(j.jobid) FROM cron.job j WHERE j.jobname = $1 AND j.username <> current_user'
              USING gn_flux._export_job_name((SELECT s.id FROM gn_flux.export_schedule s WHERE s.export_id = the_export_id AND s.format = fmt));
        END IF;
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
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s record;
    removed integer := 0;
BEGIN
    FOR s IN
        SELECT es.id, es.format, es.created_by FROM gn_flux.export_schedule es JOIN gn_flux.export e ON e.id = es.export_id
         WHERE e.label = unschedule_export.label
           AND (unschedule_export.format IS NULL OR es.format = lower(btrim(unschedule_export.format)))
         ORDER BY es.id
    LOOP
        IF s.created_by <> current_user
           AND NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user), false) THEN
            RAISE EXCEPTION 'permission denied: export "%" in format % is scheduled by role "%"', unschedule_export.label, s.format, s.created_by
                USING ERRCODE = '42501', HINT = 'Only the role that scheduled it, or a superuser, may remove it.';
        END IF;
        IF pg_catalog.to_regclass('cron.job') IS NOT NULL THEN
            -- By job id: a superuser removes another role's job too (cron.job shows others only
            -- their own jobs).
            EXECUTE 'SELECT cron.unschedule(j.jobid) FROM cron.job j WHERE j.jobname = $1'
              USING gn_flux._export_job_name(s.id);
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
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
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
       -- Error texts may quote observation data ("Failing row contains …") and paths show where
       -- files are: only for the schedule's owner, gn_flux_monitor members and superusers.
       CASE WHEN gn_flux._may_see_details(s.created_by) THEN last.error END AS last_error,
       CASE WHEN gn_flux._may_see_details(s.created_by) THEN last.path END AS last_file,
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
  'One row per scheduled export: its pg_cron schedule, last run (status, error, file, rows, bytes, sha256), last success and failures since. last_error and last_file are NULL unless the reader is the schedule''s owner (run_as), a member of gn_flux_monitor or a superuser.';

-- Privileges: the registry, the schedules and the status summary are readable by all; run
-- details (gn_flux.export_log) by superusers, gn_flux_monitor members and each role for its own
-- runs. Writing files needs superuser or pg_write_server_files (checked inside each function).
--
-- Schedules and logs belong to their owner, enforced by row-level security rather than by
-- SECURITY DEFINER functions: the writing functions must run as the caller, because pg_cron runs
-- a job as the role that called cron.schedule() and an export reads its view with the caller's
-- privileges. So pg_write_server_files members keep their grants, and policies limit them to
-- their own rows (created_by / run_by = current_user); superusers and the extension owner bypass
-- them. Retention does not trust export_log paths either (see remove_expired in src/export).
GRANT SELECT ON gn_flux.licence, gn_flux.export, gn_flux.export_schedule, gn_flux.export_status TO PUBLIC;
REVOKE ALL ON gn_flux.export_log FROM PUBLIC;
GRANT SELECT ON gn_flux.export_log TO gn_flux_monitor, pg_write_server_files;
GRANT INSERT, UPDATE (removed_at) ON gn_flux.export_log TO pg_write_server_files;
GRANT USAGE ON SEQUENCE gn_flux.export_log_id_seq TO pg_write_server_files;
GRANT INSERT, UPDATE, DELETE ON gn_flux.export_schedule TO pg_write_server_files;
GRANT USAGE ON SEQUENCE gn_flux.export_schedule_id_seq TO pg_write_server_files;

ALTER TABLE gn_flux.export_schedule ENABLE ROW LEVEL SECURITY;
CREATE POLICY export_schedule_read ON gn_flux.export_schedule FOR SELECT USING (true);
CREATE POLICY export_schedule_insert ON gn_flux.export_schedule FOR INSERT TO pg_write_server_files
    WITH CHECK (created_by = current_user);
CREATE POLICY export_schedule_update ON gn_flux.export_schedule FOR UPDATE TO pg_write_server_files
    USING (created_by = current_user) WITH CHECK (created_by = current_user);
CREATE POLICY export_schedule_delete ON gn_flux.export_schedule FOR DELETE TO pg_write_server_files
    USING (created_by = current_user);

ALTER TABLE gn_flux.export_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY export_log_read ON gn_flux.export_log FOR SELECT
    USING (gn_flux._may_see_details(run_by));
CREATE POLICY export_log_insert ON gn_flux.export_log FOR INSERT TO pg_write_server_files
    WITH CHECK (run_by = current_user
                AND (schedule_id IS NULL
                     OR EXISTS (SELECT 1 FROM gn_flux.export_schedule s
                                 WHERE s.id = export_log.schedule_id AND s.created_by = current_user)));
CREATE POLICY export_log_update ON gn_flux.export_log FOR UPDATE TO pg_write_server_files
    USING (run_by = current_user) WITH CHECK (run_by = current_user);
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
