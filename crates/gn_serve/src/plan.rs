//! The SQL of one export API page, planned from a validated query and the export's metadata.
//!
//! Filters are rendered by `gn_protocol::filter_sql` in GeoNature's lenient mode (unknown
//! columns and filters that do not apply to a column type are ignored), values always travel as
//! `$n` text parameters, identifiers are always quoted. What we do better than GeoNature:
//!
//! - **Keyset pages.** `filter_n_up_<col>`/`filter_n_lo_<col>` on an integer column render as
//!   `"col" >= CAST($n AS bigint)` (the bound rounded up, resp. down: the same rows as GeoNature's
//!   float comparison) so a B-tree on the column serves the page as an index range, where
//!   GeoNature's `col >= float8` cannot use it. A walk by `filter_n_up_<pk>` ordered by the pk
//!   is [`Strategy::Keyset`].
//! - **Page-index walks without the skipped rows.** When the order is the pk and the caller has
//!   the last pk of page k−1 of the same walk ([`CursorCache`], keyed by [`ExportPlan::walk_key`]),
//!   page k is `pk > last` instead of `OFFSET k·limit` ([`Strategy::Resume`]).
//! - **Counts once.** The filtered count does not depend on the page or on a keyset bound, so the
//!   caller runs [`ExportPlan::count`] once per [`ExportPlan::count_key`] and caches it (with the
//!   role: row-level security changes counts), and [`ExportPlan::total`] once per export.
//!   [`ExportPlan::total_filtered`] then derives the value GeoNature would echo.
//! - **Stable order.** A non-pk `orderby` gets the pk as tie-breaker (GeoNature leaves ties
//!   unordered, which makes page-index paging skip and repeat rows).
//!
//! Output columns come sorted by name, as Flask writes keys, so rows stream out in order.

use crate::error::ServeError;
use crate::params::{ExportParams, PageLimit};
use gn_protocol::filter_sql::{quote_ident, render_filters, ColumnInfo, GeometryTarget, Strictness};
use gn_protocol::query::{ColumnKind, Filter, FilterOp, OrderBy};
use gn_protocol::time::parse_timestamp;
use gn_protocol::WireValue;
use std::collections::{HashMap, VecDeque};

/// The alias of the export's relation in a page query.
const PAGE_ALIAS: &str = "\"_gn_flux_page\"";

/// What the serve module knows about one registered export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportMeta {
    pub id: i32,
    pub schema: String,
    pub view: String,
    /// `view_pk_column`: default order, keyset and resume column.
    pub pk_column: String,
    /// Every column of the view, in view order.
    pub columns: Vec<ColumnInfo>,
    /// `geometry_field` (with its SRID and the PostGIS schema prefix): replies are then
    /// FeatureCollections.
    pub geometry: Option<GeometryTarget>,
    pub public: bool,
}

impl ExportMeta {
    fn relation(&self) -> Result<String, ServeError> {
        match (quote_ident(&self.schema), quote_ident(&self.view)) {
            (Some(s), Some(v)) => Ok(format!("{s}.{v}")),
            _ => Err(ServeError::internal()),
        }
    }

    fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// SQL text and its `$1…$n` text parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SqlQuery {
    pub sql: String,
    pub params: Vec<String>,
}

/// One column of a page row, in output order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputColumn {
    pub name: String,
    pub kind: ColumnKind,
    /// The column's type as `format_type()` spells it.
    pub sql_type: String,
    /// The geometry of a Feature, selected as GeoJSON text (`ST_AsGeoJSON(…, 6, 0)`: 6 decimals, no `crs`); the other
    /// columns are the item's keys (flat) or the Feature's `properties`.
    pub geojson: bool,
}

