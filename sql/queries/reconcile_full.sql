-- End of a complete full pull: the last page covered every id up to $2, so stored rows of this
-- source above it are gone upstream (earlier ranges are reconciled page by page).
-- $1 text: source   $2 bigint: largest id_synthese of the pull (or below every id if it had none)
WITH gone AS (
    DELETE FROM gn_flux.data_json d
     WHERE d.source::text = $1 AND d.controler::text = 'data' AND d.id_data > $2
    RETURNING d.uuid
)
-- (the uuids: the Synthese load removes the same observations, keyed by uuid)
SELECT count(*)::bigint, array_agg(g.uuid::text) FILTER (WHERE g.uuid IS NOT NULL) FROM gone g
