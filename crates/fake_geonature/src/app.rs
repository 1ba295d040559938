//! Routes: what a GeoNature 2.x instance answers, plus the `/_control` endpoints for tests.

use crate::auth::{Auth, User};
use crate::data::{columns, ColumnDef, Shape, AF_COUNT};
use crate::faults::{FaultAction, FaultRule, Faults};
use crate::http::{Request, Response};
pub use crate::mutation::{MutationRequest, MutationResult};
use crate::store::{PageRequest, Store};
use chrono::{NaiveDateTime, Utc};
use gn_protocol::auth::{LoginRequest, INCORRECT_LOGIN, REMEMBER_COOKIE, SESSION_COOKIE};
use gn_protocol::log::{LogPage, LogQuery};
use gn_protocol::page::{seeded_licences, ErrorBody, License, PageCounts, PageWriter};
use gn_protocol::query::OrderBy;
use gn_protocol::time::format_timestamp;
use gn_protocol::{json, ExportQuery};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// One export of `gn_exports.t_exports`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportDef {
    pub id: i64,
    pub label: String,
    pub shape: ShapeName,
    pub public: bool,
    /// When set, the API answers a GeoJSON FeatureCollection.
    pub geometry_field: Option<String>,
    /// Tokens of `cor_exports_roles` for this export.
    pub tokens: Vec<String>,
    pub id_licence: i32,
    /// Roles associated with the export (for users whose scope is 1 or 2).
    pub roles: Vec<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShapeName {
    SyntheseWithCdNomenclature,
    SyntheseWithMetadata,
    /// A GN2PG 1.10 separate metadata export: one item per acquisition framework, with its
    /// datasets nested in `datasets` (not a Synthese view).
    AcquisitionFrameworks,
}

impl ShapeName {
    /// The Synthese view shape; `None` for the metadata export.
    pub fn shape(self) -> Option<Shape> {
        match self {
            ShapeName::SyntheseWithCdNomenclature => Some(Shape::CdNomenclature),
            ShapeName::SyntheseWithMetadata => Some(Shape::Metadata),
            ShapeName::AcquisitionFrameworks => None,
        }
    }
}

/// The exports a default stand-in serves.
pub fn default_exports() -> Vec<ExportDef> {
    vec![
        ExportDef {
            id: 1,
            label: "Synthese GN2PG (cd_nomenclature)".into(),
            shape: ShapeName::SyntheseWithCdNomenclature,
            public: false,
            geometry_field: None,
            tokens: vec!["export1-token".into()],
            id_licence: 1,
            roles: vec![],
        },
        ExportDef {
            id: 2,
            label: "Synthese GN2PG (métadonnées)".into(),
            shape: ShapeName::SyntheseWithMetadata,
            public: false,
            geometry_field: None,
            tokens: vec!["export2-token".into()],
            id_licence: 2,
            roles: vec![],
        },
        ExportDef {
            id: 3,
            label: "Synthese SINP publique".into(),
            shape: ShapeName::SyntheseWithCdNomenclature,
            public: true,
            geometry_field: Some("geom".into()),
            tokens: vec![],
            id_licence: 3,
            roles: vec![],
        },
        ExportDef {
            id: 4,
            label: "Métadonnées GN2PG".into(),
            shape: ShapeName::AcquisitionFrameworks,
            public: false,
            geometry_field: None,
            tokens: vec!["export4-token".into()],
            id_licence: 1,
            roles: vec![],
        },
    ]
}

const REQUEST_LOG_CAP: usize = 200_000;

pub struct State {
    pub store: Store,
    pub auth: Auth,
    pub faults: Faults,
    pub clock_offset_ms: i64,
    pub requests: VecDeque<String>,
    pub request_count: u64,
    /// The body of the last 200 reply of the export API (for the `repeat` fault).
    pub last_export_reply: Option<Vec<u8>>,
}

pub struct App {
    pub prefix: String,
    pub exports_module_path: String,
    pub max_page_size: u64,
    pub exports: Vec<ExportDef>,
    pub state: Arc<RwLock<State>>,
    request_ids: AtomicU64,
}

fn read(state: &RwLock<State>) -> RwLockReadGuard<'_, State> {
    state.read().unwrap_or_else(|e| e.into_inner())
}

fn write(state: &RwLock<State>) -> RwLockWriteGuard<'_, State> {
    state.write().unwrap_or_else(|e| e.into_inner())
}

