//! The query string of `GET /api/exports/api/<id>`: paging, ordering, token and the filter
//! grammar (`col=v`, `ilike_col`, `filter_d_up_/lo_/eq_col`, `filter_n_up_/lo_col`, `geometry`).
//!
//! Parsing follows GeoNature (first value of a repeated key wins, non-integer `limit` falls back to
//! the default, `limit=0` means no limit); building is what a client sends.

use crate::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use chrono::NaiveDateTime;

/// Parameters with a meaning of their own; every other parameter is a filter candidate.
pub const RESERVED_PARAMS: [&str; 4] = ["limit", "offset", "orderby", "token"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    /// `col=v`: equality, any column type.
    Eq,
    /// `ilike_col=v`: `col ILIKE '%v%'`, only on `text` columns (a no-op elsewhere).
    ILike,
    /// `filter_d_up_col=v`: `col >= v` on timestamp or integer columns.
    DateGe,
    /// `filter_d_lo_col=v`: `col <= v`.
    DateLe,
    /// `filter_d_eq_col=v`: `col = v`.
    DateEq,
    /// `filter_n_up_col=v`: `col >= v` (v a number).
    NumGe,
    /// `filter_n_lo_col=v`: `col <= v`.
    NumLe,
    /// `geometry…=WKT`: `ST_Intersects(geometry_field, ST_GeomFromText(v, 4326))`.
    Intersects,
}

impl FilterOp {
    /// The query-parameter prefix of this operator.
    pub fn prefix(self) -> &'static str {
        match self {
            FilterOp::Eq => "",
            FilterOp::ILike => "ilike_",
            FilterOp::DateGe => "filter_d_up_",
            FilterOp::DateLe => "filter_d_lo_",
            FilterOp::DateEq => "filter_d_eq_",
            FilterOp::NumGe => "filter_n_up_",
            FilterOp::NumLe => "filter_n_lo_",
            FilterOp::Intersects => "geometry",
        }
    }
}

/// Column type classes as GeoNature's reflection sees them; they decide where a filter applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Integer,
    BigInt,
    Float,
    Numeric,
    Text,
    /// `varchar`: equality works, `ilike_` is silently ignored (GeoNature quirk).
    Varchar,
    Uuid,
    Timestamp,
    /// `date`: `filter_d_*` is silently ignored (GeoNature quirk).
    Date,
    Boolean,
    Json,
    Geometry,
}

impl ColumnKind {
    /// Whether GeoNature applies `op` on a column of this kind; `false` means the filter is
    /// silently ignored.
    pub fn accepts(self, op: FilterOp) -> bool {
        match op {
            FilterOp::Eq | FilterOp::NumGe | FilterOp::NumLe => true,
            FilterOp::ILike => self == ColumnKind::Text,
            FilterOp::DateGe | FilterOp::DateLe | FilterOp::DateEq => {
                matches!(self, ColumnKind::Timestamp | ColumnKind::Integer)
            }
            FilterOp::Intersects => self == ColumnKind::Geometry,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub column: String,
    pub op: FilterOp,
    pub value: String,
}

/// The argument of a `filter_d_*` filter: a date/timestamp or an integer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DateArg {
    Timestamp(NaiveDateTime),
    Int(i64),
}

impl Filter {
    pub fn new(op: FilterOp, column: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            column: column.into(),
            op,
            value: value.into(),
        }
    }

    /// The query parameter name that carries this filter.
    pub fn param_name(&self) -> String {
        match self.op {
            FilterOp::Intersects => "geometry".to_string(),
            op => format!("{}{}", op.prefix(), self.column),
        }
    }

