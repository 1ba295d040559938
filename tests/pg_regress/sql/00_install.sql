-- A fresh database: CASCADE installs PostGIS, gn_flux lands in its own schema.
CREATE EXTENSION gn_flux CASCADE;
SELECT e.extname, n.nspname AS schema, e.extrelocatable
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname IN ('gn_flux', 'postgis')
 ORDER BY e.extname;
SELECT extversion FROM pg_extension WHERE extname = 'gn_flux';
-- Not relocatable, and dropping it leaves nothing behind.
ALTER EXTENSION gn_flux SET SCHEMA public;
DROP EXTENSION gn_flux;
SELECT count(*) AS leftover_schema FROM pg_namespace WHERE nspname = 'gn_flux';
CREATE EXTENSION gn_flux;
