//! Sources of other kinds than a GeoNature export ("feeds"): a WFS 2.0 layer, an OGC API –
//! Features collection, a generic paginated JSON API, GBIF's occurrence search. Each is walked
//! page by page into the same prepared pages as an export, so the extension stores them in
//! `data_json` with the same run log, retries, cancel, lock and atomicity.
//!
//! - [`FeedOptions`]: the `options` of a source of that kind, checked once here (the one home of
//!   each option: the validation trigger and the pull both read it through [`FeedOptions::parse`]).
//! - [`FeedWalk`]: the paging of each kind, with its exactness checks: no page is requested twice
//!   (every page URL of a walk is remembered), none is skipped (the server's count is read before
//!   and after the walk and compared with the distinct keys received; a walk that saw the count
//!   change or a key twice is walked again, at most `max_walk_passes` times, and is reported
//!   incomplete otherwise, so that no stored row is deleted on its evidence).
//! - [`prepare_feed_item`]: one raw item → its key, uuid (given, or derived from the source and
//!   the key: a name-based UUID), item JSON, geometry (hex EWKB in the feed's SRID; the database
//!   reprojects it to 4326) and modification date.
//!
//! Every loop is bounded: a page must bring new items to continue, offsets advance by what was
//! received, cursors and links must change, and the number of pages is capped.

use crate::definition::DefinitionError;
use crate::error::redact_url;
use crate::session::Session;
use crate::ClientError;
use chrono::NaiveDateTime;
use serde_json::{Map, Value};
use std::collections::HashSet;

/// GBIF refuses `offset + limit` beyond this: larger queries are split (by `lastInterpreted`).
pub const GBIF_OFFSET_CAP: u64 = 100_000;
/// GBIF's largest page.
pub const GBIF_PAGE_MAX: u64 = 300;
/// Pages of one walk pass, at most (a server that never ends a walk is stopped).
pub const MAX_PAGES: u64 = 1_000_000;
/// Sub-queries of one GBIF split, at most.
const GBIF_MAX_PARTS: usize = 10_000;

/// The kinds of source.
pub const KINDS: [&str; 6] = ["geonature", "wfs", "ogcapi", "json", "gbif", "post"];

/// Rows one API POST request may carry, by default and at most.
pub const POST_MAX_ITEMS_DEFAULT: usize = 10_000;
pub const POST_MAX_ITEMS: usize = 100_000;

fn invalid(message: impl Into<String>, hint: impl Into<String>) -> DefinitionError {
    DefinitionError {
        message: message.into(),
        hint: hint.into(),
    }
}

