//! The incremental window's high-water mark, kept from server values (`derniere_action`).

use chrono::NaiveDateTime;

/// Start of the next window: the manual `since_override` when given, else the watermark minus
/// the overlap margin (rows changed around the previous run are pulled again rather than
/// missed); `None` = no watermark yet, a full pull.
pub fn window_start(
    watermark: Option<NaiveDateTime>,
    overlap: chrono::Duration,
    since_override: Option<NaiveDateTime>,
) -> Option<NaiveDateTime> {
    if since_override.is_some() {
        return since_override;
    }
    watermark.map(|w| w.checked_sub_signed(overlap).unwrap_or(NaiveDateTime::MIN))
}

/// The watermark after a window: the larger of the previous one and the latest value seen; it
/// never goes back.
pub fn advance_watermark(prev: Option<NaiveDateTime>, seen: Option<NaiveDateTime>) -> Option<NaiveDateTime> {
    match (prev, seen) {
        (Some(p), Some(s)) => Some(p.max(s)),
        (p, s) => p.or(s),
    }
}

/// Bounds a watermark candidate (the largest `derniere_action` seen, or a stored watermark) by
/// the server's clock, so that one row dated in the future cannot freeze every later
/// incremental pull.
///
/// `derniere_action` is the server's naive LOCAL time while the HTTP `Date` header is GMT: pass
/// the Date as `server_now` (naive UTC) with a tolerance covering the server's UTC offset (up to
/// ±14 h) plus clock skew, e.g. one day. A candidate later than `server_now + tolerance` cannot
/// be a real change time: the watermark then falls back to `server_now - tolerance`, the earliest
/// the server's local "now" can be — the next window re-reads at most that much (unchanged rows
/// are not rewritten) and misses nothing, whatever the server's time zone. (Capping at
/// `now + tolerance` would skip every real change of the next day.) Returns the watermark to
/// keep and, when it had to fall back, a warning naming the future value. With no candidate or no
/// server time, the candidate is returned unchanged (a negative tolerance counts as zero).
pub fn bound_watermark(
    candidate: Option<NaiveDateTime>,
    server_now_local: Option<NaiveDateTime>,
    tolerance: chrono::Duration,
) -> (Option<NaiveDateTime>, Option<String>) {
    let (Some(c), Some(now)) = (candidate, server_now_local) else {
        return (candidate, None);
    };
    let tolerance = tolerance.max(chrono::Duration::zero());
    let Some(limit) = now.checked_add_signed(tolerance) else {
        return (candidate, None);
    };
    if c <= limit {
        return (candidate, None);
    }
    let fallback = now.checked_sub_signed(tolerance).unwrap_or(NaiveDateTime::MIN);
    let warning = format!(
        "the source has a derniere_action in the future ({}), later than the server's time {} plus the tolerance of {} s: the watermark falls back to {}; fix that row's date upstream",
        gn_protocol::time::format_timestamp(&c),
        gn_protocol::time::format_timestamp(&now),
        tolerance.num_seconds(),
        gn_protocol::time::format_timestamp(&fallback),
    );
    (Some(fallback), Some(warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> NaiveDateTime {
        gn_protocol::time::parse_timestamp(s).unwrap()
    }

    #[test]
    fn window_start_rules() {
        let w = Some(ts("2024-05-01 12:00:00"));
        let m = chrono::Duration::minutes(10);
        assert_eq!(window_start(w, m, None), Some(ts("2024-05-01 11:50:00")));
        assert_eq!(
            window_start(w, m, Some(ts("2020-01-01 00:00:00"))),
            Some(ts("2020-01-01 00:00:00")),
            "the override wins"
        );
        assert_eq!(
            window_start(None, m, Some(ts("2030-01-01 00:00:00"))),
            Some(ts("2030-01-01 00:00:00"))
        );
        assert_eq!(window_start(None, m, None), None);
        assert_eq!(window_start(w, chrono::Duration::zero(), None), w);
        assert_eq!(
            window_start(Some(NaiveDateTime::MIN), m, None),
            Some(NaiveDateTime::MIN),
            "no overflow"
        );
    }

    #[test]
    fn watermark_never_goes_back() {
        let a = Some(ts("2024-05-01 12:00:00"));
        let b = Some(ts("2024-05-02 00:00:00"));
        assert_eq!(advance_watermark(a, b), b);
        assert_eq!(advance_watermark(b, a), b);
        assert_eq!(advance_watermark(None, a), a);
        assert_eq!(advance_watermark(a, None), a);
        assert_eq!(advance_watermark(None, None), None);
    }

    #[test]
    fn watermark_is_bounded_by_the_server_clock() {
        let day = chrono::Duration::days(1);
        let now = Some(ts("2024-05-01 12:00:00"));
        // no cap: in the past, now, and up to the tolerance
        for c in ["2024-04-01 00:00:00", "2024-05-01 12:00:00", "2024-05-02 12:00:00"] {
            assert_eq!(bound_watermark(Some(ts(c)), now, day), (Some(ts(c)), None), "{c}");
        }
        // cap: one second past the tolerance, and ten years ahead
        for c in ["2024-05-02 12:00:01", "2034-05-01 12:00:00"] {
            let (w, warn) = bound_watermark(Some(ts(c)), now, day);
            assert_eq!(w, Some(ts("2024-04-30 12:00:00")), "{c}");
            let warn = warn.expect("a warning");
            assert!(warn.contains(c), "names the future value: {warn}");
            assert!(warn.contains("2024-05-01 12:00:00"), "{warn}");
        }
        // None inputs: unchanged, no warning
        assert_eq!(bound_watermark(None, now, day), (None, None));
        let far = Some(ts("2099-01-01 00:00:00"));
        assert_eq!(bound_watermark(far, None, day), (far, None));
        assert_eq!(bound_watermark(None, None, day), (None, None));
        // tolerance: zero falls back to the server time, a negative one counts as zero
        let c = Some(ts("2024-05-01 12:00:01"));
        assert_eq!(bound_watermark(c, now, chrono::Duration::zero()).0, now);
        assert_eq!(bound_watermark(c, now, chrono::Duration::hours(-5)).0, now);
        assert_eq!(bound_watermark(c, now, chrono::Duration::seconds(1)), (c, None));
        // a server time at the end of the calendar: no overflow
        let max = Some(NaiveDateTime::MAX);
        assert_eq!(bound_watermark(max, max, day), (max, None));
    }
}
