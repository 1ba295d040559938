-- gn_flux 0.1.0 -> 0.2.0 ("Trust and structure"). Re-runnable; frozen once 0.2.0 is released.
-- Data is kept: new columns have defaults, no table is rewritten. tests/e2e/run.sh installs the
-- frozen 0.1.0 script, runs ALTER EXTENSION gn_flux UPDATE and compares the catalog with a fresh
-- 0.2.0 install.
\echo Use "ALTER EXTENSION gn_flux UPDATE TO '0.2.0'" to load this file. \quit

-- Objects whose signature changed or that became something else: dropped, created below.
DROP FUNCTION IF EXISTS gn_flux.pull_all();
DROP FUNCTION IF EXISTS gn_flux.add_source(text, text, integer, text, text, text, text, jsonb, integer, integer, boolean,
    integer, integer, integer, integer, text, interval, text, boolean);
DROP FUNCTION IF EXISTS gn_flux._check_source(text, text, integer, text, text, text, text, jsonb, integer, integer, integer,
    integer, integer, integer, text, interval, text);

-- Part 0: the monitoring role and who sees run details.
-- gn_flux install script, part 0: the schema itself.
-- The control file names the schema (gn_flux, not relocatable), so CREATE EXTENSION creates it.
COMMENT ON SCHEMA gn_flux IS
  'gn_flux: GeoNature data exchange inside PostgreSQL (pull exports into GN2PG-compatible staging tables, publish views as files and APIs)';
-- Other roles may look at what is granted to them (the status view, the non-secret columns of
-- gn_flux.source); everything else is granted by administrators.
GRANT USAGE ON SCHEMA gn_flux TO PUBLIC;
-- The monitoring role: its members (and superusers) see the details of runs (error messages,
-- file paths), which may quote observation data; other roles see a summary. Roles are
-- cluster-wide, so it may already exist (another database, an earlier install): it is kept
-- when the extension is dropped.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'gn_flux_monitor') THEN
        CREATE ROLE gn_flux_monitor NOLOGIN;
    END IF;
END
$$;

-- Whether the current role may see run details (error texts, paths) of `owner`'s runs.
CREATE OR REPLACE FUNCTION gn_flux._may_see_details(owner name DEFAULT NULL) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.pg_has_role(current_user, 'gn_flux_monitor', 'MEMBER')
        OR (owner IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = owner)
            AND pg_catalog.pg_has_role(current_user, owner, 'MEMBER'))
$$;
COMMENT ON FUNCTION gn_flux._may_see_details(name) IS
  'internal: true for superusers, members of gn_flux_monitor and members of owner: they see error details and paths in the status views';