/// Where a value is in an item: a property name, or a JSON pointer (`/a/b/0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    fn parse(what: &str, v: &Value) -> Result<Path, DefinitionError> {
        match v.as_str() {
            Some(s) if !s.trim().is_empty() && s.len() <= 200 => Ok(Path(s.trim().to_string())),
            _ => Err(invalid(
                format!("options.{what} must be a property name or a JSON pointer"),
                format!("e.g. \"{what}\": \"id\" or \"{what}\": \"/properties/id\"."),
            )),
        }
    }

    /// The value at this path in `v` (a name looks in `v` itself).
    pub fn get<'a>(&self, v: &'a Value) -> Option<&'a Value> {
        if self.0.starts_with('/') {
            v.pointer(&self.0)
        } else {
            v.get(&self.0)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where the items are in a reply: a JSON pointer (`""` = the reply is the array).
fn pointer(what: &str, v: &Value) -> Result<String, DefinitionError> {
    match v.as_str() {
        Some(s) if s.is_empty() || s.starts_with('/') => Ok(s.to_string()),
        _ => Err(invalid(
            format!("options.{what} must be a JSON pointer (\"\" for the reply itself, else starting with /)"),
            format!("e.g. \"{what}\": \"/items\"."),
        )),
    }
}

/// The JSON API paging styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonPaging {
    /// `page=K&limit=L`, K from `first_page`.
    Page,
    /// `offset=O&limit=L`, O advancing by the items received.
    Offset,
    /// `cursor=C` taken from each reply.
    Cursor,
    /// A `next` link in each reply.
    Next,
    /// One request.
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WfsOptions {
    pub typename: String,
    pub version: String,
    /// `geojson` or `gml` (GML 3.2).
    pub output: String,
    /// The OUTPUTFORMAT value sent for GeoJSON.
    pub geojson_format: String,
    /// SORTBY attribute (a stable total order is needed to page).
    pub sort: String,
    pub bbox: Option<[f64; 4]>,
    /// The geometry property the bbox applies to (default: the layer's default geometry).
    pub geometry_name: Option<String>,
    /// Equality filters on attributes.
    pub filter: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OgcOptions {
    pub collection: String,
    pub bbox: Option<[f64; 4]>,
    pub datetime: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JsonOptions {
    pub paging: JsonPaging,
    pub items: String,
    pub page_param: String,
    pub first_page: i64,
    pub limit_param: Option<String>,
    pub offset_param: String,
    pub cursor_param: String,
    pub cursor: String,
    pub next: String,
    pub total: Option<String>,
    /// Query parameter receiving the start of an update window.
    pub modified_param: Option<String>,
    /// Ends a page-numbered or offset walk on a page shorter than asked (only for servers known
    /// not to cap pages: a capped page looks short).
    pub stop_on_short_page: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum KindOptions {
    Wfs(WfsOptions),
    OgcApi(OgcOptions),
    Json(JsonOptions),
    Gbif,
    /// An intake: observations posted to the API workers, not pulled.
    Post {
        /// Members of this role may post.
        role: String,
        max_items: usize,
    },
}

/// The checked options of a source of another kind than `geonature`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedOptions {
    pub kind: KindOptions,
    /// The item's key (stable across pulls): a property name or a JSON pointer; `None` = the
    /// feature's `id` (WFS, OGC API) or GBIF's `key`.
    pub id: Option<Path>,
    /// The item's uuid, when it has one; else one is derived from the source and the key.
    pub uuid: Option<Path>,
    /// The modification date (watermark of update pulls).
    pub modified: Option<Path>,
    /// A GeoJSON geometry in the item (JSON APIs), or longitude/latitude paths.
    pub geometry: Option<Path>,
    pub lon_lat: Option<(Path, Path)>,
    /// SRID of the coordinates received.
    pub srid: i32,
    /// `srid` was given (else a WFS source reads its layer's default CRS).
    pub srid_given: bool,
    /// Header carrying the source's token (API key).
    pub api_key_header: Option<String>,
}

const COMMON: [&str; 7] = [
    "id",
    "uuid",
    "modified",
    "srid",
    "api_key_header",
    "geometry",
    "lon_lat",
];

fn allowed(kind: &str, obj: &Map<String, Value>, own: &[&str]) -> Result<(), DefinitionError> {
    for k in obj.keys() {
        if !COMMON.contains(&k.as_str()) && !own.contains(&k.as_str()) {
            let mut all: Vec<&str> = COMMON.iter().chain(own.iter()).copied().collect();
            all.sort_unstable();
            return Err(invalid(
                format!("unknown option \"{k}\" for a source of kind {kind}"),
                format!("Options of kind {kind}: {}.", all.join(", ")),
            ));
        }
    }
    Ok(())
}

fn text(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, DefinitionError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 500 => Ok(Some(s.trim().to_string())),
        Some(_) => Err(invalid(
            format!("options.{key} must be a non-empty string"),
            format!("Give \"{key}\" as a JSON string."),
        )),
    }
}

/// A required string option, with what to give when it is missing.
fn required_text(obj: &Map<String, Value>, key: &str, message: &str, hint: &str) -> Result<String, DefinitionError> {
    text(obj, key)?.ok_or_else(|| invalid(message, hint))
}

fn bbox(obj: &Map<String, Value>) -> Result<Option<[f64; 4]>, DefinitionError> {
    let Some(v) = obj.get("bbox") else { return Ok(None) };
    let hint = "Give \"bbox\": [minx, miny, maxx, maxy] in the source's coordinates (options.srid).";
    let nums: Vec<f64> = v
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    if nums.len() != 4 || v.as_array().map(Vec::len) != Some(4) || !nums.iter().all(|n| n.is_finite()) {
        return Err(invalid("options.bbox must be an array of 4 numbers", hint));
    }
    if nums[0] > nums[2] || nums[1] > nums[3] {
        return Err(invalid("options.bbox: minimum above maximum", hint));
    }
    Ok(Some([nums[0], nums[1], nums[2], nums[3]]))
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A plain name for a WFS attribute or a query parameter (no XML or URL syntax in it).
fn check_name(what: &str, s: &str) -> Result<(), DefinitionError> {
    let ok = !s.is_empty()
        && s.len() <= 200
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ':' | '.'));
    if ok {
        return Ok(());
    }
    Err(invalid(
        format!("invalid {what} \"{s}\""),
        "Use letters, digits, '_', '-', ':' or '.' only.",
    ))
}

impl FeedOptions {
    /// Checks the options of a source of `kind` (not `geonature`).
    pub fn parse(kind: &str, options: &Value) -> Result<FeedOptions, DefinitionError> {
        let empty = Map::new();
        let obj = match options {
            Value::Object(o) => o,
            Value::Null => &empty,
            _ => {
                return Err(invalid(
                    "options must be a JSON object",
                    "e.g. options => '{\"typename\": \"ms:observations\"}'.",
                ))
            }
        };
        let path = |k: &str| {
            obj.get(k)
                .filter(|v| !v.is_null())
                .map(|v| Path::parse(k, v))
                .transpose()
        };
        let srid = match obj.get("srid") {
            None | Some(Value::Null) => 4326,
            Some(v) => match v.as_i64() {
                Some(n) if (1..=998_999).contains(&n) => n as i32,
                _ => {
                    return Err(invalid(
                        "options.srid must be an SRID (a positive integer)",
                        "e.g. \"srid\": 2154 for Lambert-93; the database reprojects to EPSG:4326 when staging.",
                    ))
                }
            },
        };
        let lon_lat = match obj.get("lon_lat") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) if a.len() == 2 => {
                Some((Path::parse("lon_lat", &a[0])?, Path::parse("lon_lat", &a[1])?))
            }
            Some(_) => {
                return Err(invalid(
                    "options.lon_lat must be an array of two paths",
                    "e.g. \"lon_lat\": [\"decimalLongitude\", \"decimalLatitude\"].",
                ))
            }
        };
        let api_key_header = text(obj, "api_key_header")?;
        if let Some(h) = &api_key_header {
            check_name("api_key_header", h)?;
        }
        let kind_options = match kind {
            "wfs" => {
                allowed(
                    kind,
                    obj,
                    &[
                        "typename",
                        "version",
                        "output",
                        "geojson_format",
                        "sort",
                        "bbox",
                        "filter",
                        "geometry_name",
                    ],
                )?;
                let typename = required_text(obj, "typename", "a wfs source needs options.typename", "Give the layer's type name as the server's GetCapabilities lists it, e.g. '{\"typename\": \"ms:observations\", \"sort\": \"id\"}'.")?;
                check_name("typename", &typename)?;
                let output = text(obj, "output")?.unwrap_or_else(|| "geojson".into());
                if !matches!(output.as_str(), "geojson" | "gml") {
                    return Err(invalid(
                        format!("unknown options.output \"{output}\""),
                        "Use geojson (default) or gml (GML 3.2).",
                    ));
                }
                let id_attr = match obj.get("id").and_then(Value::as_str) {
                    Some(s) if !s.starts_with('/') => Some(s.to_string()),
                    _ => None,
                };
                let sort = text(obj, "sort")?.or(id_attr).ok_or_else(|| {
                    invalid(
                        "a wfs source needs options.sort (or options.id naming an attribute)",
                        "Paging needs a stable order: name a unique attribute, e.g. \"sort\": \"id\".",
                    )
                })?;
                check_name("sort", &sort)?;
                let mut filter = Vec::new();
                if let Some(f) = obj.get("filter") {
                    let Some(f) = f.as_object() else {
                        return Err(invalid(
                            "options.filter must be an object of attribute: value",
                            "e.g. \"filter\": {\"commune\": \"Gap\"} (equality, combined with AND).",
                        ));
                    };
                    for (k, v) in f {
                        check_name("filter attribute", k)?;
                        let t = scalar_text(v).ok_or_else(|| {
                            invalid(
                                format!("options.filter.{k} must be a string, number or boolean"),
                                "Equality filters take scalar values.",
                            )
                        })?;
                        filter.push((k.clone(), t));
                    }
                }
                let version = text(obj, "version")?.unwrap_or_else(|| "2.0.0".into());
                if !version.starts_with("2.") {
                    return Err(invalid(
                        format!("WFS version {version} is not supported"),
                        "gn_flux speaks WFS 2.0 (startIndex paging); use \"version\": \"2.0.0\".",
                    ));
                }
                KindOptions::Wfs(WfsOptions {
                    typename,
                    version,
                    output,
                    geojson_format: text(obj, "geojson_format")?.unwrap_or_else(|| "geojson".into()),
                    sort,
                    bbox: bbox(obj)?,
                    geometry_name: match text(obj, "geometry_name")? {
                        Some(g) => {
                            check_name("geometry_name", &g)?;
                            Some(g)
                        }
                        None => None,
                    },
                    filter,
                })
            }
            "ogcapi" => {
                allowed(kind, obj, &["collection", "bbox", "datetime"])?;
                let collection = required_text(obj, "collection", "an ogcapi source needs options.collection", "Give the collection id, e.g. '{\"collection\": \"observations\"}'; the url is the API's landing page.")?;
                check_name("collection", &collection)?;
                KindOptions::OgcApi(OgcOptions {
                    collection,
                    bbox: bbox(obj)?,
                    datetime: text(obj, "datetime")?,
                })
            }
            "json" => {
                allowed(
                    kind,
                    obj,
                    &[
                        "paging",
                        "items",
                        "page_param",
                        "first_page",
                        "limit_param",
                        "offset_param",
                        "cursor_param",
                        "cursor",
                        "next",
                        "total",
                        "modified_param",
                        "stop_on_short_page",
                    ],
                )?;
                let paging = match text(obj, "paging")?.as_deref() {
                    Some("page") => JsonPaging::Page,
                    Some("offset") => JsonPaging::Offset,
                    Some("cursor") => JsonPaging::Cursor,
                    Some("next") => JsonPaging::Next,
                    Some("none") => JsonPaging::None,
                    other => {
                        return Err(invalid(
                            match other {
                                Some(o) => format!("unknown options.paging \"{o}\""),
                                None => "a json source needs options.paging".into(),
                            },
                            "Use page (page=K&limit=L), offset (offset=O&limit=L), cursor (a cursor read from each reply), next (a next link in each reply) or none.",
                        ))
                    }
                };
                let items = match obj.get("items") {
                    None => {
                        return Err(invalid(
                            "a json source needs options.items",
                            "Say where the items are in a reply as a JSON pointer, e.g. \"items\": \"/results\" (\"\" when the reply is the array).",
                        ))
                    }
                    Some(v) => pointer("items", v)?,
                };
                let name_opt = |k: &str, default: &str| -> Result<String, DefinitionError> {
                    let v = text(obj, k)?.unwrap_or_else(|| default.to_string());
                    check_name(k, &v)?;
                    Ok(v)
                };
                let first_page = match obj.get("first_page") {
                    None | Some(Value::Null) => 1,
                    Some(v) => v
                        .as_i64()
                        .filter(|n| (0..=1).contains(n))
                        .ok_or_else(|| invalid("options.first_page must be 0 or 1", "The number of the first page."))?,
                };
                let limit_param = match obj.get("limit_param") {
                    Some(Value::Null) => None,
                    _ => Some(name_opt("limit_param", "limit")?),
                };
                let opt_pointer = |k: &str, default: &str| -> Result<String, DefinitionError> {
                    obj.get(k)
                        .map(|v| pointer(k, v))
                        .transpose()
                        .map(|v| v.unwrap_or_else(|| default.to_string()))
                };
                let modified_param = text(obj, "modified_param")?;
                if let Some(m) = &modified_param {
                    check_name("modified_param", m)?;
                }
                KindOptions::Json(JsonOptions {
                    paging,
                    items,
                    page_param: name_opt("page_param", "page")?,
                    first_page,
                    limit_param,
                    offset_param: name_opt("offset_param", "offset")?,
                    cursor_param: name_opt("cursor_param", "cursor")?,
                    cursor: opt_pointer("cursor", "/next_cursor")?,
                    next: opt_pointer("next", "/links/next")?,
                    total: obj.get("total").map(|v| pointer("total", v)).transpose()?,
                    modified_param,
                    stop_on_short_page: obj.get("stop_on_short_page").and_then(Value::as_bool).unwrap_or(false),
                })
            }
            "gbif" => {
                allowed(kind, obj, &[])?;
                KindOptions::Gbif
            }
            "post" => {
                allowed(kind, obj, &["role", "max_items"])?;
                let role = required_text(obj, "role", "an intake (kind post) needs options.role", "Name the role whose members may post into it, e.g. '{\"role\": \"gn_flux_writers\"}' (GRANT gn_flux_writers TO app_role).")?;
                check_name("role", &role)?;
                let max_items = match obj.get("max_items") {
                    None | Some(Value::Null) => POST_MAX_ITEMS_DEFAULT,
                    Some(v) => v
                        .as_u64()
                        .filter(|n| (1..=POST_MAX_ITEMS as u64).contains(n))
                        .ok_or_else(|| {
                            invalid(
                                format!("options.max_items must be between 1 and {POST_MAX_ITEMS}"),
                                "The most observations one request may carry.",
                            )
                        })? as usize,
                };
                KindOptions::Post { role, max_items }
            }
            other => {
                return Err(invalid(
                    format!("unknown kind \"{other}\""),
                    format!("Use one of: {}.", KINDS.join(", ")),
                ))
            }
        };
        if matches!(kind_options, KindOptions::Json(_)) && path("id")?.is_none() {
            return Err(invalid(
                "a json source needs options.id",
                "Name the item's stable key, e.g. \"id\": \"id\" (it identifies the item across pulls).",
            ));
        }
        let post = matches!(kind_options, KindOptions::Post { .. });
        let (default_modified, default_lon_lat) = match kind_options {
            KindOptions::Gbif => (
                Some(Path("lastInterpreted".into())),
                Some((Path("decimalLongitude".into()), Path("decimalLatitude".into()))),
            ),
            _ => (None, None),
        };
        // (an intake's rows are keyed by their uuid: posting one again updates it)
        let uuid = path("uuid")?.or_else(|| post.then(|| Path("uuid".into())));
        let id = path("id")?.or_else(|| if post { uuid.clone() } else { None });
        Ok(FeedOptions {
            kind: kind_options,
            id,
            uuid,
            modified: path("modified")?.or(default_modified),
            geometry: path("geometry")?,
            lon_lat: lon_lat.or(default_lon_lat),
            srid,
            srid_given: obj.get("srid").is_some_and(|v| !v.is_null()),
            api_key_header,
        })
    }

    /// How the source pages, for the run log.
    pub fn paging_name(&self) -> &'static str {
        match &self.kind {
            KindOptions::Wfs(_) => "startindex",
            KindOptions::OgcApi(_) => "next",
            KindOptions::Gbif => "offset",
            KindOptions::Post { .. } => "post",
            KindOptions::Json(j) => match j.paging {
                JsonPaging::Page => "page",
                JsonPaging::Offset => "offset",
                JsonPaging::Cursor => "cursor",
                JsonPaging::Next => "next",
                JsonPaging::None => "none",
            },
        }
    }

    /// Whether update pulls read only what changed (else an update walks everything again,
    /// without deleting anything).
    pub fn incremental(&self) -> bool {
        match &self.kind {
            KindOptions::Wfs(_) => self.modified.as_ref().is_some_and(|p| !p.0.starts_with('/')),
            KindOptions::OgcApi(_) => false,
            KindOptions::Json(j) => j.modified_param.is_some(),
            KindOptions::Gbif => true,
            KindOptions::Post { .. } => false,
        }
    }
}

