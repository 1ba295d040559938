//! From (relation, format, filters, srid) to one SELECT with bound parameters, the writers'
//! layout, and how each column is read back from SPI.
//!
//! The SELECT runs under the caller's search_path: the functions, types and operators this module
//! writes into it are `pg_catalog.`-qualified (PostGIS ones with PostGIS's schema).

use super::relation::{quote, Column, Relation};
use crate::error::{GnFluxError, Kind};
use crate::gucs;
use gn_export::{Field, FieldType, Format, Layout, Options, ShapeLayerKind, ShpPlan};
use gn_protocol::filter_sql::{render_filters, render_order_by, FilterError, GeometryTarget, Strictness};
use gn_protocol::query::{Filter, OrderBy, RESERVED_PARAMS};
use pgrx::prelude::*;

#[derive(Debug, Clone)]
pub struct Plan {
    pub format: Format,
    pub sql: String,
    pub params: Vec<String>,
    /// The selected columns are read back from SPI as their `layout.fields` types say.
    pub layout: Layout,
    pub options: Options,
}

/// What the export registry (or the caller) says about the relation.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    pub geometry_field: Option<String>,
    pub pk: Option<String>,
    /// Output SRID (reprojection target); `None`: the column's own.
    pub srid: Option<i32>,
}

pub fn parse_format(format: Option<&str>) -> Result<Format, GnFluxError> {
    format.and_then(Format::parse).ok_or_else(|| {
        GnFluxError::invalid(
            format!("unknown export format \"{}\"", format.unwrap_or("NULL")),
            format!("Use one of: {}.", Format::names()),
        )
    })
}

/// Filters as GeoNature's export API takes them, in a jsonb object; plus `orderby` and `limit`.
#[derive(Default)]
pub struct Filters {
    pub filters: Vec<Filter>,
    pub order_by: Option<OrderBy>,
    pub limit: Option<i64>,
}

pub fn parse_filters(filters: Option<&serde_json::Value>) -> Result<Filters, GnFluxError> {
    let mut out = Filters {
        filters: Vec::new(),
        order_by: None,
        limit: None,
    };
    let Some(value) = filters else { return Ok(out) };
    let hint = "Pass a jsonb object such as '{\"cd_nom\": 60015, \"filter_d_up_date_min\": \"2024-01-01\", \"ilike_nom_cite\": \"lynx\"}'.";
    let obj = match value {
        serde_json::Value::Null => return Ok(out),
        serde_json::Value::Object(o) => o,
        other => {
            return Err(GnFluxError::invalid(
                format!("filters must be a jsonb object, not {}", json_type(other)),
                hint,
            ))
        }
    };
    for (key, v) in obj {
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            other => {
                return Err(GnFluxError::invalid(
                    format!("filter \"{key}\": value must be a string, number or boolean, not {}", json_type(other)),
                    "Give one value per filter (the GeoNature grammar has no lists); combine bounds with filter_d_up_/filter_d_lo_.",
                ))
            }
        };
        match key.as_str() {
            "orderby" => out.order_by = Some(OrderBy::parse(&text)),
            "limit" => {
                let n = text.trim().parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    GnFluxError::invalid(
                        format!("filter \"limit\": {text:?} is not a non-negative integer"),
                        "Give a row count, e.g. {\"limit\": 1000}.",
                    )
                })?;
                out.limit = Some(n);
            }
            k if RESERVED_PARAMS.contains(&k) => {
                return Err(GnFluxError::invalid(
                    format!("\"{k}\" is not a filter"),
                    "Files hold every matching row: remove offset/token (they only page GeoNature's HTTP API).",
                ))
            }
            _ => {
                if let Some(f) = Filter::from_param(key, &text) {
                    out.filters.push(f);
                }
            }
        }
    }
    Ok(out)
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn filter_error(e: FilterError) -> GnFluxError {
    let message = e.to_string();
    match e {
        FilterError::UnknownColumn { .. } => GnFluxError::new(
            Kind::UndefinedColumn,
            message,
            "Filter names are <column>, ilike_<column>, filter_d_up_/filter_d_lo_/filter_d_eq_<column>, filter_n_up_/filter_n_lo_<column> or geometry; see the view's columns with \\d.",
        ),
        FilterError::NotApplicable { expected, .. } => GnFluxError::invalid(
            message,
            format!("This filter needs {expected}; use <column>=value for an exact match."),
        ),
        FilterError::BadValue { expected, .. } => {
            GnFluxError::invalid(message, format!("Give {expected}."))
        }
        FilterError::NoGeometry { .. } => GnFluxError::invalid(
            message,
            "Remove the geometry filter, or export a relation with a PostGIS geometry column.",
        ),
    }
}

