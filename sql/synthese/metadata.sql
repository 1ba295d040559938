-- Staged metadata (gn_flux.metadata_json) → GeoNature: organisms and persons (utilisateurs),
-- acquisition frameworks and datasets (gn_meta) with their actors, territories, objectives and
-- SINP themes. Inserted and updated (GN2PG's script is insert-only). Set-based: each statement
-- below handles every item of the call; gn_flux runs them in this order, split at the
-- "-- statement:" lines.
-- $1 text: source   $2 uuid[]: the metadata_json uuids to load (NULL: every item of the source)
-- $3 boolean: unknown nomenclature codes take GeoNature's default (recorded) instead of rejecting
-- $4 integer: the pull (import_log.id), NULL outside a pull
-- Problems go to gn_flux.synthese_reject (kind, uuid, field, value, problem); a rejected framework
-- or dataset stays out of gn_meta, and so do the observations of a dataset that is not there.

-- statement: organisms
-- Organisms named by actors. GeoNature 2.17 has UNIQUE (nom_organisme): an organism whose name
-- another uuid already holds (in the database, or a uuid named more often in the same call) is
-- rejected, and so are the actor links to it.
WITH items AS (
    SELECT m.item FROM gn_flux.metadata_json m
     WHERE m.source::text = $1 AND ($2::uuid[] IS NULL OR m.uuid = ANY ($2::uuid[]))
),
named AS (
    SELECT gn_flux._uuid(a ->> 'uuid_actor') AS uuid, a ->> 'uuid_actor' AS raw_uuid,
           a -> 'identity' ->> 'organism_name' AS name,
           CASE WHEN pg_catalog.length(a ->> 'email') <= 100 THEN a ->> 'email' END AS email
      FROM items i, pg_catalog.jsonb_array_elements(gn_flux._array(i.item -> 'actors')) a
     WHERE a ->> 'type_role' = 'organism'
),
actors AS (
    -- one row per uuid, with how many times the metadata names it
    SELECT DISTINCT ON (n.uuid) n.uuid, n.raw_uuid, n.name, n.email,
           pg_catalog.count(*) OVER (PARTITION BY n.uuid) AS refs
      FROM named n
     ORDER BY n.uuid, n.name, n.email
),
classified AS (
    SELECT a.*, o.id_organisme AS existing,
           CASE WHEN a.uuid IS NULL THEN pg_catalog.jsonb_build_array('uuid_organisme', a.raw_uuid, 'not a uuid')
                WHEN a.name IS NULL THEN pg_catalog.jsonb_build_array('nom_organisme', NULL, 'missing (identity.organism_name)')
                WHEN pg_catalog.length(a.name) > 500 THEN pg_catalog.jsonb_build_array('nom_organisme', pg_catalog.left(a.name, 80), 'longer than 500 characters')
                WHEN clash.uuid_organisme IS NOT NULL THEN pg_catalog.jsonb_build_array('nom_organisme', a.name,
                     pg_catalog.format('another organism (uuid %s) already has this name (unique in GeoNature 2.17)', clash.uuid_organisme))
                WHEN twin.uuid IS NOT NULL THEN pg_catalog.jsonb_build_array('nom_organisme', a.name,
                     pg_catalog.format('another organism of this name (uuid %s) is loaded from the same metadata (names are unique in GeoNature 2.17)', twin.uuid))
           END AS problem
      FROM actors a
      LEFT JOIN utilisateurs.bib_organismes o ON o.uuid_organisme = a.uuid
      LEFT JOIN LATERAL (SELECT c.uuid_organisme FROM utilisateurs.bib_organismes c
                          WHERE c.nom_organisme::text = a.name AND c.uuid_organisme <> a.uuid LIMIT 1) clash ON true
      -- same name, another uuid, both new: the uuid the metadata names most often wins (then
      -- the smallest), so that one stray actor does not cost an organism all its links
      LEFT JOIN LATERAL (SELECT t.uuid FROM actors t
                          WHERE t.name = a.name AND t.uuid <> a.uuid
                            AND (t.refs > a.refs OR (t.refs = a.refs AND t.uuid < a.uuid))
                            AND NOT EXISTS (SELECT 1 FROM utilisateurs.bib_organismes c2
                                             WHERE c2.nom_organisme::text = t.name AND c2.uuid_organisme <> t.uuid)
                          LIMIT 1) twin ON true
),
cleared AS (
    DELETE FROM gn_flux.synthese_reject x
     WHERE x.source::text = $1 AND x.kind = 'organism'
       AND (x.uuid IN (SELECT c.uuid FROM classified c)
            OR (x.uuid IS NULL AND x.value IN (SELECT c.raw_uuid FROM classified c WHERE c.uuid IS NULL)))
    RETURNING 1
),
rejected AS (
    INSERT INTO gn_flux.synthese_reject (source, kind, uuid, field, value, problem, action, import_id)
    SELECT $1, 'organism', c.uuid, c.problem ->> 0, c.problem ->> 1, c.problem ->> 2, 'rejected', $4
      FROM classified c WHERE c.problem IS NOT NULL
    RETURNING 1
),
inserted AS (
    INSERT INTO utilisateurs.bib_organismes (uuid_organisme, nom_organisme, email_organisme, additional_data)
    SELECT c.uuid, c.name, c.email, pg_catalog.jsonb_build_object('source', $1, 'module', 'gn_flux')
      FROM classified c WHERE c.problem IS NULL AND c.existing IS NULL
    RETURNING 1
),
updated AS (
    UPDATE utilisateurs.bib_organismes o SET nom_organisme = c.name, email_organisme = coalesce(c.email, o.email_organisme)
      FROM classified c
     WHERE c.problem IS NULL AND o.id_organisme = c.existing
       AND ROW(o.nom_organisme, o.email_organisme)::text IS DISTINCT FROM ROW(c.name, coalesce(c.email, o.email_organisme))::text
    RETURNING 1
)
SELECT (SELECT pg_catalog.count(*) FROM inserted) + (SELECT pg_catalog.count(*) FROM updated),
       (SELECT pg_catalog.count(*) FROM rejected), (SELECT pg_catalog.count(*) FROM cleared);

-- statement: roles
-- Persons named by actors → utilisateurs.t_roles (nom_role ← last_name, prenom_role ← first_name:
-- GN2PG swaps them).
WITH items AS (
    SELECT m.item FROM gn_flux.metadata_json m
     WHERE m.source::text = $1 AND ($2::uuid[] IS NULL OR m.uuid = ANY ($2::uuid[]))
),
actors AS (
    SELECT DISTINCT ON (gn_flux._uuid(a ->> 'uuid_actor'))
           gn_flux._uuid(a ->> 'uuid_actor') AS uuid, a ->> 'uuid_actor' AS raw_uuid,
           a -> 'identity' ->> 'last_name' AS last_name, a -> 'identity' ->> 'first_name' AS first_name,
           CASE WHEN pg_catalog.length(a ->> 'email') <= 250 THEN a ->> 'email' END AS email
      FROM items i, pg_catalog.jsonb_array_elements(gn_flux._array(i.item -> 'actors')) a
     WHERE a ->> 'type_role' = 'role'
     ORDER BY gn_flux._uuid(a ->> 'uuid_actor'), a ->> 'identity'
),
classified AS (
    SELECT a.*, r.id_role AS existing,
           CASE WHEN a.uuid IS NULL THEN pg_catalog.jsonb_build_array('uuid_role', a.raw_uuid, 'not a uuid')
                WHEN a.last_name IS NULL AND a.first_name IS NULL THEN pg_catalog.jsonb_build_array('nom_role', NULL, 'missing (identity.last_name, first_name)')
                WHEN pg_catalog.length(a.last_name) > 50 THEN pg_catalog.jsonb_build_array('nom_role', pg_catalog.left(a.last_name, 80), 'longer than 50 characters')
                WHEN pg_catalog.length(a.first_name) > 50 THEN pg_catalog.jsonb_build_array('prenom_role', pg_catalog.left(a.first_name, 80), 'longer than 50 characters')
           END AS problem
      FROM actors a
      LEFT JOIN utilisateurs.t_roles r ON r.uuid_role = a.uuid
),
cleared AS (
    DELETE FROM gn_flux.synthese_reject x
     WHERE x.source::text = $1 AND x.kind = 'role'
       AND (x.uuid IN (SELECT c.uuid FROM classified c)
            OR (x.uuid IS NULL AND x.value IN (SELECT c.raw_uuid FROM classified c WHERE c.uuid IS NULL)))
    RETURNING 1
),
rejected AS (
    INSERT INTO gn_flux.synthese_reject (source, kind, uuid, field, value, problem, action, import_id)
    SELECT $1, 'role', c.uuid, c.problem ->> 0, c.problem ->> 1, c.problem ->> 2, 'rejected', $4
      FROM classified c WHERE c.problem IS NOT NULL
    RETURNING 1
),
inserted AS (
    INSERT INTO utilisateurs.t_roles (uuid_role, nom_role, prenom_role, email, groupe, champs_addi)
    SELECT c.uuid, c.last_name, c.first_name, c.email, false, pg_catalog.jsonb_build_object('source', $1, 'module', 'gn_flux')
      FROM classified c WHERE c.problem IS NULL AND c.existing IS NULL
    RETURNING 1
),
updated AS (
    UPDATE utilisateurs.t_roles r SET nom_role = c.last_name, prenom_role = c.first_name, email = coalesce(c.email, r.email)
      FROM classified c
     WHERE c.problem IS NULL AND r.id_role = c.existing
       AND ROW(r.nom_role, r.prenom_role, r.email)::text IS DISTINCT FROM ROW(c.last_name, c.first_name, coalesce(c.email, r.email))::text
    RETURNING 1
)
SELECT (SELECT pg_catalog.count(*) FROM inserted) + (SELECT pg_catalog.count(*) FROM updated),
       (SELECT pg_catalog.count(*) FROM rejected), (SELECT pg_catalog.count(*) FROM cleared);

-- statement: acquisition frameworks
WITH cfg AS MATERIALIZED (
    SELECT gn_flux._nomenclature_ids() AS ids,
           pg_catalog.jsonb_build_object(
               'NIVEAU_TERRITORIAL', ref_nomenclatures.get_default_nomenclature_value('NIVEAU_TERRITORIAL'),
               'TYPE_FINANCEMENT', ref_nomenclatures.get_default_nomenclature_value('TYPE_FINANCEMENT')) AS defaults
),
items AS (
    SELECT m.uuid, m.item FROM gn_flux.metadata_json m
     WHERE m.source::text = $1 AND m.level::text = 'acquisition framework' AND ($2::uuid[] IS NULL OR m.uuid = ANY ($2::uuid[]))
),
mapped AS (
    SELECT i.uuid,
           i.item ->> 'name' AS name,
           coalesce(i.item ->> 'desc', '') AS description,
           gn_flux._nomenclature(c.ids, c.defaults, 'NIVEAU_TERRITORIAL', i.item ->> 'territorial_level', $3) AS territorial_level,
           gn_flux._nomenclature(c.ids, c.defaults, 'TYPE_FINANCEMENT', i.item ->> 'financing_type', $3) AS financing_type,
           i.item ->> 'territory_desc' AS territory_desc,
           i.item ->> 'keywords' AS keywords,
           i.item ->> 'target_description' AS target_description,
           i.item ->> 'ecologic_or_geologic_target' AS ecologic_or_geologic_target,
           gn_flux._bool(i.item ->> 'is_parent') AS is_parent,
           gn_flux.to_timestamp_or_null(i.item ->> 'start_date')::date AS start_date,
           gn_flux.to_timestamp_or_null(i.item ->> 'end_date')::date AS end_date,
           gn_flux.to_timestamp_or_null(i.item ->> 'initial_closing_date') AS initial_closing_date,
           i.item ->> 'start_date' AS raw_start_date,
           pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
               'acquisition_framework_name', CASE WHEN i.item ->> 'name' IS NULL THEN pg_catalog.jsonb_build_array(NULL, 'missing')
                   WHEN pg_catalog.length(i.item ->> 'name') > 255 THEN pg_catalog.jsonb_build_array(pg_catalog.left(i.item ->> 'name', 80), 'longer than 255 characters') END,
               'acquisition_framework_start_date', CASE WHEN gn_flux.to_timestamp_or_null(i.item ->> 'start_date') IS NULL
                   THEN pg_catalog.jsonb_build_array(i.item ->> 'start_date', 'missing or not a date (NOT NULL in gn_meta)') END,
               'id_nomenclature_territorial_level', CASE WHEN NOT $3 THEN gn_flux._nomenclature_problem(c.ids, 'code', 'NIVEAU_TERRITORIAL', i.item ->> 'territorial_level') END,
               'id_nomenclature_financing_type', CASE WHEN NOT $3 THEN gn_flux._nomenclature_problem(c.ids, 'code', 'TYPE_FINANCEMENT', i.item ->> 'financing_type') END
           )) AS rejections,
           pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
               'id_nomenclature_territorial_level', CASE WHEN $3 THEN gn_flux._nomenclature_problem(c.ids, 'code', 'NIVEAU_TERRITORIAL', i.item ->> 'territorial_level') END,
               'id_nomenclature_financing_type', CASE WHEN $3 THEN gn_flux._nomenclature_problem(c.ids, 'code', 'TYPE_FINANCEMENT', i.item ->> 'financing_type') END
           )) AS defaulted
      FROM items i CROSS JOIN cfg c
),
cleared AS (
    DELETE FROM gn_flux.synthese_reject x
     WHERE x.source::text = $1 AND x.kind = 'acquisition framework' AND x.uuid IN (SELECT m.uuid FROM mapped m)
    RETURNING 1
),
recorded AS (
    INSERT INTO gn_flux.synthese_reject (source, kind, uuid, field, value, problem, action, import_id)
    SELECT $1, 'acquisition framework', m.uuid, p.key, p.value ->> 0, p.value ->> 1, 'rejected', $4
      FROM mapped m, pg_catalog.jsonb_each(m.rejections) p
    UNION ALL
    SELECT $1, 'acquisition framework', m.uuid, p.key, p.value ->> 0, p.value ->> 1, 'defaulted', $4
      FROM mapped m, pg_catalog.jsonb_each(m.defaulted) p
    RETURNING action
),
upserted AS (
    INSERT INTO gn_meta.t_acquisition_frameworks AS af (
        unique_acquisition_framework_id, acquisition_framework_name, acquisition_framework_desc,
        id_nomenclature_territorial_level, id_nomenclature_financing_type, territory_desc, keywords,
        target_description, ecologic_or_geologic_target, is_parent, acquisition_framework_start_date,
        acquisition_framework_end_date, initial_closing_date, additional_data)
    SELECT m.uuid, m.name, m.description, m.territorial_level, m.financing_type, m.territory_desc, m.keywords,
           m.target_description, m.ecologic_or_geologic_target, m.is_parent, m.start_date, m.end_date,
           m.initial_closing_date, pg_catalog.jsonb_build_object('source', $1, 'module', 'gn_flux')
      FROM mapped m WHERE m.rejections = '{}'::jsonb
    ON CONFLICT (unique_acquisition_framework_id) DO UPDATE SET
        acquisition_framework_name = EXCLUDED.acquisition_framework_name,
        acquisition_framework_desc = EXCLUDED.acquisition_framework_desc,
        id_nomenclature_territorial_level = EXCLUDED.id_nomenclature_territorial_level,
        id_nomenclature_financing_type = EXCLUDED.id_nomenclature_financing_type,
        territory_desc = EXCLUDED.territory_desc, keywords = EXCLUDED.keywords,
        target_description = EXCLUDED.target_description,
        ecologic_or_geologic_target = EXCLUDED.ecologic_or_geologic_target, is_parent = EXCLUDED.is_parent,
        acquisition_framework_start_date = EXCLUDED.acquisition_framework_start_date,
        acquisition_framework_end_date = EXCLUDED.acquisition_framework_end_date,
        initial_closing_date = EXCLUDED.initial_closing_date
     WHERE ROW(af.acquisition_framework_name, af.acquisition_framework_desc, af.id_nomenclature_territorial_level,
            af.id_nomenclature_financing_type, af.territory_desc, af.keywords, af.target_description,
            af.ecologic_or_geologic_target, af.is_parent, af.acquisition_framework_start_date,
            af.acquisition_framework_end_date, af.initial_closing_date)::text
           IS DISTINCT FROM
           ROW(EXCLUDED.acquisition_framework_name, EXCLUDED.acquisition_framework_desc,
            EXCLUDED.id_nomenclature_territorial_level, EXCLUDED.id_nomenclature_financing_type,
            EXCLUDED.territory_desc, EXCLUDED.keywords, EXCLUDED.target_description,
            EXCLUDED.ecologic_or_geologic_target, EXCLUDED.is_parent, EXCLUDED.acquisition_framework_start_date,
            EXCLUDED.acquisition_framework_end_date, EXCLUDED.initial_closing_date)::text
    RETURNING 1
)
SELECT (SELECT pg_catalog.count(*) FROM upserted),
       (SELECT pg_catalog.count(*) FROM mapped m WHERE m.rejections <> '{}'::jsonb),
       (SELECT pg_catalog.count(*) FROM cleared);

