-- The GeoNature load in a database that is not a GeoNature: every function says so with a
-- SQLSTATE, a message, a DETAIL and a HINT; the pure helpers of the mapping work anywhere.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SELECT (gn_flux.add_source('regress_syn', 'http://127.0.0.1:9/geonature', 1, probe => false)).name AS added;

-- What is missing: the schemas first (their tables are not listed one by one).
SELECT * FROM gn_flux.check_geonature();
SELECT * FROM gn_flux.enable_synthese('regress_syn');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM gn_flux.synthese_preview('regress_syn');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.set_synthese_column('regress_syn', 'observers', 'upper(s.item ->> ''observateurs'')');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;

-- Bad input
SELECT * FROM gn_flux.enable_synthese('nope');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM gn_flux.enable_synthese(NULL);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM gn_flux.load_synthese('regress_syn');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM gn_flux.replay_synthese('regress_syn');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.disable_synthese('regress_syn');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.set_synthese_column('regress_syn', 'id_synthese', '1');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.set_synthese_column('regress_syn', 'observers', 's.item ->> ''x''; DROP TABLE gn_flux.source');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.set_synthese_column('regress_syn', 'observers', 'upper(s.item ->> ''x'' -- comment');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.set_synthese_column('regress_syn', NULL, '1');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;

-- The mapping, readable: synthese column <- expression over the staged row s
SELECT column_name, expression, value_type FROM gn_flux.synthese_mapping() ORDER BY column_name COLLATE "C" LIMIT 8;
SELECT count(*) AS mapped_columns FROM gn_flux.synthese_mapping();

-- The conversions the mapping uses: NULL rather than an error for values a remote may send
SELECT gn_flux.to_timestamp_or_null(v) FROM (VALUES ('2024-05-01 07:45:12'), ('2024-05-01T07:45:12.5'), ('2024-05-01'),
    ('2024-02-30 10:00'), ('hier'), ('')) AS t(v);
SELECT gn_flux.to_jsonb_or_null('{"a": 1}'), gn_flux.to_jsonb_or_null('{broken');
SELECT gn_flux._int(v) FROM (VALUES ('12'), (' -7 '), ('2147483648'), ('1e3'), ('12.5'), (NULL)) AS t(v);
SELECT gn_flux._uuid('5F1D4C1E-0A0F-4C4A-9A11-0000000000D1'), gn_flux._uuid('not-a-uuid');
SELECT gn_flux.drop_source('regress_syn');
