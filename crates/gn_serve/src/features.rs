//! The SQL of an OGC `/items` page or `/items/{featureId}`, and the GeoJSON feature writer.
//!
//! A page is a keyset range on the primary key: `pk > $cursor ORDER BY pk LIMIT n + 1` (the
//! extra row tells that a `next` link is due), so its cost does not grow with its depth. Values
//! travel as `$n` text parameters, identifiers are quoted, PostGIS functions are
//! schema-qualified. Each property is selected as JSON text (`to_json`: numbers stay numbers,
//! dates are ISO 8601, as GDAL and QGIS type them), the geometry as GeoJSON text in the asked
//! CRS (`ST_Transform`, then `ST_FlipCoordinates` for a north-first axis order).

use crate::error::ServeError;
use crate::ogc::{Bbox, Bound, Collection, Crs, Interval, ItemsQuery, Temporal};
use crate::plan::SqlQuery;
use gn_protocol::filter_sql::{quote_ident, ColumnInfo};
use gn_protocol::query::ColumnKind;
use std::io::{self, Write};

/// Decimal digits of coordinates (PostGIS's default).
const DIGITS: u32 = 9;

#[derive(Debug, Clone, PartialEq)]
pub struct FeaturesPlan {
    /// Columns: the pk as text, the geometry as GeoJSON text (or NULL), then each property as
    /// JSON text ([`Self::writer`] knows their names).
    pub page: SqlQuery,
    /// `count(*)` with the same filters, without the cursor (`numberMatched`).
    pub count: SqlQuery,
    /// Identifies [`Self::count`] (prefix it with the role).
    pub count_key: String,
    /// Features to write; the page fetches one more.
    pub limit: u64,
    pub writer: FeatureWriter,
}

fn q(name: &str) -> Result<String, ServeError> {
    quote_ident(name).ok_or_else(|| ServeError::bad_request(format!("invalid column name {name:?}")))
}

fn relation(c: &Collection) -> Result<String, ServeError> {
    Ok(format!("{}.{}", q(&c.schema)?, q(&c.view)?))
}

struct Params(Vec<String>);

impl Params {
    fn push(&mut self, v: impl Into<String>) -> String {
        self.0.push(v.into());
        format!("${}", self.0.len())
    }
}

/// The geometry of the asked CRS, as GeoJSON text.
fn geometry_select(c: &Collection, crs: &Crs) -> Result<String, ServeError> {
    let Some((column, srid, _)) = &c.geometry else {
        return Ok("NULL".into());
    };
    let pg = &c.postgis;
    let mut expr = q(column)?;
    if *srid != crs.srid {
        expr = format!("{pg}ST_Transform({expr}, {})", crs.srid);
    }
    if crs.north_first {
        expr = format!("{pg}ST_FlipCoordinates({expr})");
    }
    Ok(format!("{pg}ST_AsGeoJSON({expr}, {DIGITS})"))
}

fn select_list(c: &Collection, crs: &Crs) -> Result<(String, FeatureWriter), ServeError> {
    let mut select = vec![
        format!("CAST({} AS pg_catalog.text)", q(&c.pk.name)?),
        geometry_select(c, crs)?,
    ];
    let mut names = Vec::new();
    for col in c.columns.iter().filter(|c| c.kind != ColumnKind::Geometry) {
        select.push(format!(
            "CAST(pg_catalog.to_json({}) AS pg_catalog.text)",
            q(&col.name)?
        ));
        names.push(col.name.clone());
    }
    Ok((select.join(", "), FeatureWriter::new(&names, is_number(c.pk.kind))))
}

fn is_number(kind: ColumnKind) -> bool {
    matches!(kind, ColumnKind::Integer | ColumnKind::BigInt)
}