-- statement: acquisition framework links
-- Parent framework, territories (TERRITOIRE), objectives (CA_OBJECTIFS), SINP themes
-- (VOLET_SINP, key sinp_theme — GN2PG reads a key the views do not emit) and actors (ROLE_ACTEUR):
-- each set replaced by the one received. Unknown codes and actors not in GeoNature are skipped
-- and recorded.
WITH cfg AS MATERIALIZED (SELECT gn_flux._nomenclature_ids() AS ids),
items AS (
    SELECT m.uuid, m.item, af.id_acquisition_framework AS id_af
      FROM gn_flux.metadata_json m
      JOIN gn_meta.t_acquisition_frameworks af ON af.unique_acquisition_framework_id = m.uuid
     WHERE m.source::text = $1 AND m.level::text = 'acquisition framework' AND ($2::uuid[] IS NULL OR m.uuid = ANY ($2::uuid[]))
),
parent AS (
    UPDATE gn_meta.t_acquisition_frameworks af SET acquisition_framework_parent_id = p.id_acquisition_framework
      FROM items i LEFT JOIN gn_meta.t_acquisition_frameworks p ON p.unique_acquisition_framework_id = gn_flux._uuid(i.item ->> 'parent_uuid')
     WHERE af.id_acquisition_framework = i.id_af
       AND af.acquisition_framework_parent_id IS DISTINCT FROM p.id_acquisition_framework
    RETURNING 1
),
codes AS (
    SELECT i.id_af, i.uuid, k.field, k.type, v.code, (c.ids -> k.type ->> v.code)::integer AS id_nomenclature
      FROM items i CROSS JOIN cfg c
      CROSS JOIN (VALUES ('territories', 'TERRITOIRE'), ('objectives', 'CA_OBJECTIFS'), ('sinp_theme', 'VOLET_SINP')) AS k(field, type)
      CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(gn_flux._array(i.item -> k.field)) AS v(code)
),
actors AS (
    SELECT i.id_af, i.uuid, a ->> 'uuid_actor' AS actor, a ->> 'cd_nomenclature_actor_role' AS role_code,
           (c.ids -> 'ROLE_ACTEUR' ->> (a ->> 'cd_nomenclature_actor_role'))::integer AS id_role_nomenclature,
           CASE WHEN a ->> 'type_role' = 'organism' THEN o.id_organisme END AS id_organism,
           CASE WHEN a ->> 'type_role' = 'role' THEN r.id_role END AS id_role
      FROM items i CROSS JOIN cfg c
      CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(gn_flux._array(i.item -> 'actors')) a
      LEFT JOIN utilisateurs.bib_organismes o ON o.uuid_organisme = gn_flux._uuid(a ->> 'uuid_actor')
      LEFT JOIN utilisateurs.t_roles r ON r.uuid_role = gn_flux._uuid(a ->> 'uuid_actor')
),
good_actors AS (
    SELECT DISTINCT a.id_af, a.id_organism, a.id_role, a.id_role_nomenclature FROM actors a
     WHERE a.id_role_nomenclature IS NOT NULL AND (a.id_organism IS NOT NULL OR a.id_role IS NOT NULL)
),
recorded AS (
    INSERT INTO gn_flux.synthese_reject (source, kind, uuid, field, value, problem, action, import_id)
    SELECT $1, 'acquisition framework', c.uuid, c.field, c.code, pg_catalog.format('unknown %s code, not linked', c.type), 'rejected', $4
      FROM codes c WHERE c.id_nomenclature IS NULL
    UNION ALL
    SELECT $1, 'acquisition framework', a.uuid, 'actors', a.actor,
           CASE WHEN a.id_role_nomenclature IS NULL THEN pg_catalog.format('unknown ROLE_ACTEUR code %s, not linked', pg_catalog.quote_nullable(a.role_code))
                ELSE 'actor not in GeoNature (rejected or without uuid), not linked' END, 'rejected', $4
      FROM actors a WHERE a.id_role_nomenclature IS NULL OR (a.id_organism IS NULL AND a.id_role IS NULL)
    RETURNING 1
),
territory_gone AS (
    DELETE FROM gn_meta.cor_acquisition_framework_territory t USING items i
     WHERE t.id_acquisition_framework = i.id_af
       AND NOT EXISTS (SELECT 1 FROM codes c WHERE c.id_af = i.id_af AND c.field = 'territories' AND c.id_nomenclature = t.id_nomenclature_territory)
    RETURNING 1
),
territory_new AS (
    INSERT INTO gn_meta.cor_acquisition_framework_territory (id_acquisition_framework, id_nomenclature_territory)
    SELECT DISTINCT c.id_af, c.id_nomenclature FROM codes c WHERE c.field = 'territories' AND c.id_nomenclature IS NOT NULL
    ON CONFLICT DO NOTHING RETURNING 1
),
objective_gone AS (
    DELETE FROM gn_meta.cor_acquisition_framework_objectif t USING items i
     WHERE t.id_acquisition_framework = i.id_af
       AND NOT EXISTS (SELECT 1 FROM codes c WHERE c.id_af = i.id_af AND c.field = 'objectives' AND c.id_nomenclature = t.id_nomenclature_objectif)
    RETURNING 1
),
objective_new AS (
    INSERT INTO gn_meta.cor_acquisition_framework_objectif (id_acquisition_framework, id_nomenclature_objectif)
    SELECT DISTINCT c.id_af, c.id_nomenclature FROM codes c WHERE c.field = 'objectives' AND c.id_nomenclature IS NOT NULL
    ON CONFLICT DO NOTHING RETURNING 1
),
theme_gone AS (
    DELETE FROM gn_meta.cor_acquisition_framework_voletsinp t USING items i
     WHERE t.id_acquisition_framework = i.id_af
       AND NOT EXISTS (SELECT 1 FROM codes c WHERE c.id_af = i.id_af AND c.field = 'sinp_theme' AND c.id_nomenclature = t.id_nomenclature_voletsinp)
    RETURNING 1
),
theme_new AS (
    INSERT INTO gn_meta.cor_acquisition_framework_voletsinp (id_acquisition_framework, id_nomenclature_voletsinp)
    SELECT DISTINCT c.id_af, c.id_nomenclature FROM codes c WHERE c.field = 'sinp_theme' AND c.id_nomenclature IS NOT NULL
    ON CONFLICT DO NOTHING RETURNING 1
),
actor_gone AS (
    DELETE FROM gn_meta.cor_acquisition_framework_actor t USING items i
     WHERE t.id_acquisition_framework = i.id_af
       AND NOT EXISTS (SELECT 1 FROM good_actors g WHERE g.id_af = i.id_af AND g.id_role_nomenclature = t.id_nomenclature_actor_role
                          AND g.id_organism IS NOT DISTINCT FROM t.id_organism AND g.id_role IS NOT DISTINCT FROM t.id_role)
    RETURNING 1
),
actor_new AS (
    INSERT INTO gn_meta.cor_acquisition_framework_actor (id_acquisition_framework, id_organism, id_role, id_nomenclature_actor_role)
    SELECT g.id_af, g.id_organism, g.id_role, g.id_role_nomenclature FROM good_actors g
     WHERE NOT EXISTS (SELECT 1 FROM gn_meta.cor_acquisition_framework_actor t
                        WHERE t.id_acquisition_framework = g.id_af AND t.id_nomenclature_actor_role = g.id_role_nomenclature
                          AND t.id_organism IS NOT DISTINCT FROM g.id_organism AND t.id_role IS NOT DISTINCT FROM g.id_role)
    RETURNING 1
)
SELECT (SELECT pg_catalog.count(*) FROM parent) + (SELECT pg_catalog.count(*) FROM territory_gone) + (SELECT pg_catalog.count(*) FROM territory_new)
     + (SELECT pg_catalog.count(*) FROM objective_gone) + (SELECT pg_catalog.count(*) FROM objective_new)
     + (SELECT pg_catalog.count(*) FROM theme_gone) + (SELECT pg_catalog.count(*) FROM theme_new)
     + (SELECT pg_catalog.count(*) FROM actor_gone) + (SELECT pg_catalog.count(*) FROM actor_new),
       (SELECT pg_catalog.count(*) FROM recorded), 0::bigint;

