//! The export filter grammar turned into SQL, for every side that answers it from PostgreSQL
//! (`gn_flux.export_view`, the served export API). Values always travel as bound text parameters
//! cast to the column's type; identifiers are always quoted.
//!
//! Two strictness levels: [`Strictness::GeoNature`] reproduces the Export module (unknown columns
//! and filters that do not apply to a column type are ignored), [`Strictness::Strict`] turns each
//! of those into an error, as SQL callers expect.

use crate::query::{ColumnKind, DateArg, Filter, FilterOp, OrderBy};

/// Double-quotes an SQL identifier (embedded quotes doubled). `None` for names PostgreSQL cannot
/// hold (a NUL byte).
pub fn quote_ident(name: &str) -> Option<String> {
    if name.contains('\0') {
        return None;
    }
    Some(format!("\"{}\"", name.replace('"', "\"\"")))
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnInfo {
    pub name: String,
    pub kind: ColumnKind,
    /// The column's type as `format_type()` spells it, used to cast parameters.
    pub sql_type: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    GeoNature,
    Strict,
}

/// The geometry column filters by `geometry=<WKT>` apply to.
#[derive(Debug, Clone, PartialEq)]
pub struct GeometryTarget {
    pub column: String,
    /// SRID of the column; 0 when unknown (the WKT is then matched per row's SRID).
    pub srid: i32,
    /// Schema-qualified prefix of PostGIS functions, e.g. `public.`.
    pub postgis: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    #[error("filter \"{param}\": column \"{column}\" does not exist")]
    UnknownColumn { param: String, column: String },
    #[error("filter \"{param}\" does not apply to column \"{column}\" of type {sql_type}")]
    NotApplicable {
        param: String,
        column: String,
        sql_type: String,
        expected: &'static str,
    },
    #[error("filter \"{param}\": {value:?} is not {expected}")]
    BadValue {
        param: String,
        value: String,
        expected: &'static str,
    },
    #[error("filter \"{param}\": the relation has no geometry column")]
    NoGeometry { param: String },
}

/// WHERE conditions (joined with AND by the caller) and their parameters, numbered from
/// `first_param`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SqlFilters {
    pub conditions: Vec<String>,
    pub params: Vec<String>,
}

impl SqlFilters {
    pub fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }
}

fn is_integer(kind: ColumnKind) -> bool {
    matches!(kind, ColumnKind::Integer | ColumnKind::BigInt)
}

fn is_number(kind: ColumnKind) -> bool {
    is_integer(kind) || matches!(kind, ColumnKind::Float | ColumnKind::Numeric)
}

/// Checks an equality value against the column kind.
fn eq_value_ok(kind: ColumnKind, value: &str) -> Result<(), &'static str> {
    let v = value.trim();
    let ok = match kind {
        ColumnKind::Integer | ColumnKind::BigInt => v.parse::<i64>().is_ok(),
        ColumnKind::Float | ColumnKind::Numeric => v.parse::<f64>().is_ok_and(f64::is_finite),
        ColumnKind::Boolean => matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "false" | "t" | "f" | "yes" | "no" | "on" | "off" | "1" | "0"
        ),
        ColumnKind::Uuid => crate::value::normalize_uuid(v).is_some(),
        ColumnKind::Timestamp | ColumnKind::Date => crate::time::parse_timestamp(v).is_some(),
        ColumnKind::Geometry => return Err("comparable with = (use a geometry=<WKT> filter)"),
        ColumnKind::Text | ColumnKind::Varchar | ColumnKind::Json => true,
    };
    if ok {
        Ok(())
    } else {
        Err(match kind {
            ColumnKind::Integer | ColumnKind::BigInt => "an integer",
            ColumnKind::Float | ColumnKind::Numeric => "a number",
            ColumnKind::Boolean => "a boolean",
            ColumnKind::Uuid => "a uuid",
            _ => "a date or timestamp (YYYY-MM-DD[ HH:MM:SS])",
        })
    }
}

