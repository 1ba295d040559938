//! When to retry and how long to wait: exponential backoff with jitter, `Retry-After`, and
//! sleeps that a [`CancelFlag`] interrupts within 50 ms.

use crate::cancel::CancelFlag;
use crate::config::SourceConfig;
use crate::ClientError;
use chrono::{DateTime, NaiveDateTime, Utc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use crate::error::is_retryable_status;

/// Retry budget and delays of one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    pub base: Duration,
    pub cap: Duration,
    /// Upper bound (exclusive) of the jitter: 1 s, or the base delay when that is shorter (so
    /// sub-second backoffs, as in tests, are not dominated by the jitter).
    pub jitter: Duration,
}

/// The largest jitter bound.
pub const MAX_JITTER: Duration = Duration::from_secs(1);

impl RetryPolicy {
    pub fn from_config(cfg: &SourceConfig) -> RetryPolicy {
        RetryPolicy {
            max_retries: cfg.max_retries,
            base: cfg.backoff_base,
            cap: cfg.backoff_cap,
            jitter: cfg.backoff_base.min(MAX_JITTER),
        }
    }

    /// Backoff before retry `attempt` (1 = the first retry): min(cap, base * 2^(attempt-1)),
    /// without jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        self.base.checked_mul(1u32 << exp).unwrap_or(self.cap).min(self.cap)
    }

    /// The wait before retry `attempt`: the server's `Retry-After` (capped at `cap`) when given,
    /// else the backoff; plus `jitter_fraction` (in [0, 1)) of the jitter bound.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, jitter_fraction: f64) -> Duration {
        let base = match retry_after {
            Some(ra) => ra.min(self.cap),
            None => self.backoff(attempt),
        };
        base + self.jitter.mul_f64(jitter_fraction.clamp(0.0, 0.999_999))
    }

    /// Whether retry number `attempt` (1-based) is still within budget.
    pub fn allows(&self, attempt: u32) -> bool {
        attempt <= self.max_retries
    }
}

/// Parses a `Retry-After` value: delay-seconds, or an HTTP-date (IMF-fixdate, RFC 850 or
/// asctime) relative to `now` (a date in the past means "now").
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = DateTime::parse_from_rfc2822(v)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(v, f).ok())
                .map(|n| n.and_utc())
        })?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// A tiny xorshift64* generator seeded from the clock (jitter needs no better).
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    pub fn from_clock() -> Jitter {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        // Mix in the thread id so two workers started in the same nanosecond differ.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&std::thread::current().id(), &mut h);
        Jitter::seeded(nanos ^ std::hash::Hasher::finish(&h).rotate_left(32))
    }

    pub fn seeded(seed: u64) -> Jitter {
        Jitter(if seed == 0 { 0x2545_F491_4F6C_DD1D } else { seed })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn fraction(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Longest single sleep between two checks of the cancel flag.
pub const CANCEL_CHECK_STEP: Duration = Duration::from_millis(50);

/// Sleeps `d` in steps of at most 50 ms; `Err(Cancelled)` as soon as the flag is set.
pub fn sleep_cancellable(d: Duration, cancel: &CancelFlag) -> Result<(), ClientError> {
    let end = Instant::now() + d;
    loop {
        cancel.check()?;
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(CANCEL_CHECK_STEP));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 5,
            base: Duration::from_secs(5),
            cap: Duration::from_secs(120),
            jitter: Duration::from_secs(1),
        }
    }

    #[test]
    fn exponential_backoff_capped() {
        let p = policy();
        let secs: Vec<u64> = (1..=8).map(|n| p.backoff(n).as_secs()).collect();
        assert_eq!(secs, vec![5, 10, 20, 40, 80, 120, 120, 120]);
        assert_eq!(p.backoff(1000), Duration::from_secs(120), "no overflow");
        assert_eq!(p.delay(2, None, 0.0), Duration::from_secs(10));
        let d = p.delay(2, None, 0.5);
        assert_eq!(d, Duration::from_millis(10_500));
        assert!(p.delay(1, None, 1.0) < Duration::from_secs(6), "jitter stays below 1 s");
        assert!(p.allows(5) && !p.allows(6));
    }

    #[test]
    fn retry_after_wins_and_is_capped() {
        let p = policy();
        assert_eq!(p.delay(1, Some(Duration::from_secs(2)), 0.0), Duration::from_secs(2));
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3600)), 0.0),
            Duration::from_secs(120)
        );
    }

    #[test]
    fn classification() {
        for s in [429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [200, 301, 400, 401, 403, 404, 501, 505] {
            assert!(!is_retryable_status(s), "{s}");
        }
        let e = |status| ClientError::Http {
            status,
            url: String::new(),
            page: None,
            attempts: 1,
            body: String::new(),
        };
        assert!(e(503).is_retryable() && !e(404).is_retryable());
        assert!(ClientError::Timeout {
            url: String::new(),
            page: None,
            attempts: 1,
            timeout: Duration::from_secs(1)
        }
        .is_retryable());
        assert!(ClientError::MalformedBody {
            url: String::new(),
            page: None,
            attempts: 1,
            reason: String::new()
        }
        .is_retryable());
        assert!(!ClientError::NotAnExport {
            url: String::new(),
            page: None,
            reason: String::new()
        }
        .is_retryable());
        assert!(!ClientError::Cancelled.is_retryable());
    }

    #[test]
    fn parses_retry_after_forms() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:28:05 2015", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO),
            "a past date means now"
        );
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn jitter_is_uniform_enough() {
        let mut j = Jitter::seeded(42);
        let xs: Vec<f64> = (0..10_000).map(|_| j.fraction()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        let mut a = Jitter::from_clock();
        let mut b = Jitter::seeded(0);
        assert_ne!(a.next_u64(), 0);
        assert_ne!(b.next_u64(), 0);
    }

    #[test]
    fn sleep_stops_on_cancel() {
        let c = CancelFlag::new();
        let c2 = c.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(80));
            c2.cancel();
        });
        let start = Instant::now();
        assert_eq!(
            sleep_cancellable(Duration::from_secs(30), &c),
            Err(ClientError::Cancelled)
        );
        assert!(start.elapsed() < Duration::from_millis(200), "{:?}", start.elapsed());
        t.join().unwrap();
        let c = CancelFlag::new();
        let start = Instant::now();
        sleep_cancellable(Duration::from_millis(120), &c).unwrap();
        assert!(start.elapsed() >= Duration::from_millis(120));
    }
}
