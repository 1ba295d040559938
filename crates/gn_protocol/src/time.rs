//! Timestamps as GeoNature writes them (Python `str(datetime)`) and the lenient forms its
//! filters accept (a dateutil-like subset).

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};

/// `YYYY-MM-DD HH:MM:SS[.ffffff]`: a space, not a `T`; microseconds only when non-zero.
pub fn format_timestamp(ts: &NaiveDateTime) -> String {
    let micros = ts.and_utc().timestamp_subsec_micros();
    if micros == 0 {
        ts.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        format!("{}.{:06}", ts.format("%Y-%m-%d %H:%M:%S"), micros)
    }
}

/// `YYYY-MM-DD`.
pub fn format_date(d: &NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Parses the timestamp forms seen on the wire: `YYYY-MM-DD HH:MM:SS[.f]`, the same with `T`,
/// with an optional `Z` or `±HH:MM` offset (converted to UTC, then made naive), or a bare date
/// (midnight). Returns `None` for anything else.
pub fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(ts) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(ts);
        }
    }
    let with_t = s.replacen(' ', "T", 1);
    if let Ok(ts) = DateTime::parse_from_rfc3339(&with_t) {
        return Some(ts.naive_utc());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(ts) = DateTime::parse_from_str(&with_t, fmt) {
            return Some(ts.naive_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_time(NaiveTime::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    #[test]
    fn formats_like_python_str() {
        assert_eq!(format_timestamp(&ts("2024-03-01 10:20:30")), "2024-03-01 10:20:30");
        assert_eq!(
            format_timestamp(&ts("2024-03-01 10:20:30.000120")),
            "2024-03-01 10:20:30.000120"
        );
    }

    #[test]
    fn parses_wire_and_iso_forms() {
        let want = ts("2024-03-01 10:20:30");
        for s in [
            "2024-03-01 10:20:30",
            "2024-03-01T10:20:30",
            "2024-03-01T10:20:30Z",
            "2024-03-01T12:20:30+02:00",
            "2024-03-01 12:20:30+02:00",
        ] {
            assert_eq!(parse_timestamp(s), Some(want), "{s}");
        }
        assert_eq!(parse_timestamp("2024-03-01"), Some(ts("2024-03-01 00:00:00")));
        assert_eq!(
            parse_timestamp("2024-03-01 10:20:30.5")
                .map(|t| format_timestamp(&t))
                .as_deref(),
            Some("2024-03-01 10:20:30.500000")
        );
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp(""), None);
    }
}
