//! OGC API – Features (Part 1: Core, GeoJSON, HTML, OpenAPI 3.0; Part 2: CRS by reference),
//! served under `<root>/ogc` next to the GeoNature routes, one collection per export.
//!
//! This module holds what does not need PostgreSQL: the routes, content negotiation, the
//! validation of `/items` parameters, absolute links, and the JSON of the landing page,
//! conformance, collections and collection. The SQL of a page and the feature writer are in
//! [`crate::features`], the OpenAPI document in [`crate::openapi`], HTML in [`crate::html`].
//!
//! Choices the standard leaves to the server:
//! - paging by an opaque keyset `cursor` (the last primary key of the page, base64url): a page
//!   costs the same at any depth, and `next` is an absolute link keeping every parameter;
//! - `limit`: default 10, maximum `gn_flux.api_max_page_size`; a larger value is clamped;
//! - `datetime` applies to `date_min`/`date_max` when the view has both (the observation's
//!   interval intersects the query's), else to the first date or timestamp column;
//! - CRS: CRS84 (default), EPSG:4326 (latitude first), EPSG:3857 and the export's own SRID.

use crate::error::ServeError;
use crate::http::{Method, Request};
use gn_protocol::filter_sql::ColumnInfo;
use gn_protocol::page::License;
use gn_protocol::query::ColumnKind;
use serde_json::{json, Value};

pub const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
pub const GEOJSON: &str = "application/geo+json";
pub const JSON: &str = "application/json";
pub const OPENAPI_JSON: &str = "application/vnd.oai.openapi+json;version=3.0";
pub const HTML: &str = "text/html; charset=utf-8";

pub const CONFORMANCE: [&str; 5] = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
];

/// Items per page when the caller gives no `limit`.
pub const DEFAULT_LIMIT: u64 = 10;

/// The OGC resources, by path under `<root>/ogc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OgcRoute {
    Landing,
    Conformance,
    /// The OpenAPI document (HTML: the interactive documentation).
    Api,
    Collections,
    Collection(String),
    Items(String),
    Item(String, String),
}

impl OgcRoute {
    /// `segments`: the path after `<root>/ogc`, split on `/` (empty for the landing page).
    pub fn parse(segments: &[&str]) -> Option<OgcRoute> {
        Some(match segments {
            [] | [""] => OgcRoute::Landing,
            ["conformance"] => OgcRoute::Conformance,
            ["api"] => OgcRoute::Api,
            ["collections"] | ["collections", ""] => OgcRoute::Collections,
            ["collections", id] => OgcRoute::Collection(id.to_string()),
            ["collections", id, "items"] => OgcRoute::Items(id.to_string()),
            ["collections", id, "items", fid] if !fid.is_empty() => OgcRoute::Item(id.to_string(), fid.to_string()),
            _ => return None,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            OgcRoute::Landing => "ogc_landing",
            OgcRoute::Conformance => "ogc_conformance",
            OgcRoute::Api => "ogc_api",
            OgcRoute::Collections => "ogc_collections",
            OgcRoute::Collection(_) => "ogc_collection",
            OgcRoute::Items(_) => "ogc_items",
            OgcRoute::Item(..) => "ogc_item",
        }
    }

    pub fn collection(&self) -> Option<&str> {
        match self {
            OgcRoute::Collection(c) | OgcRoute::Items(c) | OgcRoute::Item(c, _) => Some(c),
            _ => None,
        }
    }
}

/// The representation asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Html,
}

/// `f=json|geojson|html` first (what a link carries), else `Accept`: HTML only when the client
/// prefers it to JSON (a browser); GDAL and QGIS send JSON types, and no `Accept` or `*/*`
/// means JSON.
pub fn negotiate(req: &Request) -> Result<Format, ServeError> {
    if let Some(f) = req.query_value("f") {
        return match f {
            "json" | "geojson" => Ok(Format::Json),
            "html" => Ok(Format::Html),
            other => Err(ServeError::bad_request(format!(
                "unknown format f={other:?}: use json, geojson or html"
            ))),
        };
    }
    let Some(accept) = req.header("accept") else {
        return Ok(Format::Json);
    };
    let (mut json_q, mut html_q) = (0.0f32, 0.0f32);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|v| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let is_json = media == "*/*"
            || media == "application/*"
            || media == JSON
            || media == GEOJSON
            || media.starts_with("application/vnd.oai.openapi")
            || media.starts_with("application/openapi");
        let is_html = media == "text/html" || media == "application/xhtml+xml";
        if is_json {
            // (`*/*` counts for JSON, below an explicit HTML preference)
            let q = if media.contains('*') { q * 0.99 } else { q };
            json_q = json_q.max(q);
        }
        if is_html {
            html_q = html_q.max(q);
        }
    }
    Ok(if html_q > json_q { Format::Html } else { Format::Json })
}