/// Renders `filters` against `columns`. `Ok` conditions only hold filters that apply; in
/// GeoNature mode the others are dropped, in strict mode they are errors.
pub fn render_filters(
    filters: &[Filter],
    columns: &[ColumnInfo],
    geometry: Option<&GeometryTarget>,
    strictness: Strictness,
    first_param: usize,
) -> Result<SqlFilters, FilterError> {
    let strict = strictness == Strictness::Strict;
    let mut out = SqlFilters::default();
    for f in filters {
        let param = f.param_name();
        let n = first_param + out.params.len();
        if f.op == FilterOp::Intersects {
            let Some(g) = geometry else {
                if strict {
                    return Err(FilterError::NoGeometry { param });
                }
                continue;
            };
            if f.value.trim().is_empty() {
                return Err(FilterError::BadValue {
                    param,
                    value: f.value.clone(),
                    expected: "a WKT geometry in EPSG:4326",
                });
            }
            let column = quote_ident(&g.column).unwrap_or_default();
            let target = if g.srid > 0 {
                g.srid.to_string()
            } else {
                format!("{}ST_SRID({column})", g.postgis)
            };
            out.conditions.push(format!(
                "{p}ST_Intersects({column}, {p}ST_Transform({p}ST_GeomFromText(${n}, 4326), {target}))",
                p = g.postgis
            ));
            out.params.push(f.value.clone());
            continue;
        }
        let Some(col) = columns.iter().find(|c| c.name == f.column) else {
            if strict {
                return Err(FilterError::UnknownColumn {
                    param,
                    column: f.column.clone(),
                });
            }
            continue;
        };
        let applies = if strict {
            match f.op {
                FilterOp::Eq => true,
                FilterOp::ILike => matches!(col.kind, ColumnKind::Text | ColumnKind::Varchar),
                FilterOp::DateGe | FilterOp::DateLe | FilterOp::DateEq => {
                    matches!(col.kind, ColumnKind::Timestamp | ColumnKind::Date) || is_integer(col.kind)
                }
                FilterOp::NumGe | FilterOp::NumLe => is_number(col.kind),
                FilterOp::Intersects => false,
            }
        } else {
            col.kind.accepts(f.op)
        };
        if !applies {
            if strict {
                return Err(FilterError::NotApplicable {
                    param,
                    column: col.name.clone(),
                    sql_type: col.sql_type.clone(),
                    expected: match f.op {
                        FilterOp::ILike => "a text column",
                        FilterOp::NumGe | FilterOp::NumLe => "a numeric column",
                        FilterOp::Eq => "a column comparable with =",
                        _ => "a date, timestamp or integer column",
                    },
                });
            }
            continue;
        }
        let bad = |expected: &'static str| FilterError::BadValue {
            param: param.clone(),
            value: f.value.clone(),
            expected,
        };
        let column = quote_ident(&col.name).ok_or_else(|| bad("a valid column name"))?;
        let cast = format!("CAST(${n} AS {})", col.sql_type);
        let condition = match f.op {
            FilterOp::Eq => {
                if strict {
                    eq_value_ok(col.kind, &f.value).map_err(bad)?;
                } else if col.kind == ColumnKind::Geometry {
                    continue;
                }
                format!("{column} = {cast}")
            }
            FilterOp::ILike => format!("{column} ILIKE '%' || ${n} || '%'"),
            FilterOp::DateGe | FilterOp::DateLe | FilterOp::DateEq => {
                let arg = f.date_arg().ok_or_else(|| bad("a date, a timestamp or an integer"))?;
                if is_integer(col.kind) != matches!(arg, DateArg::Int(_)) && strict {
                    return Err(bad(if is_integer(col.kind) {
                        "an integer"
                    } else {
                        "a date or timestamp (YYYY-MM-DD[ HH:MM:SS])"
                    }));
                }
                let op = match f.op {
                    FilterOp::DateGe => ">=",
                    FilterOp::DateLe => "<=",
                    _ => "=",
                };
                format!("{column} {op} {cast}")
            }
            FilterOp::NumGe | FilterOp::NumLe => {
                f.num_arg().ok_or_else(|| bad("a number"))?;
                let op = if f.op == FilterOp::NumGe { ">=" } else { "<=" };
                format!("{column} {op} CAST(${n} AS double precision)")
            }
            FilterOp::Intersects => unreachable!("handled above"),
        };
        out.conditions.push(condition);
        // Text comparisons take the value as sent (GeoNature does not trim: `ilike_x=a ` is
        // "contains 'a '"); dates and numbers were parsed trimmed, and are bound so.
        out.params.push(match f.op {
            FilterOp::Eq | FilterOp::ILike => f.value.clone(),
            _ => f.value.trim().to_string(),
        });
    }
    Ok(out)
}

