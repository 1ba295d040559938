//! Request parameters, validated as GeoNature reads them, into typed queries.
//!
//! Export API (`/api/exports/api/<id>`): `gn_protocol::ExportQuery` does the grammar (first value
//! of a repeated key wins, unknown parameters are filter candidates that the plan drops when no
//! column matches, `token` is not a filter, `orderby=col[:asc|desc]`, page-index `offset`, a
//! non-integer `limit` falls back to the default, `limit=0` = every row). What differs from
//! GeoNature, on purpose: a negative `limit` is a 400 (GeoNature: 500 from an assert), and a page
//! whose first row lies beyond `bigint` is a 400. Columns are checked by [`crate::plan`], which
//! knows the export.
//!
//! Synthese log (`/api/synthese/log`): `gn_protocol::log::LogQuery`, with the page size capped.

use crate::error::ServeError;
use gn_protocol::auth::LoginRequest;
use gn_protocol::log::{LogQuery, LogQueryError};
use gn_protocol::query::QueryError;
use gn_protocol::{ExportQuery, Filter, OrderBy, DEFAULT_PAGE_SIZE, LOG_DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// The paging settings of the served API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiSettings {
    /// Page size without `limit` (GeoNature's `default_page_size_api`).
    pub default_limit: u64,
    /// Largest page (`max_page_size_api`); larger requests are capped, and the reply's `limit`
    /// says so.
    pub max_limit: u64,
    /// Whether `limit=0` serves every row in one (streamed) reply, as GeoNature does. When
    /// false, `limit=0` is a 400 saying to page (never a silently short reply).
    pub allow_all_rows: bool,
    /// Largest page of `/api/synthese/log` (GeoNature has none).
    pub log_max_limit: u64,
}