impl OutputColumn {
    /// The wire value of this column from its text form (every page column is selected as
    /// text: one reader for every type, and PostgreSQL's own output functions).
    pub fn wire_value(&self, text: Option<String>) -> WireValue {
        let Some(t) = text else { return WireValue::Null };
        match self.kind {
            _ if self.geojson => WireValue::Text(t),
            ColumnKind::Integer | ColumnKind::BigInt => t.parse().map(WireValue::Int).unwrap_or(WireValue::Text(t)),
            ColumnKind::Float => match t.as_str() {
                "NaN" | "Infinity" | "-Infinity" => WireValue::Text(t),
                _ => t.parse().map(WireValue::Float).unwrap_or(WireValue::Text(t)),
            },
            ColumnKind::Numeric => WireValue::Numeric(t),
            ColumnKind::Boolean => WireValue::Bool(t == "t" || t == "true"),
            ColumnKind::Uuid => WireValue::Uuid(t),
            ColumnKind::Json => serde_json::from_str(&t)
                .map(WireValue::Json)
                .unwrap_or(WireValue::Text(t)),
            ColumnKind::Date => chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d")
                .map(WireValue::Date)
                .unwrap_or(WireValue::Text(t)),
            ColumnKind::Timestamp if self.sql_type.contains("with time zone") => {
                WireValue::Text(python_timestamptz(&t))
            }
            ColumnKind::Timestamp => parse_timestamp(&t)
                .map(WireValue::Timestamp)
                .unwrap_or(WireValue::Text(t)),
            ColumnKind::Text | ColumnKind::Varchar | ColumnKind::Geometry => WireValue::Text(t),
        }
    }

    /// The select-list expression of this column (text, see [`Self::wire_value`]).
    fn select_expr(&self, postgis: &str) -> Result<String, ServeError> {
        let col = quoted(&self.name)?;
        Ok(match self.kind {
            _ if self.geojson => format!("{postgis}ST_AsGeoJSON({col}, 6, 0)"),
            ColumnKind::Json => format!("CAST(pg_catalog.to_jsonb({col}) AS pg_catalog.text)"),
            _ => format!("CAST({col} AS pg_catalog.text)"),
        })
    }
}