fn error(status: u16, description: &str, request_id: &str) -> Response {
    let rid = (status != 401).then_some(request_id);
    Response::json(status, ErrorBody::new(status, description).to_json(rid))
}

/// Werkzeug's `accept_mimetypes.best`: the highest-quality type, first listed on ties.
fn best_accept(req: &Request) -> String {
    let Some(accept) = req.header("accept") else {
        return "*/*".into();
    };
    let mut best: Option<(f32, String)> = None;
    for part in accept.split(',') {
        let mut it = part.split(';');
        let mime = it.next().unwrap_or("").trim().to_string();
        let q = it
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        if best.as_ref().is_none_or(|(bq, _)| q > *bq) {
            best = Some((q, mime));
        }
    }
    best.map(|b| b.1).unwrap_or_else(|| "*/*".into())
}

impl App {
    pub fn new(
        prefix: String,
        exports_module_path: String,
        max_page_size: u64,
        exports: Vec<ExportDef>,
        state: State,
    ) -> App {
        App {
            prefix,
            exports_module_path,
            max_page_size,
            exports,
            state: Arc::new(RwLock::new(state)),
            request_ids: AtomicU64::new(0),
        }
    }

    pub fn now(&self) -> NaiveDateTime {
        let off = read(&self.state).clock_offset_ms;
        Utc::now().naive_utc() + chrono::Duration::milliseconds(off)
    }

    pub fn mutate(&self, m: &MutationRequest) -> MutationResult {
        let at =
            m.at.as_deref()
                .and_then(gn_protocol::time::parse_timestamp)
                .unwrap_or_else(|| self.now());
        let mut st = write(&self.state);
        let store = &mut st.store;
        if let Some(r) = m.metadata_revision {
            store.gen.metadata_revision = r;
        }
        let mut update = m.update_ids.clone();
        update.extend(store.pick_live(m.update));
        let updated = store.update_ids(&update, at);
        let mut delete = m.delete_ids.clone();
        let mut picked = store.pick_live(m.delete + updated.len() as u64);
        picked.retain(|id| !updated.contains(id));
        delete.extend(picked.into_iter().take(m.delete as usize));
        let deleted = store.delete_ids(&delete, at);
        let inserted = store.insert(m.insert, at);
        MutationResult {
            inserted,
            updated,
            deleted,
            at: format_timestamp(&at),
        }
    }

    pub fn handle(&self, req: Request) -> Response {
        let request_id = format!("req-{}", self.request_ids.fetch_add(1, Ordering::Relaxed) + 1);
        {
            let mut st = write(&self.state);
            st.request_count += 1;
            if st.requests.len() >= REQUEST_LOG_CAP {
                st.requests.pop_front();
            }
            st.requests.push_back(format!("{} {}", req.method, req.target()));
        }
        if req.path.starts_with("/_control/") {
            return self.control(&req);
        }
        let Some(path) = req.path.strip_prefix(self.prefix.as_str()).map(str::to_string) else {
            return error(404, "The requested URL was not found on the server.", &request_id);
        };
        let path = if path.is_empty() { "/".to_string() } else { path };
        let fault = write(&self.state).faults.take(&path);
        let mut delay = None;
        let mut truncate = false;
        match fault {
            Some(FaultAction::Status { status, retry_after }) => {
                let mut r = error(status, "Injected fault", &request_id);
                if let Some(s) = retry_after {
                    r = r.with_header("Retry-After", s.to_string());
                }
                return self.finish(r);
            }
            Some(FaultAction::Garbage) => {
                return self.finish(Response::new(
                    200,
                    "text/html; charset=utf-8",
                    b"<html><body>Proxy error</body></html>".to_vec(),
                ));
            }
            Some(FaultAction::Delay { ms }) => delay = Some(Duration::from_millis(ms)),
            Some(FaultAction::Truncate) => truncate = true,
            Some(FaultAction::Mutate { mutation }) => {
                self.mutate(&mutation);
            }
            Some(FaultAction::Huge { bytes, chunked }) => return self.finish(huge_reply(bytes, chunked)),
            Some(FaultAction::Repeat) => {
                if let Some(body) = read(&self.state).last_export_reply.clone() {
                    return self.finish(Response::json(200, body));
                }
            }
            Some(FaultAction::Reply { status, body }) => return self.finish(Response::json(status, body)),
            None => {}
        }
        let mut resp = self.route(&req, &path, &request_id);
        if resp.status == 200 && path.starts_with(&format!("/api/{}/api/", self.exports_module_path)) {
            if let crate::http::Body::Full(b) = &resp.body {
                write(&self.state).last_export_reply = Some(b.clone());
            }
        }
        resp.delay = delay;
        if truncate {
            resp.truncate = true;
            if let crate::http::Body::Stream(f) = std::mem::replace(&mut resp.body, crate::http::Body::Full(Vec::new()))
            {
                let mut buf = Vec::new();
                let _ = f(&mut buf);
                resp.body = crate::http::Body::Full(buf);
            }
        }
        self.finish(resp)
    }