// ----- items -------------------------------------------------------------------------------

/// One feed item, prepared for staging.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedItem {
    pub key: Option<String>,
    pub uuid: Option<String>,
    pub item: Value,
    /// Hex EWKB in the feed's SRID.
    pub geom: Option<String>,
    pub modified: Option<NaiveDateTime>,
    pub error: Option<String>,
}

/// A name-based (version 3, MD5) UUID of `name` in gn_flux's namespace: the uuid of an item
/// that has none, the same at every pull.
pub fn name_uuid(name: &str) -> String {
    use md5::{Digest, Md5};
    // gn_flux's namespace (a random UUID fixed once)
    const NAMESPACE: [u8; 16] = [
        0x6b, 0x1f, 0x3c, 0x52, 0x9d, 0x04, 0x4e, 0x8a, 0xb1, 0x7e, 0x2d, 0x55, 0xc0, 0x93, 0x4f, 0x1a,
    ];
    let mut h = Md5::new();
    h.update(NAMESPACE);
    h.update(name.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h.finalize());
    b[6] = (b[6] & 0x0f) | 0x30;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    gn_protocol::value::normalize_uuid(&hex).unwrap_or(hex)
}

/// A uuid as an item gives it (GeoNature's grammar, `gn_protocol::value::normalize_uuid`, also
/// behind a `urn:uuid:` prefix), lower-case hyphenated.
fn canonical_uuid(s: &str) -> Option<String> {
    let t = s.trim();
    let t = match t.get(..9) {
        Some(p) if p.eq_ignore_ascii_case("urn:uuid:") => &t[9..],
        _ => t,
    };
    gn_protocol::value::normalize_uuid(t)
}

/// Prepares one raw item of a feed. `feature`: a GeoJSON feature (WFS, OGC API), whose
/// properties become the item (with the feature's `id` added when the properties have none).
pub fn prepare_feed_item(source: &str, opts: &FeedOptions, raw: Value, feature: bool) -> FeedItem {
    let mut error = None;
    let (item, geometry, feature_id) = if feature {
        match raw {
            Value::Object(mut f) => {
                let geometry = f.remove("geometry").filter(|g| !g.is_null());
                let id = f.remove("id");
                let mut props = match f.remove("properties") {
                    Some(Value::Object(p)) => p,
                    _ => Map::new(),
                };
                if let Some(id) = &id {
                    props.entry("id").or_insert_with(|| id.clone());
                }
                (Value::Object(props), geometry, id)
            }
            other => {
                return FeedItem {
                    key: None,
                    uuid: None,
                    item: other,
                    geom: None,
                    modified: None,
                    error: Some("a feature must be a JSON object".into()),
                }
            }
        }
    } else {
        let geometry = opts
            .geometry
            .as_ref()
            .and_then(|p| p.get(&raw))
            .filter(|g| !g.is_null())
            .cloned();
        (raw, geometry, None)
    };
    let key = match &opts.id {
        Some(p) => p.get(&item).and_then(scalar_text),
        None => match &opts.kind {
            KindOptions::Gbif => item.get("key").and_then(scalar_text),
            _ => feature_id.as_ref().and_then(scalar_text),
        },
    };
    let key = key.filter(|k| !k.is_empty() && k.len() <= 1000);
    if key.is_none() {
        error = Some(match &opts.id {
            Some(p) => format!("no key: the item has no scalar value at \"{}\" (options.id)", p.0),
            None => "no key: the item has no id".into(),
        });
    }
    let uuid = match (&opts.uuid, &key) {
        (Some(p), _) => match p.get(&item).and_then(Value::as_str) {
            Some(s) => match canonical_uuid(s) {
                Some(u) => Some(u),
                None => {
                    error.get_or_insert_with(|| format!("\"{s}\" at \"{}\" (options.uuid) is not a uuid", p.0));
                    None
                }
            },
            None if matches!(opts.kind, KindOptions::Post { .. }) => {
                error.get_or_insert_with(|| format!("no uuid at \"{}\" (every observation posted needs one)", p.0));
                None
            }
            None => key.as_ref().map(|k| name_uuid(&format!("{source}/{k}"))),
        },
        (None, Some(k)) => Some(name_uuid(&format!("{source}/{k}"))),
        (None, None) => None,
    };
    let geom = match geometry {
        Some(g) => match crate::prepare::geojson_to_ewkb_hex_srid(&g, opts.srid) {
            Ok(h) => Some(h),
            Err(e) => {
                error.get_or_insert_with(|| format!("invalid geometry: {e}"));
                None
            }
        },
        None => match &opts.lon_lat {
            Some((lon, lat)) => match (
                lon.get(&item).and_then(Value::as_f64),
                lat.get(&item).and_then(Value::as_f64),
            ) {
                (Some(x), Some(y)) => {
                    let point = serde_json::json!({"type": "Point", "coordinates": [x, y]});
                    crate::prepare::geojson_to_ewkb_hex_srid(&point, opts.srid).ok()
                }
                _ => None,
            },
            None => None,
        },
    };
    let modified = opts
        .modified
        .as_ref()
        .and_then(|p| p.get(&item))
        .and_then(Value::as_str)
        .and_then(gn_protocol::time::parse_timestamp);
    FeedItem {
        key,
        uuid,
        item,
        geom,
        modified,
        error,
    }
}

