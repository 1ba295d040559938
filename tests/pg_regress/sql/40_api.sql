-- The served API's SQL side: export tokens (hashed, scoped, owned), deletion tracking, and every
-- bad input as an error with a SQLSTATE, a message and a HINT.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
CREATE SCHEMA regress_api;
CREATE TABLE regress_api.obs (id_synthese integer PRIMARY KEY, nom_cite text, code text);
INSERT INTO regress_api.obs SELECT i, 'taxon ' || i, 'c' || i FROM generate_series(1, 10) i;
CREATE VIEW regress_api.v_obs AS SELECT * FROM regress_api.obs;
INSERT INTO gn_flux.export (label, schema_name, view_name) VALUES ('regress api', 'regress_api', 'v_obs');
CREATE ROLE regress_api_reader;
CREATE ROLE regress_api_other;
GRANT USAGE ON SCHEMA regress_api TO regress_api_reader, regress_api_other;
GRANT SELECT ON regress_api.v_obs TO regress_api_reader;

-- A token is shown once: 43 URL-safe characters; only its SHA-256 is kept.
SET ROLE regress_api_reader;
SELECT gn_flux.create_api_token('regress api') AS token \gset
SELECT length(:'token') AS token_length, :'token' ~ '^[A-Za-z0-9_-]{43}$' AS url_safe;
SELECT export, role, token_prefix = left(:'token', 6) AS prefix_matches, status,
       expires_at BETWEEN now() + interval '364 days' AND now() + interval '366 days' AS one_year
  FROM gn_flux.api_tokens;
SELECT token_hash FROM gn_flux.api_token;
RESET ROLE;
SELECT count(*) AS stored_hashed FROM gn_flux.api_token WHERE token_hash = gn_flux._api_token_hash(:'token');
SELECT count(*) AS stored_in_clear FROM gn_flux.api_token t WHERE to_jsonb(t)::text LIKE '%' || :'token' || '%';

-- Other roles neither see nor revoke it; its creator and whoever holds it can.
SELECT id AS token_id FROM gn_flux.api_token \gset
SET ROLE regress_api_other;
SELECT count(*) AS seen_by_others FROM gn_flux.api_tokens;
SELECT gn_flux.revoke_api_token(:token_id);
SELECT gn_flux.create_api_token('regress api', 'regress_api_reader');
SELECT gn_flux.create_api_token('regress api');
RESET ROLE;
SELECT gn_flux.revoke_api_token(:'token') AS revoked, gn_flux.revoke_api_token(:'token') AS revoked_again;
SELECT status FROM gn_flux.api_tokens;

-- Bad input
SELECT gn_flux.create_api_token(NULL);
SELECT gn_flux.create_api_token('no such export');
SELECT gn_flux.create_api_token('regress api', valid_for => '-1 day');
SELECT gn_flux.create_api_token('regress api', (SELECT oid FROM pg_roles WHERE rolname = current_user)::regrole);
SELECT gn_flux.revoke_api_token(999999);
SELECT gn_flux.revoke_api_token('not a token');

-- Deletions: a statement trigger records the ids.
SELECT gn_flux.track_deletions('regress_api.obs', 'id_synthese');
DELETE FROM regress_api.obs WHERE id_synthese IN (2, 3);
DELETE FROM regress_api.obs WHERE id_synthese = 5;
SELECT relation, deleted_id FROM gn_flux.deletion_log ORDER BY id;
SELECT relation, id_column FROM gn_flux.tracked_relation;
SELECT gn_flux.track_deletions('regress_api.v_obs', 'id_synthese');
SELECT gn_flux.track_deletions('regress_api.obs', 'code');
SELECT gn_flux.track_deletions('regress_api.obs', 'nope');
SELECT gn_flux.track_deletions('regress_api.obs', NULL);
SET ROLE regress_api_other;
SELECT gn_flux.track_deletions('regress_api.obs', 'id_synthese');
RESET ROLE;
SELECT gn_flux.untrack_deletions('regress_api.obs');
DELETE FROM regress_api.obs WHERE id_synthese = 6;
SELECT count(*) AS logged FROM gn_flux.deletion_log;

-- The status view and the access log are for monitors.
SET ROLE regress_api_other;
SELECT * FROM gn_flux.api_status;
SELECT * FROM gn_flux.api_log;
RESET ROLE;

DELETE FROM gn_flux.deletion_log;
DELETE FROM gn_flux.export WHERE label = 'regress api';
DROP SCHEMA regress_api CASCADE;
DROP ROLE regress_api_reader;
DROP ROLE regress_api_other;