    fn finish(&self, resp: Response) -> Response {
        let date = (Utc::now() + chrono::Duration::milliseconds(read(&self.state).clock_offset_ms))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        resp.with_header("Date", date).with_header("Server", "fake-geonature")
    }

    fn route(&self, req: &Request, path: &str, rid: &str) -> Response {
        let export_api = format!("/api/{}/api/", self.exports_module_path);
        match (req.method.as_str(), path) {
            ("GET", "/") | ("GET", "/index.html") => Response::new(
                200,
                "text/html; charset=utf-8",
                b"<!doctype html><html><head><title>GeoNature</title></head><body><app-root>Connexion</app-root></body></html>"
                    .to_vec(),
            ),
            ("POST", "/api/auth/login") => self.login(req),
            (_, "/api/auth/login") => error(405, "The method is not allowed for the requested URL.", rid),
            ("GET", "/api/gn_commons/modules") => match self.current_user(req) {
                Some(u) => self.modules(&u),
                None => self.unauthorized(req),
            },
            ("GET", "/api/synthese/log") => match self.current_user(req) {
                Some(_) => self.synthese_log(req, rid),
                None => self.unauthorized(req),
            },
            ("GET", p) if p.starts_with(&export_api) => {
                let id = p[export_api.len()..].trim_end_matches('/');
                match id.parse::<i64>() {
                    Ok(id) => self.export_api(req, id, rid),
                    Err(_) => error(404, "The requested URL was not found on the server.", rid),
                }
            }
            _ => error(404, "The requested URL was not found on the server.", rid),
        }
    }

    /// The logged-in user (bearer token, or session cookie), counting one request on the session.
    fn current_user(&self, req: &Request) -> Option<User> {
        let now = Utc::now().timestamp();
        let mut st = write(&self.state);
        let max = st.faults.session_max_requests;
        let sid = match req.header("authorization").and_then(|a| a.strip_prefix("Bearer ")) {
            Some(jwt) => st.auth.session_of_jwt(jwt.trim(), now)?,
            None => req.cookie(SESSION_COOKIE)?,
        };
        st.auth.use_session(&sid, max)
    }