impl Default for ApiSettings {
    fn default() -> ApiSettings {
        ApiSettings {
            default_limit: DEFAULT_PAGE_SIZE,
            max_limit: MAX_PAGE_SIZE,
            allow_all_rows: true,
            log_max_limit: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageLimit {
    Rows(u64),
    /// `limit=0`: every row.
    All,
}

/// A validated export API query.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportParams {
    pub limit: PageLimit,
    /// 0-based page index (the `offset` parameter), echoed as `page`.
    pub page: u64,
    /// `None`: the export's pk column.
    pub orderby: Option<OrderBy>,
    /// `?token=` (not a filter).
    pub token: Option<String>,
    /// Every other parameter, in order; the plan keeps those naming a column.
    pub filters: Vec<Filter>,
}

impl ExportParams {
    /// The `limit` echoed in the reply: the capped page size, 0 for every row.
    pub fn limit_echo(&self) -> u64 {
        match self.limit {
            PageLimit::Rows(n) => n,
            PageLimit::All => 0,
        }
    }

    /// Rows skipped before the page (`page × limit`); fits a `bigint` once validated.
    pub fn row_offset(&self) -> u64 {
        match self.limit {
            PageLimit::Rows(n) => n.saturating_mul(self.page),
            PageLimit::All => 0,
        }
    }
}

/// Validates the query of `GET /api/exports/api/<id>` (decoded pairs, as `http::Request::query`).
pub fn export_params(pairs: &[(String, String)], settings: &ApiSettings) -> Result<ExportParams, ServeError> {
    let q = ExportQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(|e| match e {
        QueryError::NegativeLimit(n) => ServeError::bad_request(format!(
            "limit must not be negative (got {n}); use 1 to {}",
            settings.max_limit
        )),
    })?;
    let limit = match q.limit {
        None => PageLimit::Rows(settings.default_limit.min(settings.max_limit)),
        Some(_) => match q.effective_limit(settings.max_limit) {
            Some(n) => PageLimit::Rows(n),
            None if settings.allow_all_rows => PageLimit::All,
            None => {
                return Err(ServeError::bad_request(format!(
                    "limit=0 (every row at once) is disabled on this server: page with limit=1 to {} and offset=<page index>",
                    settings.max_limit
                )))
            }
        },
    };
    let params = ExportParams {
        limit,
        page: q.page,
        orderby: q.orderby,
        token: q.token,
        filters: q.filters,
    };
    if let PageLimit::Rows(n) = params.limit {
        if n.checked_mul(params.page).is_none_or(|o| o > i64::MAX as u64) {
            return Err(ServeError::bad_request(format!(
                "offset {} is too large: page {} of {n} rows starts beyond the last possible row",
                params.page, params.page
            )));
        }
    }
    Ok(params)
}

/// Validates the query of `GET /api/synthese/log`: `limit` 0 or absent → 50, capped at
/// `log_max_limit`; `page` 1-based.
pub fn log_params(pairs: &[(String, String)], settings: &ApiSettings) -> Result<LogQuery, ServeError> {
    let mut q = LogQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(|e| {
        ServeError::bad_request(match e {
            LogQueryError::BadDate(v) => format!(
                "meta_last_action_date {v:?} is not [gt|gte|lt|lte|eq:]<date or timestamp>, e.g. gte:2024-01-31 10:00:00"
            ),
            LogQueryError::BadId(v) => format!("id_synthese {v:?} is not an integer"),
        })
    })?;
    if q.limit == 0 {
        q.limit = LOG_DEFAULT_PAGE_SIZE;
    }
    q.limit = q.limit.min(settings.log_max_limit);
    if let Some(a) = &q.last_action {
        if !matches!(a.as_str(), "I" | "U" | "D") {
            return Err(ServeError::bad_request(format!("last_action {a:?} is not I, U or D")));
        }
    }
    if (q.page - 1).checked_mul(q.limit).is_none_or(|o| o > i64::MAX as u64) {
        return Err(ServeError::bad_request(format!("page {} is too large", q.page)));
    }
    Ok(q)
}

/// The query of `GET /api/exports/`: `search` (ilike on the label, spaces as `%`), and
/// `page`+`per_page` (both needed to paginate; `per_page` capped at 1000).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportListParams {
    pub search: Option<String>,
    /// `(page ≥ 1, per_page ≥ 1)`.
    pub pagination: Option<(u64, u64)>,
}

pub fn export_list_params(pairs: &[(String, String)]) -> ExportListParams {
    let first = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let num = |k: &str| first(k).and_then(|v| v.trim().parse::<u64>().ok());
    ExportListParams {
        search: first("search").filter(|s| !s.is_empty()).map(str::to_string),
        pagination: match (num("page"), num("per_page")) {
            (Some(p), Some(pp)) => Some((p.max(1), pp.clamp(1, 1000))),
            _ => None,
        },
    }
}

/// The body of `POST /api/auth/login`.
pub fn login_request(body: &[u8]) -> Result<LoginRequest, ServeError> {
    serde_json::from_slice::<LoginRequest>(body).map_err(|e| {
        ServeError::bad_request(format!(
            "expected a JSON body {{\"login\": <role>, \"password\": <password>}}: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gn_protocol::FilterOp;

    fn pairs(q: &str) -> Vec<(String, String)> {
        crate::http::decode_query(q).unwrap()
    }

    fn ep(q: &str) -> Result<ExportParams, ServeError> {
        export_params(&pairs(q), &ApiSettings::default())
    }

    #[test]
    fn limit_rules() {
        assert_eq!(ep("").unwrap().limit, PageLimit::Rows(1000));
        assert_eq!(ep("limit=50").unwrap().limit, PageLimit::Rows(50));
        assert_eq!(ep("limit=5000").unwrap().limit, PageLimit::Rows(1000), "capped");
        assert_eq!(
            ep("limit=abc").unwrap().limit,
            PageLimit::Rows(1000),
            "GeoNature falls back"
        );
        assert_eq!(ep("limit=0").unwrap().limit, PageLimit::All);
        assert_eq!(ep("limit=0").unwrap().limit_echo(), 0);
        let e = ep("limit=-5").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("-5"), "{}", e.message);
        let strict = ApiSettings {
            allow_all_rows: false,
            default_limit: 100,
            ..ApiSettings::default()
        };
        assert_eq!(export_params(&pairs("limit=0"), &strict).unwrap_err().status, 400);
        assert_eq!(export_params(&pairs(""), &strict).unwrap().limit, PageLimit::Rows(100));
    }

    #[test]
    fn offset_is_a_page_index() {
        let p = ep("limit=100&offset=3").unwrap();
        assert_eq!((p.page, p.row_offset()), (3, 300));
        assert_eq!(ep("offset=x").unwrap().page, 0);
        let e = ep("limit=1000&offset=18446744073709551615").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("too large"));
        assert_eq!(ep("limit=0&offset=99999999999999999").unwrap().row_offset(), 0);
    }

    #[test]
    fn orderby_filters_token_first_value() {
        let p = ep("orderby=cd_nom:desc&token=t&token=u&nom_cite=a&nom_cite=b&filter_n_up_id_synthese=10&action=%5B%27I%27%2C+%27U%27%5D&limit=10&limit=20").unwrap();
        assert_eq!(
            p.orderby,
            Some(OrderBy {
                column: "cd_nom".into(),
                descending: true
            })
        );
        assert_eq!(p.token.as_deref(), Some("t"));
        assert_eq!(p.limit, PageLimit::Rows(10));
        let f: Vec<(FilterOp, &str, &str)> = p
            .filters
            .iter()
            .map(|f| (f.op, f.column.as_str(), f.value.as_str()))
            .collect();
        assert_eq!(
            f,
            [
                (FilterOp::Eq, "nom_cite", "a"),
                (FilterOp::NumGe, "id_synthese", "10"),
                (FilterOp::Eq, "action", "['I', 'U']"),
            ]
        );
        assert_eq!(ep("orderby=").unwrap().orderby, None);
    }

    #[test]
    fn synthese_log_params() {
        let s = ApiSettings::default();
        let q = log_params(
            &pairs("meta_last_action_date=gte:2024-01-01+10:00:00&limit=1000&last_action=D&page=2"),
            &s,
        )
        .unwrap();
        assert_eq!((q.limit, q.page, q.dates.len()), (1000, 2, 1));
        assert_eq!(log_params(&pairs("limit=0"), &s).unwrap().limit, 50);
        assert_eq!(log_params(&pairs("limit=1000000"), &s).unwrap().limit, 10_000);
        assert_eq!(log_params(&pairs("page=0"), &s).unwrap().page, 1);
        for bad in [
            "meta_last_action_date=gte:soon",
            "id_synthese=x",
            "last_action=X",
            "page=18446744073709551615",
        ] {
            assert_eq!(log_params(&pairs(bad), &s).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn list_and_login() {
        assert_eq!(export_list_params(&pairs("")), ExportListParams::default());
        assert_eq!(
            export_list_params(&pairs("search=sinp+synth&page=0&per_page=5000")),
            ExportListParams {
                search: Some("sinp synth".into()),
                pagination: Some((1, 1000))
            }
        );
        assert_eq!(export_list_params(&pairs("page=2")).pagination, None);
        let l = login_request(br#"{"login": "alice", "password": "pw"}"#).unwrap();
        assert_eq!((l.login.as_str(), l.password.as_str()), ("alice", "pw"));
        assert_eq!(login_request(b"login=alice").unwrap_err().status, 400);
        assert_eq!(login_request(br#"{"login": "alice"}"#).unwrap_err().status, 400);
    }
}
