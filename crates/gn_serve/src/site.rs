//! The web pages besides the OGC resources: the export catalogue, the monitoring dashboard, the
//! login page and the API documentation page. Pure renderers over data the extension reads as
//! the caller's role; every page works without JavaScript (forms are plain GET/POST forms).

use crate::html::{esc, frame, page, Site};
use gn_protocol::page::License;
use serde_json::Value;
use std::fmt::Write as _;

/// A token of the logged-in role for one export (never its secret).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenRow {
    pub id: i32,
    pub prefix: String,
    pub role: String,
    pub created_at: String,
    pub expires_at: String,
    pub last_used_at: Option<String>,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CatalogueEntry {
    pub id: i32,
    pub label: String,
    pub description: Option<String>,
    pub licence: License,
    pub public: bool,
    pub rows: Option<u64>,
    /// Download formats (those needing a geometry only for spatial exports).
    pub formats: Vec<&'static str>,
    pub api_url: String,
    pub ogc_url: String,
    /// `Some` for a logged-in role (not an export token): its tokens of this export.
    pub tokens: Option<Vec<TokenRow>>,
}

/// A message above the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Success(String),
    Error(String),
    /// A token just created: shown once.
    NewToken {
        export: String,
        token: String,
    },
}

fn notice_html(n: &Notice) -> String {
    match n {
        Notice::Success(m) => format!("<p class=\"notice success\" data-testid=\"notice\">{}</p>", esc(m)),
        Notice::Error(m) => format!("<p class=\"notice error\" data-testid=\"notice\">{}</p>", esc(m)),
        Notice::NewToken { export, token } => format!(
            "<div class=\"notice success\" data-testid=\"notice\"><p>New token for <strong>{}</strong>. Copy it now: it is not shown again.</p>\
             <pre data-testid=\"new-token\">{}</pre><p>Use it as <code>?token=…</code>, an <code>api-key</code> header or a bearer token.</p></div>",
            esc(export),
            esc(token)
        ),
    }
}

/// `20000` as `20,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A status as a badge: success/active green, failed red, running blue, others amber.
pub fn badge(status: &str) -> String {
    let class = match status.to_ascii_lowercase().as_str() {
        "success" | "ok" | "active" | "true" => "ok",
        "failed" | "error" | "revoked" | "expired" => "failed",
        "running" | "in progress" => "running",
        _ => "warn",
    };
    format!(
        "<span class=\"badge {class}\" data-testid=\"status\" data-status=\"{0}\">{0}</span>",
        esc(status)
    )
}

