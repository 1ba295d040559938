//! The web pages on the API worker: the export catalogue (with the logged-in role's tokens),
//! the monitoring dashboard (members of `gn_flux.api_dashboard_role`), the login page (the same
//! sessions as `POST /api/auth/login`), the API documentation and the static assets. Data is
//! read as the caller's role, so grants and row-level security decide what a page shows;
//! rendering is `gn_serve::site`'s. POST forms of a session carry an anti-forgery token derived
//! from its cookie.

use super::handle::{
    authenticate, cached_count, open_session, spi_failure, transaction, Caller, Outcome, State, Whole,
};
use crate::ffi;
use gn_protocol::auth::REMEMBER_COOKIE;
use gn_serve::auth::hash_token;
use gn_serve::html::{self, Site};
use gn_serve::http::ResponseHead;
use gn_serve::ogc::{base_url, Links, HTML};
use gn_serve::routes::PageRoute;
use gn_serve::site::{self as render, CatalogueEntry, Notice, RunFilters, Table, TokenRow};
use gn_serve::{FileFormat, Request, ServeError};
use pgrx::pg_sys;
use pgrx::prelude::*;

/// The anti-forgery token of the session whose cookie the request carries.
fn csrf_of(req: &Request) -> Option<String> {
    req.cookie(REMEMBER_COOKIE)
        .filter(|t| !t.is_empty())
        .map(|secret| hash_token(&format!("csrf:{secret}"))[..32].to_string())
}