fn srs_of(rel: &Relation, srid: i32) -> Result<Option<(String, String, i32)>, GnFluxError> {
    let postgis = rel.postgis()?;
    Spi::connect(|c| -> Result<Option<(String, String, i32)>, GnFluxError> {
        let sql =
            format!("SELECT srtext::pg_catalog.text, auth_name::pg_catalog.text, auth_srid FROM {postgis}spatial_ref_sys WHERE srid OPERATOR(pg_catalog.=) $1");
        let mut rows = c.select(&sql, Some(1), &[srid.into()])?;
        let Some(r) = rows.next() else { return Ok(None) };
        Ok(Some((
            r.get::<String>(1)?.unwrap_or_default(),
            r.get::<String>(2)?.unwrap_or_else(|| "EPSG".into()),
            r.get::<i32>(3)?.unwrap_or(srid),
        )))
    })
}

fn csv_separator() -> Result<u8, GnFluxError> {
    let s = gucs::csv_separator();
    match s.as_bytes() {
        [b] if b.is_ascii() && *b != b'"' && *b != b'\n' && *b != b'\r' => Ok(*b),
        _ => Err(GnFluxError::invalid(
            format!("gn_flux.csv_separator must be one ASCII character other than a quote or a line break, not {s:?}"),
            "SET gn_flux.csv_separator = ';' (or ',', or E'\\t').",
        )),
    }
}