/// PostgreSQL's `timestamptz` text (`2024-01-02 03:04:05.5+01`) as Python's `str(datetime)`
/// writes an aware datetime (`2024-01-02 03:04:05.500000+01:00`).
fn python_timestamptz(t: &str) -> String {
    let split = t
        .char_indices()
        .skip(10)
        .find(|(_, c)| *c == '+' || *c == '-')
        .map(|(i, _)| i)
        .unwrap_or(t.len());
    let (local, offset) = t.split_at(split);
    let Some(naive) = parse_timestamp(local) else {
        return t.to_string();
    };
    let offset = match offset.len() {
        0 => String::new(),
        3 => format!("{offset}:00"),
        _ => offset.to_string(),
    };
    format!("{}{offset}", gn_protocol::time::format_timestamp(&naive))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// A `filter_n_up_<pk>` walk ordered by the pk: an index range.
    Keyset,
    /// Page k of a pk-ordered walk, continued after page k−1's last pk.
    Resume,
    /// `OFFSET page·limit`.
    PageIndex,
    /// `limit=0`: every row, streamed.
    All,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExportPlan {
    /// The rows of the page. With [`Self::lookahead`], one more row than the page holds is
    /// fetched: do not write it, it only tells that more rows follow.
    pub page: SqlQuery,
    pub lookahead: bool,
    /// Rows to write at most (`None`: every row).
    pub page_rows: Option<u64>,
    pub output: Vec<OutputColumn>,
    pub strategy: Strategy,
    /// Index in [`Self::output`] of the pk column (record the last one written in the
    /// [`CursorCache`]).
    pub pk_output: Option<usize>,
    /// `count(*)` of the view with the filters (keyset bound excluded).
    pub count: SqlQuery,
    /// Cache key of [`Self::count`] (prefix it with the role).
    pub count_key: String,
    /// `count(*)` of the whole view (GeoNature's `total`).
    pub total: SqlQuery,
    /// Identifies the walk (export, filters, order, limit; not the page): the key of
    /// [`CursorCache`] (prefix it with the role). `None` when the order is not the pk.
    pub walk_key: Option<String>,
    pub limit_echo: u64,
    pub page_echo: u64,
}

impl ExportPlan {
    /// The `total_filtered` to answer, GeoNature's way: rows matching from this page's first row
    /// on (`max(0, count − page·limit)`). `fetched`: rows the page query returned (lookahead
    /// row included); `count`: the result of [`Self::count`]. On a keyset page that is not the
    /// last, the exact value would need a count per page, so it is `count − page·limit` (an upper
    /// bound), never below `limit + 1`; on the last keyset page it is exact.
    pub fn total_filtered(&self, fetched: u64, count: u64) -> u64 {
        let skipped = self.limit_echo.saturating_mul(self.page_echo);
        match self.strategy {
            Strategy::Keyset if fetched <= self.limit_echo => fetched,
            Strategy::Keyset => count.saturating_sub(skipped).max(self.limit_echo + 1),
            _ => count.saturating_sub(skipped),
        }
    }
}

/// Rounds a `filter_n_*` bound for an integer column: `≥ v` ⇔ `≥ ceil(v)`, `≤ v` ⇔ `≤ floor(v)`.
/// `Err(true)`: no integer matches, `Err(false)`: every integer matches.
fn integer_bound(f: &Filter) -> Result<Result<i64, bool>, ServeError> {
    let v = f.num_arg().ok_or_else(|| {
        ServeError::bad_request(format!("filter \"{}\": {:?} is not a number", f.param_name(), f.value))
    })?;
    let r = if f.op == FilterOp::NumGe { v.ceil() } else { v.floor() };
    let ge = f.op == FilterOp::NumGe;
    Ok(if r > i64::MAX as f64 {
        Err(ge)
    } else if r < i64::MIN as f64 {
        Err(!ge)
    } else {
        Ok(r as i64)
    })
}

fn is_integer(kind: ColumnKind) -> bool {
    matches!(kind, ColumnKind::Integer | ColumnKind::BigInt)
}

fn quoted(name: &str) -> Result<String, ServeError> {
    quote_ident(name).ok_or_else(|| ServeError::bad_request(format!("invalid column name {name:?}")))
}

/// Plans one page of `GET /api/exports/api/<id>`. `resume`: the last pk of page `page − 1` of
/// the same walk, from the [`CursorCache`].
pub fn plan_export_page(
    meta: &ExportMeta,
    params: &ExportParams,
    resume: Option<&str>,
) -> Result<ExportPlan, ServeError> {
    let relation = meta.relation()?;
    let order = params
        .orderby
        .clone()
        .unwrap_or_else(|| OrderBy::asc(meta.pk_column.clone()));
    let order_col = meta
        .column(&order.column)
        .filter(|c| c.kind != ColumnKind::Geometry && c.sql_type != "json")
        .ok_or_else(|| ServeError::bad_request(format!("No column name {} to sort with", order.column)))?;
    let pk = meta.column(&meta.pk_column);

    // Integer n-bounds are ours (sargable); the rest goes to gn_protocol's renderer.
    let mut own: Vec<(&Filter, &ColumnInfo)> = Vec::new();
    let mut rest: Vec<Filter> = Vec::new();
    for f in &params.filters {
        match meta.column(&f.column) {
            Some(c) if matches!(f.op, FilterOp::NumGe | FilterOp::NumLe) && is_integer(c.kind) => own.push((f, c)),
            _ => rest.push(f.clone()),
        }
    }
    let rendered = render_filters(&rest, &meta.columns, meta.geometry.as_ref(), Strictness::GeoNature, 1)
        .map_err(|e| ServeError::bad_request(e.to_string()))?;
    let mut conditions = rendered.conditions;
    let mut values = rendered.params;
    let keyset = !order.descending
        && pk.is_some_and(|p| is_integer(p.kind) && p.name == order_col.name)
        && own
            .iter()
            .any(|(f, c)| f.op == FilterOp::NumGe && c.name == meta.pk_column);
    // Conditions without the keyset bound, for the count.
    let mut count_conditions = conditions.clone();
    let mut count_values = values.clone();
    for (f, c) in &own {
        let is_bound = keyset && f.op == FilterOp::NumGe && c.name == meta.pk_column;
        let op = if f.op == FilterOp::NumGe { ">=" } else { "<=" };
        let (cond, value) = match integer_bound(f)? {
            Ok(n) => (
                format!("{} {op} CAST(${} AS bigint)", quoted(&c.name)?, values.len() + 1),
                Some(n.to_string()),
            ),
            Err(none) => ((if none { "false" } else { "true" }).to_string(), None),
        };
        if !is_bound {
            let count_cond = match &value {
                Some(_) => format!("{} {op} CAST(${} AS bigint)", quoted(&c.name)?, count_values.len() + 1),
                None => cond.clone(),
            };
            count_conditions.push(count_cond);
            count_values.extend(value.clone());
        }
        conditions.push(cond);
        values.extend(value);
    }

    let pk_ordered = pk.is_some_and(|p| p.name == order_col.name);
    let strategy = match params.limit {
        PageLimit::All => Strategy::All,
        PageLimit::Rows(_) if keyset => Strategy::Keyset,
        PageLimit::Rows(_) if pk_ordered && params.page > 0 && resume.is_some() => Strategy::Resume,
        PageLimit::Rows(_) => Strategy::PageIndex,
    };
    if let (Strategy::Resume, Some(last)) = (strategy, resume) {
        conditions.push(format!(
            "{} {} CAST(${} AS {})",
            quoted(&order_col.name)?,
            if order.descending { "<" } else { ">" },
            values.len() + 1,
            order_col.sql_type
        ));
        values.push(last.to_string());
    }

    // Output: sorted by name; geometry columns left out, or the export's geometry as GeoJSON.
    let mut props: Vec<&ColumnInfo> = meta.columns.iter().filter(|c| c.kind != ColumnKind::Geometry).collect();
    props.sort_by(|a, b| a.name.cmp(&b.name));
    let mut output = Vec::new();
    for c in props {
        output.push(OutputColumn {
            name: c.name.clone(),
            kind: c.kind,
            sql_type: c.sql_type.clone(),
            geojson: false,
        });
    }
    if let Some(g) = &meta.geometry {
        output.push(OutputColumn {
            name: g.column.clone(),
            kind: ColumnKind::Geometry,
            sql_type: "geometry".into(),
            geojson: true,
        });
    }
    let postgis = meta.geometry.as_ref().map(|g| g.postgis.as_str()).unwrap_or("");
    let mut select = output
        .iter()
        .map(|o| o.select_expr(postgis))
        .collect::<Result<Vec<_>, _>>()?;
    if select.is_empty() {
        select.push("NULL".into());
    }
    let pk_output = output
        .iter()
        .position(|o| Some(o.name.as_str()) == pk.map(|p| p.name.as_str()) && !o.geojson);

    let where_clause = |c: &[String]| {
        if c.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", c.join(" AND "))
        }
    };
    // ORDER BY in the outer query names the columns qualified: a bare name would pick the
    // select list's text cast of the same name, and order numbers as text.
    let order_terms = |prefix: &str| -> Result<String, ServeError> {
        let mut o = format!(
            " ORDER BY {prefix}{}{}",
            quoted(&order_col.name)?,
            if order.descending { " DESC" } else { "" }
        );
        if let Some(p) = pk.filter(|p| p.name != order_col.name) {
            o.push_str(&format!(", {prefix}{}", quoted(&p.name)?));
        }
        Ok(o)
    };
    let outer_order = order_terms(&format!("{PAGE_ALIAS}."))?;
    let lookahead = strategy == Strategy::Keyset;
    let sql = match params.limit {
        // Every row: one ordered scan, streamed.
        PageLimit::All => format!(
            "SELECT {} FROM {relation} AS {PAGE_ALIAS}{}{outer_order}",
            select.join(", "),
            where_clause(&conditions)
        ),
        // A page: the rows are chosen by an inner query that selects the view's columns as they
        // are, and only the page's rows are cast to text. (Cast in the same query, every row an
        // OFFSET skips would be cast too: 3x slower at a depth of 900,000 rows.)
        PageLimit::Rows(n) => {
            let mut inner = format!(
                "SELECT * FROM {relation}{}{} LIMIT CAST(${} AS bigint)",
                where_clause(&conditions),
                order_terms("")?,
                values.len() + 1
            );
            values.push((n + u64::from(lookahead)).to_string());
            if strategy != Strategy::Resume && params.page > 0 {
                inner.push_str(&format!(" OFFSET CAST(${} AS bigint)", values.len() + 1));
                values.push(params.row_offset().to_string());
            }
            format!(
                "SELECT {} FROM ({inner}) AS {PAGE_ALIAS}{outer_order}",
                select.join(", ")
            )
        }
    };

    let count = SqlQuery {
        sql: format!("SELECT count(*) FROM {relation}{}", where_clause(&count_conditions)),
        params: count_values,
    };
    // Keys from the rendered SQL: filters that apply, and nothing else, decide them.
    let count_key = serde_json::json!(["count", meta.id, count.sql, count.params]).to_string();
    let walk_key = pk_ordered.then(|| {
        serde_json::json!([
            "walk",
            meta.id,
            order.to_param(),
            params.limit_echo(),
            count.sql,
            count.params
        ])
        .to_string()
    });
    Ok(ExportPlan {
        page: SqlQuery { sql, params: values },
        lookahead,
        page_rows: match params.limit {
            PageLimit::Rows(n) => Some(n),
            PageLimit::All => None,
        },
        output,
        strategy,
        pk_output,
        count,
        count_key,
        total: SqlQuery {
            sql: format!("SELECT count(*) FROM {relation}"),
            params: Vec::new(),
        },
        walk_key,
        limit_echo: params.limit_echo(),
        page_echo: params.page,
    })
}

