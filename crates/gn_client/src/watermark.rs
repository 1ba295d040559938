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
}
