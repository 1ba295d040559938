-- gn_flux.check_geonature(): what this database lacks, or has differently, for the load.
-- $1 jsonb: the requirements (crates/gn_synthese/src/requirements.rs):
--   {"columns": [[schema, table, column]…], "unique": [[schema, table, column]…],
--    "functions": [[schema, name]…], "types": [mnemonique…]}
-- One row per problem (object, problem); no row: the database has everything.
-- statement: catalog
WITH req_columns AS (
    SELECT c ->> 0 AS sch, c ->> 1 AS tab, c ->> 2 AS col FROM pg_catalog.jsonb_array_elements($1 -> 'columns') c
),
tables AS (
    SELECT DISTINCT r.sch, r.tab, cl.oid AS relid
      FROM req_columns r
      LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = r.sch
      LEFT JOIN pg_catalog.pg_class cl ON cl.relnamespace = n.oid AND cl.relname = r.tab AND cl.relkind IN ('r', 'p', 'v', 'f', 'm')
),
problems AS (
    SELECT pg_catalog.format('%I', s.sch) AS object, 'schema missing' AS problem
      FROM (SELECT DISTINCT r.sch FROM req_columns r) s
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = s.sch)
    UNION ALL
    SELECT pg_catalog.format('%I.%I', t.sch, t.tab), 'table missing'
      FROM tables t
     WHERE t.relid IS NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = t.sch)
    UNION ALL
    SELECT pg_catalog.format('%I.%I.%I', r.sch, r.tab, r.col), 'column missing'
      FROM req_columns r JOIN tables t ON t.sch = r.sch AND t.tab = r.tab
     WHERE t.relid IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = t.relid AND a.attname = r.col AND a.attnum > 0 AND NOT a.attisdropped)
    UNION ALL
    SELECT pg_catalog.format('%I.%I (%I)', u ->> 0, u ->> 1, u ->> 2),
           'no unique index on this column alone (the load upserts with ON CONFLICT on it)'
      FROM pg_catalog.jsonb_array_elements($1 -> 'unique') u
      JOIN tables t ON t.sch = u ->> 0 AND t.tab = u ->> 1
     WHERE t.relid IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                         JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                        WHERE i.indrelid = t.relid AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL
                          AND i.indexprs IS NULL AND a.attname = u ->> 2)
    UNION ALL
    SELECT pg_catalog.format('%I.%I()', f ->> 0, f ->> 1), 'function missing'
      FROM pg_catalog.jsonb_array_elements($1 -> 'functions') f
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                        WHERE n.nspname = f ->> 0 AND p.proname = f ->> 1)
)
SELECT p.object, p.problem FROM problems p ORDER BY p.object COLLATE "C", p.problem COLLATE "C";

-- statement: nomenclature types
-- (run only when ref_nomenclatures.bib_nomenclatures_types has the columns it needs)
SELECT pg_catalog.format('nomenclature type %s', ty.t) AS object,
       'missing from ref_nomenclatures.bib_nomenclatures_types' AS problem
  FROM pg_catalog.jsonb_array_elements_text($1 -> 'types') ty(t)
 WHERE NOT EXISTS (SELECT 1 FROM ref_nomenclatures.bib_nomenclatures_types b WHERE b.mnemonique = ty.t)
 ORDER BY ty.t COLLATE "C"