// ----- walks -------------------------------------------------------------------------------

/// One page of a feed as received.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedPage {
    pub items: Vec<Value>,
    /// The items are GeoJSON features.
    pub features: bool,
    pub bytes: u64,
    /// The walk pass (1-based).
    pub pass: u32,
}

/// Where a walk stands.
#[derive(Debug, Clone, Default)]
struct Progress {
    /// URLs requested in this pass (none twice).
    seen_urls: HashSet<String>,
    /// Keys delivered in this pass.
    keys: HashSet<String>,
    duplicates: u64,
    pages: u64,
}

/// A `lastInterpreted` range of a GBIF sub-query (inclusive ends; `None` = open).
type TimeRange = (Option<NaiveDateTime>, Option<NaiveDateTime>);

/// A walk over one feed. Call [`FeedWalk::next_page`] until it returns `Ok(None)`.
pub struct FeedWalk {
    root: String,
    opts: FeedOptions,
    extra: Vec<(String, String)>,
    page_size: u64,
    since: Option<NaiveDateTime>,
    token: Option<String>,
    max_passes: u32,
    pass: u32,
    progress: Progress,
    state: State,
    /// The server's count at the start of the pass, when it gives one.
    expected: Option<u64>,
    complete: bool,
    done: bool,
    delivered: u64,
    requests: u64,
}

#[derive(Debug, Clone)]
enum State {
    Start,
    /// Offset-like paging: the next start index (WFS, JSON offset, GBIF part), or page number.
    At(u64),
    /// The next URL (OGC API next links, JSON next links) or cursor.
    Link(String),
    Cursor(String),
    /// GBIF: the sub-queries left (lastInterpreted ranges), and the offset in the current one.
    Gbif {
        parts: Vec<TimeRange>,
        offset: u64,
        /// The current part's count.
        count: u64,
    },
    End,
}

