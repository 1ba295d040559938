//! Text renderings shared by the writers: ISO 8601 dates, Python-like floats, file names.

use chrono::{NaiveDate, NaiveDateTime, Timelike};
use std::fmt::Write;
use unicode_normalization::UnicodeNormalization;

pub(crate) fn iso_date(out: &mut String, d: NaiveDate) {
    let _ = write!(out, "{}", d.format("%Y-%m-%d"));
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff]`, as Python's `isoformat()`.
pub(crate) fn iso_timestamp(out: &mut String, ts: NaiveDateTime) {
    let _ = write!(out, "{}", ts.format("%Y-%m-%dT%H:%M:%S"));
    let micros = ts.nanosecond() / 1000;
    if micros != 0 {
        let _ = write!(out, ".{micros:06}");
    }
}

/// The value of `numeric` text, when it is a finite number (not `NaN` or `Infinity`).
pub(crate) fn finite_number(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// A float as Python's `repr` writes it for ordinary values (`1.0`, `0.5`); non-finite values
/// have no JSON form and are the caller's business.
pub(crate) fn float(out: &mut String, f: f64) {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
        let _ = write!(out, "{f:.1}");
    } else {
        let _ = write!(out, "{f}");
    }
}

/// GeoNature's file-name rule for an export label (`removeDisallowedFilenameChars`): NFKD, spaces
/// to `_`, keep `[0-9A-Za-z_-]`. "Synthèse SINP" → `Synthese_SINP`. Never empty.
pub fn sanitize_file_stem(label: &str) -> String {
    let s: String = label
        .nfkd()
        .map(|c| if c == ' ' { '_' } else { c })
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    if s.is_empty() {
        "export".to_string()
    } else {
        s
    }
}

/// The text of a cell as GeoNature's CSV writer gives it (Python `str()` of the marshmallow
/// value): ISO dates with `T`, `True`/`False`, geometry as WKT. `None` for NULL.
pub(crate) fn cell_text(value: &crate::Value, out: &mut String) -> crate::Result<bool> {
    use crate::Value;
    match value {
        Value::Null => return Ok(false),
        Value::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => float(out, *f),
        Value::Numeric(s) | Value::Text(s) | Value::Json(s) => out.push_str(s),
        Value::Date(d) => iso_date(out, *d),
        Value::Timestamp(ts) => iso_timestamp(out, *ts),
        Value::TimestampTz(ts) => {
            iso_timestamp(out, *ts);
            out.push_str("+00:00");
        }
        Value::Geometry(g) => out.push_str(&crate::geometry::to_wkt(g)?),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stems_follow_geonature() {
        assert_eq!(sanitize_file_stem("Synthèse SINP"), "Synthese_SINP");
        assert_eq!(sanitize_file_stem("a/b\\c..d"), "abcd");
        assert_eq!(sanitize_file_stem("///"), "export");
    }

    #[test]
    fn timestamps_and_floats() {
        let mut s = String::new();
        let ts = NaiveDate::from_ymd_opt(2024, 5, 1)
            .unwrap()
            .and_hms_micro_opt(10, 2, 3, 450)
            .unwrap();
        iso_timestamp(&mut s, ts);
        assert_eq!(s, "2024-05-01T10:02:03.000450");
        s.clear();
        float(&mut s, 3.0);
        s.push(' ');
        float(&mut s, 0.25);
        assert_eq!(s, "3.0 0.25");
    }
}
