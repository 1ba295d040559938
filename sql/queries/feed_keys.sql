-- The data_json.id_data of each item key of one feed page, in the page's order; keys seen for the
-- first time get a new id. $1 text: source   $2 text[]: the keys (NULL for items with an error).
WITH given AS (
    SELECT g.key, g.ord FROM unnest($2::text[]) WITH ORDINALITY AS g(key, ord)
),
added AS (
    INSERT INTO gn_flux.feed_key AS f (source, key)
    SELECT DISTINCT $1, g.key FROM given g
     WHERE g.key IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM gn_flux.feed_key k WHERE k.source::text = $1 AND k.key = g.key)
    ON CONFLICT DO NOTHING
    RETURNING f.key, f.id_data
)
SELECT ARRAY(
    SELECT coalesce(a.id_data, k.id_data)::bigint
      FROM given g
      LEFT JOIN added a ON a.key = g.key
      LEFT JOIN gn_flux.feed_key k ON k.source::text = $1 AND k.key = g.key
     ORDER BY g.ord)
