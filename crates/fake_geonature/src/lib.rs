//! A faithful GeoNature 2.x stand-in for gn_flux's tests, demo and benchmarks.
//!
//! It serves login (`/api/auth/login`), module discovery (`/api/gn_commons/modules`), the Export
//! module's data API (`/api/exports/api/<id>`) and the change log (`/api/synthese/log`), quirks
//! included (page-index `offset`, capped `limit`, `limit=0`, `total_filtered` counted after the
//! OFFSET, silently ignored filters, first value wins). Rows are generated from a seed, so a
//! million-row source starts at once. `/_control/*` endpoints (and the same calls in Rust) change
//! the data at the server's clock and inject faults.
//!
//! ```no_run
//! let gn = fake_geonature::FakeGeoNature::start(fake_geonature::Config { rows: 1000, ..Default::default() }).unwrap();
//! println!("GeoNature root: {}", gn.url());
//! ```

pub mod app;
pub mod auth;
pub mod data;
pub mod faults;
pub mod http;
pub mod mutation;
pub mod store;

pub use app::{default_exports, ExportDef, MutationRequest, MutationResult, ShapeName};
pub use faults::{FaultAction, FaultRule, Faults};

use app::{App, State};
use auth::{default_users, Auth, User};
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Config {
    /// Interface to listen on (always a loopback address in tests).
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    /// Rows of the synthetic Synthese (ids 1..=rows).
    pub rows: i64,
    pub seed: u64,
    /// Path of the GeoNature root, e.g. `/geonature` (API under `<prefix>/api/`).
    pub prefix: String,
    /// `module_path` of the EXPORTS module.
    pub exports_module_path: String,
    /// `max_page_size_api`.
    pub max_page_size: u64,
    pub users: Vec<User>,
    pub exports: Vec<ExportDef>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".into(),
            port: 0,
            rows: 1000,
            seed: 42,
            prefix: "/geonature".into(),
            exports_module_path: "exports".into(),
            max_page_size: gn_protocol::MAX_PAGE_SIZE,
            users: default_users(),
            exports: default_exports(),
        }
    }
}

/// A running stand-in. Stops when dropped.
pub struct FakeGeoNature {
    server: http::HttpServer,
    app: Arc<App>,
}

impl FakeGeoNature {
    pub fn start(cfg: Config) -> io::Result<FakeGeoNature> {
        let prefix = cfg.prefix.trim_end_matches('/').to_string();
        let state = State {
            store: store::Store::new(cfg.rows, cfg.seed),
            auth: Auth::new(cfg.users, cfg.seed),
            faults: Faults::default(),
            clock_offset_ms: 0,
            requests: VecDeque::new(),
            request_count: 0,
            last_export_reply: None,
        };
        let app = Arc::new(App::new(
            prefix,
            cfg.exports_module_path,
            cfg.max_page_size,
            cfg.exports,
            state,
        ));
        let handler_app = app.clone();
        let server = http::HttpServer::bind(&cfg.host, cfg.port, Arc::new(move |req| handler_app.handle(req)))?;
        Ok(FakeGeoNature { server, app })
    }

    pub fn port(&self) -> u16 {
        self.server.addr().port()
    }

    /// `http://host:port` (control endpoints live under `/_control/`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The GeoNature root a client is configured with, e.g. `http://127.0.0.1:PORT/geonature`.
    pub fn url(&self) -> String {
        format!("{}{}", self.base_url(), self.app.prefix)
    }

    pub fn mutate(&self, m: &MutationRequest) -> MutationResult {
        self.app.mutate(m)
    }

    pub fn set_faults(&self, f: Faults) {
        self.app.state.write().unwrap_or_else(|e| e.into_inner()).faults = f;
    }

    pub fn add_fault(&self, rule: FaultRule) {
        self.app
            .state
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .faults
            .rules
            .push(rule);
    }

    /// `METHOD path?query` of every request received (most recent last, bounded).
    pub fn requests(&self) -> Vec<String> {
        self.app
            .state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .requests
            .iter()
            .cloned()
            .collect()
    }

    pub fn clear_requests(&self) {
        self.app
            .state
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .requests
            .clear();
    }

    pub fn live_rows(&self) -> u64 {
        self.app
            .state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .store
            .live_count()
    }

    pub fn logins(&self) -> u64 {
        self.app.state.read().unwrap_or_else(|e| e.into_inner()).auth.logins
    }

    /// Shifts the server clock (for clock-skew tests).
    pub fn set_clock_offset(&self, seconds: f64) {
        self.app
            .state
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clock_offset_ms = (seconds * 1000.0) as i64;
    }

    pub fn now(&self) -> chrono::NaiveDateTime {
        self.app.now()
    }

    /// The export item of one row, exactly as the API serialises it; `None` if deleted.
    pub fn item_json(&self, export_id: i64, id_synthese: i64) -> Option<String> {
        self.app.item_json(export_id, id_synthese)
    }

    pub fn stop(mut self) {
        self.server.shutdown();
    }
}
