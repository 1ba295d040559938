-- The load: appended to observations.sql (which defines `mapped`) by gn_flux. One statement per
-- chunk of staged rows: upsert into gn_synthese.synthese keyed by unique_id_sinp (the staged uuid)
-- within this source's id_source, and the chunk's problems recorded in gn_flux.synthese_reject.
-- $5 integer: the pull (import_log.id), NULL outside a pull.
-- GeoNature's own triggers run as usual (meta dates, sensitivity, areas, observers); last_action
-- is set here ('I', 'U') since GeoNature 2.17 maintains it nowhere. A row whose mapped values
-- equal the stored ones is not rewritten (its meta_update_date keeps saying when it last changed).
-- The other columns are compared as the text of a row (text's =, in pg_catalog), geometries as
-- EWKB (bytea): no operator of the caller's search_path is looked up. The sensitivity is left out:
-- GeoNature's trigger recomputes it, so the received value never matches the stored one.
, accepted AS (
    SELECT m.* FROM mapped m
     WHERE m.rejections = '{}'::jsonb AND (m.nomenclature_problems = '{}'::jsonb OR $4)
),
upserted AS (
    INSERT INTO gn_synthese.synthese AS s (
        unique_id_sinp, unique_id_sinp_grp, id_source, entity_source_pk_value, id_dataset,
        id_nomenclature_geo_object_nature, id_nomenclature_grp_typ, grp_method,
        id_nomenclature_obs_technique, id_nomenclature_bio_status, id_nomenclature_bio_condition,
        id_nomenclature_naturalness, id_nomenclature_exist_proof, id_nomenclature_valid_status,
        id_nomenclature_diffusion_level, id_nomenclature_life_stage, id_nomenclature_sex,
        id_nomenclature_obj_count, id_nomenclature_type_count, id_nomenclature_sensitivity,
        id_nomenclature_observation_status, id_nomenclature_blurring, id_nomenclature_source_status,
        id_nomenclature_info_geo_type, id_nomenclature_behaviour, id_nomenclature_biogeo_status,
        id_nomenclature_determination_method, reference_biblio, count_min, count_max, cd_nom, cd_hab,
        nom_cite, meta_v_taxref, sample_number_proof, digital_proof, non_digital_proof, altitude_min,
        altitude_max, depth_min, depth_max, place_name, the_geom_4326, the_geom_point, the_geom_local,
        "precision", id_area_attachment, date_min, date_max, validator, validation_comment, observers,
        determiner, comment_context, comment_description, additional_data, meta_validation_date,
        last_action)
    SELECT a.unique_id_sinp, a.unique_id_sinp_grp, a.id_source, a.entity_source_pk_value, a.id_dataset,
           a.id_nomenclature_geo_object_nature, a.id_nomenclature_grp_typ, a.grp_method,
           a.id_nomenclature_obs_technique, a.id_nomenclature_bio_status,
           a.id_nomenclature_bio_condition, a.id_nomenclature_naturalness,
           a.id_nomenclature_exist_proof, a.id_nomenclature_valid_status,
           a.id_nomenclature_diffusion_level, a.id_nomenclature_life_stage, a.id_nomenclature_sex,
           a.id_nomenclature_obj_count, a.id_nomenclature_type_count, a.id_nomenclature_sensitivity,
           a.id_nomenclature_observation_status, a.id_nomenclature_blurring,
           a.id_nomenclature_source_status, a.id_nomenclature_info_geo_type,
           a.id_nomenclature_behaviour, a.id_nomenclature_biogeo_status,
           a.id_nomenclature_determination_method, a.reference_biblio, a.count_min, a.count_max,
           a.cd_nom, a.cd_hab, a.nom_cite, a.meta_v_taxref, a.sample_number_proof, a.digital_proof,
           a.non_digital_proof, a.altitude_min, a.altitude_max, a.depth_min, a.depth_max, a.place_name,
           a.the_geom_4326, a.the_geom_point, a.the_geom_local, a."precision", a.id_area_attachment,
           a.date_min, a.date_max, a.validator, a.validation_comment, a.observers, a.determiner,
           a.comment_context, a.comment_description, a.additional_data, a.meta_validation_date, 'I'
      FROM accepted a
    ON CONFLICT (unique_id_sinp) DO UPDATE SET
        unique_id_sinp_grp = EXCLUDED.unique_id_sinp_grp,
        entity_source_pk_value = EXCLUDED.entity_source_pk_value, id_dataset = EXCLUDED.id_dataset,
        id_nomenclature_geo_object_nature = EXCLUDED.id_nomenclature_geo_object_nature,
        id_nomenclature_grp_typ = EXCLUDED.id_nomenclature_grp_typ, grp_method = EXCLUDED.grp_method,
        id_nomenclature_obs_technique = EXCLUDED.id_nomenclature_obs_technique,
        id_nomenclature_bio_status = EXCLUDED.id_nomenclature_bio_status,
        id_nomenclature_bio_condition = EXCLUDED.id_nomenclature_bio_condition,
        id_nomenclature_naturalness = EXCLUDED.id_nomenclature_naturalness,
        id_nomenclature_exist_proof = EXCLUDED.id_nomenclature_exist_proof,
        id_nomenclature_valid_status = EXCLUDED.id_nomenclature_valid_status,
        id_nomenclature_diffusion_level = EXCLUDED.id_nomenclature_diffusion_level,
        id_nomenclature_life_stage = EXCLUDED.id_nomenclature_life_stage,
        id_nomenclature_sex = EXCLUDED.id_nomenclature_sex,
        id_nomenclature_obj_count = EXCLUDED.id_nomenclature_obj_count,
        id_nomenclature_type_count = EXCLUDED.id_nomenclature_type_count,
        id_nomenclature_sensitivity = EXCLUDED.id_nomenclature_sensitivity,
        id_nomenclature_observation_status = EXCLUDED.id_nomenclature_observation_status,
        id_nomenclature_blurring = EXCLUDED.id_nomenclature_blurring,
        id_nomenclature_source_status = EXCLUDED.id_nomenclature_source_status,
        id_nomenclature_info_geo_type = EXCLUDED.id_nomenclature_info_geo_type,
        id_nomenclature_behaviour = EXCLUDED.id_nomenclature_behaviour,
        id_nomenclature_biogeo_status = EXCLUDED.id_nomenclature_biogeo_status,
        id_nomenclature_determination_method = EXCLUDED.id_nomenclature_determination_method,
        reference_biblio = EXCLUDED.reference_biblio, count_min = EXCLUDED.count_min,
        count_max = EXCLUDED.count_max, cd_nom = EXCLUDED.cd_nom, cd_hab = EXCLUDED.cd_hab,
        nom_cite = EXCLUDED.nom_cite, meta_v_taxref = EXCLUDED.meta_v_taxref,
        sample_number_proof = EXCLUDED.sample_number_proof, digital_proof = EXCLUDED.digital_proof,
        non_digital_proof = EXCLUDED.non_digital_proof, altitude_min = EXCLUDED.altitude_min,
        altitude_max = EXCLUDED.altitude_max, depth_min = EXCLUDED.depth_min,
        depth_max = EXCLUDED.depth_max, place_name = EXCLUDED.place_name,
        the_geom_4326 = EXCLUDED.the_geom_4326, the_geom_point = EXCLUDED.the_geom_point,
        the_geom_local = EXCLUDED.the_geom_local, "precision" = EXCLUDED."precision",
        id_area_attachment = EXCLUDED.id_area_attachment, date_min = EXCLUDED.date_min,
        date_max = EXCLUDED.date_max, validator = EXCLUDED.validator,
        validation_comment = EXCLUDED.validation_comment, observers = EXCLUDED.observers,
        determiner = EXCLUDED.determiner, comment_context = EXCLUDED.comment_context,
        comment_description = EXCLUDED.comment_description, additional_data = EXCLUDED.additional_data,
        meta_validation_date = EXCLUDED.meta_validation_date, last_action = 'U'
     WHERE s.id_source = EXCLUDED.id_source
       AND (ROW(
             s.unique_id_sinp_grp, s.entity_source_pk_value, s.id_dataset,
             s.id_nomenclature_geo_object_nature, s.id_nomenclature_grp_typ, s.grp_method,
             s.id_nomenclature_obs_technique, s.id_nomenclature_bio_status,
             s.id_nomenclature_bio_condition, s.id_nomenclature_naturalness,
             s.id_nomenclature_exist_proof, s.id_nomenclature_valid_status,
             s.id_nomenclature_diffusion_level, s.id_nomenclature_life_stage, s.id_nomenclature_sex,
             s.id_nomenclature_obj_count, s.id_nomenclature_type_count,
             s.id_nomenclature_observation_status, s.id_nomenclature_blurring,
             s.id_nomenclature_source_status, s.id_nomenclature_info_geo_type,
             s.id_nomenclature_behaviour, s.id_nomenclature_biogeo_status,
             s.id_nomenclature_determination_method, s.reference_biblio, s.count_min, s.count_max,
             s.cd_nom, s.cd_hab, s.nom_cite, s.meta_v_taxref, s.sample_number_proof, s.digital_proof,
             s.non_digital_proof, s.altitude_min, s.altitude_max, s.depth_min, s.depth_max,
             s.place_name, s."precision", s.id_area_attachment, s.date_min, s.date_max, s.validator,
             s.validation_comment, s.observers, s.determiner, s.comment_context, s.comment_description,
             s.additional_data, s.meta_validation_date)::text
            IS DISTINCT FROM ROW(
             EXCLUDED.unique_id_sinp_grp, EXCLUDED.entity_source_pk_value, EXCLUDED.id_dataset,
             EXCLUDED.id_nomenclature_geo_object_nature, EXCLUDED.id_nomenclature_grp_typ,
             EXCLUDED.grp_method, EXCLUDED.id_nomenclature_obs_technique,
             EXCLUDED.id_nomenclature_bio_status, EXCLUDED.id_nomenclature_bio_condition,
             EXCLUDED.id_nomenclature_naturalness, EXCLUDED.id_nomenclature_exist_proof,
             EXCLUDED.id_nomenclature_valid_status, EXCLUDED.id_nomenclature_diffusion_level,
             EXCLUDED.id_nomenclature_life_stage, EXCLUDED.id_nomenclature_sex,
             EXCLUDED.id_nomenclature_obj_count, EXCLUDED.id_nomenclature_type_count,
             EXCLUDED.id_nomenclature_observation_status,
             EXCLUDED.id_nomenclature_blurring, EXCLUDED.id_nomenclature_source_status,
             EXCLUDED.id_nomenclature_info_geo_type, EXCLUDED.id_nomenclature_behaviour,
             EXCLUDED.id_nomenclature_biogeo_status, EXCLUDED.id_nomenclature_determination_method,
             EXCLUDED.reference_biblio, EXCLUDED.count_min, EXCLUDED.count_max, EXCLUDED.cd_nom,
             EXCLUDED.cd_hab, EXCLUDED.nom_cite, EXCLUDED.meta_v_taxref, EXCLUDED.sample_number_proof,
             EXCLUDED.digital_proof, EXCLUDED.non_digital_proof, EXCLUDED.altitude_min,
             EXCLUDED.altitude_max, EXCLUDED.depth_min, EXCLUDED.depth_max, EXCLUDED.place_name,
             EXCLUDED."precision", EXCLUDED.id_area_attachment, EXCLUDED.date_min, EXCLUDED.date_max,
             EXCLUDED.validator, EXCLUDED.validation_comment, EXCLUDED.observers, EXCLUDED.determiner,
             EXCLUDED.comment_context, EXCLUDED.comment_description, EXCLUDED.additional_data,
             EXCLUDED.meta_validation_date)::text
            OR @postgis@.ST_AsEWKB(s.the_geom_4326) IS DISTINCT FROM @postgis@.ST_AsEWKB(EXCLUDED.the_geom_4326)
            OR @postgis@.ST_AsEWKB(s.the_geom_point) IS DISTINCT FROM @postgis@.ST_AsEWKB(EXCLUDED.the_geom_point)
            OR @postgis@.ST_AsEWKB(s.the_geom_local) IS DISTINCT FROM @postgis@.ST_AsEWKB(EXCLUDED.the_geom_local)
            )
    RETURNING s.xmax::text = '0' AS inserted
),
cleared AS (
    DELETE FROM gn_flux.synthese_reject x
     WHERE x.source::text = $1 AND x.kind = 'observation' AND x.id_data = ANY ($2::integer[])
    RETURNING 1
),
recorded AS (
    INSERT INTO gn_flux.synthese_reject (source, kind, id_data, uuid, field, value, problem, action, import_id)
    SELECT $1, 'observation', m.staged_id, m.unique_id_sinp, p.key, p.value ->> 0, p.value ->> 1, 'rejected', $5
      FROM mapped m, pg_catalog.jsonb_each(m.rejections) p
    UNION ALL
    SELECT $1, 'observation', m.staged_id, m.unique_id_sinp, p.key, p.value ->> 0, p.value ->> 1,
           CASE WHEN $4 AND m.rejections = '{}'::jsonb THEN 'defaulted' ELSE 'rejected' END, $5
      FROM mapped m, pg_catalog.jsonb_each(m.nomenclature_problems) p
    RETURNING action, id_data
)
SELECT (SELECT pg_catalog.count(*) FROM upserted u WHERE u.inserted)::bigint AS inserted,
       (SELECT pg_catalog.count(*) FROM upserted u WHERE NOT u.inserted)::bigint AS updated,
       (SELECT pg_catalog.count(*) FROM mapped m
         WHERE NOT (m.rejections = '{}'::jsonb AND (m.nomenclature_problems = '{}'::jsonb OR $4)))::bigint AS rejected,
       (SELECT pg_catalog.count(DISTINCT r.id_data) FROM recorded r WHERE r.action = 'defaulted')::bigint AS defaulted,
       (SELECT pg_catalog.count(*) FROM cleared)::bigint AS cleared