pub fn catalogue(site: &Site, entries: &[CatalogueEntry], notice: Option<&Notice>) -> String {
    let mut body = String::from("<h1>Exports</h1>");
    if let Some(n) = notice {
        body.push_str(&notice_html(n));
    }
    let _ = write!(
        body,
        "<p>{} may read {} export{}. {}</p>",
        if site.user.is_some() {
            "Your role"
        } else {
            "An anonymous visitor"
        },
        entries.len(),
        if entries.len() == 1 { "" } else { "s" },
        if site.user.is_some() {
            "Tokens let a program (gn2pg-client, another gn_flux node, QGIS) read an export as you."
        } else {
            "Log in to see the private exports your role may read and to manage your tokens."
        }
    );
    body.push_str("<div class=\"cards\">");
    for e in entries {
        let mut downloads = String::new();
        for f in &e.formats {
            let _ = write!(
                downloads,
                "<a class=\"button\" data-testid=\"download\" data-format=\"{f}\" href=\"{}\">{}</a> ",
                esc(&site.href(&format!("/api/exports/{}/{f}", e.id))),
                f.to_ascii_uppercase()
            );
        }
        let _ = write!(
            body,
            "<section class=\"card\" data-testid=\"export\" data-export=\"{id}\" data-label=\"{label_attr}\">\
             <h2>{label} {visibility}</h2><p>{desc}</p><dl class=\"meta\">\
             <dt>Rows</dt><dd class=\"num\" data-testid=\"rows\">{rows}</dd>\
             <dt>Licence</dt><dd><a href=\"{lic_href}\">{lic}</a></dd>\
             <dt>GeoNature API</dt><dd><a data-testid=\"api-link\" href=\"{api}\">export {id} (JSON pages)</a></dd>\
             <dt>OGC API – Features</dt><dd><a data-testid=\"ogc-link\" href=\"{ogc}?f=html\">collection <code>{ogc_id}</code></a></dd></dl>\
             <p class=\"downloads\">{downloads}</p>",
            id = e.id,
            label_attr = esc(&e.label),
            label = esc(&e.label),
            visibility = if e.public {
                "<span class=\"badge public\">public</span>"
            } else {
                "<span class=\"badge private\">private</span>"
            },
            desc = esc(e.description.as_deref().unwrap_or("")),
            rows = e.rows.map(thousands).unwrap_or_else(|| "—".into()),
            ogc_id = esc(e.ogc_url.rsplit('/').next().unwrap_or("")),
            lic_href = esc(&e.licence.href),
            lic = esc(&e.licence.name),
            api = esc(&e.api_url),
            ogc = esc(&e.ogc_url),
        );
        if let Some(tokens) = &e.tokens {
            body.push_str("<details class=\"tokens\"><summary>My tokens</summary>");
            if tokens.is_empty() {
                body.push_str("<p>No token yet.</p>");
            } else {
                body.push_str(
                    "<table class=\"data\" data-testid=\"tokens\"><thead><tr><th>Token</th><th>Role</th><th>Created</th>\
                     <th>Expires</th><th>Last used</th><th>Status</th><th></th></tr></thead><tbody>",
                );
                for t in tokens {
                    let revoke = if t.status == "active" {
                        format!(
                            "<form class=\"inline\" method=\"post\" action=\"{}\">{}<input type=\"hidden\" name=\"token_id\" value=\"{}\">\
                             <button type=\"submit\" class=\"danger\">Revoke</button></form>",
                            esc(&site.href("/catalogue/tokens/revoke")),
                            site.csrf_field(),
                            t.id
                        )
                    } else {
                        String::new()
                    };
                    let _ = write!(
                        body,
                        "<tr data-testid=\"token\"><td><code>{}…</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{revoke}</td></tr>",
                        esc(&t.prefix),
                        esc(&t.role),
                        esc(&t.created_at),
                        esc(&t.expires_at),
                        esc(t.last_used_at.as_deref().unwrap_or("never")),
                        badge(&t.status)
                    );
                }
                body.push_str("</tbody></table>");
            }
            let _ = write!(
                body,
                "<form class=\"inline\" method=\"post\" action=\"{}\" data-testid=\"create-token\">{}<input type=\"hidden\" name=\"export_id\" value=\"{}\">\
                 <label>Valid for <select name=\"valid_for\"><option value=\"7 days\">7 days</option><option value=\"30 days\">30 days</option>\
                 <option value=\"1 year\" selected>1 year</option></select></label> <button type=\"submit\">Create a token</button></form></details>",
                esc(&site.href("/catalogue/tokens")),
                site.csrf_field(),
                e.id
            );
        }
        body.push_str("</section>");
    }
    body.push_str("</div>");
    page(site, "Exports", &body)
}

pub fn login(site: &Site, next: &str, login: &str, error: Option<&str>) -> String {
    let body = format!(
        "<h1>Log in</h1>{}<p>Log in with your PostgreSQL role and its password (the same as <code>POST /api/auth/login</code>).</p>\
         <form class=\"login stacked\" method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label>Role <input name=\"login\" autocomplete=\"username\" required value=\"{}\"></label>\
         <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\">Log in</button></form>",
        error
            .map(|e| format!("<p class=\"notice error\" data-testid=\"error\">{}</p>", esc(e)))
            .unwrap_or_default(),
        esc(&site.href("/login")),
        esc(next),
        esc(login)
    );
    page(site, "Log in", &body)
}

