//! PostgreSQL dates and timestamps as the writers' values, from their binary form: days (date) or
//! microseconds (timestamp, timestamptz in UTC) since 2000-01-01, with the largest and smallest
//! values standing for `infinity` and `-infinity`.
//!
//! PostgreSQL's range is wider than chrono's: dates go up to 5874897 AD and timestamps to 294276
//! AD, chrono stops at the end of 262142 AD (both start at 4714 BC or earlier). Values beyond are
//! [`PgTime::OutOfRange`], for the caller to report, never a panic.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};

/// A PostgreSQL date or timestamp, converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgTime<T> {
    Finite(T),
    Infinity,
    NegInfinity,
    /// A finite PostgreSQL value that chrono cannot hold (after 262142 AD).
    OutOfRange,
}

fn pg_epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

/// A `date` from its days since 2000-01-01 (`i32::MAX` is `infinity`, `i32::MIN` `-infinity`).
pub fn date_from_pg(days: i32) -> PgTime<NaiveDate> {
    match days {
        i32::MAX => PgTime::Infinity,
        i32::MIN => PgTime::NegInfinity,
        _ => TimeDelta::try_days(i64::from(days))
            .and_then(|d| pg_epoch().date().checked_add_signed(d))
            .map_or(PgTime::OutOfRange, PgTime::Finite),
    }
}

/// A `timestamp` (or a `timestamptz`, in UTC) from its microseconds since 2000-01-01
/// (`i64::MAX` is `infinity`, `i64::MIN` `-infinity`).
pub fn timestamp_from_pg(micros: i64) -> PgTime<NaiveDateTime> {
    match micros {
        i64::MAX => PgTime::Infinity,
        i64::MIN => PgTime::NegInfinity,
        _ => pg_epoch()
            .checked_add_signed(TimeDelta::microseconds(micros))
            .map_or(PgTime::OutOfRange, PgTime::Finite),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Days from 2000-01-01, as PostgreSQL stores `date`.
    fn pg_days(d: NaiveDate) -> i32 {
        (d - ymd(2000, 1, 1)).num_days() as i32
    }

    #[test]
    fn ordinary_and_extreme_dates() {
        assert_eq!(date_from_pg(0), PgTime::Finite(ymd(2000, 1, 1)));
        assert_eq!(date_from_pg(-1), PgTime::Finite(ymd(1999, 12, 31)));
        assert_eq!(
            date_from_pg(pg_days(ymd(2024, 2, 29))),
            PgTime::Finite(ymd(2024, 2, 29))
        );
        // PostgreSQL's first date, 4714-11-24 BC (year -4713 in ISO 8601): Julian day 0.
        assert_eq!(date_from_pg(-2_451_545), PgTime::Finite(ymd(-4713, 11, 24)));
        // chrono's last date.
        assert_eq!(date_from_pg(pg_days(NaiveDate::MAX)), PgTime::Finite(NaiveDate::MAX));
        assert_eq!(date_from_pg(pg_days(NaiveDate::MAX) + 1), PgTime::OutOfRange);
        // date '5874897-12-31', PostgreSQL's last date (SELECT '5874897-12-31'::date - '2000-01-01').
        assert_eq!(date_from_pg(2_145_031_948), PgTime::OutOfRange);
        assert_eq!(date_from_pg(i32::MAX), PgTime::Infinity);
        assert_eq!(date_from_pg(i32::MIN), PgTime::NegInfinity);
    }

    #[test]
    fn ordinary_and_extreme_timestamps() {
        let epoch = ymd(2000, 1, 1).and_hms_opt(0, 0, 0).unwrap();
        assert_eq!(timestamp_from_pg(0), PgTime::Finite(epoch));
        assert_eq!(
            timestamp_from_pg(86_400_000_000 + 1),
            PgTime::Finite(ymd(2000, 1, 2).and_hms_micro_opt(0, 0, 0, 1).unwrap())
        );
        assert_eq!(
            timestamp_from_pg(-1),
            PgTime::Finite(ymd(1999, 12, 31).and_hms_micro_opt(23, 59, 59, 999_999).unwrap())
        );
        // PostgreSQL's first timestamp, 4714-11-24 00:00:00 BC.
        assert_eq!(
            timestamp_from_pg(-211_813_488_000_000_000),
            PgTime::Finite(ymd(-4713, 11, 24).and_hms_opt(0, 0, 0).unwrap())
        );
        // chrono's last microsecond (PostgreSQL has no nanoseconds).
        let last = NaiveDate::MAX.and_hms_micro_opt(23, 59, 59, 999_999).unwrap();
        let last_micros = (last - epoch).num_microseconds().unwrap();
        assert_eq!(timestamp_from_pg(last_micros), PgTime::Finite(last));
        assert_eq!(timestamp_from_pg(last_micros + 1), PgTime::OutOfRange);
        // timestamp '294276-01-01' (SELECT extract(epoch FROM timestamp '294276-01-01'
        // - timestamp '2000-01-01') * 1e6).
        assert_eq!(timestamp_from_pg(9_223_339_708_800_000_000), PgTime::OutOfRange);
        // One microsecond before infinity: finite for this function, beyond chrono.
        assert_eq!(timestamp_from_pg(i64::MAX - 1), PgTime::OutOfRange);
        assert_eq!(timestamp_from_pg(i64::MAX), PgTime::Infinity);
        assert_eq!(timestamp_from_pg(i64::MIN), PgTime::NegInfinity);
    }

    /// What the extension did before: plain `+` panics on these values.
    #[test]
    fn plain_addition_would_panic() {
        let r = std::panic::catch_unwind(|| pg_epoch() + TimeDelta::microseconds(9_223_339_708_800_000_000));
        assert!(r.is_err());
        let r = std::panic::catch_unwind(|| pg_epoch().date() + TimeDelta::days(2_145_031_948));
        assert!(r.is_err());
    }
}
