-- A fresh database: CASCADE installs PostGIS, gn_flux lands in its own schema.
CREATE EXTENSION gn_flux CASCADE;
SELECT e.extname, n.nspname AS schema, e.extrelocatable
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname IN ('gn_flux', 'postgis')
 ORDER BY e.extname;
SELECT extversion FROM pg_extension WHERE extname = 'gn_flux';
-- Not relocatable. DROP EXTENSION removes every gn_flux object; the schema named in the control
-- file is created by PostgreSQL itself, outside the extension, so it stays, empty, and a new
-- CREATE EXTENSION reuses it.
ALTER EXTENSION gn_flux SET SCHEMA public;
DROP EXTENSION gn_flux;
SELECT count(c.oid) + count(p.oid) AS objects_left
  FROM pg_namespace n
  LEFT JOIN pg_class c ON c.relnamespace = n.oid
  LEFT JOIN pg_proc p ON p.pronamespace = n.oid
 WHERE n.nspname = 'gn_flux';
CREATE EXTENSION gn_flux;
