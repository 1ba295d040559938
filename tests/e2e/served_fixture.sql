-- The served fixture of the Serve I end-to-end tests (crates/e2e/tests/serve.rs and
-- tests/e2e/gn2pg_served.py): 20,000 observations, four exports, three roles, tracked deletions.
DROP SCHEMA IF EXISTS served CASCADE;
DELETE FROM gn_flux.export WHERE label LIKE 'served %';
DELETE FROM gn_flux.deletion_log;
DROP ROLE IF EXISTS gn_flux_e2e_reader;
DROP ROLE IF EXISTS gn_flux_e2e_nobody;
DROP ROLE IF EXISTS gn_flux_e2e_team_a;
CREATE ROLE gn_flux_e2e_reader LOGIN PASSWORD 'reader-pw';
CREATE ROLE gn_flux_e2e_nobody LOGIN PASSWORD 'nobody-pw';
CREATE ROLE gn_flux_e2e_team_a LOGIN PASSWORD 'team-a-pw';
CREATE SCHEMA served;
CREATE TABLE served.obs (
    id_synthese integer PRIMARY KEY,
    id_perm_sinp uuid NOT NULL,
    nom_cite text NOT NULL,
    observateurs varchar(200),
    cd_nom integer,
    nombre_min integer,
    altitude numeric(8,2),
    date_debut date,
    derniere_action timestamp NOT NULL,
    team text NOT NULL,
    extra jsonb,
    geom geometry(Point, 4326)
);
INSERT INTO served.obs
SELECT i, md5('obs' || i)::uuid, 'Taxon ' || (i % 97) || ' l''été', 'Obs ' || (i % 13), 60000 + i % 500, i % 9,
       CASE WHEN i % 5 = 0 THEN NULL ELSE (i % 3000) / 3.0 END, DATE '2020-01-01' + (i % 1000),
       TIMESTAMP '2024-01-01 00:00:00' + i * interval '1 minute', CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END,
       jsonb_build_object('i', i, 'tags', jsonb_build_array('x', i % 3)),
       CASE WHEN i % 10 = 0 THEN NULL ELSE ST_SetSRID(ST_MakePoint(5 + (i % 1000) * 0.001, 44 + (i / 1000) * 0.01), 4326) END
  FROM generate_series(1, 20000) i;
CREATE VIEW served.v_flat AS
SELECT id_synthese, id_perm_sinp, nom_cite, observateurs, cd_nom, nombre_min, altitude, date_debut, derniere_action,
       extra, ST_AsText(geom) AS wkt_4326
  FROM served.obs;
CREATE VIEW served.v_geo AS SELECT id_synthese, nom_cite, cd_nom, geom FROM served.obs;
ALTER TABLE served.obs ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone ON served.obs FOR SELECT TO PUBLIC USING (current_user <> 'gn_flux_e2e_team_a');
CREATE POLICY team_a ON served.obs FOR SELECT TO gn_flux_e2e_team_a USING (team = 'a');
CREATE VIEW served.v_rls WITH (security_invoker = true) AS SELECT id_synthese, nom_cite, team FROM served.obs;
CREATE VIEW served.v_public AS SELECT id_synthese, nom_cite, derniere_action FROM served.obs WHERE id_synthese <= 3000;
GRANT USAGE ON SCHEMA served TO gn_flux_e2e_reader, gn_flux_e2e_team_a, gn_flux_anonymous;
GRANT SELECT ON served.v_flat, served.v_geo, served.v_rls, served.obs TO gn_flux_e2e_reader;
GRANT SELECT ON served.v_rls, served.obs TO gn_flux_e2e_team_a;
GRANT SELECT ON served.v_public TO gn_flux_anonymous;
INSERT INTO gn_flux.export (label, schema_name, view_name, public, licence) VALUES
    ('served flat', 'served', 'v_flat', false, 2),
    ('served geo', 'served', 'v_geo', false, 1),
    ('served rls', 'served', 'v_rls', false, 1),
    ('served public', 'served', 'v_public', true, 3);
SELECT gn_flux.track_deletions('served.obs', 'id_synthese');
