//! Server-rendered HTML: the page frame shared by every page (navigation, stylesheet, who is
//! logged in), escaping, and the HTML representations of the OGC resources. Every page is
//! complete without JavaScript; the only script is the documentation viewer's enhancement.

use crate::ogc::Links;
use serde_json::Value;
use std::fmt::Write as _;

/// Escapes text for HTML content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What the page frame needs: where the site is, who is logged in, and the form token that
/// POST forms of a logged-in user carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Site {
    /// The API root path (`/geonature`).
    pub root: String,
    /// The logged-in role.
    pub user: Option<String>,
    /// The anti-forgery token of the session (hidden field `csrf`).
    pub csrf: Option<String>,
    /// The extension's version, for the footer.
    pub version: String,
}

impl Site {
    pub fn href(&self, path: &str) -> String {
        format!("{}{path}", self.root)
    }

    /// The hidden anti-forgery field of a POST form.
    pub fn csrf_field(&self) -> String {
        match &self.csrf {
            Some(t) => format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(t)),
            None => String::new(),
        }
    }
}

/// A whole HTML5 page. `body` is already HTML.
pub fn page(site: &Site, title: &str, body: &str) -> String {
    frame(site, title, "id=\"main\"", body, None)
}

/// A page whose `<main>` has `main_attrs` and that loads the script at `script` (a path).
pub fn frame(site: &Site, title: &str, main_attrs: &str, body: &str, script: Option<&str>) -> String {
    let mut nav = String::new();
    for (path, label) in [
        ("/catalogue", "Exports"),
        ("/ogc/collections?f=html", "Collections (OGC API)"),
        ("/ogc/api?f=html", "API documentation"),
        ("/dashboard", "Dashboard"),
    ] {
        let _ = write!(nav, "<a href=\"{}\">{}</a>", esc(&site.href(path)), label);
    }
    let account = match &site.user {
        Some(u) => format!(
            "<form class=\"inline logout\" method=\"post\" action=\"{}\">{}<span class=\"user\" data-testid=\"user\">{}</span> <button type=\"submit\">Log out</button></form>",
            esc(&site.href("/logout")),
            site.csrf_field(),
            esc(u)
        ),
        None => format!("<a class=\"login\" href=\"{}\">Log in</a>", esc(&site.href("/login"))),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · gn_flux</title><link rel=\"stylesheet\" href=\"{css}\"></head>\
         <body><a class=\"skip-link\" href=\"#main\">Skip to content</a><header class=\"site\"><nav aria-label=\"Main\">\
         <a class=\"brand\" href=\"{home}\">gn_flux</a>{nav}<span class=\"account\">{account}</span></nav></header>\
         <main {main_attrs}>{body}</main>\
         <footer class=\"site\">gn_flux {version} · GeoNature export API and OGC API – Features, served from PostgreSQL</footer>\
         {script}</body></html>\n",
        title = esc(title),
        css = esc(&site.href("/assets/style.css")),
        home = esc(&site.href("/catalogue")),
        version = esc(&site.version),
        script = script
            .map(|src| format!("<script src=\"{}\"></script>", esc(src)))
            .unwrap_or_default(),
    )
}

/// A `<ul>` of a JSON `links` array, every link an `<a>` (the HTML conformance class).
pub fn links_list(links: &Value) -> String {
    let mut s = String::from("<ul class=\"links\">");
    for l in links.as_array().into_iter().flatten() {
        let href = l["href"].as_str().unwrap_or("");
        let _ = write!(
            s,
            "<li><a href=\"{}\" rel=\"{}\" type=\"{}\">{}</a> <small>{} · {}</small></li>",
            esc(href),
            esc(l["rel"].as_str().unwrap_or("")),
            esc(l["type"].as_str().unwrap_or("")),
            esc(l["title"].as_str().unwrap_or(href)),
            esc(l["rel"].as_str().unwrap_or("")),
            esc(l["type"].as_str().unwrap_or(""))
        );
    }
    s.push_str("</ul>");
    s
}

/// A JSON value for a table cell: strings bare, `null` empty, others as JSON.
pub fn cell(json_text: Option<&str>) -> String {
    match json_text.map(serde_json::from_str::<Value>) {
        None | Some(Ok(Value::Null)) => String::new(),
        Some(Ok(Value::String(s))) => esc(&s),
        Some(Ok(v)) => esc(&v.to_string()),
        Some(Err(_)) => esc(json_text.unwrap_or("")),
    }
}

