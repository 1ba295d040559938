//! One HTTP session with a GeoNature instance: login (cookies, like gn2pg), re-login when the
//! session has expired, module discovery, export pages and the synthese log, each request with
//! retries, backoff and cancellation.

use crate::cancel::CancelFlag;
use crate::config::SourceConfig;
use crate::error::{excerpt, redact_url};
use crate::retry::{is_retryable_status, parse_retry_after, sleep_cancellable, Jitter, RetryPolicy};
use crate::ClientError;
use chrono::{DateTime, NaiveDateTime, Utc};
use gn_protocol::auth::{export_module_path, LoginRequest};
use gn_protocol::log::{CmpOp, DateCondition, LogPage, LogQuery};
use gn_protocol::page::{ExportPage, PageError};
use reqwest::blocking::Client;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, DATE, LOCATION, RETRY_AFTER};
use reqwest::Method;
use serde_json::Value;
use std::io::Read;
use std::time::{Duration, Instant};

/// Page size of the synthese log requests (as gn2pg).
pub const LOG_PAGE_SIZE: u64 = 1000;

/// Counters of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// HTTP requests sent (every attempt, logins included).
    pub requests: u64,
    /// Attempts made after a retryable failure.
    pub retries: u64,
    /// Successful logins.
    pub logins: u64,
    /// Reply body bytes received.
    pub bytes: u64,
    /// The `Date` header of the last reply.
    pub server_date: Option<DateTime<Utc>>,
}

/// One export page as received.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedPage {
    pub page: ExportPage,
    /// Size of the reply body.
    pub bytes: u64,
}

struct Raw {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: reqwest::header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn looks_like_html(&self) -> bool {
        self.header(CONTENT_TYPE).is_some_and(|c| c.contains("html"))
            || self.body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
    }

    /// The `description` of a GeoNature JSON error body, else the start of the body.
    fn server_text(&self) -> String {
        if let Ok(v) = serde_json::from_slice::<Value>(&self.body) {
            if let Some(d) = v.get("description").and_then(Value::as_str) {
                return excerpt(d.as_bytes(), 300);
            }
        }
        excerpt(&self.body, 300)
    }
}

/// What to do after one attempt.
enum Verdict {
    /// Try again after a backoff (or report this error once the budget is spent).
    Retry(ClientError, Option<Duration>),
    /// Report this error.
    Fatal(ClientError),
    /// The server says "not logged in": log in again once and repeat, else report this error.
    NotLoggedIn(ClientError),
}

/// One logical request.
struct Call {
    method: Method,
    url: String,
    /// The URL as shown in errors.
    shown: String,
    body: Option<Vec<u8>>,
    api_key: Option<HeaderValue>,
    /// Another header (a feed's API key).
    extra_header: Option<(reqwest::header::HeaderName, HeaderValue)>,
    accept: String,
    page: Option<u64>,
    /// A "not logged in" answer triggers one re-login.
    relogin: bool,
}

/// A GeoNature session. Not shared between threads: the pull worker owns it.
pub struct Session {
    cfg: SourceConfig,
    root: String,
    client: Client,
    cancel: CancelFlag,
    policy: RetryPolicy,
    jitter: Jitter,
    secrets: Vec<String>,
    stats: SessionStats,
    logged_in: bool,
    module_path: Option<String>,
    /// When `max_run_time` runs out (from the session's start).
    deadline: Option<Instant>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("root", &self.root)
            .field("stats", &self.stats)
            .field("logged_in", &self.logged_in)
            .field("module_path", &self.module_path)
            .finish_non_exhaustive()
    }
}

/// Validates the GeoNature root: http(s), a host, no userinfo, query or fragment.
pub fn validate_root(url: &str) -> Result<String, ClientError> {
    // The one URL check (gn_client::definition), in the client's error type.
    crate::definition::check_url(url).map_err(|e| ClientError::InvalidUrl {
        url: redact_url(url.trim()),
        reason: e.message,
    })
}

/// Whether `u`'s host is a loopback address (127.0.0.0/8, ::1, localhost).
fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        None => false,
    }
}

