-- End of a complete full pull walked by page index (pages are not id ranges, so they cannot be
-- reconciled one by one): stored rows of this source that the walk's last pass did not deliver
-- are gone upstream. An anti-join on the unnested ids (hashed), not a NOT IN over an array.
-- $1 text: source   $2 bigint[]: every id_synthese delivered by the last pass
WITH gone AS (
    DELETE FROM gn_flux.data_json d
     WHERE d.source::text = $1 AND d.controler::text = 'data'
       AND NOT EXISTS (SELECT 1 FROM unnest($2::bigint[]) AS p(id) WHERE p.id = d.id_data)
    RETURNING d.uuid
)
-- (the uuids: the Synthese load removes the same observations, keyed by uuid)
SELECT count(*)::bigint, array_agg(g.uuid::text) FILTER (WHERE g.uuid IS NOT NULL) FROM gone g