    /// Recognises a filter parameter; `None` for reserved parameters.
    pub fn from_param(name: &str, value: &str) -> Option<Filter> {
        if RESERVED_PARAMS.contains(&name) {
            return None;
        }
        // GeoNature slices fixed prefix lengths (12 for filter_d_/filter_n_, 6 for ilike_).
        for op in [
            FilterOp::DateGe,
            FilterOp::DateLe,
            FilterOp::DateEq,
            FilterOp::NumGe,
            FilterOp::NumLe,
            FilterOp::ILike,
        ] {
            if let Some(col) = name.strip_prefix(op.prefix()) {
                return Some(Filter::new(op, col, value));
            }
        }
        if name.starts_with("geometry") {
            return Some(Filter::new(FilterOp::Intersects, name, value));
        }
        Some(Filter::new(FilterOp::Eq, name, value))
    }

    /// Parses the argument of a `filter_d_*` filter (a date, a timestamp or an integer).
    pub fn date_arg(&self) -> Option<DateArg> {
        if let Ok(i) = self.value.trim().parse::<i64>() {
            return Some(DateArg::Int(i));
        }
        crate::time::parse_timestamp(&self.value).map(DateArg::Timestamp)
    }

    /// Parses the argument of a `filter_n_*` filter.
    pub fn num_arg(&self) -> Option<f64> {
        self.value.trim().parse::<f64>().ok().filter(|f| f.is_finite())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    pub column: String,
    pub descending: bool,
}

impl OrderBy {
    pub fn asc(column: impl Into<String>) -> Self {
        Self {
            column: column.into(),
            descending: false,
        }
    }

    /// `col`, `col:asc` or `col:desc`.
    pub fn parse(s: &str) -> OrderBy {
        match s.rsplit_once(':') {
            Some((col, dir)) if dir.eq_ignore_ascii_case("desc") => OrderBy {
                column: col.to_string(),
                descending: true,
            },
            Some((col, dir)) if dir.eq_ignore_ascii_case("asc") => OrderBy::asc(col),
            _ => OrderBy::asc(s),
        }
    }

    pub fn to_param(&self) -> String {
        if self.descending {
            format!("{}:desc", self.column)
        } else {
            self.column.clone()
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("limit must not be negative (got {0})")]
    NegativeLimit(i64),
}

/// A request to the export data API.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportQuery {
    /// Requested rows per page; `Some(0)` asks for everything at once (GeoNature quirk).
    pub limit: Option<u64>,
    /// 0-based page index (the API calls it `offset`).
    pub page: u64,
    pub orderby: Option<OrderBy>,
    pub token: Option<String>,
    pub filters: Vec<Filter>,
}

impl ExportQuery {
    /// Parses decoded query pairs as GeoNature does. Only the first value of a repeated key counts.
    pub fn from_pairs<'a, I>(pairs: I) -> Result<ExportQuery, QueryError>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut q = ExportQuery::default();
        let mut seen: Vec<&str> = Vec::new();
        for (k, v) in pairs {
            if seen.contains(&k) {
                continue;
            }
            seen.push(k);
            match k {
                "limit" => match v.trim().parse::<i64>() {
                    Ok(n) if n < 0 => return Err(QueryError::NegativeLimit(n)),
                    Ok(n) => q.limit = Some(n as u64),
                    Err(_) => q.limit = None,
                },
                "offset" => q.page = v.trim().parse::<u64>().unwrap_or(0),
                "orderby" => {
                    if !v.is_empty() {
                        q.orderby = Some(OrderBy::parse(v))
                    }
                }
                "token" => q.token = Some(v.to_string()),
                _ => {
                    if let Some(f) = Filter::from_param(k, v) {
                        q.filters.push(f);
                    }
                }
            }
        }
        Ok(q)
    }

    /// Parses a raw (percent-encoded) query string.
    pub fn parse(query: &str) -> Result<ExportQuery, QueryError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        Self::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// The page size the server applies: `None` = no LIMIT (`limit=0`), else capped at `max`.
    pub fn effective_limit(&self, max: u64) -> Option<u64> {
        match self.limit {
            Some(0) => None,
            Some(n) => Some(n.min(max)),
            None => Some(DEFAULT_PAGE_SIZE.min(max)),
        }
    }