/// Refuses a configuration that would send a login, password or token in clear text: an
/// `http://` root on a host that is not loopback, unless `allow_insecure_http`.
pub fn check_transport(cfg: &SourceConfig, root: &str) -> Result<(), ClientError> {
    if cfg.allow_insecure_http || !cfg.sends_secrets() {
        return Ok(());
    }
    match url::Url::parse(root) {
        Ok(u) if u.scheme() == "http" && !is_loopback(&u) => {
            Err(ClientError::InsecureTransport { url: root.to_string() })
        }
        _ => Ok(()),
    }
}

/// The certificates of a PEM bundle file, for [`SourceConfig::ca_file`].
pub fn load_ca_file(path: &std::path::Path, root: &str) -> Result<Vec<reqwest::Certificate>, ClientError> {
    let bad = |reason: String| ClientError::CaFile {
        url: root.to_string(),
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(bad(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in the file".into()
        ));
    }
    let certs =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(format!("invalid PEM: {}", describe(e))))?;
    if certs.is_empty() {
        return Err(bad("no certificate in the file".into()));
    }
    Ok(certs)
}

fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        src = s.source();
    }
    text
}

impl Session {
    pub fn new(cfg: SourceConfig, cancel: CancelFlag) -> Result<Session, ClientError> {
        let secrets = cfg.secrets();
        let root = validate_root(&cfg.url).map_err(|e| e.masked(&secrets))?;
        if let Some(t) = &cfg.token {
            if HeaderValue::from_str(t).is_err() {
                return Err(ClientError::Auth {
                    url: root.clone(),
                    status: None,
                    reason: "the export token contains characters an HTTP header cannot carry".into(),
                });
            }
        }
        check_transport(&cfg, &root)?;
        let mut builder = Client::builder();
        if let Some(path) = &cfg.ca_file {
            for cert in load_ca_file(path, &root).map_err(|e| e.masked(&secrets))? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.read_timeout)
            .user_agent(cfg.user_agent.clone())
            .build()
            .map_err(|e| {
                ClientError::Protocol {
                    url: root.clone(),
                    page: None,
                    reason: format!("cannot build the HTTP client: {}", describe(e)),
                }
                .masked(&secrets)
            })?;
        Ok(Session {
            policy: RetryPolicy::from_config(&cfg),
            root,
            client,
            cancel,
            jitter: Jitter::from_clock(),
            secrets,
            stats: SessionStats::default(),
            logged_in: false,
            module_path: None,
            deadline: cfg.max_run_time.map(|d| Instant::now() + d),
            cfg,
        })
    }

    pub fn config(&self) -> &SourceConfig {
        &self.cfg
    }

    /// The GeoNature root, normalised (no trailing slash).
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The export API URL of `export_id` (module path as discovered so far, else `exports`).
    pub fn export_url(&self, export_id: i64) -> String {
        format!(
            "{}/api/{}/api/{}",
            self.root,
            self.module_path.as_deref().unwrap_or("exports"),
            export_id
        )
    }

    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    pub fn cancel_flag(&self) -> &CancelFlag {
        &self.cancel
    }

    // ----- the request loop ----------------------------------------------------------------

    /// Time left before `max_run_time` runs out (`None` = no limit).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// `Err(RunTimeExceeded)` once `max_run_time` has run out.
    pub fn check_deadline(&self, url: &str, page: Option<u64>) -> Result<(), ClientError> {
        match (self.remaining(), self.cfg.max_run_time) {
            (Some(left), Some(limit)) if left.is_zero() => Err(ClientError::RunTimeExceeded {
                url: redact_url(url),
                page,
                limit,
            }),
            _ => Ok(()),
        }
    }

    fn check_run_time(&self, c: &Call) -> Result<(), ClientError> {
        self.check_deadline(&c.shown, c.page)
    }

    fn run_time_exceeded(&self, c: &Call) -> ClientError {
        ClientError::RunTimeExceeded {
            url: c.shown.clone(),
            page: c.page,
            limit: self.cfg.max_run_time.unwrap_or_default(),
        }
    }

