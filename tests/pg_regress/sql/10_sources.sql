-- Registering sources: every bad input is an error with a SQLSTATE, a message and a HINT.
-- The GeoNature stand-in listens on 127.0.0.1:18790 (started by tests/e2e/run.sh).
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SELECT gn_flux.version() IS NOT NULL AS loaded;
SELECT gn_flux.add_source('Source Démo', 'http://127.0.0.1:18790/geonature', 1, probe => false);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_source('regress_src', 'ftp://127.0.0.1:18790/geonature', 1, probe => false);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_source('regress_src', 'http://admin:hunter2@127.0.0.1:18790/geonature', 1, probe => false);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_source('regress_src', 'http://127.0.0.1:18790/geonature', 0, probe => false);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_source('regress_src', 'http://127.0.0.1:18790/geonature', 1, data_type => 'synthese_sans_type', probe => false);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_source('regress_src', 'http://127.0.0.1:18790/geonature', 1, page_size => 0, probe => false);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_source('regress_src', 'http://127.0.0.1:18790/geonature', 1, page_size => 20000, probe => false);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_source('regress_src', 'http://127.0.0.1:18790/geonature', 1, login => 'admin', probe => false);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_source('regress_src', 'http://127.0.0.1:18790/geonature', 1, query_strings => '{"token": "abc"}', probe => false);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_source('regress_src', NULL, 1, probe => false);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
-- Secrets in files (gn_flux.secrets_directory): a file name, not a path (the value is not echoed),
-- not both a secret and its file, and the directory must be set.
SELECT gn_flux.add_source('regress_src', 'http://127.0.0.1:18790/geonature', 1, login => 'admin', password_file => '../../etc/passwd', probe => false);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_source('regress_src', 'http://127.0.0.1:18790/geonature', 1, login => 'admin', password => 'x', password_file => 'x.password', probe => false);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_source('regress_src', 'http://127.0.0.1:18790/geonature', 1, token => 't', token_file => 'x.token', probe => false);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_source('regress_src', 'http://127.0.0.1:18790/geonature', 1, login => 'admin', password_file => 'regress.password');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
-- Credentials never travel over plain http to another host unless the source asks for it.
SELECT gn_flux.add_source('regress_src', 'http://192.0.2.1/geonature', 1, token => 'export1-token', connect_timeout_ms => 100, max_retries => 0);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
-- The probe: wrong password, no permission on EXPORTS, an export that does not exist, a URL that
-- is not a GeoNature.
SELECT gn_flux.add_source('regress_src', 'http://127.0.0.1:18790/geonature', 1, login => 'admin', password => 'wrong-pass', retry_backoff_ms => 5);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_source('regress_src', 'http://127.0.0.1:18790/geonature', 1, login => 'observer', password => 'observer', retry_backoff_ms => 5);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_source('regress_src', 'http://127.0.0.1:18790/geonature', 99, login => 'admin', password => 'admin', retry_backoff_ms => 5);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.add_source('regress_src', 'http://127.0.0.1:18790/not-geonature', 1, token => 'export1-token', retry_backoff_ms => 5, max_retries => 0);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT count(*) AS sources_after_errors FROM gn_flux.source;
-- A good one; secrets come back masked.
SELECT name, url, export_id, login, password, token, data_type, page_size, enabled, paging
  FROM gn_flux.add_source('regress_src', 'http://127.0.0.1:18790/geonature/', 1, login => 'admin', password => 'admin',
                          token => 'export1-token', retry_backoff_ms => 5);
SELECT gn_flux.add_source('regress_src', 'http://127.0.0.1:18790/geonature', 1, probe => false);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
-- UPDATE goes through the same checks; a source cannot be renamed.
UPDATE gn_flux.source SET page_size = -1 WHERE name = 'regress_src';
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
UPDATE gn_flux.source SET name = 'other' WHERE name = 'regress_src';
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
UPDATE gn_flux.source SET page_size = 500, token = NULL WHERE name = 'regress_src';
-- Pulls: bad arguments, then a full and an update pull.
SELECT * FROM gn_flux.pull_source('no_such_source');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM gn_flux.pull_source('regress_src', 'sideways');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM gn_flux.pull_source('regress_src', 'full', since => '2024-01-01');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM gn_flux.pull_source(NULL);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT source, mode, status, pages, items, inserted, updated, unchanged, deleted, errors, message
  FROM gn_flux.pull_source('regress_src');
SELECT source, mode, status, pages, items, inserted, updated, deleted, errors, message
  FROM gn_flux.pull_source('regress_src');
SELECT source, enabled, last_mode, last_status, rows, last_errors, failures_since_success, schedule
  FROM gn_flux.status ORDER BY source;
SELECT xfer_type, xfer_status, api_count_items, data_count_upserts, data_count_delete, data_count_errors, pages, paging
  FROM gn_flux.import_log ORDER BY id;
-- A source that cannot be reached: the pull fails, is logged, and returns status failed.
SELECT name FROM gn_flux.add_source('regress_down', 'http://127.0.0.1:9/geonature', 1, token => 'secret-token-1',
                                    max_retries => 0, probe => false);
SELECT source, mode, status, items, inserted, message FROM gn_flux.pull_source('regress_down');
SELECT source, last_mode, last_status, rows, failures_since_success, last_message
  FROM gn_flux.status WHERE source = 'regress_down';
SELECT count(*) AS secrets_in_logs FROM gn_flux.import_log WHERE comment LIKE '%secret-token-1%';
-- Run messages (they may quote observation data) are for superusers and gn_flux_monitor members.
CREATE ROLE regress_viewer;
CREATE ROLE regress_monitor IN ROLE gn_flux_monitor;
SET ROLE regress_viewer;
SELECT source, last_status, last_message IS NULL AS message_hidden FROM gn_flux.status ORDER BY source;
RESET ROLE;
SET ROLE regress_monitor;
SELECT source, last_status, last_message IS NULL AS message_hidden FROM gn_flux.status ORDER BY source;
RESET ROLE;
DROP ROLE regress_viewer;
DROP ROLE regress_monitor;
-- pull_all() is a procedure: one transaction per source (CALL gn_flux.pull_all()).
SELECT prokind FROM pg_proc WHERE oid = 'gn_flux.pull_all'::regproc;
-- pg_cron is not installed in this database.
SELECT gn_flux.schedule_source('regress_src', '*/30 * * * *');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.schedule_source('no_such_source', '*/30 * * * *');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.unschedule_source('regress_src');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
-- Dropping.
SELECT gn_flux.drop_source('no_such_source');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT gn_flux.drop_source('regress_src', keep_data => true);
SELECT count(*) AS kept_rows FROM gn_flux.data_json WHERE source = 'regress_src';
