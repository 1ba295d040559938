-- Acquisition frameworks and datasets into gn_flux.metadata_json, set-based, in one statement.
-- $1 text: JSON array of {"level", "uuid", "item"}   $2 text: source   $3 text: data type   $4 integer: import_id
-- A uuid that belongs to another source goes to error_log (metadata_unique_uuid); unchanged rows are not written.
WITH m AS (
    SELECT DISTINCT ON (t.x ->> 'uuid') t.x ->> 'level' AS level, t.x ->> 'uuid' AS raw_uuid, t.x -> 'item' AS item
      FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(x, ord)
     ORDER BY t.x ->> 'uuid', t.ord DESC
),
typed AS (
    SELECT m.level, m.item, m.raw_uuid,
           CASE WHEN m.raw_uuid ~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$'
                THEN m.raw_uuid::uuid END AS uuid
      FROM m
),
classified AS (
    SELECT t.*,
           CASE
               WHEN t.uuid IS NULL THEN format('invalid %s uuid %s', t.level, coalesce(t.raw_uuid, 'NULL'))
               WHEN other.uuid IS NOT NULL THEN format('%s uuid %s already belongs to source "%s"', t.level, t.uuid, other.source)
           END AS reason,
           mine.uuid IS NOT NULL AS stored
      FROM typed t
      LEFT JOIN gn_flux.metadata_json mine ON mine.uuid = t.uuid AND mine.source::text = $2
      LEFT JOIN gn_flux.metadata_json other ON other.uuid = t.uuid AND other.source::text <> $2
),
rejected AS (
    INSERT INTO gn_flux.error_log (source, uuid, controler, last_ts, item, error, import_id)
    SELECT $2, c.uuid, 'metadata', localtimestamp, c.item, c.reason, $4 FROM classified c WHERE c.reason IS NOT NULL
    RETURNING 1
),
inserted AS (
    INSERT INTO gn_flux.metadata_json (source, controler, type, level, uuid, item, update_ts, import_id)
    SELECT $2, 'metadata', $3, c.level, c.uuid, c.item, localtimestamp, $4
      FROM classified c WHERE c.reason IS NULL AND NOT c.stored
     -- frameworks before their datasets: row triggers (GN2PG's to_gnsynthese) look the
     -- framework of a dataset up when the dataset row arrives
     ORDER BY c.level::text <> 'acquisition framework', c.uuid
    RETURNING uuid
),
updated AS (
    UPDATE gn_flux.metadata_json d
       SET type = $3, level = c.level, item = c.item, update_ts = localtimestamp, import_id = $4
      FROM classified c
     WHERE c.reason IS NULL AND c.stored AND d.uuid = c.uuid AND d.source::text = $2
       AND (d.item IS DISTINCT FROM c.item OR d.level::text IS DISTINCT FROM c.level OR d.type::text IS DISTINCT FROM $3)
    RETURNING d.uuid
)
SELECT (SELECT count(*) FROM inserted)::bigint + (SELECT count(*) FROM updated)::bigint AS upserts,
       (SELECT count(*) FROM rejected)::bigint AS rejected,
       -- for the GeoNature load: the items this call changed
       ARRAY(SELECT i.uuid::text FROM inserted i UNION ALL SELECT u.uuid::text FROM updated u) AS changed
