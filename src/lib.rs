//! gn_flux: a GeoNature data-exchange node inside PostgreSQL.
//!
//! This file only wires the modules together; each SQL feature lives in its own module.
// SQL entry points return `SqlResult` (pgrx's ErrorReport, raised with its SQLSTATE, DETAIL and
// HINT): a large error type on a path that ends the statement anyway.
#![allow(clippy::result_large_err)]
use pgrx::prelude::*;

mod error;
mod export;
mod ffi;
mod gucs;
mod info;
mod network;
mod pull;
mod serve;
mod sources;
mod spi;
mod synthese;

::pgrx::pg_module_magic!(name, version);

::pgrx::extension_sql_file!("../sql/schema/000_bootstrap.sql", name = "bootstrap", bootstrap);
::pgrx::extension_sql_file!(
    "../sql/schema/010_storage.sql",
    name = "storage",
    requires = ["bootstrap"]
);
::pgrx::extension_sql_file!(
    "../sql/schema/020_sources.sql",
    name = "sources",
    requires = ["storage"]
);
::pgrx::extension_sql_file!(
    "../sql/schema/025_synthese_tables.sql",
    name = "synthese_tables",
    requires = ["sources"]
);
::pgrx::extension_sql_file!(
    "../sql/schema/030_source_functions.sql",
    name = "source_functions",
    requires = [
        "bootstrap",
        "sources",
        "synthese_tables",
        sources::check_source_row,
        sources::probe_source,
        pull::pull_source
    ]
);

::pgrx::extension_sql_file!(
    "../sql/schema/040_exports.sql",
    name = "exports",
    requires = [
        "source_functions",
        export::check_export,
        export::check_export_directory,
        export::export_to_file,
        export::export_view,
        export::run_export_schedule
    ]
);

::pgrx::extension_sql_file!(
    "../sql/schema/050_synthese.sql",
    name = "synthese",
    requires = [
        "exports",
        synthese::check_geonature,
        synthese::enable_synthese,
        synthese::disable_synthese,
        synthese::load_synthese,
        synthese::replay_synthese,
        synthese::synthese_preview,
        synthese::set_synthese_column,
        synthese::synthese_mapping,
        synthese::to_timestamp_or_null,
        synthese::to_jsonb_or_null
    ]
);

::pgrx::extension_sql_file!(
    "../sql/schema/060_api.sql",
    name = "api",
    requires = ["synthese", serve::api_token_secret, serve::api_token_hash]
);

::pgrx::extension_sql_file!(
    "../sql/schema/070_feeds.sql",
    name = "feeds",
    requires = [
        "api",
        synthese::set_mapping,
        synthese::set_datasets,
        synthese::to_timestamp_or_null
    ]
);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    // Session-level settings can be defined in any backend.
    gucs::init();
    if gucs::preloading() {
        // Postmaster-level settings and background workers can only be registered from
        // shared_preload_libraries (not by CREATE EXTENSION or a first call).
        gucs::init_preloaded();
        serve::register_workers();
    }
    // Last: once reserved, gn_flux.* names not defined above are errors.
    gucs::reserve_prefix();
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn version_names_the_release_and_commit() {
        let v = Spi::get_one::<String>("SELECT gn_flux.version()").unwrap().unwrap();
        assert!(
            v.starts_with(&format!("gn_flux {} (commit ", env!("CARGO_PKG_VERSION"))),
            "{v}"
        );
    }

    #[pg_test]
    fn loaded_through_shared_preload_libraries() {
        let libs = Spi::get_one::<String>("SELECT current_setting('shared_preload_libraries')")
            .unwrap()
            .unwrap();
        assert!(libs.split(',').any(|l| l.trim() == "gn_flux"), "{libs}");
        let preloaded = Spi::get_one::<bool>("SELECT gn_flux._loaded_from_preload()")
            .unwrap()
            .unwrap();
        assert!(preloaded);
    }

    #[pg_test]
    fn schema_and_settings_exist() {
        let owner = Spi::get_one::<String>(
            "SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'gn_flux'",
        )
        .unwrap()
        .unwrap();
        assert_eq!(owner, "gn_flux");
        let notices = Spi::get_one::<String>("SELECT current_setting('gn_flux.progress_notices')")
            .unwrap()
            .unwrap();
        assert_eq!(notices, "on");
        let postgis = Spi::get_one::<bool>("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis')")
            .unwrap()
            .unwrap();
        assert!(postgis);
    }

    #[pg_test]
    #[should_panic(expected = "is outside the valid range for parameter")]
    fn settings_are_validated() {
        Spi::run("SET gn_flux.http_timeout_ms = -5").unwrap();
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        // The test cluster preloads gn_flux and pg_cron, as the README's production setup does;
        // the plain CREATE EXTENSION path is covered by the end-to-end tests.
        vec![
            "shared_preload_libraries='gn_flux,pg_cron'",
            "cron.database_name='pgrx_tests'",
        ]
    }
}
