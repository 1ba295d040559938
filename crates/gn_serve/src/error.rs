//! The one error type of the served API: an HTTP status and a message saying what is wrong,
//! answered as GeoNature's JSON error body (`respond::error_body`).

use gn_protocol::page::default_description;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HTTP {status}: {message}")]
pub struct ServeError {
    pub status: u16,
    /// The `description` of the JSON error body.
    pub message: String,
    /// Methods for the `Allow` header of a 405.
    pub allow: Option<&'static str>,
}

impl ServeError {
    pub fn new(status: u16, message: impl Into<String>) -> ServeError {
        ServeError {
            status,
            message: message.into(),
            allow: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ServeError {
        ServeError::new(400, message)
    }

    /// 401 with Werkzeug's description (what GeoNature answers an anonymous caller).
    pub fn unauthorized() -> ServeError {
        ServeError::new(401, default_description(401))
    }

    pub fn forbidden(message: impl Into<String>) -> ServeError {
        ServeError::new(403, message)
    }

    /// 404 for a path no route matches (Werkzeug's description).
    pub fn not_found() -> ServeError {
        ServeError::new(404, default_description(404))
    }

    pub fn export_not_found(id: i32) -> ServeError {
        ServeError::new(404, format!("Export {id} not found"))
    }

    pub fn method_not_allowed(allow: &'static str) -> ServeError {
        ServeError {
            allow: Some(allow),
            ..ServeError::new(405, default_description(405))
        }
    }

    /// 500 with Werkzeug's description: the details go to the server log, not to the caller.
    pub fn internal() -> ServeError {
        ServeError::new(500, default_description(500))
    }
}
