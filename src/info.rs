//! Build information.
use pgrx::prelude::*;

/// `gn_flux <version> (commit <sha>)`: the release and the git commit the library was built from.
#[pg_extern(stable, parallel_safe, name = "version")]
fn version() -> String {
    format!(
        "gn_flux {} (commit {})",
        env!("CARGO_PKG_VERSION"),
        env!("GN_FLUX_GIT_COMMIT")
    )
}

/// Whether this backend loaded gn_flux from shared_preload_libraries (internal, for tests).
#[pg_extern(stable, name = "_loaded_from_preload")]
fn loaded_from_preload() -> bool {
    crate::gucs::loaded_from_preload()
}

extension_sql!(
    r#"
COMMENT ON FUNCTION gn_flux.version() IS 'gn_flux release and the git commit it was built from';
COMMENT ON FUNCTION gn_flux._loaded_from_preload() IS 'internal: true when the library was loaded through shared_preload_libraries';
"#,
    name = "info_comments",
    requires = [version, loaded_from_preload]
);