fn fmt_ts(t: &NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme() && a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

impl FeedWalk {
    /// `since`: the start of an update window (incremental kinds only).
    pub fn new(
        root: &str,
        opts: FeedOptions,
        extra: Vec<(String, String)>,
        page_size: u64,
        since: Option<NaiveDateTime>,
        token: Option<String>,
        max_passes: u32,
    ) -> FeedWalk {
        let page_size = match opts.kind {
            KindOptions::Gbif => page_size.clamp(1, GBIF_PAGE_MAX),
            _ => page_size.max(1),
        };
        FeedWalk {
            root: root.trim_end_matches('/').to_string(),
            opts,
            extra,
            page_size,
            since,
            token,
            max_passes: max_passes.max(1),
            pass: 1,
            progress: Progress::default(),
            state: State::Start,
            expected: None,
            complete: false,
            done: false,
            delivered: 0,
            requests: 0,
        }
    }

    pub fn options(&self) -> &FeedOptions {
        &self.opts
    }

    /// Pages delivered (every pass).
    pub fn pages_delivered(&self) -> u64 {
        self.delivered
    }

    /// The server's count of the current pass, when it gives one.
    pub fn expected_count(&self) -> Option<u64> {
        self.expected
    }

    pub fn passes(&self) -> u32 {
        self.pass
    }

    /// The last pass delivered every item the server counted, each once.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    fn header(&self) -> Option<(&str, &str)> {
        match (&self.opts.api_key_header, &self.token) {
            (Some(h), Some(t)) => Some((h.as_str(), t.as_str())),
            _ => None,
        }
    }

    fn url(&self, path: &str, params: &[(String, String)]) -> String {
        let mut u = format!("{}{}", self.root, path);
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.extra.iter().chain(params.iter()) {
            ser.append_pair(k, v);
        }
        let q = ser.finish();
        if !q.is_empty() {
            u.push('?');
            u.push_str(&q);
        }
        u
    }

    fn get(&mut self, session: &mut Session, url: &str, accept: &str) -> Result<Vec<u8>, ClientError> {
        if !self.progress.seen_urls.insert(url.to_string()) {
            return Err(ClientError::NoProgress {
                url: redact_url(url.split('?').next().unwrap_or(url)),
                page: Some(self.progress.pages),
                reason: "the walk would request the same page twice (a server repeating a cursor or link)".into(),
            });
        }
        if self.progress.pages >= MAX_PAGES {
            return Err(ClientError::NoProgress {
                url: redact_url(&self.root),
                page: Some(self.progress.pages),
                reason: format!("more than {MAX_PAGES} pages in one walk"),
            });
        }
        self.request(session, url, accept, Some(self.progress.pages))
    }

    /// One request with the source's key header. Counts, hits and capabilities requests go
    /// through here directly: they are repeated on purpose (before and after a pass), they are
    /// not pages.
    fn request(
        &mut self,
        session: &mut Session,
        url: &str,
        accept: &str,
        page: Option<u64>,
    ) -> Result<Vec<u8>, ClientError> {
        self.requests += 1;
        let header = self.header().map(|(a, b)| (a.to_string(), b.to_string()));
        session.fetch(
            url,
            accept,
            header.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
            page,
        )
    }

    /// GETs one page as JSON: the reply, the array at `pointer` (taken out of it) and the body's
    /// size; `shape` says what was expected when there is no array there.
    fn json_items(
        &mut self,
        session: &mut Session,
        url: &str,
        accept: &str,
        pointer: &str,
        shape: &str,
    ) -> Result<(Value, Vec<Value>, u64), ClientError> {
        let body = self.get(session, url, accept)?;
        let mut v = self.json(url, &body)?;
        match v.pointer_mut(pointer).map(Value::take) {
            Some(Value::Array(items)) => Ok((v, items, body.len() as u64)),
            _ => Err(self.protocol(url, format!("{shape}: {}", crate::error::excerpt(&body, 200)))),
        }
    }

    fn json(&self, url: &str, body: &[u8]) -> Result<Value, ClientError> {
        serde_json::from_slice(body).map_err(|e| ClientError::MalformedBody {
            url: redact_url(url.split('?').next().unwrap_or(url)),
            page: Some(self.progress.pages),
            attempts: 1,
            reason: format!("not JSON: {e}"),
        })
    }

    fn protocol(&self, url: &str, reason: String) -> ClientError {
        ClientError::Protocol {
            url: redact_url(url.split('?').next().unwrap_or(url)),
            page: Some(self.progress.pages),
            reason,
        }
    }

    /// Records a page's keys; returns the page. A page holding only items already delivered in
    /// this pass means the server ignores the paging (MapServer 8.0.0's OGC API ignores
    /// `offset`): the walk stops there instead of storing the same page again and again.
    fn deliver(&mut self, items: Vec<Value>, features: bool, bytes: u64) -> Result<FeedPage, ClientError> {
        let mut new = 0usize;
        let mut keyed = 0usize;
        for it in &items {
            if let Some(k) = prepare_key(&self.opts, it, features) {
                keyed += 1;
                if self.progress.keys.insert(k) {
                    new += 1;
                } else {
                    self.progress.duplicates += 1;
                }
            }
        }
        if keyed > 0 && new == 0 {
            return Err(ClientError::NoProgress {
                url: redact_url(&self.root),
                page: Some(self.progress.pages),
                reason: format!(
                    "page {} holds only items already received in this walk: the server ignores the paging parameters",
                    self.progress.pages + 1
                ),
            });
        }
        self.progress.pages += 1;
        self.delivered += 1;
        Ok(FeedPage {
            items,
            features,
            bytes,
            pass: self.pass,
        })
    }

    /// End of a pass: complete when the server's count (before and after, when it gives one)
    /// equals the distinct keys received, with no key twice. Else another pass, if allowed.
    fn end_pass(&mut self, count_after: Option<u64>) -> bool {
        let distinct = self.progress.keys.len() as u64;
        let ok = self.progress.duplicates == 0
            && match (self.expected, count_after) {
                (Some(a), Some(b)) => a == b && distinct == a,
                (Some(a), None) | (None, Some(a)) => distinct == a,
                (None, None) => true,
            };
        if ok || self.pass >= self.max_passes {
            self.complete = ok;
            self.done = true;
            self.state = State::End;
            return false;
        }
        self.pass += 1;
        self.progress = Progress::default();
        self.state = State::Start;
        self.expected = None;
        true
    }

    /// The next page, or `None` at the end of the walk.
    pub fn next_page(&mut self, session: &mut Session) -> Result<Option<FeedPage>, ClientError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let step = match self.opts.kind.clone() {
                KindOptions::Wfs(w) => self.wfs_step(session, &w)?,
                KindOptions::OgcApi(o) => self.ogc_step(session, &o)?,
                KindOptions::Json(j) => self.json_step(session, &j)?,
                KindOptions::Gbif => self.gbif_step(session)?,
                KindOptions::Post { .. } => {
                    return Err(self.protocol(
                        &self.root.clone(),
                        "an intake receives observations; it is not pulled".into(),
                    ))
                }
            };
            match step {
                Step::Page(p) => return Ok(Some(p)),
                Step::Again => continue,
                Step::EndOfPass(count_after) => {
                    if !self.end_pass(count_after) {
                        return Ok(None);
                    }
                }
            }
        }
    }

    // ----- WFS 2.0 ----------------------------------------------------------------------

    fn wfs_filter(&self, w: &WfsOptions) -> Option<String> {
        let mut terms = Vec::new();
        if let Some(b) = w.bbox {
            // (without a ValueReference the BBOX applies to the layer's default geometry, FES 2.0;
            // options.geometry_name names another one)
            let reference = w
                .geometry_name
                .as_ref()
                .map(|g| format!("<fes:ValueReference>{}</fes:ValueReference>", xml_escape(g)))
                .unwrap_or_default();
            terms.push(format!(
                "<fes:BBOX>{reference}<gml:Envelope srsName=\"urn:ogc:def:crs:EPSG::{srid}\"><gml:lowerCorner>{} {}</gml:lowerCorner><gml:upperCorner>{} {}</gml:upperCorner></gml:Envelope></fes:BBOX>",
                b[0], b[1], b[2], b[3], srid = self.opts.srid
            ));
        }
        for (k, v) in &w.filter {
            terms.push(format!(
                "<fes:PropertyIsEqualTo><fes:ValueReference>{}</fes:ValueReference><fes:Literal>{}</fes:Literal></fes:PropertyIsEqualTo>",
                xml_escape(k),
                xml_escape(v)
            ));
        }
        if let (Some(since), Some(m)) = (self.since, &self.opts.modified) {
            terms.push(format!(
                "<fes:PropertyIsGreaterThanOrEqualTo><fes:ValueReference>{}</fes:ValueReference><fes:Literal>{}</fes:Literal></fes:PropertyIsGreaterThanOrEqualTo>",
                xml_escape(m.as_str()),
                // (a space, not 'T': MapServer compares timestamps as text, and
                // '2024-06-01T00:00:00' would sort after every time of that day)
                since.format("%Y-%m-%d %H:%M:%S")
            ));
        }
        if terms.is_empty() {
            return None;
        }
        let body = if terms.len() == 1 {
            terms.remove(0)
        } else {
            format!("<fes:And>{}</fes:And>", terms.concat())
        };
        Some(format!(
            "<fes:Filter xmlns:fes=\"http://www.opengis.net/fes/2.0\" xmlns:gml=\"http://www.opengis.net/gml/3.2\">{body}</fes:Filter>"
        ))
    }

    fn wfs_params(&self, w: &WfsOptions, hits: bool) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = vec![
            ("SERVICE".into(), "WFS".into()),
            ("VERSION".into(), w.version.clone()),
            ("REQUEST".into(), "GetFeature".into()),
            ("TYPENAMES".into(), w.typename.clone()),
        ];
        if hits {
            p.push(("RESULTTYPE".into(), "hits".into()));
        } else {
            p.push(("SRSNAME".into(), format!("EPSG:{}", self.opts.srid)));
            p.push(("SORTBY".into(), format!("{} ASC", w.sort)));
            if w.output == "geojson" {
                p.push(("OUTPUTFORMAT".into(), w.geojson_format.clone()));
            }
        }
        if let Some(f) = self.wfs_filter(w) {
            p.push(("FILTER".into(), f));
        }
        p
    }

    /// GetCapabilities, once: the server's `CountDefault` (pages are asked at most that size, so
    /// no page is cut short by the server) and, when the source gives no `srid`, the layer's
    /// `DefaultCRS` (geometries are then requested and read in it).
    fn wfs_capabilities(&mut self, session: &mut Session, w: &WfsOptions) -> Result<(), ClientError> {
        let params = vec![
            ("SERVICE".to_string(), "WFS".to_string()),
            ("VERSION".into(), w.version.clone()),
            ("REQUEST".into(), "GetCapabilities".into()),
        ];
        let url = self.url("", &params);
        let body = self.request(session, &url, "application/xml", None)?;
        let text = String::from_utf8_lossy(&body);
        if text.contains("ExceptionReport") {
            return Err(self.protocol(
                &url,
                format!("the WFS server refused GetCapabilities: {}", exception_text(&text)),
            ));
        }
        let caps = capabilities(&text, &w.typename);
        if let Some(n) = caps.count_default.filter(|n| *n > 0) {
            self.page_size = self.page_size.min(n);
        }
        if !self.opts.srid_given {
            match caps.default_srid {
                Some(srid) => self.opts.srid = srid,
                None if !caps.layer_found => {
                    return Err(self.protocol(
                        &url,
                        format!("the server's capabilities list no feature type \"{}\"", w.typename),
                    ))
                }
                None => {}
            }
        }
        Ok(())
    }

    fn wfs_hits(&mut self, session: &mut Session, w: &WfsOptions) -> Result<u64, ClientError> {
        let url = self.url("", &self.wfs_params(w, true));
        let body = self.request(session, &url, "application/xml", None)?;
        let text = String::from_utf8_lossy(&body);
        if text.contains("ExceptionReport") {
            return Err(self.protocol(
                &url,
                format!("the WFS server refused the request: {}", exception_text(&text)),
            ));
        }
        number_matched(&text).ok_or_else(|| {
            self.protocol(
                &url,
                format!(
                    "no numberMatched in the hits reply: {}",
                    crate::error::excerpt(&body, 200)
                ),
            )
        })
    }

    fn wfs_step(&mut self, session: &mut Session, w: &WfsOptions) -> Result<Step, ClientError> {
        match self.state.clone() {
            State::Start => {
                if self.pass == 1 {
                    self.wfs_capabilities(session, w)?;
                }
                self.expected = Some(self.wfs_hits(session, w)?);
                self.state = State::At(0);
                Ok(Step::Again)
            }
            State::At(start) => {
                if self.expected.is_some_and(|n| start >= n) {
                    let after = self.wfs_hits(session, w)?;
                    return Ok(Step::EndOfPass(Some(after)));
                }
                let mut params = self.wfs_params(w, false);
                params.push(("STARTINDEX".into(), start.to_string()));
                params.push(("COUNT".into(), self.page_size.to_string()));
                let url = self.url("", &params);
                let (items, bytes) = if w.output == "gml" {
                    let body = self.get(session, &url, "application/gml+xml; version=3.2")?;
                    let text = String::from_utf8_lossy(&body);
                    if text.contains("ExceptionReport") {
                        return Err(self.protocol(
                            &url,
                            format!("the WFS server refused the request: {}", exception_text(&text)),
                        ));
                    }
                    let items = crate::gml::features(&text)
                        .map_err(|e| self.protocol(&url, format!("cannot read the GML reply: {e}")))?;
                    (items, body.len() as u64)
                } else {
                    let accept = "application/json, application/geo+json";
                    let (_, items, bytes) =
                        self.json_items(session, &url, accept, "/features", "not a GeoJSON FeatureCollection")?;
                    (items, bytes)
                };
                if items.is_empty() {
                    let after = self.wfs_hits(session, w)?;
                    return Ok(Step::EndOfPass(Some(after)));
                }
                // (the server may cap COUNT: the next page starts after what came)
                self.state = State::At(start + items.len() as u64);
                Ok(Step::Page(self.deliver(items, true, bytes)?))
            }
            _ => Ok(Step::EndOfPass(None)),
        }
    }

    // ----- OGC API – Features -----------------------------------------------------------

    fn ogc_step(&mut self, session: &mut Session, o: &OgcOptions) -> Result<Step, ClientError> {
        let url = match self.state.clone() {
            State::Start => {
                let mut params = vec![
                    ("f".to_string(), "json".to_string()),
                    ("limit".into(), self.page_size.to_string()),
                ];
                if let Some(b) = o.bbox {
                    params.push(("bbox".into(), format!("{},{},{},{}", b[0], b[1], b[2], b[3])));
                    if self.opts.srid != 4326 {
                        params.push((
                            "bbox-crs".into(),
                            format!("http://www.opengis.net/def/crs/EPSG/0/{}", self.opts.srid),
                        ));
                    }
                }
                if self.opts.srid != 4326 {
                    params.push((
                        "crs".into(),
                        format!("http://www.opengis.net/def/crs/EPSG/0/{}", self.opts.srid),
                    ));
                }
                if let Some(d) = &o.datetime {
                    params.push(("datetime".into(), d.clone()));
                }
                self.url(&format!("/collections/{}/items", o.collection), &params)
            }
            State::Link(u) => u,
            _ => return Ok(Step::EndOfPass(None)),
        };
        let accept = "application/geo+json, application/json";
        let (v, items, bytes) =
            self.json_items(session, &url, accept, "/features", "not a GeoJSON FeatureCollection")?;
        if matches!(self.state, State::Start) {
            self.expected = v.get("numberMatched").and_then(Value::as_u64);
        }
        let next = v
            .get("links")
            .and_then(Value::as_array)
            .and_then(|links| {
                links.iter().find(|l| {
                    l.get("rel").and_then(Value::as_str) == Some("next")
                        && l.get("type").and_then(Value::as_str).is_none_or(|t| t.contains("json"))
                })
            })
            .and_then(|l| l.get("href"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if items.is_empty() {
            return Ok(Step::EndOfPass(None));
        }
        self.state = match next {
            Some(n) => State::Link(self.follow(&url, &n)?),
            None => State::End,
        };
        let page = self.deliver(items, true, bytes)?;
        Ok(Step::Page(page))
    }

    /// A `next` link, resolved against the page's URL; it must stay on the source's server (the
    /// API key is sent to it).
    fn follow(&self, base: &str, link: &str) -> Result<String, ClientError> {
        let base_url = url::Url::parse(base).map_err(|e| self.protocol(base, e.to_string()))?;
        let next = base_url
            .join(link)
            .map_err(|e| self.protocol(base, format!("invalid next link: {e}")))?;
        let root = url::Url::parse(&self.root).map_err(|e| self.protocol(base, e.to_string()))?;
        if !same_origin(&root, &next) {
            return Err(self.protocol(
                base,
                format!(
                    "the next link leads to another server ({}): refused",
                    redact_url(next.as_str().split('?').next().unwrap_or(""))
                ),
            ));
        }
        Ok(next.to_string())
    }

    // ----- generic JSON APIs ------------------------------------------------------------

    fn json_step(&mut self, session: &mut Session, j: &JsonOptions) -> Result<Step, ClientError> {
        let mut params: Vec<(String, String)> = Vec::new();
        if let (Some(p), Some(since)) = (&j.modified_param, self.since) {
            params.push((p.clone(), fmt_ts(&since)));
        }
        let limit = |params: &mut Vec<(String, String)>, size: u64| {
            if let Some(l) = &j.limit_param {
                params.push((l.clone(), size.to_string()));
            }
        };
        let (url, at) = match (self.state.clone(), j.paging) {
            (State::Start, JsonPaging::Page) => {
                self.state = State::At(j.first_page as u64);
                return Ok(Step::Again);
            }
            (State::Start, JsonPaging::Offset) => {
                self.state = State::At(0);
                return Ok(Step::Again);
            }
            (State::Start, _) => {
                limit(&mut params, self.page_size);
                (self.url("", &params), None)
            }
            (State::At(k), JsonPaging::Page) => {
                params.push((j.page_param.clone(), k.to_string()));
                limit(&mut params, self.page_size);
                (self.url("", &params), Some(k))
            }
            (State::At(o), JsonPaging::Offset) => {
                params.push((j.offset_param.clone(), o.to_string()));
                limit(&mut params, self.page_size);
                (self.url("", &params), Some(o))
            }
            (State::Cursor(c), _) => {
                params.push((j.cursor_param.clone(), c));
                limit(&mut params, self.page_size);
                (self.url("", &params), None)
            }
            (State::Link(u), _) => (u, None),
            _ => return Ok(Step::EndOfPass(None)),
        };
        let body = self.get(session, &url, "application/json")?;
        let bytes = body.len() as u64;
        let v = self.json(&url, &body)?;
        let items = match v.pointer(&j.items) {
            Some(Value::Array(a)) => a.clone(),
            Some(Value::Null) | None if !j.items.is_empty() && v.is_object() => Vec::new(),
            _ => {
                return Err(self.protocol(
                    &url,
                    format!(
                        "no array at \"{}\" (options.items) in the reply: {}",
                        j.items,
                        crate::error::excerpt(&body, 200)
                    ),
                ))
            }
        };
        if let Some(t) = &j.total {
            if self.progress.pages == 0 {
                self.expected = v
                    .pointer(t)
                    .and_then(|x| x.as_u64().or_else(|| x.as_str()?.parse().ok()));
            }
        }
        if items.is_empty() {
            return Ok(Step::EndOfPass(None));
        }
        let n = items.len() as u64;
        let short = j.stop_on_short_page && n < self.page_size;
        let reached = self.expected.is_some_and(|e| self.progress.keys.len() as u64 + n >= e);
        self.state = match j.paging {
            JsonPaging::Page => State::At(at.unwrap_or(0) + 1),
            JsonPaging::Offset => State::At(at.unwrap_or(0) + n),
            JsonPaging::Cursor => match v.pointer(&j.cursor).and_then(scalar_text).filter(|c| !c.is_empty()) {
                Some(c) => State::Cursor(c),
                None => State::End,
            },
            JsonPaging::Next => {
                let link = v
                    .pointer(&j.next)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| {
                        v.get("links").and_then(Value::as_array).and_then(|ls| {
                            ls.iter()
                                .find(|l| l.get("rel").and_then(Value::as_str) == Some("next"))
                                .and_then(|l| l.get("href"))
                                .and_then(Value::as_str)
                                .map(str::to_string)
                        })
                    });
                match link {
                    Some(l) if !l.is_empty() => State::Link(self.follow(&url, &l)?),
                    _ => State::End,
                }
            }
            JsonPaging::None => State::End,
        };
        if short || reached {
            self.state = State::End;
        }
        Ok(Step::Page(self.deliver(items, false, bytes)?))
    }

    // ----- GBIF occurrence search -------------------------------------------------------

    fn gbif_params(&self, range: &TimeRange, offset: u64, limit: u64) -> Vec<(String, String)> {
        let mut p = vec![
            ("offset".to_string(), offset.to_string()),
            ("limit".to_string(), limit.to_string()),
        ];
        let from = range.0.or(self.since);
        if from.is_some() || range.1.is_some() {
            p.push((
                "lastInterpreted".into(),
                format!(
                    "{},{}",
                    from.map_or("*".to_string(), |t| fmt_ts(&t)),
                    range.1.map_or("*".to_string(), |t| fmt_ts(&t))
                ),
            ));
        }
        p
    }

    fn gbif_url(&self, range: &TimeRange, offset: u64, limit: u64) -> String {
        self.url("/occurrence/search", &self.gbif_params(range, offset, limit))
    }

    fn gbif_count(&mut self, session: &mut Session, range: &TimeRange) -> Result<u64, ClientError> {
        let url = self.gbif_url(range, 0, 0);
        let body = self.request(session, &url, "application/json", None)?;
        let v = self.json(&url, &body)?;
        v.get("count")
            .and_then(Value::as_u64)
            .ok_or_else(|| self.protocol(&url, "no count in GBIF's reply".into()))
    }

    /// Splits the query into `lastInterpreted` ranges of at most [`GBIF_OFFSET_CAP`] records.
    fn gbif_plan(&mut self, session: &mut Session, total: u64) -> Result<Vec<TimeRange>, ClientError> {
        let whole = (None, None);
        if total <= GBIF_OFFSET_CAP {
            return Ok(vec![whole]);
        }
        let lo = self.since.unwrap_or_else(|| {
            chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
                .unwrap_or_default()
                .and_time(chrono::NaiveTime::MIN)
        });
        let hi = chrono::Utc::now().naive_utc() + chrono::Duration::days(2);
        let mut todo = vec![(lo, hi)];
        let mut parts = Vec::new();
        let mut counted = 0u64;
        while let Some((a, b)) = todo.pop() {
            session.cancel_flag().check()?;
            // inclusive ends: [a, b - 1 ms] so that neighbouring ranges do not overlap
            let range = (Some(a), Some(b - chrono::Duration::milliseconds(1)));
            let n = self.gbif_count(session, &range)?;
            if n == 0 {
                continue;
            }
            if n <= GBIF_OFFSET_CAP {
                counted += n;
                parts.push(range);
            } else if b - a <= chrono::Duration::milliseconds(1) {
                return Err(self.protocol(
                    &self.root.clone(),
                    format!("{n} records share the lastInterpreted instant {}: GBIF cannot page them beyond {GBIF_OFFSET_CAP}; narrow the query (query_strings)", fmt_ts(&a)),
                ));
            } else {
                let mid = a + (b - a) / 2;
                // (later half pushed first: parts come out in time order)
                todo.push((mid, b));
                todo.push((a, mid));
            }
            if parts.len() + todo.len() > GBIF_MAX_PARTS {
                return Err(self.protocol(&self.root.clone(), "the GBIF query needs too many sub-queries".into()));
            }
        }
        if counted != total {
            // records changed while counting: the end-of-pass check decides
            self.expected = Some(counted);
        }
        parts.reverse();
        Ok(parts)
    }

    fn gbif_step(&mut self, session: &mut Session) -> Result<Step, ClientError> {
        match self.state.clone() {
            State::Start => {
                let total = self.gbif_count(session, &(None, None))?;
                self.expected = Some(total);
                let parts = self.gbif_plan(session, total)?;
                self.state = State::Gbif {
                    parts,
                    offset: 0,
                    count: u64::MAX,
                };
                Ok(Step::Again)
            }
            State::Gbif {
                mut parts,
                offset,
                count,
            } => {
                let Some(range) = parts.last().cloned() else {
                    let after = self.gbif_count(session, &(None, None))?;
                    return Ok(Step::EndOfPass(Some(after)));
                };
                if offset >= count || offset >= GBIF_OFFSET_CAP {
                    parts.pop();
                    self.state = State::Gbif {
                        parts,
                        offset: 0,
                        count: u64::MAX,
                    };
                    return Ok(Step::Again);
                }
                let limit = self.page_size.min(GBIF_OFFSET_CAP - offset);
                let url = self.gbif_url(&range, offset, limit);
                let (v, items, bytes) = self.json_items(
                    session,
                    &url,
                    "application/json",
                    "/results",
                    "no results in GBIF's reply",
                )?;
                let end = v.get("endOfRecords").and_then(Value::as_bool).unwrap_or(false) || items.is_empty();
                let count = v.get("count").and_then(Value::as_u64).unwrap_or(count);
                let next_offset = offset + items.len() as u64;
                if end {
                    parts.pop();
                    self.state = State::Gbif {
                        parts,
                        offset: 0,
                        count: u64::MAX,
                    };
                } else {
                    self.state = State::Gbif {
                        parts,
                        offset: next_offset,
                        count,
                    };
                }
                if items.is_empty() {
                    return Ok(Step::Again);
                }
                Ok(Step::Page(self.deliver(items, false, bytes)?))
            }
            _ => Ok(Step::EndOfPass(None)),
        }
    }
}