fn bbox_condition(c: &Collection, bbox: &Bbox, p: &mut Params) -> Result<String, ServeError> {
    let Some((column, srid, _)) = &c.geometry else {
        // (no geometry: every feature matches, as features without geometry do)
        return Ok("true".into());
    };
    let pg = &c.postgis;
    let g = q(column)?;
    let [x1, y1, x2, y2] = bbox.xy;
    // A box crossing the antimeridian (minx > maxx, longitudes) is two boxes.
    let boxes = if x1 > x2 {
        vec![[x1, y1, 180.0, y2], [-180.0, y1, x2, y2]]
    } else {
        vec![[x1, y1, x2, y2]]
    };
    let mut tests = Vec::new();
    for b in boxes {
        let mut env = format!(
            "{pg}ST_MakeEnvelope(CAST({} AS float8), CAST({} AS float8), CAST({} AS float8), CAST({} AS float8), {})",
            p.push(b[0].to_string()),
            p.push(b[1].to_string()),
            p.push(b[2].to_string()),
            p.push(b[3].to_string()),
            bbox.crs.srid
        );
        if *srid > 0 && *srid != bbox.crs.srid {
            env = format!("{pg}ST_Transform({env}, {srid})");
        } else if *srid == 0 {
            env = format!("{pg}ST_Transform({env}, {pg}ST_SRID({g}))");
        }
        tests.push(format!("{pg}ST_Intersects({g}, {env})"));
    }
    Ok(format!("({} OR {g} IS NULL)", tests.join(" OR ")))
}

fn bound_value(b: &Bound, end: bool) -> (String, &'static str) {
    match b {
        // A whole day: from its start, up to the start of the next.
        Bound::Day(d) if end => ((*d + chrono::Days::new(1)).format("%Y-%m-%d").to_string(), "<"),
        Bound::Day(d) => (d.format("%Y-%m-%d").to_string(), ">="),
        Bound::At(t) if end => (t.clone(), "<="),
        Bound::At(t) => (t.clone(), ">="),
    }
}

fn compare(col: &ColumnInfo, b: &Bound, end: bool, p: &mut Params) -> Result<String, ServeError> {
    let (value, op) = bound_value(b, end);
    Ok(format!(
        "{} {op} CAST({} AS {})",
        q(&col.name)?,
        p.push(value),
        col.sql_type
    ))
}

fn datetime_condition(t: &Temporal, i: &Interval, p: &mut Params) -> Result<Option<String>, ServeError> {
    let (start_col, end_col) = match t {
        Temporal::Range { start, end } => (start, end),
        Temporal::Instant(c) => (c, c),
    };
    let mut parts = Vec::new();
    // The feature's [start, end] intersects the query's: its end after the query's start, its
    // start before the query's end. A feature without a time matches (the standard's rule).
    if let Some(s) = &i.start {
        let c = compare(end_col, s, false, p)?;
        parts.push(format!("({} IS NULL OR {c})", q(&end_col.name)?));
    }
    if let Some(e) = &i.end {
        let c = compare(start_col, e, true, p)?;
        parts.push(format!("({} IS NULL OR {c})", q(&start_col.name)?));
    }
    Ok((!parts.is_empty()).then(|| parts.join(" AND ")))
}

fn property_condition(col: &ColumnInfo, value: &str, p: &mut Params) -> Result<String, ServeError> {
    let v = p.push(value);
    Ok(match col.kind {
        // (text comparison: a cast to varchar(n) would truncate the value)
        ColumnKind::Text | ColumnKind::Varchar => format!("{} = CAST({v} AS pg_catalog.text)", q(&col.name)?),
        _ => format!("{} = CAST({v} AS {})", q(&col.name)?, col.sql_type),
    })
}

/// Plans a page of `/collections/{id}/items`.
pub fn plan_items(c: &Collection, query: &ItemsQuery) -> Result<FeaturesPlan, ServeError> {
    let rel = relation(c)?;
    let pk = q(&c.pk.name)?;
    let mut p = Params(Vec::new());
    let mut conditions = Vec::new();
    if let Some(b) = &query.bbox {
        conditions.push(bbox_condition(c, b, &mut p)?);
    }
    if let (Some(i), Some(t)) = (&query.datetime, c.temporal()) {
        conditions.extend(datetime_condition(&t, i, &mut p)?);
    }
    for (col, v) in &query.properties {
        conditions.push(property_condition(col, v, &mut p)?);
    }
    let count_where = where_clause(&conditions);
    let count = SqlQuery {
        sql: format!("SELECT count(*) FROM {rel}{count_where}"),
        params: p.0.clone(),
    };
    let count_key = format!("ogc:{}:{}:{}", c.export_id, count.sql, count.params.join("\u{1f}"));
    if let Some(after) = &query.after {
        let v = p.push(after.clone());
        conditions.push(format!("{pk} > CAST({v} AS {})", c.pk.sql_type));
    }
    let (select, writer) = select_list(c, &query.crs)?;
    let page = SqlQuery {
        sql: format!(
            // (the outer ORDER BY is qualified: a bare name would sort by the text output column)
            "SELECT {select} FROM (SELECT * FROM {rel}{} ORDER BY {pk} LIMIT {}) AS \"_gn_flux_page\" ORDER BY \"_gn_flux_page\".{pk}",
            where_clause(&conditions),
            query.limit + 1
        ),
        params: p.0,
    };
    Ok(FeaturesPlan {
        page,
        count,
        count_key,
        limit: query.limit,
        writer,
    })
}