pub fn plan(rel: &Relation, format: Format, filters: &Filters, hints: &Hints) -> Result<Plan, GnFluxError> {
    // The geometry written as the feature geometry.
    let geometry: Option<&Column> = match &hints.geometry_field {
        Some(g) => Some(
            rel.column(g)
                .filter(|c| c.field == FieldType::Geometry)
                .ok_or_else(|| {
                    GnFluxError::new(
                        Kind::UndefinedColumn,
                        format!(
                            "geometry column \"{g}\" does not exist in {} or is not a PostGIS geometry",
                            rel.qualified
                        ),
                        "Fix geometry_field in gn_flux.export (UPDATE gn_flux.export SET geometry_field = …).",
                    )
                })?,
        ),
        None => rel.geometry_columns().next(),
    };
    if format.needs_geometry() && geometry.is_none() {
        return Err(GnFluxError::invalid(
            format!(
                "{} has no geometry column: format {} needs one",
                rel.qualified,
                format.name()
            ),
            "Export it as csv, json or xlsx, or add a PostGIS geometry column to the view.",
        ));
    }
    if let Some(srid) = hints.srid {
        if format == Format::GeoJson && srid != 4326 {
            return Err(GnFluxError::invalid(
                format!("GeoJSON is always written in EPSG:4326 (RFC 7946), not SRID {srid}"),
                "Leave srid NULL for geojson, or choose gpkg, shp, csv, json or xlsx to write other SRIDs.",
            ));
        }
        if geometry.is_none() {
            return Err(GnFluxError::invalid(
                format!("srid {srid} given but {} has no geometry column", rel.qualified),
                "Leave srid NULL for relations without geometry.",
            ));
        }
    }
    let (mut source_srid, mut out_srid) = (0, None);
    if let Some(g) = geometry {
        source_srid = rel.geometry_srid(g)?;
        let wanted = if format == Format::GeoJson {
            Some(4326)
        } else {
            hints.srid
        };
        out_srid = Some(wanted.unwrap_or(source_srid));
        if let Some(w) = wanted {
            if w != source_srid && source_srid == 0 {
                return Err(GnFluxError::invalid(
                    format!("cannot reproject column \"{}\" to SRID {w}: its geometries have no SRID", g.name),
                    "Give the geometries an SRID in the view (ST_SetSRID(geom, 2154)) or declare the column as geometry(…, srid).",
                ));
            }
        }
    }
    let srs = match out_srid {
        Some(s) if s > 0 => {
            let srs = srs_of(rel, s)?;
            if srs.is_none() {
                return Err(GnFluxError::invalid(
                    format!("SRID {s} is not in spatial_ref_sys"),
                    "Use an SRID PostGIS knows, e.g. 4326 (WGS 84) or 2154 (Lambert-93): SELECT srid, auth_name FROM spatial_ref_sys.",
                ));
            }
            srs
        }
        _ => None,
    };

    let mut select = Vec::with_capacity(rel.columns.len());
    let mut fields = Vec::with_capacity(rel.columns.len());
    let mut geometry_index = None;
    for c in &rel.columns {
        let ident = quote(&c.name)?;
        let is_main = geometry.is_some_and(|g| g.name == c.name);
        let (expr, field) = if is_main {
            let postgis = rel.postgis()?;
            let target = out_srid.unwrap_or(source_srid);
            let geom = if target != source_srid {
                format!("{postgis}ST_Transform({ident}, {target})")
            } else {
                ident.clone()
            };
            geometry_index = Some(fields.len());
            (format!("{postgis}ST_AsEWKB({geom})"), FieldType::Geometry)
        } else if c.kind == gn_protocol::query::ColumnKind::Geometry {
            // Other geometry (and geography) columns: WKT text.
            (format!("{}ST_AsText({ident})", rel.postgis()?), FieldType::Text)
        } else if c.is_array {
            (
                format!("pg_catalog.to_jsonb({ident})::pg_catalog.text"),
                FieldType::Json,
            )
        } else {
            // What SPI hands back must match the field type (see stream::read_cell).
            let expr = match c.field {
                FieldType::Int => format!("{ident}::pg_catalog.int8"),
                FieldType::Float => format!("{ident}::pg_catalog.float8"),
                FieldType::Bool | FieldType::Date | FieldType::Timestamp | FieldType::TimestampTz => ident.clone(),
                FieldType::Numeric | FieldType::Json | FieldType::Text | FieldType::Geometry => {
                    format!("{ident}::pg_catalog.text")
                }
            };
            (expr, c.field)
        };
        select.push(expr);
        fields.push(Field::new(c.name.clone(), field));
    }

    let columns = rel.column_infos();
    let target = match geometry {
        Some(g) => Some(GeometryTarget {
            column: g.name.clone(),
            srid: source_srid,
            postgis: rel.postgis()?.to_string(),
        }),
        None => None,
    };
    let rendered =
        render_filters(&filters.filters, &columns, target.as_ref(), Strictness::Strict, 1).map_err(filter_error)?;
    let mut sql = format!(
        "SELECT {} FROM {}{}",
        select.join(", "),
        rel.qualified,
        rendered.where_clause()
    );
    if let Some(order) = &filters.order_by {
        let clause = render_order_by(order, &columns).ok_or_else(|| {
            GnFluxError::new(
                Kind::UndefinedColumn,
                format!("orderby: column \"{}\" does not exist", order.column),
                "Give a column of the view, optionally with :desc.",
            )
        })?;
        // Qualified, so that an output column name can never shadow the relation's column.
        sql.push_str(&clause.replacen(" ORDER BY ", &format!(" ORDER BY {}.", rel.qualified), 1));
    }
    if let Some(limit) = filters.limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }

    let pk = match &hints.pk {
        Some(pk) => Some(pk.clone()),
        None => Some(super::relation::detect_pk(rel)?),
    };
    let layout = Layout {
        name: rel.name.clone(),
        pk: pk.and_then(|p| fields.iter().position(|f| f.name == p)),
        fields,
        geometry: geometry_index,
        srid: out_srid,
        srs_wkt: srs.as_ref().map(|s| s.0.clone()).filter(|s| !s.is_empty()),
        srs_authority: srs.as_ref().map(|s| (s.1.clone(), s.2)),
        geometry_kind: geometry
            .map(Relation::geometry_kind)
            .unwrap_or(gn_export::GeometryKind::Unknown),
    };
    let mut options = Options {
        csv_separator: if format == Format::Csv { csv_separator()? } else { b';' },
        gpkg_spatial_index: crate::gucs::GPKG_SPATIAL_INDEX.get(),
        ..Options::default()
    };
    if format == Format::Shp {
        options.shp = Some(shp_plan(rel, &layout, &rendered.params, &sql)?);
    }
    Ok(Plan {
        format,
        sql,
        params: rendered.params,
        layout,
        options,
    })
}