-- Part 1: the staging tables are dumped by pg_dump with their rows.
SELECT pg_catalog.pg_extension_config_dump('gn_flux.import_log', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.import_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.error_log', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.data_json', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.metadata_json', '');

-- Part 1b: keys of items of other kinds.
-- gn_flux: the keys of items of other kinds (WFS, OGC API, JSON, GBIF) and the integer id_data
-- that stands for each in data_json (GN2PG's layout keys rows by an integer; a feature id or a
-- GBIF key is text or beyond 32 bits). A key keeps its id_data for as long as the source exists.
CREATE TABLE gn_flux.feed_key (
    source varchar NOT NULL,
    key text NOT NULL,
    id_data serial NOT NULL,
    first_seen timestamp without time zone DEFAULT now() NOT NULL,
    PRIMARY KEY (source, key),
    CONSTRAINT feed_key_id_data UNIQUE (id_data)
);
SELECT pg_catalog.pg_extension_config_dump('gn_flux.feed_key', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.feed_key_id_data_seq', '');
COMMENT ON TABLE gn_flux.feed_key IS
  'gn_flux: the key of each staged item of a source of another kind than geonature (a feature id, a GBIF key…) and the data_json.id_data standing for it.';

-- Part 2: sources: secrets in files, plain http refused for credentials, dumped by pg_dump.
ALTER TABLE gn_flux.source ADD COLUMN IF NOT EXISTS password_file text;
ALTER TABLE gn_flux.source ADD COLUMN IF NOT EXISTS token_file text;
ALTER TABLE gn_flux.source ADD COLUMN IF NOT EXISTS allow_insecure_http boolean NOT NULL DEFAULT false;
-- Sources of other kinds (WFS, OGC API, JSON, GBIF): no export id.
ALTER TABLE gn_flux.source ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'geonature';
ALTER TABLE gn_flux.source ADD COLUMN IF NOT EXISTS options jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE gn_flux.source ALTER COLUMN export_id DROP NOT NULL;
ALTER TABLE gn_flux.source ALTER COLUMN url DROP NOT NULL;
SELECT pg_catalog.pg_extension_config_dump('gn_flux.source', '');
COMMENT ON TABLE gn_flux.source IS
  'Sources pulled by gn_flux.pull_source(): remote GeoNature exports, WFS layers, OGC API collections, JSON APIs and GBIF searches (kind). Rows may be changed with UPDATE; the same validation as gn_flux.add_source() applies. password and token are readable only by the owner and superusers.';
COMMENT ON COLUMN gn_flux.source.name IS 'Source name, also the value of the source column of data_json, import_log, error_log (lower case letters, digits, _).';
COMMENT ON COLUMN gn_flux.source.url IS 'GeoNature root, e.g. https://host/geonature (the API is under /api/); for other kinds the WFS endpoint, OGC API landing page, JSON API or GBIF API root; NULL for an intake (kind post).';
COMMENT ON COLUMN gn_flux.source.export_id IS 'Id of the export in the remote Export module (/api/exports/api/<id>); geonature sources only (required there).';
COMMENT ON COLUMN gn_flux.source.login IS 'GeoNature login (with password); NULL for a public export or a token.';
COMMENT ON COLUMN gn_flux.source.password IS 'Secret: not readable by other roles.';
COMMENT ON COLUMN gn_flux.source.token IS 'Secret: export token, sent in the api-key header.';
COMMENT ON COLUMN gn_flux.source.data_type IS 'GN2PG data type, stored in data_json.type: synthese_with_cd_nomenclature, synthese_with_label, synthese_with_metadata or synthese_with_metadata_separated.';
COMMENT ON COLUMN gn_flux.source.query_strings IS 'Extra export API parameters (a JSON object of scalars), e.g. {"cd_nom": 61098}.';
COMMENT ON COLUMN gn_flux.source.page_size IS 'Rows requested per page (servers cap it, usually at 1000).';
COMMENT ON COLUMN gn_flux.source.metadata_export_id IS 'Export serving acquisition frameworks with their datasets (GN2PG separated metadata).';
COMMENT ON COLUMN gn_flux.source.max_retries IS 'Retries of a failed request (429, 5xx, timeouts, connection errors, truncated bodies).';
COMMENT ON COLUMN gn_flux.source.retry_backoff_ms IS 'First retry delay; doubles each retry (cap 120 s), plus up to 1 s of jitter; Retry-After is honoured.';
COMMENT ON COLUMN gn_flux.source.connect_timeout_ms IS 'NULL: the gn_flux.http_connect_timeout_ms setting.';
COMMENT ON COLUMN gn_flux.source.read_timeout_ms IS 'NULL: the gn_flux.http_timeout_ms setting.';
COMMENT ON COLUMN gn_flux.source.module_path IS 'Path of the remote Export module; NULL: discovered from /api/gn_commons/modules.';
COMMENT ON COLUMN gn_flux.source.update_overlap IS 'Update pulls start this long before the watermark (late commits on the remote side).';
COMMENT ON COLUMN gn_flux.source.paging IS 'keyset (default; falls back to offset paging when the server ignores keyset bounds) or offset.';
COMMENT ON COLUMN gn_flux.source.password_file IS 'File name, in the directory set by gn_flux.secrets_directory, holding the password (recommended over password: the secret never appears in SQL text or the server log). The file must be readable by the server''s OS user only (mode 600).';
COMMENT ON COLUMN gn_flux.source.token_file IS 'File name, in gn_flux.secrets_directory, holding the export token (recommended over token; mode 600).';
COMMENT ON COLUMN gn_flux.source.allow_insecure_http IS 'Send the login, password or token over plain http:// to a host that is not the local machine (default false: https is required for credentials, loopback excepted).';
COMMENT ON COLUMN gn_flux.source.kind IS 'geonature (an Export module export, default), wfs (a WFS 2.0 layer), ogcapi (an OGC API - Features collection), json (a paginated JSON API), gbif (GBIF occurrence search) or post (an intake: observations posted to the API workers, see README API POST). Items are staged in data_json with type = kind (geonature: data_type).';
COMMENT ON COLUMN gn_flux.source.options IS 'Options of the other kinds (a JSON object, checked on save): wfs typename, sort, output, geojson_format, bbox, geometry_name, filter, version; ogcapi collection, bbox, datetime; json paging, items, page_param, limit_param, offset_param, cursor_param, cursor, next, total, modified_param, stop_on_short_page; post role, max_items; every kind id, uuid, modified, srid, geometry, lon_lat, api_key_header. See the README.';
COMMENT ON COLUMN gn_flux.source.watermark IS 'Largest derniere_action seen by successful pulls (remote clock); the next update pull starts from it, minus update_overlap.';

-- Secrets: other roles may read every column but password and token.
REVOKE ALL ON gn_flux.source FROM PUBLIC;
GRANT SELECT (name, url, export_id, login, data_type, query_strings, page_size, metadata_export_id, enabled,
              max_retries, retry_backoff_ms, connect_timeout_ms, read_timeout_ms, module_path,
              update_overlap, paging, watermark, created_at, password_file, token_file, allow_insecure_http,
              kind, options)
   ON gn_flux.source TO PUBLIC;

-- The Rust function behind the source check now takes the whole row.
CREATE OR REPLACE FUNCTION gn_flux."_check_source"(
	"row" jsonb /* pgrx :: JsonB */
) RETURNS TEXT /* SqlResult < String > */
STRICT 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'check_source_row_wrapper';
CREATE OR REPLACE FUNCTION gn_flux."_probe_source"(
	"name" TEXT /* & str */
) RETURNS VOID /* SqlResult < () > */
STRICT 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'probe_source_wrapper';
-- requires:
--   check_source
--   probe_source


COMMENT ON FUNCTION gn_flux._check_source(jsonb) IS 'internal: validates a source row (as gn_flux._source_json gives it), returns the normalised url';
COMMENT ON FUNCTION gn_flux._probe_source(text) IS 'internal: checks that a source answers as a GeoNature export';
REVOKE ALL ON FUNCTION gn_flux._probe_source(text) FROM PUBLIC;

-- Part 3: source functions (search_path pinned), the status view, pull_all as a procedure.
-- gn_flux install script, part 3: source management in SQL (the checks themselves are in Rust:
-- gn_flux._check_source, shared by add_source and the trigger below).

-- Search paths: every function here pins `search_path = pg_catalog, pg_temp` and names gn_flux
-- objects with their schema, so no role can plant a function or operator that one of them
-- would call (a schema named like the caller comes first on the default path). Exceptions,
-- each commented where it is defined: functions that write to the staging tables, whose DBA
-- triggers run with the caller's path as they do during a pull.

-- One source row as the Rust side reads it (gn_client's SourceDefinition): the row as JSON,
-- with update_overlap in seconds (an interval's text form depends on IntervalStyle).
CREATE OR REPLACE FUNCTION gn_flux._source_json(s gn_flux.source) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.to_jsonb(s) || pg_catalog.jsonb_build_object('update_overlap', extract(epoch FROM s.update_overlap)) $$;
COMMENT ON FUNCTION gn_flux._source_json(gn_flux.source) IS 'internal: a source row as JSON for the Rust side (update_overlap in seconds)';

CREATE OR REPLACE FUNCTION gn_flux._source_before_write() RETURNS trigger
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
DROP TRIGGER IF EXISTS source_validate ON gn_flux.source;
CREATE TRIGGER source_validate BEFORE INSERT OR UPDATE ON gn_flux.source
    FOR EACH ROW EXECUTE FUNCTION gn_flux._source_before_write();

-- Masks the secrets of a source row before it is shown.
CREATE OR REPLACE FUNCTION gn_flux._masked(s gn_flux.source) RETURNS gn_flux.source
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
CREATE OR REPLACE FUNCTION gn_flux.add_source(
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
CREATE OR REPLACE FUNCTION gn_flux.drop_source(name text, keep_data boolean DEFAULT false) RETURNS void
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
CREATE OR REPLACE FUNCTION gn_flux._job_name(source text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$ SELECT 'gn_flux_pull_' || source $$;
COMMENT ON FUNCTION gn_flux._job_name(text) IS 'internal: pg_cron job name of a source';

CREATE OR REPLACE FUNCTION gn_flux._cron_schedule(jobname text) RETURNS text
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

CREATE OR REPLACE FUNCTION gn_flux._schedule_of(source text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$ SELECT gn_flux._cron_schedule(gn_flux._job_name(source)) $$;
COMMENT ON FUNCTION gn_flux._schedule_of(text) IS 'internal: pg_cron schedule of a source, NULL if none or pg_cron is absent';

CREATE OR REPLACE FUNCTION gn_flux._cron_schedule_job(jobname text, schedule text, command text, example text, meaning text)
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

CREATE OR REPLACE FUNCTION gn_flux.schedule_source(name text, schedule text) RETURNS bigint
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

CREATE OR REPLACE FUNCTION gn_flux.unschedule_source(name text) RETURNS void
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

-- import_log: what the GeoNature load did in each run.
ALTER TABLE gn_flux.import_log ADD COLUMN IF NOT EXISTS synthese_upserts integer DEFAULT 0 NOT NULL;
ALTER TABLE gn_flux.import_log ADD COLUMN IF NOT EXISTS synthese_deletes integer DEFAULT 0 NOT NULL;
ALTER TABLE gn_flux.import_log ADD COLUMN IF NOT EXISTS synthese_rejects integer DEFAULT 0 NOT NULL;
COMMENT ON COLUMN gn_flux.import_log.synthese_upserts IS 'gn_flux: observations inserted or changed in gn_synthese.synthese by the GeoNature load (gn_flux.enable_synthese).';
COMMENT ON COLUMN gn_flux.import_log.synthese_deletes IS 'gn_flux: observations removed from gn_synthese.synthese (gone upstream).';
COMMENT ON COLUMN gn_flux.import_log.synthese_rejects IS 'gn_flux: staged observations the GeoNature load rejected (reasons in gn_flux.synthese_reject).';

-- The GeoNature load (sql/schema/025_synthese_tables.sql).
-- The load itself is in sql/synthese/ (one file per target); these are its settings and records.

CREATE TABLE IF NOT EXISTS gn_flux.synthese_load (
    source text PRIMARY KEY REFERENCES gn_flux.source (name) ON UPDATE CASCADE ON DELETE CASCADE,
    id_source integer NOT NULL,
    default_nomenclatures boolean NOT NULL DEFAULT false,
    enabled_at timestamptz NOT NULL DEFAULT now(),
    enabled_by name NOT NULL DEFAULT current_user
);
SELECT pg_catalog.pg_extension_config_dump('gn_flux.synthese_load', '');
COMMENT ON TABLE gn_flux.synthese_load IS
  'Sources whose pulls keep the local GeoNature in step (gn_flux.enable_synthese): observations in gn_synthese.synthese under id_source, metadata in gn_meta, actors in utilisateurs.';
COMMENT ON COLUMN gn_flux.synthese_load.id_source IS 'gn_synthese.t_sources row of this source (name_source = the source name).';
COMMENT ON COLUMN gn_flux.synthese_load.default_nomenclatures IS 'An unknown nomenclature code takes GeoNature''s default value (recorded in synthese_reject with action ''defaulted'') instead of rejecting the row.';

CREATE TABLE IF NOT EXISTS gn_flux.synthese_column (
    source text NOT NULL REFERENCES gn_flux.source (name) ON UPDATE CASCADE ON DELETE CASCADE,
    column_name text NOT NULL,
    expression text NOT NULL,
    set_by name NOT NULL DEFAULT current_user,
    set_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, column_name)
);
SELECT pg_catalog.pg_extension_config_dump('gn_flux.synthese_column', '');
COMMENT ON TABLE gn_flux.synthese_column IS
  'Per-source overrides of one column of the observation mapping (gn_flux.set_synthese_column): the expression replaces the default one over the staged row s (s.item jsonb, s.geom, s.uuid, s.id_data).';

CREATE TABLE IF NOT EXISTS gn_flux.synthese_reject (
    id bigserial PRIMARY KEY,
    source text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('observation', 'acquisition framework', 'dataset', 'organism', 'role')),
    id_data integer,
    uuid uuid,
    field text NOT NULL,
    value text,
    problem text NOT NULL,
    action text NOT NULL CHECK (action IN ('rejected', 'defaulted')),
    import_id integer,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('gn_flux.synthese_reject', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.synthese_reject_id_seq', '');
CREATE INDEX IF NOT EXISTS ix_gn_flux_synthese_reject_row ON gn_flux.synthese_reject (source, kind, id_data);
CREATE INDEX IF NOT EXISTS ix_gn_flux_synthese_reject_uuid ON gn_flux.synthese_reject (source, kind, uuid);
COMMENT ON TABLE gn_flux.synthese_reject IS
  'What the GeoNature load could not write as received, field by field: rejected (the row stays out of GeoNature, or keeps its previous version) or defaulted (written with GeoNature''s default nomenclature). Cleared when the row loads cleanly (gn_flux.replay_synthese after fixing a referential).';
COMMENT ON COLUMN gn_flux.synthese_reject.id_data IS 'Observations: data_json.id_data (the remote id_synthese).';
COMMENT ON COLUMN gn_flux.synthese_reject.field IS 'The GeoNature column (observations: gn_synthese.synthese column) the problem is about.';
COMMENT ON COLUMN gn_flux.synthese_reject.value IS 'The value as received.';
COMMENT ON COLUMN gn_flux.synthese_reject.import_id IS 'The pull (import_log.id) that last tried the row; NULL for load_synthese and replay_synthese.';

REVOKE ALL ON gn_flux.synthese_load, gn_flux.synthese_column, gn_flux.synthese_reject FROM PUBLIC;

CREATE OR REPLACE VIEW gn_flux.status AS
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
-- schema-qualified and it compares nothing.
CREATE OR REPLACE PROCEDURE gn_flux.pull_all()
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
-- requires:
--   pull_source


COMMENT ON FUNCTION gn_flux.pull_source(text, text, timestamptz) IS
  'Pulls a source into data_json/metadata_json: mode auto (update if the source has a successful run, else full), full or update; since overrides the update window start. Atomic: on failure nothing changes, import_log records why, and the returned status is failed.';
REVOKE ALL ON FUNCTION gn_flux.pull_source(text, text, timestamptz) FROM PUBLIC;

-- Part 4: exports: unique file stems, owned schedules and logs (row-level security), details
-- for owners and monitors, dumped by pg_dump.
CREATE OR REPLACE FUNCTION gn_flux."_export_file_stem"(
	"label" TEXT /* & str */
) RETURNS TEXT /* String */
IMMUTABLE STRICT PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'export_file_stem_wrapper';
-- requires:
--   export_file_stem

COMMENT ON FUNCTION gn_flux._export_file_stem(text) IS
  'internal: stem of the scheduled file names of an export label (accents and punctuation removed, as GeoNature does)';
SELECT pg_catalog.pg_extension_config_dump('gn_flux.licence', 'WHERE id_licence > 3');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.licence_id_licence_seq', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.export', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.export_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.export_schedule', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.export_schedule_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.export_log', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.export_log_id_seq', '');
-- 0.1.0 let pg_write_server_files write any export_log row: now only removed_at, under RLS.
REVOKE ALL ON gn_flux.export_log FROM pg_write_server_files;
-- pg_dump keeps the licences users add, not the three seeded here.
COMMENT ON TABLE gn_flux.licence IS 'Licences of exports, as GeoNature''s gn_exports.t_licences (the same three seeded rows).';
COMMENT ON TABLE gn_flux.export IS
  'Registered exports, as GeoNature''s gn_exports.t_exports. INSERT/UPDATE are checked (the relation must exist and be readable, the columns real) and missing view_pk_column, geometry_field and geometry_srid are detected.';
COMMENT ON COLUMN gn_flux.export.label IS 'Unique name; sanitised (gn_flux._export_file_stem), it is also the file name of scheduled files (GeoNature''s rule), so two labels may not give the same file name.';
COMMENT ON COLUMN gn_flux.export.view_pk_column IS 'Column identifying rows: the GeoJSON feature id (GeoNature''s id_synthese for Synthese views).';
COMMENT ON COLUMN gn_flux.export.geometry_field IS 'PostGIS geometry column written as the feature geometry; NULL for non-spatial exports.';
COMMENT ON COLUMN gn_flux.export.geometry_srid IS 'SRID files are written in (geometries are reprojected when it differs from the column''s); GeoJSON is always EPSG:4326.';
COMMENT ON COLUMN gn_flux.export.public IS 'Public export (as GeoNature''s public flag, open without authentication in GeoNature''s API). Files of public exports are written readable by all (0644), of private ones by the server''s OS user only (0600).';

CREATE OR REPLACE FUNCTION gn_flux._export_check() RETURNS trigger
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
DROP TRIGGER IF EXISTS export_check ON gn_flux.export;
CREATE TRIGGER export_check BEFORE INSERT OR UPDATE ON gn_flux.export
    FOR EACH ROW EXECUTE FUNCTION gn_flux._export_check();

CREATE OR REPLACE FUNCTION gn_flux.add_export(
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
COMMENT ON TABLE gn_flux.export_schedule IS
  'Scheduled file exports (one pg_cron job gn_flux_export_<id> each, run as created_by). Files: <directory>/<Label>_<YYYY_MM_DD_HHhMMmSS>.<ext>, and <Label>.<ext> for the newest.';
COMMENT ON TABLE gn_flux.export_log IS
  'One row per file written by export_to_file() (schedule_id NULL) or by a scheduled run (failed runs too, with the error). removed_at: the file was removed by the retention policy. Readable by superusers, members of gn_flux_monitor, and each role for its own runs (row-level security).';

CREATE OR REPLACE FUNCTION gn_flux._export_job_name(schedule_id integer) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT 'gn_flux_export_' || schedule_id $$;
COMMENT ON FUNCTION gn_flux._export_job_name(integer) IS 'internal: pg_cron job name of an export schedule';

CREATE OR REPLACE FUNCTION gn_flux.schedule_export(label text, format text, directory text, schedule text) RETURNS bigint
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

CREATE OR REPLACE FUNCTION gn_flux.unschedule_export(label text, format text DEFAULT NULL) RETURNS integer
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

CREATE OR REPLACE FUNCTION gn_flux.drop_export(label text) RETURNS void
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

CREATE OR REPLACE VIEW gn_flux.export_status AS
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
DROP POLICY IF EXISTS export_schedule_read ON gn_flux.export_schedule;
CREATE POLICY export_schedule_read ON gn_flux.export_schedule FOR SELECT USING (true);
DROP POLICY IF EXISTS export_schedule_insert ON gn_flux.export_schedule;
CREATE POLICY export_schedule_insert ON gn_flux.export_schedule FOR INSERT TO pg_write_server_files
    WITH CHECK (created_by = current_user);
DROP POLICY IF EXISTS export_schedule_update ON gn_flux.export_schedule;
CREATE POLICY export_schedule_update ON gn_flux.export_schedule FOR UPDATE TO pg_write_server_files
    USING (created_by = current_user) WITH CHECK (created_by = current_user);
DROP POLICY IF EXISTS export_schedule_delete ON gn_flux.export_schedule;
CREATE POLICY export_schedule_delete ON gn_flux.export_schedule FOR DELETE TO pg_write_server_files
    USING (created_by = current_user);

ALTER TABLE gn_flux.export_log ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS export_log_read ON gn_flux.export_log;
CREATE POLICY export_log_read ON gn_flux.export_log FOR SELECT
    USING (gn_flux._may_see_details(run_by));
DROP POLICY IF EXISTS export_log_insert ON gn_flux.export_log;
CREATE POLICY export_log_insert ON gn_flux.export_log FOR INSERT TO pg_write_server_files
    WITH CHECK (run_by = current_user
                AND (schedule_id IS NULL
                     OR EXISTS (SELECT 1 FROM gn_flux.export_schedule s
                                 WHERE s.id = export_log.schedule_id AND s.created_by = current_user)));
DROP POLICY IF EXISTS export_log_update ON gn_flux.export_log;
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

-- The GeoNature load: its SQL helpers and functions (sql/schema/050_synthese.sql).
-- The small conversions below are SQL-standard bodies (RETURN …): their names and operators are
-- bound when the extension is created (no search_path at run time) and PostgreSQL inlines them
-- into the set-based statements, so they cost no function call per row. A value that does not
-- convert gives NULL, and the mapping records the problem: a hostile or sloppy remote cannot make
-- a whole load fail with one bad value.

CREATE OR REPLACE FUNCTION gn_flux._uuid(v text) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN v ~* '^\s*[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\s*$'
            THEN pg_catalog.btrim(v)::uuid END;
COMMENT ON FUNCTION gn_flux._uuid(text) IS 'internal: text to uuid, NULL when it is not one';

CREATE OR REPLACE FUNCTION gn_flux._int(v text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN v ~ '^\s*[-+]?[0-9]{1,18}\s*$'
            THEN CASE WHEN v::bigint BETWEEN -2147483648 AND 2147483647 THEN v::bigint::integer END END;
COMMENT ON FUNCTION gn_flux._int(text) IS 'internal: text to integer, NULL when it is not one or out of range';

CREATE OR REPLACE FUNCTION gn_flux._bool(v text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE pg_catalog.lower(pg_catalog.btrim(v)) WHEN 'true' THEN true WHEN 't' THEN true WHEN '1' THEN true
                                                  WHEN 'false' THEN false WHEN 'f' THEN false WHEN '0' THEN false END;
COMMENT ON FUNCTION gn_flux._bool(text) IS 'internal: text to boolean, NULL when it is not one';

CREATE OR REPLACE FUNCTION gn_flux._array(v jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN pg_catalog.jsonb_typeof(v) = 'array' THEN v ELSE '[]'::jsonb END;
COMMENT ON FUNCTION gn_flux._array(jsonb) IS 'internal: the JSON array, or an empty one for anything else';

-- A nomenclature by type and code (or label): `ids` maps type → code → id_nomenclature. An absent
-- value takes GeoNature's default for the type (as the synthese column default would); an
-- unknown one takes it only when use_default, else NULL (the row is then rejected).
CREATE OR REPLACE FUNCTION gn_flux._nomenclature(ids jsonb, defaults jsonb, type text, code text, use_default boolean) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN code IS NULL THEN (defaults ->> type)::integer
            ELSE coalesce((ids -> type ->> code)::integer,
                                     CASE WHEN use_default THEN (defaults ->> type)::integer END) END;
COMMENT ON FUNCTION gn_flux._nomenclature(jsonb, jsonb, text, text, boolean) IS
  'internal: id_nomenclature of a code or label of a type, the default for an absent value, NULL (or the default when use_default) for an unknown one';

CREATE OR REPLACE FUNCTION gn_flux._nomenclature_problem(ids jsonb, by text, type text, code text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN code IS NOT NULL AND (ids -> type ->> code) IS NULL
            THEN pg_catalog.jsonb_build_array(code, pg_catalog.format('unknown %s %s', type, by)) END;
COMMENT ON FUNCTION gn_flux._nomenclature_problem(jsonb, text, text, text) IS
  'internal: [value, why] when a code (or label) is not one of the type''s, else NULL';

CREATE OR REPLACE FUNCTION gn_flux._dataset_nomenclature_problems(ids jsonb, item jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
    'id_nomenclature_data_type', gn_flux._nomenclature_problem(ids, 'code', 'DATA_TYP', item ->> 'data_type'),
    'id_nomenclature_dataset_objectif', gn_flux._nomenclature_problem(ids, 'code', 'JDD_OBJECTIFS', item ->> 'dataset_objectif'),
    'id_nomenclature_collecting_method', gn_flux._nomenclature_problem(ids, 'code', 'METHO_RECUEIL', item ->> 'collecting_method'),
    'id_nomenclature_data_origin', gn_flux._nomenclature_problem(ids, 'code', 'DS_PUBLIQUE', item ->> 'data_origin'),
    'id_nomenclature_source_status', gn_flux._nomenclature_problem(ids, 'code', 'STATUT_SOURCE', item ->> 'source_status'),
    'id_nomenclature_resource_type', gn_flux._nomenclature_problem(ids, 'code', 'RESOURCE_TYP', item ->> 'resource_type')));
COMMENT ON FUNCTION gn_flux._dataset_nomenclature_problems(jsonb, jsonb) IS
  'internal: the unknown nomenclature codes of a dataset item, by gn_meta.t_datasets column';

-- The nomenclatures of this database, once per statement: type → code (or, with labels, the
-- default label: synthese_with_label) → id. A plain body (parsed when called) since
-- ref_nomenclatures need not exist when gn_flux is installed.
CREATE OR REPLACE FUNCTION gn_flux._nomenclature_ids(labels boolean DEFAULT false) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(pg_catalog.jsonb_object_agg(x.mnemonique, x.ids), '{}'::jsonb)
      FROM (SELECT t.mnemonique,
                   pg_catalog.jsonb_object_agg(CASE WHEN labels THEN n.label_default ELSE n.cd_nomenclature END,
                                               n.id_nomenclature) AS ids
              FROM ref_nomenclatures.t_nomenclatures n
              JOIN ref_nomenclatures.bib_nomenclatures_types t ON t.id_type = n.id_type
             WHERE n.active AND CASE WHEN labels THEN n.label_default ELSE n.cd_nomenclature END IS NOT NULL
             GROUP BY t.mnemonique) x
$$;
COMMENT ON FUNCTION gn_flux._nomenclature_ids(boolean) IS
  'internal: {type: {cd_nomenclature (label_default with labels): id_nomenclature}} of the active nomenclatures';

-- gn_flux::synthese::check_geonature
CREATE OR REPLACE FUNCTION gn_flux."check_geonature"() RETURNS TABLE (
	"object" TEXT,  /* String */
	"problem" TEXT  /* String */
)
STRICT 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'check_geonature_wrapper';
-- gn_flux::synthese::disable_synthese
CREATE OR REPLACE FUNCTION gn_flux."disable_synthese"(
	"source" TEXT, /* Option < & str > */
	"remove_observations" bool DEFAULT false /* Option < bool > */
) RETURNS bigint /* SqlResult < i64 > */

LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'disable_synthese_wrapper';
-- gn_flux::synthese::enable_synthese
CREATE OR REPLACE FUNCTION gn_flux."enable_synthese"(
	"source" TEXT, /* Option < & str > */
	"default_nomenclatures" bool DEFAULT false, /* Option < bool > */
	"load" bool DEFAULT true /* Option < bool > */
) RETURNS TABLE (
	"source" TEXT,  /* String */
	"inserted" bigint,  /* i64 */
	"updated" bigint,  /* i64 */
	"rejected" bigint,  /* i64 */
	"defaulted" bigint,  /* i64 */
	"deleted" bigint,  /* i64 */
	"metadata_written" bigint,  /* i64 */
	"metadata_rejected" bigint  /* i64 */
)

LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'enable_synthese_wrapper';
-- gn_flux::synthese::load_synthese
CREATE OR REPLACE FUNCTION gn_flux."load_synthese"(
	"source" TEXT /* Option < & str > */
) RETURNS TABLE (
	"source" TEXT,  /* String */
	"inserted" bigint,  /* i64 */
	"updated" bigint,  /* i64 */
	"rejected" bigint,  /* i64 */
	"defaulted" bigint,  /* i64 */
	"deleted" bigint,  /* i64 */
	"metadata_written" bigint,  /* i64 */
	"metadata_rejected" bigint  /* i64 */
)

LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'load_synthese_wrapper';
-- gn_flux::synthese::replay_synthese
CREATE OR REPLACE FUNCTION gn_flux."replay_synthese"(
	"source" TEXT /* Option < & str > */
) RETURNS TABLE (
	"source" TEXT,  /* String */
	"inserted" bigint,  /* i64 */
	"updated" bigint,  /* i64 */
	"rejected" bigint,  /* i64 */
	"defaulted" bigint,  /* i64 */
	"deleted" bigint,  /* i64 */
	"metadata_written" bigint,  /* i64 */
	"metadata_rejected" bigint  /* i64 */
)

LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'replay_synthese_wrapper';
-- gn_flux::synthese::set_synthese_column
CREATE OR REPLACE FUNCTION gn_flux."set_synthese_column"(
	"source" TEXT, /* Option < & str > */
	"column_name" TEXT, /* Option < & str > */
	"expression" TEXT /* Option < & str > */
) RETURNS VOID /* SqlResult < () > */

LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'set_synthese_column_wrapper';
-- gn_flux::synthese::synthese_mapping
CREATE OR REPLACE FUNCTION gn_flux."synthese_mapping"(
	"source" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TABLE (
	"column_name" TEXT,  /* String */
	"expression" TEXT,  /* String */
	"value_type" TEXT,  /* String */
	"overridden" bool  /* bool */
)

LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'synthese_mapping_wrapper';
-- gn_flux::synthese::synthese_preview
CREATE OR REPLACE FUNCTION gn_flux."synthese_preview"(
	"source" TEXT, /* Option < & str > */
	"id_data" INT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < i32 > > */
	"max_rows" INT DEFAULT 100 /* Option < i32 > */
) RETURNS TABLE (
	"id_data" INT,  /* i32 */
	"action" TEXT,  /* String */
	"synthese" jsonb,  /* JsonB */
	"problems" jsonb  /* JsonB */
)

LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'synthese_preview_wrapper';
-- gn_flux::synthese::to_jsonb_or_null
CREATE OR REPLACE FUNCTION gn_flux."to_jsonb_or_null"(
	"value" TEXT /* & str */
) RETURNS jsonb /* Option < JsonB > */
IMMUTABLE STRICT PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'to_jsonb_or_null_wrapper';
-- gn_flux::synthese::to_timestamp_or_null
CREATE OR REPLACE FUNCTION gn_flux."to_timestamp_or_null"(
	"value" TEXT /* & str */
) RETURNS timestamp /* Option < pgrx :: datum :: Timestamp > */
IMMUTABLE STRICT PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'to_timestamp_or_null_wrapper';
COMMENT ON FUNCTION gn_flux.to_timestamp_or_null(text) IS
  'The timestamp in a GeoNature export value (ISO 8601 with a space or T, optional fraction and offset, or a date), NULL when it is not one. Used by the Synthese mapping; usable in column overrides.';
COMMENT ON FUNCTION gn_flux.to_jsonb_or_null(text) IS
  'The JSON document in a text, NULL when it is not JSON. Used by the Synthese mapping for donnees_additionnelles served as text.';
COMMENT ON FUNCTION gn_flux.enable_synthese(text, boolean, boolean) IS
  'From now on, every pull of the source keeps the local GeoNature in step (Synthese, metadata, actors), in the pull''s transaction. Checks the database first (gn_flux.check_geonature). load: also load what is already staged. default_nomenclatures: unknown nomenclature codes take GeoNature''s default (recorded) instead of rejecting the row.';
COMMENT ON FUNCTION gn_flux.disable_synthese(text, boolean) IS
  'Pulls of the source no longer touch GeoNature; remove_observations also deletes the source''s rows from gn_synthese.synthese. Returns the rows deleted.';
COMMENT ON FUNCTION gn_flux.load_synthese(text) IS
  'Loads what is staged for the source (metadata, then every observation) into GeoNature, set-based; the load must be enabled.';
COMMENT ON FUNCTION gn_flux.replay_synthese(text) IS
  'Re-applies the mapping to the staged rows and metadata that were rejected (after a referential was fixed): rows that now pass are loaded and their rejects cleared.';
COMMENT ON FUNCTION gn_flux.synthese_preview(text, integer[], integer) IS
  'Dry run: the gn_synthese.synthese rows the load would write for staged rows of the source (as jsonb, see jsonb_populate_record), what it would do, and each row''s problems. Writes nothing.';
COMMENT ON FUNCTION gn_flux.check_geonature() IS
  'What this database lacks, or has differently, for the GeoNature load (GeoNature 2.17): one row per problem, none when everything is there.';
COMMENT ON FUNCTION gn_flux.set_synthese_column(text, text, text) IS
  'Overrides one column of the observation mapping for one source with an SQL expression over the staged row s (s.item, s.geom, s.uuid, s.id_data), checked by compiling the mapping; NULL restores the default.';
COMMENT ON FUNCTION gn_flux.synthese_mapping(text) IS
  'The observation mapping: synthese column ← expression over the staged row, with the source''s overrides when a source is given.';

REVOKE ALL ON FUNCTION gn_flux.enable_synthese(text, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.disable_synthese(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.load_synthese(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.replay_synthese(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.synthese_preview(text, integer[], integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.set_synthese_column(text, text, text) FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- Serve I: the API workers' objects (tokens, sessions, access log, worker status, deletion log).
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION gn_flux."_api_token_hash"(
	"token" TEXT
) RETURNS TEXT
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'api_token_hash_wrapper';
CREATE FUNCTION gn_flux."_api_token_secret"() RETURNS TABLE (
	"token" TEXT,
	"hash" TEXT
)
STRICT VOLATILE
LANGUAGE c
AS 'MODULE_PATHNAME', 'api_token_secret_wrapper';
COMMENT ON FUNCTION gn_flux._api_token_secret() IS 'internal: a new API token and its stored hash (create_api_token)';
COMMENT ON FUNCTION gn_flux._api_token_hash(text) IS 'internal: the stored hash of an API token';

-- request run as that role; anonymous callers read public exports as gn_flux.api_public_role.

-- The role anonymous callers read public exports as (the default of gn_flux.api_public_role).
-- Roles are cluster-wide: it may already exist, and it is kept when the extension is dropped.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'gn_flux_anonymous') THEN
        CREATE ROLE gn_flux_anonymous NOLOGIN;
    END IF;
END
$$;

-- Export tokens. Only the SHA-256 of a token is stored; the token is shown once by
-- create_api_token. Roles create tokens for roles they belong to (row-level security), and see
-- and revoke their own; superusers and gn_flux_monitor members see all.
CREATE TABLE gn_flux.api_token (
    id           serial PRIMARY KEY,
    export_id    integer NOT NULL REFERENCES gn_flux.export (id) ON DELETE CASCADE,
    role_name    name NOT NULL,
    token_hash   text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    token_prefix text NOT NULL,
    created_by   name NOT NULL DEFAULT current_user,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
SELECT pg_catalog.pg_extension_config_dump('gn_flux.api_token', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.api_token_id_seq', '');
COMMENT ON TABLE gn_flux.api_token IS
  'API tokens of exports (only a SHA-256 of each token is kept; the token is shown once by gn_flux.create_api_token). A token reads one export, as role_name, until expires_at or revoked_at. See gn_flux.api_tokens.';
REVOKE ALL ON gn_flux.api_token FROM PUBLIC;
GRANT SELECT (id, export_id, role_name, token_prefix, created_by, created_at, expires_at, revoked_at, last_used_at),
      INSERT (export_id, role_name, token_hash, token_prefix, expires_at),
      UPDATE (revoked_at)
   ON gn_flux.api_token TO PUBLIC;
GRANT USAGE ON SEQUENCE gn_flux.api_token_id_seq TO PUBLIC;
ALTER TABLE gn_flux.api_token ENABLE ROW LEVEL SECURITY;
CREATE POLICY api_token_read ON gn_flux.api_token FOR SELECT
    USING (created_by OPERATOR(pg_catalog.=) current_user
           OR pg_catalog.pg_has_role(current_user, 'gn_flux_monitor', 'MEMBER'));
CREATE POLICY api_token_revoke ON gn_flux.api_token FOR UPDATE
    USING (created_by OPERATOR(pg_catalog.=) current_user
           OR pg_catalog.pg_has_role(current_user, 'gn_flux_monitor', 'MEMBER'));
CREATE POLICY api_token_create ON gn_flux.api_token FOR INSERT
    WITH CHECK (created_by OPERATOR(pg_catalog.=) current_user
                AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) role_name)
                AND pg_catalog.pg_has_role(current_user, role_name, 'MEMBER'));

CREATE VIEW gn_flux.api_tokens WITH (security_barrier) AS
SELECT t.id, e.label AS export, t.role_name AS role, t.token_prefix, t.created_by, t.created_at,
       t.expires_at, t.revoked_at, t.last_used_at,
       CASE WHEN t.revoked_at IS NOT NULL THEN 'revoked'
            WHEN t.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN 'expired'
            ELSE 'active' END AS status
  FROM gn_flux.api_token t
  JOIN gn_flux.export e ON e.id OPERATOR(pg_catalog.=) t.export_id
 WHERE t.created_by OPERATOR(pg_catalog.=) current_user
    OR pg_catalog.pg_has_role(current_user, 'gn_flux_monitor', 'MEMBER');
COMMENT ON VIEW gn_flux.api_tokens IS
  'The API tokens the current role created (all of them for superusers and gn_flux_monitor members), without their secret: token_prefix is the first 6 characters of the token.';
GRANT SELECT ON gn_flux.api_tokens TO PUBLIC;

-- Login sessions of the API (POST /api/auth/login): the hash of the token handed out, the role.
-- Written and read by the API workers only.
CREATE TABLE gn_flux.api_session (
    token_hash text PRIMARY KEY,
    role_name  name NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at timestamptz NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('gn_flux.api_session', '');
REVOKE ALL ON gn_flux.api_session FROM PUBLIC;
COMMENT ON TABLE gn_flux.api_session IS
  'internal: API login sessions (SHA-256 of the token, role, expiry), shared by the API workers; expired rows are removed by them. Dumped, so a restored database keeps its open sessions as it keeps its tokens.';

-- The access log.
CREATE TABLE gn_flux.api_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL,
    worker      integer NOT NULL,
    client      text,
    method      text NOT NULL,
    route       text NOT NULL,
    path        text NOT NULL,
    export_id   integer,
    role_name   name,
    token_id    integer,
    status      smallint NOT NULL,
    rows        bigint,
    bytes       bigint NOT NULL DEFAULT 0,
    duration_ms double precision NOT NULL,
    error       text
);
SELECT pg_catalog.pg_extension_config_dump('gn_flux.api_log', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.api_log_id_seq', '');
CREATE INDEX api_log_at_idx ON gn_flux.api_log (at);
COMMENT ON TABLE gn_flux.api_log IS
  'One row per API request: time, worker, client address, route, path (never the query string, which may hold a token), export, role and token id, HTTP status, rows, bytes and duration. Kept gn_flux.api_log_retention days. Readable by superusers and gn_flux_monitor members.';
REVOKE ALL ON gn_flux.api_log FROM PUBLIC;
GRANT SELECT ON gn_flux.api_log TO gn_flux_monitor;

-- What each API worker reports (written by the workers, read through gn_flux.api_status).
CREATE TABLE gn_flux.api_worker (
    worker          integer PRIMARY KEY,
    pid             integer NOT NULL,
    address         text NOT NULL,
    started_at      timestamptz NOT NULL,
    requests        bigint NOT NULL DEFAULT 0,
    errors          bigint NOT NULL DEFAULT 0,
    bytes           bigint NOT NULL DEFAULT 0,
    last_request_at timestamptz,
    updated_at      timestamptz NOT NULL
);
-- (dumped with the rest: a restored row is overwritten when its worker starts)
SELECT pg_catalog.pg_extension_config_dump('gn_flux.api_worker', '');
REVOKE ALL ON gn_flux.api_worker FROM PUBLIC;
COMMENT ON TABLE gn_flux.api_worker IS
  'internal: the counters of each API worker, written by the workers (every second while they serve). Read gn_flux.api_status.';

CREATE VIEW gn_flux.api_status AS
SELECT w.worker, w.pid, a.pid IS NOT NULL AS running, w.address, w.started_at, w.requests, w.errors,
       w.bytes, w.last_request_at, w.updated_at
  FROM gn_flux.api_worker w
  LEFT JOIN pg_catalog.pg_stat_activity a
    -- (a role without pg_read_all_stats sees the pid of another role's backend, not its type)
    ON a.pid OPERATOR(pg_catalog.=) w.pid
   AND (a.backend_type OPERATOR(pg_catalog.=) 'gn_flux api' OR a.backend_type IS NULL);
COMMENT ON VIEW gn_flux.api_status IS
  'The API workers: number, pid, whether it runs, address, start time, requests and errors (4xx/5xx) served since it started, bytes sent, last request. Readable by superusers and gn_flux_monitor members.';
REVOKE ALL ON gn_flux.api_status FROM PUBLIC;
GRANT SELECT ON gn_flux.api_status TO gn_flux_monitor;

-- Deletions, for GET /api/synthese/log: gn_flux.track_deletions(relation, id_column) adds a
-- statement trigger that records the ids a DELETE removes.
CREATE TABLE gn_flux.tracked_relation (
    relation   regclass PRIMARY KEY,
    id_column  name NOT NULL,
    tracked_by name NOT NULL DEFAULT current_user,
    tracked_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('gn_flux.tracked_relation', '');
COMMENT ON TABLE gn_flux.tracked_relation IS
  'Relations whose deletions are recorded in gn_flux.deletion_log (gn_flux.track_deletions).';
GRANT SELECT ON gn_flux.tracked_relation TO PUBLIC;

CREATE TABLE gn_flux.deletion_log (
    id         bigserial PRIMARY KEY,
    relation   regclass NOT NULL,
    deleted_id bigint NOT NULL,
    deleted_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
SELECT pg_catalog.pg_extension_config_dump('gn_flux.deletion_log', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.deletion_log_id_seq', '');
CREATE INDEX deletion_log_at_idx ON gn_flux.deletion_log (deleted_at, id);
COMMENT ON TABLE gn_flux.deletion_log IS
  'Ids deleted from tracked relations (gn_flux.track_deletions), served as GeoNature''s deletion log (GET /api/synthese/log, last_action D) to the callers who may read the relation or an export built on it.';
REVOKE ALL ON gn_flux.deletion_log FROM PUBLIC;

-- The trigger: set-based (one INSERT per DELETE statement, from its transition table). SECURITY
-- DEFINER so that any role allowed to delete from a tracked table has its deletions logged;
-- the id column comes from the trigger's definition (written by track_deletions) and is quoted.
CREATE FUNCTION gn_flux._record_deletions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE pg_catalog.format(
        'INSERT INTO gn_flux.deletion_log (relation, deleted_id) SELECT $1, CAST(g.%I AS bigint) FROM gn_flux_deleted_rows g WHERE g.%I IS NOT NULL',
        TG_ARGV[0], TG_ARGV[0])
    USING TG_RELID;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION gn_flux._record_deletions() IS
  'internal: statement trigger of gn_flux.track_deletions (records the deleted ids in gn_flux.deletion_log)';

CREATE FUNCTION gn_flux.track_deletions(relation regclass, id_column name) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    typ regtype;
    kind "char";
BEGIN
    IF relation IS NULL OR id_column IS NULL THEN
        RAISE EXCEPTION 'relation and id_column must not be NULL' USING ERRCODE = '22023',
            HINT = 'Name the table and its integer id column, e.g. SELECT gn_flux.track_deletions(''gn_synthese.synthese'', ''id_synthese'');';
    END IF;
    SELECT c.relkind INTO kind FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) relation;
    IF kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'relation % is not a table', relation USING ERRCODE = '42809',
            HINT = 'Track the table the export''s view reads from: deletions happen there.';
    END IF;
    IF NOT pg_catalog.has_table_privilege(relation, 'TRIGGER') THEN
        RAISE EXCEPTION 'permission denied to track deletions of %', relation USING ERRCODE = '42501',
            HINT = 'The table''s owner (or a role with the TRIGGER privilege on it) can track its deletions.';
    END IF;
    SELECT a.atttypid::pg_catalog.regtype INTO typ FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) relation AND a.attname OPERATOR(pg_catalog.=) id_column
       AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
    IF typ IS NULL THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', id_column, relation USING ERRCODE = '42703',
            HINT = 'Give the integer id column of the table (\d in psql lists its columns).';
    END IF;
    IF typ NOT IN ('smallint'::pg_catalog.regtype, 'integer'::pg_catalog.regtype, 'bigint'::pg_catalog.regtype) THEN
        RAISE EXCEPTION 'column "%" of % is %, not an integer', id_column, relation, typ USING ERRCODE = '42804',
            HINT = 'GeoNature''s deletion log carries integer ids (id_synthese): track the integer column the export''s view_pk_column comes from.';
    END IF;
    EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS gn_flux_track_deletions ON %s', relation);
    EXECUTE pg_catalog.format(
        'CREATE TRIGGER gn_flux_track_deletions AFTER DELETE ON %s REFERENCING OLD TABLE AS gn_flux_deleted_rows FOR EACH STATEMENT EXECUTE FUNCTION gn_flux._record_deletions(%L)',
        relation, id_column);
    INSERT INTO gn_flux.tracked_relation AS t (relation, id_column) VALUES (relation, id_column)
    ON CONFLICT ON CONSTRAINT tracked_relation_pkey DO UPDATE
       SET id_column = excluded.id_column, tracked_by = current_user, tracked_at = pg_catalog.now();
END
$$;
COMMENT ON FUNCTION gn_flux.track_deletions(regclass, name) IS
  'Records the ids deleted from a table (a statement trigger gn_flux_track_deletions writing gn_flux.deletion_log), so that GET /api/synthese/log tells incremental clients (gn2pg-client, gn_flux nodes) what was deleted. Needs the TRIGGER privilege on the table.';

CREATE FUNCTION gn_flux.untrack_deletions(relation regclass) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT pg_catalog.has_table_privilege(relation, 'TRIGGER') THEN
        RAISE EXCEPTION 'permission denied to stop tracking deletions of %', relation USING ERRCODE = '42501';
    END IF;
    EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS gn_flux_track_deletions ON %s', relation);
    DELETE FROM gn_flux.tracked_relation t WHERE t.relation OPERATOR(pg_catalog.=) untrack_deletions.relation;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION gn_flux.untrack_deletions(regclass) IS
  'Stops recording the deletions of a table (drops its trigger); the ids already logged stay in gn_flux.deletion_log.';

-- tracked_relation is written through track_deletions/untrack_deletions, as their caller: row
-- level security lets a role write the rows of tables it may put triggers on.
GRANT INSERT, UPDATE, DELETE ON gn_flux.tracked_relation TO PUBLIC;
ALTER TABLE gn_flux.tracked_relation ENABLE ROW LEVEL SECURITY;
CREATE POLICY tracked_relation_read ON gn_flux.tracked_relation FOR SELECT USING (true);
CREATE POLICY tracked_relation_write ON gn_flux.tracked_relation FOR ALL
    USING (pg_catalog.has_table_privilege(relation, 'TRIGGER'))
    WITH CHECK (pg_catalog.has_table_privilege(relation, 'TRIGGER'));

-- The relations whose deletions a caller may see: tracked tables underneath (through views, at
-- any depth) a public export, or for a logged-in role an export it may read, and the tracked
-- tables it may read itself.
CREATE FUNCTION gn_flux._deletions_visible_to(reader oid, anonymous boolean) RETURNS SETOF regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE readable AS (
        SELECT v.oid
          FROM gn_flux.export e
          JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) e.schema_name
          JOIN pg_catalog.pg_class v ON v.relnamespace OPERATOR(pg_catalog.=) n.oid AND v.relname OPERATOR(pg_catalog.=) e.view_name
         WHERE e.public OR (NOT anonymous AND pg_catalog.has_table_privilege(reader, v.oid, 'SELECT'))
    ), below (oid) AS (
        SELECT oid FROM readable
        UNION
        SELECT d.refobjid
          FROM below b
          JOIN pg_catalog.pg_rewrite r ON r.ev_class OPERATOR(pg_catalog.=) b.oid
          JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                                    AND d.objid OPERATOR(pg_catalog.=) r.oid
                                    AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                                    AND d.refobjid OPERATOR(pg_catalog.<>) b.oid
    )
    SELECT t.relation FROM gn_flux.tracked_relation t
     WHERE (NOT anonymous AND pg_catalog.has_table_privilege(reader, t.relation, 'SELECT'))
        OR t.relation::pg_catalog.oid IN (SELECT oid FROM below)
$$;
COMMENT ON FUNCTION gn_flux._deletions_visible_to(oid, boolean) IS
  'internal: the tracked relations whose deletions a role sees in GET /api/synthese/log';
REVOKE ALL ON FUNCTION gn_flux._deletions_visible_to(oid, boolean) FROM PUBLIC;

-- Tokens: the secret and its hash come from gn_flux._api_token_secret() and
-- gn_flux._api_token_hash() (src/serve/tokens.rs, the one home of the token format).
CREATE FUNCTION gn_flux.create_api_token(
    export text,
    role regrole DEFAULT CAST(pg_catalog.quote_ident(current_user) AS regrole),
    valid_for interval DEFAULT '1 year'
) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
    role_name name;
    secret record;
BEGIN
    IF export IS NULL OR role IS NULL OR valid_for IS NULL THEN
        RAISE EXCEPTION 'export, role and valid_for must not be NULL' USING ERRCODE = '22023',
            HINT = 'SELECT gn_flux.create_api_token(''my export'');';
    END IF;
    IF valid_for OPERATOR(pg_catalog.<=) interval '0' THEN
        RAISE EXCEPTION 'valid_for must be positive (got %)', valid_for USING ERRCODE = '22023',
            HINT = 'For example ''90 days'' or ''1 year''.';
    END IF;
    SELECT x.id, x.schema_name, x.view_name, n.oid AS nsp, c.oid AS rel INTO e
      FROM gn_flux.export x
      LEFT JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) x.schema_name
      LEFT JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid AND c.relname OPERATOR(pg_catalog.=) x.view_name
     WHERE x.label OPERATOR(pg_catalog.=) export;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'export "%" does not exist', export USING ERRCODE = '42704',
            HINT = 'See SELECT label FROM gn_flux.export.';
    END IF;
    SELECT r.rolname INTO role_name FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) role;
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) role) THEN
        RAISE EXCEPTION 'a token may not act as the superuser %', role_name USING ERRCODE = '42501',
            HINT = 'A superuser bypasses row-level security: create a role that reads only the export''s view, and a token for it.';
    END IF;
    IF NOT pg_catalog.pg_has_role(current_user, role, 'MEMBER') THEN
        RAISE EXCEPTION 'permission denied to create a token acting as role %', role_name USING ERRCODE = '42501',
            HINT = 'A token reads as its role: create tokens for your own role or roles you are a member of.';
    END IF;
    -- (by oid, from the catalog: naming the view would need USAGE on its schema from the caller)
    IF e.rel IS NULL OR NOT pg_catalog.has_schema_privilege(role, e.nsp, 'USAGE')
       OR NOT pg_catalog.has_table_privilege(role, e.rel, 'SELECT') THEN
        RAISE EXCEPTION 'role % may not read the view of export "%"', role_name, export USING ERRCODE = '42501',
            HINT = pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I; GRANT SELECT ON %I.%I TO %I;',
                                     e.schema_name, role_name, e.schema_name, e.view_name, role_name);
    END IF;
    SELECT * INTO secret FROM gn_flux._api_token_secret();
    INSERT INTO gn_flux.api_token (export_id, role_name, token_hash, token_prefix, expires_at)
    VALUES (e.id, role_name, secret.hash, pg_catalog.left(secret.token, 6), pg_catalog.now() OPERATOR(pg_catalog.+) valid_for);
    RETURN secret.token;
END
$$;
COMMENT ON FUNCTION gn_flux.create_api_token(text, regrole, interval) IS
  'Creates an API token reading one export as a role (default: the current one; the caller must belong to it, and it must be able to read the view) for valid_for (default 1 year). Returns the token: it is shown once, only its SHA-256 is kept. Use it as ?token=, an api-key header or a bearer token.';

CREATE FUNCTION gn_flux.revoke_api_token(token_id integer) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    was_active boolean;
BEGIN
    SELECT t.revoked_at IS NULL INTO was_active FROM gn_flux.api_token t WHERE t.id OPERATOR(pg_catalog.=) token_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'API token % does not exist', token_id USING ERRCODE = '42704',
            HINT = 'See SELECT id, export, role, status FROM gn_flux.api_tokens (a role sees the tokens it created).';
    END IF;
    UPDATE gn_flux.api_token t SET revoked_at = pg_catalog.now()
     WHERE t.id OPERATOR(pg_catalog.=) token_id AND t.revoked_at IS NULL;
    RETURN was_active;
END
$$;
COMMENT ON FUNCTION gn_flux.revoke_api_token(integer) IS
  'Revokes an API token by its id (gn_flux.api_tokens.id): true if it was active, false if already revoked. Its creator, superusers and gn_flux_monitor members may.';

-- SECURITY DEFINER: the caller cannot read token hashes. Whoever holds a token may revoke it
-- (a leaked token is revoked by whoever finds it).
CREATE FUNCTION gn_flux.revoke_api_token(token text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    was_active boolean;
BEGIN
    SELECT t.revoked_at IS NULL INTO was_active FROM gn_flux.api_token t
     WHERE t.token_hash OPERATOR(pg_catalog.=) gn_flux._api_token_hash(token);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no API token matches' USING ERRCODE = '42704',
            HINT = 'Give the token as create_api_token returned it, or revoke by id (gn_flux.api_tokens).';
    END IF;
    UPDATE gn_flux.api_token t SET revoked_at = pg_catalog.now()
     WHERE t.token_hash OPERATOR(pg_catalog.=) gn_flux._api_token_hash(token) AND t.revoked_at IS NULL;
    RETURN was_active;
END
$$;
COMMENT ON FUNCTION gn_flux.revoke_api_token(text) IS
  'Revokes an API token given the token itself: true if it was active.';

-- The dashboard of the web pages (GET <root>/dashboard) shows the run log and the error log to
-- members of gn_flux.api_dashboard_role (gn_flux_monitor by default), read as their role: they
-- already see run details in gn_flux.status, and these logs are those details.
GRANT SELECT ON gn_flux.import_log, gn_flux.error_log TO gn_flux_monitor;

-- Part 7: sources of other kinds mapped to the Synthese (the mapping function, its helpers).
-- gn_flux::synthese::set_datasets
CREATE OR REPLACE FUNCTION gn_flux."set_datasets"(
	"source" TEXT, /* Option < & str > */
	"key_expression" TEXT, /* Option < & str > */
	"name_expression" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS VOID /* SqlResult < () > */

LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'set_datasets_wrapper';
-- gn_flux::synthese::set_mapping
CREATE OR REPLACE FUNCTION gn_flux."set_mapping"(
	"source" TEXT, /* Option < & str > */
	"mapping" jsonb /* Option < JsonB > */
) RETURNS VOID /* SqlResult < () > */

LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'set_mapping_wrapper';
-- gn_flux install script, part 7: mapping sources of other kinds (WFS, OGC API, JSON APIs, GBIF)
-- to the Synthese. A mapping is the source's rows of gn_flux.synthese_column (set with
-- gn_flux.set_mapping or gn_flux.set_synthese_column); for these sources every column not
-- mapped is NULL, except unique_id_sinp (the staged uuid), the_geom_4326 (the staged geometry,
-- already in EPSG:4326) and entity_source_pk_value (the item's key).
-- The helpers below are written for mapping expressions; they read GeoNature's referentials at
-- call time (plpgsql: the extension installs without GeoNature).

CREATE FUNCTION gn_flux._feed_key(id_data integer) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT k.key FROM gn_flux.feed_key k WHERE k.id_data = _feed_key.id_data $$;
COMMENT ON FUNCTION gn_flux._feed_key(integer) IS 'internal: the item key (feature id, GBIF key…) of a staged row of a source of another kind';

-- A nomenclature code from a code or a label (label_default, label_fr, case-insensitive): what
-- a mapping needs for sources that send labels (GeoNature's v_synthese_sinp sends labels; a
-- code expected where a label comes is how API2GN loses nomenclatures). An unknown value is
-- returned as it is, so that the load rejects it with the value (nothing is dropped silently).
CREATE FUNCTION gn_flux.nomenclature_code(type_mnemonique text, value text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    code text;
BEGIN
    IF value IS NULL OR btrim(value) = '' THEN
        RETURN NULL;
    END IF;
    SELECT n.cd_nomenclature INTO code
      FROM ref_nomenclatures.t_nomenclatures n
      JOIN ref_nomenclatures.bib_nomenclatures_types t ON t.id_type = n.id_type
     WHERE t.mnemonique::text = type_mnemonique
       AND (n.cd_nomenclature::text = btrim(value)
            OR lower(n.label_default::text) = lower(btrim(value))
            OR lower(n.label_fr::text) = lower(btrim(value)))
     ORDER BY (n.cd_nomenclature::text = btrim(value)) DESC, n.id_nomenclature
     LIMIT 1;
    RETURN coalesce(code, value);
END
$$;
COMMENT ON FUNCTION gn_flux.nomenclature_code(text, text) IS
  'For mappings: the code of a nomenclature of type type_mnemonique (e.g. STATUT_BIO) given its code or its label (label_default or label_fr, case-insensitive); an unknown value is returned unchanged, so that the load rejects it with its value.';

-- The taxon of a scientific name: the TAXREF row whose lb_nom or nom_complet is the name
-- (the reference row of the name first).
CREATE FUNCTION gn_flux.taxon_by_name(name text) RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found integer;
BEGIN
    IF name IS NULL OR btrim(name) = '' THEN
        RETURN NULL;
    END IF;
    SELECT t.cd_nom INTO found FROM taxonomie.taxref t
     WHERE t.lb_nom::text = btrim(name) OR t.nom_complet::text = btrim(name)
     ORDER BY (t.cd_nom = t.cd_ref) DESC, (t.lb_nom::text = btrim(name)) DESC, t.cd_nom
     LIMIT 1;
    RETURN found;
END
$$;
COMMENT ON FUNCTION gn_flux.taxon_by_name(text) IS
  'For mappings: the cd_nom of a scientific name in taxonomie.taxref (lb_nom, else nom_complet; the reference name first), NULL if unknown.';

-- The taxon of an external key through TAXREF's links (taxonomie.taxref_liens: ct_name is the
-- database, e.g. 'GBIF', ct_sp_id its key), as API2GN's GBIF parser does.
CREATE FUNCTION gn_flux.taxon_by_link(database_name text, external_id text) RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found integer;
BEGIN
    IF external_id IS NULL OR pg_catalog.to_regclass('taxonomie.taxref_liens') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT l.cd_nom FROM taxonomie.taxref_liens l
              WHERE l.ct_name::text = $1 AND l.ct_sp_id::text = $2 ORDER BY l.cd_nom LIMIT 1'
       INTO found USING database_name, btrim(external_id);
    RETURN found;
END
$$;
COMMENT ON FUNCTION gn_flux.taxon_by_link(text, text) IS
  'For mappings: the cd_nom linked to an external taxon key in taxonomie.taxref_liens, e.g. taxon_by_link(''GBIF'', s.item ->> ''taxonKey''); NULL if unknown or if the table is absent.';

-- Dates as sources write them: ISO instants, dates, partial dates ('2020', '2020-05') and ISO
-- intervals ('2020-05-01/2020-05-03', as GBIF's eventDate).
CREATE FUNCTION gn_flux.date_start(value text) RETURNS timestamp without time zone
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text := btrim(split_part(value, '/', 1));
BEGIN
    IF v IS NULL OR v = '' THEN
        RETURN NULL;
    ELSIF v ~ '^\d{4}$' THEN
        RETURN make_timestamp(v::int, 1, 1, 0, 0, 0);
    ELSIF v ~ '^\d{4}-\d{2}$' THEN
        RETURN make_timestamp(split_part(v, '-', 1)::int, split_part(v, '-', 2)::int, 1, 0, 0, 0);
    END IF;
    RETURN gn_flux.to_timestamp_or_null(v);
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION gn_flux.date_start(text) IS
  'For mappings: the start of a date as sources write it (an instant, a date, a year, a year-month, or an ISO interval a/b); NULL if unreadable.';

CREATE FUNCTION gn_flux.date_end(value text) RETURNS timestamp without time zone
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text := btrim(CASE WHEN strpos(value, '/') > 0 THEN split_part(value, '/', 2) ELSE value END);
BEGIN
    IF v IS NULL OR v = '' THEN
        RETURN NULL;
    ELSIF v ~ '^\d{4}$' THEN
        RETURN make_timestamp(v::int, 12, 31, 23, 59, 59);
    ELSIF v ~ '^\d{4}-\d{2}$' THEN
        RETURN make_timestamp(split_part(v, '-', 1)::int, split_part(v, '-', 2)::int, 1, 23, 59, 59)
               + interval '1 month' - interval '1 day';
    END IF;
    RETURN gn_flux.to_timestamp_or_null(v);
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION gn_flux.date_end(text) IS
  'For mappings: the end of a date as sources write it (a year ends on 31 December 23:59:59, a month on its last day, an interval a/b at b); NULL if unreadable.';

-- Ready-made mappings (a JSON object column => SQL expression, for gn_flux.set_mapping).
CREATE FUNCTION gn_flux.example_mapping(name text, dataset uuid) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ds text := quote_literal(dataset::text);
BEGIN
    IF dataset IS NULL AND name IS DISTINCT FROM 'gbif' THEN
        RAISE EXCEPTION 'dataset must not be NULL'
            USING ERRCODE = '22004', HINT = 'Give the unique_dataset_id (gn_meta.t_datasets) the observations go to (NULL only for gbif: one dataset per GBIF datasetKey, see gn_flux.set_datasets).';
    END IF;
    IF name = 'geonature_sinp' THEN
        -- Another GeoNature's v_synthese_sinp export pulled as a JSON API: nomenclatures come
        -- as labels and are turned into codes.
        RETURN jsonb_build_object(
            'id_dataset', format('coalesce(s.item ->> %L, %s)', 'jdd_uuid', ds),
            'entity_source_pk_value', 's.item ->> ''id_synthese''',
            'unique_id_sinp_grp', 's.item ->> ''id_perm_grp_sinp''',
            'nom_cite', 's.item ->> ''nom_cite''',
            'cd_nom', 's.item ->> ''cd_nom''',
            'meta_v_taxref', 's.item ->> ''version_taxref''',
            'date_min', 's.item ->> ''date_debut''',
            'date_max', 's.item ->> ''date_fin''',
            'count_min', 's.item ->> ''nombre_min''',
            'count_max', 's.item ->> ''nombre_max''',
            'altitude_min', 's.item ->> ''altitude_min''',
            'altitude_max', 's.item ->> ''altitude_max''',
            'depth_min', 's.item ->> ''profondeur_min''',
            'depth_max', 's.item ->> ''profondeur_max''',
            'observers', 's.item ->> ''observateurs''',
            'determiner', 's.item ->> ''determinateur''',
            'validator', 's.item ->> ''validateur''',
            'comment_context', 's.item ->> ''comment_releve''',
            'comment_description', 's.item ->> ''comment_occurrence''',
            'place_name', 's.item ->> ''nom_lieu''',
            'precision', 's.item ->> ''precision''',
            'reference_biblio', 's.item ->> ''reference_biblio''',
            'cd_hab', 's.item ->> ''code_habitat''',
            'grp_method', 's.item ->> ''methode_regroupement''',
            'sample_number_proof', 's.item ->> ''numero_preuve''',
            'digital_proof', 's.item ->> ''preuve_numerique''',
            'non_digital_proof', 's.item ->> ''preuve_non_numerique''',
            'the_geom_4326', 'coalesce(s.geom, ST_GeomFromText(s.item ->> ''wkt_4326'', 4326))',
            'id_nomenclature_geo_object_nature', 'gn_flux.nomenclature_code(''NAT_OBJ_GEO'', s.item ->> ''nature_objet_geo'')',
            'id_nomenclature_grp_typ', 'gn_flux.nomenclature_code(''TYP_GRP'', s.item ->> ''type_regroupement'')',
            'id_nomenclature_behaviour', 'gn_flux.nomenclature_code(''OCC_COMPORTEMENT'', s.item ->> ''comportement'')',
            'id_nomenclature_obs_technique', 'gn_flux.nomenclature_code(''METH_OBS'', s.item ->> ''technique_obs'')',
            'id_nomenclature_bio_status', 'gn_flux.nomenclature_code(''STATUT_BIO'', s.item ->> ''statut_biologique'')',
            'id_nomenclature_bio_condition', 'gn_flux.nomenclature_code(''ETA_BIO'', s.item ->> ''etat_biologique'')',
            'id_nomenclature_naturalness', 'gn_flux.nomenclature_code(''NATURALITE'', s.item ->> ''naturalite'')',
            'id_nomenclature_exist_proof', 'gn_flux.nomenclature_code(''PREUVE_EXIST'', s.item ->> ''preuve_existante'')',
            'id_nomenclature_diffusion_level', 'gn_flux.nomenclature_code(''NIV_PRECIS'', s.item ->> ''precision_diffusion'')',
            'id_nomenclature_life_stage', 'gn_flux.nomenclature_code(''STADE_VIE'', s.item ->> ''stade_vie'')',
            'id_nomenclature_sex', 'gn_flux.nomenclature_code(''SEXE'', s.item ->> ''sexe'')',
            'id_nomenclature_obj_count', 'gn_flux.nomenclature_code(''OBJ_DENBR'', s.item ->> ''objet_denombrement'')',
            'id_nomenclature_type_count', 'gn_flux.nomenclature_code(''TYP_DENBR'', s.item ->> ''type_denombrement'')',
            'id_nomenclature_sensitivity', 'gn_flux.nomenclature_code(''SENSIBILITE'', s.item ->> ''niveau_sensibilite'')',
            'id_nomenclature_observation_status', 'gn_flux.nomenclature_code(''STATUT_OBS'', s.item ->> ''statut_observation'')',
            'id_nomenclature_blurring', 'gn_flux.nomenclature_code(''DEE_FLOU'', s.item ->> ''floutage_dee'')',
            'id_nomenclature_source_status', 'gn_flux.nomenclature_code(''STATUT_SOURCE'', s.item ->> ''statut_source'')',
            'id_nomenclature_info_geo_type', 'gn_flux.nomenclature_code(''TYP_INF_GEO'', s.item ->> ''type_info_geo'')',
            'id_nomenclature_determination_method', 'gn_flux.nomenclature_code(''METH_DETERMIN'', s.item ->> ''methode_determination'')',
            'additional_data', 'gn_flux.to_jsonb_or_null(s.item ->> ''donnees_additionnelles'')');
    ELSIF name = 'wfs_layer' THEN
        -- A WFS (or OGC API) layer of observations with plain attributes, as the test layer.
        RETURN jsonb_build_object(
            'id_dataset', ds,
            'nom_cite', 's.item ->> ''nom_cite''',
            'cd_nom', 's.item ->> ''cd_nom''',
            'date_min', 'gn_flux.date_start(s.item ->> ''date_obs'')',
            'date_max', 'gn_flux.date_end(s.item ->> ''date_obs'')',
            'count_min', 's.item ->> ''nombre''',
            'count_max', 's.item ->> ''nombre''',
            'observers', 's.item ->> ''observateur''',
            'place_name', 's.item ->> ''commune''',
            'id_nomenclature_obs_technique', '''0''',
            'id_nomenclature_observation_status', '''Pr''');
    ELSIF name = 'gbif' THEN
        -- GBIF occurrences: taxon through TAXREF's links (else the name), GBIF's vocabularies
        -- to SINP codes.
        RETURN jsonb_build_object(
            -- (NULL dataset: GBIF's datasetKey, a uuid, names the dataset gn_flux.set_datasets creates)
            'id_dataset', coalesce(ds, 's.item ->> ''datasetKey'''),
            'nom_cite', 'coalesce(s.item ->> ''scientificName'', s.item ->> ''species'')',
            'cd_nom', 'coalesce(gn_flux.taxon_by_link(''GBIF'', s.item ->> ''taxonKey''), gn_flux.taxon_by_name(s.item ->> ''species''), gn_flux.taxon_by_name(s.item ->> ''scientificName''))',
            'date_min', 'gn_flux.date_start(s.item ->> ''eventDate'')',
            'date_max', 'gn_flux.date_end(s.item ->> ''eventDate'')',
            'count_min', 's.item ->> ''individualCount''',
            'count_max', 's.item ->> ''individualCount''',
            'observers', 's.item ->> ''recordedBy''',
            'precision', 'round((s.item ->> ''coordinateUncertaintyInMeters'')::numeric)',
            'reference_biblio', '''GBIF occurrence '' || (s.item ->> ''key'')',
            'id_nomenclature_sex', 'CASE s.item ->> ''sex'' WHEN ''MALE'' THEN ''3'' WHEN ''FEMALE'' THEN ''2'' WHEN ''HERMAPHRODITE'' THEN ''4'' ELSE ''6'' END',
            'id_nomenclature_life_stage', 'CASE s.item ->> ''lifeStage'' WHEN ''ADULT'' THEN ''2'' WHEN ''JUVENILE'' THEN ''3'' WHEN ''LARVA'' THEN ''6'' WHEN ''EGG'' THEN ''9'' ELSE ''1'' END',
            'id_nomenclature_observation_status', 'CASE s.item ->> ''occurrenceStatus'' WHEN ''ABSENT'' THEN ''No'' ELSE ''Pr'' END',
            'id_nomenclature_source_status', 'CASE s.item ->> ''basisOfRecord'' WHEN ''PRESERVED_SPECIMEN'' THEN ''Co'' WHEN ''LITERATURE'' THEN ''Li'' ELSE ''Te'' END',
            'additional_data', 'jsonb_build_object(''gbif_key'', s.item -> ''key'', ''datasetKey'', s.item -> ''datasetKey'', ''taxonKey'', s.item -> ''taxonKey'', ''occurrenceID'', s.item -> ''occurrenceID'')');
    END IF;
    RAISE EXCEPTION 'unknown example mapping "%"', name
        USING ERRCODE = '22023', HINT = 'Use geonature_sinp, wfs_layer or gbif.';
END
$$;
COMMENT ON FUNCTION gn_flux.example_mapping(text, uuid) IS
  'Ready-made mappings for gn_flux.set_mapping: geonature_sinp (another GeoNature''s v_synthese_sinp export, labels turned into codes), wfs_layer (a layer of plain observation attributes), gbif (GBIF occurrences); dataset: the unique_dataset_id the observations go to (gbif: NULL = each GBIF datasetKey, with gn_flux.set_datasets).';

COMMENT ON FUNCTION gn_flux.set_mapping(text, jsonb) IS
  'Replaces the whole Synthese mapping of a source ({"column": "SQL expression over s"}), checked as a whole: known columns, one expression each, id_dataset, nom_cite, date_min and date_max mapped for sources of other kinds, the statement compiled. Stored in gn_flux.synthese_column.';
REVOKE ALL ON FUNCTION gn_flux.set_mapping(text, jsonb) FROM PUBLIC;

-- Frameworks and datasets created by a source (e.g. one dataset per GBIF dataset key): the
-- source's row here says how to read a dataset key and name from each staged item; the load
-- creates the missing datasets (under one acquisition framework per source) before mapping each
-- chunk, and the mapping's id_dataset gives gn_flux.dataset_uuid(source, key) — or the key
-- itself when it is a uuid, as GBIF's datasetKey.
CREATE TABLE gn_flux.feed_datasets (
    source text PRIMARY KEY,
    key_expression text NOT NULL,
    name_expression text NOT NULL,
    set_by name NOT NULL DEFAULT current_user,
    set_at timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('gn_flux.feed_datasets', '');
COMMENT ON TABLE gn_flux.feed_datasets IS
  'Sources that create their datasets (gn_flux.set_datasets): SQL expressions over the staged row s giving each item''s dataset key and name.';

CREATE FUNCTION gn_flux.dataset_uuid(source text, key text) RETURNS uuid
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF key IS NULL THEN
        RETURN NULL;
    END IF;
    IF key ~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' THEN
        RETURN key::uuid;
    END IF;
    RETURN md5('gn_flux dataset/' || source || '/' || key)::uuid;
END
$$;
COMMENT ON FUNCTION gn_flux.dataset_uuid(text, text) IS
  'The unique_dataset_id of the dataset a source creates for a key (gn_flux.set_datasets): the key itself when it is a uuid (GBIF''s datasetKey), else one derived from the source and the key.';

-- Called by the load before each chunk of a source with a gn_flux.feed_datasets row: the
-- source's acquisition framework and the chunk's missing datasets. Returns the rows created.
CREATE FUNCTION gn_flux._create_feed_datasets(source text, ids integer[]) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cfg gn_flux.feed_datasets;
    af_uuid uuid := md5('gn_flux framework/' || source)::uuid;
    af integer;
    created integer := 0;
    n integer;
BEGIN
    SELECT * INTO cfg FROM gn_flux.feed_datasets f WHERE f.source = _create_feed_datasets.source;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    -- (the expressions run with the privileges of the role loading: their author must hold them)
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = cfg.set_by)
       OR NOT pg_catalog.pg_has_role(cfg.set_by, current_user, 'MEMBER') THEN
        RAISE EXCEPTION 'the dataset expressions of source "%" were set by role "%", which does not hold the privileges of the current role', source, cfg.set_by
            USING ERRCODE = '42501', HINT = 'Set them again as this role with gn_flux.set_datasets(), or load as that role.';
    END IF;
    SELECT a.id_acquisition_framework INTO af FROM gn_meta.t_acquisition_frameworks a
     WHERE a.unique_acquisition_framework_id = af_uuid;
    IF af IS NULL THEN
        INSERT INTO gn_meta.t_acquisition_frameworks (unique_acquisition_framework_id, acquisition_framework_name,
               acquisition_framework_desc, acquisition_framework_start_date)
        VALUES (af_uuid, left('gn_flux: ' || source, 255), 'Created by gn_flux for the datasets of source ' || source, current_date)
        RETURNING id_acquisition_framework INTO af;
        created := 1;
    END IF;
    EXECUTE format(
        'INSERT INTO gn_meta.t_datasets (unique_dataset_id, id_acquisition_framework, dataset_name, dataset_shortname,
                dataset_desc, marine_domain, terrestrial_domain)
         SELECT DISTINCT ON (x.u) x.u, $2, left(coalesce(x.n, x.k), 255), left(x.k, 255),
                ''Created by gn_flux for source '' || $1, false, true
           FROM (SELECT gn_flux.dataset_uuid($1, k.k) AS u, k.k, k.n
                   FROM (SELECT CAST((%s) AS text) AS k, CAST((%s) AS text) AS n
                           FROM gn_flux.data_json s
                          WHERE s.source::text = $1 AND s.controler::text = ''data'' AND s.id_data = ANY ($3)) k
                  WHERE k.k IS NOT NULL) x
          WHERE NOT EXISTS (SELECT 1 FROM gn_meta.t_datasets d WHERE d.unique_dataset_id = x.u)',
        cfg.key_expression, cfg.name_expression)
    USING source, af, ids;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN created + n;
END
$$;
COMMENT ON FUNCTION gn_flux._create_feed_datasets(text, integer[]) IS 'internal: the datasets (and framework) a source creates, for a chunk of its staged rows';
REVOKE ALL ON FUNCTION gn_flux._create_feed_datasets(text, integer[]) FROM PUBLIC;

COMMENT ON FUNCTION gn_flux.set_datasets(text, text, text) IS
  'Makes a source create its datasets: key_expression and name_expression are SQL expressions over the staged row s (e.g. s.item ->> ''datasetKey''); the load creates one dataset per key under an acquisition framework of the source. NULL key_expression stops it. Map id_dataset to gn_flux.dataset_uuid(source, key).';
REVOKE ALL ON FUNCTION gn_flux.set_datasets(text, text, text) FROM PUBLIC;