/// One table of the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub testid: String,
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    /// The column shown as a status badge.
    pub status_col: Option<usize>,
    /// Columns aligned right.
    pub numeric: Vec<usize>,
    /// Shown instead of the table (e.g. not readable by this role).
    pub note: Option<String>,
}

pub fn table(t: &Table) -> String {
    let mut s = format!(
        "<section class=\"card\" data-testid=\"{}\"><h2>{}</h2>",
        esc(&t.testid),
        esc(&t.title)
    );
    if let Some(n) = &t.note {
        let _ = write!(s, "<p class=\"notice\">{}</p></section>", esc(n));
        return s;
    }
    if t.rows.is_empty() {
        s.push_str("<p>Nothing yet.</p></section>");
        return s;
    }
    s.push_str("<div class=\"table-wrap\"><table class=\"data\"><thead><tr>");
    for h in &t.headers {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr></thead><tbody>");
    for r in &t.rows {
        s.push_str("<tr>");
        for (i, v) in r.iter().enumerate() {
            let text = v.as_deref().unwrap_or("");
            if Some(i) == t.status_col && !text.is_empty() {
                let _ = write!(s, "<td>{}</td>", badge(text));
            } else if t.numeric.contains(&i) {
                let _ = write!(s, "<td class=\"num\">{}</td>", esc(text));
            } else {
                let _ = write!(s, "<td>{}</td>", esc(text));
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table></div></section>");
    s
}

/// The run-log filters of the dashboard (a GET form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilters {
    pub source: String,
    pub status: String,
    pub days: u32,
}

pub fn dashboard(site: &Site, filters: &RunFilters, sources: &[String], tables: &[Table]) -> String {
    let mut options = String::from("<option value=\"\">all</option>");
    for s in sources {
        let _ = write!(
            options,
            "<option{} value=\"{1}\">{1}</option>",
            if *s == filters.source { " selected" } else { "" },
            esc(s)
        );
    }
    let status_opts: String = ["", "success", "failed", "running"]
        .iter()
        .map(|s| {
            format!(
                "<option{} value=\"{s}\">{}</option>",
                if *s == filters.status { " selected" } else { "" },
                if s.is_empty() { "all" } else { s }
            )
        })
        .collect();
    let mut body = format!(
        "<h1>Monitoring</h1><form class=\"inline\" method=\"get\" action=\"{}\" data-testid=\"filters\">\
         <label>Source <select name=\"source\">{options}</select></label> <label>Status <select name=\"status\">{status_opts}</select></label> \
         <label>Last <input name=\"days\" type=\"number\" min=\"1\" max=\"3650\" value=\"{}\"> days</label> <button type=\"submit\">Filter</button></form>",
        esc(&site.href("/dashboard")),
        filters.days
    );
    for t in tables {
        body.push_str(&table(t));
    }
    page(site, "Monitoring", &body)
}

/// The documentation page: the operations of `doc` as plain HTML (GET forms for the paths
/// without parameters in them), enhanced by `docs.js` when scripts run.
pub fn docs(site: &Site, doc: &Value, spec_url: &str) -> String {
    let default_server = doc["servers"][0]["url"].as_str().unwrap_or("");
    let mut body = format!(
        "<h1 data-testid=\"docs-title\">{}</h1><p>{}</p><p>The OpenAPI 3.0 document: <a href=\"{2}\">{2}</a>.</p>",
        esc(doc["info"]["title"].as_str().unwrap_or("API")),
        esc(doc["info"]["description"].as_str().unwrap_or("")),
        esc(spec_url)
    );
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        let server = item["servers"][0]["url"].as_str().unwrap_or(default_server);
        for (method, op) in item.as_object().into_iter().flatten() {
            if !matches!(method.as_str(), "get" | "post") {
                continue;
            }
            let _ = write!(
                body,
                "<section class=\"card\" data-testid=\"operation-fallback\" data-method=\"{method}\" data-path=\"{}\">\
                 <h2><span class=\"method {method}\">{}</span> <code>{}</code></h2><p>{}</p>",
                esc(path),
                method.to_ascii_uppercase(),
                esc(path),
                esc(op["summary"].as_str().unwrap_or(""))
            );
            if method == "get" && !path.contains('{') {
                let _ = write!(
                    body,
                    "<form class=\"inline\" method=\"get\" action=\"{}\">",
                    esc(&format!("{server}{path}"))
                );
                body.push_str(
                    "<label>f <select name=\"f\"><option>json</option><option>html</option></select></label> ",
                );
                body.push_str("<button type=\"submit\">Send</button></form>");
            }
            body.push_str("</section>");
        }
    }
    frame(
        site,
        "API documentation",
        &format!("id=\"gn-docs\" data-spec=\"{}\"", esc(spec_url)),
        &body,
        Some(&site.href("/assets/docs.js")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(user: Option<&str>) -> Site {
        Site {
            root: "/gn".into(),
            user: user.map(String::from),
            csrf: user.map(|_| "c".into()),
            version: "0.2.0".into(),
        }
    }

    #[test]
    fn catalogue_page() {
        let e = CatalogueEntry {
            id: 4,
            label: "Obs <x>".into(),
            description: None,
            licence: License {
                name: "ODbL".into(),
                href: "https://l".into(),
            },
            public: false,
            rows: Some(20000),
            formats: vec!["csv", "gpkg"],
            api_url: "http://h/gn/api/exports/api/4".into(),
            ogc_url: "http://h/gn/ogc/collections/obs_x".into(),
            tokens: Some(vec![TokenRow {
                id: 9,
                prefix: "abcdef".into(),
                status: "active".into(),
                ..TokenRow::default()
            }]),
        };
        let p = catalogue(
            &site(Some("r")),
            std::slice::from_ref(&e),
            Some(&Notice::NewToken {
                export: "Obs".into(),
                token: "T".into(),
            }),
        );
        assert!(p.contains("Obs &lt;x&gt;") && !p.contains("<x>"));
        assert!(p.contains("href=\"/gn/api/exports/4/gpkg\""));
        assert!(p.contains("badge private"));
        assert!(p.contains("name=\"token_id\" value=\"9\""));
        assert!(p.contains("name=\"csrf\" value=\"c\""));
        assert!(p.contains("data-testid=\"new-token\">T</pre>"));
        let anon = catalogue(&site(None), &[CatalogueEntry { tokens: None, ..e }], None);
        assert!(!anon.contains("create-token") && anon.contains("Log in"));
    }

    #[test]
    fn dashboard_and_badges() {
        assert!(badge("failed").contains("badge failed"));
        assert_eq!(
            (thousands(20000), thousands(999), thousands(1234567)),
            ("20,000".into(), "999".into(), "1,234,567".into())
        );
        assert!(badge("success").contains("badge ok"));
        let t = Table {
            testid: "runs".into(),
            title: "Runs".into(),
            headers: vec!["source".into(), "status".into()],
            rows: vec![vec![Some("a".into()), Some("failed".into())]],
            status_col: Some(1),
            ..Table::default()
        };
        let p = dashboard(
            &site(Some("m")),
            &RunFilters {
                days: 7,
                ..RunFilters::default()
            },
            &["a".into()],
            &[t],
        );
        assert!(p.contains("data-status=\"failed\""));
        assert!(p.contains("<option value=\"a\">a</option>"));
        let login_page = login(&site(None), "/gn/dashboard", "x\"", Some("Incorrect"));
        assert!(login_page.contains("value=\"x&quot;\"") && login_page.contains("notice error"));
    }

    #[test]
    fn docs_page() {
        let doc = crate::openapi::document(&crate::ogc::Links::new("http://h", "/gn"), &[], 1000, "0");
        let p = docs(&site(None), &doc, "http://h/gn/ogc/api");
        assert!(p.contains("id=\"gn-docs\" data-spec=\"http://h/gn/ogc/api\""));
        assert!(p.contains("<script src=\"/gn/assets/docs.js\"></script>"));
        assert!(p.contains("action=\"http://h/gn/ogc/collections\""));
        assert!(p.contains("data-path=\"/api/auth/login\""));
    }
}
