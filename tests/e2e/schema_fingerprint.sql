-- A sorted description of everything gn_flux owns in its schema, used to check that an upgraded
-- installation (ALTER EXTENSION gn_flux UPDATE) equals a fresh one.
SELECT line FROM (
  SELECT 'function ' || p.oid::regprocedure::text || ' -> ' || coalesce(pg_get_function_result(p.oid), 'procedure')
         || ' ' || p.prokind::text || p.provolatile::text || CASE WHEN p.prosecdef THEN ' security definer' ELSE '' END
         || coalesce(' config=' || p.proconfig::text, '') || coalesce(' acl=' || p.proacl::text, '')
         || coalesce(' -- ' || obj_description(p.oid, 'pg_proc'), '') AS line
    FROM pg_proc p WHERE p.pronamespace = 'gn_flux'::regnamespace
  UNION ALL
  SELECT 'relation ' || c.relname || ' kind=' || c.relkind::text || CASE WHEN c.relrowsecurity THEN ' rls' ELSE '' END
         || coalesce(' acl=' || c.relacl::text, '')
         || coalesce(' -- ' || obj_description(c.oid, 'pg_class'), '')
    FROM pg_class c WHERE c.relnamespace = 'gn_flux'::regnamespace
  UNION ALL
  SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
         || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
         || coalesce(' -- ' || col_description(c.oid, a.attnum), '')
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE c.relnamespace = 'gn_flux'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'gn_flux'::regnamespace
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'gn_flux'::regnamespace
  UNION ALL
  SELECT 'view ' || c.relname || ' ' || pg_get_viewdef(c.oid)
    FROM pg_class c WHERE c.relkind IN ('v', 'm') AND c.relnamespace = 'gn_flux'::regnamespace
  UNION ALL
  SELECT 'trigger ' || t.tgrelid::regclass::text || ' ' || pg_get_triggerdef(t.oid)
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
   WHERE c.relnamespace = 'gn_flux'::regnamespace AND NOT t.tgisinternal
  UNION ALL
  SELECT 'policy ' || p.tablename || ' ' || p.policyname || ' ' || p.cmd || ' ' || p.roles::text
         || coalesce(' using ' || p.qual, '') || coalesce(' check ' || p.with_check, '')
    FROM pg_policies p WHERE p.schemaname = 'gn_flux'
  UNION ALL
  -- what pg_dump keeps: the extension's configuration tables and their filters
  SELECT 'dumped ' || x.cfg::regclass::text || coalesce(' ' || nullif(x.cond, ''), '')
    FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(cfg, cond) WHERE e.extname = 'gn_flux'
  UNION ALL
  SELECT 'type ' || t.typname FROM pg_type t
   WHERE t.typnamespace = 'gn_flux'::regnamespace AND t.typrelid = 0 AND t.typelem = 0
) s ORDER BY line;
