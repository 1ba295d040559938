//! End-to-end tests of gn_flux, over libpq against PostgreSQL 15 with gn_flux installed (see
//! tests/): pulls from the GeoNature stand-in (`tests/pull.rs`), several sessions at once
//! (`tests/sessions.rs`), exports read back by real readers (`tests/exports.rs`). They share one
//! harness, [`fixtures`]. tests/e2e/run.sh runs them with the connection strings set.
pub mod fixtures;

pub use fake_geonature::{Config, FakeGeoNature, FaultAction, FaultRule, Faults, MutationRequest};
pub use postgres::{Client, GenericClient, NoTls};
