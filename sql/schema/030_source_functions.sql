-- gn_flux install script, part 3: source management in SQL (the checks themselves are in Rust:
-- gn_flux._check_source, shared by add_source and the trigger below).

CREATE FUNCTION gn_flux._source_before_write() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.name IS DISTINCT FROM OLD.name THEN
        RAISE EXCEPTION 'a source cannot be renamed ("%" to "%")', OLD.name, NEW.name
            USING ERRCODE = '22023',
                  HINT = 'The name is stored in every staging row: add a new source and drop the old one instead.';
    END IF;
    NEW.url := gn_flux._check_source(NEW.name, NEW.url, NEW.export_id, NEW.login, NEW.password, NEW.token,
        NEW.data_type, NEW.query_strings, NEW.page_size, NEW.metadata_export_id, NEW.max_retries,
        NEW.retry_backoff_ms, NEW.connect_timeout_ms, NEW.read_timeout_ms, NEW.module_path,
        NEW.update_overlap, NEW.paging);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION gn_flux._source_before_write() IS 'internal: validates every INSERT or UPDATE of gn_flux.source';
CREATE TRIGGER source_validate BEFORE INSERT OR UPDATE ON gn_flux.source
    FOR EACH ROW EXECUTE FUNCTION gn_flux._source_before_write();

-- Masks the secrets of a source row before it is shown.
CREATE FUNCTION gn_flux._masked(s gn_flux.source) RETURNS gn_flux.source
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    s.password := CASE WHEN s.password IS NULL THEN NULL ELSE '********' END;
    s.token := CASE WHEN s.token IS NULL THEN NULL ELSE '********' END;
    RETURN s;
END
$$;
COMMENT ON FUNCTION gn_flux._masked(gn_flux.source) IS 'internal: a source row with password and token masked';

CREATE FUNCTION gn_flux.add_source(
    name text,
    url text,
    export_id integer,
    login text DEFAULT NULL,
    password text DEFAULT NULL,
    token text DEFAULT NULL,
    data_type text DEFAULT 'synthese_with_cd_nomenclature',
    query_strings jsonb DEFAULT '{}',
    page_size integer DEFAULT 1000,
    metadata_export_id integer DEFAULT NULL,
    enabled boolean DEFAULT true,
    max_retries integer DEFAULT 5,
    retry_backoff_ms integer DEFAULT 5000,
    connect_timeout_ms integer DEFAULT NULL,
    read_timeout_ms integer DEFAULT NULL,
    module_path text DEFAULT NULL,
    update_overlap interval DEFAULT '10 minutes',
    paging text DEFAULT 'keyset',
    probe boolean DEFAULT true
) RETURNS gn_flux.source
LANGUAGE plpgsql AS $$
DECLARE
    r gn_flux.source;
BEGIN
    IF EXISTS (SELECT 1 FROM gn_flux.source s WHERE s.name = add_source.name) THEN
        RAISE EXCEPTION 'source "%" already exists', add_source.name
            USING ERRCODE = '42710',
                  HINT = 'Choose another name, change the existing source with UPDATE gn_flux.source, or remove it with gn_flux.drop_source().';
    END IF;
    INSERT INTO gn_flux.source AS s (name, url, export_id, login, password, token, data_type, query_strings,
        page_size, metadata_export_id, enabled, max_retries, retry_backoff_ms, connect_timeout_ms,
        read_timeout_ms, module_path, update_overlap, paging)
    VALUES (add_source.name, add_source.url, add_source.export_id, add_source.login, add_source.password,
        add_source.token, add_source.data_type, coalesce(add_source.query_strings, '{}'), add_source.page_size,
        add_source.metadata_export_id, add_source.enabled, add_source.max_retries, add_source.retry_backoff_ms,
        add_source.connect_timeout_ms, add_source.read_timeout_ms, add_source.module_path,
        add_source.update_overlap, add_source.paging)
    RETURNING * INTO r;
    IF probe THEN
        PERFORM gn_flux._probe_source(r.name);
    END IF;
    RETURN gn_flux._masked(r);
