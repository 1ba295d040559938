-- Staged observations (gn_flux.data_json) → rows of gn_synthese.synthese (GeoNature 2.17), set-based.
-- Used as the first part of load_observations.sql (pulls, load_synthese, replay_synthese) and of
-- gn_flux.synthese_preview: one statement maps a whole chunk of rows, with each row's problems.
--
-- $1 text: source   $2 integer[]: the data_json.id_data values to map
-- $3 integer: gn_synthese.t_sources.id_source of the source
-- $4 boolean: an unknown nomenclature code takes GeoNature's default value (recorded) instead of
--    rejecting the row
-- @postgis@ is replaced by PostGIS's schema; every other name is schema-qualified.
--
-- Step 1, `raw`: the mapping proper, "synthese column ← expression over the staged row s" (s.item
-- is the export row as jsonb, s.geom its geometry in EPSG:4326, s.uuid, s.id_data). Every
-- expression gives the value as the export carries it: text (nomenclatures as codes — or labels
-- for synthese_with_label —, numbers, dates, uuids), except the_geom_4326 (geometry),
-- id_area_attachment and additional_data (jsonb). gn_flux.set_synthese_column replaces one line
-- for one source; the lines between the two markers are read by gn_flux, one column per line.
-- Step 2, `resolved`: codes to ids, uuids to datasets, safe casts, referential lookups.
-- Step 3: the synthese row and its problems, field by field (a row with a rejection is not written).
WITH cfg AS MATERIALIZED (
    SELECT
        gn_flux._nomenclature_ids() AS by_code,
        gn_flux._nomenclature_ids(labels => true) AS by_label,
        (SELECT pg_catalog.jsonb_object_agg(k.t, gn_synthese.get_default_nomenclature_value(k.t))
           FROM pg_catalog.unnest(ARRAY['NAT_OBJ_GEO', 'TYP_GRP', 'METH_OBS', 'STATUT_BIO', 'ETA_BIO', 'NATURALITE',
                                        'PREUVE_EXIST', 'STATUT_VALID', 'NIV_PRECIS', 'STADE_VIE', 'SEXE', 'OBJ_DENBR',
                                        'TYP_DENBR', 'SENSIBILITE', 'STATUT_OBS', 'DEE_FLOU', 'STATUT_SOURCE',
                                        'TYP_INF_GEO', 'OCC_COMPORTEMENT', 'STAT_BIOGEO', 'METH_DETERMIN']) AS k(t)) AS defaults,
        @postgis@.find_srid('gn_synthese', 'synthese', 'the_geom_local') AS local_srid,
        (SELECT n.id_nomenclature FROM ref_nomenclatures.t_nomenclatures n
           JOIN ref_nomenclatures.bib_nomenclatures_types t ON t.id_type = n.id_type
          WHERE t.mnemonique::text = 'TYP_INF_GEO' AND n.cd_nomenclature::text = '2') AS info_geo_attached
),
staged AS (
    SELECT d.id_data, d.uuid, d.type, d.item, d.geom
      FROM gn_flux.data_json d
     WHERE d.source::text = $1 AND d.controler::text = 'data' AND d.id_data = ANY ($2::integer[])
),
raw AS (
    SELECT s.id_data AS staged_id, s.type AS staged_type, s.uuid AS staged_uuid,
-- mapping begin
           s.uuid::text AS unique_id_sinp,
           s.item ->> 'id_perm_grp_sinp' AS unique_id_sinp_grp,
           s.item ->> 'id_synthese' AS entity_source_pk_value,
           s.item ->> 'jdd_uuid' AS id_dataset,
           s.item ->> 'nature_objet_geo' AS id_nomenclature_geo_object_nature,
           s.item ->> 'type_regroupement' AS id_nomenclature_grp_typ,
           s.item ->> 'methode_regroupement' AS grp_method,
           s.item ->> 'technique_obs' AS id_nomenclature_obs_technique,
           s.item ->> 'statut_biologique' AS id_nomenclature_bio_status,
           s.item ->> 'etat_biologique' AS id_nomenclature_bio_condition,
           s.item ->> 'naturalite' AS id_nomenclature_naturalness,
           s.item ->> 'preuve_existante' AS id_nomenclature_exist_proof,
           s.item ->> 'statut_validation' AS id_nomenclature_valid_status,
           s.item ->> 'precision_diffusion' AS id_nomenclature_diffusion_level,
           s.item ->> 'stade_vie' AS id_nomenclature_life_stage,
           s.item ->> 'sexe' AS id_nomenclature_sex,
           s.item ->> 'objet_denombrement' AS id_nomenclature_obj_count,
           s.item ->> 'type_denombrement' AS id_nomenclature_type_count,
           s.item ->> 'niveau_sensibilite' AS id_nomenclature_sensitivity,
           s.item ->> 'statut_observation' AS id_nomenclature_observation_status,
           s.item ->> 'floutage_dee' AS id_nomenclature_blurring,
           s.item ->> 'statut_source' AS id_nomenclature_source_status,
           s.item ->> 'type_info_geo' AS id_nomenclature_info_geo_type,
           s.item ->> 'comportement' AS id_nomenclature_behaviour,
           s.item ->> 'statut_biogeo' AS id_nomenclature_biogeo_status,
           s.item ->> 'methode_determination' AS id_nomenclature_determination_method,
           s.item ->> 'reference_biblio' AS reference_biblio,
           s.item ->> 'nombre_min' AS count_min,
           s.item ->> 'nombre_max' AS count_max,
           s.item ->> 'cd_nom' AS cd_nom,
           s.item ->> 'code_habitat' AS cd_hab,
           s.item ->> 'nom_cite' AS nom_cite,
           s.item ->> 'version_taxref' AS meta_v_taxref,
           s.item ->> 'numero_preuve' AS sample_number_proof,
           s.item ->> 'preuve_numerique' AS digital_proof,
           s.item ->> 'preuve_non_numerique' AS non_digital_proof,
           s.item ->> 'altitude_min' AS altitude_min,
           s.item ->> 'altitude_max' AS altitude_max,
           s.item ->> 'profondeur_min' AS depth_min,
           s.item ->> 'profondeur_max' AS depth_max,
           s.item ->> 'nom_lieu' AS place_name,
           s.geom AS the_geom_4326,
           s.item ->> 'precision' AS "precision",
           s.item -> 'area_attachment' AS id_area_attachment,
           s.item ->> 'date_debut' AS date_min,
           s.item ->> 'date_fin' AS date_max,
           s.item ->> 'validateur' AS validator,
           s.item ->> 'comment_validation' AS validation_comment,
           s.item ->> 'observateurs' AS observers,
           s.item ->> 'determinateur' AS determiner,
           s.item ->> 'comment_releve' AS comment_context,
           s.item ->> 'comment_occurrence' AS comment_description,
           s.item -> 'donnees_additionnelles' AS additional_data,
           s.item ->> 'validation_date' AS meta_validation_date
-- mapping end
      FROM staged s
),
typed AS (
    SELECT r.*,
           CASE WHEN r.staged_type = 'synthese_with_label' THEN c.by_label ELSE c.by_code END AS ids,
           CASE WHEN r.staged_type = 'synthese_with_label' THEN 'label' ELSE 'code' END AS by,
           c.defaults, c.local_srid, c.info_geo_attached,
           r.staged_uuid AS v_uuid,
           gn_flux._uuid(r.unique_id_sinp_grp) AS v_uuid_grp,
           gn_flux._uuid(r.id_dataset) AS v_dataset_uuid,
           gn_flux._int(r.cd_nom) AS v_cd_nom,
           gn_flux._int(r.cd_hab) AS v_cd_hab,
           gn_flux._int(r.count_min) AS v_count_min,
           gn_flux._int(r.count_max) AS v_count_max,
           gn_flux._int(r.altitude_min) AS v_altitude_min,
           gn_flux._int(r.altitude_max) AS v_altitude_max,
           gn_flux._int(r.depth_min) AS v_depth_min,
           gn_flux._int(r.depth_max) AS v_depth_max,
           gn_flux._int(r."precision") AS v_precision,
           gn_flux.to_timestamp_or_null(r.date_min) AS v_date_min,
           gn_flux.to_timestamp_or_null(r.date_max) AS v_date_max,
           gn_flux.to_timestamp_or_null(r.meta_validation_date) AS v_validation_date,
           @postgis@.ST_Force2D(r.the_geom_4326) AS v_geom,
           -- (a longitude or latitude out of range cannot be projected: rejected, not an error)
           @postgis@.ST_XMin(r.the_geom_4326) >= -180 AND @postgis@.ST_XMax(r.the_geom_4326) <= 180
               AND @postgis@.ST_YMin(r.the_geom_4326) >= -90 AND @postgis@.ST_YMax(r.the_geom_4326) <= 90 AS v_geom_in_range,
           CASE WHEN pg_catalog.jsonb_typeof(r.additional_data) = 'string'
                THEN gn_flux.to_jsonb_or_null(r.additional_data ->> 0) ELSE r.additional_data END AS v_additional_data
      FROM raw r CROSS JOIN cfg c
),
resolved AS (
    SELECT t.*,
           ds.id_dataset AS v_id_dataset,
           tx.cd_nom AS known_cd_nom,
           hb.cd_hab AS known_cd_hab,
           area.id_area AS v_id_area,
           CASE WHEN holder.id_source <> $3::integer THEN holder.id_synthese END AS other_id_synthese,
           CASE WHEN holder.id_source <> $3::integer THEN other_source.name_source END AS other_source,
           CASE WHEN holder.id_source = $3::integer THEN holder.id_synthese END AS mine_id_synthese
      FROM typed t
      LEFT JOIN gn_meta.t_datasets ds ON ds.unique_dataset_id = t.v_dataset_uuid
      LEFT JOIN taxonomie.taxref tx ON tx.cd_nom = t.v_cd_nom
      LEFT JOIN ref_habitats.habref hb ON hb.cd_hab = t.v_cd_hab
      LEFT JOIN LATERAL (
          SELECT a.id_area FROM ref_geo.l_areas a JOIN ref_geo.bib_areas_types at ON at.id_type = a.id_type
           WHERE at.type_code::text = t.id_area_attachment ->> 'type_code' AND a.area_code::text = t.id_area_attachment ->> 'area_code'
      ) area ON true
      -- the Synthese row holding the uuid, if any, looked up row by row through its unique index
      -- (a hash join would read the whole Synthese for every chunk, whose size the planner
      -- underestimates while a pull fills it)
      LEFT JOIN LATERAL (SELECT h.id_synthese, h.id_source FROM gn_synthese.synthese h
                          WHERE h.unique_id_sinp = t.staged_uuid LIMIT 1) holder ON true
      LEFT JOIN gn_synthese.t_sources other_source ON other_source.id_source = holder.id_source
),
mapped AS (
    SELECT r.staged_id, r.mine_id_synthese,
           r.v_uuid AS unique_id_sinp,
           r.v_uuid_grp AS unique_id_sinp_grp,
           $3::integer AS id_source,
           r.entity_source_pk_value::varchar AS entity_source_pk_value,
           r.v_id_dataset AS id_dataset,
           gn_flux._nomenclature(r.ids, r.defaults, 'NAT_OBJ_GEO', r.id_nomenclature_geo_object_nature, $4) AS id_nomenclature_geo_object_nature,
           gn_flux._nomenclature(r.ids, r.defaults, 'TYP_GRP', r.id_nomenclature_grp_typ, $4) AS id_nomenclature_grp_typ,
           r.grp_method::varchar AS grp_method,
           gn_flux._nomenclature(r.ids, r.defaults, 'METH_OBS', r.id_nomenclature_obs_technique, $4) AS id_nomenclature_obs_technique,
           gn_flux._nomenclature(r.ids, r.defaults, 'STATUT_BIO', r.id_nomenclature_bio_status, $4) AS id_nomenclature_bio_status,
           gn_flux._nomenclature(r.ids, r.defaults, 'ETA_BIO', r.id_nomenclature_bio_condition, $4) AS id_nomenclature_bio_condition,
           gn_flux._nomenclature(r.ids, r.defaults, 'NATURALITE', r.id_nomenclature_naturalness, $4) AS id_nomenclature_naturalness,
           gn_flux._nomenclature(r.ids, r.defaults, 'PREUVE_EXIST', r.id_nomenclature_exist_proof, $4) AS id_nomenclature_exist_proof,
           gn_flux._nomenclature(r.ids, r.defaults, 'STATUT_VALID', r.id_nomenclature_valid_status, $4) AS id_nomenclature_valid_status,
           gn_flux._nomenclature(r.ids, r.defaults, 'NIV_PRECIS', r.id_nomenclature_diffusion_level, $4) AS id_nomenclature_diffusion_level,
           gn_flux._nomenclature(r.ids, r.defaults, 'STADE_VIE', r.id_nomenclature_life_stage, $4) AS id_nomenclature_life_stage,
           gn_flux._nomenclature(r.ids, r.defaults, 'SEXE', r.id_nomenclature_sex, $4) AS id_nomenclature_sex,
           gn_flux._nomenclature(r.ids, r.defaults, 'OBJ_DENBR', r.id_nomenclature_obj_count, $4) AS id_nomenclature_obj_count,
           gn_flux._nomenclature(r.ids, r.defaults, 'TYP_DENBR', r.id_nomenclature_type_count, $4) AS id_nomenclature_type_count,
           gn_flux._nomenclature(r.ids, r.defaults, 'SENSIBILITE', r.id_nomenclature_sensitivity, $4) AS id_nomenclature_sensitivity,
           gn_flux._nomenclature(r.ids, r.defaults, 'STATUT_OBS', r.id_nomenclature_observation_status, $4) AS id_nomenclature_observation_status,
           gn_flux._nomenclature(r.ids, r.defaults, 'DEE_FLOU', r.id_nomenclature_blurring, $4) AS id_nomenclature_blurring,
           gn_flux._nomenclature(r.ids, r.defaults, 'STATUT_SOURCE', r.id_nomenclature_source_status, $4) AS id_nomenclature_source_status,
           gn_flux._nomenclature(r.ids, r.defaults, 'TYP_INF_GEO', r.id_nomenclature_info_geo_type, $4) AS id_nomenclature_info_geo_type,
           gn_flux._nomenclature(r.ids, r.defaults, 'OCC_COMPORTEMENT', r.id_nomenclature_behaviour, $4) AS id_nomenclature_behaviour,
           gn_flux._nomenclature(r.ids, r.defaults, 'STAT_BIOGEO', r.id_nomenclature_biogeo_status, $4) AS id_nomenclature_biogeo_status,
           gn_flux._nomenclature(r.ids, r.defaults, 'METH_DETERMIN', r.id_nomenclature_determination_method, $4) AS id_nomenclature_determination_method,
           r.reference_biblio::varchar AS reference_biblio,
           r.v_count_min AS count_min,
           r.v_count_max AS count_max,
           r.v_cd_nom AS cd_nom,
           r.v_cd_hab AS cd_hab,
           r.nom_cite::varchar AS nom_cite,
           r.meta_v_taxref::varchar AS meta_v_taxref,
           r.sample_number_proof,
           r.digital_proof,
           r.non_digital_proof,
           r.v_altitude_min AS altitude_min,
           r.v_altitude_max AS altitude_max,
           r.v_depth_min AS depth_min,
           r.v_depth_max AS depth_max,
           r.place_name::varchar AS place_name,
           r.v_geom AS the_geom_4326,
           @postgis@.ST_Centroid(r.v_geom) AS the_geom_point,
           CASE WHEN r.v_geom_in_range THEN @postgis@.ST_Transform(r.v_geom, r.local_srid) END AS the_geom_local,
           r.v_precision AS "precision",
           r.v_id_area AS id_area_attachment,
           r.v_date_min AS date_min,
           r.v_date_max AS date_max,
           r.validator::varchar AS validator,
           r.validation_comment,
           r.observers::varchar AS observers,
           r.determiner::varchar AS determiner,
           r.comment_context,
           r.comment_description,
           r.v_additional_data AS additional_data,
           r.v_validation_date AS meta_validation_date,
           -- Problems, by synthese column: {column: [value as received, why]}.
           pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
               'unique_id_sinp', CASE WHEN r.v_uuid IS NULL THEN pg_catalog.jsonb_build_array(r.unique_id_sinp, 'no valid uuid (id_perm_sinp)')
                                      WHEN r.other_id_synthese IS NOT NULL THEN pg_catalog.jsonb_build_array(r.unique_id_sinp,
                                          pg_catalog.format('this uuid already belongs to source "%s" in the Synthese (id_synthese %s)', r.other_source, r.other_id_synthese)) END,
               'unique_id_sinp_grp', CASE WHEN r.unique_id_sinp_grp IS NOT NULL AND r.v_uuid_grp IS NULL THEN pg_catalog.jsonb_build_array(r.unique_id_sinp_grp, 'not a uuid') END,
               'id_dataset', CASE WHEN r.id_dataset IS NULL THEN pg_catalog.jsonb_build_array(NULL, 'no dataset (jdd_uuid)')
                                  WHEN r.v_dataset_uuid IS NULL THEN pg_catalog.jsonb_build_array(r.id_dataset, 'not a uuid')
                                  WHEN r.v_id_dataset IS NULL THEN pg_catalog.jsonb_build_array(r.id_dataset, 'unknown dataset: no gn_meta.t_datasets row with this unique_dataset_id') END,
               'cd_nom', CASE WHEN r.cd_nom IS NOT NULL AND r.v_cd_nom IS NULL THEN pg_catalog.jsonb_build_array(r.cd_nom, 'not an integer')
                              WHEN r.v_cd_nom IS NOT NULL AND r.known_cd_nom IS NULL THEN pg_catalog.jsonb_build_array(r.cd_nom, 'unknown taxon: not in taxonomie.taxref') END,
               'cd_hab', CASE WHEN r.cd_hab IS NOT NULL AND r.v_cd_hab IS NULL THEN pg_catalog.jsonb_build_array(r.cd_hab, 'not an integer')
                              WHEN r.v_cd_hab IS NOT NULL AND r.known_cd_hab IS NULL THEN pg_catalog.jsonb_build_array(r.cd_hab, 'unknown habitat: not in ref_habitats.habref') END,
               'nom_cite', CASE WHEN r.nom_cite IS NULL THEN pg_catalog.jsonb_build_array(NULL, 'missing (NOT NULL in the Synthese)')
                                WHEN pg_catalog.length(r.nom_cite) > 1000 THEN pg_catalog.jsonb_build_array(pg_catalog.left(r.nom_cite, 80), 'longer than 1000 characters') END,
               'date_min', CASE WHEN r.v_date_min IS NULL THEN pg_catalog.jsonb_build_array(r.date_min, 'missing or not a date') END,
               'date_max', CASE WHEN r.v_date_max IS NULL THEN pg_catalog.jsonb_build_array(r.date_max, 'missing or not a date')
                                WHEN r.v_date_max < r.v_date_min THEN pg_catalog.jsonb_build_array(r.date_max, 'before date_min') END,
               'meta_validation_date', CASE WHEN r.meta_validation_date IS NOT NULL AND r.v_validation_date IS NULL THEN pg_catalog.jsonb_build_array(r.meta_validation_date, 'not a date') END,
               'count_min', CASE WHEN r.count_min IS NOT NULL AND r.v_count_min IS NULL THEN pg_catalog.jsonb_build_array(r.count_min, 'not an integer') END,
               'count_max', CASE WHEN r.count_max IS NOT NULL AND r.v_count_max IS NULL THEN pg_catalog.jsonb_build_array(r.count_max, 'not an integer')
                                 WHEN r.v_count_max < r.v_count_min THEN pg_catalog.jsonb_build_array(r.count_max, 'smaller than count_min') END,
               'altitude_min', CASE WHEN r.altitude_min IS NOT NULL AND r.v_altitude_min IS NULL THEN pg_catalog.jsonb_build_array(r.altitude_min, 'not an integer') END,
               'altitude_max', CASE WHEN r.altitude_max IS NOT NULL AND r.v_altitude_max IS NULL THEN pg_catalog.jsonb_build_array(r.altitude_max, 'not an integer')
                                    WHEN r.v_altitude_max < r.v_altitude_min THEN pg_catalog.jsonb_build_array(r.altitude_max, 'smaller than altitude_min') END,
               'depth_min', CASE WHEN r.depth_min IS NOT NULL AND r.v_depth_min IS NULL THEN pg_catalog.jsonb_build_array(r.depth_min, 'not an integer') END,
               'depth_max', CASE WHEN r.depth_max IS NOT NULL AND r.v_depth_max IS NULL THEN pg_catalog.jsonb_build_array(r.depth_max, 'not an integer')
                                 WHEN r.v_depth_max < r.v_depth_min THEN pg_catalog.jsonb_build_array(r.depth_max, 'smaller than depth_min') END,
               'precision', CASE WHEN r."precision" IS NOT NULL AND r.v_precision IS NULL THEN pg_catalog.jsonb_build_array(r."precision", 'not an integer') END,
               'the_geom_4326', CASE WHEN r.v_geom IS NULL THEN pg_catalog.jsonb_build_array(NULL, 'no geometry (wkt_4326)')
                                     WHEN NOT r.v_geom_in_range THEN pg_catalog.jsonb_build_array(pg_catalog.left(@postgis@.ST_AsText(r.v_geom), 80), 'outside the longitude and latitude ranges of EPSG:4326') END,
               'id_area_attachment', CASE WHEN r.id_area_attachment IS NOT NULL AND pg_catalog.jsonb_typeof(r.id_area_attachment) <> 'null' AND r.v_id_area IS NULL
                                          THEN pg_catalog.jsonb_build_array(r.id_area_attachment::text, 'unknown area: no ref_geo.l_areas row with this type_code and area_code')
                                          WHEN r.v_id_area IS NULL AND gn_flux._nomenclature(r.ids, r.defaults, 'TYP_INF_GEO', r.id_nomenclature_info_geo_type, $4) = r.info_geo_attached
                                          THEN pg_catalog.jsonb_build_array(r.id_nomenclature_info_geo_type, 'type_info_geo 2 (attachment) without area_attachment') END,
               'additional_data', CASE WHEN r.additional_data IS NOT NULL AND pg_catalog.jsonb_typeof(r.additional_data) <> 'null' AND r.v_additional_data IS NULL
                                       THEN pg_catalog.jsonb_build_array(pg_catalog.left(r.additional_data ->> 0, 80), 'not JSON') END,
               'grp_method', CASE WHEN pg_catalog.length(r.grp_method) > 255 THEN pg_catalog.jsonb_build_array(pg_catalog.left(r.grp_method, 80), 'longer than 255 characters') END,
               'reference_biblio', CASE WHEN pg_catalog.length(r.reference_biblio) > 5000 THEN pg_catalog.jsonb_build_array(pg_catalog.left(r.reference_biblio, 80), 'longer than 5000 characters') END,
               'meta_v_taxref', CASE WHEN pg_catalog.length(r.meta_v_taxref) > 50 THEN pg_catalog.jsonb_build_array(pg_catalog.left(r.meta_v_taxref, 80), 'longer than 50 characters') END,
               'place_name', CASE WHEN pg_catalog.length(r.place_name) > 500 THEN pg_catalog.jsonb_build_array(pg_catalog.left(r.place_name, 80), 'longer than 500 characters') END,
               'validator', CASE WHEN pg_catalog.length(r.validator) > 1000 THEN pg_catalog.jsonb_build_array(pg_catalog.left(r.validator, 80), 'longer than 1000 characters') END,
               'observers', CASE WHEN pg_catalog.length(r.observers) > 1000 THEN pg_catalog.jsonb_build_array(pg_catalog.left(r.observers, 80), 'longer than 1000 characters') END,
               'determiner', CASE WHEN pg_catalog.length(r.determiner) > 1000 THEN pg_catalog.jsonb_build_array(pg_catalog.left(r.determiner, 80), 'longer than 1000 characters') END
           )) AS rejections,
           -- Nomenclature codes (or labels) unknown to this database: rejections, or defaulted
           -- values when the source says so ($4).
           pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
               'id_nomenclature_geo_object_nature', gn_flux._nomenclature_problem(r.ids, r.by, 'NAT_OBJ_GEO', r.id_nomenclature_geo_object_nature),
               'id_nomenclature_grp_typ', gn_flux._nomenclature_problem(r.ids, r.by, 'TYP_GRP', r.id_nomenclature_grp_typ),
               'id_nomenclature_obs_technique', gn_flux._nomenclature_problem(r.ids, r.by, 'METH_OBS', r.id_nomenclature_obs_technique),
               'id_nomenclature_bio_status', gn_flux._nomenclature_problem(r.ids, r.by, 'STATUT_BIO', r.id_nomenclature_bio_status),
               'id_nomenclature_bio_condition', gn_flux._nomenclature_problem(r.ids, r.by, 'ETA_BIO', r.id_nomenclature_bio_condition),
               'id_nomenclature_naturalness', gn_flux._nomenclature_problem(r.ids, r.by, 'NATURALITE', r.id_nomenclature_naturalness),
               'id_nomenclature_exist_proof', gn_flux._nomenclature_problem(r.ids, r.by, 'PREUVE_EXIST', r.id_nomenclature_exist_proof),
               'id_nomenclature_valid_status', gn_flux._nomenclature_problem(r.ids, r.by, 'STATUT_VALID', r.id_nomenclature_valid_status),
               'id_nomenclature_diffusion_level', gn_flux._nomenclature_problem(r.ids, r.by, 'NIV_PRECIS', r.id_nomenclature_diffusion_level),
               'id_nomenclature_life_stage', gn_flux._nomenclature_problem(r.ids, r.by, 'STADE_VIE', r.id_nomenclature_life_stage),
               'id_nomenclature_sex', gn_flux._nomenclature_problem(r.ids, r.by, 'SEXE', r.id_nomenclature_sex),
               'id_nomenclature_obj_count', gn_flux._nomenclature_problem(r.ids, r.by, 'OBJ_DENBR', r.id_nomenclature_obj_count),
               'id_nomenclature_type_count', gn_flux._nomenclature_problem(r.ids, r.by, 'TYP_DENBR', r.id_nomenclature_type_count),
               'id_nomenclature_sensitivity', gn_flux._nomenclature_problem(r.ids, r.by, 'SENSIBILITE', r.id_nomenclature_sensitivity),
               'id_nomenclature_observation_status', gn_flux._nomenclature_problem(r.ids, r.by, 'STATUT_OBS', r.id_nomenclature_observation_status),
               'id_nomenclature_blurring', gn_flux._nomenclature_problem(r.ids, r.by, 'DEE_FLOU', r.id_nomenclature_blurring),
               'id_nomenclature_source_status', gn_flux._nomenclature_problem(r.ids, r.by, 'STATUT_SOURCE', r.id_nomenclature_source_status),
               'id_nomenclature_info_geo_type', gn_flux._nomenclature_problem(r.ids, r.by, 'TYP_INF_GEO', r.id_nomenclature_info_geo_type),
               'id_nomenclature_behaviour', gn_flux._nomenclature_problem(r.ids, r.by, 'OCC_COMPORTEMENT', r.id_nomenclature_behaviour),
               'id_nomenclature_biogeo_status', gn_flux._nomenclature_problem(r.ids, r.by, 'STAT_BIOGEO', r.id_nomenclature_biogeo_status),
               'id_nomenclature_determination_method', gn_flux._nomenclature_problem(r.ids, r.by, 'METH_DETERMIN', r.id_nomenclature_determination_method)
           )) AS nomenclature_problems
      FROM resolved r
)
