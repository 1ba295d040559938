-- gn_flux install script, part 1: the staging tables, laid out exactly as GN2PG 1.10 (alembic head
-- 20260903_03) lays them out in its import schema, so that existing to_gnsynthese triggers,
-- dashboards and queries keep working when pointed at schema gn_flux. gn_flux additions are
-- marked; GN2PG readers ignore them.

CREATE TABLE gn_flux.import_log (
    id serial NOT NULL,
    source varchar NOT NULL,
    controler varchar NOT NULL,
    xfer_type varchar,
    xfer_status varchar,
    xfer_start_ts timestamp without time zone NOT NULL,
    xfer_end_ts timestamp without time zone,
    api_count_items integer DEFAULT 0 NOT NULL,
    api_count_errors integer DEFAULT 0 NOT NULL,
    data_count_upserts integer DEFAULT 0 NOT NULL,
    data_count_delete integer DEFAULT 0 NOT NULL,
    data_count_errors integer DEFAULT 0 NOT NULL,
    metadata_count_upserts integer DEFAULT 0 NOT NULL,
    metadata_count_errors integer DEFAULT 0 NOT NULL,
    xfer_filters jsonb DEFAULT '{}'::jsonb,
    comment text,
    -- gn_flux additions
    data_count_inserts integer DEFAULT 0 NOT NULL,
    data_count_updates integer DEFAULT 0 NOT NULL,
    data_count_unchanged integer DEFAULT 0 NOT NULL,
    pages integer DEFAULT 0 NOT NULL,
    bytes bigint DEFAULT 0 NOT NULL,
    http_requests integer DEFAULT 0 NOT NULL,
    paging varchar,
    watermark timestamp without time zone,
    synthese_upserts integer DEFAULT 0 NOT NULL,
    synthese_deletes integer DEFAULT 0 NOT NULL,
    synthese_rejects integer DEFAULT 0 NOT NULL,
    PRIMARY KEY (id)
);
-- Every table holding user data is dumped by pg_dump with its rows (an extension's own tables
-- are not, unless marked), and so is the sequence behind its ids.
SELECT pg_catalog.pg_extension_config_dump('gn_flux.import_log', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.import_log_id_seq', '');
CREATE INDEX ix_gn_flux_import_log_source ON gn_flux.import_log (source);
CREATE INDEX ix_gn_flux_import_log_xfer_type ON gn_flux.import_log (xfer_type);
COMMENT ON TABLE gn_flux.import_log IS
  'One row per pull run (GN2PG 1.10 layout). xfer_status: init, importing data, success, failed.';
COMMENT ON COLUMN gn_flux.import_log.controler IS 'Always ''data'' for pulls (GN2PG).';
COMMENT ON COLUMN gn_flux.import_log.xfer_type IS 'full or update.';
COMMENT ON COLUMN gn_flux.import_log.api_count_items IS 'Items received from the export API.';
COMMENT ON COLUMN gn_flux.import_log.api_count_errors IS 'HTTP attempts that failed and were retried.';
COMMENT ON COLUMN gn_flux.import_log.data_count_upserts IS 'Rows inserted or changed in data_json (unchanged rows are not rewritten).';
COMMENT ON COLUMN gn_flux.import_log.data_count_errors IS 'Items written to error_log instead of data_json.';
COMMENT ON COLUMN gn_flux.import_log.xfer_filters IS 'The export query parameters, as GN2PG stores them: a one-element array holding them as a JSON string.';
COMMENT ON COLUMN gn_flux.import_log.comment IS 'Why the run failed (never contains a password or token).';
COMMENT ON COLUMN gn_flux.import_log.data_count_unchanged IS 'gn_flux: items identical to the stored row, not rewritten.';
COMMENT ON COLUMN gn_flux.import_log.paging IS 'gn_flux: keyset, or offset when the server ignored keyset bounds.';
COMMENT ON COLUMN gn_flux.import_log.synthese_upserts IS 'gn_flux: observations inserted or changed in gn_synthese.synthese by the GeoNature load (gn_flux.enable_synthese).';
COMMENT ON COLUMN gn_flux.import_log.synthese_deletes IS 'gn_flux: observations removed from gn_synthese.synthese (gone upstream).';
COMMENT ON COLUMN gn_flux.import_log.synthese_rejects IS 'gn_flux: staged observations the GeoNature load rejected (reasons in gn_flux.synthese_reject).';
COMMENT ON COLUMN gn_flux.import_log.watermark IS 'gn_flux: largest derniere_action seen in this run (server clock).';

CREATE TABLE gn_flux.error_log (
    source varchar NOT NULL,
    uuid uuid,
    controler varchar NOT NULL,
    last_ts timestamp without time zone DEFAULT now() NOT NULL,
    item jsonb,
    error varchar,
    import_id integer NOT NULL,
    FOREIGN KEY (import_id) REFERENCES gn_flux.import_log (id) ON DELETE CASCADE ON UPDATE CASCADE
);
SELECT pg_catalog.pg_extension_config_dump('gn_flux.error_log', '');
CREATE INDEX ix_gn_flux_error_log_import_id ON gn_flux.error_log (import_id);
CREATE INDEX ix_gn_flux_error_log_uuid ON gn_flux.error_log (uuid);
COMMENT ON TABLE gn_flux.error_log IS
  'Items that could not be stored, with the raw item and the reason (GN2PG 1.10 layout; uuid may be NULL when the item had none or an invalid one).';

CREATE TABLE gn_flux.data_json (
    source varchar NOT NULL,
    controler varchar NOT NULL,
    type varchar NOT NULL,
    id_data integer NOT NULL,
    uuid uuid,
    -- lz4 (PostgreSQL 14+) rather than pglz: several times cheaper to compress on every write
    item jsonb COMPRESSION lz4 NOT NULL,
    update_ts timestamp without time zone DEFAULT now() NOT NULL,
    import_id integer NOT NULL,
    -- gn_flux addition: the geometry, from wkt_4326 or the feature geometry
    geom geometry(Geometry, 4326),
    CONSTRAINT pk_source_data PRIMARY KEY (id_data, controler, source),
    FOREIGN KEY (import_id) REFERENCES gn_flux.import_log (id) ON UPDATE CASCADE,
    CONSTRAINT unique_uuid UNIQUE (uuid)
);
SELECT pg_catalog.pg_extension_config_dump('gn_flux.data_json', '');
-- GN2PG also creates ix_*_data_json_id_data (id_data) and ix_*_data_json_uuid (uuid): exact
-- duplicates of the primary key's leading column and of unique_uuid. Every write paid for them
-- (about 5 % of a full pull) and no query can use them that cannot use the key indexes.
CREATE INDEX ix_gn_flux_data_json_source ON gn_flux.data_json (source, controler);
-- SP-GiST rather than GiST: the same 2D operators (&&, ST_Intersects, ST_DWithin, <->) at about
-- half the cost per inserted row, which matters on a table written a page at a time.
CREATE INDEX ix_gn_flux_data_json_geom ON gn_flux.data_json USING spgist (geom);
COMMENT ON TABLE gn_flux.data_json IS
  'Pulled export rows (GN2PG 1.10 layout): item is the export row as JSONB, with ca_data/jdd_data moved to metadata_json and replaced by ca_uuid/jdd_uuid.';
COMMENT ON COLUMN gn_flux.data_json.source IS 'The source name (gn_flux.source.name).';
COMMENT ON COLUMN gn_flux.data_json.id_data IS 'item.id_synthese on the remote instance.';
COMMENT ON COLUMN gn_flux.data_json.uuid IS 'item.id_perm_sinp; unique across sources.';
COMMENT ON COLUMN gn_flux.data_json.geom IS 'gn_flux: geometry (SRID 4326) from item.wkt_4326, or the feature geometry of a FeatureCollection export.';

CREATE TABLE gn_flux.metadata_json (
    source varchar NOT NULL,
    controler varchar NOT NULL,
    type varchar NOT NULL,
    level varchar NOT NULL,
    uuid uuid NOT NULL,
    item jsonb NOT NULL,
    update_ts timestamp without time zone DEFAULT now() NOT NULL,
    import_id integer NOT NULL,
    CONSTRAINT pk_source_metadata PRIMARY KEY (uuid, source),
    FOREIGN KEY (import_id) REFERENCES gn_flux.import_log (id) ON UPDATE CASCADE,
    CONSTRAINT metadata_unique_uuid UNIQUE (uuid)
);
SELECT pg_catalog.pg_extension_config_dump('gn_flux.metadata_json', '');
-- (GN2PG's ix_*_metadata_json_uuid duplicates metadata_unique_uuid: left out, as above.)
-- gn_flux: the keys of items of other kinds (WFS, OGC API, JSON, GBIF) and the integer id_data
-- that stands for each in data_json (GN2PG's layout keys rows by an integer; a feature id or a
-- GBIF key is text or beyond 32 bits). A key keeps its id_data for as long as the source exists.
CREATE TABLE gn_flux.feed_key (
    source varchar NOT NULL,
    key text NOT NULL,
    id_data serial NOT NULL,
    first_seen timestamp without time zone DEFAULT now() NOT NULL,
    PRIMARY KEY (source, key),
    CONSTRAINT feed_key_id_data UNIQUE (id_data)
);
SELECT pg_catalog.pg_extension_config_dump('gn_flux.feed_key', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.feed_key_id_data_seq', '');
COMMENT ON TABLE gn_flux.feed_key IS
  'gn_flux: the key of each staged item of a source of another kind than geonature (a feature id, a GBIF key…) and the data_json.id_data standing for it.';

COMMENT ON TABLE gn_flux.metadata_json IS
  'Acquisition frameworks and datasets (GN2PG 1.10 layout): level is ''acquisition framework'' or ''dataset''; dataset items carry ca_uuid.';