END
$$;
COMMENT ON FUNCTION gn_flux.add_source(text, text, integer, text, text, text, text, jsonb, integer, integer, boolean,
    integer, integer, integer, integer, text, interval, text, boolean) IS
  'Registers a remote GeoNature export as a source; probes it (login, module discovery, one row) unless probe => false. Returns the row with secrets masked.';

CREATE FUNCTION gn_flux.drop_source(name text, keep_data boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF name IS NULL OR NOT EXISTS (SELECT 1 FROM gn_flux.source s WHERE s.name = drop_source.name) THEN
        RAISE EXCEPTION 'source "%" does not exist', drop_source.name
            USING ERRCODE = '42704', HINT = 'See SELECT name FROM gn_flux.source.';
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('gn_flux.pull'), hashtext(drop_source.name)) THEN
        RAISE EXCEPTION 'source "%" is being pulled by another session', drop_source.name
            USING ERRCODE = '55P03', HINT = 'Wait for the pull to finish, then drop the source.';
    END IF;
    IF gn_flux._schedule_of(drop_source.name) IS NOT NULL THEN
        PERFORM gn_flux.unschedule_source(drop_source.name);
    END IF;
    IF NOT coalesce(keep_data, false) THEN
        DELETE FROM gn_flux.data_json d WHERE d.source = drop_source.name;
        DELETE FROM gn_flux.metadata_json m WHERE m.source = drop_source.name;
    END IF;
    DELETE FROM gn_flux.source s WHERE s.name = drop_source.name;
END
$$;
COMMENT ON FUNCTION gn_flux.drop_source(text, boolean) IS
  'Removes a source and its pg_cron schedule; its data_json and metadata_json rows too unless keep_data. import_log and error_log are kept.';

-- pg_cron integration (optional: pg_cron may be absent).
CREATE FUNCTION gn_flux._job_name(source text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT 'gn_flux_pull_' || source $$;
COMMENT ON FUNCTION gn_flux._job_name(text) IS 'internal: pg_cron job name of a source';

CREATE FUNCTION gn_flux._cron_schedule(jobname text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
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
LANGUAGE sql STABLE AS $$ SELECT gn_flux._cron_schedule(gn_flux._job_name(source)) $$;
COMMENT ON FUNCTION gn_flux._schedule_of(text) IS 'internal: pg_cron schedule of a source, NULL if none or pg_cron is absent';

CREATE FUNCTION gn_flux._cron_schedule_job(jobname text, schedule text, command text, example text, meaning text)
RETURNS bigint
LANGUAGE plpgsql AS $$
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
LANGUAGE plpgsql AS $$
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
LANGUAGE plpgsql AS $$
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
       last.comment AS last_message,
       ok.xfer_end_ts AS last_success,
       (SELECT count(*) FROM gn_flux.data_json d WHERE d.source = s.name AND d.controler = 'data') AS rows,
       localtimestamp - ok.xfer_end_ts AS lag,
       s.watermark,
       coalesce(last.data_count_errors, 0) AS last_errors,
       (SELECT count(*) FROM gn_flux.import_log f WHERE f.source = s.name AND f.xfer_status = 'failed'
           AND f.id > coalesce(ok.id, 0)) AS failures_since_success,
       gn_flux._schedule_of(s.name) AS schedule
  FROM gn_flux.source s
  LEFT JOIN LATERAL (SELECT * FROM gn_flux.import_log l WHERE l.source = s.name ORDER BY l.id DESC LIMIT 1) last ON true
  LEFT JOIN LATERAL (SELECT * FROM gn_flux.import_log l WHERE l.source = s.name AND l.xfer_status = 'success'
                      ORDER BY l.id DESC LIMIT 1) ok ON true;
COMMENT ON VIEW gn_flux.status IS
  'One row per source: last run (mode, status, duration, message), last success, rows stored, lag since the last success, errors of the last run, failures since the last success, pg_cron schedule.';
GRANT SELECT ON gn_flux.status TO PUBLIC;

REVOKE ALL ON FUNCTION gn_flux.add_source(text, text, integer, text, text, text, text, jsonb, integer, integer, boolean,
    integer, integer, integer, integer, text, interval, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.drop_source(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.schedule_source(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.unschedule_source(text) FROM PUBLIC;