/// The rows of a file download (`/api/exports/<id>/<format>`): the whole view, every column in
/// view order, ordered by the pk when the view has it (GeoNature ignores filters on files).
pub fn plan_export_file(meta: &ExportMeta) -> Result<SqlQuery, ServeError> {
    let cols = meta
        .columns
        .iter()
        .map(|c| quoted(&c.name))
        .collect::<Result<Vec<_>, _>>()?;
    let mut sql = format!(
        "SELECT {} FROM {}",
        if cols.is_empty() {
            "NULL".to_string()
        } else {
            cols.join(", ")
        },
        meta.relation()?
    );
    if let Some(pk) = meta.column(&meta.pk_column) {
        sql.push_str(&format!(" ORDER BY {}", quoted(&pk.name)?));
    }
    Ok(SqlQuery {
        sql,
        params: Vec::new(),
    })
}

/// Remembers the last pk of recent pages, so page k of a page-index walk resumes after page
/// k−1 ([`Strategy::Resume`]). Bounded: the oldest entries go first.
#[derive(Debug)]
pub struct CursorCache {
    cap: usize,
    map: HashMap<(String, u64), String>,
    order: VecDeque<(String, u64)>,
}

impl CursorCache {
    pub fn new(cap: usize) -> CursorCache {
        CursorCache {
            cap: cap.max(1),
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// After page `page` of walk `key` was written whole (a full page), with `last_pk` last.
    pub fn remember(&mut self, key: &str, page: u64, last_pk: String) {
        let k = (key.to_string(), page);
        if self.map.insert(k.clone(), last_pk).is_none() {
            self.order.push_back(k);
        }
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    /// The last pk of page `page − 1` of walk `key`, to plan page `page`.
    pub fn resume_point(&self, key: &str, page: u64) -> Option<&str> {
        let prev = page.checked_sub(1)?;
        self.map.get(&(key.to_string(), prev)).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{export_params, ApiSettings};

    fn col(name: &str, kind: ColumnKind, t: &str) -> ColumnInfo {
        ColumnInfo {
            name: name.into(),
            kind,
            sql_type: t.into(),
        }
    }

    fn meta(geometry: bool) -> ExportMeta {
        ExportMeta {
            id: 7,
            schema: "gn_exports".into(),
            view: "v_synthese \"x\"".into(),
            pk_column: "id_synthese".into(),
            columns: vec![
                col("id_synthese", ColumnKind::Integer, "integer"),
                col("nom_cite", ColumnKind::Text, "text"),
                col("derniere_action", ColumnKind::Timestamp, "timestamp without time zone"),
                col("geom", ColumnKind::Geometry, "geometry(Geometry,4326)"),
                col("cd_nom", ColumnKind::Integer, "integer"),
            ],
            geometry: geometry.then(|| GeometryTarget {
                column: "geom".into(),
                srid: 4326,
                postgis: "public.".into(),
            }),
            public: false,
        }
    }

    fn plan(q: &str, resume: Option<&str>) -> Result<ExportPlan, ServeError> {
        let p = export_params(&crate::http::decode_query(q).unwrap(), &ApiSettings::default())?;
        plan_export_page(&meta(false), &p, resume)
    }

    const COLS: &str = "CAST(\"cd_nom\" AS pg_catalog.text), CAST(\"derniere_action\" AS pg_catalog.text), CAST(\"id_synthese\" AS pg_catalog.text), CAST(\"nom_cite\" AS pg_catalog.text)";
    const A: &str = "\"_gn_flux_page\"";
    const REL: &str = "\"gn_exports\".\"v_synthese \"\"x\"\"\"";

    #[test]
    fn keyset_page_is_an_index_range() {
        let p = plan("limit=1000&orderby=id_synthese&filter_n_up_id_synthese=1000.5&filter_d_up_derniere_action=2024-01-01+10:00:00&action=x", None).unwrap();
        assert_eq!(p.strategy, Strategy::Keyset);
        assert_eq!(
            p.page.sql,
            format!("SELECT {COLS} FROM (SELECT * FROM {REL} WHERE \"derniere_action\" >= CAST($1 AS timestamp without time zone) AND \"id_synthese\" >= CAST($2 AS bigint) ORDER BY \"id_synthese\" LIMIT CAST($3 AS bigint)) AS {A} ORDER BY {A}.\"id_synthese\"")
        );
        assert_eq!(p.page.params, ["2024-01-01 10:00:00", "1001", "1001"]);
        assert!(p.lookahead);
        assert_eq!(p.page_rows, Some(1000));
        // The count leaves the bound out, so one count serves the whole walk.
        assert_eq!(
            p.count.sql,
            format!("SELECT count(*) FROM {REL} WHERE \"derniere_action\" >= CAST($1 AS timestamp without time zone)")
        );
        assert_eq!(p.count.params, ["2024-01-01 10:00:00"]);
        let p2 = plan("limit=1000&orderby=id_synthese&filter_n_up_id_synthese=5001&filter_d_up_derniere_action=2024-01-01+10:00:00", None).unwrap();
        assert_eq!(p.count_key, p2.count_key);
        assert_eq!(p.total.sql, format!("SELECT count(*) FROM {REL}"));
        assert_eq!(p.pk_output, Some(2));
        // total_filtered: exact on the last page, an upper bound above limit before.
        assert_eq!(p.total_filtered(1001, 50_000), 50_000);
        assert_eq!(p.total_filtered(1001, 10), 1001);
        assert_eq!(p.total_filtered(12, 50_000), 12);
    }

    #[test]
    fn page_index_and_resume() {
        let p = plan("limit=100&offset=3", None).unwrap();
        assert_eq!(p.strategy, Strategy::PageIndex);
        assert_eq!(
            p.page.sql,
            format!(
                "SELECT {COLS} FROM (SELECT * FROM {REL} ORDER BY \"id_synthese\" LIMIT CAST($1 AS bigint) OFFSET CAST($2 AS bigint)) AS {A} ORDER BY {A}.\"id_synthese\""
            )
        );
        assert_eq!(p.page.params, ["100", "300"]);
        assert!(!p.lookahead);
        assert_eq!(p.total_filtered(100, 1050), 750, "GeoNature counts after the OFFSET");
        assert_eq!(p.total_filtered(0, 100), 0);
        let key = p.walk_key.clone().unwrap();

        let r = plan("limit=100&offset=3", Some("4242")).unwrap();
        assert_eq!(r.strategy, Strategy::Resume);
        assert_eq!(
            r.page.sql,
            format!("SELECT {COLS} FROM (SELECT * FROM {REL} WHERE \"id_synthese\" > CAST($1 AS integer) ORDER BY \"id_synthese\" LIMIT CAST($2 AS bigint)) AS {A} ORDER BY {A}.\"id_synthese\"")
        );
        assert_eq!(r.page.params, ["4242", "100"]);
        assert_eq!(r.total_filtered(100, 1050), 750);
        assert_eq!(r.walk_key.as_deref(), Some(key.as_str()));
        assert_ne!(plan("limit=50&offset=3", None).unwrap().walk_key.unwrap(), key);

        let d = plan("limit=10&offset=1&orderby=id_synthese:desc", Some("99")).unwrap();
        assert!(
            d.page
                .sql
                .contains("WHERE \"id_synthese\" < CAST($1 AS integer) ORDER BY \"id_synthese\" DESC LIMIT"),
            "{}",
            d.page.sql
        );
        // Page 0 never resumes; a non-pk order has no walk key and gets the pk as tie-breaker.
        assert_eq!(plan("limit=10", Some("5")).unwrap().strategy, Strategy::PageIndex);
        let o = plan("limit=10&offset=2&orderby=cd_nom:desc", Some("5")).unwrap();
        assert_eq!(o.strategy, Strategy::PageIndex);
        assert_eq!(o.walk_key, None);
        assert!(
            o.page
                .sql
                .contains("ORDER BY \"cd_nom\" DESC, \"id_synthese\" LIMIT CAST($1 AS bigint) OFFSET CAST($2 AS bigint)) AS \"_gn_flux_page\" ORDER BY \"_gn_flux_page\".\"cd_nom\" DESC, \"_gn_flux_page\".\"id_synthese\""),
            "{}",
            o.page.sql
        );
    }

    #[test]
    fn all_rows_and_filters() {
        let p = plan(
            "limit=0&ilike_nom_cite=Lynx&nope=1&filter_n_lo_cd_nom=10.7&geometry=POINT(1+1)",
            None,
        )
        .unwrap();
        assert_eq!(p.strategy, Strategy::All);
        assert_eq!(
            p.page.sql,
            format!("SELECT {COLS} FROM {REL} AS {A} WHERE \"nom_cite\" ILIKE '%' || $1 || '%' AND \"cd_nom\" <= CAST($2 AS bigint) ORDER BY {A}.\"id_synthese\"")
        );
        assert_eq!(p.page.params, ["Lynx", "10"]);
        assert_eq!(p.page_rows, None);
        assert_eq!(p.total_filtered(3, 3), 3);
        // Out-of-range bounds.
        let none = plan("filter_n_up_cd_nom=1e300", None).unwrap();
        assert!(none.page.sql.contains("WHERE false ORDER"), "{}", none.page.sql);
        let every = plan("filter_n_up_cd_nom=-1e300", None).unwrap();
        assert!(every.page.sql.contains("WHERE true ORDER"), "{}", every.page.sql);
    }

    #[test]
    fn bad_parameters_are_400() {
        for (q, needle) in [
            ("orderby=nope", "No column name nope to sort with"),
            ("orderby=geom", "No column name geom to sort with"),
            ("filter_n_up_id_synthese=abc", "is not a number"),
            ("filter_d_up_derniere_action=soon", "not a date"),
            ("orderby=x%22;drop", "No column name x\";drop to sort with"),
        ] {
            let e = plan(q, None).unwrap_err();
            assert_eq!(e.status, 400, "{q}");
            assert!(e.message.contains(needle), "{q}: {}", e.message);
        }
        let mut m = meta(false);
        m.pk_column = "to define".into();
        let e = plan_export_page(&m, &export_params(&[], &ApiSettings::default()).unwrap(), None).unwrap_err();
        assert_eq!(e.message, "No column name to define to sort with");
    }

    #[test]
    fn feature_collection_output() {
        let p = export_params(
            &crate::http::decode_query("geometry=POINT(6+45)").unwrap(),
            &ApiSettings::default(),
        )
        .unwrap();
        let plan = plan_export_page(&meta(true), &p, None).unwrap();
        assert_eq!(
            plan.page.sql,
            format!("SELECT {COLS}, public.ST_AsGeoJSON(\"geom\", 6, 0) FROM (SELECT * FROM {REL} WHERE public.ST_Intersects(\"geom\", public.ST_Transform(public.ST_GeomFromText($1, 4326), 4326)) ORDER BY \"id_synthese\" LIMIT CAST($2 AS bigint)) AS {A} ORDER BY {A}.\"id_synthese\"")
        );
        assert_eq!(
            plan.output.last().map(|o| (o.name.as_str(), o.geojson)),
            Some(("geom", true))
        );
        assert_eq!(plan.output.len(), 5);
    }

    #[test]
    fn file_plan_and_cursor_cache() {
        assert_eq!(
            plan_export_file(&meta(true)).unwrap().sql,
            format!("SELECT \"id_synthese\", \"nom_cite\", \"derniere_action\", \"geom\", \"cd_nom\" FROM {REL} ORDER BY \"id_synthese\"")
        );
        let mut c = CursorCache::new(2);
        c.remember("w", 0, "10".into());
        c.remember("w", 1, "20".into());
        assert_eq!(c.resume_point("w", 1), Some("10"));
        assert_eq!(c.resume_point("w", 2), Some("20"));
        assert_eq!(c.resume_point("w", 0), None);
        c.remember("w", 2, "30".into());
        assert_eq!((c.len(), c.resume_point("w", 1)), (2, None), "oldest evicted");
    }

    #[test]
    fn page_values_are_read_from_their_text_form_with_geonature_s_rules() {
        let col = |kind, sql_type: &str| OutputColumn {
            name: "c".into(),
            kind,
            sql_type: sql_type.into(),
            geojson: false,
        };
        let v = |kind, sql_type: &str, t: &str| col(kind, sql_type).wire_value(Some(t.to_string()));
        assert_eq!(col(ColumnKind::Text, "text").wire_value(None), WireValue::Null);
        assert_eq!(v(ColumnKind::Integer, "integer", "-42"), WireValue::Int(-42));
        assert_eq!(
            v(ColumnKind::BigInt, "bigint", "9223372036854775807"),
            WireValue::Int(i64::MAX)
        );
        assert_eq!(v(ColumnKind::Float, "double precision", "1.5"), WireValue::Float(1.5));
        assert_eq!(v(ColumnKind::Float, "real", "NaN"), WireValue::Text("NaN".into()));
        assert_eq!(
            v(ColumnKind::Numeric, "numeric", "0.00"),
            WireValue::Numeric("0.00".into())
        );
        assert_eq!(v(ColumnKind::Boolean, "boolean", "t"), WireValue::Bool(true));
        assert_eq!(v(ColumnKind::Boolean, "boolean", "f"), WireValue::Bool(false));
        assert_eq!(
            v(ColumnKind::Json, "jsonb", r#"{"a": [1, "x"]}"#),
            WireValue::Json(serde_json::json!({"a": [1, "x"]}))
        );
        assert_eq!(
            v(ColumnKind::Date, "date", "2024-02-29"),
            WireValue::Date(chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap())
        );
        let ts = v(
            ColumnKind::Timestamp,
            "timestamp without time zone",
            "2024-01-02 03:04:05.5",
        );
        let mut out = Vec::new();
        ts.write_json(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "\"2024-01-02 03:04:05.500000\"");
        // Python's str() of an aware datetime: microseconds, and the offset as +HH:MM.
        let tz = "timestamp with time zone";
        assert_eq!(
            v(ColumnKind::Timestamp, tz, "2024-01-02 03:04:05.5+01"),
            WireValue::Text("2024-01-02 03:04:05.500000+01:00".into())
        );
        assert_eq!(
            v(ColumnKind::Timestamp, tz, "2024-01-02 03:04:05-09:30"),
            WireValue::Text("2024-01-02 03:04:05-09:30".into())
        );
        assert_eq!(
            v(ColumnKind::Integer, "integer", "x"),
            WireValue::Text("x".into()),
            "kept, not lost"
        );
    }
}
