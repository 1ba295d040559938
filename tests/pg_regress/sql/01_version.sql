-- gn_flux.version() names the release and the git commit it was built from.
SELECT gn_flux.version() ~ '^gn_flux 0\.1\.0 \(commit ([0-9a-f]{12}(-dirty)?|unknown)\)$' AS names_release_and_commit;
-- The public surface of this release, every function commented.
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args,
       pg_get_function_result(p.oid) AS result, p.provolatile,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'gn_flux'
 ORDER BY p.proname, args;
SELECT obj_description('gn_flux'::regnamespace, 'pg_namespace') IS NOT NULL AS schema_commented;
