//! One column value of an export row, serialised as GeoNature's `GenericTable` serialisers do.

use crate::json;
use crate::time::{format_date, format_timestamp};
use chrono::{NaiveDate, NaiveDateTime};
use std::cmp::Ordering;
use std::io::{self, Write};

#[derive(Debug, Clone, PartialEq)]
pub enum WireValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// `numeric`: sent as a string, and a falsy value (zero) as `null` (GeoNature quirk).
    Numeric(String),
    Timestamp(NaiveDateTime),
    Date(NaiveDate),
    Uuid(String),
    /// json/jsonb: nested JSON.
    Json(serde_json::Value),
}

impl WireValue {
    pub fn is_null(&self) -> bool {
        matches!(self, WireValue::Null)
    }

    /// Writes the value as it appears in an export API item.
    pub fn write_json<W: Write + ?Sized>(&self, out: &mut W) -> io::Result<()> {
        match self {
            WireValue::Null => out.write_all(b"null"),
            WireValue::Bool(b) => out.write_all(if *b { b"true" } else { b"false" }),
            WireValue::Int(i) => write!(out, "{i}"),
            WireValue::Float(f) => json::write_f64(out, *f),
            WireValue::Text(s) | WireValue::Uuid(s) => json::write_str(out, s),
            WireValue::Numeric(s) => {
                if s.parse::<f64>().map(|f| f == 0.0).unwrap_or(false) {
                    out.write_all(b"null")
                } else {
                    json::write_str(out, s)
                }
            }
            WireValue::Timestamp(ts) => json::write_str(out, &format_timestamp(ts)),
            WireValue::Date(d) => json::write_str(out, &format_date(d)),
            WireValue::Json(v) => json::write_value(out, v),
        }
    }

    /// Text form used when a filter compares a value with a query-string argument.
    pub fn to_text(&self) -> Option<String> {
        match self {
            WireValue::Null => None,
            WireValue::Bool(b) => Some(b.to_string()),
            WireValue::Int(i) => Some(i.to_string()),
            WireValue::Float(f) => Some(f.to_string()),
            WireValue::Text(s) | WireValue::Uuid(s) | WireValue::Numeric(s) => Some(s.clone()),
            WireValue::Timestamp(ts) => Some(format_timestamp(ts)),
            WireValue::Date(d) => Some(format_date(d)),
            WireValue::Json(v) => Some(json::to_string(v)),
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            WireValue::Int(i) => Some(*i as f64),
            WireValue::Float(f) => Some(*f),
            WireValue::Numeric(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// Orders two values of the same column like PostgreSQL's `ORDER BY … ASC` (NULLs last).
    pub fn sql_cmp(&self, other: &WireValue) -> Ordering {
        use WireValue::*;
        match (self, other) {
            (Null, Null) => Ordering::Equal,
            (Null, _) => Ordering::Greater,
            (_, Null) => Ordering::Less,
            (Int(a), Int(b)) => a.cmp(b),
            (Timestamp(a), Timestamp(b)) => a.cmp(b),
            (Date(a), Date(b)) => a.cmp(b),
            (Bool(a), Bool(b)) => a.cmp(b),
            (Text(a), Text(b)) | (Uuid(a), Uuid(b)) => a.cmp(b),
            _ => match (self.as_f64(), other.as_f64()) {
                (Some(a), Some(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
                _ => self.to_text().cmp(&other.to_text()),
            },
        }
    }
}

/// A UUID in the hyphenated or the 32-digit form (optionally in braces), as lower-case
/// hyphenated text; `None` when `s` is not a UUID.
pub fn normalize_uuid(s: &str) -> Option<String> {
    let t = s.trim();
    let t = t.strip_prefix('{').and_then(|x| x.strip_suffix('}')).unwrap_or(t);
    let hex: String = if t.len() == 36 {
        let b = t.as_bytes();
        if [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
            return None;
        }
        t.chars().filter(|c| *c != '-').collect()
    } else if t.len() == 32 {
        t.to_string()
    } else {
        return None;
    };
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let h = hex.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js(v: &WireValue) -> String {
        let mut b = Vec::new();
        v.write_json(&mut b).unwrap();
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn serialisation_quirks() {
        assert_eq!(js(&WireValue::Numeric("0".into())), "null");
        assert_eq!(js(&WireValue::Numeric("12.50".into())), "\"12.50\"");
        let ts = NaiveDateTime::parse_from_str("2024-01-02 03:04:05", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(js(&WireValue::Timestamp(ts)), "\"2024-01-02 03:04:05\"");
        assert_eq!(
            js(&WireValue::Json(serde_json::json!({"b":1,"a":2}))),
            "{\"a\": 2, \"b\": 1}"
        );
    }

    #[test]
    fn nulls_sort_last() {
        let mut v = vec![WireValue::Null, WireValue::Int(3), WireValue::Int(1)];
        v.sort_by(|a, b| a.sql_cmp(b));
        assert_eq!(v, vec![WireValue::Int(1), WireValue::Int(3), WireValue::Null]);
    }
}