/// Shapefiles need, before the first row, the geometry types present (one layer each) and the
/// widest text of each field (DBF fields have a fixed width): one aggregate pass over the rows.
fn shp_plan(rel: &Relation, layout: &Layout, params: &[String], sql: &str) -> Result<ShpPlan, GnFluxError> {
    let postgis = rel.postgis()?;
    let mut aggregates = Vec::new();
    let geometry = layout.geometry.unwrap_or(0);
    aggregates.push(format!(
        "pg_catalog.array_to_string(pg_catalog.array_agg(DISTINCT {postgis}GeometryType({postgis}ST_GeomFromEWKB(c{geometry}))), ',')"
    ));
    let text_fields: Vec<usize> = layout
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| matches!(f.ty, FieldType::Text | FieldType::Json))
        .map(|(i, _)| i)
        .collect();
    for i in &text_fields {
        aggregates.push(format!(
            "pg_catalog.max(pg_catalog.octet_length(c{i}))::pg_catalog.int8"
        ));
    }
    let aliases: Vec<String> = (0..layout.fields.len()).map(|i| format!("c{i}")).collect();
    let scan = format!(
        "SELECT {} FROM ({sql}) AS rows({})",
        aggregates.join(", "),
        aliases.join(", ")
    );
    let args: Vec<pgrx::datum::DatumWithOid> = params.iter().map(|p| p.as_str().into()).collect();
    Spi::connect(|c| -> Result<ShpPlan, GnFluxError> {
        let row = c.select(&scan, Some(1), &args)?.first();
        let kinds: Option<String> = row.get(1)?;
        let mut layers: Vec<ShapeLayerKind> = Vec::new();
        for name in kinds.unwrap_or_default().split(',').filter(|s| !s.is_empty()) {
            let kind = gn_export::GeometryKind::from_name(name);
            let layer = kind.shape_layer().ok_or_else(|| {
                GnFluxError::invalid(
                    format!("a shapefile cannot hold {name} geometries"),
                    "Filter them out, convert them in the view (ST_CollectionExtract), or export as gpkg.",
                )
            })?;
            if !layers.contains(&layer) {
                layers.push(layer);
            }
        }
        layers.sort();
        let mut text_widths = vec![None; layout.fields.len()];
        for (k, i) in text_fields.iter().enumerate() {
            let w: Option<i64> = row.get(k + 2)?;
            text_widths[*i] = w.map(|w| w.max(1) as usize);
        }
        Ok(ShpPlan { layers, text_widths })
    })
}
