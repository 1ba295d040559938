-- gn_flux install script, part 7: mapping sources of other kinds (WFS, OGC API, JSON APIs, GBIF)
-- to the Synthese. A mapping is the source's rows of gn_flux.synthese_column (set with
-- gn_flux.set_mapping or gn_flux.set_synthese_column); for these sources every column not
-- mapped is NULL, except unique_id_sinp (the staged uuid), the_geom_4326 (the staged geometry,
-- already in EPSG:4326) and entity_source_pk_value (the item's key).
-- The helpers below are written for mapping expressions; they read GeoNature's referentials at
-- call time (plpgsql: the extension installs without GeoNature).

CREATE FUNCTION gn_flux._feed_key(id_data integer) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT k.key FROM gn_flux.feed_key k WHERE k.id_data = _feed_key.id_data $$;
COMMENT ON FUNCTION gn_flux._feed_key(integer) IS 'internal: the item key (feature id, GBIF key…) of a staged row of a source of another kind';

-- A nomenclature code from a code or a label (label_default, label_fr, case-insensitive): what
-- a mapping needs for sources that send labels (GeoNature's v_synthese_sinp sends labels; a
-- code expected where a label comes is how API2GN loses nomenclatures). An unknown value is
-- returned as it is, so that the load rejects it with the value (nothing is dropped silently).
CREATE FUNCTION gn_flux.nomenclature_code(type_mnemonique text, value text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    code text;
BEGIN
    IF value IS NULL OR btrim(value) = '' THEN
        RETURN NULL;
    END IF;
    SELECT n.cd_nomenclature INTO code
      FROM ref_nomenclatures.t_nomenclatures n
      JOIN ref_nomenclatures.bib_nomenclatures_types t ON t.id_type = n.id_type
     WHERE t.mnemonique::text = type_mnemonique
       AND (n.cd_nomenclature::text = btrim(value)
            OR lower(n.label_default::text) = lower(btrim(value))
            OR lower(n.label_fr::text) = lower(btrim(value)))
     ORDER BY (n.cd_nomenclature::text = btrim(value)) DESC, n.id_nomenclature
     LIMIT 1;
    RETURN coalesce(code, value);
END
$$;
COMMENT ON FUNCTION gn_flux.nomenclature_code(text, text) IS
  'For mappings: the code of a nomenclature of type type_mnemonique (e.g. STATUT_BIO) given its code or its label (label_default or label_fr, case-insensitive); an unknown value is returned unchanged, so that the load rejects it with its value.';

-- The taxon of a scientific name: the TAXREF row whose lb_nom or nom_complet is the name
-- (the reference row of the name first).
CREATE FUNCTION gn_flux.taxon_by_name(name text) RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found integer;
BEGIN
    IF name IS NULL OR btrim(name) = '' THEN
        RETURN NULL;
    END IF;
    SELECT t.cd_nom INTO found FROM taxonomie.taxref t
     WHERE t.lb_nom::text = btrim(name) OR t.nom_complet::text = btrim(name)
     ORDER BY (t.cd_nom = t.cd_ref) DESC, (t.lb_nom::text = btrim(name)) DESC, t.cd_nom
     LIMIT 1;
    RETURN found;
END
$$;
COMMENT ON FUNCTION gn_flux.taxon_by_name(text) IS
  'For mappings: the cd_nom of a scientific name in taxonomie.taxref (lb_nom, else nom_complet; the reference name first), NULL if unknown.';

-- The taxon of an external key through TAXREF's links (taxonomie.taxref_liens: ct_name is the
-- database, e.g. 'GBIF', ct_sp_id its key), as API2GN's GBIF parser does.
CREATE FUNCTION gn_flux.taxon_by_link(database_name text, external_id text) RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found integer;
BEGIN
    IF external_id IS NULL OR pg_catalog.to_regclass('taxonomie.taxref_liens') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT l.cd_nom FROM taxonomie.taxref_liens l
              WHERE l.ct_name::text = $1 AND l.ct_sp_id::text = $2 ORDER BY l.cd_nom LIMIT 1'
       INTO found USING database_name, btrim(external_id);
    RETURN found;
END
$$;
COMMENT ON FUNCTION gn_flux.taxon_by_link(text, text) IS
  'For mappings: the cd_nom linked to an external taxon key in taxonomie.taxref_liens, e.g. taxon_by_link(''GBIF'', s.item ->> ''taxonKey''); NULL if unknown or if the table is absent.';

-- Dates as sources write them: ISO instants, dates, partial dates ('2020', '2020-05') and ISO
-- intervals ('2020-05-01/2020-05-03', as GBIF's eventDate).
CREATE FUNCTION gn_flux.date_start(value text) RETURNS timestamp without time zone
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text := btrim(split_part(value, '/', 1));
BEGIN
    IF v IS NULL OR v = '' THEN
        RETURN NULL;
    ELSIF v ~ '^\d{4}$' THEN
        RETURN make_timestamp(v::int, 1, 1, 0, 0, 0);
    ELSIF v ~ '^\d{4}-\d{2}$' THEN
        RETURN make_timestamp(split_part(v, '-', 1)::int, split_part(v, '-', 2)::int, 1, 0, 0, 0);
    END IF;
    RETURN gn_flux.to_timestamp_or_null(v);
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION gn_flux.date_start(text) IS
  'For mappings: the start of a date as sources write it (an instant, a date, a year, a year-month, or an ISO interval a/b); NULL if unreadable.';

CREATE FUNCTION gn_flux.date_end(value text) RETURNS timestamp without time zone
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text := btrim(CASE WHEN strpos(value, '/') > 0 THEN split_part(value, '/', 2) ELSE value END);
BEGIN
    IF v IS NULL OR v = '' THEN
        RETURN NULL;
    ELSIF v ~ '^\d{4}$' THEN
        RETURN make_timestamp(v::int, 12, 31, 23, 59, 59);
    ELSIF v ~ '^\d{4}-\d{2}$' THEN
        RETURN make_timestamp(split_part(v, '-', 1)::int, split_part(v, '-', 2)::int, 1, 23, 59, 59)
               + interval '1 month' - interval '1 day';
    END IF;
    RETURN gn_flux.to_timestamp_or_null(v);
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION gn_flux.date_end(text) IS
  'For mappings: the end of a date as sources write it (a year ends on 31 December 23:59:59, a month on its last day, an interval a/b at b); NULL if unreadable.';

-- Ready-made mappings (a JSON object column => SQL expression, for gn_flux.set_mapping).
CREATE FUNCTION gn_flux.example_mapping(name text, dataset uuid) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ds text := quote_literal(dataset::text);
BEGIN
    IF dataset IS NULL AND name IS DISTINCT FROM 'gbif' THEN
        RAISE EXCEPTION 'dataset must not be NULL'
            USING ERRCODE = '22004', HINT = 'Give the unique_dataset_id (gn_meta.t_datasets) the observations go to (NULL only for gbif: one dataset per GBIF datasetKey, see gn_flux.set_datasets).';
    END IF;
    IF name = 'geonature_sinp' THEN
        -- Another GeoNature's v_synthese_sinp export pulled as a JSON API: nomenclatures come
        -- as labels and are turned into codes.
        RETURN jsonb_build_object(
            'id_dataset', format('coalesce(s.item ->> %L, %s)', 'jdd_uuid', ds),
            'entity_source_pk_value', 's.item ->> ''id_synthese''',
            'unique_id_sinp_grp', 's.item ->> ''id_perm_grp_sinp''',
            'nom_cite', 's.item ->> ''nom_cite''',
            'cd_nom', 's.item ->> ''cd_nom''',
            'meta_v_taxref', 's.item ->> ''version_taxref''',
            'date_min', 's.item ->> ''date_debut''',
            'date_max', 's.item ->> ''date_fin''',
            'count_min', 's.item ->> ''nombre_min''',
            'count_max', 's.item ->> ''nombre_max''',
            'altitude_min', 's.item ->> ''altitude_min''',
            'altitude_max', 's.item ->> ''altitude_max''',
            'depth_min', 's.item ->> ''profondeur_min''',
            'depth_max', 's.item ->> ''profondeur_max''',
            'observers', 's.item ->> ''observateurs''',
            'determiner', 's.item ->> ''determinateur''',
            'validator', 's.item ->> ''validateur''',
            'comment_context', 's.item ->> ''comment_releve''',
            'comment_description', 's.item ->> ''comment_occurrence''',
            'place_name', 's.item ->> ''nom_lieu''',
            'precision', 's.item ->> ''precision''',
            'reference_biblio', 's.item ->> ''reference_biblio''',
            'cd_hab', 's.item ->> ''code_habitat''',
            'grp_method', 's.item ->> ''methode_regroupement''',
            'sample_number_proof', 's.item ->> ''numero_preuve''',
            'digital_proof', 's.item ->> ''preuve_numerique''',
            'non_digital_proof', 's.item ->> ''preuve_non_numerique''',
            'the_geom_4326', 'coalesce(s.geom, ST_GeomFromText(s.item ->> ''wkt_4326'', 4326))',
            'id_nomenclature_geo_object_nature', 'gn_flux.nomenclature_code(''NAT_OBJ_GEO'', s.item ->> ''nature_objet_geo'')',
            'id_nomenclature_grp_typ', 'gn_flux.nomenclature_code(''TYP_GRP'', s.item ->> ''type_regroupement'')',
            'id_nomenclature_behaviour', 'gn_flux.nomenclature_code(''OCC_COMPORTEMENT'', s.item ->> ''comportement'')',
            'id_nomenclature_obs_technique', 'gn_flux.nomenclature_code(''METH_OBS'', s.item ->> ''technique_obs'')',
            'id_nomenclature_bio_status', 'gn_flux.nomenclature_code(''STATUT_BIO'', s.item ->> ''statut_biologique'')',
            'id_nomenclature_bio_condition', 'gn_flux.nomenclature_code(''ETA_BIO'', s.item ->> ''etat_biologique'')',
            'id_nomenclature_naturalness', 'gn_flux.nomenclature_code(''NATURALITE'', s.item ->> ''naturalite'')',
            'id_nomenclature_exist_proof', 'gn_flux.nomenclature_code(''PREUVE_EXIST'', s.item ->> ''preuve_existante'')',
            'id_nomenclature_diffusion_level', 'gn_flux.nomenclature_code(''NIV_PRECIS'', s.item ->> ''precision_diffusion'')',
            'id_nomenclature_life_stage', 'gn_flux.nomenclature_code(''STADE_VIE'', s.item ->> ''stade_vie'')',
            'id_nomenclature_sex', 'gn_flux.nomenclature_code(''SEXE'', s.item ->> ''sexe'')',
            'id_nomenclature_obj_count', 'gn_flux.nomenclature_code(''OBJ_DENBR'', s.item ->> ''objet_denombrement'')',
            'id_nomenclature_type_count', 'gn_flux.nomenclature_code(''TYP_DENBR'', s.item ->> ''type_denombrement'')',
            'id_nomenclature_sensitivity', 'gn_flux.nomenclature_code(''SENSIBILITE'', s.item ->> ''niveau_sensibilite'')',
            'id_nomenclature_observation_status', 'gn_flux.nomenclature_code(''STATUT_OBS'', s.item ->> ''statut_observation'')',
            'id_nomenclature_blurring', 'gn_flux.nomenclature_code(''DEE_FLOU'', s.item ->> ''floutage_dee'')',
            'id_nomenclature_source_status', 'gn_flux.nomenclature_code(''STATUT_SOURCE'', s.item ->> ''statut_source'')',
            'id_nomenclature_info_geo_type', 'gn_flux.nomenclature_code(''TYP_INF_GEO'', s.item ->> ''type_info_geo'')',
            'id_nomenclature_determination_method', 'gn_flux.nomenclature_code(''METH_DETERMIN'', s.item ->> ''methode_determination'')',
            'additional_data', 'gn_flux.to_jsonb_or_null(s.item ->> ''donnees_additionnelles'')');
    ELSIF name = 'wfs_layer' THEN
        -- A WFS (or OGC API) layer of observations with plain attributes, as the test layer.
        RETURN jsonb_build_object(
            'id_dataset', ds,
            'nom_cite', 's.item ->> ''nom_cite''',
            'cd_nom', 's.item ->> ''cd_nom''',
            'date_min', 'gn_flux.date_start(s.item ->> ''date_obs'')',
            'date_max', 'gn_flux.date_end(s.item ->> ''date_obs'')',
            'count_min', 's.item ->> ''nombre''',
            'count_max', 's.item ->> ''nombre''',
            'observers', 's.item ->> ''observateur''',
            'place_name', 's.item ->> ''commune''',
            'id_nomenclature_obs_technique', '''0''',
            'id_nomenclature_observation_status', '''Pr''');
    ELSIF name = 'gbif' THEN
        -- GBIF occurrences: taxon through TAXREF's links (else the name), GBIF's vocabularies
        -- to SINP codes.
        RETURN jsonb_build_object(
            -- (NULL dataset: GBIF's datasetKey, a uuid, names the dataset gn_flux.set_datasets creates)
            'id_dataset', coalesce(ds, 's.item ->> ''datasetKey'''),
            'nom_cite', 'coalesce(s.item ->> ''scientificName'', s.item ->> ''species'')',
            'cd_nom', 'coalesce(gn_flux.taxon_by_link(''GBIF'', s.item ->> ''taxonKey''), gn_flux.taxon_by_name(s.item ->> ''species''), gn_flux.taxon_by_name(s.item ->> ''scientificName''))',
            'date_min', 'gn_flux.date_start(s.item ->> ''eventDate'')',
            'date_max', 'gn_flux.date_end(s.item ->> ''eventDate'')',
            'count_min', 's.item ->> ''individualCount''',
            'count_max', 's.item ->> ''individualCount''',
            'observers', 's.item ->> ''recordedBy''',
            'precision', 'round((s.item ->> ''coordinateUncertaintyInMeters'')::numeric)',
            'reference_biblio', '''GBIF occurrence '' || (s.item ->> ''key'')',
            'id_nomenclature_sex', 'CASE s.item ->> ''sex'' WHEN ''MALE'' THEN ''3'' WHEN ''FEMALE'' THEN ''2'' WHEN ''HERMAPHRODITE'' THEN ''4'' ELSE ''6'' END',
            'id_nomenclature_life_stage', 'CASE s.item ->> ''lifeStage'' WHEN ''ADULT'' THEN ''2'' WHEN ''JUVENILE'' THEN ''3'' WHEN ''LARVA'' THEN ''6'' WHEN ''EGG'' THEN ''9'' ELSE ''1'' END',
            'id_nomenclature_observation_status', 'CASE s.item ->> ''occurrenceStatus'' WHEN ''ABSENT'' THEN ''No'' ELSE ''Pr'' END',
            'id_nomenclature_source_status', 'CASE s.item ->> ''basisOfRecord'' WHEN ''PRESERVED_SPECIMEN'' THEN ''Co'' WHEN ''LITERATURE'' THEN ''Li'' ELSE ''Te'' END',
            'additional_data', 'jsonb_build_object(''gbif_key'', s.item -> ''key'', ''datasetKey'', s.item -> ''datasetKey'', ''taxonKey'', s.item -> ''taxonKey'', ''occurrenceID'', s.item -> ''occurrenceID'')');
    END IF;
    RAISE EXCEPTION 'unknown example mapping "%"', name
        USING ERRCODE = '22023', HINT = 'Use geonature_sinp, wfs_layer or gbif.';
END
$$;
COMMENT ON FUNCTION gn_flux.example_mapping(text, uuid) IS
  'Ready-made mappings for gn_flux.set_mapping: geonature_sinp (another GeoNature''s v_synthese_sinp export, labels turned into codes), wfs_layer (a layer of plain observation attributes), gbif (GBIF occurrences); dataset: the unique_dataset_id the observations go to (gbif: NULL = each GBIF datasetKey, with gn_flux.set_datasets).';

COMMENT ON FUNCTION gn_flux.set_mapping(text, jsonb) IS
  'Replaces the whole Synthese mapping of a source ({"column": "SQL expression over s"}), checked as a whole: known columns, one expression each, id_dataset, nom_cite, date_min and date_max mapped for sources of other kinds, the statement compiled. Stored in gn_flux.synthese_column.';
REVOKE ALL ON FUNCTION gn_flux.set_mapping(text, jsonb) FROM PUBLIC;

-- Frameworks and datasets created by a source (e.g. one dataset per GBIF dataset key): the
-- source's row here says how to read a dataset key and name from each staged item; the load
-- creates the missing datasets (under one acquisition framework per source) before mapping each
-- chunk, and the mapping's id_dataset gives gn_flux.dataset_uuid(source, key) — or the key
-- itself when it is a uuid, as GBIF's datasetKey.
CREATE TABLE gn_flux.feed_datasets (
    source text PRIMARY KEY,
    key_expression text NOT NULL,
    name_expression text NOT NULL,
    set_by name NOT NULL DEFAULT current_user,
    set_at timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('gn_flux.feed_datasets', '');
COMMENT ON TABLE gn_flux.feed_datasets IS
  'Sources that create their datasets (gn_flux.set_datasets): SQL expressions over the staged row s giving each item''s dataset key and name.';

CREATE FUNCTION gn_flux.dataset_uuid(source text, key text) RETURNS uuid
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF key IS NULL THEN
        RETURN NULL;
    END IF;
    IF key ~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' THEN
        RETURN key::uuid;
    END IF;
    RETURN md5('gn_flux dataset/' || source || '/' || key)::uuid;
END
$$;
COMMENT ON FUNCTION gn_flux.dataset_uuid(text, text) IS
  'The unique_dataset_id of the dataset a source creates for a key (gn_flux.set_datasets): the key itself when it is a uuid (GBIF''s datasetKey), else one derived from the source and the key.';

-- Called by the load before each chunk of a source with a gn_flux.feed_datasets row: the
-- source's acquisition framework and the chunk's missing datasets. Returns the rows created.
CREATE FUNCTION gn_flux._create_feed_datasets(source text, ids integer[]) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cfg gn_flux.feed_datasets;
    af_uuid uuid := md5('gn_flux framework/' || source)::uuid;
    af integer;
    created integer := 0;
    n integer;
BEGIN
    SELECT * INTO cfg FROM gn_flux.feed_datasets f WHERE f.source = _create_feed_datasets.source;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    -- (the expressions run with the privileges of the role loading: their author must hold them)
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = cfg.set_by)
       OR NOT pg_catalog.pg_has_role(cfg.set_by, current_user, 'MEMBER') THEN
        RAISE EXCEPTION 'the dataset expressions of source "%" were set by role "%", which does not hold the privileges of the current role', source, cfg.set_by
            USING ERRCODE = '42501', HINT = 'Set them again as this role with gn_flux.set_datasets(), or load as that role.';
    END IF;
    SELECT a.id_acquisition_framework INTO af FROM gn_meta.t_acquisition_frameworks a
     WHERE a.unique_acquisition_framework_id = af_uuid;
    IF af IS NULL THEN
        INSERT INTO gn_meta.t_acquisition_frameworks (unique_acquisition_framework_id, acquisition_framework_name,
               acquisition_framework_desc, acquisition_framework_start_date)
        VALUES (af_uuid, left('gn_flux: ' || source, 255), 'Created by gn_flux for the datasets of source ' || source, current_date)
        RETURNING id_acquisition_framework INTO af;
        created := 1;
    END IF;
    EXECUTE format(
        'INSERT INTO gn_meta.t_datasets (unique_dataset_id, id_acquisition_framework, dataset_name, dataset_shortname,
                dataset_desc, marine_domain, terrestrial_domain)
         SELECT DISTINCT ON (x.u) x.u, $2, left(coalesce(x.n, x.k), 255), left(x.k, 255),
                ''Created by gn_flux for source '' || $1, false, true
           FROM (SELECT gn_flux.dataset_uuid($1, k.k) AS u, k.k, k.n
                   FROM (SELECT CAST((%s) AS text) AS k, CAST((%s) AS text) AS n
                           FROM gn_flux.data_json s
                          WHERE s.source::text = $1 AND s.controler::text = ''data'' AND s.id_data = ANY ($3)) k
                  WHERE k.k IS NOT NULL) x
          WHERE NOT EXISTS (SELECT 1 FROM gn_meta.t_datasets d WHERE d.unique_dataset_id = x.u)',
        cfg.key_expression, cfg.name_expression)
    USING source, af, ids;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN created + n;
END
$$;
COMMENT ON FUNCTION gn_flux._create_feed_datasets(text, integer[]) IS 'internal: the datasets (and framework) a source creates, for a chunk of its staged rows';
REVOKE ALL ON FUNCTION gn_flux._create_feed_datasets(text, integer[]) FROM PUBLIC;

COMMENT ON FUNCTION gn_flux.set_datasets(text, text, text) IS
  'Makes a source create its datasets: key_expression and name_expression are SQL expressions over the staged row s (e.g. s.item ->> ''datasetKey''); the load creates one dataset per key under an acquisition framework of the source. NULL key_expression stops it. Map id_dataset to gn_flux.dataset_uuid(source, key).';
REVOKE ALL ON FUNCTION gn_flux.set_datasets(text, text, text) FROM PUBLIC;
