//! The one error type of the client. Every variant carries the URL without query string and
//! without userinfo, the page and attempt where relevant, and says what to do ([`ClientError::hint`]).
//! Passwords and tokens never reach these texts: URLs carry none (the token travels in a header),
//! and the session masks every configured secret in what it builds from server replies.

use std::time::Duration;

/// A failure of the GeoNature client.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    #[error("invalid GeoNature URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },

    #[error("cannot connect to {url}{}: {reason}", context(.page, Some(*.attempts)))]
    Connect {
        url: String,
        page: Option<u64>,
        attempts: u32,
        reason: String,
    },

    #[error("no reply from {url} within {} ms{}", .timeout.as_millis(), context(.page, Some(*.attempts)))]
    Timeout {
        url: String,
        page: Option<u64>,
        attempts: u32,
        timeout: Duration,
    },

    #[error("HTTP {status} from {url}{}", context(.page, Some(*.attempts)))]
    Http {
        status: u16,
        url: String,
        page: Option<u64>,
        attempts: u32,
        /// The start of the reply body (secrets masked).
        body: String,
    },

    /// Login refused, or still not logged in after logging in again.
    #[error("authentication failed at {url}: {reason}")]
    Auth {
        url: String,
        status: Option<u16>,
        reason: String,
    },

    /// HTTP 403 on an export: wrong token, or the user may not read this export.
    #[error("access to export {export_id} refused (HTTP 403) at {url}")]
    Forbidden {
        url: String,
        export_id: i64,
        with_token: bool,
        with_login: bool,
    },

    /// HTTP 404 on an export.
    #[error("no export {export_id} at {url} (HTTP 404)")]
    ExportNotFound { url: String, export_id: i64 },

    /// The module list has no EXPORTS module: the user lacks permission, or the URL is wrong
    /// (gn2pg #120).
    #[error("no EXPORTS module in the module list of {url}")]
    NoExportsModule { url: String, login: Option<String> },

    /// The reply is not a GeoNature export page (JSON without `items`/`limit`/`total`, HTML, …).
    #[error("the reply of {url} is not a GeoNature export page{}: {reason}", context(.page, None))]
    NotAnExport {
        url: String,
        page: Option<u64>,
        reason: String,
    },

    /// An export page whose items lack what a pull needs (`id_synthese`, `id_perm_sinp`,
    /// `derniere_action`; a `uuid` for metadata items).
    #[error("export at {url} cannot be pulled: {reason}")]
    UnsuitableExport { url: String, reason: String },

    /// A truncated or invalid JSON body (retried before it is reported).
    #[error("malformed reply body from {url}{}: {reason}", context(.page, Some(*.attempts)))]
    MalformedBody {
        url: String,
        page: Option<u64>,
        attempts: u32,
        reason: String,
    },

    #[error("cancelled")]
    Cancelled,

    /// A reply body larger than `max_reply_bytes` (announced by Content-Length or read);
    /// not retried.
    #[error("the reply of {url}{} is larger than {limit} bytes", context(.page, None))]
    ReplyTooLarge {
        url: String,
        page: Option<u64>,
        limit: u64,
        /// The Content-Length the server announced, if any.
        announced: Option<u64>,
    },

    /// The export walk stopped moving forward (a keyset bound that does not advance, the same
    /// page again): a broken or hostile server; not retried.
    #[error("the export walk at {url} makes no progress{}: {reason}", context(.page, None))]
    NoProgress {
        url: String,
        page: Option<u64>,
        reason: String,
    },

    /// The run took longer than `max_run_time`.
    #[error("the run at {url} exceeded its maximum run time of {} s{}", .limit.as_secs_f64(), context(.page, None))]
    RunTimeExceeded {
        url: String,
        page: Option<u64>,
        limit: Duration,
    },

    /// Credentials would travel in clear text over plain http to a host that is not loopback.
    #[error("refusing to send credentials over plain http to {url}")]
    InsecureTransport { url: String },

    /// The extra CA certificate file cannot be used.
    #[error("cannot use the CA certificate file {path:?} for {url}: {reason}")]
    CaFile { url: String, path: String, reason: String },

    /// Any other reply the client cannot use.
    #[error("unexpected reply from {url}{}: {reason}", context(.page, None))]
    Protocol {
        url: String,
        page: Option<u64>,
        reason: String,
    },
}

