-- Test layer served by MapServer (tests/e2e/mapserver/start.sh): a point table in Lambert-93
-- with :n deterministic rows (same input, same rows, on every run).
-- Usage: psql -v ON_ERROR_STOP=1 -v table=obs_ms -v n=20000 -d DB -f tests/e2e/mapserver/layer.sql
-- Needs the postgis extension in DB. :table is used as written (may be schema-qualified).
\set ON_ERROR_STOP on

DROP TABLE IF EXISTS :table;

CREATE TABLE :table (
    id                integer PRIMARY KEY,
    uuid              uuid NOT NULL,
    nom_cite          text,
    cd_nom            integer,
    nombre            integer,
    date_obs          date,
    observateur       text,
    commune           text,
    date_modification timestamp,
    geom              geometry(Point, 2154)
);

-- h1, h2, h3: three independent deterministic 31-bit hashes of the id.
INSERT INTO :table (id, uuid, nom_cite, cd_nom, nombre, date_obs, observateur, commune,
                    date_modification, geom)
SELECT
    i,
    md5('gn_flux-ms-' || i)::uuid,
    (ARRAY['Hérisson d''Europe', 'Écureuil roux', 'Mésange charbonnière', 'Rouge-gorge familier',
           'Grenouille rieuse', 'Lézard des murailles', 'Chevreuil européen'])[1 + i % 7],
    (ARRAY[53716, 61153, 534742, 4001, 444436, 77756, 61057])[1 + i % 7],
    1 + h1 % 12,
    date '2023-01-01' + (h2 % 365)::int,
    'Observateur ' || (1 + i % 13),
    (ARRAY['Besançon', 'Mâcon', 'Saint-Étienne', 'Clermont-Ferrand', 'Alençon'])[1 + i % 5],
    timestamp '2024-01-01 00:00:00' + make_interval(secs => (h1 % 31536000)::double precision),
    ST_SetSRID(ST_MakePoint(600000 + (h3 % 400000001) / 1000.0,
                            6300000 + (h2 % 500000001) / 1000.0), 2154)
FROM (
    SELECT i,
           ('x' || substr(md5('x' || i), 1, 8))::bit(32)::bigint & 2147483647 AS h1,
           ('x' || substr(md5('y' || i), 1, 8))::bit(32)::bigint & 2147483647 AS h2,
           ('x' || substr(md5('z' || i), 1, 8))::bit(32)::bigint & 2147483647 AS h3
    FROM generate_series(1, :n) AS i
) AS s;

CREATE INDEX ON :table USING gist (geom);
ANALYZE :table;
