-- After a complete full pull: remove the rows of this source that the export no longer serves.
-- $1 text: source   $2 bigint[]: every id_synthese seen during the pull
WITH gone_ids AS (
    SELECT d.id_data::bigint AS id FROM gn_flux.data_json d WHERE d.source = $1 AND d.controler = 'data'
    EXCEPT
    SELECT unnest($2::bigint[])
),
gone AS (
    DELETE FROM gn_flux.data_json d USING gone_ids g
     WHERE d.source = $1 AND d.controler = 'data' AND d.id_data = g.id
    RETURNING 1
)
SELECT count(*)::bigint FROM gone