/// The scheme and host links start with: `gn_flux.api_public_url` when set, else from the
/// request (`X-Forwarded-Proto`/`X-Forwarded-Host` of a proxy, then `Host`). A host with
/// characters no host name has is replaced by `localhost`.
pub fn base_url(req: &Request, public_url: Option<&str>) -> String {
    if let Some(u) = public_url.map(|u| u.trim_end_matches('/')).filter(|u| !u.is_empty()) {
        return u.to_string();
    }
    let first = |h: &str| {
        req.header(h)
            .map(|v| v.split(',').next().unwrap_or("").trim().to_string())
    };
    let proto = match first("x-forwarded-proto").as_deref() {
        Some("https") => "https",
        _ => "http",
    };
    let valid = |h: &String| {
        !h.is_empty()
            && h.len() <= 255
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_'))
    };
    let host = first("x-forwarded-host")
        .filter(valid)
        .or_else(|| first("host").filter(valid))
        .unwrap_or_else(|| "localhost".into());
    format!("{proto}://{host}")
}

/// Absolute URLs of the OGC resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    /// `http://host[:port]` + the API root (`/geonature`).
    pub site: String,
}

impl Links {
    pub fn new(base: &str, root: &str) -> Links {
        Links {
            site: format!("{base}{root}"),
        }
    }

    pub fn ogc(&self) -> String {
        format!("{}/ogc", self.site)
    }

    pub fn landing(&self) -> String {
        format!("{}/ogc/", self.site)
    }

    pub fn collections(&self) -> String {
        format!("{}/ogc/collections", self.site)
    }

    pub fn collection(&self, id: &str) -> String {
        format!("{}/{}", self.collections(), encode_segment(id))
    }

    pub fn items(&self, id: &str) -> String {
        format!("{}/items", self.collection(id))
    }

    pub fn item(&self, id: &str, fid: &str) -> String {
        format!("{}/{}", self.items(id), encode_segment(fid))
    }
}

/// Percent-encodes a path segment (RFC 3986 unreserved characters kept).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string from pairs (`application/x-www-form-urlencoded`).
pub fn encode_query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// `url` with `?query` when the query is not empty.
pub fn with_query(url: &str, query: &str) -> String {
    if query.is_empty() {
        url.to_string()
    } else {
        format!("{url}?{query}")
    }
}

/// A link object (`href`, `rel`, `type`, `title`).
pub fn link(href: impl Into<String>, rel: &str, media: &str, title: &str) -> Value {
    json!({"href": href.into(), "rel": rel, "type": media, "title": title})
}

/// `self` (this representation) and `alternate` (the other) links of a resource at `url`
/// whose JSON representation has type `json_type`.
pub fn self_links(url: &str, query: &str, format: Format, json_type: &str) -> Vec<Value> {
    let with_f = |f: &str| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != "f") {
            q.append_pair(&k, &v);
        }
        q.append_pair("f", f);
        with_query(url, &q.finish())
    };
    let json_link = |rel| link(with_f("json"), rel, json_type, "this document as JSON");
    let html_link = |rel| link(with_f("html"), rel, "text/html", "this document as HTML");
    match format {
        Format::Json => vec![json_link("self"), html_link("alternate")],
        Format::Html => vec![html_link("self"), json_link("alternate")],
    }
}

/// A coordinate reference system a collection offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crs {
    pub uri: String,
    pub srid: i32,
    /// Axis order north (or latitude) first: coordinates are swapped from PostGIS's x/y.
    pub north_first: bool,
}

impl Crs {
    pub fn crs84() -> Crs {
        Crs {
            uri: CRS84.into(),
            srid: 4326,
            north_first: false,
        }
    }

    pub fn epsg(srid: i32, north_first: bool) -> Crs {
        Crs {
            uri: epsg_uri(srid),
            srid,
            north_first,
        }
    }
}