/// Plans `/collections/{id}/items/{featureId}`: `None` when the id cannot be a key (not an
/// integer for an integer key), which is a 404.
pub fn plan_item(c: &Collection, fid: &str, crs: &Crs) -> Result<Option<FeaturesPlan>, ServeError> {
    if is_number(c.pk.kind) && fid.parse::<i64>().is_err() {
        return Ok(None);
    }
    if c.pk.kind == ColumnKind::Uuid && fid.len() != 36 {
        return Ok(None);
    }
    let rel = relation(c)?;
    let (select, writer) = select_list(c, crs)?;
    let sql = format!(
        "SELECT {select} FROM {rel} WHERE {} = CAST($1 AS {}) LIMIT 2",
        q(&c.pk.name)?,
        c.pk.sql_type
    );
    Ok(Some(FeaturesPlan {
        page: SqlQuery {
            sql,
            params: vec![fid.to_string()],
        },
        count: SqlQuery::default(),
        count_key: String::new(),
        limit: 1,
        writer,
    }))
}

fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

/// Writes features from page rows (pk text, GeoJSON geometry, property JSON texts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureWriter {
    /// `"name":` of each property, escaped once.
    keys: Vec<String>,
    pub names: Vec<String>,
    id_is_number: bool,
}

impl FeatureWriter {
    pub fn new(names: &[String], id_is_number: bool) -> FeatureWriter {
        FeatureWriter {
            keys: names
                .iter()
                .map(|n| format!("{}:", serde_json::Value::from(n.as_str())))
                .collect(),
            names: names.to_vec(),
            id_is_number,
        }
    }

    /// The feature id as JSON (a number for an integer key, as GDAL takes it for the FID).
    pub fn id_json(&self, pk: &str) -> String {
        if self.id_is_number && pk.parse::<i64>().is_ok() {
            pk.to_string()
        } else {
            serde_json::Value::from(pk).to_string()
        }
    }

