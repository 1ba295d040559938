-- gn_flux install script, part 0: the schema itself.
-- The control file names the schema (gn_flux, not relocatable), so CREATE EXTENSION creates it.
COMMENT ON SCHEMA gn_flux IS
  'gn_flux: GeoNature data exchange inside PostgreSQL (pull exports into GN2PG-compatible staging tables, publish views as files and APIs)';
-- Other roles may look at what is granted to them (the status view, the non-secret columns of
-- gn_flux.source); everything else is granted by administrators.
GRANT USAGE ON SCHEMA gn_flux TO PUBLIC;
