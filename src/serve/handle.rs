//! One request, on the API worker's main thread: who calls, which role it reads as, the SQL, the
//! reply. Each request is one transaction (committed, or aborted on any error); the caller's
//! queries run as its role through `ffi::as_role`, so GRANTs and row-level security decide what
//! it sees. Bookkeeping (tokens, sessions, the access log) runs as the worker's own role.

use super::net::Job;
use super::reply::{now_http_date, SocketOut};
use super::Settings;
use crate::error::{GnFluxError, Kind};
use crate::ffi::{self, CaughtSqlError};
use gn_protocol::auth::INCORRECT_LOGIN;
use gn_protocol::filter_sql::GeometryTarget;
use gn_protocol::log::{CmpOp, LogEntry, LogPage};
use gn_protocol::page::{License, PageCounts};
use gn_serve::auth::{is_well_formed, new_token, Credentials};
use gn_serve::http::{start_stream, write_response, write_sized_head, Conn, ResponseHead};
use gn_serve::params::{export_list_params, export_params, log_params, login_request};
use gn_serve::plan::{plan_export_page, CursorCache, ExportMeta, ExportPlan, Strategy};
use gn_serve::respond::{
    error_body, error_head, export_list_reply, log_reply, login_cookie, login_reply, modules_reply, ExportListEntry,
    LoginUser, PageStream, JSON,
};
use gn_serve::{FileFormat, Request, Route, ServeError};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// Rows fetched from the page cursor at a time.
const BATCH: i64 = 1000;
/// Count cache entries kept at most.
const COUNT_CACHE: usize = 4096;
/// Failed logins of one role within [`LOGIN_WINDOW`] before it is refused for the window.
const LOGIN_FAILURES: u32 = 5;
const LOGIN_WINDOW: Duration = Duration::from_secs(60);

/// One access log row, flushed with the others by the worker.
#[derive(Debug, Clone, Default)]
pub struct LogRow {
    pub at: String,
    pub client: String,
    pub method: String,
    pub route: String,
    pub path: String,
    pub export_id: Option<i32>,
    pub role_name: Option<String>,
    pub token_id: Option<i32>,
    pub status: u16,
    pub rows: Option<i64>,
    pub bytes: i64,
    pub duration_ms: f64,
    pub error: Option<String>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    pub requests: i64,
    pub errors: i64,
    pub bytes: i64,
}

/// What a worker keeps between requests.
pub struct State {
    pub settings: Settings,
    /// `(role, count key)` → (count, when).
    counts: HashMap<String, (u64, Instant)>,
    cursors: CursorCache,
    failures: HashMap<String, (u32, Instant)>,
    pub log: Vec<LogRow>,
    pub counters: Counters,
    pub last_request_at: Option<String>,
    scratch: std::path::PathBuf,
    /// `(role, export)` → (extent, when): the collections' extents, costly on big views.
    pub(super) extents: HashMap<String, (super::ogc::Extent, Instant)>,
}

impl State {
    pub fn new(settings: Settings, scratch: std::path::PathBuf) -> State {
        State {
            settings,
            counts: HashMap::new(),
            cursors: CursorCache::new(1024),
            failures: HashMap::new(),
            log: Vec::new(),
            counters: Counters::default(),
            last_request_at: None,
            scratch,
            extents: HashMap::new(),
        }
    }
}

/// The caller, once its credentials are checked.
#[derive(Debug, Clone)]
pub(super) enum Caller {
    Anonymous,
    Role {
        name: String,
        oid: pg_sys::Oid,
        /// An export token: its id and the one export it reads.
        token: Option<(i32, i32)>,
    },
}

impl Caller {
    fn role_name(&self) -> Option<String> {
        match self {
            Caller::Anonymous => None,
            Caller::Role { name, .. } => Some(name.clone()),
        }
    }

    fn token_id(&self) -> Option<i32> {
        match self {
            Caller::Role {
                token: Some((id, _)), ..
            } => Some(*id),
            _ => None,
        }
    }
}

/// What a handler reports for the access log.
#[derive(Default)]
pub(super) struct Outcome {
    pub export_id: Option<i32>,
    pub role_name: Option<String>,
    pub token_id: Option<i32>,
    pub rows: Option<i64>,
    /// The reply was started (head sent): an error can no longer be answered, only cut.
    pub started: bool,
    pub status: u16,
    /// How an error is answered.
    pub errors: ErrorStyle,
}

/// The body of an error reply: GeoNature's JSON, OGC's exception JSON, or an HTML page.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
pub(super) enum ErrorStyle {
    #[default]
    GeoNature,
    Ogc,
    Html,
}