/// `ORDER BY` for an `orderby` parameter; an unknown column is an error in both modes
/// (GeoNature answers 400).
pub fn render_order_by(order: &OrderBy, columns: &[ColumnInfo]) -> Option<String> {
    let col = columns.iter().find(|c| c.name == order.column)?;
    Some(format!(
        " ORDER BY {}{}",
        quote_ident(&col.name)?,
        if order.descending { " DESC" } else { "" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Vec<ColumnInfo> {
        let c = |name: &str, kind, t: &str| ColumnInfo {
            name: name.into(),
            kind,
            sql_type: t.into(),
        };
        vec![
            c("id_synthese", ColumnKind::Integer, "integer"),
            c("nom_cite", ColumnKind::Varchar, "character varying(1000)"),
            c("date_min", ColumnKind::Date, "date"),
            c("derniere_action", ColumnKind::Timestamp, "timestamp without time zone"),
            c("altitude", ColumnKind::Float, "double precision"),
            c("x\"; drop table t; --", ColumnKind::Text, "text"),
        ]
    }

    fn parse(pairs: &[(&str, &str)]) -> Vec<Filter> {
        pairs.iter().filter_map(|(k, v)| Filter::from_param(k, v)).collect()
    }

    #[test]
    fn strict_filters_render_bound_and_quoted() {
        let geom = GeometryTarget {
            column: "geom".into(),
            srid: 2154,
            postgis: "public.".into(),
        };
        let f = render_filters(
            &parse(&[
                ("id_synthese", "12"),
                ("ilike_nom_cite", "Lynx"),
                ("filter_d_up_date_min", "2024-01-01"),
                ("filter_n_lo_altitude", "1500"),
                ("x\"; drop table t; --", "v"),
                ("geometry", "POINT(6 45)"),
            ]),
            &cols(),
            Some(&geom),
            Strictness::Strict,
            3,
        )
        .unwrap();
        assert_eq!(
            f.conditions,
            [
                "\"id_synthese\" = CAST($3 AS integer)",
                "\"nom_cite\" ILIKE '%' || $4 || '%'",
                "\"date_min\" >= CAST($5 AS date)",
                "\"altitude\" <= CAST($6 AS double precision)",
                "\"x\"\"; drop table t; --\" = CAST($7 AS text)",
                "public.ST_Intersects(\"geom\", public.ST_Transform(public.ST_GeomFromText($8, 4326), 2154))",
            ]
        );
        assert_eq!(f.params, ["12", "Lynx", "2024-01-01", "1500", "v", "POINT(6 45)"]);
    }

    #[test]
    fn strict_mode_refuses_what_geonature_ignores() {
        let strict = |pairs: &[(&str, &str)]| render_filters(&parse(pairs), &cols(), None, Strictness::Strict, 1);
        assert!(matches!(
            strict(&[("nope", "1")]),
            Err(FilterError::UnknownColumn { .. })
        ));
        assert!(matches!(
            strict(&[("ilike_altitude", "1")]),
            Err(FilterError::NotApplicable { .. })
        ));
        assert!(matches!(
            strict(&[("id_synthese", "abc")]),
            Err(FilterError::BadValue { .. })
        ));
        assert!(matches!(
            strict(&[("filter_d_up_date_min", "soon")]),
            Err(FilterError::BadValue { .. })
        ));
        assert!(matches!(
            strict(&[("geometry", "POINT(1 1)")]),
            Err(FilterError::NoGeometry { .. })
        ));
        let lenient = render_filters(
            &parse(&[
                ("nope", "1"),
                ("ilike_nom_cite", "x"),
                ("filter_d_up_date_min", "2024-01-01"),
            ]),
            &cols(),
            None,
            Strictness::GeoNature,
            1,
        )
        .unwrap();
        assert!(lenient.conditions.is_empty(), "{lenient:?}");
    }

    #[test]
    fn identifiers_are_always_quoted() {
        assert_eq!(quote_ident("a\"b").unwrap(), "\"a\"\"b\"");
        assert!(quote_ident("a\0b").is_none());
        let order = render_order_by(&OrderBy::parse("id_synthese:desc"), &cols()).unwrap();
        assert_eq!(order, " ORDER BY \"id_synthese\" DESC");
        assert!(render_order_by(&OrderBy::parse("nope"), &cols()).is_none());
    }
}
