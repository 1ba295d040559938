-- Observations gone upstream (deleted from data_json by a pull) leave the Synthese, keyed like
-- the upserts: uuid within the source's id_source (GN2PG deletes by id_synthese instead, so an
-- observation whose uuid it had refused to move stayed). A uuid still staged for this source
-- (the row came back under another id) stays. Their recorded problems go too.
-- $1 text: source   $2 integer: id_source   $3 uuid[]: the uuids removed from data_json
WITH gone AS (
    DELETE FROM gn_synthese.synthese s
     WHERE s.id_source = $2 AND s.unique_id_sinp = ANY ($3::uuid[])
       AND NOT EXISTS (SELECT 1 FROM gn_flux.data_json d WHERE d.uuid = s.unique_id_sinp AND d.source::text = $1)
    RETURNING 1
),
cleared AS (
    DELETE FROM gn_flux.synthese_reject x
     WHERE x.source::text = $1 AND x.kind = 'observation'
       AND NOT EXISTS (SELECT 1 FROM gn_flux.data_json d
                        WHERE d.source::text = $1 AND d.controler::text = 'data' AND d.id_data = x.id_data)
    RETURNING 1
)
SELECT (SELECT pg_catalog.count(*) FROM gone)::bigint, (SELECT pg_catalog.count(*) FROM cleared)::bigint
