//! The GeoNature wire model, shared by both sides of the protocol.
//!
//! gn_flux pulls from GeoNature exports (client side) and its test stand-in answers like
//! GeoNature (server side). Both use this crate so that the two can never drift:
//! value serialisation (Flask's JSON provider quirks included), timestamps, the export filter
//! grammar, the export page and synthese log shapes, and the login/module discovery payloads.

pub mod auth;
pub mod filter_sql;
pub mod json;
pub mod log;
pub mod page;
pub mod query;
pub mod time;
pub mod value;

pub use query::{ExportQuery, Filter, FilterOp, OrderBy};
pub use value::WireValue;

/// Default page size of the export API (`default_page_size_api`).
pub const DEFAULT_PAGE_SIZE: u64 = 1000;
/// Largest page the export API serves (`max_page_size_api`); larger requests are capped.
pub const MAX_PAGE_SIZE: u64 = 1000;
/// Default page size of `/api/synthese/log`.
pub const LOG_DEFAULT_PAGE_SIZE: u64 = 50;
/// `module_code` of the Export module in `/api/gn_commons/modules`.
pub const EXPORTS_MODULE_CODE: &str = "EXPORTS";