enum Step {
    Page(FeedPage),
    Again,
    /// The pass ended; the server's count after it, when read.
    EndOfPass(Option<u64>),
}

fn prepare_key(opts: &FeedOptions, raw: &Value, feature: bool) -> Option<String> {
    match &opts.id {
        Some(p) => {
            let in_props = if feature && !p.0.starts_with('/') {
                raw.get("properties").and_then(|pr| p.get(pr))
            } else {
                None
            };
            in_props.or_else(|| p.get(raw)).and_then(scalar_text)
        }
        None => match &opts.kind {
            KindOptions::Gbif => raw.get("key").and_then(scalar_text),
            _ => raw.get("id").and_then(scalar_text),
        },
    }
}

/// What a source needs from WFS capabilities.
#[derive(Debug, Default, PartialEq)]
struct Capabilities {
    count_default: Option<u64>,
    layer_found: bool,
    default_srid: Option<i32>,
}

/// `CountDefault` and the `DefaultCRS` of `typename` in a WFS 2.0 GetCapabilities document (a
/// prefixed name matches its unprefixed form too).
fn capabilities(xml: &str, typename: &str) -> Capabilities {
    let mut caps = Capabilities::default();
    if let Some(at) = xml.find("name=\"CountDefault\"") {
        let rest = &xml[at..];
        let end = rest.find("Constraint>").unwrap_or(rest.len());
        let block = &rest[..end];
        if let Some(v) = block.find("DefaultValue>") {
            let digits: String = block[v + "DefaultValue>".len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            caps.count_default = digits.parse().ok();
        }
    }
    let bare = typename.rsplit(':').next().unwrap_or(typename);
    let mut rest = xml;
    while let Some(at) = rest.find("FeatureType>") {
        rest = &rest[at + "FeatureType>".len()..];
        let end = rest.find("FeatureType>").unwrap_or(rest.len());
        let block = &rest[..end];
        let name = block
            .find("Name>")
            .map(|n| &block[n + 5..])
            .and_then(|s| s.find('<').map(|e| s[..e].trim().to_string()));
        let Some(name) = name else { continue };
        if name == typename || name.rsplit(':').next() == Some(bare) {
            caps.layer_found = true;
            caps.default_srid = block
                .find("DefaultCRS>")
                .map(|d| &block[d + "DefaultCRS>".len()..])
                .and_then(|s| s.find('<').map(|e| s[..e].trim().to_string()))
                .and_then(|crs| crs.rsplit([':', '/']).next().and_then(|c| c.parse().ok()));
            break;
        }
    }
    caps
}

/// `numberMatched="N"` of a WFS 2.0 reply.
fn number_matched(xml: &str) -> Option<u64> {
    let at = xml.find("numberMatched=\"")? + "numberMatched=\"".len();
    let rest = &xml[at..];
    let end = rest.find('"')?;
    rest[..end].parse().ok()
}

fn exception_text(xml: &str) -> String {
    let start = xml.find("ExceptionText>").map(|i| i + "ExceptionText>".len());
    match start {
        Some(s) => {
            let rest = &xml[s..];
            let end = rest.find('<').unwrap_or(rest.len()).min(300);
            rest[..end].trim().to_string()
        }
        None => crate::error::excerpt(xml.as_bytes(), 200),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_are_checked_per_kind() {
        let e = FeedOptions::parse("wfs", &json!({})).unwrap_err();
        assert!(e.message.contains("typename"), "{e:?}");
        let e = FeedOptions::parse("wfs", &json!({"typename": "ms:obs"})).unwrap_err();
        assert!(e.message.contains("sort"), "{e:?}");
        let o = FeedOptions::parse("wfs", &json!({"typename": "ms:obs", "id": "id", "srid": 2154})).unwrap();
        assert!(matches!(&o.kind, KindOptions::Wfs(w) if w.sort == "id"));
        let e = FeedOptions::parse("wfs", &json!({"typename": "ms:obs", "sort": "id", "colour": 1})).unwrap_err();
        assert!(e.message.contains("unknown option \"colour\""), "{e:?}");
        let e = FeedOptions::parse("json", &json!({"paging": "page", "items": "/items"})).unwrap_err();
        assert!(e.message.contains("options.id"), "{e:?}");
        let e = FeedOptions::parse("json", &json!({"paging": "sideways", "items": "/items", "id": "id"})).unwrap_err();
        assert!(e.message.contains("sideways"), "{e:?}");
        let e = FeedOptions::parse("json", &json!({"paging": "page", "items": "items", "id": "id"})).unwrap_err();
        assert!(e.hint.contains("/items"), "{e:?}");
        let e = FeedOptions::parse("wfs", &json!({"typename": "a<b", "sort": "id"})).unwrap_err();
        assert!(e.message.contains("typename"), "{e:?}");
        let e = FeedOptions::parse("ogcapi", &json!({"collection": "obs", "bbox": [1, 2, 0, 3]})).unwrap_err();
        assert!(e.message.contains("bbox"), "{e:?}");
        let g = FeedOptions::parse("gbif", &json!({})).unwrap();
        assert!(g.incremental());
        assert_eq!(g.modified, Some(Path("lastInterpreted".into())));
        assert!(FeedOptions::parse("sftp", &json!({})).is_err());
    }

    #[test]
    fn feature_items_keep_their_id_and_key() {
        let o = FeedOptions::parse("ogcapi", &json!({"collection": "obs", "modified": "date_modification"})).unwrap();
        let f = json!({"type": "Feature", "id": 7, "geometry": {"type": "Point", "coordinates": [6.0, 45.0]},
                       "properties": {"nom": "Aigle", "date_modification": "2024-01-02T03:04:05Z"}});
        let it = prepare_feed_item("src", &o, f, true);
        assert_eq!(it.key.as_deref(), Some("7"));
        assert_eq!(
            it.item,
            json!({"nom": "Aigle", "date_modification": "2024-01-02T03:04:05Z", "id": 7})
        );
        assert!(it.geom.as_deref().is_some_and(|g| g.starts_with("0101000020E6100000")));
        assert_eq!(it.uuid, Some(name_uuid("src/7")));
        assert_eq!(
            it.modified.map(|m| m.to_string()).as_deref(),
            Some("2024-01-02 03:04:05")
        );
        assert!(it.error.is_none());
        let missing = prepare_feed_item("src", &o, json!({"type": "Feature", "properties": {}}), true);
        assert!(missing.error.as_deref().is_some_and(|e| e.contains("no key")));
    }

    #[test]
    fn gbif_records_take_their_key_and_coordinates() {
        let o = FeedOptions::parse("gbif", &json!({})).unwrap();
        let r = json!({"key": 4000000007_i64, "decimalLongitude": 5.5, "decimalLatitude": 44.25, "lastInterpreted": "2024-03-05T10:11:12.345Z"});
        let it = prepare_feed_item("gbif_fr", &o, r, false);
        assert_eq!(it.key.as_deref(), Some("4000000007"));
        assert!(it.geom.is_some());
        assert!(it.modified.is_some());
    }

    #[test]
    fn name_uuids_are_stable_version_3() {
        let u = name_uuid("src/7");
        assert_eq!(u, name_uuid("src/7"));
        assert_ne!(u, name_uuid("src/8"));
        assert_eq!(&u[14..15], "3");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(
            canonical_uuid("URN:UUID:6B1F3C52-9D04-4E8A-B17E-2D55C0934F1A").as_deref(),
            Some("6b1f3c52-9d04-4e8a-b17e-2d55c0934f1a")
        );
    }

    #[test]
    fn wfs_capabilities_give_the_page_cap_and_the_layer_crs() {
        let xml = r#"<wfs:WFS_Capabilities><ows:OperationsMetadata><ows:Constraint name="ImplementsResultPaging"><ows:NoValues/><ows:DefaultValue>TRUE</ows:DefaultValue></ows:Constraint><ows:Constraint name="CountDefault"><ows:NoValues/><ows:DefaultValue>500</ows:DefaultValue></ows:Constraint></ows:OperationsMetadata>
          <FeatureTypeList><FeatureType><Name>ms:other</Name><DefaultCRS>urn:ogc:def:crs:EPSG::4326</DefaultCRS></FeatureType>
          <FeatureType><Name>ms:obs_ms</Name><Title>obs</Title><DefaultCRS>urn:ogc:def:crs:EPSG::2154</DefaultCRS><OtherCRS>urn:ogc:def:crs:EPSG::4326</OtherCRS></FeatureType></FeatureTypeList></wfs:WFS_Capabilities>"#;
        let c = capabilities(xml, "ms:obs_ms");
        assert_eq!(
            c,
            Capabilities {
                count_default: Some(500),
                layer_found: true,
                default_srid: Some(2154)
            }
        );
        assert_eq!(capabilities(xml, "obs_ms").default_srid, Some(2154));
        assert!(!capabilities(xml, "ms:absent").layer_found);
        let o = FeedOptions::parse("wfs", &json!({"typename": "ms:obs", "sort": "id"})).unwrap();
        assert!(!o.srid_given);
        assert!(
            FeedOptions::parse("wfs", &json!({"typename": "ms:obs", "sort": "id", "srid": 2154}))
                .unwrap()
                .srid_given
        );
    }

    #[test]
    fn wfs_hits_and_exceptions_are_read() {
        assert_eq!(
            number_matched("<wfs:FeatureCollection numberMatched=\"20000\" numberReturned=\"0\"/>"),
            Some(20000)
        );
        assert_eq!(number_matched("<x/>"), None);
        assert_eq!(
            exception_text("<ows:ExceptionReport><ows:Exception><ows:ExceptionText>bad typename</ows:ExceptionText>"),
            "bad typename"
        );
    }
}