    /// The timeout of one attempt: `read_timeout`, shortened to the run time left.
    fn attempt_timeout(&self) -> Duration {
        match self.remaining() {
            Some(left) => self.cfg.read_timeout.min(left.max(Duration::from_millis(1))),
            None => self.cfg.read_timeout,
        }
    }

    fn send_once(&mut self, c: &Call) -> Result<Raw, ClientError> {
        let mut rb = self
            .client
            .request(c.method.clone(), &c.url)
            // A per-request timeout is also the async layer's total deadline, body included.
            .timeout(self.attempt_timeout())
            .header(ACCEPT, c.accept.as_str());
        if let Some(k) = &c.api_key {
            rb = rb.header("api-key", k.clone());
        }
        if let Some((name, value)) = &c.extra_header {
            rb = rb.header(name.clone(), value.clone());
        }
        if let Some(b) = &c.body {
            rb = rb.header(CONTENT_TYPE, "application/json").body(b.clone());
        }
        let transport = |e: reqwest::Error, cfg: &SourceConfig| {
            if e.is_timeout() {
                ClientError::Timeout {
                    url: c.shown.clone(),
                    page: c.page,
                    attempts: 1,
                    timeout: if e.is_connect() {
                        cfg.connect_timeout
                    } else {
                        cfg.read_timeout
                    },
                }
            } else {
                ClientError::Connect {
                    url: c.shown.clone(),
                    page: c.page,
                    attempts: 1,
                    reason: describe(e),
                }
            }
        };
        let resp = rb.send().map_err(|e| transport(e, &self.cfg))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        if let Some(d) = headers
            .get(DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
        {
            self.stats.server_date = Some(d.with_timezone(&Utc));
        }
        let limit = self.cfg.max_reply_bytes;
        let too_large = |announced: Option<u64>| ClientError::ReplyTooLarge {
            url: c.shown.clone(),
            page: c.page,
            limit,
            announced,
        };
        let announced = resp.content_length();
        if announced.is_some_and(|n| n > limit) {
            return Err(too_large(announced));
        }
        let mut body = Vec::with_capacity(announced.unwrap_or(0).min(limit).min(16 << 20) as usize);
        let read = resp.take(limit.saturating_add(1)).read_to_end(&mut body);
        self.stats.bytes += body.len() as u64;
        if let Err(e) = read {
            let timed_out = e.kind() == std::io::ErrorKind::TimedOut
                || e.get_ref()
                    .and_then(|r| r.downcast_ref::<reqwest::Error>())
                    .is_some_and(reqwest::Error::is_timeout);
            return Err(if timed_out {
                ClientError::Timeout {
                    url: c.shown.clone(),
                    page: c.page,
                    attempts: 1,
                    timeout: self.cfg.read_timeout,
                }
            } else {
                ClientError::MalformedBody {
                    url: c.shown.clone(),
                    page: c.page,
                    attempts: 1,
                    reason: format!("reading the reply body failed: {e}"),
                }
            });
        }
        if body.len() as u64 > limit {
            return Err(too_large(announced));
        }
        Ok(Raw { status, headers, body })
    }

    fn call<T>(&mut self, c: &Call, mut interpret: impl FnMut(&Raw) -> Result<T, Verdict>) -> Result<T, ClientError> {
        let mut retries = 0u32;
        let mut relogged = false;
        loop {
            self.cancel.check()?;
            self.check_run_time(c)?;
            self.stats.requests += 1;
            let verdict = match self.send_once(c) {
                Err(e @ ClientError::ReplyTooLarge { .. }) => Verdict::Fatal(e),
                Err(e) => {
                    // A transport failure caused by the run-time limit is reported as such.
                    self.check_run_time(c)?;
                    Verdict::Retry(e, None)
                }
                Ok(raw) => match interpret(&raw) {
                    Ok(v) => return Ok(v),
                    Err(v) => v,
                },
            };
            match verdict {
                Verdict::Fatal(e) => return Err(e.masked(&self.secrets)),
                Verdict::NotLoggedIn(e) => {
                    if c.relogin && self.cfg.has_credentials() && !relogged {
                        relogged = true;
                        self.logged_in = false;
                        self.login()?;
                        continue;
                    }
                    return Err(e.masked(&self.secrets));
                }
                Verdict::Retry(mut e, retry_after) => {
                    e.set_attempts(retries + 1);
                    if !self.policy.allows(retries + 1) {
                        return Err(e.masked(&self.secrets));
                    }
                    retries += 1;
                    self.stats.retries += 1;
                    let d = self.policy.delay(retries, retry_after, self.jitter.fraction());
                    let (d, cut) = match self.remaining() {
                        Some(left) if left < d => (left, true),
                        _ => (d, false),
                    };
                    sleep_cancellable(d, &self.cancel)?;
                    if cut {
                        return Err(self.run_time_exceeded(c));
                    }
                }
            }
        }
    }

    /// The generic reading of a status: `None` for 2xx.
    fn classify(c: &Call, raw: &Raw) -> Option<Verdict> {
        let status = raw.status;
        if (200..300).contains(&status) {
            return None;
        }
        let http = |body: String| ClientError::Http {
            status,
            url: c.shown.clone(),
            page: c.page,
            attempts: 1,
            body,
        };
        if status == 401 {
            return Some(Verdict::NotLoggedIn(ClientError::Auth {
                url: c.shown.clone(),
                status: Some(401),
                reason: format!("not logged in (HTTP 401): {}", raw.server_text()),
            }));
        }
        if (300..400).contains(&status) {
            let location = raw.header(LOCATION).unwrap_or("");
            if location.contains("login") {
                return Some(Verdict::NotLoggedIn(ClientError::Auth {
                    url: c.shown.clone(),
                    status: Some(status),
                    reason: format!("redirected to the login page ({})", redact_url(location)),
                }));
            }
            return Some(Verdict::Fatal(http(format!("redirect to {}", redact_url(location)))));
        }
        if is_retryable_status(status) {
            let now = raw
                .header(DATE)
                .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
                .map_or_else(Utc::now, |d| d.with_timezone(&Utc));
            let retry_after = raw.header(RETRY_AFTER).and_then(|v| parse_retry_after(v, now));
            return Some(Verdict::Retry(http(raw.server_text()), retry_after));
        }
        Some(Verdict::Fatal(http(raw.server_text())))
    }

    fn json_call(&self, shown: String, url: String, page: Option<u64>) -> Call {
        Call {
            method: Method::GET,
            url,
            shown,
            body: None,
            api_key: None,
            extra_header: None,
            accept: "application/json".into(),
            page,
            relogin: true,
        }
    }

    // ----- login and discovery ---------------------------------------------------------------

    /// `POST /api/auth/login`; the session cookies then authenticate every request.
    pub fn login(&mut self) -> Result<(), ClientError> {
        let shown = format!("{}/api/auth/login", self.root);
        let (Some(login), Some(password)) = (self.cfg.login.clone(), self.cfg.password.clone()) else {
            return Err(ClientError::Auth {
                url: shown,
                status: None,
                reason: "no login and password configured".into(),
            });
        };
        let body = serde_json::to_vec(&LoginRequest {
            login,
            password,
            id_application: None,
        })
        .map_err(|e| ClientError::Protocol {
            url: shown.clone(),
            page: None,
            reason: e.to_string(),
        })?;
        let c = Call {
            method: Method::POST,
            url: shown.clone(),
            shown,
            body: Some(body),
            api_key: None,
            extra_header: None,
            accept: "application/json".into(),
            page: None,
            relogin: false,
        };
        self.call(&c, |raw| match raw.status {
            400 | 401 | 403 => Err(Verdict::Fatal(ClientError::Auth {
                url: c.shown.clone(),
                status: Some(raw.status),
                reason: format!("login refused (HTTP {}): {}", raw.status, raw.server_text()),
            })),
            _ => match Self::classify(&c, raw) {
                Some(v) => Err(v),
                None => Ok(()),
            },
        })?;
        self.stats.logins += 1;
        self.logged_in = true;
        Ok(())
    }

    fn ensure_login(&mut self) -> Result<(), ClientError> {
        if self.cfg.has_credentials() && !self.logged_in {
            self.login()?;
        }
        Ok(())
    }

    /// The EXPORTS module path: the override, else discovered from `/api/gn_commons/modules`
    /// when logged in, else `exports`. Logs in first when credentials are configured.
    pub fn module_path(&mut self) -> Result<String, ClientError> {
        if let Some(p) = &self.module_path {
            return Ok(p.clone());
        }
        self.ensure_login()?;
        let path = if let Some(p) = &self.cfg.module_path {
            p.trim_matches('/').to_string()
        } else if self.cfg.has_credentials() {
            let shown = format!("{}/api/gn_commons/modules", self.root);
            let c = self.json_call(shown.clone(), shown, None);
            let modules = self.call(&c, |raw| {
                if let Some(v) = Self::classify(&c, raw) {
                    return Err(v);
                }
                match serde_json::from_slice::<Value>(&raw.body) {
                    Ok(v @ Value::Array(_)) => Ok(v),
                    Ok(_) => Err(Verdict::Fatal(ClientError::Protocol {
                        url: c.shown.clone(),
                        page: None,
                        reason: "the module list is not a JSON array".into(),
                    })),
                    Err(e) => Err(Verdict::Retry(
                        ClientError::MalformedBody {
                            url: c.shown.clone(),
                            page: None,
                            attempts: 1,
                            reason: format!("the module list is not JSON: {e}"),
                        },
                        None,
                    )),
                }
            })?;
            export_module_path(&modules).ok_or_else(|| ClientError::NoExportsModule {
                url: c.shown.clone(),
                login: self.cfg.login.clone(),
            })?
        } else {
            "exports".to_string()
        };
        self.module_path = Some(path.clone());
        Ok(path)
    }

    // ----- export pages ----------------------------------------------------------------------

    /// `GET {root}/api/{module_path}/api/{export_id}?{query}`, with the `api-key` header when a
    /// token is given. `page` is only used in error reports.
    pub fn export_page(
        &mut self,
        export_id: i64,
        token: Option<&str>,
        query: &str,
        page: Option<u64>,
    ) -> Result<FetchedPage, ClientError> {
        let module = self.module_path()?;
        let shown = format!("{}/api/{}/api/{}", self.root, module, export_id);
        let url = if query.is_empty() {
            shown.clone()
        } else {
            format!("{shown}?{query}")
        };
        let api_key = match token {
            Some(t) => Some(HeaderValue::from_str(t).map_err(|_| ClientError::Auth {
                url: shown.clone(),
                status: None,
                reason: "the export token contains characters an HTTP header cannot carry".into(),
            })?),
            None => None,
        };
        let with_token = api_key.is_some();
        let with_login = self.cfg.has_credentials();
        let mut c = self.json_call(shown, url, page);
        c.api_key = api_key;
        // With a token the server decides on the token alone: a new login would not help.
        c.relogin = !with_token;
        self.call(&c, |raw| {
            match raw.status {
                403 => {
                    let e = ClientError::Forbidden {
                        url: c.shown.clone(),
                        export_id,
                        with_token,
                        with_login,
                    };
                    // An expired session looks like a refusal on the export API.
                    return Err(if !with_token && with_login {
                        Verdict::NotLoggedIn(e)
                    } else {
                        Verdict::Fatal(e)
                    });
                }
                404 => {
                    return Err(Verdict::Fatal(ClientError::ExportNotFound {
                        url: c.shown.clone(),
                        export_id,
                    }))
                }
                _ => {}
            }
            if let Some(v) = Self::classify(&c, raw) {
                return Err(v);
            }
            match ExportPage::from_slice(&raw.body) {
                Ok(p) => Ok(FetchedPage {
                    page: p,
                    bytes: raw.body.len() as u64,
                }),
                Err(PageError::NotJson(reason)) => Err(Verdict::Retry(
                    if raw.looks_like_html() {
                        ClientError::NotAnExport {
                            url: c.shown.clone(),
                            page,
                            reason: format!("an HTML page: {}", excerpt(&raw.body, 120)),
                        }
                    } else {
                        ClientError::MalformedBody {
                            url: c.shown.clone(),
                            page,
                            attempts: 1,
                            reason,
                        }
                    },
                    None,
                )),
                Err(PageError::NotAnExportPage(reason)) => Err(Verdict::Fatal(ClientError::NotAnExport {
                    url: c.shown.clone(),
                    page,
                    reason,
                })),
            }
        })
    }

    // ----- other kinds of sources (WFS, OGC API, JSON APIs, GBIF) ------------------------------

    /// `GET url` for a feed page: the generic retries, backoff, `Retry-After`, cancellation,
    /// deadline and reply cap. `header`: (name, value) carrying the source's API key, when it
    /// has one. `shown`: the URL as errors show it (without the query string: it may be long).
    /// Returns the reply body.
    pub fn fetch(
        &mut self,
        url: &str,
        accept: &str,
        header: Option<(&str, &str)>,
        page: Option<u64>,
    ) -> Result<Vec<u8>, ClientError> {
        let shown = redact_url(url.split('?').next().unwrap_or(url));
        let mut c = self.json_call(shown, url.to_string(), page);
        c.relogin = false;
        c.accept = accept.to_string();
        if let Some((name, value)) = header {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| ClientError::Auth {
                url: c.shown.clone(),
                status: None,
                reason: format!("\"{name}\" is not a valid HTTP header name"),
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| ClientError::Auth {
                url: c.shown.clone(),
                status: None,
                reason: "the API key contains characters an HTTP header cannot carry".into(),
            })?;
            c.extra_header = Some((name, value));
        }
        self.call(&c, |raw| {
            if let Some(v) = Self::classify(&c, raw) {
                // (a 401 here is a refused key: logging in again is not how these sources work)
                return Err(match v {
                    Verdict::NotLoggedIn(e) => Verdict::Fatal(e),
                    v => v,
                });
            }
            Ok(raw.body.clone())
        })
    }

    // ----- synthese log ----------------------------------------------------------------------

    /// One page of `GET {root}/api/synthese/log` (needs a login).
    pub fn log_page(&mut self, q: &LogQuery) -> Result<LogPage, ClientError> {
        let shown = format!("{}/api/synthese/log", self.root);
        if !self.cfg.has_credentials() {
            return Err(ClientError::Auth {
                url: shown,
                status: None,
                reason: "the synthese log needs a login and password".into(),
            });
        }
        self.ensure_login()?;
        let url = format!("{shown}?{}", q.to_query_string());
        let c = self.json_call(shown, url, Some(q.page));
        self.call(&c, |raw| {
            if let Some(v) = Self::classify(&c, raw) {
                return Err(v);
            }
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&raw.body) {
                return Err(Verdict::Retry(
                    ClientError::MalformedBody {
                        url: c.shown.clone(),
                        page: c.page,
                        attempts: 1,
                        reason: format!("the synthese log reply is not JSON: {e}"),
                    },
                    None,
                ));
            }
            LogPage::from_slice(&raw.body).map_err(|reason| {
                Verdict::Fatal(ClientError::Protocol {
                    url: c.shown.clone(),
                    page: c.page,
                    reason,
                })
            })
        })
    }