/// Whether a CRS's first axis points north, from its `spatial_ref_sys.srtext` (WKT 1):
/// geographic CRSs (EPSG order is latitude first), and projected CRSs whose own first `AXIS`
/// (after the `PROJECTION`) is north, such as EPSG:3035.
pub fn north_first_from_wkt(wkt: &str) -> bool {
    let wkt = wkt.trim_start();
    if wkt.starts_with("GEOGCS") {
        return true;
    }
    if !wkt.starts_with("PROJCS") {
        return false;
    }
    let Some(p) = wkt.find("PROJECTION[") else { return false };
    match wkt[p..].find("AXIS[") {
        Some(a) => {
            let axis = &wkt[p + a..];
            let end = axis.find(']').unwrap_or(axis.len());
            axis[..end].contains("NORTH")
        }
        None => false,
    }
}

pub fn epsg_uri(srid: i32) -> String {
    format!("http://www.opengis.net/def/crs/EPSG/0/{srid}")
}

/// The temporal property `datetime` applies to.
#[derive(Debug, Clone, PartialEq)]
pub enum Temporal {
    /// An observation interval: `date_min`, `date_max`.
    Range {
        start: ColumnInfo,
        end: ColumnInfo,
    },
    Instant(ColumnInfo),
}

impl Temporal {
    pub fn of(columns: &[ColumnInfo]) -> Option<Temporal> {
        let temporal = |c: &&ColumnInfo| matches!(c.kind, ColumnKind::Date | ColumnKind::Timestamp);
        let named = |n: &str| columns.iter().filter(temporal).find(|c| c.name == n).cloned();
        if let (Some(start), Some(end)) = (named("date_min"), named("date_max")) {
            return Some(Temporal::Range { start, end });
        }
        columns.iter().find(temporal).cloned().map(Temporal::Instant)
    }

    pub fn describe(&self) -> String {
        match self {
            Temporal::Range { start, end } => format!("the interval {} … {}", start.name, end.name),
            Temporal::Instant(c) => format!("the column {}", c.name),
        }
    }
}

/// One collection: an export the caller may read.
#[derive(Debug, Clone, PartialEq)]
pub struct Collection {
    /// The export label's file stem (unique among exports).
    pub id: String,
    pub export_id: i32,
    /// The export's relation.
    pub schema: String,
    pub view: String,
    /// Schema-qualified prefix of PostGIS functions, e.g. `public.`.
    pub postgis: String,
    pub title: String,
    pub description: Option<String>,
    pub licence: License,
    pub public: bool,
    /// The primary key column (feature ids, keyset order).
    pub pk: ColumnInfo,
    /// Every column, in view order.
    pub columns: Vec<ColumnInfo>,
    /// The geometry column, its SRID (0: unknown) and whether that SRID is north first.
    pub geometry: Option<(String, i32, bool)>,
    /// `[minx, miny, maxx, maxy]` in CRS84.
    pub bbox: Option<[f64; 4]>,
    /// Temporal extent, RFC 3339 (None: open or no temporal property).
    pub interval: Option<(Option<String>, Option<String>)>,
}

impl Collection {
    pub fn temporal(&self) -> Option<Temporal> {
        Temporal::of(&self.columns)
    }

    /// The CRSs offered: CRS84 first (the default), EPSG:4326, the storage SRID, EPSG:3857.
    pub fn crs_list(&self) -> Vec<Crs> {
        let mut list = vec![Crs::crs84(), Crs::epsg(4326, true)];
        if let Some((_, srid, north_first)) = &self.geometry {
            if *srid > 0 && *srid != 4326 {
                list.push(Crs::epsg(*srid, *north_first));
            }
        }
        if !list.iter().any(|c| c.srid == 3857) {
            list.push(Crs::epsg(3857, false));
        }
        list
    }

    pub fn storage_crs(&self) -> Option<Crs> {
        match &self.geometry {
            Some((_, 4326, _)) => Some(Crs::epsg(4326, true)),
            Some((_, srid, north_first)) if *srid > 0 => Some(Crs::epsg(*srid, *north_first)),
            _ => None,
        }
    }

    /// Columns usable as `name=value` filters: simple properties.
    pub fn filterable(&self) -> impl Iterator<Item = &ColumnInfo> {
        self.columns
            .iter()
            .filter(|c| !matches!(c.kind, ColumnKind::Geometry | ColumnKind::Json))
    }

