-- gn_flux.version() names the release and the git commit it was built from.
SELECT gn_flux.version() ~ '^gn_flux 0\.2\.0 \(commit ([0-9a-f]{12}(-dirty)?|unknown)\)$' AS names_release_and_commit;
-- The public surface of this release, every function commented.
\pset format unaligned
SELECT format('%s(%s) -> %s%s', p.proname, pg_get_function_identity_arguments(p.oid),
              coalesce(pg_get_function_result(p.oid), 'procedure'),
              CASE WHEN obj_description(p.oid, 'pg_proc') IS NULL THEN ' [NO COMMENT]' ELSE '' END) AS function
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'gn_flux'
 ORDER BY p.proname, 1;
-- Who may call them: network and administration functions are not granted to PUBLIC.
SELECT p.proname || ': ' || CASE WHEN has_function_privilege('public', p.oid, 'EXECUTE') THEN 'public' ELSE 'owner and grantees' END AS execute
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'gn_flux' AND p.proname !~ '^_'
 ORDER BY 1;
\pset format aligned
SELECT obj_description('gn_flux'::regnamespace, 'pg_namespace') IS NOT NULL AS schema_commented;