fn context(page: &Option<u64>, attempts: Option<u32>) -> String {
    let mut parts = Vec::new();
    if let Some(p) = page {
        parts.push(format!("page {p}"));
    }
    if let Some(a) = attempts {
        if a > 1 {
            parts.push(format!("after {a} attempts"));
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

impl ClientError {
    /// The URL concerned (without query string or userinfo).
    pub fn url(&self) -> Option<&str> {
        match self {
            ClientError::InvalidUrl { url, .. }
            | ClientError::Connect { url, .. }
            | ClientError::Timeout { url, .. }
            | ClientError::Http { url, .. }
            | ClientError::Auth { url, .. }
            | ClientError::Forbidden { url, .. }
            | ClientError::ExportNotFound { url, .. }
            | ClientError::NoExportsModule { url, .. }
            | ClientError::NotAnExport { url, .. }
            | ClientError::UnsuitableExport { url, .. }
            | ClientError::MalformedBody { url, .. }
            | ClientError::Protocol { url, .. }
            | ClientError::ReplyTooLarge { url, .. }
            | ClientError::NoProgress { url, .. }
            | ClientError::RunTimeExceeded { url, .. }
            | ClientError::InsecureTransport { url }
            | ClientError::CaFile { url, .. } => Some(url),
            ClientError::Cancelled => None,
        }
    }

    /// The page (0-based index of the walk) concerned, if any.
    pub fn page(&self) -> Option<u64> {
        match self {
            ClientError::Connect { page, .. }
            | ClientError::Timeout { page, .. }
            | ClientError::Http { page, .. }
            | ClientError::NotAnExport { page, .. }
            | ClientError::MalformedBody { page, .. }
            | ClientError::Protocol { page, .. }
            | ClientError::ReplyTooLarge { page, .. }
            | ClientError::NoProgress { page, .. }
            | ClientError::RunTimeExceeded { page, .. } => *page,
            _ => None,
        }
    }

    /// The HTTP status, when the failure is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Http { status, .. } => Some(*status),
            ClientError::Auth { status, .. } => *status,
            ClientError::Forbidden { .. } => Some(403),
            ClientError::ExportNotFound { .. } => Some(404),
            _ => None,
        }
    }

    /// Whether another attempt of the same request may succeed (429, 500, 502, 503, 504,
    /// connection failures, timeouts, truncated or non-JSON bodies).
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Connect { .. } | ClientError::Timeout { .. } | ClientError::MalformedBody { .. } => true,
            ClientError::Http { status, .. } => is_retryable_status(*status),
            _ => false,
        }
    }

    pub(crate) fn set_attempts(&mut self, n: u32) {
        match self {
            ClientError::Connect { attempts, .. }
            | ClientError::Timeout { attempts, .. }
            | ClientError::Http { attempts, .. }
            | ClientError::MalformedBody { attempts, .. } => *attempts = n,
            _ => {}
        }
    }

    /// The facts, for a DETAIL line: URL, page, attempts, status, server text.
    pub fn detail(&self) -> String {
        let mut d = Vec::new();
        if let Some(u) = self.url() {
            d.push(format!("url: {u}"));
        }
        if let Some(p) = self.page() {
            d.push(format!("page: {p}"));
        }
        match self {
            ClientError::InvalidUrl { reason, .. } => d.push(format!("reason: {reason}")),
            ClientError::Connect { attempts, reason, .. } => {
                d.push(format!("attempts: {attempts}"));
                d.push(format!("error: {reason}"));
            }
            ClientError::Timeout { attempts, timeout, .. } => {
                d.push(format!("attempts: {attempts}"));
                d.push(format!("timeout: {} ms", timeout.as_millis()));
            }
            ClientError::Http {
                status, attempts, body, ..
            } => {
                d.push(format!("HTTP status: {status}"));
                d.push(format!("attempts: {attempts}"));
                if !body.is_empty() {
                    d.push(format!("reply: {body}"));
                }
            }
            ClientError::Auth { status, reason, .. } => {
                if let Some(s) = status {
                    d.push(format!("HTTP status: {s}"));
                }
                d.push(format!("reason: {reason}"));
            }
            ClientError::Forbidden {
                export_id,
                with_token,
                with_login,
                ..
            } => {
                d.push(format!("export: {export_id}"));
                d.push(format!(
                    "credentials sent: {}",
                    match (with_token, with_login) {
                        (true, true) => "export token (api-key header) and login session",
                        (true, false) => "export token (api-key header)",
                        (false, true) => "login session",
                        (false, false) => "none",
                    }
                ));
            }
            ClientError::ExportNotFound { export_id, .. } => d.push(format!("export: {export_id}")),
            ClientError::NoExportsModule { login, .. } => {
                if let Some(l) = login {
                    d.push(format!("login: {l}"));
                }
            }
            ClientError::NotAnExport { reason, .. }
            | ClientError::UnsuitableExport { reason, .. }
            | ClientError::Protocol { reason, .. } => d.push(format!("reason: {reason}")),
            ClientError::MalformedBody { attempts, reason, .. } => {
                d.push(format!("attempts: {attempts}"));
                d.push(format!("reason: {reason}"));
            }
            ClientError::Cancelled => d.push("the pull was cancelled".into()),
            ClientError::ReplyTooLarge { limit, announced, .. } => {
                d.push(format!("limit: {limit} bytes"));
                if let Some(a) = announced {
                    d.push(format!("announced Content-Length: {a} bytes"));
                }
            }
            ClientError::NoProgress { reason, .. } => d.push(format!("reason: {reason}")),
            ClientError::RunTimeExceeded { limit, .. } => d.push(format!("maximum run time: {} ms", limit.as_millis())),
            ClientError::InsecureTransport { .. } => d.push(
                "a login, password or export token is configured and the URL is http:// on a host that is not loopback"
                    .into(),
            ),
            ClientError::CaFile { path, reason, .. } => {
                d.push(format!("file: {path}"));
                d.push(format!("reason: {reason}"));
            }
        }
        d.join("; ")
    }

    /// What the DBA should do.
    pub fn hint(&self) -> String {
        match self {
            ClientError::InvalidUrl { .. } => {
                "Set the source URL to the GeoNature root, e.g. https://host/geonature (http or https, no query string)."
                    .into()
            }
            ClientError::Connect { .. } => {
                "Check that the host is reachable from the database server (DNS, firewall, proxy) and that the URL's scheme and port are right; retries with backoff were already made."
                    .into()
            }
            ClientError::Timeout { .. } => {
                "The server is slow or the page too large: raise gn_flux.http_timeout_ms, lower the page size, or retry later."
                    .into()
            }
            ClientError::Http { status, .. } => match *status {
                429 => "The server is rate limiting: run the pull less often or retry later.".into(),
                500..=599 => {
                    "The GeoNature server failed; retries were exhausted. Retry later, or ask its administrator to check the server logs (a filter on a missing column or a bad geometry also gives a 500)."
                        .into()
                }
                400 => "The server refused the query: check the source's query_strings (filter names and values, orderby column).".into(),
                404 => "Nothing at this URL: check that the source URL is the GeoNature root (e.g. https://host/geonature), and for the synthese log that GeoNature is 2.12 or later.".into(),
                300..=399 => {
                    "The URL redirects: set the source URL to the final address (often https instead of http, or a different path)."
                        .into()
                }
                _ => "Check the source URL and credentials.".into(),
            },
            ClientError::Auth { .. } => {
                "Check the source's login and password (a GeoNature account; they are sent to <url>/api/auth/login), or use an export token."
                    .into()
            }
            ClientError::Forbidden {
                export_id, with_token, ..
            } => {
                if *with_token {
                    format!(
                        "The export token was refused for export {export_id}: check the token (Export module admin, cor_exports_roles); a token opens only the exports it was issued for (a separate metadata export is requested with the same token: use a login instead if its token differs)."
                    )
                } else {
                    format!(
                        "The account may not read export {export_id}: give it R permission on EXPORTS and associate it with the export, or set an export token."
                    )
                }
            }
            ClientError::ExportNotFound { export_id, url } => format!(
                "There is no export {export_id} at {url}: check the export id (Export module admin, gn_exports.t_exports) and the module path."
            ),
            ClientError::NoExportsModule { .. } => {
                "The account has no permission on the EXPORTS module, or the URL is not the GeoNature root: grant R on EXPORTS, check the URL, or set the module path explicitly."
                    .into()
            }
            ClientError::NotAnExport { .. } => {
                "The URL answers but not as a GeoNature export: check that the source URL is the GeoNature root (the API is <url>/api/...), not the front end, and the export id."
                    .into()
            }
            ClientError::UnsuitableExport { .. } => {
                "The export view must be GN2PG-compatible: rows with id_synthese (integer), id_perm_sinp and derniere_action (a timestamp), the geometry as wkt_4326 text or the export's geometry field; a metadata export needs a uuid per item. Fix the view or choose another export."
                    .into()
            }
            ClientError::MalformedBody { .. } => {
                "The reply was cut or is not JSON (a proxy error page?); retries were exhausted. Retry later, or raise gn_flux.http_timeout_ms for large pages."
                    .into()
            }
            ClientError::Cancelled => "Nothing to do: the pull was cancelled on request; run it again.".into(),
            ClientError::ReplyTooLarge { .. } => {
                "A reply this large is not a normal export page: lower the source's page size, or (as a superuser) raise gn_flux.max_reply_size if the pages are legitimately that large."
                    .into()
            }
            ClientError::NoProgress { .. } => {
                "The server keeps answering the same rows (a broken proxy cache, or a view whose id_synthese is not unique or reaches the largest bigint): check the export view and any cache in front of GeoNature, or use offset paging."
                    .into()
            }
            ClientError::RunTimeExceeded { .. } => {
                "The run was stopped after its maximum run time: raise the source's max_run_time, lower the work per run (an incremental window), or retry when the server is less loaded."
                    .into()
            }
            ClientError::InsecureTransport { .. } => {
                "Use an https:// URL; or, on a trusted network only, set allow_insecure_http for this source."
                    .into()
            }
            ClientError::CaFile { .. } => {
                "ca_file must name a file the database server can read, holding one or more PEM certificates (-----BEGIN CERTIFICATE-----) of the authority that signed the GeoNature server's certificate."
                    .into()
            }
            ClientError::Protocol { .. } => {
                "The server does not answer like GeoNature: check the source URL, the module path and the GeoNature version (2.12 or later for the synthese log)."
                    .into()
            }
        }
    }

    /// Replaces every occurrence of each secret in the error's texts with `***`.
    pub(crate) fn masked(mut self, secrets: &[String]) -> ClientError {
        let mask = |s: &mut String| {
            for secret in secrets {
                if !secret.is_empty() && s.contains(secret.as_str()) {
                    *s = s.replace(secret.as_str(), "***");
                }
            }
        };
        match &mut self {
            ClientError::InvalidUrl { url, reason }
            | ClientError::Connect { url, reason, .. }
            | ClientError::Auth { url, reason, .. }
            | ClientError::NotAnExport { url, reason, .. }
            | ClientError::UnsuitableExport { url, reason }
            | ClientError::MalformedBody { url, reason, .. }
            | ClientError::Protocol { url, reason, .. }
            | ClientError::NoProgress { url, reason, .. } => {
                mask(url);
                mask(reason);
            }
            ClientError::CaFile { url, path, reason } => {
                mask(url);
                mask(path);
                mask(reason);
            }
            ClientError::Http { url, body, .. } => {
                mask(url);
                mask(body);
            }
            ClientError::NoExportsModule { url, login } => {
                mask(url);
                if let Some(l) = login {
                    mask(l);
                }
            }
            ClientError::Timeout { url, .. }
            | ClientError::Forbidden { url, .. }
            | ClientError::ExportNotFound { url, .. }
            | ClientError::ReplyTooLarge { url, .. }
            | ClientError::RunTimeExceeded { url, .. }
            | ClientError::InsecureTransport { url } => mask(url),
            ClientError::Cancelled => {}
        }
        self
    }
}

