-- gn_flux install script, part 6: the served API (the API workers of src/serve).
-- Who may read what: API callers are PostgreSQL roles. A login (POST /api/auth/login, checked
-- against the role's own password) or an export token (gn_flux.create_api_token) makes the
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