/// A whole (non-streamed) reply.
pub(super) struct Whole {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Whole {
    pub fn with(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Whole {
        Whole {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn json(body: impl Into<Vec<u8>>) -> Whole {
        Whole {
            status: 200,
            content_type: JSON,
            headers: Vec::new(),
            body: body.into(),
        }
    }
}

pub fn handle(job: Job, st: &mut State) {
    let started = Instant::now();
    let at = chrono::Utc::now().to_rfc3339();
    let req = job.request;
    let conn = Conn::for_request(&req);
    let mut out = SocketOut::new(job.stream, st.settings.send_timeout);
    let mut outcome = Outcome::default();
    let route = st.settings.router.route(&req.method, &req.path);
    let route_name = route.as_ref().map(|r| r.name()).unwrap_or("unknown").to_string();
    if req.path.starts_with(&format!("{}/ogc", st.settings.router.root())) {
        outcome.errors = ErrorStyle::Ogc;
    }
    let result = match route {
        Ok(route) => dispatch(route, &req, &conn, &mut out, st, &mut outcome),
        Err(e) => Err(e),
    };
    let (status, error, complete) = match result {
        Ok(()) => (outcome.status, None, true),
        Err(err) if outcome.started => (outcome.status, Some(err.message), false),
        Err(err) => {
            let (head, body) = match outcome.errors {
                ErrorStyle::GeoNature => (error_head(&err), error_body(&err, &request_id())),
                ErrorStyle::Ogc => super::ogc::error_reply(&err, st, &req),
                ErrorStyle::Html => super::pages::error_reply(&err, st, &req),
            };
            let _ = write_response(&mut out, &head, body.as_bytes(), &conn, &now_http_date());
            (err.status, (err.status >= 500).then_some(err.message), true)
        }
    };
    let keep = complete && conn.keep_alive && !out.broken;
    let _ = job.done.send(keep);
    st.counters.requests += 1;
    st.counters.bytes += out.bytes as i64;
    if status >= 400 || !complete {
        st.counters.errors += 1;
    }
    st.last_request_at = Some(at.clone());
    st.log.push(LogRow {
        at,
        client: job.peer.ip().to_string(),
        method: req.method.as_str().to_string(),
        route: route_name,
        path: req.path.chars().take(1000).collect(),
        export_id: outcome.export_id,
        role_name: outcome.role_name,
        token_id: outcome.token_id,
        status,
        rows: outcome.rows,
        bytes: out.bytes as i64,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        error: error.map(|e| e.chars().take(2000).collect()),
    });
}

pub(super) fn request_id() -> String {
    let (shown, _) = new_token().unwrap_or_default();
    shown.chars().take(16).collect()
}

/// A PostgreSQL error caught in a request: 503 for a statement timeout or cancel, 403 for a
/// missing privilege (with the message: it names the object), 500 otherwise (logged, the
/// message is not shown: it may quote data of another role).
pub(super) fn sql_failure(e: CaughtSqlError) -> ServeError {
    match e.code.as_str() {
        "57014" => ServeError::new(503, "the query took longer than gn_flux.api_statement_timeout"),
        "42501" => ServeError::forbidden(e.message),
        // Data exceptions come from parameter values (a bad date, number or WKT): the caller's.
        c if c.starts_with("22") => ServeError::bad_request(format!("invalid parameter value: {}", e.message)),
        "XX000" if e.message.contains("invalid geometry") => {
            ServeError::bad_request(format!("invalid geometry parameter: {}", e.message))
        }
        _ => {
            pgrx::warning!(
                "gn_flux api: {} ({}){}{}",
                e.message,
                e.sqlstate,
                e.detail.map(|d| format!(" DETAIL: {d}")).unwrap_or_default(),
                e.hint.map(|h| format!(" HINT: {h}")).unwrap_or_default()
            );
            ServeError::internal()
        }
    }
}

pub(super) fn gn_failure(e: GnFluxError) -> ServeError {
    match e.kind {
        Kind::InsufficientPrivilege => ServeError::forbidden(format!("{} ({})", e.message, e.hint)),
        Kind::InvalidArgument => ServeError::bad_request(e.message),
        _ => {
            pgrx::warning!("gn_flux api: {}", e.message);
            ServeError::internal()
        }
    }
}

pub(super) fn spi_failure(e: pgrx::spi::SpiError) -> ServeError {
    gn_failure(GnFluxError::from(e))
}

/// Runs `f` in a transaction; a PostgreSQL error becomes a [`ServeError`].
pub(super) fn transaction<T>(f: impl FnOnce() -> Result<T, ServeError>) -> Result<T, ServeError> {
    match ffi::in_transaction(f) {
        Ok(r) => r,
        Err(e) => Err(sql_failure(e)),
    }
}

fn dispatch(
    route: Route,
    req: &Request,
    conn: &Conn,
    out: &mut SocketOut,
    st: &mut State,
    outcome: &mut Outcome,
) -> Result<(), ServeError> {
    outcome.export_id = route.export_id();
    // (the network threads accept bodies up to gn_flux.api_max_post_size for the intakes;
    // every other route takes small ones)
    if !matches!(route, Route::Intake { .. }) && req.body.len() > gn_serve::intake::SMALL_BODY {
        return Err(ServeError::new(
            413,
            format!(
                "request bodies above {} bytes are for intakes only",
                gn_serve::intake::SMALL_BODY
            ),
        ));
    }
    let whole = match route {
        Route::Ogc(r) => {
            outcome.errors = ErrorStyle::Ogc;
            return super::ogc::dispatch(r, req, conn, out, st, outcome);
        }
        Route::Page(p) => {
            outcome.errors = ErrorStyle::Html;
            super::pages::dispatch(p, req, st, outcome)?
        }
        Route::Login => transaction(|| login(req, st, outcome))?,
        Route::Intake { name } => transaction(|| super::intake::post(&name, req, outcome))?,
        Route::Modules => transaction(|| {
            let caller = authenticate(req, outcome)?;
            match caller {
                Caller::Anonymous => Err(ServeError::unauthorized()),
                Caller::Role { .. } => Ok(Whole::json(modules_reply(1))),
            }
        })?,
        Route::ExportList => transaction(|| export_list(req, outcome))?,
        Route::SyntheseLog => transaction(|| synthese_log(req, st, outcome))?,
        Route::ExportApi { id } => return transaction(|| export_page(id, req, conn, out, st, outcome)),
        Route::ExportFile { id, format } => {
            return transaction(|| export_file(id, format, conn, out, st, outcome, req))
        }
    };
    send_whole(whole, conn, out, outcome)
}

pub(super) fn send_whole(
    whole: Whole,
    conn: &Conn,
    out: &mut SocketOut,
    outcome: &mut Outcome,
) -> Result<(), ServeError> {
    outcome.status = whole.status;
    let mut head = ResponseHead::new(whole.status, whole.content_type);
    for (k, v) in whole.headers {
        head = head.header(&k, v);
    }
    write_response(out, &head, &whole.body, conn, &now_http_date())
        .map_err(|e| ServeError::new(499, format!("client gone: {e}")))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Who calls
// ---------------------------------------------------------------------------------------------

pub(super) fn role_by_name(name: &str) -> Result<Option<(pg_sys::Oid, bool, bool)>, ServeError> {
    Spi::connect(|c| {
        let mut rows = c.select(
            "SELECT oid, rolcanlogin, rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1",
            Some(1),
            &[name.into()],
        )?;
        Ok(match rows.next() {
            Some(r) => Some((
                r.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::InvalidOid),
                r.get::<bool>(2)?.unwrap_or(false),
                r.get::<bool>(3)?.unwrap_or(false),
            )),
            None => None,
        })
    })
    .map_err(spi_failure)
}

/// An export token by its hash: (id, export, role, active?).
fn token_by_hash(hash: &str) -> Result<Option<(i32, i32, String, bool)>, ServeError> {
    Spi::connect(|c| {
        let mut rows = c.select(
            "SELECT id, export_id, role_name::pg_catalog.text,
                    revoked_at IS NULL AND expires_at OPERATOR(pg_catalog.>) pg_catalog.now()
               FROM gn_flux.api_token WHERE token_hash OPERATOR(pg_catalog.=) $1",
            Some(1),
            &[hash.into()],
        )?;
        Ok(match rows.next() {
            Some(r) => Some((
                r.get::<i32>(1)?.unwrap_or(0),
                r.get::<i32>(2)?.unwrap_or(0),
                r.get::<String>(3)?.unwrap_or_default(),
                r.get::<bool>(4)?.unwrap_or(false),
            )),
            None => None,
        })
    })
    .map_err(spi_failure)
}

fn session_role(hash: &str) -> Result<Option<String>, ServeError> {
    Spi::connect(|c| {
        let mut rows = c.select(
            "SELECT role_name::pg_catalog.text FROM gn_flux.api_session
              WHERE token_hash OPERATOR(pg_catalog.=) $1 AND expires_at OPERATOR(pg_catalog.>) pg_catalog.now()",
            Some(1),
            &[hash.into()],
        )?;
        Ok(match rows.next() {
            Some(r) => r.get::<String>(1)?,
            None => None,
        })
    })
    .map_err(spi_failure)
}

fn token_caller(id: i32, export: i32, role: &str, active: bool) -> Result<Caller, ServeError> {
    if !active {
        return Err(ServeError::forbidden("this API token has expired or was revoked"));
    }
    let Some((oid, _, superuser)) = role_by_name(role)? else {
        return Err(ServeError::forbidden("the role of this API token no longer exists"));
    };
    if superuser {
        // (create_api_token refuses superusers; a role made superuser later is refused here)
        return Err(ServeError::forbidden(
            "the role of this API token is a superuser: tokens may not act as one",
        ));
    }
    // (at most once a minute per token: the column says "recently", not every request)
    Spi::run_with_args(
        "UPDATE gn_flux.api_token SET last_used_at = pg_catalog.now()
          WHERE id OPERATOR(pg_catalog.=) $1
            AND (last_used_at IS NULL OR last_used_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 minute'))",
        &[id.into()],
    )
    .map_err(spi_failure)?;
    Ok(Caller::Role {
        name: role.to_string(),
        oid,
        token: Some((id, export)),
    })
}

/// GeoNature's order: an export token (`?token=`, `api-key`) decides first, and a wrong one is
/// refused even with a valid login; then a bearer token (a login token, or an export token) or
/// the login cookie; else anonymous.
pub(super) fn authenticate(req: &Request, outcome: &mut Outcome) -> Result<Caller, ServeError> {
    let creds = Credentials::from_request(req);
    let caller = if let Some(c) = creds.export_token() {
        let found = if is_well_formed(&c.secret) {
            token_by_hash(&c.hash())?
        } else {
            None
        };
        match found {
            Some((id, export, role, active)) => token_caller(id, export, &role, active)?,
            None => return Err(ServeError::forbidden("invalid API token")),
        }
    } else if let Some(c) = creds.login_token() {
        let hash = c.hash();
        match (is_well_formed(&c.secret), session_role(&hash)?) {
            (true, Some(name)) => match role_by_name(&name)? {
                Some((oid, true, _)) => Caller::Role { name, oid, token: None },
                _ => return Err(ServeError::unauthorized()),
            },
            (true, None) => match token_by_hash(&hash)? {
                Some((id, export, role, active)) => token_caller(id, export, &role, active)?,
                None => return Err(ServeError::unauthorized()),
            },
            (false, _) => return Err(ServeError::unauthorized()),
        }
    } else {
        Caller::Anonymous
    };
    outcome.role_name = caller.role_name();
    outcome.token_id = caller.token_id();
    Ok(caller)
}

/// A new login session.
pub(super) struct Session {
    pub oid: pg_sys::Oid,
    pub token: String,
    pub expires: chrono::DateTime<chrono::Utc>,
}

/// Checks a role's password and opens a session (the API login and the login page).
pub(super) fn open_session(login: &str, password: &str, st: &mut State) -> Result<Session, ServeError> {
    let now = Instant::now();
    st.failures.retain(|_, (_, t)| now.duration_since(*t) < LOGIN_WINDOW);
    if st.failures.get(login).is_some_and(|(n, _)| *n >= LOGIN_FAILURES) {
        return Err(ServeError::new(
            429,
            "too many failed logins for this role: wait a minute before trying again",
        ));
    }
    let refused = |st: &mut State| {
        let e = st.failures.entry(login.to_string()).or_insert((0, now));
        e.0 += 1;
        ServeError::new(401, INCORRECT_LOGIN)
    };
    let Some((oid, can_login, superuser)) = role_by_name(login)? else {
        return Err(refused(st));
    };
    if password.is_empty() || !can_login || !ffi::password_matches(login, password) {
        return Err(refused(st));
    }
    if superuser {
        return Err(ServeError::forbidden(
            "superusers may not log in through the API: log in as a role that holds only what it should read",
        ));
    }
    let (token, hash) = new_token().map_err(|_| ServeError::internal())?;
    let lifetime = st.settings.session_lifetime.as_secs() as i64;
    let expires = chrono::Utc::now() + chrono::Duration::seconds(lifetime);
    Spi::run_with_args(
        "DELETE FROM gn_flux.api_session WHERE expires_at OPERATOR(pg_catalog.<) pg_catalog.now()",
        &[],
    )
    .map_err(spi_failure)?;
    Spi::run_with_args(
        "INSERT INTO gn_flux.api_session (token_hash, role_name, expires_at) VALUES ($1, $2, CAST($3 AS pg_catalog.timestamptz))",
        &[hash.as_str().into(), login.into(), expires.to_rfc3339().as_str().into()],
    )
    .map_err(spi_failure)?;
    Ok(Session { oid, token, expires })
}

fn login(req: &Request, st: &mut State, outcome: &mut Outcome) -> Result<Whole, ServeError> {
    let body = login_request(&req.body)?;
    let session = open_session(&body.login, &body.password, st)?;
    outcome.role_name = Some(body.login.clone());
    let user = LoginUser {
        id_role: u32::from(session.oid) as i64,
        identifiant: body.login.clone(),
    };
    let mut whole = Whole::json(login_reply(&user, &session.token, &session.expires));
    whole.headers.push((
        "Set-Cookie".into(),
        login_cookie(&session.token, &session.expires, false),
    ));
    Ok(whole)
}

// ---------------------------------------------------------------------------------------------
// Exports
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
pub(super) struct ExportRow {
    pub id: i32,
    pub label: String,
    pub schema: String,
    pub view: String,
    pub pk: String,
    pub geometry_field: Option<String>,
    pub public: bool,
    pub licence: License,
    pub description: Option<String>,
}

/// Registered exports: one by id, or all (by label).
pub(super) fn export_rows(id: Option<i32>) -> Result<Vec<ExportRow>, ServeError> {
    Spi::connect(|c| {
        let rows = c.select(
            "SELECT e.id, e.label, e.schema_name, e.view_name, e.view_pk_column, e.geometry_field, e.public,
                    l.name_licence::pg_catalog.text, l.url_licence::pg_catalog.text, e.description
               FROM gn_flux.export e JOIN gn_flux.licence l ON l.id_licence OPERATOR(pg_catalog.=) e.licence
              WHERE $1::pg_catalog.int4 IS NULL OR e.id OPERATOR(pg_catalog.=) $1
              ORDER BY e.label COLLATE \"C\"",
            None,
            &[id.into()],
        )?;
        let mut out = Vec::new();
        for r in rows {
            out.push(ExportRow {
                id: r.get(1)?.unwrap_or_default(),
                label: r.get(2)?.unwrap_or_default(),
                schema: r.get(3)?.unwrap_or_default(),
                view: r.get(4)?.unwrap_or_default(),
                pk: r.get(5)?.unwrap_or_default(),
                geometry_field: r.get(6)?,
                public: r.get(7)?.unwrap_or(false),
                licence: License {
                    name: r.get(8)?.unwrap_or_default(),
                    href: r.get(9)?.unwrap_or_default(),
                },
                description: r.get(10)?,
            });
        }
        Ok::<_, pgrx::spi::SpiError>(out)
    })
    .map_err(spi_failure)
}

pub(super) fn export_row(id: i32) -> Result<ExportRow, ServeError> {
    export_rows(Some(id))?
        .pop()
        .ok_or_else(|| ServeError::export_not_found(id))
}

pub(super) fn can_read(role: pg_sys::Oid, export: &ExportRow) -> Result<bool, ServeError> {
    Spi::get_one_with_args::<bool>(
        "SELECT COALESCE(pg_catalog.has_table_privilege($1,
                    pg_catalog.to_regclass(pg_catalog.format('%I.%I', $2::pg_catalog.text, $3::pg_catalog.text))::pg_catalog.oid,
                    'SELECT'), false)",
        &[role.into(), export.schema.as_str().into(), export.view.as_str().into()],
    )
    .map(|v| v.unwrap_or(false))
    .map_err(spi_failure)
}

pub(super) fn public_role(st: &State) -> Result<Option<(String, pg_sys::Oid)>, ServeError> {
    match &st.settings.public_role {
        Some(name) => Ok(role_by_name(name)?.map(|(oid, _, _)| (name.clone(), oid))),
        None => Ok(None),
    }
}

/// The role a caller reads `export` as: its token's or its own role, or the public role for a
/// public export. 401 for an anonymous caller on a private export, 403 otherwise.
pub(super) fn reader_for(caller: &Caller, export: &ExportRow, st: &State) -> Result<pg_sys::Oid, ServeError> {
    let public = || -> Result<Option<pg_sys::Oid>, ServeError> {
        if !export.public {
            return Ok(None);
        }
        Ok(public_role(st)?.map(|(_, oid)| oid))
    };
    match caller {
        Caller::Role {
            token: Some((_, token_export)),
            oid,
            ..
        } => {
            if *token_export != export.id {
                return Err(ServeError::forbidden("this API token is for another export"));
            }
            Ok(*oid)
        }
        Caller::Role { oid, name, .. } => {
            if can_read(*oid, export)? {
                return Ok(*oid);
            }
            public()?.ok_or_else(|| ServeError::forbidden(format!("role {name} may not read export {}", export.id)))
        }
        Caller::Anonymous => public()?.ok_or_else(ServeError::unauthorized),
    }
}

fn export_list(req: &Request, outcome: &mut Outcome) -> Result<Whole, ServeError> {
    let caller = authenticate(req, outcome)?;
    let Caller::Role { oid, token, .. } = caller else {
        return Err(ServeError::unauthorized());
    };
    let only = token.map(|(_, e)| e);
    let entries = Spi::connect(|c| {
        let rows = c.select(
            "SELECT e.id, e.label, e.schema_name, e.view_name, e.view_pk_column, e.description, e.geometry_field,
                    e.geometry_srid, e.public, e.licence, l.name_licence::pg_catalog.text, l.url_licence::pg_catalog.text
               FROM gn_flux.export e JOIN gn_flux.licence l ON l.id_licence OPERATOR(pg_catalog.=) e.licence
              WHERE ($2::pg_catalog.int4 IS NULL OR e.id OPERATOR(pg_catalog.=) $2)
                AND (e.public OR COALESCE(pg_catalog.has_table_privilege($1,
                        pg_catalog.to_regclass(pg_catalog.format('%I.%I', e.schema_name, e.view_name))::pg_catalog.oid,
                        'SELECT'), false))",
            None,
            &[oid.into(), only.into()],
        )?;
        let mut out = Vec::new();
        for r in rows {
            out.push(ExportListEntry {
                id: r.get(1)?.unwrap_or_default(),
                label: r.get(2)?.unwrap_or_default(),
                schema_name: r.get(3)?.unwrap_or_default(),
                view_name: r.get(4)?.unwrap_or_default(),
                view_pk_column: r.get(5)?.unwrap_or_default(),
                desc: r.get(6)?,
                geometry_field: r.get(7)?,
                geometry_srid: r.get(8)?,
                public: r.get(9)?.unwrap_or(false),
                id_licence: r.get(10)?.unwrap_or_default(),
                licence: License {
                    name: r.get(11)?.unwrap_or_default(),
                    href: r.get(12)?.unwrap_or_default(),
                },
            });
        }
        Ok::<_, pgrx::spi::SpiError>(out)
    })
    .map_err(spi_failure)?;
    Ok(Whole::json(export_list_reply(entries, &export_list_params(&req.query))))
}

/// The export's metadata as the reading role sees it (the relation must be readable by it).
pub(super) fn export_meta(export: &ExportRow) -> Result<ExportMeta, ServeError> {
    let rel = crate::export::relation::resolve(Some(&export.schema), Some(&export.view)).map_err(|e| match e.kind {
        Kind::InsufficientPrivilege => {
            ServeError::forbidden(format!("the caller's role may not read export {}", export.id))
        }
        _ => gn_failure(e),
    })?;
    let geometry = match &export.geometry_field {
        Some(g) => {
            let col = rel
                .column(g)
                .ok_or_else(|| gn_failure(GnFluxError::internal(format!("geometry_field {g} is not a column"))))?;
            Some(GeometryTarget {
                column: g.clone(),
                srid: rel.geometry_srid(col).map_err(gn_failure)?,
                postgis: rel.postgis().map_err(gn_failure)?.to_string(),
            })
        }
        None => None,
    };
    Ok(ExportMeta {
        id: export.id,
        schema: export.schema.clone(),
        view: export.view.clone(),
        pk_column: export.pk.clone(),
        columns: rel.column_infos(),
        geometry,
        public: export.public,
    })
}

pub(super) fn args(params: &[String]) -> Vec<pgrx::datum::DatumWithOid<'_>> {
    params.iter().map(|p| p.as_str().into()).collect()
}

pub(super) fn run_count(sql: &str, params: &[String], timeout_ms: i32) -> Result<u64, ServeError> {
    ffi::arm_statement_timeout(timeout_ms);
    let n = Spi::get_one_with_args::<i64>(sql, &args(params)).map_err(spi_failure)?;
    ffi::disarm_statement_timeout();
    Ok(n.unwrap_or(0).max(0) as u64)
}

/// A count, reused from the cache when fresh and `reuse` allows it.
pub(super) fn cached_count(
    st: &mut State,
    key: String,
    sql: &str,
    params: &[String],
    reuse: bool,
) -> Result<u64, ServeError> {
    let ttl = st.settings.count_ttl;
    if reuse {
        if let Some((n, at)) = st.counts.get(&key) {
            if at.elapsed() < ttl {
                return Ok(*n);
            }
        }
    }
    let n = run_count(sql, params, st.settings.statement_timeout_ms)?;
    if st.counts.len() >= COUNT_CACHE {
        st.counts.retain(|_, (_, at)| at.elapsed() < ttl);
        if st.counts.len() >= COUNT_CACHE {
            st.counts.clear();
        }
    }
    st.counts.insert(key, (n, Instant::now()));
    Ok(n)
}

fn export_page(
    id: i32,
    req: &Request,
    conn: &Conn,
    out: &mut SocketOut,
    st: &mut State,
    outcome: &mut Outcome,
) -> Result<(), ServeError> {
    let caller = authenticate(req, outcome)?;
    let export = export_row(id)?;
    let reader = reader_for(&caller, &export, st)?;
    let params = export_params(&req.query, &st.settings.api)?;
    ffi::as_role(reader, || -> Result<(), ServeError> {
        let meta = export_meta(&export)?;
        let role_key = u32::from(reader).to_string();
        let mut plan = plan_export_page(&meta, &params, None)?;
        if let Some(walk) = &plan.walk_key {
            let key = format!("{role_key}:{walk}");
            if let Some(last) = st.cursors.resume_point(&key, params.page).map(str::to_string) {
                plan = plan_export_page(&meta, &params, Some(&last))?;
            }
        }
        // The first page of a walk counts afresh; later pages (and keyset pages) reuse a fresh count.
        let reuse = params.page > 0 || plan.strategy == Strategy::Keyset;
        let count = cached_count(
            st,
            format!("{role_key}:{}", plan.count_key),
            &plan.count.sql,
            &plan.count.params,
            reuse,
        )?;
        let total = if plan.count.params.is_empty() && plan.count.sql == plan.total.sql {
            count
        } else {
            cached_count(st, format!("{role_key}:total:{}", meta.id), &plan.total.sql, &[], reuse)?
        };
        stream_page(&plan, &meta, &export, conn, out, st, outcome, total, count, &role_key)
    })
}

#[allow(clippy::too_many_arguments)]
fn stream_page(
    plan: &ExportPlan,
    meta: &ExportMeta,
    export: &ExportRow,
    conn: &Conn,
    out: &mut SocketOut,
    st: &mut State,
    outcome: &mut Outcome,
    total: u64,
    count: u64,
    role_key: &str,
) -> Result<(), ServeError> {
    let cursor = PageCursor::open(&plan.page.sql, &plan.page.params, st.settings.statement_timeout_ms)?;
    // The first batch before the head: most errors come at open or first fetch, and are then
    // still answered with their status.
    let mut batch = cursor.fetch()?;
    let feature_collection = meta.geometry.is_some();
    let head = ResponseHead::json(200);
    let mut body = start_stream(&mut *out, &head, conn, &now_http_date()).map_err(client_gone)?;
    outcome.started = true;
    outcome.status = 200;
    let mut page = PageStream::begin(&mut body, feature_collection).map_err(client_gone)?;
    let mut fetched: u64 = 0;
    let mut written: u64 = 0;
    let mut last_pk: Option<String> = None;
    let limit = plan.page_rows;
    let mut values = Vec::with_capacity(plan.output.len());
    'stream: while !batch.is_empty() {
        for row in batch.drain(..) {
            fetched += 1;
            if limit.is_some_and(|l| fetched > l) {
                // the lookahead row: more rows follow
                continue;
            }
            if let Some(i) = plan.pk_output {
                last_pk = row.get(i).cloned().flatten();
            }
            values.clear();
            values.extend(plan.output.iter().zip(row).map(|(c, v)| c.wire_value(v)));
            if page.write_row(&mut body, &plan.output, &values).map_err(client_gone)? {
                written += 1;
            }
        }
        if limit.is_some_and(|l| fetched > l) {
            break 'stream;
        }
        batch = cursor.fetch()?;
    }
    outcome.rows = Some(written as i64);
    let counts = PageCounts {
        limit: plan.limit_echo,
        page: plan.page_echo,
        total,
        total_filtered: plan.total_filtered(fetched, count),
    };
    page.finish(&mut body, &export.licence, &counts).map_err(client_gone)?;
    body.finish().map_err(client_gone)?;
    if let (Some(walk), Some(last)) = (&plan.walk_key, last_pk) {
        if limit.is_some_and(|l| fetched >= l) {
            st.cursors.remember(&format!("{role_key}:{walk}"), plan.page_echo, last);
        }
    }
    Ok(())
}

/// Rows of a query read from a cursor, [`BATCH`] at a time, each fetch under
/// `statement_timeout`; every value as text.
pub(super) struct PageCursor {
    name: String,
    timeout_ms: i32,
}

impl PageCursor {
    pub fn open(sql: &str, params: &[String], timeout_ms: i32) -> Result<PageCursor, ServeError> {
        ffi::arm_statement_timeout(timeout_ms);
        let name = Spi::connect(|c| {
            let cur = c.try_open_cursor(sql, &args(params))?;
            Ok::<_, pgrx::spi::SpiError>(cur.detach_into_name())
        })
        .map_err(spi_failure)?;
        Ok(PageCursor { name, timeout_ms })
    }