    /// flask-login's unauthorized path through GeoNature's 401 handler: JSON for JSON clients,
    /// else a redirect to the front end's login page.
    fn unauthorized(&self, req: &Request) -> Response {
        if best_accept(req) == "application/json" {
            return error(
                401,
                "The server could not verify that you are authorized to access the URL requested. You either supplied the wrong credentials (e.g. a bad password), or your browser doesn't understand how to supply the credentials required.",
                "",
            );
        }
        let host = req.header("host").unwrap_or("127.0.0.1");
        let full_path = format!("{}?{}", req.path, req.query);
        let next: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &full_path)
            .finish();
        Response::new(302, "text/html; charset=utf-8", b"Redirecting...".to_vec())
            .with_header("Location", format!("http://{host}{}/#/login?{next}", self.prefix))
    }

    fn login(&self, req: &Request) -> Response {
        let creds: LoginRequest = match serde_json::from_slice(&req.body) {
            Ok(c) => c,
            Err(_) => return error(400, "login and password are required", "login"),
        };
        let now = Utc::now();
        let Some((sid, jwt, user)) = write(&self.state)
            .auth
            .login(&creds.login, &creds.password, now.timestamp())
        else {
            return error(401, INCORRECT_LOGIN, "");
        };
        let expires = now + chrono::Duration::days(7);
        let body = json!({
            "user": {
                "id_role": user.id_role,
                "uuid_role": format!("00000000-0000-4000-8000-{:012}", user.id_role),
                "groupe": false,
                "identifiant": user.login,
                "nom_role": user.nom,
                "prenom_role": user.prenom,
                "desc_role": null,
                "email": format!("{}@example.org", user.login),
                "id_organisme": 1,
                "date_insert": "2024-01-01 00:00:00",
                "date_update": "2024-01-01 00:00:00",
                "active": true,
                "nom_complet": format!("{} {}", user.nom, user.prenom),
                "max_level_profil": 6,
                "providers": [{"id_provider": "local_provider", "name": "Identifiants GeoNature", "url": null}],
            },
            "token": jwt,
            "expires": expires.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string(),
        });
        let cookie_expires = expires.format("%a, %d %b %Y %H:%M:%S GMT");
        Response::json(200, json::to_string(&body))
            .with_header("Set-Cookie", format!("{SESSION_COOKIE}={sid}; HttpOnly; Path=/"))
            .with_header(
                "Set-Cookie",
                format!(
                    "{REMEMBER_COOKIE}={}|{}; Expires={cookie_expires}; HttpOnly; Path=/",
                    user.id_role,
                    &sid[sid.len().saturating_sub(16)..]
                ),
            )
    }

    fn modules(&self, user: &User) -> Response {
        // The module-list item shape is the wire model's (gn_protocol), shared with the served API.
        let module = gn_protocol::auth::module_entry;
        let mut list = vec![
            module(0, "GEONATURE", "GeoNature", "geonature", 3),
            module(1, "SYNTHESE", "Synthèse", "synthese", 3),
        ];
        if user.exports_scope > 0 {
            list.push(module(
                5,
                "EXPORTS",
                "Exports",
                &self.exports_module_path,
                user.exports_scope,
            ));
        }
        list.push(module(6, "OCCTAX", "Occtax", "occtax", 1));
        Response::json(200, json::to_string(&Value::Array(list)))
    }

    fn synthese_log(&self, req: &Request, rid: &str) -> Response {
        let q = match LogQuery::parse(&req.query) {
            Ok(q) => q,
            Err(e) => return error(400, &e.to_string(), rid),
        };
        let (items, total) = read(&self.state).store.log_page(&q);
        let page = LogPage {
            items,
            total,
            limit: q.limit,
            page: q.page,
        };
        let mut out = Vec::new();
        let _ = page.write_json(&mut out);
        Response::json(200, out)
    }

    fn export_api(&self, req: &Request, id: i64, rid: &str) -> Response {
        let Some(export) = self.exports.iter().find(|e| e.id == id).cloned() else {
            return error(404, &format!("Export {id} not found"), rid);
        };
        let q = match ExportQuery::parse(&req.query) {
            Ok(q) => q,
            Err(e) => return error(500, &format!("AssertionError: {e}"), rid),
        };
        // Export.has_instance_permission: public, then token, then the logged-in user.
        if !export.public {
            let token = q.token.clone().or_else(|| req.header("api-key").map(str::to_string));
            let allowed = match token {
                Some(t) => export.tokens.contains(&t),
                None => match self.current_user(req) {
                    Some(u) => u.exports_scope >= 3 || (u.exports_scope > 0 && export.roles.contains(&u.id_role)),
                    None => false,
                },
            };
            if !allowed {
                return error(403, &format!("You are not allowed to access export {id}"), rid);
            }
        }
        let Some(shape) = export.shape.shape() else {
            return self.metadata_export_api(&export, &q, rid);
        };
        let geo = export.geometry_field.is_some();
        let orderby = q.orderby.clone().unwrap_or_else(|| OrderBy::asc("id_synthese"));
        let limit = q.effective_limit(self.max_page_size);
        let (page_ids, gen) = {
            let st = read(&self.state);
            let r = st.store.page(&PageRequest {
                shape,
                geo,
                filters: &q.filters,
                orderby: &orderby,
                limit,
                page: q.page,
                ignore_keyset: st.faults.ignore_keyset,
            });
            (r, st.store.gen)
        };
        let page_ids = match page_ids {
            Ok(p) => p,
            Err(f) => return error(f.status, &f.message, rid),
        };
        let license = licence(export.id_licence);
        let counts = PageCounts {
            limit: limit.unwrap_or(0),
            page: q.page,
            total: page_ids.total,
            total_filtered: page_ids.total_filtered,
        };
        let state = self.state.clone();
        let render = move |out: &mut dyn Write| -> io::Result<()> {
            let cols = columns(shape);
            let mut w = PageWriter::begin(out, geo)?;
            for chunk in page_ids.ids.chunks(1000) {
                let states: Vec<_> = {
                    let st = read(&state);
                    chunk.iter().map(|id| st.store.row_state(*id)).collect()
                };
                for rs in states {
                    if geo {
                        let Some(g) = gen.geometry(rs.id) else { continue }; // NULL geometries are dropped
                        w.item_separator(out)?;
                        out.write_all(b"{\"geometry\": ")?;
                        json::write_value(out, &g.geojson())?;
                        out.write_all(b", \"properties\": ")?;
                        write_row(out, &cols, &gen, &rs)?;
                        out.write_all(b", \"type\": \"Feature\"}")?;
                    } else {
                        w.item_separator(out)?;
                        write_row(out, &cols, &gen, &rs)?;
                    }
                }
            }
            w.finish(out, &license, &counts)
        };
        if limit.is_none() {
            Response::stream(200, "application/json", Box::new(render))
        } else {
            let mut buf = Vec::with_capacity(1 << 20);
            let _ = render(&mut buf);
            Response::json(200, buf)
        }
    }

    /// The separate metadata export (GN2PG 1.10 `synthese_with_metadata_separated`): one item per
    /// acquisition framework, paged like any export (`limit`, page-index `offset`, `orderby` on a
    /// top-level scalar key, default the pk `id_acquisition_framework`); filters are ignored.
    fn metadata_export_api(&self, export: &ExportDef, q: &ExportQuery, rid: &str) -> Response {
        let gen = read(&self.state).store.gen;
        let mut items: Vec<Value> = (0..AF_COUNT).map(|i| gen.af_export_item(i)).collect();
        let orderby = q
            .orderby
            .clone()
            .unwrap_or_else(|| OrderBy::asc("id_acquisition_framework"));
        let sortable = |v: &Value| matches!(v.get(&orderby.column), Some(Value::Number(_) | Value::String(_)));
        if !items.iter().all(sortable) {
            return error(400, &format!("No column name {} to sort with", orderby.column), rid);
        }
        items.sort_by(|a, b| {
            let (x, y) = (&a[&orderby.column], &b[&orderby.column]);
            let o = match (x.as_i64(), y.as_i64()) {
                (Some(i), Some(j)) => i.cmp(&j),
                _ => x.as_str().cmp(&y.as_str()),
            };
            if orderby.descending {
                o.reverse()
            } else {
                o
            }
        });
        let limit = q.effective_limit(self.max_page_size);
        let total = items.len() as u64;
        let skip = limit.map_or(0, |l| l.saturating_mul(q.page));
        let take = limit.unwrap_or(u64::MAX);
        let license = licence(export.id_licence);
        let counts = PageCounts {
            limit: limit.unwrap_or(0),
            page: q.page,
            total,
            total_filtered: total.saturating_sub(skip),
        };
        let mut out = Vec::new();
        let written = (|| -> io::Result<()> {
            let mut w = PageWriter::begin(&mut out, false)?;
            for item in items
                .iter()
                .skip(skip.min(total) as usize)
                .take(take.min(total) as usize)
            {
                w.item_separator(&mut out)?;
                json::write_value(&mut out, item)?;
            }
            w.finish(&mut out, &license, &counts)
        })();
        match written {
            Ok(()) => Response::json(200, out),
            Err(e) => error(500, &e.to_string(), rid),
        }
    }

    fn control(&self, req: &Request) -> Response {
        let ok = |v: Value| Response::json(200, json::to_string(&v));
        let bad = |m: String| Response::json(400, json::to_string(&json!({"error": m})));
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/_control/state") => {
                let now = format_timestamp(&self.now());
                let st = read(&self.state);
                ok(json!({
                    "rows": st.store.live_count(),
                    "max_id": st.store.max_id(),
                    "seed": st.store.gen.seed,
                    "server_time": now,
                    "logins": st.auth.logins,
                    "requests": st.request_count,
                    "exports": self.exports.iter().map(|e| json!({"id": e.id, "label": e.label, "public": e.public, "geometry_field": e.geometry_field, "tokens": e.tokens})).collect::<Vec<_>>(),
                }))
            }
            ("POST", "/_control/reset") => {
                let mut st = write(&self.state);
                st.store.reset();
                st.auth.reset();
                st.faults = Faults::default();
                st.clock_offset_ms = 0;
                st.requests.clear();
                st.request_count = 0;
                st.last_export_reply = None;
                ok(json!({"reset": true}))
            }
            ("POST", "/_control/mutate") => match serde_json::from_slice::<MutationRequest>(&req.body) {
                Ok(m) => ok(serde_json::to_value(self.mutate(&m)).unwrap_or(Value::Null)),
                Err(e) => bad(format!("bad mutation: {e}")),
            },
            ("GET", "/_control/faults") => ok(serde_json::to_value(&read(&self.state).faults).unwrap_or(Value::Null)),
            ("PUT", "/_control/faults") => match serde_json::from_slice::<Faults>(&req.body) {
                Ok(f) => {
                    write(&self.state).faults = f;
                    ok(json!({"ok": true}))
                }
                Err(e) => bad(format!("bad faults: {e}")),
            },
            ("POST", "/_control/faults") => match serde_json::from_slice::<FaultRule>(&req.body) {
                Ok(r) => {
                    write(&self.state).faults.rules.push(r);
                    ok(json!({"ok": true}))
                }
                Err(e) => bad(format!("bad fault rule: {e}")),
            },
            ("DELETE", "/_control/faults") => {
                write(&self.state).faults = Faults::default();
                ok(json!({"ok": true}))
            }
            ("GET", "/_control/requests") => {
                ok(json!({"requests": read(&self.state).requests.iter().collect::<Vec<_>>()}))
            }
            ("DELETE", "/_control/requests") => {
                write(&self.state).requests.clear();
                ok(json!({"ok": true}))
            }
            ("POST", "/_control/clock") => match serde_json::from_slice::<Value>(&req.body)
                .ok()
                .and_then(|v| v.get("offset_seconds")?.as_f64())
            {
                Some(s) => {
                    write(&self.state).clock_offset_ms = (s * 1000.0) as i64;
                    ok(json!({"server_time": format_timestamp(&self.now())}))
                }
                None => bad("expected {\"offset_seconds\": <number>}".into()),
            },
            _ => Response::json(404, json::to_string(&json!({"error": "unknown control endpoint"}))),
        }
    }

    /// The item of one row as the export API serialises it (for exactness checks).
    pub fn item_json(&self, export_id: i64, id: i64) -> Option<String> {
        let export = self.exports.iter().find(|e| e.id == export_id)?;
        let st = read(&self.state);
        if !st.store.is_live(id) {
            return None;
        }
        let mut out = Vec::new();
        write_row(
            &mut out,
            &columns(export.shape.shape()?),
            &st.store.gen,
            &st.store.row_state(id),
        )
        .ok()?;
        String::from_utf8(out).ok()
    }

    pub fn license_of(&self, export_id: i64) -> Option<License> {
        self.exports
            .iter()
            .find(|e| e.id == export_id)
            .map(|e| licence(e.id_licence))
    }
}

