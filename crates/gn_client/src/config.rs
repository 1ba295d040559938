//! What a pull needs to know about one source, and the flag that stops it.

use std::time::Duration;

/// `data_type` of GN2PG's default export view shape (flat `ca_uuid`/`jdd_uuid` columns).
pub const DATA_TYPE_CD_NOMENCLATURE: &str = "synthese_with_cd_nomenclature";
/// `data_type` of GN2PG's export view shape with `ca_data`/`jdd_data` objects.
pub const DATA_TYPE_WITH_METADATA: &str = "synthese_with_metadata";

/// One GeoNature source, as the extension stores it.
///
/// Secrets (`password`, `token`) never appear in an error, a URL or the
/// `Debug` output.
#[derive(Clone)]
pub struct SourceConfig {
    /// GeoNature root, e.g. `http://127.0.0.1:8790/geonature`; the API is `url + "/api/..."`.
    pub url: String,
    pub export_id: i64,
    pub login: Option<String>,
    pub password: Option<String>,
    /// Export token, sent only as the `api-key` header of export API requests (never in a URL).
    pub token: Option<String>,
    /// `synthese_with_cd_nomenclature` (default), `synthese_with_metadata`, or a custom name.
    pub data_type: String,
    /// Extra export parameters; `limit`, `offset`, `orderby` and `token` given here are ignored.
    pub query_strings: Vec<(String, String)>,
    /// Requested `limit`; the server may cap it (the reply's `limit` is what counts).
    pub page_size: u64,
    /// A separate metadata export (GN2PG 1.10: one item per acquisition framework), requested
    /// with the same credentials (login session and/or `token`).
    pub metadata_export_id: Option<i64>,
    /// Override of the EXPORTS module path (skips module discovery).
    pub module_path: Option<String>,
    /// Retries of one request after its first attempt.
    pub max_retries: u32,
    /// Delay before retry n (n >= 1) = min(cap, base * 2^(n-1)) + jitter, the jitter uniform in
    /// [0, min(1 s, base)).
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub connect_timeout: Duration,
    /// Timeout of one attempt, from sending the request to the end of the reply body.
    pub read_timeout: Duration,
    pub user_agent: String,
    /// Passes of an offset (page-index) walk: a pass that saw the export change (its `total` or
    /// page 0's `total_filtered` moved, or new deletions were reported) is walked again from
    /// page 0, at most this many passes in all (at least 1). Keyset walks need one pass.
    pub max_walk_passes: u32,
    /// Largest reply body accepted (bytes); a larger one fails at once, not retried.
    pub max_reply_bytes: u64,
    /// Longest a session (a pull, a probe) may run, checked before each request and during
    /// backoff sleeps; `None` = no limit.
    pub max_run_time: Option<Duration>,
    /// Send credentials (login/password, token) over plain `http://` to a host that is not a
    /// loopback address. Off by default: use https, or allow it for a trusted network.
    pub allow_insecure_http: bool,
    /// A PEM file of extra trusted CA certificates (an internal certificate authority).
    pub ca_file: Option<std::path::PathBuf>,
    /// The source's name (feeds derive the uuids of items that have none from it).
    pub source_name: String,
    /// A source of another kind than a GeoNature export, with its checked options.
    pub feed: Option<crate::feed::FeedOptions>,
}

/// Default of [`SourceConfig::max_walk_passes`].
pub const DEFAULT_MAX_WALK_PASSES: u32 = 3;
/// Default of [`SourceConfig::max_reply_bytes`]: 64 MiB.
pub const DEFAULT_MAX_REPLY_BYTES: u64 = 64 << 20;

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            url: String::new(),
            export_id: 1,
            login: None,
            password: None,
            token: None,
            data_type: DATA_TYPE_CD_NOMENCLATURE.to_string(),
            query_strings: Vec::new(),
            page_size: gn_protocol::DEFAULT_PAGE_SIZE,
            metadata_export_id: None,
            module_path: None,
            max_retries: 5,
            backoff_base: Duration::from_secs(5),
            backoff_cap: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(120),
            user_agent: format!("gn_flux/{} (gn_client)", env!("CARGO_PKG_VERSION")),
            max_walk_passes: DEFAULT_MAX_WALK_PASSES,
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
            max_run_time: None,
            allow_insecure_http: false,
            ca_file: None,
            source_name: String::new(),
            feed: None,
        }
    }
}

impl std::fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked = |o: &Option<String>| o.as_ref().map(|_| "***");
        f.debug_struct("SourceConfig")
            .field("url", &crate::error::redact_url(&self.url))
            .field("export_id", &self.export_id)
            .field("login", &self.login)
            .field("password", &masked(&self.password))
            .field("token", &masked(&self.token))
            .field("data_type", &self.data_type)
            .field("query_strings", &self.query_strings)
            .field("page_size", &self.page_size)
            .field("metadata_export_id", &self.metadata_export_id)
            .field("module_path", &self.module_path)
            .field("max_retries", &self.max_retries)
            .field("backoff_base", &self.backoff_base)
            .field("backoff_cap", &self.backoff_cap)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("user_agent", &self.user_agent)
            .field("max_walk_passes", &self.max_walk_passes)
            .field("max_reply_bytes", &self.max_reply_bytes)
            .field("max_run_time", &self.max_run_time)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("ca_file", &self.ca_file)
            .field("source_name", &self.source_name)
            .field("feed", &self.feed)
            .finish()
    }
}

impl SourceConfig {
    /// Whether both a login and a password are configured.
    pub fn has_credentials(&self) -> bool {
        self.login.is_some() && self.password.is_some()
    }

    /// Whether anything secret (a login, a password or a token) would be sent to the server.
    pub fn sends_secrets(&self) -> bool {
        self.login.is_some() || self.password.is_some() || self.token.is_some()
    }

    /// The secrets to mask in any text that leaves the client (non-empty ones only).
    pub(crate) fn secrets(&self) -> Vec<String> {
        [&self.password, &self.token]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect()
    }
}
