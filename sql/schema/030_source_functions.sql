-- gn_flux install script, part 3: source management in SQL (the checks themselves are in Rust:
-- gn_flux._check_source, shared by add_source and the trigger below).

-- Search paths: every function here pins `search_path = pg_catalog, pg_temp` and names gn_flux
-- objects with their schema, so no role can plant a function or operator that one of them
-- would call (a schema named like the caller comes first on the default path). Exceptions,
-- each commented where it is defined: functions that write to the staging tables, whose DBA
-- triggers run with the caller's path as they do during a pull.

-- One source row as the Rust side reads it (gn_client's SourceDefinition): the row as JSON,
-- with update_overlap in seconds (an interval's text form depends on IntervalStyle).
CREATE FUNCTION gn_flux._source_json(s gn_flux.source) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.to_jsonb(s) || pg_catalog.jsonb_build_object('update_overlap', extract(epoch FROM s.update_overlap)) $$;
COMMENT ON FUNCTION gn_flux._source_json(gn_flux.source) IS 'internal: a source row as JSON for the Rust side (update_overlap in seconds)';

CREATE FUNCTION gn_flux._source_before_write() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.name IS DISTINCT FROM OLD.name THEN
        RAISE EXCEPTION 'a source cannot be renamed ("%" to "%")', OLD.name, NEW.name
            USING ERRCODE = '22023',
                  HINT = 'The name is stored in every staging row: add a new source and drop the old one instead.';
    END IF;
    -- Items of other kinds are staged with type = kind.
    IF NEW.kind IS DISTINCT FROM 'geonature' THEN
        NEW.data_type := NEW.kind;
    END IF;
    -- The whole row is checked by one Rust function (gn_client::SourceDefinition::validate).
    NEW.url := gn_flux._check_source(gn_flux._source_json(NEW));
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION gn_flux._source_before_write() IS 'internal: validates every INSERT or UPDATE of gn_flux.source';
CREATE TRIGGER source_validate BEFORE INSERT OR UPDATE ON gn_flux.source
    FOR EACH ROW EXECUTE FUNCTION gn_flux._source_before_write();

-- Masks the secrets of a source row before it is shown.
CREATE FUNCTION gn_flux._masked(s gn_flux.source) RETURNS gn_flux.source
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    s.password := CASE WHEN s.password IS NULL THEN NULL ELSE '********' END;
    s.token := CASE WHEN s.token IS NULL THEN NULL ELSE '********' END;
    RETURN s;
END
$$;
COMMENT ON FUNCTION gn_flux._masked(gn_flux.source) IS 'internal: a source row with password and token masked';

-- Every option defaults to NULL here and means "the table's default": the defaults live in
-- gn_flux.source only, and only the options given are written.
CREATE FUNCTION gn_flux.add_source(
    name text,
    url text,
    export_id integer DEFAULT NULL,
    login text DEFAULT NULL,
    password text DEFAULT NULL,
    token text DEFAULT NULL,
    data_type text DEFAULT NULL,
    query_strings jsonb DEFAULT NULL,
    page_size integer DEFAULT NULL,
    metadata_export_id integer DEFAULT NULL,
    enabled boolean DEFAULT NULL,
    max_retries integer DEFAULT NULL,
    retry_backoff_ms integer DEFAULT NULL,
    connect_timeout_ms integer DEFAULT NULL,
    read_timeout_ms integer DEFAULT NULL,
    module_path text DEFAULT NULL,
    update_overlap interval DEFAULT NULL,
    paging text DEFAULT NULL,
    password_file text DEFAULT NULL,
    token_file text DEFAULT NULL,
    allow_insecure_http boolean DEFAULT NULL,
    probe boolean DEFAULT true,
    kind text DEFAULT NULL,
    options jsonb DEFAULT NULL
) RETURNS gn_flux.source
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    given jsonb;
    cols text;
    r gn_flux.source;
BEGIN
    IF EXISTS (SELECT 1 FROM gn_flux.source s WHERE s.name = add_source.name) THEN
        RAISE EXCEPTION 'source "%" already exists', add_source.name
            USING ERRCODE = '42710',
                  HINT = 'Choose another name, change the existing source with UPDATE gn_flux.source, or remove it with gn_flux.drop_source().';
    END IF;
    given := jsonb_strip_nulls(jsonb_build_object(
        'name', add_source.name, 'url', add_source.url, 'export_id', add_source.export_id,
        'login', add_source.login, 'password', add_source.password, 'password_file', add_source.password_file,
        'token', add_source.token, 'token_file', add_source.token_file, 'data_type', add_source.data_type,
        'query_strings', add_source.query_strings, 'page_size', add_source.page_size,
        'metadata_export_id', add_source.metadata_export_id, 'enabled', add_source.enabled,
        'max_retries', add_source.max_retries, 'retry_backoff_ms', add_source.retry_backoff_ms,
        'connect_timeout_ms', add_source.connect_timeout_ms, 'read_timeout_ms', add_source.read_timeout_ms,
        'module_path', add_source.module_path, 'update_overlap', add_source.update_overlap::text,
        'paging', add_source.paging, 'allow_insecure_http', add_source.allow_insecure_http,
        'kind', add_source.kind, 'options', add_source.options));
    SELECT string_agg(quote_ident(k), ', ') INTO cols FROM jsonb_object_keys(given) AS k;
    -- Missing keys take the table's defaults; the trigger validates the whole row.
    EXECUTE format('INSERT INTO gn_flux.source AS s (%1$s) SELECT %1$s FROM jsonb_populate_record(NULL::gn_flux.source, $1) RETURNING s.*', cols)
        INTO r USING given;
    IF probe THEN
        PERFORM gn_flux._probe_source(r.name);
    END IF;
    RETURN gn_flux._masked(r);
END
$$;
COMMENT ON FUNCTION gn_flux.add_source(text, text, integer, text, text, text, text, jsonb, integer, integer, boolean,
    integer, integer, integer, integer, text, interval, text, text, text, boolean, boolean, text, jsonb) IS
  'Registers a source: a remote GeoNature export (kind geonature, the default: give export_id), or a WFS layer, OGC API collection, JSON API or GBIF search (kind wfs, ogcapi, json, gbif: give options); NULL options take the defaults of gn_flux.source. Secrets: password_file/token_file name files in gn_flux.secrets_directory (kept out of SQL text and logs); password/token are accepted but appear in the statement text. Probes the source (login, module discovery, one row) unless probe => false. Returns the row with secrets masked.';

-- Not pinned: it deletes staging rows, and DBA triggers on data_json run with the caller's
-- search_path as they do during a pull. Every name and every operator in it is
-- schema-qualified (OPERATOR(pg_catalog.=)), varchar columns cast to text: nothing in it
-- resolves through the caller's path.
CREATE FUNCTION gn_flux.drop_source(name text, keep_data boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF name IS NULL OR NOT EXISTS (SELECT 1 FROM gn_flux.source s WHERE s.name OPERATOR(pg_catalog.=) drop_source.name) THEN
        RAISE EXCEPTION 'source "%" does not exist', drop_source.name
            USING ERRCODE = '42704', HINT = 'See SELECT name FROM gn_flux.source.';
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('gn_flux.pull'), pg_catalog.hashtext(drop_source.name)) THEN
        RAISE EXCEPTION 'source "%" is being pulled by another session', drop_source.name
            USING ERRCODE = '55P03', HINT = 'Wait for the pull to finish, then drop the source.';
    END IF;
    IF gn_flux._schedule_of(drop_source.name) IS NOT NULL THEN
        PERFORM gn_flux.unschedule_source(drop_source.name);
    END IF;
    IF NOT coalesce(keep_data, false) THEN
        DELETE FROM gn_flux.data_json d WHERE d.source::text OPERATOR(pg_catalog.=) drop_source.name;
        DELETE FROM gn_flux.metadata_json m WHERE m.source::text OPERATOR(pg_catalog.=) drop_source.name;
        DELETE FROM gn_flux.feed_key k WHERE k.source::text OPERATOR(pg_catalog.=) drop_source.name;
    END IF;
    -- (its GeoNature load settings go with the source; what it loaded stays in GeoNature)
    DELETE FROM gn_flux.synthese_reject x WHERE x.source OPERATOR(pg_catalog.=) drop_source.name;
    DELETE FROM gn_flux.source s WHERE s.name OPERATOR(pg_catalog.=) drop_source.name;
END
$$;
COMMENT ON FUNCTION gn_flux.drop_source(text, boolean) IS
  'Removes a source and its pg_cron schedule; its data_json and metadata_json rows too unless keep_data. import_log and error_log are kept. The GeoNature load of the source stops; what it loaded stays in GeoNature (disable_synthese(source, remove_observations => true) first removes the observations).';

-- pg_cron integration (optional: pg_cron may be absent).
CREATE FUNCTION gn_flux._job_name(source text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$ SELECT 'gn_flux_pull_' || source $$;
COMMENT ON FUNCTION gn_flux._job_name(text) IS 'internal: pg_cron job name of a source';

CREATE FUNCTION gn_flux._cron_schedule(jobname text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    result text;
BEGIN
    IF to_regclass('cron.job') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT schedule FROM cron.job WHERE jobname = $1 ORDER BY jobid DESC LIMIT 1' INTO result USING jobname;
    RETURN result;
EXCEPTION WHEN insufficient_privilege THEN
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION gn_flux._cron_schedule(text) IS 'internal: pg_cron schedule of a job name, NULL if none or pg_cron is absent';

CREATE FUNCTION gn_flux._schedule_of(source text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$ SELECT gn_flux._cron_schedule(gn_flux._job_name(source)) $$;
COMMENT ON FUNCTION gn_flux._schedule_of(text) IS 'internal: pg_cron schedule of a source, NULL if none or pg_cron is absent';

CREATE FUNCTION gn_flux._cron_schedule_job(jobname text, schedule text, command text, example text, meaning text)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    job bigint;
BEGIN
    IF schedule IS NULL OR btrim(schedule) = '' THEN
        RAISE EXCEPTION 'schedule must not be empty'
            USING ERRCODE = '22023', HINT = format('Give a cron expression, e.g. %L (%s).', example, meaning);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
            USING ERRCODE = '55000',
                  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name = ''' || current_database()
                         || ''', restart PostgreSQL, then CREATE EXTENSION pg_cron.';
    END IF;
    BEGIN
        EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job USING jobname, schedule, command;
    EXCEPTION WHEN invalid_parameter_value OR data_exception OR raise_exception OR internal_error OR syntax_error THEN
        RAISE EXCEPTION 'invalid schedule "%": %', schedule, SQLERRM
            USING ERRCODE = '22023',
                  HINT = format('Use a cron expression of 5 fields, e.g. %L (pg_cron 1.4: minute granularity, GMT).', example);
    END;
    RETURN job;
END
$$;
COMMENT ON FUNCTION gn_flux._cron_schedule_job(text, text, text, text, text) IS
  'internal: creates or replaces a pg_cron job, with gn_flux errors for an empty or invalid schedule and a missing pg_cron';

CREATE FUNCTION gn_flux.schedule_source(name text, schedule text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF name IS NULL OR NOT EXISTS (SELECT 1 FROM gn_flux.source s WHERE s.name = schedule_source.name) THEN
        RAISE EXCEPTION 'source "%" does not exist', schedule_source.name
            USING ERRCODE = '42704', HINT = 'Register it first with gn_flux.add_source().';
    END IF;
    RETURN gn_flux._cron_schedule_job(gn_flux._job_name(schedule_source.name), schedule,
                                      format('SELECT * FROM gn_flux.pull_source(%L)', schedule_source.name),
                                      '*/30 * * * *', 'every 30 minutes, GMT');
END
$$;
COMMENT ON FUNCTION gn_flux.schedule_source(text, text) IS
  'Schedules SELECT * FROM gn_flux.pull_source(name) with pg_cron (job gn_flux_pull_<name>; re-scheduling replaces it). Returns the job id.';

CREATE FUNCTION gn_flux.unschedule_source(name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
            USING ERRCODE = '55000', HINT = 'Without pg_cron there is no schedule to remove.';
    END IF;
    IF gn_flux._schedule_of(unschedule_source.name) IS NULL THEN
        RAISE EXCEPTION 'source "%" has no schedule', unschedule_source.name
            USING ERRCODE = '42704', HINT = 'See SELECT source, schedule FROM gn_flux.status.';
    END IF;
    EXECUTE 'SELECT cron.unschedule($1)' USING gn_flux._job_name(unschedule_source.name);
END
$$;
COMMENT ON FUNCTION gn_flux.unschedule_source(text) IS 'Removes the pg_cron schedule of a source.';

CREATE VIEW gn_flux.status AS
SELECT s.name AS source,
       s.enabled,
       s.url,
       s.export_id,
       s.data_type,
       last.id AS last_import_id,
       last.xfer_type AS last_mode,
       last.xfer_status AS last_status,
       last.xfer_start_ts AS last_run,
       last.xfer_end_ts - last.xfer_start_ts AS last_duration,
       -- Error texts may quote observation data (a DBA trigger's "Failing row contains …"):
       -- shown to superusers and gn_flux_monitor members only.
       CASE WHEN gn_flux._may_see_details() THEN last.comment END AS last_message,
       ok.xfer_end_ts AS last_success,
       (SELECT count(*) FROM gn_flux.data_json d WHERE d.source = s.name AND d.controler = 'data') AS rows,
       localtimestamp - ok.xfer_end_ts AS lag,
       s.watermark,
       coalesce(last.data_count_errors, 0) AS last_errors,
       (SELECT count(*) FROM gn_flux.import_log f WHERE f.source = s.name AND f.xfer_status = 'failed'
           AND f.id > coalesce(ok.id, 0)) AS failures_since_success,
       gn_flux._schedule_of(s.name) AS schedule,
       sl.source IS NOT NULL AS synthese,
       (SELECT count(DISTINCT x.id_data) FROM gn_flux.synthese_reject x
         WHERE x.source = s.name AND x.kind = 'observation' AND x.action = 'rejected') AS synthese_rejects,
       (SELECT count(DISTINCT x.id_data) FROM gn_flux.synthese_reject x
         WHERE x.source = s.name AND x.kind = 'observation' AND x.action = 'defaulted') AS synthese_defaulted,
       (SELECT count(*) FROM gn_flux.synthese_reject x
         WHERE x.source = s.name AND x.kind <> 'observation' AND x.action = 'rejected') AS metadata_rejects
  FROM gn_flux.source s
  LEFT JOIN gn_flux.synthese_load sl ON sl.source = s.name
  LEFT JOIN LATERAL (SELECT * FROM gn_flux.import_log l WHERE l.source = s.name ORDER BY l.id DESC LIMIT 1) last ON true
  LEFT JOIN LATERAL (SELECT * FROM gn_flux.import_log l WHERE l.source = s.name AND l.xfer_status = 'success'
                      ORDER BY l.id DESC LIMIT 1) ok ON true;
COMMENT ON VIEW gn_flux.status IS
  'One row per source: last run (mode, status, duration, message — the message for superusers and gn_flux_monitor members only), last success, rows stored, lag since the last success, errors of the last run, failures since the last success, pg_cron schedule; synthese: the GeoNature load is enabled; synthese_rejects / synthese_defaulted: staged observations rejected from, or loaded with defaulted values into, gn_synthese.synthese; metadata_rejects: metadata problems (gn_flux.synthese_reject).';
GRANT SELECT ON gn_flux.status TO PUBLIC;

REVOKE ALL ON FUNCTION gn_flux.add_source(text, text, integer, text, text, text, text, jsonb, integer, integer, boolean,
    integer, integer, integer, integer, text, interval, text, text, text, boolean, boolean, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.drop_source(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.schedule_source(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.unschedule_source(text) FROM PUBLIC;

-- Pulls every enabled source, each in its own transaction: a cancel, a timeout or a crash
-- keeps the sources already pulled, and the per-source advisory lock is held one source at a
-- time. A procedure (CALL gn_flux.pull_all()), so it may commit; it cannot pin its search_path
-- for that reason (PostgreSQL forbids transaction control under a SET clause): every name is
-- schema-qualified, and so is its one operator (OPERATOR(pg_catalog.||)).
CREATE PROCEDURE gn_flux.pull_all()
LANGUAGE plpgsql AS $$
DECLARE
    src record;
    r record;
BEGIN
    FOR src IN SELECT s.name FROM gn_flux.source s WHERE s.enabled ORDER BY s.name COLLATE "C" LOOP
        BEGIN
            SELECT * INTO r FROM gn_flux.pull_source(src.name);
            RAISE NOTICE 'gn_flux: pull_all: source "%": % % (% items, % inserted, % updated, % deleted, % errors)%',
                r.source, r.mode, r.status, r.items, r.inserted, r.updated, r.deleted, r.errors,
                coalesce(': ' OPERATOR(pg_catalog.||) r.message, '');
        EXCEPTION WHEN lock_not_available OR object_not_in_prerequisite_state OR undefined_object THEN
            -- busy elsewhere, disabled or dropped meanwhile: the other sources go on
            RAISE WARNING 'gn_flux: pull_all: source "%" skipped: %', src.name, SQLERRM;
        END;
        COMMIT;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE gn_flux.pull_all() IS
  'Pulls every enabled source, one transaction per source (CALL gn_flux.pull_all(); outside an explicit transaction block): an interruption keeps the sources already pulled. One NOTICE per source; results in gn_flux.import_log and gn_flux.status.';
REVOKE ALL ON PROCEDURE gn_flux.pull_all() FROM PUBLIC;
