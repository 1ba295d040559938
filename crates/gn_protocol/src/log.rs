//! `GET /api/synthese/log`: the instance-wide change log (inserts, updates, deletions).
//! Paging is 1-based (`page`), the reply has `total` but no `total_filtered`.

use crate::json::{self, ObjectWriter};
use crate::time::{format_timestamp, parse_timestamp};
use crate::LOG_DEFAULT_PAGE_SIZE;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Gt => "gt",
            CmpOp::Gte => "gte",
            CmpOp::Lt => "lt",
            CmpOp::Lte => "lte",
            CmpOp::Eq => "eq",
        }
    }

    pub fn holds<T: Ord>(self, left: &T, right: &T) -> bool {
        match self {
            CmpOp::Gt => left > right,
            CmpOp::Gte => left >= right,
            CmpOp::Lt => left < right,
            CmpOp::Lte => left <= right,
            CmpOp::Eq => left == right,
        }
    }
}

/// One `meta_last_action_date=[op:]ISO` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateCondition {
    pub op: CmpOp,
    pub at: NaiveDateTime,
}

impl DateCondition {
    pub fn parse(v: &str) -> Option<DateCondition> {
        let (op, rest) = match v.split_once(':') {
            Some(("gt", r)) => (CmpOp::Gt, r),
            Some(("gte", r)) => (CmpOp::Gte, r),
            Some(("lt", r)) => (CmpOp::Lt, r),
            Some(("lte", r)) => (CmpOp::Lte, r),
            Some(("eq", r)) => (CmpOp::Eq, r),
            _ => (CmpOp::Eq, v),
        };
        parse_timestamp(rest).map(|at| DateCondition { op, at })
    }

