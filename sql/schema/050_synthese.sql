-- gn_flux install script, part 5: helpers of the GeoNature load (sql/synthese/).
-- The small conversions below are SQL-standard bodies (RETURN …): their names and operators are
-- bound when the extension is created (no search_path at run time) and PostgreSQL inlines them
-- into the set-based statements, so they cost no function call per row. A value that does not
-- convert gives NULL, and the mapping records the problem: a hostile or sloppy remote cannot make
-- a whole load fail with one bad value.

CREATE FUNCTION gn_flux._uuid(v text) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN v ~* '^\s*[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\s*$'
            THEN pg_catalog.btrim(v)::uuid END;
COMMENT ON FUNCTION gn_flux._uuid(text) IS 'internal: text to uuid, NULL when it is not one';

CREATE FUNCTION gn_flux._int(v text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN v ~ '^\s*[-+]?[0-9]{1,18}\s*$'
            THEN CASE WHEN v::bigint BETWEEN -2147483648 AND 2147483647 THEN v::bigint::integer END END;
COMMENT ON FUNCTION gn_flux._int(text) IS 'internal: text to integer, NULL when it is not one or out of range';

CREATE FUNCTION gn_flux._bool(v text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE pg_catalog.lower(pg_catalog.btrim(v)) WHEN 'true' THEN true WHEN 't' THEN true WHEN '1' THEN true
                                                  WHEN 'false' THEN false WHEN 'f' THEN false WHEN '0' THEN false END;
COMMENT ON FUNCTION gn_flux._bool(text) IS 'internal: text to boolean, NULL when it is not one';

CREATE FUNCTION gn_flux._array(v jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN pg_catalog.jsonb_typeof(v) = 'array' THEN v ELSE '[]'::jsonb END;
COMMENT ON FUNCTION gn_flux._array(jsonb) IS 'internal: the JSON array, or an empty one for anything else';

-- A nomenclature by type and code (or label): `ids` maps type → code → id_nomenclature. An absent
-- value takes GeoNature's default for the type (as the synthese column default would); an
-- unknown one takes it only when use_default, else NULL (the row is then rejected).
CREATE FUNCTION gn_flux._nomenclature(ids jsonb, defaults jsonb, type text, code text, use_default boolean) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN code IS NULL THEN (defaults ->> type)::integer
            ELSE coalesce((ids -> type ->> code)::integer,
                                     CASE WHEN use_default THEN (defaults ->> type)::integer END) END;
COMMENT ON FUNCTION gn_flux._nomenclature(jsonb, jsonb, text, text, boolean) IS
  'internal: id_nomenclature of a code or label of a type, the default for an absent value, NULL (or the default when use_default) for an unknown one';

CREATE FUNCTION gn_flux._nomenclature_problem(ids jsonb, by text, type text, code text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN code IS NOT NULL AND (ids -> type ->> code) IS NULL
            THEN pg_catalog.jsonb_build_array(code, pg_catalog.format('unknown %s %s', type, by)) END;
COMMENT ON FUNCTION gn_flux._nomenclature_problem(jsonb, text, text, text) IS
  'internal: [value, why] when a code (or label) is not one of the type''s, else NULL';

CREATE FUNCTION gn_flux._dataset_nomenclature_problems(ids jsonb, item jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
    'id_nomenclature_data_type', gn_flux._nomenclature_problem(ids, 'code', 'DATA_TYP', item ->> 'data_type'),
    'id_nomenclature_dataset_objectif', gn_flux._nomenclature_problem(ids, 'code', 'JDD_OBJECTIFS', item ->> 'dataset_objectif'),
    'id_nomenclature_collecting_method', gn_flux._nomenclature_problem(ids, 'code', 'METHO_RECUEIL', item ->> 'collecting_method'),
    'id_nomenclature_data_origin', gn_flux._nomenclature_problem(ids, 'code', 'DS_PUBLIQUE', item ->> 'data_origin'),
    'id_nomenclature_source_status', gn_flux._nomenclature_problem(ids, 'code', 'STATUT_SOURCE', item ->> 'source_status'),
    'id_nomenclature_resource_type', gn_flux._nomenclature_problem(ids, 'code', 'RESOURCE_TYP', item ->> 'resource_type')));
COMMENT ON FUNCTION gn_flux._dataset_nomenclature_problems(jsonb, jsonb) IS
  'internal: the unknown nomenclature codes of a dataset item, by gn_meta.t_datasets column';

-- The nomenclatures of this database, once per statement: type → code (or, with labels, the
-- default label: synthese_with_label) → id. A plain body (parsed when called) since
-- ref_nomenclatures need not exist when gn_flux is installed.
CREATE FUNCTION gn_flux._nomenclature_ids(labels boolean DEFAULT false) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(pg_catalog.jsonb_object_agg(x.mnemonique, x.ids), '{}'::jsonb)
      FROM (SELECT t.mnemonique,
                   pg_catalog.jsonb_object_agg(CASE WHEN labels THEN n.label_default ELSE n.cd_nomenclature END,
                                               n.id_nomenclature) AS ids
              FROM ref_nomenclatures.t_nomenclatures n
              JOIN ref_nomenclatures.bib_nomenclatures_types t ON t.id_type = n.id_type
             WHERE n.active AND CASE WHEN labels THEN n.label_default ELSE n.cd_nomenclature END IS NOT NULL
             GROUP BY t.mnemonique) x
$$;
COMMENT ON FUNCTION gn_flux._nomenclature_ids(boolean) IS
  'internal: {type: {cd_nomenclature (label_default with labels): id_nomenclature}} of the active nomenclatures';

COMMENT ON FUNCTION gn_flux.to_timestamp_or_null(text) IS
  'The timestamp in a GeoNature export value (ISO 8601 with a space or T, optional fraction and offset, or a date), NULL when it is not one. Used by the Synthese mapping; usable in column overrides.';
COMMENT ON FUNCTION gn_flux.to_jsonb_or_null(text) IS
  'The JSON document in a text, NULL when it is not JSON. Used by the Synthese mapping for donnees_additionnelles served as text.';
COMMENT ON FUNCTION gn_flux.enable_synthese(text, boolean, boolean) IS
  'From now on, every pull of the source keeps the local GeoNature in step (Synthese, metadata, actors), in the pull''s transaction. Checks the database first (gn_flux.check_geonature). load: also load what is already staged. default_nomenclatures: unknown nomenclature codes take GeoNature''s default (recorded) instead of rejecting the row.';
COMMENT ON FUNCTION gn_flux.disable_synthese(text, boolean) IS
  'Pulls of the source no longer touch GeoNature; remove_observations also deletes the source''s rows from gn_synthese.synthese. Returns the rows deleted.';
COMMENT ON FUNCTION gn_flux.load_synthese(text) IS
  'Loads what is staged for the source (metadata, then every observation) into GeoNature, set-based; the load must be enabled.';
COMMENT ON FUNCTION gn_flux.replay_synthese(text) IS
  'Re-applies the mapping to the staged rows and metadata that were rejected (after a referential was fixed): rows that now pass are loaded and their rejects cleared.';
COMMENT ON FUNCTION gn_flux.synthese_preview(text, integer[], integer) IS
  'Dry run: the gn_synthese.synthese rows the load would write for staged rows of the source (as jsonb, see jsonb_populate_record), what it would do, and each row''s problems. Writes nothing.';
COMMENT ON FUNCTION gn_flux.check_geonature() IS
  'What this database lacks, or has differently, for the GeoNature load (GeoNature 2.17): one row per problem, none when everything is there.';
COMMENT ON FUNCTION gn_flux.set_synthese_column(text, text, text) IS
  'Overrides one column of the observation mapping for one source with an SQL expression over the staged row s (s.item, s.geom, s.uuid, s.id_data), checked by compiling the mapping; NULL restores the default.';
COMMENT ON FUNCTION gn_flux.synthese_mapping(text) IS
  'The observation mapping: synthese column ← expression over the staged row, with the source''s overrides when a source is given.';

REVOKE ALL ON FUNCTION gn_flux.enable_synthese(text, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.disable_synthese(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.load_synthese(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.replay_synthese(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.synthese_preview(text, integer[], integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.set_synthese_column(text, text, text) FROM PUBLIC;
