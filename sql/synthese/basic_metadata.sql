-- Flat export shapes (synthese_with_cd_nomenclature, synthese_with_label) name an observation's
-- framework and dataset only by uuid and name (ca_uuid, ca_nom, jdd_uuid, jdd_nom): a basic
-- framework and dataset are made for them, as GN2PG does, and renamed when the name changes
-- upstream. A basic framework starts on the day it is made (GeoNature requires a start date);
-- both carry additional_data {"source", "module": "gn_flux", "basic": true}. Frameworks and
-- datasets described by metadata_json, or not made by gn_flux, are left alone here.
-- $1 text: source   $2 integer[]: the data_json ids of the chunk
WITH flat AS (
    SELECT DISTINCT gn_flux._uuid(d.item ->> 'ca_uuid') AS ca_uuid, d.item ->> 'ca_nom' AS ca_nom,
           gn_flux._uuid(d.item ->> 'jdd_uuid') AS jdd_uuid, d.item ->> 'jdd_nom' AS jdd_nom
      FROM gn_flux.data_json d
     WHERE d.source::text = $1 AND d.controler::text = 'data' AND d.id_data = ANY ($2::integer[])
       AND d.type::text IN ('synthese_with_cd_nomenclature', 'synthese_with_label')
),
frameworks AS (
    SELECT DISTINCT ON (f.ca_uuid) f.ca_uuid, pg_catalog.left(f.ca_nom, 255) AS ca_nom
      FROM flat f
     WHERE f.ca_uuid IS NOT NULL AND f.ca_nom IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM gn_flux.metadata_json m WHERE m.uuid = f.ca_uuid)
     ORDER BY f.ca_uuid, f.ca_nom
),
af AS (
    INSERT INTO gn_meta.t_acquisition_frameworks AS a (unique_acquisition_framework_id, acquisition_framework_name,
           acquisition_framework_desc, acquisition_framework_start_date, additional_data)
    SELECT f.ca_uuid, f.ca_nom, '', current_date,
           pg_catalog.jsonb_build_object('source', $1, 'module', 'gn_flux', 'basic', true)
      FROM frameworks f
    ON CONFLICT (unique_acquisition_framework_id) DO UPDATE SET acquisition_framework_name = EXCLUDED.acquisition_framework_name
     WHERE a.acquisition_framework_name IS DISTINCT FROM EXCLUDED.acquisition_framework_name
       AND a.additional_data ->> 'module' = 'gn_flux' AND a.additional_data ->> 'basic' = 'true'
    RETURNING a.id_acquisition_framework, a.unique_acquisition_framework_id
),
datasets AS (
    SELECT DISTINCT ON (f.jdd_uuid) f.jdd_uuid, pg_catalog.left(f.jdd_nom, 255) AS jdd_nom,
           coalesce(e.id_acquisition_framework, n.id_acquisition_framework) AS id_af
      FROM flat f
      LEFT JOIN gn_meta.t_acquisition_frameworks e ON e.unique_acquisition_framework_id = f.ca_uuid
      LEFT JOIN af n ON n.unique_acquisition_framework_id = f.ca_uuid
     WHERE f.jdd_uuid IS NOT NULL AND f.jdd_nom IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM gn_flux.metadata_json m WHERE m.uuid = f.jdd_uuid)
     ORDER BY f.jdd_uuid, f.jdd_nom
),
ds AS (
    INSERT INTO gn_meta.t_datasets AS t (unique_dataset_id, id_acquisition_framework, dataset_name, dataset_shortname,
           dataset_desc, marine_domain, terrestrial_domain, additional_data)
    SELECT d.jdd_uuid, d.id_af, d.jdd_nom, pg_catalog.left(d.jdd_nom, 30), '', false, false,
           pg_catalog.jsonb_build_object('source', $1, 'module', 'gn_flux', 'basic', true)
      FROM datasets d WHERE d.id_af IS NOT NULL
    ON CONFLICT (unique_dataset_id) DO UPDATE SET dataset_name = EXCLUDED.dataset_name,
           dataset_shortname = EXCLUDED.dataset_shortname
     WHERE t.dataset_name IS DISTINCT FROM EXCLUDED.dataset_name
       AND t.additional_data ->> 'module' = 'gn_flux' AND t.additional_data ->> 'basic' = 'true'
    RETURNING 1
)
SELECT (SELECT pg_catalog.count(*) FROM af) + (SELECT pg_catalog.count(*) FROM ds)