    pub fn to_param(&self) -> String {
        format!("{}:{}", self.op.as_str(), self.at.format("%Y-%m-%dT%H:%M:%S%.6f"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    pub dates: Vec<DateCondition>,
    pub last_action: Option<String>,
    pub id_synthese: Option<i64>,
    pub descending: bool,
    pub limit: u64,
    /// 1-based.
    pub page: u64,
}

impl Default for LogQuery {
    fn default() -> Self {
        LogQuery {
            dates: Vec::new(),
            last_action: None,
            id_synthese: None,
            descending: false,
            limit: LOG_DEFAULT_PAGE_SIZE,
            page: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogQueryError {
    #[error("invalid meta_last_action_date condition {0:?}")]
    BadDate(String),
    #[error("invalid id_synthese {0:?}")]
    BadId(String),
}

impl LogQuery {
    pub fn parse(query: &str) -> Result<LogQuery, LogQueryError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        Self::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// Parses decoded query pairs (what a server has after decoding the query string).
    /// `meta_last_action_date` may repeat; for the other keys the first value wins.
    pub fn from_pairs<'a, I>(pairs: I) -> Result<LogQuery, LogQueryError>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut q = LogQuery::default();
        let mut seen: Vec<&str> = Vec::new();
        for (k, v) in pairs {
            if k == "meta_last_action_date" {
                q.dates
                    .push(DateCondition::parse(v).ok_or_else(|| LogQueryError::BadDate(v.to_string()))?);
                continue;
            }
            if seen.contains(&k) {
                continue;
            }
            seen.push(k);
            match k {
                "last_action" => q.last_action = Some(v.to_string()),
                "id_synthese" => q.id_synthese = Some(v.parse().map_err(|_| LogQueryError::BadId(v.to_string()))?),
                "sort" => q.descending = v.ends_with(":desc"),
                "limit" => q.limit = v.parse().unwrap_or(LOG_DEFAULT_PAGE_SIZE),
                "page" => q.page = v.parse::<u64>().ok().filter(|p| *p >= 1).unwrap_or(1),
                _ => {}
            }
        }
        Ok(q)
    }

    pub fn to_query_string(&self) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for d in &self.dates {
            ser.append_pair("meta_last_action_date", &d.to_param());
        }
        if let Some(a) = &self.last_action {
            ser.append_pair("last_action", a);
        }
        if let Some(id) = self.id_synthese {
            ser.append_pair("id_synthese", &id.to_string());
        }
        ser.append_pair(
            "sort",
            if self.descending {
                "meta_last_action_date:desc"
            } else {
                "meta_last_action_date"
            },
        );
        ser.append_pair("limit", &self.limit.to_string());
        ser.append_pair("page", &self.page.to_string());
        ser.finish()
    }

    pub fn matches(&self, entry: &LogEntry) -> bool {
        self.dates
            .iter()
            .all(|c| c.op.holds(&entry.meta_last_action_date, &c.at))
            && self.last_action.as_deref().is_none_or(|a| a == entry.last_action)
            && self.id_synthese.is_none_or(|id| id == entry.id_synthese)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub id_synthese: i64,
    /// `I`, `U` or `D`.
    pub last_action: String,
    pub meta_last_action_date: NaiveDateTime,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
struct RawEntry {
    id_synthese: i64,
    last_action: String,
    meta_last_action_date: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RawPage {
    items: Vec<RawEntry>,
    total: u64,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    page: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPage {
    pub items: Vec<LogEntry>,
    pub total: u64,
    pub limit: u64,
    pub page: u64,
}

impl LogPage {
    pub fn from_slice(body: &[u8]) -> Result<LogPage, String> {
        let raw: RawPage = serde_json::from_slice(body).map_err(|e| format!("not a synthese log page: {e}"))?;
        let mut items = Vec::with_capacity(raw.items.len());
        for e in raw.items {
            let at = parse_timestamp(&e.meta_last_action_date)
                .ok_or_else(|| format!("bad meta_last_action_date {:?}", e.meta_last_action_date))?;
            items.push(LogEntry {
                id_synthese: e.id_synthese,
                last_action: e.last_action,
                meta_last_action_date: at,
            });
        }
        Ok(LogPage {
            items,
            total: raw.total,
            limit: raw.limit.unwrap_or(LOG_DEFAULT_PAGE_SIZE),
            page: raw.page.unwrap_or(1),
        })
    }

    pub fn write_json<W: Write + ?Sized>(&self, out: &mut W) -> io::Result<()> {
        out.write_all(b"{\"items\": [")?;
        for (i, e) in self.items.iter().enumerate() {
            if i > 0 {
                out.write_all(b", ")?;
            }
            let mut o = ObjectWriter::begin(&mut *out)?;
            write!(o.key("id_synthese")?, "{}", e.id_synthese)?;
            json::write_str(o.key("last_action")?, &e.last_action)?;
            json::write_str(
                o.key("meta_last_action_date")?,
                &format_timestamp(&e.meta_last_action_date),
            )?;
            o.end()?;
        }
        write!(
            out,
            "], \"limit\": {}, \"page\": {}, \"total\": {}}}",
            self.limit, self.page, self.total
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_round_trip_and_defaults() {
        let q = LogQuery::parse("meta_last_action_date=gte:2024-01-01T00:00:00&meta_last_action_date=lt:2024-02-01&last_action=D&limit=1000&page=2").unwrap();
        assert_eq!(q.dates.len(), 2);
        assert_eq!(q.dates[0].op, CmpOp::Gte);
        assert_eq!((q.limit, q.page, q.last_action.as_deref()), (1000, 2, Some("D")));
        assert_eq!(LogQuery::parse(&q.to_query_string()).unwrap(), q);
        let d = LogQuery::parse("").unwrap();
        assert_eq!((d.limit, d.page), (50, 1));
        assert!(LogQuery::parse("meta_last_action_date=gte:nope").is_err());
    }

    #[test]
    fn page_round_trip() {
        let at = parse_timestamp("2024-05-06 07:08:09.5").unwrap();
        let p = LogPage {
            items: vec![LogEntry {
                id_synthese: 7,
                last_action: "D".into(),
                meta_last_action_date: at,
            }],
            total: 1,
            limit: 50,
            page: 1,
        };
        let mut out = Vec::new();
        p.write_json(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            r#"{"items": [{"id_synthese": 7, "last_action": "D", "meta_last_action_date": "2024-05-06 07:08:09.500000"}], "limit": 50, "page": 1, "total": 1}"#
        );
        assert_eq!(LogPage::from_slice(&out).unwrap(), p);
    }
}