pub fn landing(site: &Site, doc: &Value) -> String {
    let body = format!(
        "<h1>{}</h1><p>{}</p><section class=\"card\"><h2>Links</h2>{}</section>",
        esc(doc["title"].as_str().unwrap_or("")),
        esc(doc["description"].as_str().unwrap_or("")),
        links_list(&doc["links"])
    );
    page(site, "OGC API – Features", &body)
}

pub fn conformance(site: &Site, doc: &Value) -> String {
    let mut body = String::from("<h1>Conformance classes</h1><ul class=\"links\" data-testid=\"conformance\">");
    for c in doc["conformsTo"].as_array().into_iter().flatten() {
        let c = c.as_str().unwrap_or("");
        let _ = write!(body, "<li><a href=\"{0}\">{0}</a></li>", esc(c));
    }
    body.push_str("</ul>");
    page(site, "Conformance", &body)
}

fn bbox_text(c: &Value) -> String {
    match c["extent"]["spatial"]["bbox"][0].as_array() {
        Some(b) => b.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", "),
        None => "—".into(),
    }
}

fn interval_text(c: &Value) -> String {
    match c["extent"]["temporal"]["interval"][0].as_array() {
        Some(i) => i
            .iter()
            .map(|t| t.as_str().unwrap_or("..").to_string())
            .collect::<Vec<_>>()
            .join(" / "),
        None => "—".into(),
    }
}

pub fn collections(site: &Site, doc: &Value, links: &Links) -> String {
    let mut rows = String::new();
    for c in doc["collections"].as_array().into_iter().flatten() {
        let id = c["id"].as_str().unwrap_or("");
        let _ = write!(
            rows,
            "<tr data-testid=\"collection\" data-id=\"{id_attr}\"><td><a href=\"{href}\">{title}</a></td><td><code>{id}</code></td>\
             <td>{desc}</td><td>{bbox}</td><td><a href=\"{items}?f=html\">HTML</a> · <a href=\"{items}\">GeoJSON</a></td></tr>",
            id_attr = esc(id),
            href = esc(&format!("{}?f=html", links.collection(id))),
            title = esc(c["title"].as_str().unwrap_or(id)),
            id = esc(id),
            desc = esc(c["description"].as_str().unwrap_or("")),
            bbox = esc(&bbox_text(c)),
            items = esc(&links.items(id)),
        );
    }
    let body = format!(
        "<h1>Collections</h1><p>Each export this caller may read is a collection of features. \
         Open them in QGIS (Layer › Add WFS / OGC API – Features layer, URL <code>{}</code>) or with GDAL \
         (<code>ogrinfo OAPIF:{}</code>).</p>\
         <table class=\"data\"><thead><tr><th>Title</th><th>Id</th><th>Description</th><th>Extent (CRS84)</th><th>Features</th></tr></thead>\
         <tbody>{rows}</tbody></table><section class=\"card\"><h2>Links</h2>{}</section>",
        esc(&links.ogc()),
        esc(&links.ogc()),
        links_list(&doc["links"])
    );
    page(site, "Collections", &body)
}

pub fn collection(site: &Site, c: &Value) -> String {
    let crs: Vec<String> = c["crs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| format!("<li><code>{}</code></li>", esc(v.as_str().unwrap_or(""))))
        .collect();
    let body = format!(
        "<h1>{title}</h1><p>{desc}</p><dl class=\"meta\"><dt>Id</dt><dd><code>{id}</code></dd>\
         <dt>Spatial extent (CRS84)</dt><dd data-testid=\"bbox\">{bbox}</dd><dt>Temporal extent</dt><dd>{interval}</dd>\
         <dt>Storage CRS</dt><dd><code>{storage}</code></dd><dt>CRS offered</dt><dd><ul>{crs}</ul></dd></dl>\
         <section class=\"card\"><h2>Links</h2>{links}</section>",
        title = esc(c["title"].as_str().unwrap_or("")),
        desc = esc(c["description"].as_str().unwrap_or("")),
        id = esc(c["id"].as_str().unwrap_or("")),
        bbox = esc(&bbox_text(c)),
        interval = esc(&interval_text(c)),
        storage = esc(c["storageCrs"].as_str().unwrap_or("—")),
        crs = crs.join(""),
        links = links_list(&c["links"]),
    );
    page(site, c["title"].as_str().unwrap_or("Collection"), &body)
}

/// A page of features as a table. `rows`: (feature id JSON, item URL, property JSON texts).
pub struct ItemsHtml<'a> {
    pub title: &'a str,
    pub names: &'a [String],
    pub rows: Vec<(String, String, Vec<Option<String>>)>,
    pub matched: Option<u64>,
    pub next_html: Option<String>,
    pub first_html: String,
    pub links: Value,
}