    /// Ids deleted since `since` (inclusive), from the instance-wide synthese log: pages
    /// `page=1..` of `meta_last_action_date=gte:<since>&last_action=D`, until
    /// page × limit ≥ total or an empty page. Sorted, without duplicates.
    pub fn fetch_deletions(&mut self, since: NaiveDateTime) -> Result<Vec<i64>, ClientError> {
        let mut ids = Vec::new();
        let mut page = 1u64;
        loop {
            let q = LogQuery {
                dates: vec![DateCondition {
                    op: CmpOp::Gte,
                    at: since,
                }],
                last_action: Some("D".into()),
                limit: LOG_PAGE_SIZE,
                page,
                ..LogQuery::default()
            };
            let p = self.log_page(&q)?;
            if p.items.is_empty() {
                break;
            }
            ids.extend(p.items.iter().filter(|e| e.last_action == "D").map(|e| e.id_synthese));
            let limit = if p.limit > 0 { p.limit } else { LOG_PAGE_SIZE };
            if page.saturating_mul(limit) >= p.total {
                break;
            }
            page += 1;
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Call {
        Call {
            method: Method::GET,
            url: "http://h/geonature/api/synthese/log?page=1".into(),
            shown: "http://h/geonature/api/synthese/log".into(),
            body: None,
            api_key: None,
            extra_header: None,
            accept: "application/json".into(),
            page: Some(1),
            relogin: true,
        }
    }

    fn raw(status: u16, headers: &[(&'static str, &str)], body: &str) -> Raw {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        Raw {
            status,
            headers: h,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn statuses_are_classified() {
        let c = call();
        assert!(Session::classify(&c, &raw(200, &[], "{}")).is_none());
        let login_redirect = raw(
            302,
            &[("location", "http://h/geonature/#/login?next=%2Fgeonature%2Fapi")],
            "",
        );
        assert!(matches!(
            Session::classify(&c, &login_redirect),
            Some(Verdict::NotLoggedIn(ClientError::Auth { status: Some(302), .. }))
        ));
        assert!(matches!(
            Session::classify(&c, &raw(401, &[], r#"{"code": 401}"#)),
            Some(Verdict::NotLoggedIn(_))
        ));
        match Session::classify(&c, &raw(301, &[("location", "https://u:p@h/geonature/api?x=1")], "")) {
            Some(Verdict::Fatal(ClientError::Http { status: 301, body, .. })) => {
                assert_eq!(body, "redirect to https://h/geonature/api")
            }
            _ => panic!("a redirect elsewhere is reported"),
        }
        match Session::classify(
            &c,
            &raw(
                503,
                &[
                    ("retry-after", "Wed, 21 Oct 2015 07:28:30 GMT"),
                    ("date", "Wed, 21 Oct 2015 07:28:00 GMT"),
                ],
                r#"{"code": 503, "description": "down for maintenance"}"#,
            ),
        ) {
            Some(Verdict::Retry(ClientError::Http { status: 503, body, .. }, ra)) => {
                assert_eq!(ra, Some(Duration::from_secs(30)), "relative to the server's Date");
                assert_eq!(body, "down for maintenance");
            }
            _ => panic!("503 is retried"),
        }
        assert!(matches!(
            Session::classify(&c, &raw(400, &[], "bad")),
            Some(Verdict::Fatal(ClientError::Http { status: 400, .. }))
        ));
        assert!(raw(200, &[("content-type", "text/html")], "x").looks_like_html());
        assert!(raw(200, &[], "  <html>").looks_like_html());
        assert!(!raw(200, &[], "{\"items\"").looks_like_html());
    }

    #[test]
    fn roots_are_validated() {
        assert_eq!(
            validate_root(" https://Example.org/geonature/ ").unwrap(),
            "https://example.org/geonature"
        );
        assert_eq!(validate_root("http://127.0.0.1:8790").unwrap(), "http://127.0.0.1:8790");
        for bad in [
            "ftp://h/geonature",
            "geonature.example.org",
            "http://u:pw@h/geonature",
            "http://h/geonature?x=1",
            "http://h/geonature#/login",
            "",
        ] {
            let e = validate_root(bad).unwrap_err();
            assert!(matches!(e, ClientError::InvalidUrl { .. }), "{bad}");
            assert!(!e.to_string().contains("pw"), "{e}");
        }
    }
    /// A self-signed test CA (EC P-256), to check that a valid PEM file is accepted.
    const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBijCCATGgAwIBAgIUW1ZMzhdd0klm5Y4e6Usf7NuQnxUwCgYIKoZIzj0EAwIw\nGjEYMBYGA1UEAwwPZ25fZmx1eCB0ZXN0IENBMCAXDTI2MTEyOTIwMDkwNFoYDzIx\nMjYxMTA1MjAwOTA0WjAaMRgwFgYDVQQDDA9nbl9mbHV4IHRlc3QgQ0EwWTATBgcq\nhkjOPQIBBggqhkjOPQMBBwNCAATMreuCPSIhTmu8nQdKeh69ztPfYLtJUfSbRiNE\nwn+CdzrNdWwmiAzqzjgTswBdo6gfUDcOskIzXeVPyX0eFk69o1MwUTAdBgNVHQ4E\nFgQU2qLUfWwDp9NEntw0RcVEDhp7rnUwHwYDVR0jBBgwFoAU2qLUfWwDp9NEntw0\nRcVEDhp7rnUwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiB1GrQ3\npaF/p5JFyTujWm2PYztmFDIOXVvJ1kP44dU89gIgFEVgu6dv0NuoFIt98JdEORxd\nNQoUGlDCiSbGAaOs0wQ=\n-----END CERTIFICATE-----\n";

    fn cfg(url: &str) -> SourceConfig {
        SourceConfig {
            url: url.into(),
            ..SourceConfig::default()
        }
    }

    #[test]
    fn credentials_never_travel_over_plain_http_to_a_remote_host() {
        let with_token = |url: &str| SourceConfig {
            token: Some("tok-secret".into()),
            ..cfg(url)
        };
        let with_login = |url: &str| SourceConfig {
            login: Some("bob".into()),
            password: Some("pw-secret".into()),
            ..cfg(url)
        };
        for c in [
            with_token("http://geonature.example.org/geonature"),
            with_login("http://10.0.0.5:8000"),
        ] {
            let e = Session::new(c, CancelFlag::new()).unwrap_err();
            assert!(matches!(e, ClientError::InsecureTransport { .. }), "{e:?}");
            let all = format!("{e} {} {}", e.detail(), e.hint());
            assert!(all.contains("https") && all.contains("allow_insecure_http"), "{all}");
            assert!(!all.contains("secret"), "{all}");
        }
        // a login alone counts as a credential too
        let login_only = SourceConfig {
            login: Some("bob".into()),
            ..cfg("http://h.example.org")
        };
        assert!(Session::new(login_only, CancelFlag::new()).is_err());
        // allowed: https, loopback, the explicit opt-in, and public exports without secrets
        for ok in [
            with_token("https://geonature.example.org/geonature"),
            with_token("http://127.0.0.1:8790/geonature"),
            with_token("http://127.5.6.7"),
            with_login("http://localhost:8000/geonature"),
            with_login("http://LOCALHOST."),
            with_login("http://[::1]:8000"),
            SourceConfig {
                allow_insecure_http: true,
                ..with_token("http://geonature.example.org")
            },
            cfg("http://geonature.example.org/geonature"),
        ] {
            let url = ok.url.clone();
            assert!(Session::new(ok, CancelFlag::new()).is_ok(), "{url}");
        }
    }

    #[test]
    fn ca_file_errors_are_clear() {
        let dir = std::env::temp_dir().join(format!("gn_client_ca_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let with_ca = |p: &std::path::Path| SourceConfig {
            ca_file: Some(p.to_path_buf()),
            ..cfg("https://geonature.example.org")
        };
        let missing = dir.join("missing.pem");
        let e = Session::new(with_ca(&missing), CancelFlag::new()).unwrap_err();
        match &e {
            ClientError::CaFile { path, reason, .. } => {
                assert!(path.ends_with("missing.pem") && reason.contains("cannot read"), "{e:?}")
            }
            other => panic!("{other:?}"),
        }
        assert!(e.hint().contains("PEM"), "{}", e.hint());
        assert!(e.detail().contains("missing.pem"), "{}", e.detail());
        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, "not a certificate").unwrap();
        let e = Session::new(with_ca(&garbage), CancelFlag::new()).unwrap_err();
        assert!(
            matches!(&e, ClientError::CaFile { reason, .. } if reason.contains("no PEM certificate")),
            "{e:?}"
        );
        let broken = dir.join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nAAAA!!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = Session::new(with_ca(&broken), CancelFlag::new()).unwrap_err();
        assert!(matches!(e, ClientError::CaFile { .. }), "{e:?}");
        let good = dir.join("good.pem");
        std::fs::write(&good, TEST_CA_PEM).unwrap();
        assert_eq!(load_ca_file(&good, "https://h").unwrap().len(), 1);
        Session::new(with_ca(&good), CancelFlag::new()).expect("a valid CA file is accepted");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