/// The page frame's view of the caller: a logged-in role (not an export token) is shown.
pub(super) fn site_for(req: &Request, st: &State, caller: Option<&Caller>) -> Site {
    let user = match caller {
        Some(Caller::Role { name, token: None, .. }) => Some(name.clone()),
        _ => None,
    };
    Site {
        root: st.settings.router.root().to_string(),
        csrf: user.as_ref().and(csrf_of(req)),
        user,
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// An error as an HTML page (401 with a link to the login page).
pub(super) fn error_reply(err: &ServeError, st: &State, req: &Request) -> (ResponseHead, String) {
    let site = site_for(req, st, None);
    let mut message = err.message.clone();
    if err.status == 401 {
        message.push_str(" Log in first.");
    }
    let mut head = ResponseHead::new(err.status, HTML);
    if let Some(allow) = err.allow {
        head = head.header("Allow", allow);
    }
    (head, html::error(&site, err.status, &message))
}

/// The caller, or anonymous when its credentials are not (or no longer) valid: pages show
/// what an anonymous visitor sees rather than an error.
fn page_caller(req: &Request, outcome: &mut Outcome) -> Caller {
    authenticate(req, outcome).unwrap_or(Caller::Anonymous)
}

fn html_page(status: u16, body: String) -> Whole {
    let mut w = Whole::with(status, HTML, body);
    // (pages show per-role data: never cached by a proxy, never framed by another site)
    w.headers.push(("Cache-Control".into(), "no-store".into()));
    w.headers.push(("X-Frame-Options".into(), "DENY".into()));
    w.headers.push(("X-Content-Type-Options".into(), "nosniff".into()));
    w
}

fn redirect(location: String, cookie: Option<String>) -> Whole {
    let mut w = Whole::with(303, HTML, Vec::new());
    w.headers.push(("Location".into(), location));
    w.headers.push(("Cache-Control".into(), "no-store".into()));
    if let Some(c) = cookie {
        w.headers.push(("Set-Cookie".into(), c));
    }
    w
}

fn form(req: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&req.body).into_owned().collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The logged-in role of a POST form, its anti-forgery token checked.
fn form_user(
    req: &Request,
    outcome: &mut Outcome,
    form: &[(String, String)],
) -> Result<(String, pg_sys::Oid), ServeError> {
    let Caller::Role { name, oid, token: None } = authenticate(req, outcome)? else {
        return Err(ServeError::unauthorized());
    };
    match (csrf_of(req), field(form, "csrf")) {
        (Some(expected), Some(given)) if expected == given => Ok((name, oid)),
        _ => Err(ServeError::forbidden(
            "this form is not from a page of your session: reload the page and try again",
        )),
    }
}

pub(super) fn dispatch(
    route: PageRoute,
    req: &Request,
    st: &mut State,
    outcome: &mut Outcome,
) -> Result<Whole, ServeError> {
    let root = st.settings.router.root().to_string();
    match route {
        PageRoute::Home => Ok(redirect(format!("{root}/catalogue"), None)),
        PageRoute::Asset(a) => {
            let mut w = Whole::with(200, a.content_type(), a.body().as_bytes().to_vec());
            w.headers.push(("Cache-Control".into(), "public, max-age=3600".into()));
            Ok(w)
        }
        PageRoute::Catalogue => transaction(|| catalogue(req, st, outcome, None, 200)),
        PageRoute::Docs => transaction(|| docs(req, st, outcome)),
        PageRoute::Dashboard => transaction(|| dashboard(req, st, outcome)),
        PageRoute::LoginForm => {
            let next = safe_next(req.query_value("next"), &root);
            Ok(html_page(200, render::login(&site_for(req, st, None), &next, "", None)))
        }
        PageRoute::LoginSubmit => transaction(|| login_submit(req, st, outcome)),
        PageRoute::Logout => transaction(|| {
            let f = form(req);
            form_user(req, outcome, &f)?;
            if let Some(secret) = req.cookie(REMEMBER_COOKIE) {
                Spi::run_with_args(
                    "DELETE FROM gn_flux.api_session WHERE token_hash OPERATOR(pg_catalog.=) $1",
                    &[hash_token(secret).as_str().into()],
                )
                .map_err(spi_failure)?;
            }
            let clear = format!("{REMEMBER_COOKIE}=; Max-Age=0; HttpOnly; Path=/; SameSite=Lax");
            Ok(redirect(format!("{root}/catalogue"), Some(clear)))
        }),
        PageRoute::TokenCreate => transaction(|| {
            let f = form(req);
            let (_, oid) = form_user(req, outcome, &f)?;
            let export: i32 = field(&f, "export_id")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| ServeError::bad_request("export_id: expected an export id"))?;
            let valid_for = field(&f, "valid_for").unwrap_or("1 year");
            if !["7 days", "30 days", "1 year"].contains(&valid_for) {
                return Err(ServeError::bad_request("valid_for: choose 7 days, 30 days or 1 year"));
            }
            let export = super::handle::export_row(export)?;
            outcome.export_id = Some(export.id);
            let token = ffi::as_role(oid, || {
                Spi::get_one_with_args::<String>(
                    "SELECT gn_flux.create_api_token($1, valid_for => CAST($2 AS pg_catalog.interval))",
                    &[export.label.as_str().into(), valid_for.into()],
                )
                .map_err(spi_failure)
            })?
            .ok_or_else(ServeError::internal)?;
            let notice = Notice::NewToken {
                export: export.label.clone(),
                token,
            };
            catalogue(req, st, outcome, Some(notice), 201)
        }),
        PageRoute::TokenRevoke => transaction(|| {
            let f = form(req);
            let (_, oid) = form_user(req, outcome, &f)?;
            let id: i32 = field(&f, "token_id")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| ServeError::bad_request("token_id: expected a token id"))?;
            let revoked = ffi::as_role(oid, || {
                Spi::get_one_with_args::<bool>("SELECT gn_flux.revoke_api_token($1)", &[id.into()]).map_err(spi_failure)
            })?;
            let notice = if revoked == Some(true) {
                Notice::Success(format!("Token {id} revoked."))
            } else {
                Notice::Error(format!("Token {id} was not revoked (already revoked, or not yours)."))
            };
            catalogue(req, st, outcome, Some(notice), 200)
        }),
    }
}

/// Where to go after logging in: a path under the root only (never another site).
fn safe_next(next: Option<&str>, root: &str) -> String {
    match next {
        Some(n)
            if n.starts_with(&format!("{root}/"))
                && !n.contains("//")
                && !n.contains('\\')
                && !n.chars().any(|c| c.is_control()) =>
        {
            n.to_string()
        }
        _ => format!("{root}/catalogue"),
    }
}

fn login_submit(req: &Request, st: &mut State, outcome: &mut Outcome) -> Result<Whole, ServeError> {
    let f = form(req);
    let root = st.settings.router.root().to_string();
    let next = safe_next(field(&f, "next"), &root);
    let login = field(&f, "login").unwrap_or("").trim().to_string();
    let password = field(&f, "password").unwrap_or("");
    match open_session(&login, password, st) {
        Ok(session) => {
            outcome.role_name = Some(login);
            let secure = req.header("x-forwarded-proto") == Some("https")
                || st
                    .settings
                    .public_url
                    .as_deref()
                    .is_some_and(|u| u.starts_with("https:"));
            let cookie = gn_serve::respond::login_cookie(&session.token, &session.expires, secure);
            Ok(redirect(next, Some(cookie)))
        }
        Err(e) if matches!(e.status, 401 | 403 | 429) => {
            let site = site_for(req, st, None);
            Ok(html_page(
                e.status,
                render::login(&site, &next, &login, Some(&e.message)),
            ))
        }
        Err(e) => Err(e),
    }
}