pub fn items(site: &Site, p: &ItemsHtml) -> String {
    let mut head = String::from("<th>id</th>");
    for n in p.names {
        let _ = write!(head, "<th>{}</th>", esc(n));
    }
    let mut rows = String::new();
    for (id, href, values) in &p.rows {
        let _ = write!(
            rows,
            "<tr data-testid=\"feature\"><td><a href=\"{}\">{}</a></td>",
            esc(&format!("{href}?f=html")),
            cell(Some(id))
        );
        for v in values {
            let _ = write!(rows, "<td>{}</td>", cell(v.as_deref()));
        }
        rows.push_str("</tr>");
    }
    let mut pager = format!("<a href=\"{}\">First page</a>", esc(&p.first_html));
    if let Some(next) = &p.next_html {
        let _ = write!(
            pager,
            " <a rel=\"next\" data-testid=\"next\" href=\"{}\">Next page</a>",
            esc(next)
        );
    }
    let body = format!(
        "<h1>{}</h1><p data-testid=\"counts\">{} features on this page{}.</p>\
         <div class=\"scroll\"><table class=\"data\"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>\
         <nav class=\"pager\">{pager}</nav><section class=\"card\"><h2>Links</h2>{}</section>",
        esc(p.title),
        p.rows.len(),
        p.matched.map(|m| format!(" of {m} matching")).unwrap_or_default(),
        links_list(&p.links)
    );
    page(site, p.title, &body)
}

pub fn item(
    site: &Site,
    title: &str,
    names: &[String],
    values: &[Option<String>],
    geometry: Option<&str>,
    links: &Value,
) -> String {
    let mut dl = String::new();
    for (n, v) in names.iter().zip(values) {
        let _ = write!(dl, "<dt>{}</dt><dd>{}</dd>", esc(n), cell(v.as_deref()));
    }
    let body = format!(
        "<h1>{}</h1><dl class=\"meta\" data-testid=\"properties\">{dl}</dl><h2>Geometry (GeoJSON)</h2><pre>{}</pre>\
         <section class=\"card\"><h2>Links</h2>{}</section>",
        esc(title),
        esc(geometry.unwrap_or("null")),
        links_list(links)
    );
    page(site, title, &body)
}

/// An error page (the status and what is wrong).
pub fn error(site: &Site, status: u16, message: &str) -> String {
    let body = format!(
        "<h1>{status} {}</h1><p class=\"notice error\" data-testid=\"error\">{}</p>",
        esc(gn_protocol::page::reason_phrase(status)),
        esc(message)
    );
    page(site, &format!("Error {status}"), &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_and_frames() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let site = Site {
            root: "/gn".into(),
            user: Some("<b>".into()),
            csrf: Some("t".into()),
            version: "0.2.0".into(),
        };
        let p = page(&site, "T<", "<p>x</p>");
        assert!(p.starts_with("<!DOCTYPE html>"));
        assert!(p.contains("<title>T&lt; · gn_flux</title>"));
        assert!(p.contains("&lt;b&gt;") && !p.contains("<b>"));
        assert!(p.contains("name=\"csrf\" value=\"t\""));
        assert!(p.contains("href=\"/gn/assets/style.css\""));
        let l = links_list(&json!([{"href": "http://h/?a=1&b=\"", "rel": "self", "type": "text/html", "title": "x"}]));
        assert!(l.contains("href=\"http://h/?a=1&amp;b=&quot;\""));
        assert_eq!(cell(Some("\"a<\"")), "a&lt;");
        assert_eq!(cell(Some("12.5")), "12.5");
        assert_eq!(cell(Some("null")), "");
        assert_eq!(cell(None), "");
    }
}
