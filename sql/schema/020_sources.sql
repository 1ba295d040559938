-- gn_flux install script, part 2: the registered GeoNature sources.

CREATE TABLE gn_flux.source (
    name text PRIMARY KEY,
    url text,
    export_id integer,
    login text,
    password text,
    token text,
    data_type text NOT NULL DEFAULT 'synthese_with_cd_nomenclature',
    query_strings jsonb NOT NULL DEFAULT '{}'::jsonb,
    page_size integer NOT NULL DEFAULT 1000,
    metadata_export_id integer,
    enabled boolean NOT NULL DEFAULT true,
    max_retries integer NOT NULL DEFAULT 5,
    retry_backoff_ms integer NOT NULL DEFAULT 5000,
    connect_timeout_ms integer,
    read_timeout_ms integer,
    module_path text,
    update_overlap interval NOT NULL DEFAULT '10 minutes',
    paging text NOT NULL DEFAULT 'keyset',
    watermark timestamp without time zone,
    created_at timestamptz NOT NULL DEFAULT now(),
    password_file text,
    token_file text,
    allow_insecure_http boolean NOT NULL DEFAULT false,
    kind text NOT NULL DEFAULT 'geonature',
    options jsonb NOT NULL DEFAULT '{}'::jsonb
);
SELECT pg_catalog.pg_extension_config_dump('gn_flux.source', '');
COMMENT ON TABLE gn_flux.source IS
  'Sources pulled by gn_flux.pull_source(): remote GeoNature exports, WFS layers, OGC API collections, JSON APIs and GBIF searches (kind). Rows may be changed with UPDATE; the same validation as gn_flux.add_source() applies. password and token are readable only by the owner and superusers.';
COMMENT ON COLUMN gn_flux.source.name IS 'Source name, also the value of the source column of data_json, import_log, error_log (lower case letters, digits, _).';
COMMENT ON COLUMN gn_flux.source.url IS 'GeoNature root, e.g. https://host/geonature (the API is under /api/); for other kinds the WFS endpoint, OGC API landing page, JSON API or GBIF API root; NULL for an intake (kind post).';
COMMENT ON COLUMN gn_flux.source.export_id IS 'Id of the export in the remote Export module (/api/exports/api/<id>); geonature sources only (required there).';
COMMENT ON COLUMN gn_flux.source.login IS 'GeoNature login (with password); NULL for a public export or a token.';
COMMENT ON COLUMN gn_flux.source.password IS 'Secret: not readable by other roles.';
COMMENT ON COLUMN gn_flux.source.token IS 'Secret: export token, sent in the api-key header.';
COMMENT ON COLUMN gn_flux.source.data_type IS 'GN2PG data type, stored in data_json.type: synthese_with_cd_nomenclature, synthese_with_label, synthese_with_metadata or synthese_with_metadata_separated.';
COMMENT ON COLUMN gn_flux.source.query_strings IS 'Extra export API parameters (a JSON object of scalars), e.g. {"cd_nom": 61098}.';
COMMENT ON COLUMN gn_flux.source.page_size IS 'Rows requested per page (servers cap it, usually at 1000).';
COMMENT ON COLUMN gn_flux.source.metadata_export_id IS 'Export serving acquisition frameworks with their datasets (GN2PG separated metadata).';
COMMENT ON COLUMN gn_flux.source.max_retries IS 'Retries of a failed request (429, 5xx, timeouts, connection errors, truncated bodies).';
COMMENT ON COLUMN gn_flux.source.retry_backoff_ms IS 'First retry delay; doubles each retry (cap 120 s), plus up to 1 s of jitter; Retry-After is honoured.';
COMMENT ON COLUMN gn_flux.source.connect_timeout_ms IS 'NULL: the gn_flux.http_connect_timeout_ms setting.';
COMMENT ON COLUMN gn_flux.source.read_timeout_ms IS 'NULL: the gn_flux.http_timeout_ms setting.';
COMMENT ON COLUMN gn_flux.source.module_path IS 'Path of the remote Export module; NULL: discovered from /api/gn_commons/modules.';
COMMENT ON COLUMN gn_flux.source.update_overlap IS 'Update pulls start this long before the watermark (late commits on the remote side).';
COMMENT ON COLUMN gn_flux.source.paging IS 'keyset (default; falls back to offset paging when the server ignores keyset bounds) or offset.';
COMMENT ON COLUMN gn_flux.source.password_file IS 'File name, in the directory set by gn_flux.secrets_directory, holding the password (recommended over password: the secret never appears in SQL text or the server log). The file must be readable by the server''s OS user only (mode 600).';
COMMENT ON COLUMN gn_flux.source.token_file IS 'File name, in gn_flux.secrets_directory, holding the export token (recommended over token; mode 600).';
COMMENT ON COLUMN gn_flux.source.allow_insecure_http IS 'Send the login, password or token over plain http:// to a host that is not the local machine (default false: https is required for credentials, loopback excepted).';
COMMENT ON COLUMN gn_flux.source.kind IS 'geonature (an Export module export, default), wfs (a WFS 2.0 layer), ogcapi (an OGC API - Features collection), json (a paginated JSON API), gbif (GBIF occurrence search) or post (an intake: observations posted to the API workers, see README API POST). Items are staged in data_json with type = kind (geonature: data_type).';
COMMENT ON COLUMN gn_flux.source.options IS 'Options of the other kinds (a JSON object, checked on save): wfs typename, sort, output, geojson_format, bbox, geometry_name, filter, version; ogcapi collection, bbox, datetime; json paging, items, page_param, limit_param, offset_param, cursor_param, cursor, next, total, modified_param, stop_on_short_page; post role, max_items; every kind id, uuid, modified, srid, geometry, lon_lat, api_key_header. See the README.';
COMMENT ON COLUMN gn_flux.source.watermark IS 'Largest derniere_action seen by successful pulls (remote clock); the next update pull starts from it, minus update_overlap.';

-- Secrets: other roles may read every column but password and token.
REVOKE ALL ON gn_flux.source FROM PUBLIC;
GRANT SELECT (name, url, export_id, login, data_type, query_strings, page_size, metadata_export_id, enabled,
              max_retries, retry_backoff_ms, connect_timeout_ms, read_timeout_ms, module_path,
              update_overlap, paging, watermark, created_at, password_file, token_file, allow_insecure_http,
              kind, options)
   ON gn_flux.source TO PUBLIC;
-- The staging and log tables hold observation data: no grant; administrators grant what they need.