/// A 200 whose JSON-looking body is `bytes` long (`[` then spaces): with a Content-Length, or
/// streamed in chunks without one.
fn huge_reply(bytes: u64, chunked: bool) -> Response {
    let fill = move |out: &mut dyn Write| -> io::Result<()> {
        let chunk = [b' '; 64 * 1024];
        let mut left = bytes;
        if left > 0 {
            out.write_all(b"[")?;
            left -= 1;
        }
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            out.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        Ok(())
    };
    if chunked {
        Response::stream(200, "application/json", Box::new(fill))
    } else {
        let mut buf = Vec::with_capacity(bytes.min(1 << 30) as usize);
        let _ = fill(&mut buf);
        Response::json(200, buf)
    }
}

/// A licence of `gn_exports.t_licences` (the first one for an unknown id).
fn licence(id_licence: i32) -> License {
    let all = seeded_licences();
    let first = all[0].1.clone();
    all.into_iter()
        .find(|(i, _)| *i == id_licence)
        .map(|(_, l)| l)
        .unwrap_or(first)
}

fn write_row(
    out: &mut dyn Write,
    cols: &[ColumnDef],
    gen: &crate::data::RowGen,
    rs: &crate::data::RowState,
) -> io::Result<()> {
    let mut o = json::ObjectWriter::begin(out)?;
    for c in cols {
        gen.value(c.col, rs).write_json(o.key(c.name)?)?;
    }
    o.end()
}
