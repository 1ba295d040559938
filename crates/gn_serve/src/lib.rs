//! The pure core of gn_flux's served GeoNature export API ("Serve I").
//!
//! Everything here runs without PostgreSQL so `cargo test` covers it: HTTP/1.1 request parsing
//! with hard limits and the response writer ([`http`]), credentials and API tokens ([`auth`]),
//! the GeoNature-compatible router ([`routes`]), parameter validation ([`params`]), GeoNature's
//! response shapes ([`respond`]) and the SQL of a page ([`plan`]). The wire model (a page, a
//! filter, a log entry, the JSON rules) is `gn_protocol`'s, shared with the client and the
//! GeoNature stand-in. The extension's serve module runs the SQL, checks roles and streams rows.
//!
//! Dependency direction: [`error`] is the leaf every module imports; `http` knows nothing of
//! GeoNature; `routes`, `params`, `auth` read a parsed [`http::Request`]; `plan` reads `params`;
//! `respond` writes what the others produce.

pub mod auth;
pub mod error;
pub mod features;
pub mod html;
pub mod http;
pub mod intake;
pub mod ogc;
pub mod openapi;
pub mod params;
pub mod plan;
pub mod respond;
pub mod routes;
pub mod site;

pub use error::ServeError;
pub use http::{Method, Request};
pub use routes::{FileFormat, Route, Router};