pub(super) fn docs(req: &Request, st: &mut State, outcome: &mut Outcome) -> Result<Whole, ServeError> {
    let caller = page_caller(req, outcome);
    let doc = super::ogc::openapi_document(req, st, outcome)?;
    let links = Links::new(
        &base_url(req, st.settings.public_url.as_deref()),
        st.settings.router.root(),
    );
    let page = render::docs(&site_for(req, st, Some(&caller)), &doc, &format!("{}/api", links.ogc()));
    Ok(html_page(200, page))
}

fn catalogue(
    req: &Request,
    st: &mut State,
    outcome: &mut Outcome,
    notice: Option<Notice>,
    status: u16,
) -> Result<Whole, ServeError> {
    let caller = page_caller(req, outcome);
    let links = Links::new(
        &base_url(req, st.settings.public_url.as_deref()),
        st.settings.router.root(),
    );
    let own_role = match &caller {
        Caller::Role { oid, token: None, .. } => Some(*oid),
        _ => None,
    };
    let mut entries = Vec::new();
    for (export, reader) in super::ogc::readable(&caller, st)? {
        let q = |n: &str| gn_protocol::filter_sql::quote_ident(n).unwrap_or_default();
        let count_sql = format!("SELECT count(*) FROM {}.{}", q(&export.schema), q(&export.view));
        let rows = ffi::as_role(reader, || {
            cached_count(
                st,
                format!("{}:total:{}", u32::from(reader), export.id),
                &count_sql,
                &[],
                true,
            )
        })?;
        let tokens = match own_role {
            Some(oid) => Some(ffi::as_role(oid, || tokens_of(&export.label))?),
            None => None,
        };
        entries.push(CatalogueEntry {
            id: export.id,
            label: export.label.clone(),
            description: export.description.clone(),
            licence: export.licence.clone(),
            public: export.public,
            rows: Some(rows),
            formats: FileFormat::ALL
                .into_iter()
                .filter(|f| export.geometry_field.is_some() || !f.needs_geometry())
                .map(|f| f.as_str())
                .collect(),
            api_url: format!("{}/api/exports/api/{}", links.site, export.id),
            ogc_url: links.collection(&crate::export::export_file_stem(&export.label)),
            tokens,
        });
    }
    let site = site_for(req, st, Some(&caller));
    Ok(html_page(status, render::catalogue(&site, &entries, notice.as_ref())))
}

fn tokens_of(label: &str) -> Result<Vec<TokenRow>, ServeError> {
    Spi::connect(|c| {
        let rows = c.select(
            "SELECT id, token_prefix, CAST(role AS pg_catalog.text),
                    pg_catalog.to_char(created_at, 'YYYY-MM-DD HH24:MI'), pg_catalog.to_char(expires_at, 'YYYY-MM-DD HH24:MI'),
                    pg_catalog.to_char(last_used_at, 'YYYY-MM-DD HH24:MI'), status
               FROM gn_flux.api_tokens WHERE export OPERATOR(pg_catalog.=) $1 ORDER BY id DESC LIMIT 50",
            None,
            &[label.into()],
        )?;
        let mut out = Vec::new();
        for r in rows {
            out.push(TokenRow {
                id: r.get(1)?.unwrap_or_default(),
                prefix: r.get(2)?.unwrap_or_default(),
                role: r.get(3)?.unwrap_or_default(),
                created_at: r.get(4)?.unwrap_or_default(),
                expires_at: r.get(5)?.unwrap_or_default(),
                last_used_at: r.get(6)?,
                status: r.get(7)?.unwrap_or_default(),
            });
        }
        Ok::<_, pgrx::spi::SpiError>(out)
    })
    .map_err(spi_failure)
}

/// One dashboard table: `columns` are (header, SQL expression), read as text from `from`.
struct Section<'a> {
    testid: &'a str,
    title: &'a str,
    relation: &'a str,
    columns: &'a [(&'a str, &'a str)],
    from: &'a str,
    status: Option<usize>,
    numeric: &'a [usize],
}

