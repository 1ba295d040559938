-- Deletions reported by the remote synthese log (update pulls).
-- $1 text: source   $2 bigint[]: id_synthese values
WITH gone AS (
    DELETE FROM gn_flux.data_json d
     WHERE d.source::text = $1 AND d.controler::text = 'data' AND d.id_data = ANY ($2::bigint[])
    RETURNING d.uuid
)
-- (the uuids: the Synthese load removes the same observations, keyed by uuid)
SELECT count(*)::bigint, array_agg(g.uuid::text) FILTER (WHERE g.uuid IS NOT NULL) FROM gone g