-- statement: datasets
WITH cfg AS MATERIALIZED (
    SELECT gn_flux._nomenclature_ids() AS ids,
           (SELECT pg_catalog.jsonb_object_agg(k.t, ref_nomenclatures.get_default_nomenclature_value(k.t))
              FROM pg_catalog.unnest(ARRAY['DATA_TYP', 'JDD_OBJECTIFS', 'METHO_RECUEIL', 'DS_PUBLIQUE', 'STATUT_SOURCE', 'RESOURCE_TYP']) AS k(t)) AS defaults
),
items AS (
    SELECT m.uuid, m.item FROM gn_flux.metadata_json m
     WHERE m.source::text = $1 AND m.level::text = 'dataset' AND ($2::uuid[] IS NULL OR m.uuid = ANY ($2::uuid[]))
),
mapped AS (
    SELECT i.uuid, af.id_acquisition_framework AS id_af,
           i.item ->> 'name' AS name,
           coalesce(i.item ->> 'shortname', pg_catalog.left(i.item ->> 'name', 30)) AS shortname,
           coalesce(i.item ->> 'desc', '') AS description,
           i.item ->> 'keywords' AS keywords,
           coalesce(gn_flux._bool(i.item ->> 'marine_domain'), false) AS marine_domain,
           coalesce(gn_flux._bool(i.item ->> 'terrestrial_domain'), false) AS terrestrial_domain,
           gn_flux._nomenclature(c.ids, c.defaults, 'DATA_TYP', i.item ->> 'data_type', $3) AS data_type,
           gn_flux._nomenclature(c.ids, c.defaults, 'JDD_OBJECTIFS', i.item ->> 'dataset_objectif', $3) AS objectif,
           gn_flux._nomenclature(c.ids, c.defaults, 'METHO_RECUEIL', i.item ->> 'collecting_method', $3) AS collecting_method,
           gn_flux._nomenclature(c.ids, c.defaults, 'DS_PUBLIQUE', i.item ->> 'data_origin', $3) AS data_origin,
           gn_flux._nomenclature(c.ids, c.defaults, 'STATUT_SOURCE', i.item ->> 'source_status', $3) AS source_status,
           gn_flux._nomenclature(c.ids, c.defaults, 'RESOURCE_TYP', i.item ->> 'resource_type', $3) AS resource_type,
           pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
               'dataset_name', CASE WHEN i.item ->> 'name' IS NULL THEN pg_catalog.jsonb_build_array(NULL, 'missing')
                   WHEN pg_catalog.length(i.item ->> 'name') > 255 THEN pg_catalog.jsonb_build_array(pg_catalog.left(i.item ->> 'name', 80), 'longer than 255 characters') END,
               'dataset_shortname', CASE WHEN pg_catalog.length(i.item ->> 'shortname') > 255 THEN pg_catalog.jsonb_build_array(pg_catalog.left(i.item ->> 'shortname', 80), 'longer than 255 characters') END,
               'id_acquisition_framework', CASE WHEN af.id_acquisition_framework IS NULL THEN pg_catalog.jsonb_build_array(i.item ->> 'ca_uuid',
                   'unknown acquisition framework: not in gn_meta (missing from the metadata, or rejected)') END
           )) || CASE WHEN $3 THEN '{}'::jsonb ELSE gn_flux._dataset_nomenclature_problems(c.ids, i.item) END AS rejections,
           CASE WHEN $3 THEN gn_flux._dataset_nomenclature_problems(c.ids, i.item) ELSE '{}'::jsonb END AS defaulted
      FROM items i CROSS JOIN cfg c
      LEFT JOIN gn_meta.t_acquisition_frameworks af ON af.unique_acquisition_framework_id = gn_flux._uuid(i.item ->> 'ca_uuid')
),
cleared AS (
    DELETE FROM gn_flux.synthese_reject x
     WHERE x.source::text = $1 AND x.kind = 'dataset' AND x.uuid IN (SELECT m.uuid FROM mapped m)
    RETURNING 1
),
recorded AS (
    INSERT INTO gn_flux.synthese_reject (source, kind, uuid, field, value, problem, action, import_id)
    SELECT $1, 'dataset', m.uuid, p.key, p.value ->> 0, p.value ->> 1, 'rejected', $4
      FROM mapped m, pg_catalog.jsonb_each(m.rejections) p
    UNION ALL
    SELECT $1, 'dataset', m.uuid, p.key, p.value ->> 0, p.value ->> 1, 'defaulted', $4
      FROM mapped m, pg_catalog.jsonb_each(m.defaulted) p
    RETURNING 1
),
upserted AS (
    INSERT INTO gn_meta.t_datasets AS ds (
        unique_dataset_id, id_acquisition_framework, dataset_name, dataset_shortname, dataset_desc, keywords,
        marine_domain, terrestrial_domain, id_nomenclature_data_type, id_nomenclature_dataset_objectif,
        id_nomenclature_collecting_method, id_nomenclature_data_origin, id_nomenclature_source_status,
        id_nomenclature_resource_type, additional_data)
    SELECT m.uuid, m.id_af, m.name, m.shortname, m.description, m.keywords, m.marine_domain, m.terrestrial_domain,
           m.data_type, m.objectif, m.collecting_method, m.data_origin, m.source_status, m.resource_type,
           pg_catalog.jsonb_build_object('source', $1, 'module', 'gn_flux')
      FROM mapped m WHERE m.rejections = '{}'::jsonb
    ON CONFLICT (unique_dataset_id) DO UPDATE SET
        id_acquisition_framework = EXCLUDED.id_acquisition_framework, dataset_name = EXCLUDED.dataset_name,
        dataset_shortname = EXCLUDED.dataset_shortname, dataset_desc = EXCLUDED.dataset_desc,
        keywords = EXCLUDED.keywords, marine_domain = EXCLUDED.marine_domain,
        terrestrial_domain = EXCLUDED.terrestrial_domain, id_nomenclature_data_type = EXCLUDED.id_nomenclature_data_type,
        id_nomenclature_dataset_objectif = EXCLUDED.id_nomenclature_dataset_objectif,
        id_nomenclature_collecting_method = EXCLUDED.id_nomenclature_collecting_method,
        id_nomenclature_data_origin = EXCLUDED.id_nomenclature_data_origin,
        id_nomenclature_source_status = EXCLUDED.id_nomenclature_source_status,
        id_nomenclature_resource_type = EXCLUDED.id_nomenclature_resource_type
     WHERE ROW(ds.id_acquisition_framework, ds.dataset_name, ds.dataset_shortname, ds.dataset_desc, ds.keywords,
            ds.marine_domain, ds.terrestrial_domain, ds.id_nomenclature_data_type, ds.id_nomenclature_dataset_objectif,
            ds.id_nomenclature_collecting_method, ds.id_nomenclature_data_origin, ds.id_nomenclature_source_status,
            ds.id_nomenclature_resource_type)::text
           IS DISTINCT FROM
           ROW(EXCLUDED.id_acquisition_framework, EXCLUDED.dataset_name, EXCLUDED.dataset_shortname,
            EXCLUDED.dataset_desc, EXCLUDED.keywords, EXCLUDED.marine_domain, EXCLUDED.terrestrial_domain,
            EXCLUDED.id_nomenclature_data_type, EXCLUDED.id_nomenclature_dataset_objectif,
            EXCLUDED.id_nomenclature_collecting_method, EXCLUDED.id_nomenclature_data_origin,
            EXCLUDED.id_nomenclature_source_status, EXCLUDED.id_nomenclature_resource_type)::text
    RETURNING 1
)
SELECT (SELECT pg_catalog.count(*) FROM upserted),
       (SELECT pg_catalog.count(*) FROM mapped m WHERE m.rejections <> '{}'::jsonb),
       (SELECT pg_catalog.count(*) FROM cleared);

