-- One page of export items into gn_flux.data_json, set-based, in one statement.
-- $1 text: JSON array of {"i": item, "g": EWKB hex | null, "e": error | null, "id": id_synthese | null, "u": uuid | null}
-- $2 text: source name   $3 text: data type   $4 integer: import_id
-- Unchanged items (same item and geometry) are not written at all, so row triggers on data_json
-- fire only on real changes. Items that cannot be stored go to error_log with the reason.
WITH page AS (
    SELECT t.ord, t.x -> 'i' AS item, t.x ->> 'g' AS g, t.x ->> 'e' AS err,
           (t.x ->> 'id')::bigint AS raw_id,
           CASE WHEN (t.x ->> 'id')::bigint BETWEEN -2147483648 AND 2147483647
                THEN (t.x ->> 'id')::integer END AS id_data,
           CASE WHEN t.x ->> 'u' ~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$'
                THEN (t.x ->> 'u')::uuid END AS uuid
      FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(x, ord)
),
ranked AS (
    SELECT p.*,
           row_number() OVER (PARTITION BY p.id_data ORDER BY p.ord DESC) AS id_rank,
           count(*) FILTER (WHERE p.uuid IS NOT NULL) OVER (PARTITION BY p.uuid) AS uuid_uses
      FROM page p
),
classified AS (
    SELECT r.ord, r.item, r.raw_id, r.id_data, r.uuid,
           CASE WHEN r.g IS NULL THEN NULL ELSE r.g::@postgis@.geometry END AS geom,
           CASE
               WHEN r.err IS NOT NULL THEN r.err
               WHEN r.raw_id IS NULL THEN 'missing id_synthese'
               WHEN r.id_data IS NULL THEN format('id_synthese %s is out of the integer range of data_json.id_data', r.raw_id)
               WHEN r.id_rank > 1 THEN format('id_synthese %s appears again later in the same page; the later item was kept', r.id_data)
               WHEN r.uuid IS NOT NULL AND r.uuid_uses > 1 THEN format('uuid %s is used by several items of the same page', r.uuid)
               WHEN other.uuid IS NOT NULL THEN format('uuid %s already belongs to source "%s", id_synthese %s', r.uuid, other.source, other.id_data)
               WHEN mine.id_data IS NOT NULL AND mine.uuid IS DISTINCT FROM r.uuid
                   THEN format('id_synthese %s is stored with uuid %s, the export now gives %s', r.id_data,
                               coalesce(mine.uuid::text, 'NULL'), coalesce(r.uuid::text, 'NULL'))
           END AS reason,
           mine.id_data IS NOT NULL AS stored,
           mine.item AS old_item,
           mine.geom AS old_geom
      FROM ranked r
      LEFT JOIN gn_flux.data_json mine
             ON mine.id_data = r.id_data AND mine.controler = 'data' AND mine.source = $2
      LEFT JOIN gn_flux.data_json other
             ON other.uuid = r.uuid AND NOT (other.source = $2 AND other.controler = 'data' AND other.id_data = r.id_data)
),
rejected AS (
    INSERT INTO gn_flux.error_log (source, uuid, controler, last_ts, item, error, import_id)
    SELECT $2, c.uuid, 'data', localtimestamp, c.item, c.reason, $4
      FROM classified c WHERE c.reason IS NOT NULL
    RETURNING 1
),
inserted AS (
    INSERT INTO gn_flux.data_json (source, controler, type, id_data, uuid, item, update_ts, import_id, geom)
    SELECT $2, 'data', $3, c.id_data, c.uuid, c.item, localtimestamp, $4, c.geom
      FROM classified c WHERE c.reason IS NULL AND NOT c.stored
    RETURNING 1
),
updated AS (
    UPDATE gn_flux.data_json d
       SET type = $3, item = c.item, update_ts = localtimestamp, import_id = $4, geom = c.geom
      FROM classified c
     WHERE c.reason IS NULL AND c.stored
       AND d.id_data = c.id_data AND d.controler = 'data' AND d.source = $2
       AND (d.item IS DISTINCT FROM c.item OR d.type IS DISTINCT FROM $3
            OR NOT (d.geom IS NOT DISTINCT FROM c.geom))
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted)::bigint AS inserted,
       (SELECT count(*) FROM updated)::bigint AS updated,
       (SELECT count(*) FROM rejected)::bigint AS rejected
