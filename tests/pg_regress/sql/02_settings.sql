-- Calling a gn_flux function loads the library (already loaded when preloaded).
SELECT gn_flux.version() IS NOT NULL AS loaded;
-- (postmaster settings — the API workers' address, database and count — exist only when
-- gn_flux is preloaded: tests/e2e/run.sh checks them in that mode)
SELECT name, setting, unit, context, vartype, min_val, max_val
  FROM pg_settings WHERE name LIKE 'gn_flux.%' AND context <> 'postmaster' ORDER BY name;
SET gn_flux.http_timeout_ms = '30s';
SHOW gn_flux.http_timeout_ms;
RESET gn_flux.http_timeout_ms;
SHOW gn_flux.http_timeout_ms;
-- Out of range, and unknown names under the reserved prefix, are errors.
SET gn_flux.http_timeout_ms = -5;
SET gn_flux.no_such_setting = 1;
SET gn_flux.progress_notices = maybe;