    /// The `limit` echoed in the reply (GeoNature echoes the capped value, or 0).
    pub fn echoed_limit(&self) -> u64 {
        self.effective_limit(MAX_PAGE_SIZE).unwrap_or(0)
    }

    /// Encodes the query for a request, filters in their given order.
    pub fn to_query_string(&self) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        if let Some(l) = self.limit {
            ser.append_pair("limit", &l.to_string());
        }
        ser.append_pair("offset", &self.page.to_string());
        if let Some(o) = &self.orderby {
            ser.append_pair("orderby", &o.to_param());
        }
        if let Some(t) = &self.token {
            ser.append_pair("token", t);
        }
        for f in &self.filters {
            ser.append_pair(&f.param_name(), &f.value);
        }
        ser.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        let q = ExportQuery::parse(
            "limit=50&offset=3&orderby=cd_nom:desc&token=abc&nom_cite=Aquila&ilike_observateurs=dup\
             &filter_d_up_derniere_action=2024-01-01%2010:00:00&filter_n_lo_id_synthese=99&geometry=POINT(1%202)\
             &action=%5B%27I%27%2C+%27U%27%5D",
        )
        .unwrap();
        assert_eq!(q.limit, Some(50));
        assert_eq!(q.page, 3);
        assert_eq!(
            q.orderby,
            Some(OrderBy {
                column: "cd_nom".into(),
                descending: true
            })
        );
        assert_eq!(q.token.as_deref(), Some("abc"));
        let ops: Vec<(FilterOp, &str)> = q.filters.iter().map(|f| (f.op, f.column.as_str())).collect();
        assert_eq!(
            ops,
            vec![
                (FilterOp::Eq, "nom_cite"),
                (FilterOp::ILike, "observateurs"),
                (FilterOp::DateGe, "derniere_action"),
                (FilterOp::NumLe, "id_synthese"),
                (FilterOp::Intersects, "geometry"),
                (FilterOp::Eq, "action"),
            ]
        );
        assert_eq!(
            q.filters[2].date_arg(),
            crate::time::parse_timestamp("2024-01-01 10:00:00").map(DateArg::Timestamp)
        );
        assert_eq!(q.filters[3].num_arg(), Some(99.0));
    }

    #[test]
    fn first_value_wins_and_limit_rules() {
        let q = ExportQuery::parse("limit=10&limit=20&offset=1&offset=2&x=1&x=2").unwrap();
        assert_eq!((q.limit, q.page), (Some(10), 1));
        assert_eq!(q.filters.len(), 1);
        assert_eq!(q.filters[0].value, "1");
        assert_eq!(
            ExportQuery::parse("limit=5000").unwrap().effective_limit(1000),
            Some(1000)
        );
        assert_eq!(ExportQuery::parse("limit=0").unwrap().effective_limit(1000), None);
        assert_eq!(
            ExportQuery::parse("limit=abc").unwrap().effective_limit(1000),
            Some(1000)
        );
        assert_eq!(ExportQuery::parse("limit=-1"), Err(QueryError::NegativeLimit(-1)));
        assert_eq!(ExportQuery::parse("offset=x").unwrap().page, 0);
    }

    #[test]
    fn round_trip() {
        let q = ExportQuery {
            limit: Some(1000),
            page: 0,
            orderby: Some(OrderBy::asc("id_synthese")),
            token: None,
            filters: vec![Filter::new(FilterOp::NumGe, "id_synthese", "1001")],
        };
        let s = q.to_query_string();
        assert_eq!(
            s,
            "limit=1000&offset=0&orderby=id_synthese&filter_n_up_id_synthese=1001"
        );
        assert_eq!(ExportQuery::parse(&s).unwrap(), q);
    }

    #[test]
    fn column_kinds() {
        assert!(!ColumnKind::Varchar.accepts(FilterOp::ILike));
        assert!(ColumnKind::Text.accepts(FilterOp::ILike));
        assert!(!ColumnKind::Date.accepts(FilterOp::DateGe));
        assert!(ColumnKind::Integer.accepts(FilterOp::DateGe));
    }
}