    pub fn fetch(&self) -> Result<Vec<Vec<Option<String>>>, ServeError> {
        ffi::arm_statement_timeout(self.timeout_ms);
        let rows = Spi::connect(|c| {
            let mut cur = c.find_cursor(&self.name)?;
            let table = cur.fetch(BATCH)?;
            let width = table.columns()?;
            let mut rows = Vec::with_capacity(table.len());
            for r in table {
                let mut row = Vec::with_capacity(width);
                for i in 1..=width {
                    row.push(r.get::<String>(i)?);
                }
                rows.push(row);
            }
            cur.detach_into_name();
            Ok::<_, pgrx::spi::SpiError>(rows)
        })
        .map_err(spi_failure)?;
        ffi::disarm_statement_timeout();
        Ok(rows)
    }
}

pub(super) fn client_gone(e: std::io::Error) -> ServeError {
    ServeError::new(499, format!("the reply could not be sent: {e}"))
}

#[allow(clippy::too_many_arguments)]
fn export_file(
    id: i32,
    format: FileFormat,
    conn: &Conn,
    out: &mut SocketOut,
    st: &mut State,
    outcome: &mut Outcome,
    req: &Request,
) -> Result<(), ServeError> {
    let caller = authenticate(req, outcome)?;
    let export = export_row(id)?;
    let reader = reader_for(&caller, &export, st)?;
    if format.needs_geometry() && export.geometry_field.is_none() {
        return Err(ServeError::bad_request(format!(
            "export {id} has no geometry_field: {} needs one (use csv, json or xlsx)",
            format.as_str()
        )));
    }
    let stem = crate::export::export_file_stem(&export.label);
    let path = st
        .scratch
        .join(format!("{}.{}", std::process::id(), format.extension()));
    let _ = std::fs::remove_file(&path);
    let removed = RemoveOnDrop(path.clone());
    let timeout = st.settings.statement_timeout_ms;
    let rows = ffi::as_role(reader, || {
        ffi::arm_statement_timeout(timeout);
        let rows = crate::export::write_for_api(&export.label, format.as_str(), &path).map_err(gn_failure);
        ffi::disarm_statement_timeout();
        rows
    })?;
    let mut file = std::fs::File::open(&path).map_err(|_| ServeError::internal())?;
    let size = file.metadata().map_err(|_| ServeError::internal())?.len();
    outcome.rows = Some(rows as i64);
    let head = ResponseHead::new(200, format.content_type()).header(
        "Content-Disposition",
        format!("attachment; filename=\"{stem}.{}\"", format.extension()),
    );
    outcome.started = true;
    outcome.status = 200;
    // The head with the file's length, then the file in pieces (never whole in memory).
    write_sized_head(&mut *out, &head, size, conn, &now_http_date()).map_err(client_gone)?;
    if !conn.head_only {
        std::io::copy(&mut file, &mut *out).map_err(client_gone)?;
    }
    out.flush().map_err(client_gone)?;
    drop(removed);
    Ok(())
}

struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// The deletion log
// ---------------------------------------------------------------------------------------------

fn synthese_log(req: &Request, st: &State, outcome: &mut Outcome) -> Result<Whole, ServeError> {
    let caller = authenticate(req, outcome)?;
    let q = log_params(&req.query, &st.settings.api)?;
    let (reader, anonymous) = match &caller {
        Caller::Role { oid, .. } => (*oid, false),
        Caller::Anonymous => match public_role(st)? {
            Some((_, oid)) => (oid, true),
            None => return Err(ServeError::unauthorized()),
        },
    };
    if q.last_action.as_deref().is_some_and(|a| a != "D") {
        // Only deletions are logged here: inserts and updates show in the export itself.
        return Ok(Whole::json(log_reply(&LogPage {
            items: Vec::new(),
            total: 0,
            limit: q.limit,
            page: q.page,
        })));
    }
    let mut conditions = vec![
        "d.relation OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT gn_flux._deletions_visible_to(CAST($1 AS pg_catalog.oid), CAST($2 AS boolean))))".to_string(),
    ];
    let mut params: Vec<String> = vec![u32::from(reader).to_string(), anonymous.to_string()];
    for c in &q.dates {
        let op = match c.op {
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
            CmpOp::Eq => "=",
        };
        params.push(c.at.format("%Y-%m-%d %H:%M:%S%.6f").to_string());
        conditions.push(format!(
            "CAST(d.deleted_at AS pg_catalog.timestamp) OPERATOR(pg_catalog.{op}) CAST(${} AS pg_catalog.timestamp)",
            params.len()
        ));
    }
    if let Some(id) = q.id_synthese {
        params.push(id.to_string());
        conditions.push(format!(
            "d.deleted_id OPERATOR(pg_catalog.=) CAST(${} AS bigint)",
            params.len()
        ));
    }
    let filter = conditions.join(" AND ");
    let timeout = st.settings.statement_timeout_ms;
    let total = run_count(
        &format!("SELECT count(*) FROM gn_flux.deletion_log d WHERE {filter}"),
        &params,
        timeout,
    )?;
    let order = if q.descending { "DESC" } else { "ASC" };
    let offset = (q.page - 1) * q.limit;
    let sql = format!(
        "SELECT d.deleted_id, CAST(CAST(d.deleted_at AS pg_catalog.timestamp) AS pg_catalog.text)
           FROM gn_flux.deletion_log d WHERE {filter}
          ORDER BY d.deleted_at {order}, d.id {order} LIMIT {} OFFSET {offset}",
        q.limit
    );
    ffi::arm_statement_timeout(timeout);
    let items = Spi::connect(|c| {
        let mut items = Vec::new();
        for r in c.select(&sql, None, &args(&params))? {
            let id: i64 = r.get(1)?.unwrap_or_default();
            let at: String = r.get(2)?.unwrap_or_default();
            if let Some(at) = gn_protocol::time::parse_timestamp(&at) {
                items.push(LogEntry {
                    id_synthese: id,
                    last_action: "D".into(),
                    meta_last_action_date: at,
                });
            }
        }
        Ok::<_, pgrx::spi::SpiError>(items)
    })
    .map_err(spi_failure)?;
    ffi::disarm_statement_timeout();
    outcome.rows = Some(items.len() as i64);
    Ok(Whole::json(log_reply(&LogPage {
        items,
        total,
        limit: q.limit,
        page: q.page,
    })))
}