    /// One feature; `links`: extra members (`"links":[…]`) written before the closing brace.
    pub fn write<W: Write + ?Sized>(&self, out: &mut W, row: &[Option<String>], extra: Option<&str>) -> io::Result<()> {
        let pk = row.first().cloned().flatten().unwrap_or_default();
        out.write_all(b"{\"type\":\"Feature\",\"id\":")?;
        out.write_all(self.id_json(&pk).as_bytes())?;
        out.write_all(b",\"geometry\":")?;
        out.write_all(row.get(1).and_then(|g| g.as_deref()).unwrap_or("null").as_bytes())?;
        out.write_all(b",\"properties\":{")?;
        for (i, key) in self.keys.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            out.write_all(key.as_bytes())?;
            out.write_all(row.get(i + 2).and_then(|v| v.as_deref()).unwrap_or("null").as_bytes())?;
        }
        out.write_all(b"}")?;
        if let Some(extra) = extra {
            out.write_all(b",")?;
            out.write_all(extra.as_bytes())?;
        }
        out.write_all(b"}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ogc::{items_query, Format};

    fn collection() -> Collection {
        crate::ogc::tests::collection()
    }

    fn pairs(q: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn keyset_page_sql() {
        let c = collection();
        let cursor = crate::ogc::encode_cursor("1000");
        let q = items_query(
            &pairs(&format!("limit=100&cursor={cursor}&nom_cite=Lynx")),
            &c,
            1000,
            Format::Json,
        )
        .unwrap();
        let p = plan_items(&c, &q).unwrap();
        assert_eq!(
            p.page.sql,
            "SELECT CAST(\"id_synthese\" AS pg_catalog.text), public.ST_AsGeoJSON(public.ST_Transform(\"geom\", 4326), 9), \
             CAST(pg_catalog.to_json(\"id_synthese\") AS pg_catalog.text), CAST(pg_catalog.to_json(\"nom_cite\") AS pg_catalog.text), \
             CAST(pg_catalog.to_json(\"date_min\") AS pg_catalog.text), CAST(pg_catalog.to_json(\"date_max\") AS pg_catalog.text), \
             CAST(pg_catalog.to_json(\"extra\") AS pg_catalog.text) \
             FROM (SELECT * FROM \"gn\".\"v obs\" WHERE \"nom_cite\" = CAST($1 AS pg_catalog.text) AND \"id_synthese\" > CAST($2 AS integer) \
             ORDER BY \"id_synthese\" LIMIT 101) AS \"_gn_flux_page\" ORDER BY \"_gn_flux_page\".\"id_synthese\""
        );
        assert_eq!(p.page.params, ["Lynx", "1000"]);
        assert_eq!(
            p.count.sql,
            "SELECT count(*) FROM \"gn\".\"v obs\" WHERE \"nom_cite\" = CAST($1 AS pg_catalog.text)"
        );
        assert_eq!(p.count.params, ["Lynx"], "the cursor does not change the count");
    }

    #[test]
    fn bbox_datetime_and_crs() {
        let c = collection();
        let q = items_query(
            &pairs("bbox=-5,42,8,51&datetime=2020-03-01/2020-03-05&crs=http://www.opengis.net/def/crs/EPSG/0/4326"),
            &c,
            1000,
            Format::Json,
        )
        .unwrap();
        let p = plan_items(&c, &q).unwrap();
        assert!(p.page.sql.contains(
            "(public.ST_Intersects(\"geom\", public.ST_Transform(public.ST_MakeEnvelope(CAST($1 AS float8), CAST($2 AS float8), \
             CAST($3 AS float8), CAST($4 AS float8), 4326), 2154)) OR \"geom\" IS NULL)"
        ), "{}", p.page.sql);
        assert!(
            p.page.sql.contains(
                "(\"date_max\" IS NULL OR \"date_max\" >= CAST($5 AS timestamp without time zone)) AND \
             (\"date_min\" IS NULL OR \"date_min\" < CAST($6 AS timestamp without time zone))"
            ),
            "{}",
            p.page.sql
        );
        assert_eq!(
            &p.page.params[4..],
            ["2020-03-01", "2020-03-06"],
            "the end day is whole"
        );
        assert!(p
            .page
            .sql
            .contains("public.ST_FlipCoordinates(public.ST_Transform(\"geom\", 4326))"));
        let q = items_query(&pairs("bbox=170,-10,-170,10"), &c, 1000, Format::Json).unwrap();
        let p = plan_items(&c, &q).unwrap();
        assert_eq!(
            p.page.sql.matches("ST_Intersects").count(),
            2,
            "antimeridian: two boxes"
        );
        let storage = crate::ogc::Crs::epsg(2154, false);
        let p = plan_item(&c, "7", &storage).unwrap().unwrap();
        assert!(
            p.page.sql.contains("public.ST_AsGeoJSON(\"geom\", 9)"),
            "no transform to the storage CRS"
        );
        assert!(p
            .page
            .sql
            .ends_with("WHERE \"id_synthese\" = CAST($1 AS integer) LIMIT 2"));
        assert_eq!(plan_item(&c, "x", &storage).unwrap(), None);
    }

    #[test]
    fn writes_features() {
        let w = FeatureWriter::new(&["a".into(), "b\"c".into()], true);
        let mut out = Vec::new();
        w.write(
            &mut out,
            &[
                Some("7".into()),
                Some("{\"type\":\"Point\",\"coordinates\":[1,2]}".into()),
                Some("\"x\"".into()),
                None,
            ],
            Some("\"links\":[]"),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["properties"]["b\"c"], serde_json::Value::Null);
        assert_eq!(v["properties"]["a"], "x");
        assert_eq!(v["links"], serde_json::json!([]));
        let w = FeatureWriter::new(&[], false);
        assert_eq!(w.id_json("S-1"), "\"S-1\"");
    }
}