    /// The collection object of `/collections` and `/collections/{id}`.
    pub fn to_json(&self, links: &Links, format_links: Vec<Value>) -> Value {
        let mut extent = serde_json::Map::new();
        if let Some(b) = self.bbox {
            extent.insert("spatial".into(), json!({"bbox": [b], "crs": CRS84}));
        }
        if let Some((start, end)) = &self.interval {
            extent.insert(
                "temporal".into(),
                json!({"interval": [[start, end]], "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}),
            );
        }
        let items = links.items(&self.id);
        let mut all_links = format_links;
        all_links.extend([
            link(items.clone(), "items", GEOJSON, "the features (GeoJSON)"),
            link(
                with_query(&items, "f=html"),
                "items",
                "text/html",
                "the features (HTML)",
            ),
            link(self.licence.href.clone(), "license", "text/html", &self.licence.name),
        ]);
        let mut v = json!({
            "id": self.id,
            "title": self.title,
            "description": self.description.clone().unwrap_or_default(),
            "itemType": "feature",
            "crs": self.crs_list().into_iter().map(|c| c.uri).collect::<Vec<_>>(),
            "links": all_links,
        });
        if !extent.is_empty() {
            v["extent"] = Value::Object(extent);
        }
        if let Some(s) = self.storage_crs() {
            v["storageCrs"] = json!(s.uri);
        }
        v
    }
}

/// The landing page (JSON).
pub fn landing_json(links: &Links, title: &str, format_links: Vec<Value>) -> Value {
    let mut all = format_links;
    all.extend([
        link(
            format!("{}/api", links.ogc()),
            "service-desc",
            OPENAPI_JSON,
            "the API definition (OpenAPI 3.0)",
        ),
        link(
            format!("{}/api?f=html", links.ogc()),
            "service-doc",
            "text/html",
            "the API documentation",
        ),
        link(
            format!("{}/conformance", links.ogc()),
            "conformance",
            JSON,
            "conformance classes",
        ),
        link(links.collections(), "data", JSON, "the collections"),
    ]);
    json!({
        "title": title,
        "description": "GeoNature exports of this gn_flux node as OGC API – Features collections, \
                        readable in QGIS and GDAL (OAPIF). The GeoNature export API is served beside it.",
        "links": all,
    })
}

pub fn conformance_json() -> Value {
    json!({"conformsTo": CONFORMANCE})
}

/// OGC's exception body `{code, description}` (with the HTTP status as `code`).
pub fn exception_body(err: &ServeError) -> String {
    json!({"code": err.status.to_string(), "description": err.message}).to_string()
}

/// A `bbox`, in the order of its CRS's axes as received, then read as x/y.
#[derive(Debug, Clone, PartialEq)]
pub struct Bbox {
    /// `[minx, miny, maxx, maxy]` in PostGIS's x/y order (easting or longitude first).
    pub xy: [f64; 4],
    pub crs: Crs,
}

/// A `datetime` bound as PostgreSQL reads it (`2020-03-01` or an RFC 3339 instant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// A whole day: from its start, or up to its end.
    Day(chrono::NaiveDate),
    At(String),
}

/// `datetime`: both ends inclusive; `None` is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    pub start: Option<Bound>,
    pub end: Option<Bound>,
}

fn parse_bound(s: &str, what: &str) -> Result<Option<Bound>, ServeError> {
    let bad = || {
        ServeError::bad_request(format!(
            "datetime: {s:?} is not an RFC 3339 date-time ({what}): use e.g. 2020-03-01T10:00:00Z, 2020-03-01, or .. for an open end"
        ))
    };
    let s = s.trim();
    if s.is_empty() || s == ".." {
        return Ok(None);
    }
    // QGIS sends year 0000 and 9999 for open ends.
    if s.starts_with("0000-01-01") || s.starts_with("9999-12-31") {
        return Ok(None);
    }
    // GDAL sends a date-only literal as "2020-03-01T".
    let day = s.strip_suffix('T').unwrap_or(s);
    if day.len() == 10 {
        return chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .map(|d| Some(Bound::Day(d)))
            .map_err(|_| bad());
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| Some(Bound::At(t.to_rfc3339())))
        .or_else(|_| {
            // RFC 3339 requires an offset; a local time is read as UTC, as clients mean it.
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .map(|t| Some(Bound::At(format!("{}Z", t.format("%Y-%m-%dT%H:%M:%S%.f")))))
        })
        .map_err(|_| bad())
}

pub fn parse_datetime(s: &str) -> Result<Interval, ServeError> {
    match s.split_once('/') {
        Some((a, b)) => {
            let (start, end) = (parse_bound(a, "start")?, parse_bound(b, "end")?);
            if a.trim() == ".." && b.trim() == ".." {
                // (both open: every feature)
                return Ok(Interval { start: None, end: None });
            }
            Ok(Interval { start, end })
        }
        None => {
            let at = parse_bound(s, "instant")?
                .ok_or_else(|| ServeError::bad_request("datetime: an instant may not be open (..)"))?;
            Ok(Interval {
                start: Some(at.clone()),
                end: Some(at),
            })
        }
    }
}

