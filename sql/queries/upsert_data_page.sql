-- One page of export items into gn_flux.data_json, set-based, in one statement.
-- The page in columns (one element per item, unnest()ed together):
--   $1 text[]: item JSON   $7 text[]: geometry as EWKB hex (SRID 4326, or a feed's own SRID)   $8 text[]: error   $9 bigint[]: id_synthese
--   $10 text[]: uuid
-- $2 text: source name   $3 text: data type   $4 integer: import_id
-- $5 bigint, $6 bigint: full pulls only (NULL otherwise): the page covers every id the export
--   serves in ($5, $6], so stored rows of this source in that range that are not in the page are
--   gone upstream and are deleted (reconciliation, page by page, in bounded memory).
-- Repeated ids and uuids within the page arrive already marked as errors by gn_client.
-- Unchanged items (same item and geometry) are not written at all, so row triggers on data_json
-- fire only on real changes. Items that cannot be stored go to error_log with the reason.
WITH page AS (
    SELECT t.item_text::jsonb AS item, t.g, t.err, t.raw_id,
           CASE WHEN t.raw_id BETWEEN -2147483648 AND 2147483647 THEN t.raw_id::integer END AS id_data,
           t.u::uuid AS uuid  -- gn_client sends canonical uuids only (NULL + an error otherwise)
      FROM unnest($1::text[], $7::text[], $8::text[], $9::bigint[], $10::text[]) AS t(item_text, g, err, raw_id, u)
),
classified AS (
    SELECT r.item, r.raw_id, r.id_data, r.uuid,
           -- (sources of other kinds send their own SRID: reprojected to the column's 4326;
           -- a no-op for 4326)
           CASE WHEN r.g IS NULL THEN NULL ELSE @postgis@.ST_Transform(r.g::@postgis@.geometry, 4326) END AS geom,
           CASE
               WHEN r.err IS NOT NULL THEN r.err
               WHEN r.raw_id IS NULL THEN 'missing id_synthese'
               WHEN r.id_data IS NULL THEN format('id_synthese %s is out of the integer range of data_json.id_data', r.raw_id)
               WHEN other.uuid IS NOT NULL THEN format('uuid %s already belongs to source "%s", id_synthese %s', r.uuid, other.source, other.id_data)
               WHEN mine.id_data IS NOT NULL AND mine.uuid IS DISTINCT FROM r.uuid
                   THEN format('id_synthese %s is stored with uuid %s, the export now gives %s', r.id_data,
                               coalesce(mine.uuid::text, 'NULL'), coalesce(r.uuid::text, 'NULL'))
           END AS reason,
           mine.id_data IS NOT NULL AS stored
      FROM page r
      LEFT JOIN gn_flux.data_json mine
             ON mine.id_data = r.id_data AND mine.controler::text = 'data' AND mine.source::text = $2
      LEFT JOIN gn_flux.data_json other
             ON other.uuid = r.uuid AND NOT (other.source::text = $2 AND other.controler::text = 'data' AND other.id_data = r.id_data)
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
    RETURNING id_data
),
updated AS (
    UPDATE gn_flux.data_json d
       SET type = $3, item = c.item, update_ts = localtimestamp, import_id = $4, geom = c.geom
      FROM classified c
     WHERE c.reason IS NULL AND c.stored
       AND d.id_data = c.id_data AND d.controler::text = 'data' AND d.source::text = $2
       AND (d.item IS DISTINCT FROM c.item OR d.type::text IS DISTINCT FROM $3
            -- geometry equality by PostGIS's own operator, named with its schema: an unqualified
            -- `=` (or IS DISTINCT FROM) would resolve through the caller's search_path
            OR (d.geom IS NULL) <> (c.geom IS NULL)
            OR NOT (d.geom OPERATOR(@postgis@.=) c.geom))
    RETURNING d.id_data
),
gone AS (
    DELETE FROM gn_flux.data_json d
     WHERE $5::bigint IS NOT NULL AND d.source::text = $2 AND d.controler::text = 'data'
       AND d.id_data > $5::bigint AND d.id_data <= $6::bigint
       -- the ids straight from $9, so that `page` (items included) is read once and not materialised
       AND NOT EXISTS (SELECT 1 FROM unnest($9::bigint[]) AS p(raw_id) WHERE p.raw_id = d.id_data)
    RETURNING d.uuid
)
SELECT (SELECT count(*) FROM inserted)::bigint AS inserted,
       (SELECT count(*) FROM updated)::bigint AS updated,
       (SELECT count(*) FROM rejected)::bigint AS rejected,
       (SELECT count(*) FROM gone)::bigint AS gone,
       -- for the Synthese load: the rows this page changed, and the uuids it removed
       ARRAY(SELECT i.id_data FROM inserted i UNION ALL SELECT u.id_data FROM updated u) AS changed,
       ARRAY(SELECT g.uuid::text FROM gone g WHERE g.uuid IS NOT NULL) AS gone_uuids
