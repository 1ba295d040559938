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
CREATE FUNCTION gn_flux._may_see_details(owner name DEFAULT NULL) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.pg_has_role(current_user, 'gn_flux_monitor', 'MEMBER')
        OR (owner IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = owner)
            AND pg_catalog.pg_has_role(current_user, owner, 'MEMBER'))
$$;
COMMENT ON FUNCTION gn_flux._may_see_details(name) IS
  'internal: true for superusers, members of gn_flux_monitor and members of owner: they see error details and paths in the status views';