/// Validated parameters of `/collections/{id}/items`.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemsQuery {
    pub limit: u64,
    pub bbox: Option<Bbox>,
    pub datetime: Option<Interval>,
    /// `name=value`: column, value (exact equality).
    pub properties: Vec<(ColumnInfo, String)>,
    /// The decoded cursor: the text of the last primary key of the previous page.
    pub after: Option<String>,
    pub crs: Crs,
    pub format: Format,
}

/// Parameters every OGC route accepts (besides those of `/items`): the format and an export
/// token (as in the GeoNature API).
pub const COMMON_PARAMS: [&str; 2] = ["f", "token"];
pub const ITEMS_PARAMS: [&str; 6] = ["limit", "bbox", "bbox-crs", "datetime", "crs", "cursor"];

/// Refuses a parameter a resource does not know (the standard's rule; declared vendor
/// parameters are `f`, `token` and, on items, `cursor`).
pub fn check_params(pairs: &[(String, String)], allowed: &[&str]) -> Result<(), ServeError> {
    for (k, _) in pairs {
        if !COMMON_PARAMS.contains(&k.as_str()) && !allowed.contains(&k.as_str()) {
            return Err(ServeError::bad_request(format!(
                "unknown query parameter {k:?}: this resource accepts {}",
                COMMON_PARAMS
                    .iter()
                    .chain(allowed)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}

fn find_crs(list: &[Crs], uri: &str, param: &str) -> Result<Crs, ServeError> {
    list.iter().find(|c| c.uri == uri.trim()).cloned().ok_or_else(|| {
        ServeError::bad_request(format!(
            "{param}: {uri:?} is not offered by this collection: use one of {}",
            list.iter().map(|c| c.uri.as_str()).collect::<Vec<_>>().join(", ")
        ))
    })
}

pub fn encode_cursor(last_pk: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last_pk.as_bytes())
}

pub fn decode_cursor(cursor: &str) -> Result<String, ServeError> {
    use base64::Engine;
    let bad = || ServeError::bad_request("cursor: not a cursor of this server (follow the next link as given)");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim().as_bytes())
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    if text.len() > 1000 {
        return Err(bad());
    }
    Ok(text)
}

/// Features an HTML page shows at most (it is built whole in memory, unlike the streamed GeoJSON).
pub const HTML_MAX_LIMIT: u64 = 1000;

pub fn items_query(
    pairs: &[(String, String)],
    c: &Collection,
    max_limit: u64,
    format: Format,
) -> Result<ItemsQuery, ServeError> {
    let max_limit = match format {
        Format::Html => max_limit.min(HTML_MAX_LIMIT),
        Format::Json => max_limit,
    };
    let crs_list = c.crs_list();
    let mut seen: Vec<&str> = Vec::new();
    let mut q = ItemsQuery {
        limit: DEFAULT_LIMIT.min(max_limit),
        bbox: None,
        datetime: None,
        properties: Vec::new(),
        after: None,
        crs: Crs::crs84(),
        format,
    };
    let mut bbox_text: Option<&str> = None;
    let mut bbox_crs = Crs::crs84();
    for (k, v) in pairs {
        let known = ITEMS_PARAMS.contains(&k.as_str()) || COMMON_PARAMS.contains(&k.as_str());
        let column = c.filterable().find(|col| &col.name == k);
        if seen.contains(&k.as_str()) {
            return Err(ServeError::bad_request(format!("parameter {k:?} is given twice")));
        }
        seen.push(k);
        match k.as_str() {
            "limit" => {
                let n: u64 = v.trim().parse().map_err(|_| {
                    ServeError::bad_request(format!("limit: {v:?} is not an integer between 1 and {max_limit}"))
                })?;
                if n < 1 {
                    return Err(ServeError::bad_request(format!(
                        "limit: {n} is below the minimum 1 (at most {max_limit})"
                    )));
                }
                // (above the maximum is not an error: the maximum is used)
                q.limit = n.min(max_limit);
            }
            "bbox" => bbox_text = Some(v),
            "bbox-crs" => bbox_crs = find_crs(&crs_list, v, "bbox-crs")?,
            "crs" => q.crs = find_crs(&crs_list, v, "crs")?,
            "datetime" => {
                if c.temporal().is_none() {
                    return Err(ServeError::bad_request(format!(
                        "datetime: collection {} has no date or timestamp property",
                        c.id
                    )));
                }
                q.datetime = Some(parse_datetime(v)?);
            }
            "cursor" => q.after = Some(decode_cursor(v)?),
            _ if known => {}
            _ => match column {
                Some(col) => q.properties.push((col.clone(), v.clone())),
                None => {
                    return Err(ServeError::bad_request(format!(
                        "unknown query parameter {k:?}: use limit, bbox, bbox-crs, datetime, crs, cursor, f, token \
                         or a property of collection {} ({})",
                        c.id,
                        c.filterable().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
                    )))
                }
            },
        }
    }
    if let Some(text) = bbox_text {
        q.bbox = Some(parse_bbox(text, bbox_crs)?);
    }
    Ok(q)
}

/// `minx,miny,maxx,maxy` (or 6 numbers, heights ignored) in the axis order of `crs`.
pub fn parse_bbox(text: &str, crs: Crs) -> Result<Bbox, ServeError> {
    let nums: Vec<f64> = text
        .split(',')
        .map(|s| s.trim().parse::<f64>().ok().filter(|f| f.is_finite()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ServeError::bad_request(format!("bbox: {text:?} is not a list of numbers")))?;
    let (a, b, c, d) = match nums.as_slice() {
        [a, b, c, d] => (*a, *b, *c, *d),
        [a, b, _, c, d, _] => (*a, *b, *c, *d),
        _ => {
            return Err(ServeError::bad_request(format!(
                "bbox: {} numbers; give 4 (minx,miny,maxx,maxy) or 6",
                nums.len()
            )))
        }
    };
    let xy = if crs.north_first { [b, a, d, c] } else { [a, b, c, d] };
    if crs.srid == 4326 {
        let lon_ok = |x: f64| (-180.0..=180.0).contains(&x);
        let lat_ok = |y: f64| (-90.0..=90.0).contains(&y);
        if !(lon_ok(xy[0]) && lon_ok(xy[2]) && lat_ok(xy[1]) && lat_ok(xy[3])) {
            return Err(ServeError::bad_request(format!(
                "bbox: {text:?} is out of range for {} (longitude −180…180, latitude −90…90{})",
                crs.uri,
                if crs.north_first { ", latitude first" } else { "" }
            )));
        }
    }
    if xy[1] > xy[3] {
        return Err(ServeError::bad_request(format!(
            "bbox: {text:?}: the lower {} is above the upper",
            if crs.srid == 4326 { "latitude" } else { "y" }
        )));
    }
    if xy[0] > xy[2] && crs.srid != 4326 {
        return Err(ServeError::bad_request(format!("bbox: {text:?}: minx is above maxx")));
    }
    Ok(Bbox { xy, crs })
}

/// Which of GET, HEAD, OPTIONS the OGC routes answer; others get 405.
pub fn check_method(method: &Method) -> Result<(), ServeError> {
    match method {
        Method::Get | Method::Head | Method::Options => Ok(()),
        _ => Err(ServeError::method_not_allowed("GET, HEAD, OPTIONS")),
    }
}

/// CORS headers of every OGC reply (the data is read without cookies cross-origin:
/// credentials are not allowed, so `*` exposes nothing a script could not fetch itself).
pub fn cors_headers() -> Vec<(String, String)> {
    vec![
        ("Access-Control-Allow-Origin".into(), "*".into()),
        ("Access-Control-Expose-Headers".into(), "Content-Crs, Link".into()),
    ]
}

/// The headers of a reply to an `OPTIONS` preflight.
pub fn preflight_headers() -> Vec<(String, String)> {
    let mut h = cors_headers();
    h.extend([
        ("Access-Control-Allow-Methods".into(), "GET, HEAD, OPTIONS".into()),
        (
            "Access-Control-Allow-Headers".into(),
            "Accept, Authorization, api-key, Content-Type".into(),
        ),
        ("Access-Control-Max-Age".into(), "600".into()),
        ("Allow".into(), "GET, HEAD, OPTIONS".into()),
    ]);
    h
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::http::{parse_request, Limits};

    fn req(target: &str, headers: &[(&str, &str)]) -> Request {
        let mut raw = format!("GET {target} HTTP/1.1\r\nHost: example.org:8080\r\n");
        for (k, v) in headers {
            raw.push_str(&format!("{k}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        parse_request(raw.as_bytes(), &Limits::default()).unwrap().unwrap().0
    }

    fn col(name: &str, kind: ColumnKind, sql_type: &str) -> ColumnInfo {
        ColumnInfo {
            name: name.into(),
            kind,
            sql_type: sql_type.into(),
        }
    }

    pub(crate) fn collection() -> Collection {
        Collection {
            id: "obs".into(),
            export_id: 3,
            schema: "gn".into(),
            view: "v obs".into(),
            postgis: "public.".into(),
            title: "Obs".into(),
            description: Some("d".into()),
            licence: License {
                name: "L".into(),
                href: "https://l".into(),
            },
            public: true,
            pk: col("id_synthese", ColumnKind::Integer, "integer"),
            columns: vec![
                col("id_synthese", ColumnKind::Integer, "integer"),
                col("nom_cite", ColumnKind::Text, "text"),
                col("date_min", ColumnKind::Timestamp, "timestamp without time zone"),
                col("date_max", ColumnKind::Timestamp, "timestamp without time zone"),
                col("extra", ColumnKind::Json, "jsonb"),
                col("geom", ColumnKind::Geometry, "geometry(Point,2154)"),
            ],
            geometry: Some(("geom".into(), 2154, false)),
            bbox: Some([-5.0, 42.0, 8.0, 51.0]),
            interval: Some((Some("2020-01-01T00:00:00Z".into()), None)),
        }
    }

    #[test]
    fn routes_and_negotiation() {
        assert_eq!(OgcRoute::parse(&[]), Some(OgcRoute::Landing));
        assert_eq!(
            OgcRoute::parse(&["collections", "a", "items", "7"]),
            Some(OgcRoute::Item("a".into(), "7".into()))
        );
        assert_eq!(OgcRoute::parse(&["collections", "a", "x"]), None);
        let f = |t: &str, h: &[(&str, &str)]| negotiate(&req(t, h)).unwrap();
        assert_eq!(f("/x", &[]), Format::Json);
        assert_eq!(f("/x?f=html", &[("Accept", "application/json")]), Format::Html);
        assert_eq!(
            f(
                "/x",
                &[(
                    "Accept",
                    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
                )]
            ),
            Format::Html
        );
        assert_eq!(
            f("/x", &[("Accept", "application/geo+json, application/json")]),
            Format::Json
        );
        assert_eq!(f("/x", &[("Accept", "*/*")]), Format::Json);
        assert_eq!(
            f("/x", &[("Accept", "text/html;q=0.5, application/json")]),
            Format::Json
        );
        assert_eq!(negotiate(&req("/x?f=xml", &[])).unwrap_err().status, 400);
    }

    #[test]
    fn absolute_links() {
        let r = req("/x", &[]);
        assert_eq!(base_url(&r, None), "http://example.org:8080");
        assert_eq!(base_url(&r, Some("https://gn.example/")), "https://gn.example");
        let r = req("/x", &[("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "a.b")]);
        assert_eq!(base_url(&r, None), "https://a.b");
        let r = req("/x", &[("X-Forwarded-Host", "a\"><script>")]);
        assert_eq!(base_url(&r, None), "http://example.org:8080");
        let l = Links::new("http://h", "/geonature");
        assert_eq!(
            l.item("a b", "S/1"),
            "http://h/geonature/ogc/collections/a%20b/items/S%2F1"
        );
        let links = self_links("http://h/x", "limit=5&f=json", Format::Json, GEOJSON);
        assert_eq!(links[0]["href"], "http://h/x?limit=5&f=json");
        assert_eq!(links[1]["href"], "http://h/x?limit=5&f=html");
        assert_eq!(links[1]["rel"], "alternate");
    }

    #[test]
    fn items_parameters() {
        let c = collection();
        let p = |q: &str| {
            let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            items_query(&pairs, &c, 1000, Format::Json)
        };
        assert_eq!(p("").unwrap().limit, 10);
        assert_eq!(p("limit=5000").unwrap().limit, 1000, "clamped, not refused");
        let pairs = [("limit".to_string(), "100000".to_string())];
        assert_eq!(items_query(&pairs, &c, 1_000_000, Format::Json).unwrap().limit, 100_000);
        assert_eq!(
            items_query(&pairs, &c, 1_000_000, Format::Html).unwrap().limit,
            HTML_MAX_LIMIT,
            "HTML pages are bounded"
        );
        for bad in [
            "limit=0",
            "limit=abc",
            "bbox=1,2,3",
            "bbox=a,b,c,d",
            "bbox=0,91,1,92",
            "nope=1",
            "extra=1",
            "geom=1",
            "crs=EPSG:2154",
            "cursor=***",
            "datetime=yesterday",
            "limit=1&limit=2",
        ] {
            assert_eq!(p(bad).unwrap_err().status, 400, "{bad}");
        }
        let q = p("bbox=42.0499999999999972,-4.5,42.3500000000000014,-4.29999999999999982&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4326&nom_cite=Lynx&crs=http://www.opengis.net/def/crs/EPSG/0/2154&f=json&token=x").unwrap();
        let b = q.bbox.unwrap();
        let parsed: Vec<f64> = [
            "-4.5",
            "42.0499999999999972",
            "-4.29999999999999982",
            "42.3500000000000014",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        assert_eq!(b.xy.to_vec(), parsed);
        assert_eq!(q.crs.srid, 2154);
        assert_eq!(q.properties[0].0.name, "nom_cite");
        assert_eq!(
            p(&format!("cursor={}", encode_cursor("1000")))
                .unwrap()
                .after
                .as_deref(),
            Some("1000")
        );
        assert_eq!(
            p("bbox=170,-10,-170,10").unwrap().bbox.unwrap().xy[0],
            170.0,
            "antimeridian"
        );
    }

    #[test]
    fn axis_order_from_wkt() {
        assert!(north_first_from_wkt(
            "GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\"],AXIS[\"Latitude\",NORTH],AXIS[\"Longitude\",EAST]]"
        ));
        let lambert = "PROJCS[\"RGF93 v1 / Lambert-93\",GEOGCS[\"RGF93 v1\",AXIS[\"Latitude\",NORTH]],PROJECTION[\"Lambert_Conformal_Conic_2SP\"],\
                       UNIT[\"metre\",1],AXIS[\"Easting\",EAST],AXIS[\"Northing\",NORTH]]";
        assert!(!north_first_from_wkt(lambert));
        let laea =
            "PROJCS[\"ETRS89-extended / LAEA Europe\",GEOGCS[\"ETRS89\"],PROJECTION[\"Lambert_Azimuthal_Equal_Area\"],\
                    AXIS[\"Northing\",NORTH],AXIS[\"Easting\",EAST]]";
        assert!(north_first_from_wkt(laea));
        assert!(!north_first_from_wkt("PROJCS[\"x\",PROJECTION[\"Mercator_1SP\"]]"));
    }

    #[test]
    fn datetimes() {
        let day = |s: &str| Bound::Day(chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap());
        let i = parse_datetime("2020-03-01T").unwrap();
        assert_eq!((i.start, i.end), (Some(day("2020-03-01")), Some(day("2020-03-01"))));
        let i = parse_datetime("2020-03-01/2020-03-05").unwrap();
        assert_eq!((i.start, i.end), (Some(day("2020-03-01")), Some(day("2020-03-05"))));
        let i = parse_datetime("0000-01-01T00:00:00Z/2020-02-01T10:00:00Z").unwrap();
        assert_eq!(i.start, None);
        assert_eq!(i.end, Some(Bound::At("2020-02-01T10:00:00+00:00".into())));
        for open in ["../2020-01-01", "/2020-01-01", "2020-01-01/..", "2020-01-01/", "../.."] {
            assert!(parse_datetime(open).is_ok(), "{open}");
        }
        assert!(parse_datetime("..").is_err());
        assert!(parse_datetime("2020-13-01").is_err());
        assert!(parse_datetime("2020-01-01T10:00:00+01:00").is_ok());
    }

    #[test]
    fn collection_json_and_crs() {
        let c = collection();
        let l = Links::new("http://h", "/gn");
        let v = c.to_json(&l, self_links(&l.collection("obs"), "", Format::Json, JSON));
        assert_eq!(v["id"], "obs");
        assert_eq!(v["storageCrs"], epsg_uri(2154));
        assert_eq!(v["crs"][0], CRS84);
        assert_eq!(v["extent"]["spatial"]["bbox"][0][0], -5.0);
        let items: Vec<&Value> = v["links"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["rel"] == "items")
            .collect();
        assert_eq!(items[0]["type"], GEOJSON);
        assert_eq!(items[0]["href"], "http://h/gn/ogc/collections/obs/items");
        assert!(matches!(c.temporal(), Some(Temporal::Range { .. })));
        let landing = landing_json(&l, "t", vec![]);
        let rels: Vec<&str> = landing["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["rel"].as_str().unwrap())
            .collect();
        assert_eq!(rels, ["service-desc", "service-doc", "conformance", "data"]);
        assert_eq!(
            exception_body(&ServeError::bad_request("x")),
            r#"{"code":"400","description":"x"}"#
        );
    }
}