/// `url` without userinfo, query string and fragment (for messages).
pub fn redact_url(url: &str) -> String {
    if let Ok(mut u) = url::Url::parse(url) {
        let _ = u.set_username("");
        let _ = u.set_password(None);
        u.set_query(None);
        u.set_fragment(None);
        return u.to_string();
    }
    // Not parseable: cut the query/fragment and any `user:pass@` by hand.
    let cut = url.find(['?', '#']).map_or(url, |i| &url[..i]);
    match cut.find("://") {
        Some(i) => {
            let rest = &cut[i + 3..];
            let host_end = rest.find('/').unwrap_or(rest.len());
            match rest[..host_end].rfind('@') {
                Some(at) => format!("{}{}", &cut[..i + 3], &rest[at + 1..]),
                None => cut.to_string(),
            }
        }
        None => cut.to_string(),
    }
}

/// Statuses worth another attempt: 429 and the transient 5xx (as gn2pg 1.10, minus 501).
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// The first `max` characters of a reply body, on one line, for a DETAIL.
pub(crate) fn excerpt(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_userinfo_and_query() {
        assert_eq!(
            redact_url("https://bob:s3cret@example.org/geonature/api/exports/api/1?token=abc&limit=5#x"),
            "https://example.org/geonature/api/exports/api/1"
        );
        assert_eq!(redact_url("not a url?password=x"), "not a url");
        assert_eq!(redact_url("ht!tp://u:p@h/x?y"), "ht!tp://h/x");
    }

    #[test]
    fn messages_mask_secrets_and_give_hints() {
        let e = ClientError::Http {
            status: 500,
            url: "http://h/geonature/api/exports/api/1".into(),
            page: Some(3),
            attempts: 6,
            body: "error near 'hunter2' and tok-123".into(),
        }
        .masked(&["hunter2".into(), "tok-123".into()]);
        let all = format!("{e} {} {}", e.detail(), e.hint());
        assert!(!all.contains("hunter2") && !all.contains("tok-123"), "{all}");
        assert_eq!(
            e.to_string(),
            "HTTP 500 from http://h/geonature/api/exports/api/1 (page 3, after 6 attempts)"
        );
        assert!(e.detail().contains("attempts: 6"));
        assert!(e.is_retryable());
        let nf = ClientError::ExportNotFound {
            url: "http://h/geonature/api/exports/api/9".into(),
            export_id: 9,
        };
        assert!(nf
            .hint()
            .contains("no export 9 at http://h/geonature/api/exports/api/9"));
        assert!(!nf.is_retryable());
        assert_eq!(ClientError::Cancelled.url(), None);
    }
}
