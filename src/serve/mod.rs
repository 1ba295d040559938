//! The served API ("Serve I"): background workers answering GeoNature's export API from inside
//! PostgreSQL, so that gn2pg-client and other gn_flux nodes pull from this database.
//!
//! - [`net`]: the network threads (accept, read, parse; never PostgreSQL);
//! - [`worker`]: each worker's main thread (latch wait, settings, access log, status);
//! - [`handle`]: one request (who calls, as which role, the SQL, the reply);
//! - [`reply`]: writing on the connection from the main thread;
//! - [`ogc`]: OGC API – Features and the OpenAPI document ("Serve II");
//! - [`pages`]: the web pages (export catalogue, dashboard, login, documentation).
//!
//! HTTP parsing, routing, parameters, the SQL of a page and GeoNature's reply shapes are the
//! pure crate `gn_serve`'s; the SQL objects (tokens, sessions, access log, deletion log) are in
//! `sql/schema/060_api.sql`.

pub mod handle;
pub mod intake;
pub mod net;
pub mod ogc;
pub mod pages;
pub mod reply;
pub mod worker;

use crate::gucs;
use gn_serve::http::Limits;
use gn_serve::params::ApiSettings;
use gn_serve::Router;
use pgrx::bgworkers::BackgroundWorkerBuilder;
use pgrx::prelude::*;
use std::net::SocketAddr;
use std::time::Duration;

/// The settings a worker serves with (read on its main thread at start and on SIGHUP).
#[derive(Debug, Clone)]
pub struct Settings {
    pub router: Router,
    pub api: ApiSettings,
    pub public_role: Option<String>,
    pub public_url: Option<String>,
    pub dashboard_role: Option<String>,
    pub statement_timeout_ms: i32,
    pub send_timeout: Duration,
    pub count_ttl: Duration,
    pub session_lifetime: Duration,
    pub log_retention_days: i32,
    pub net: net::NetSettings,
}

fn ms(v: i32) -> Duration {
    Duration::from_millis(v.max(0) as u64)
}

impl Settings {
    pub fn read() -> Settings {
        let root = gucs::api_root();
        let router = Router::new(&root).unwrap_or_else(|e| {
            pgrx::warning!("gn_flux.api_root: {e}; serving under /geonature");
            Router::default()
        });
        let max_page = gucs::API_MAX_PAGE_SIZE.get().max(1) as u64;
        Settings {
            router,
            api: ApiSettings {
                default_limit: max_page.min(gn_protocol::DEFAULT_PAGE_SIZE),
                max_limit: max_page,
                allow_all_rows: gucs::API_ALLOW_ALL_ROWS.get(),
                ..ApiSettings::default()
            },
            public_role: gucs::api_public_role(),
            public_url: gucs::api_public_url(),
            dashboard_role: gucs::api_dashboard_role(),
            statement_timeout_ms: gucs::API_STATEMENT_TIMEOUT_MS.get(),
            send_timeout: ms(gucs::API_SEND_TIMEOUT_MS.get()),
            count_ttl: Duration::from_secs(gucs::API_COUNT_TTL_S.get().max(0) as u64),
            session_lifetime: Duration::from_secs(gucs::API_SESSION_LIFETIME_S.get().max(60) as u64),
            log_retention_days: gucs::API_LOG_RETENTION_DAYS.get(),
            net: net::NetSettings {
                limits: Limits {
                    max_body: (gucs::API_MAX_POST_SIZE_KB.get().max(64) as usize) * 1024,
                    ..Limits::default()
                },
                read_timeout: ms(gucs::API_READ_TIMEOUT_MS.get()),
                idle_timeout: ms(gucs::API_IDLE_TIMEOUT_MS.get()),
                max_connections: gucs::API_MAX_CONNECTIONS.get().max(1) as usize,
            },
        }
    }
}

/// `gn_flux.api_listen` as an address: `ip:port`, `[ipv6]:port` or `localhost:port`.
pub fn listen_address(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    let parsed = match t.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}").parse(),
        None => t.parse(),
    };
    parsed.map_err(|_| format!("gn_flux.api_listen = {text:?} is not an address such as 127.0.0.1:8791"))
}

/// Registers the API workers (from `_PG_init` while preloading) when `gn_flux.api_listen` is set.
pub fn register_workers() {
    let Some(listen) = gucs::api_listen() else { return };
    if let Err(e) = listen_address(&listen) {
        pgrx::log!("gn_flux: {e}: no API workers started");
        return;
    }
    if gucs::api_database().is_none() {
        pgrx::log!("gn_flux: gn_flux.api_listen is set but gn_flux.api_database is not: no API workers started");
        return;
    }
    for i in 0..gucs::API_WORKERS.get() {
        BackgroundWorkerBuilder::new(&format!("gn_flux api {i}"))
            .set_type("gn_flux api")
            .set_library("gn_flux")
            .set_function("gn_flux_api_worker_main")
            .set_extra(&i.to_string())
            .enable_spi_access()
            .set_restart_time(Some(Duration::from_secs(5)))
            .load();
    }
}

/// `gn_flux._api_token_secret()`: a new API token and the hash stored for it (the one home of
/// the token format is `gn_serve::auth`).
#[pg_extern(name = "_api_token_secret", volatile)]
pub fn api_token_secret(
) -> Result<TableIterator<'static, (name!(token, String), name!(hash, String))>, pgrx::pg_sys::panic::ErrorReport> {
    let (token, hash) = gn_serve::auth::new_token()
        .map_err(|e| crate::error::GnFluxError::internal(format!("no random bytes for a token: {e}")))?;
    Ok(TableIterator::once((token, hash)))
}

/// `gn_flux._api_token_hash(token)`: what `gn_flux.api_token.token_hash` holds for a token.
#[pg_extern(name = "_api_token_hash", immutable, strict, parallel_safe)]
pub fn api_token_hash(token: &str) -> String {
    gn_serve::auth::hash_token(token)
}

extension_sql!(
    r#"
COMMENT ON FUNCTION gn_flux._api_token_secret() IS 'internal: a new API token and its stored hash (create_api_token)';
COMMENT ON FUNCTION gn_flux._api_token_hash(text) IS 'internal: the stored hash of an API token';
"#,
    name = "api_token_comments",
    requires = [api_token_secret, api_token_hash]
);