fn section(s: &Section, reader: pg_sys::Oid, params: &[String], timeout_ms: i32) -> Result<Table, ServeError> {
    let mut t = Table {
        testid: s.testid.into(),
        title: s.title.into(),
        headers: s.columns.iter().map(|(h, _)| h.to_string()).collect(),
        status_col: s.status,
        numeric: s.numeric.to_vec(),
        ..Table::default()
    };
    let readable = Spi::get_one_with_args::<bool>(
        "SELECT pg_catalog.has_table_privilege($1, CAST($2 AS pg_catalog.regclass), 'SELECT')",
        &[reader.into(), s.relation.into()],
    )
    .map_err(spi_failure)?
    .unwrap_or(false);
    if !readable {
        t.note = Some(format!(
            "Your role may not read {}: ask the DBA for a GRANT.",
            s.relation
        ));
        return Ok(t);
    }
    let select = s
        .columns
        .iter()
        .map(|(_, e)| format!("CAST(({e}) AS pg_catalog.text)"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("SELECT {select} {}", s.from);
    let width = s.columns.len();
    ffi::arm_statement_timeout(timeout_ms);
    t.rows = ffi::as_role(reader, || {
        Spi::connect(|c| {
            let mut out = Vec::new();
            for r in c.select(&sql, None, &super::handle::args(params))? {
                let mut row = Vec::with_capacity(width);
                for i in 1..=width {
                    row.push(r.get::<String>(i)?);
                }
                out.push(row);
            }
            Ok::<_, pgrx::spi::SpiError>(out)
        })
        .map_err(spi_failure)
    })?;
    ffi::disarm_statement_timeout();
    Ok(t)
}

const TS: &str = "'YYYY-MM-DD HH24:MI:SS'";

fn dashboard(req: &Request, st: &mut State, outcome: &mut Outcome) -> Result<Whole, ServeError> {
    let root = st.settings.router.root().to_string();
    let caller = page_caller(req, outcome);
    let Caller::Role { oid, name, token: None } = &caller else {
        return Ok(redirect(format!("{root}/login?next={root}/dashboard"), None));
    };
    let allowed = match &st.settings.dashboard_role {
        Some(role) => Spi::get_one_with_args::<bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) $2)
                AND pg_catalog.pg_has_role($1, $2, 'MEMBER')",
            &[(*oid).into(), role.as_str().into()],
        )
        .map_err(spi_failure)?
        .unwrap_or(false),
        None => false,
    };
    if !allowed {
        return Err(ServeError::forbidden(format!(
            "role {name} may not see the dashboard: the DBA grants it with GRANT {} TO {name}",
            st.settings.dashboard_role.as_deref().unwrap_or("gn_flux_monitor")
        )));
    }
    let filters = RunFilters {
        source: req.query_value("source").unwrap_or("").chars().take(200).collect(),
        status: req
            .query_value("status")
            .filter(|s| ["success", "failed", "running"].contains(s))
            .unwrap_or("")
            .to_string(),
        days: req
            .query_value("days")
            .and_then(|d| d.parse::<u32>().ok())
            .unwrap_or(7)
            .clamp(1, 3650),
    };
    let params = vec![filters.source.clone(), filters.status.clone(), filters.days.to_string()];
    let timeout = st.settings.statement_timeout_ms;
    // (parenthesised: OPERATOR() binds no tighter than the comparison around it)
    let since = "(pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(days => CAST($3 AS integer)))";
    let sources_sql = "FROM gn_flux.status ORDER BY source";
    let runs_from = format!(
        "FROM gn_flux.import_log WHERE ($1 OPERATOR(pg_catalog.=) '' OR source OPERATOR(pg_catalog.=) $1)
           AND ($2 OPERATOR(pg_catalog.=) '' OR xfer_status OPERATOR(pg_catalog.=) $2)
           AND xfer_start_ts OPERATOR(pg_catalog.>) CAST({since} AS pg_catalog.timestamp) ORDER BY id DESC LIMIT 200"
    );
    let errors_from = format!(
        "FROM gn_flux.error_log WHERE ($1 OPERATOR(pg_catalog.=) '' OR source OPERATOR(pg_catalog.=) $1)
           AND last_ts OPERATOR(pg_catalog.>) CAST({since} AS pg_catalog.timestamp) ORDER BY last_ts DESC LIMIT 200"
    );
    let api_from = format!(
        "FROM gn_flux.api_log WHERE at OPERATOR(pg_catalog.>) {since}
          GROUP BY route ORDER BY count(*) DESC"
    );
    let ts = |col: &str| format!("pg_catalog.to_char({col}, {TS})");
    let (last_run, run_start, run_end, err_ts, exp_last, exp_ok) = (
        ts("last_run"),
        ts("xfer_start_ts"),
        ts("xfer_end_ts"),
        ts("last_ts"),
        ts("last_run"),
        ts("last_success"),
    );
    let sections = [
        Section {
            testid: "sources",
            title: "Sources",
            relation: "gn_flux.status",
            columns: &[
                ("source", "source"),
                ("enabled", "enabled"),
                ("last mode", "last_mode"),
                ("last status", "last_status"),
                ("last run", &last_run),
                ("lag", "pg_catalog.date_trunc('second', lag)"),
                ("rows", "rows"),
                ("errors", "last_errors"),
                ("failures since success", "failures_since_success"),
                ("schedule", "schedule"),
                ("message", "last_message"),
            ],
            from: sources_sql,
            status: Some(3),
            numeric: &[6, 7, 8],
        },
        Section {
            testid: "runs",
            title: "Runs",
            relation: "gn_flux.import_log",
            columns: &[
                ("id", "id"),
                ("source", "source"),
                ("mode", "xfer_type"),
                ("status", "xfer_status"),
                ("start", &run_start),
                ("end", &run_end),
                ("items", "api_count_items"),
                ("inserted", "data_count_inserts"),
                ("updated", "data_count_updates"),
                ("deleted", "data_count_delete"),
                ("errors", "data_count_errors"),
                ("comment", "pg_catalog.left(comment, 300)"),
            ],
            from: &runs_from,
            status: Some(3),
            numeric: &[0, 6, 7, 8, 9, 10],
        },
        Section {
            testid: "errors",
            title: "Errors",
            relation: "gn_flux.error_log",
            columns: &[
                ("when", &err_ts),
                ("source", "source"),
                ("run", "import_id"),
                ("uuid", "uuid"),
                ("error", "pg_catalog.left(error, 300)"),
            ],
            from: &errors_from,
            status: None,
            numeric: &[2],
        },
        Section {
            testid: "exports",
            title: "Scheduled exports",
            relation: "gn_flux.export_status",
            columns: &[
                ("export", "label"),
                ("format", "format"),
                ("schedule", "schedule"),
                ("last run", &exp_last),
                ("status", "last_status"),
                ("rows", "last_rows"),
                ("bytes", "last_bytes"),
                ("file", "last_file"),
                ("error", "pg_catalog.left(last_error, 300)"),
                ("last success", &exp_ok),
                ("failures since success", "failures_since_success"),
            ],
            from: "FROM gn_flux.export_status ORDER BY label, format",
            status: Some(4),
            numeric: &[5, 6, 10],
        },
        Section {
            testid: "api",
            title: "API usage",
            relation: "gn_flux.api_log",
            columns: &[
                ("route", "route"),
                ("requests", "count(*)"),
                ("errors", "count(*) FILTER (WHERE status OPERATOR(pg_catalog.>=) 400)"),
                ("rows", "sum(rows)"),
                ("bytes", "sum(bytes)"),
                ("mean ms", "pg_catalog.round(CAST(avg(duration_ms) AS numeric), 1)"),
                (
                    "p95 ms",
                    "pg_catalog.round(CAST(percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS numeric), 1)",
                ),
            ],
            from: &api_from,
            status: None,
            numeric: &[1, 2, 3, 4, 5, 6],
        },
        Section {
            testid: "workers",
            title: "API workers",
            relation: "gn_flux.api_status",
            columns: &[
                ("worker", "worker"),
                ("pid", "pid"),
                ("running", "running"),
                ("address", "address"),
                ("requests", "requests"),
                ("errors", "errors"),
                ("bytes", "bytes"),
            ],
            from: "FROM gn_flux.api_status ORDER BY worker",
            status: None,
            numeric: &[0, 1, 4, 5, 6],
        },
    ];
    let mut tables = Vec::new();
    for s in &sections {
        let p: &[String] = if s.from.contains("$3") { &params } else { &[] };
        tables.push(section(s, *oid, p, timeout)?);
    }
    let sources: Vec<String> = tables[0].rows.iter().filter_map(|r| r[0].clone()).collect();
    let site = site_for(req, st, Some(&caller));
    Ok(html_page(200, render::dashboard(&site, &filters, &sources, &tables)))
}