-- statement: dataset links
-- Territories (TERRITOIRE) and actors (ROLE_ACTEUR), each set replaced by the one received.
WITH cfg AS MATERIALIZED (SELECT gn_flux._nomenclature_ids() AS ids),
items AS (
    SELECT m.uuid, m.item, ds.id_dataset
      FROM gn_flux.metadata_json m
      JOIN gn_meta.t_datasets ds ON ds.unique_dataset_id = m.uuid
     WHERE m.source::text = $1 AND m.level::text = 'dataset' AND ($2::uuid[] IS NULL OR m.uuid = ANY ($2::uuid[]))
),
codes AS (
    SELECT i.id_dataset, i.uuid, v.code, (c.ids -> 'TERRITOIRE' ->> v.code)::integer AS id_nomenclature
      FROM items i CROSS JOIN cfg c
      CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(gn_flux._array(i.item -> 'territories')) AS v(code)
),
actors AS (
    SELECT i.id_dataset, i.uuid, a ->> 'uuid_actor' AS actor, a ->> 'cd_nomenclature_actor_role' AS role_code,
           (c.ids -> 'ROLE_ACTEUR' ->> (a ->> 'cd_nomenclature_actor_role'))::integer AS id_role_nomenclature,
           CASE WHEN a ->> 'type_role' = 'organism' THEN o.id_organisme END AS id_organism,
           CASE WHEN a ->> 'type_role' = 'role' THEN r.id_role END AS id_role
      FROM items i CROSS JOIN cfg c
      CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(gn_flux._array(i.item -> 'actors')) a
      LEFT JOIN utilisateurs.bib_organismes o ON o.uuid_organisme = gn_flux._uuid(a ->> 'uuid_actor')
      LEFT JOIN utilisateurs.t_roles r ON r.uuid_role = gn_flux._uuid(a ->> 'uuid_actor')
),
good_actors AS (
    SELECT DISTINCT a.id_dataset, a.id_organism, a.id_role, a.id_role_nomenclature FROM actors a
     WHERE a.id_role_nomenclature IS NOT NULL AND (a.id_organism IS NOT NULL OR a.id_role IS NOT NULL)
),
recorded AS (
    INSERT INTO gn_flux.synthese_reject (source, kind, uuid, field, value, problem, action, import_id)
    SELECT $1, 'dataset', c.uuid, 'territories', c.code, 'unknown TERRITOIRE code, not linked', 'rejected', $4
      FROM codes c WHERE c.id_nomenclature IS NULL
    UNION ALL
    SELECT $1, 'dataset', a.uuid, 'actors', a.actor,
           CASE WHEN a.id_role_nomenclature IS NULL THEN pg_catalog.format('unknown ROLE_ACTEUR code %s, not linked', pg_catalog.quote_nullable(a.role_code))
                ELSE 'actor not in GeoNature (rejected or without uuid), not linked' END, 'rejected', $4
      FROM actors a WHERE a.id_role_nomenclature IS NULL OR (a.id_organism IS NULL AND a.id_role IS NULL)
    RETURNING 1
),
territory_gone AS (
    DELETE FROM gn_meta.cor_dataset_territory t USING items i
     WHERE t.id_dataset = i.id_dataset
       AND NOT EXISTS (SELECT 1 FROM codes c WHERE c.id_dataset = i.id_dataset AND c.id_nomenclature = t.id_nomenclature_territory)
    RETURNING 1
),
territory_new AS (
    INSERT INTO gn_meta.cor_dataset_territory (id_dataset, id_nomenclature_territory)
    SELECT DISTINCT c.id_dataset, c.id_nomenclature FROM codes c WHERE c.id_nomenclature IS NOT NULL
    ON CONFLICT DO NOTHING RETURNING 1
),
actor_gone AS (
    DELETE FROM gn_meta.cor_dataset_actor t USING items i
     WHERE t.id_dataset = i.id_dataset
       AND NOT EXISTS (SELECT 1 FROM good_actors g WHERE g.id_dataset = i.id_dataset AND g.id_role_nomenclature = t.id_nomenclature_actor_role
                          AND g.id_organism IS NOT DISTINCT FROM t.id_organism AND g.id_role IS NOT DISTINCT FROM t.id_role)
    RETURNING 1
),
actor_new AS (
    INSERT INTO gn_meta.cor_dataset_actor (id_dataset, id_organism, id_role, id_nomenclature_actor_role)
    SELECT g.id_dataset, g.id_organism, g.id_role, g.id_role_nomenclature FROM good_actors g
     WHERE NOT EXISTS (SELECT 1 FROM gn_meta.cor_dataset_actor t
                        WHERE t.id_dataset = g.id_dataset AND t.id_nomenclature_actor_role = g.id_role_nomenclature
                          AND t.id_organism IS NOT DISTINCT FROM g.id_organism AND t.id_role IS NOT DISTINCT FROM g.id_role)
    RETURNING 1
)
SELECT (SELECT pg_catalog.count(*) FROM territory_gone) + (SELECT pg_catalog.count(*) FROM territory_new)
     + (SELECT pg_catalog.count(*) FROM actor_gone) + (SELECT pg_catalog.count(*) FROM actor_new),
       (SELECT pg_catalog.count(*) FROM recorded), 0::bigint;
