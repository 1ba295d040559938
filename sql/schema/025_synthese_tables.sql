-- gn_flux install script, part 2b: loading a local GeoNature (Synthese, metadata, actors).
-- The load itself is in sql/synthese/ (one file per target); these are its settings and records.

CREATE TABLE gn_flux.synthese_load (
    source text PRIMARY KEY REFERENCES gn_flux.source (name) ON UPDATE CASCADE ON DELETE CASCADE,
    id_source integer NOT NULL,
    default_nomenclatures boolean NOT NULL DEFAULT false,
    enabled_at timestamptz NOT NULL DEFAULT now(),
    enabled_by name NOT NULL DEFAULT current_user
);
SELECT pg_catalog.pg_extension_config_dump('gn_flux.synthese_load', '');
COMMENT ON TABLE gn_flux.synthese_load IS
  'Sources whose pulls keep the local GeoNature in step (gn_flux.enable_synthese): observations in gn_synthese.synthese under id_source, metadata in gn_meta, actors in utilisateurs.';
COMMENT ON COLUMN gn_flux.synthese_load.id_source IS 'gn_synthese.t_sources row of this source (name_source = the source name).';
COMMENT ON COLUMN gn_flux.synthese_load.default_nomenclatures IS 'An unknown nomenclature code takes GeoNature''s default value (recorded in synthese_reject with action ''defaulted'') instead of rejecting the row.';

CREATE TABLE gn_flux.synthese_column (
    source text NOT NULL REFERENCES gn_flux.source (name) ON UPDATE CASCADE ON DELETE CASCADE,
    column_name text NOT NULL,
    expression text NOT NULL,
    set_by name NOT NULL DEFAULT current_user,
    set_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, column_name)
);
SELECT pg_catalog.pg_extension_config_dump('gn_flux.synthese_column', '');
COMMENT ON TABLE gn_flux.synthese_column IS
  'Per-source overrides of one column of the observation mapping (gn_flux.set_synthese_column): the expression replaces the default one over the staged row s (s.item jsonb, s.geom, s.uuid, s.id_data).';

CREATE TABLE gn_flux.synthese_reject (
    id bigserial PRIMARY KEY,
    source text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('observation', 'acquisition framework', 'dataset', 'organism', 'role')),
    id_data integer,
    uuid uuid,
    field text NOT NULL,
    value text,
    problem text NOT NULL,
    action text NOT NULL CHECK (action IN ('rejected', 'defaulted')),
    import_id integer,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('gn_flux.synthese_reject', '');
SELECT pg_catalog.pg_extension_config_dump('gn_flux.synthese_reject_id_seq', '');
CREATE INDEX ix_gn_flux_synthese_reject_row ON gn_flux.synthese_reject (source, kind, id_data);
CREATE INDEX ix_gn_flux_synthese_reject_uuid ON gn_flux.synthese_reject (source, kind, uuid);
COMMENT ON TABLE gn_flux.synthese_reject IS
  'What the GeoNature load could not write as received, field by field: rejected (the row stays out of GeoNature, or keeps its previous version) or defaulted (written with GeoNature''s default nomenclature). Cleared when the row loads cleanly (gn_flux.replay_synthese after fixing a referential).';
COMMENT ON COLUMN gn_flux.synthese_reject.id_data IS 'Observations: data_json.id_data (the remote id_synthese).';
COMMENT ON COLUMN gn_flux.synthese_reject.field IS 'The GeoNature column (observations: gn_synthese.synthese column) the problem is about.';
COMMENT ON COLUMN gn_flux.synthese_reject.value IS 'The value as received.';
COMMENT ON COLUMN gn_flux.synthese_reject.import_id IS 'The pull (import_log.id) that last tried the row; NULL for load_synthese and replay_synthese.';

REVOKE ALL ON gn_flux.synthese_load, gn_flux.synthese_column, gn_flux.synthese_reject FROM PUBLIC;
