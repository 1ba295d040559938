//! A source as the extension stores it (one row of `gn_flux.source`, read as JSON), its
//! validation, and the client configuration it gives. This is the one home of a source option:
//! its default is in the table, its checks and its meaning for the client are here, and both the
//! validation trigger and the pull read the row through [`SourceDefinition::from_row_json`].
//!
//! Pure Rust (the secret files are read with `std::fs`), covered by `cargo test`.

use crate::config::SourceConfig;
use crate::error::redact_url;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// GN2PG data types gn_flux knows how to store.
pub const DATA_TYPES: [&str; 4] = [
    "synthese_with_cd_nomenclature",
    "synthese_with_label",
    "synthese_with_metadata",
    "synthese_with_metadata_separated",
];

pub const PAGE_SIZE_MAX: i64 = 10_000;
pub const MAX_RETRIES_MAX: i64 = 20;
/// A secret file larger than this is not a password or a token.
pub const SECRET_FILE_MAX_BYTES: u64 = 64 * 1024;

/// A bad source definition: what is wrong, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DefinitionError {
    pub message: String,
    pub hint: String,
}

fn invalid(message: impl Into<String>, hint: impl Into<String>) -> DefinitionError {
    DefinitionError {
        message: message.into(),
        hint: hint.into(),
    }
}

/// One row of `gn_flux.source` (`to_jsonb(row)`, with `update_overlap` in seconds). Unknown keys
/// (e.g. `created_at`) are ignored; missing ones are an error, except the nullable options.
#[derive(Clone, Deserialize)]
pub struct SourceDefinition {
    pub name: Option<String>,
    pub url: Option<String>,
    pub export_id: Option<i64>,
    pub login: Option<String>,
    pub password: Option<String>,
    /// A file name inside `gn_flux.secrets_directory` holding the password.
    pub password_file: Option<String>,
    pub token: Option<String>,
    /// A file name inside `gn_flux.secrets_directory` holding the export token.
    pub token_file: Option<String>,
    pub data_type: Option<String>,
    pub query_strings: Option<serde_json::Value>,
    pub page_size: Option<i64>,
    pub metadata_export_id: Option<i64>,
    pub enabled: Option<bool>,
    pub max_retries: Option<i64>,
    pub retry_backoff_ms: Option<i64>,
    pub connect_timeout_ms: Option<i64>,
    pub read_timeout_ms: Option<i64>,
    pub module_path: Option<String>,
    /// Seconds.
    pub update_overlap: Option<f64>,
    pub paging: Option<String>,
    #[serde(default)]
    pub allow_insecure_http: Option<bool>,
    /// `timestamp without time zone` as PostgreSQL writes it in JSON.
    pub watermark: Option<String>,
    /// `geonature` (an export of the Export module), `wfs`, `ogcapi`, `json` or `gbif`.
    #[serde(default)]
    pub kind: Option<String>,
    /// The options of the other kinds ([`crate::feed::FeedOptions`]).
    #[serde(default)]
    pub options: Option<serde_json::Value>,
}

impl std::fmt::Debug for SourceDefinition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked = |o: &Option<String>| o.as_ref().map(|_| "***");
        f.debug_struct("SourceDefinition")
            .field("name", &self.name)
            .field("url", &self.url.as_deref().map(redact_url))
            .field("export_id", &self.export_id)
            .field("login", &self.login)
            .field("password", &masked(&self.password))
            .field("password_file", &self.password_file)
            .field("token", &masked(&self.token))
            .field("token_file", &self.token_file)
            .finish_non_exhaustive()
    }
}

/// What the server's settings add to a source's configuration.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// `gn_flux.secrets_directory`.
    pub secrets_directory: Option<PathBuf>,
    pub user_agent: String,
}

fn required<T: Clone>(what: &str, v: &Option<T>) -> Result<T, DefinitionError> {
    v.clone()
        .ok_or_else(|| invalid(format!("{what} must not be NULL"), format!("Give a {what}.")))
}

impl SourceDefinition {
    /// Parses a row given as JSON.
    pub fn from_row_json(json: &str) -> Result<SourceDefinition, DefinitionError> {
        serde_json::from_str(json).map_err(|e| {
            invalid(
                format!("cannot read the source definition: {e}"),
                "Report this as a gn_flux bug.",
            )
        })
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    pub fn has_login(&self) -> bool {
        self.login.is_some() && (self.password.is_some() || self.password_file.is_some())
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }

    pub fn paging(&self) -> &str {
        self.paging.as_deref().unwrap_or("keyset")
    }

    pub fn data_type(&self) -> &str {
        self.data_type.as_deref().unwrap_or_default()
    }

    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("geonature")
    }

    pub fn is_geonature(&self) -> bool {
        self.kind() == "geonature"
    }

    /// The checked options of a source of another kind (`None` for a GeoNature export).
    pub fn feed_options(&self) -> Result<Option<crate::feed::FeedOptions>, DefinitionError> {
        if self.is_geonature() {
            return Ok(None);
        }
        crate::feed::FeedOptions::parse(self.kind(), self.options.as_ref().unwrap_or(&serde_json::Value::Null))
            .map(Some)
    }

    pub fn update_overlap_seconds(&self) -> f64 {
        self.update_overlap.unwrap_or(600.0)
    }

    /// The secrets written in the row itself (not those in files), to mask in any text.
    pub fn inline_secrets(&self) -> Vec<&str> {
        [self.password.as_deref(), self.token.as_deref()]
            .into_iter()
            .flatten()
            .collect()
    }

    /// Checks every option; returns the normalised url (no trailing slash).
    pub fn validate(&self) -> Result<String, DefinitionError> {
        check_name(&required("name", &self.name)?)?;
        let kind = self.kind();
        // (an intake receives: it has no url)
        let url = match (kind, &self.url) {
            ("post", None) => String::new(),
            ("post", Some(_)) => return Err(invalid(
                "an intake (kind post) has no url",
                "Leave url NULL: observations are posted to the API workers at <api root>/api/gn_flux/intake/<name>.",
            )),
            _ => check_url(&required("url", &self.url)?)?,
        };
        if !crate::feed::KINDS.contains(&kind) {
            return Err(invalid(
                format!("unknown kind \"{kind}\""),
                format!("Use one of: {}.", crate::feed::KINDS.join(", ")),
            ));
        }
        if self.is_geonature() {
            check_range("export_id", required("export_id", &self.export_id)?, 1, i32::MAX as i64)?;
            if self
                .options
                .as_ref()
                .is_some_and(|o| o.as_object().is_some_and(|o| !o.is_empty()))
            {
                return Err(invalid(
                    "options apply to sources of other kinds than geonature",
                    "A GeoNature export is configured by its columns (export_id, data_type, query_strings…).",
                ));
            }
        } else {
            self.feed_options()?;
            for (what, given) in [
                ("export_id", self.export_id.is_some()),
                ("metadata_export_id", self.metadata_export_id.is_some()),
                ("module_path", self.module_path.is_some()),
                ("login", self.login.is_some()),
            ] {
                if given {
                    return Err(invalid(
                        format!("{what} applies to geonature sources only (this one is of kind {kind})"),
                        "Leave it NULL; an API key goes in token_file (or token) with options.api_key_header.",
                    ));
                }
            }
            if kind == "gbif" && self.page_size.is_some_and(|p| p > crate::feed::GBIF_PAGE_MAX as i64) {
                return Err(invalid(
                    format!(
                        "page_size {} is above GBIF's limit of 300",
                        self.page_size.unwrap_or_default()
                    ),
                    "Give a page_size of at most 300.",
                ));
            }
        }
        check_credentials(self)?;
        let data_type = required("data_type", &self.data_type)?;
        if self.is_geonature() && !DATA_TYPES.contains(&data_type.as_str()) {
            return Err(invalid(
                format!("unknown data_type \"{data_type}\""),
                format!("Use one of: {}.", DATA_TYPES.join(", ")),
            ));
        }
        if data_type == "synthese_with_metadata_separated" && self.metadata_export_id.is_none() {
            return Err(invalid(
                "data_type synthese_with_metadata_separated needs a metadata_export_id",
                "Give the id of the export serving acquisition frameworks and datasets.",
            ));
        }
        check_query_strings(&required("query_strings", &self.query_strings)?)?;
        check_range("page_size", required("page_size", &self.page_size)?, 1, PAGE_SIZE_MAX)?;
        if let Some(m) = self.metadata_export_id {
            check_range("metadata_export_id", m, 1, i32::MAX as i64)?;
        }
        check_range(
            "max_retries",
            required("max_retries", &self.max_retries)?,
            0,
            MAX_RETRIES_MAX,
        )?;
        check_range(
            "retry_backoff_ms",
            required("retry_backoff_ms", &self.retry_backoff_ms)?,
            1,
            600_000,
        )?;
        for (what, v) in [
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("read_timeout_ms", self.read_timeout_ms),
        ] {
            if let Some(v) = v {
                check_range(what, v, 1, 3_600_000)?;
            }
        }
        check_module_path(self.module_path.as_deref())?;
        let overlap = required("update_overlap", &self.update_overlap)?;
        if !(0.0..=30.0 * 86_400.0).contains(&overlap) {
            return Err(invalid(
                format!("update_overlap must be between 0 and 30 days (got {overlap} s)"),
                "Give an interval such as '10 minutes'.",
            ));
        }
        let paging = required("paging", &self.paging)?;
        if !matches!(paging.as_str(), "keyset" | "offset") {
            return Err(invalid(
                format!("unknown paging \"{paging}\""),
                "Use keyset (default) or offset.",
            ));
        }
        Ok(url)
    }

    /// The client configuration of this source: the row's options, the server's settings, and
    /// the secrets read from their files.
    pub fn client_config(&self, settings: &ClientSettings) -> Result<SourceConfig, DefinitionError> {
        let url = self.validate()?;
        // A secret written in the row, else read from its file.
        let secret = |inline: &Option<String>, file: &Option<String>, what: &str| match (inline, file) {
            (Some(v), _) => Ok(Some(v.clone())),
            (None, Some(f)) => read_secret_file(settings.secrets_directory.as_deref(), f, what).map(Some),
            (None, None) => Ok(None),
        };
        let password = secret(&self.password, &self.password_file, "password_file")?;
        let token = secret(&self.token, &self.token_file, "token_file")?;
        let ms = |v: Option<i64>, default: Duration| v.map_or(default, |v| Duration::from_millis(v.max(1) as u64));
        let feed = self.feed_options()?;
        Ok(SourceConfig {
            url,
            export_id: self.export_id.unwrap_or(1),
            login: self.login.clone(),
            password,
            token,
            data_type: self.data_type().to_string(),
            query_strings: self
                .query_strings
                .as_ref()
                .map(check_query_strings)
                .transpose()?
                .unwrap_or_default(),
            page_size: self.page_size.unwrap_or(1000).max(1) as u64,
            metadata_export_id: self.metadata_export_id,
            module_path: self.module_path.clone(),
            max_retries: self.max_retries.unwrap_or(5).max(0) as u32,
            backoff_base: Duration::from_millis(self.retry_backoff_ms.unwrap_or(5000).max(1) as u64),
            backoff_cap: Duration::from_secs(120),
            connect_timeout: ms(self.connect_timeout_ms, settings.connect_timeout),
            read_timeout: ms(self.read_timeout_ms, settings.read_timeout),
            user_agent: settings.user_agent.clone(),
            allow_insecure_http: self.allow_insecure_http.unwrap_or(false),
            source_name: self.name().to_string(),
            feed,
            ..SourceConfig::default()
        })
    }
}

/// GN2PG's `simplify()`: lower case, accents stripped, spaces, `-` and `~` to `_`, other
/// punctuation removed. A valid source name is its own simplification.
pub fn simplify_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        let c = match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' | 'À' | 'Á' | 'Â' | 'Ä' | 'Ã' | 'Å' => 'a',
            'ç' | 'Ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'i',
            'ñ' | 'Ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'Ò' | 'Ó' | 'Ô' | 'Ö' | 'Õ' => 'o',
            'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'u',
            'ÿ' | 'ý' | 'Ý' => 'y',
            ' ' | '-' | '~' => '_',
            c => c,
        };
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        }
    }
    out
}

pub fn check_name(name: &str) -> Result<(), DefinitionError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        return Ok(());
    }
    let simple = simplify_name(name);
    let hint = if simple.is_empty() || simple.len() > 63 {
        "Use 1 to 63 lower-case letters, digits or underscores (GN2PG's simplified source name).".to_string()
    } else {
        format!("Use lower-case letters, digits and underscores only, e.g. '{simple}' (GN2PG's simplified form).")
    };
    Err(invalid(format!("invalid source name \"{name}\""), hint))
}

/// Checks a GeoNature root URL (http(s), a host, no userinfo, query or fragment) and returns it
/// without a trailing slash. The one URL check: the client's session uses it too.
pub fn check_url(raw: &str) -> Result<String, DefinitionError> {
    let hint = "Give the GeoNature root over http or https, e.g. 'https://geonature.example.org/geonature' (the API is under /api/).";
    let shown = redact_url(raw.trim());
    let parsed = url::Url::parse(raw.trim()).map_err(|e| invalid(format!("invalid url \"{shown}\": {e}"), hint))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(
            format!("invalid url \"{shown}\": scheme must be http or https"),
            hint,
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid(format!("invalid url \"{shown}\": no host"), hint));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(
            format!("invalid url \"{shown}\": credentials must not be part of the url"),
            "Pass them as login and password_file (or password): other roles cannot read them there.",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid(
            format!("invalid url \"{shown}\": no query string or fragment expected"),
            "Give the GeoNature root only; extra export parameters go in query_strings, the export token in token_file (or token).",
        ));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

pub fn check_range(what: &str, value: i64, min: i64, max: i64) -> Result<(), DefinitionError> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(invalid(
        format!("{what} must be between {min} and {max} (got {value})"),
        format!("Give a {what} between {min} and {max}."),
    ))
}

pub fn check_query_strings(qs: &serde_json::Value) -> Result<Vec<(String, String)>, DefinitionError> {
    let hint = "Give a JSON object of scalar values, e.g. '{\"orderby\": \"id_synthese\", \"cd_nom\": 61098}'.";
    let Some(obj) = qs.as_object() else {
        return Err(invalid("query_strings must be a JSON object", hint));
    };
    let mut out = Vec::new();
    for (k, v) in obj {
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => {
                return Err(invalid(
                    format!("query_strings.{k} must be a string, number or boolean"),
                    hint,
                ))
            }
        };
        if k == "token" {
            return Err(invalid(
                "query_strings must not carry the export token",
                "Pass it as token_file (or token): it is then sent in the api-key header and kept secret.",
            ));
        }
        out.push((k.clone(), text));
    }
    Ok(out)
}

fn check_credentials(d: &SourceDefinition) -> Result<(), DefinitionError> {
    let both =
        "Give login with password_file (recommended: the secret stays out of SQL text) or password, or none of them.";
    if d.password.is_some() && d.password_file.is_some() {
        return Err(invalid("give either password or password_file, not both", both));
    }
    if d.token.is_some() && d.token_file.is_some() {
        return Err(invalid(
            "give either token or token_file, not both",
            "token_file is recommended: the token stays out of SQL text.",
        ));
    }
    if d.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(invalid("token must not be empty", "Give the export token, or NULL."));
    }
    for (what, f) in [("password_file", &d.password_file), ("token_file", &d.token_file)] {
        if let Some(f) = f {
            check_secret_file_name(what, f)?;
        }
    }
    let has_password = d.password.is_some() || d.password_file.is_some();
    match (&d.login, has_password) {
        (Some(l), true) if l.trim().is_empty() => Err(invalid("login must not be empty", both)),
        (Some(_), false) => Err(invalid("login given without a password", both)),
        (None, true) => Err(invalid("password given without a login", both)),
        _ => Ok(()),
    }
}

/// A secret file is named by a plain file name, looked up in `gn_flux.secrets_directory`.
fn check_secret_file_name(what: &str, name: &str) -> Result<(), DefinitionError> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        return Ok(());
    }
    Err(invalid(
        // The value is not echoed: a secret typed here by mistake must not reach a message.
        format!("invalid {what}: give a file name, not a path"),
        "Name a file of the directory set in gn_flux.secrets_directory (letters, digits, '_', '-', '.'), e.g. 'parc_ecrins.password'.",
    ))
}

/// Reads a secret from `dir/name`: a regular file (not a link) of the server's OS user that no
/// other OS user may read (as libpq's .pgpass), at most 64 KiB; the trailing newline is dropped.
pub fn read_secret_file(dir: Option<&Path>, name: &str, what: &str) -> Result<String, DefinitionError> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    check_secret_file_name(what, name)?;
    let dir = dir.ok_or_else(|| {
        invalid(
            format!("{what} \"{name}\" is set but gn_flux.secrets_directory is not"),
            "A superuser sets it: ALTER SYSTEM SET gn_flux.secrets_directory = '/etc/postgresql/gn_flux_secrets'; SELECT pg_reload_conf();",
        )
    })?;
    let path = dir.join(name);
    let fix = format!(
        "Create it as the server's OS user: install -m 600 /dev/null {p} and write the secret into it (one line).",
        p = path.display()
    );
    // O_NOFOLLOW: a symbolic link planted in the directory is refused, not followed.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| invalid(format!("cannot read {what} \"{}\": {e}", path.display()), fix.clone()))?;
    let meta = file
        .metadata()
        .map_err(|e| invalid(format!("cannot read {what} \"{}\": {e}", path.display()), fix.clone()))?;
    if !meta.is_file() {
        return Err(invalid(
            format!("{what} \"{}\" is not a regular file", path.display()),
            fix,
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(invalid(
            format!(
                "{what} \"{}\" may be read by other OS users (mode {:o})",
                path.display(),
                meta.permissions().mode() & 0o777
            ),
            format!("chmod 600 {}", path.display()),
        ));
    }
    if meta.size() > SECRET_FILE_MAX_BYTES {
        return Err(invalid(
            format!("{what} \"{}\" is larger than 64 KiB", path.display()),
            "The file should hold the secret alone, on one line.",
        ));
    }
    let mut text = String::new();
    file.take(SECRET_FILE_MAX_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| invalid(format!("cannot read {what} \"{}\": {e}", path.display()), fix.clone()))?;
    let secret = text.trim_end_matches(['\n', '\r']).to_string();
    if secret.is_empty() {
        return Err(invalid(format!("{what} \"{}\" is empty", path.display()), fix));
    }
    Ok(secret)
}

pub fn check_module_path(path: Option<&str>) -> Result<(), DefinitionError> {
    match path {
        Some(p) if p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') => {
            Err(invalid(
                format!("invalid module_path \"{p}\""),
                "Give the Export module path as GeoNature lists it (usually exports), or NULL to discover it.",
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn row(extra: serde_json::Value) -> SourceDefinition {
        let mut base = serde_json::json!({
            "name": "parc", "url": "https://h.example.org/geonature/", "export_id": 1,
            "login": null, "password": null, "password_file": null, "token": null, "token_file": null,
            "data_type": "synthese_with_cd_nomenclature", "query_strings": {}, "page_size": 1000,
            "metadata_export_id": null, "enabled": true, "max_retries": 5, "retry_backoff_ms": 5000,
            "connect_timeout_ms": null, "read_timeout_ms": null, "module_path": null,
            "update_overlap": 600.0, "paging": "keyset", "allow_insecure_http": false,
            "watermark": null, "created_at": "2026-11-29T10:00:00+00:00"
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        SourceDefinition::from_row_json(&base.to_string()).unwrap()
    }

    fn settings(dir: Option<PathBuf>) -> ClientSettings {
        ClientSettings {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(120),
            secrets_directory: dir,
            user_agent: "t".into(),
        }
    }

    #[test]
    fn names_follow_gn2pg_simplify() {
        assert_eq!(simplify_name("Parc des Écrins - Faune"), "parc_des_ecrins___faune");
        assert!(check_name("source_demo").is_ok());
        assert!(check_name("Source Demo").is_err());
        assert!(check_name("").is_err());
    }

    #[test]
    fn urls() {
        assert_eq!(
            check_url("https://h.example.org/geonature/").unwrap(),
            "https://h.example.org/geonature"
        );
        assert!(check_url("ftp://h/x").is_err());
        assert!(check_url("not a url").is_err());
        assert!(check_url("https://u:p@h/geonature").is_err());
        assert!(check_url("https://h/geonature?token=x").is_err());
        let e = check_url("https://u:secret@h/x").unwrap_err().to_string();
        assert!(!e.contains("secret"), "{e}");
        let e = check_url("https://u:secret@h/x?y#z").unwrap_err().to_string();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn query_strings() {
        let q = check_query_strings(&serde_json::json!({"cd_nom": 61098, "orderby": "id_synthese"})).unwrap();
        assert_eq!(q.len(), 2);
        assert!(check_query_strings(&serde_json::json!([1])).is_err());
        assert!(check_query_strings(&serde_json::json!({"a": {"b": 1}})).is_err());
        assert!(check_query_strings(&serde_json::json!({"token": "x"})).is_err());
    }

    #[test]
    fn a_row_validates_and_gives_its_config() {
        let d = row(serde_json::json!({}));
        assert_eq!(d.validate().unwrap(), "https://h.example.org/geonature");
        let c = d.client_config(&settings(None)).unwrap();
        assert_eq!(
            (c.url.as_str(), c.page_size, c.max_retries),
            ("https://h.example.org/geonature", 1000, 5)
        );
        assert_eq!(c.read_timeout, Duration::from_secs(120));
        let d = row(serde_json::json!({"read_timeout_ms": 1500}));
        assert_eq!(
            d.client_config(&settings(None)).unwrap().read_timeout,
            Duration::from_millis(1500)
        );
    }

    #[test]
    fn every_option_is_checked() {
        for (bad, says) in [
            (serde_json::json!({"name": "Bad Name"}), "invalid source name"),
            (serde_json::json!({"url": null}), "url must not be NULL"),
            (serde_json::json!({"export_id": 0}), "export_id must be between"),
            (serde_json::json!({"login": "u"}), "login given without a password"),
            (serde_json::json!({"password": "p"}), "password given without a login"),
            (
                serde_json::json!({"login": "u", "password": "p", "password_file": "f"}),
                "not both",
            ),
            (serde_json::json!({"token": "t", "token_file": "f"}), "not both"),
            (serde_json::json!({"token": " "}), "token must not be empty"),
            (
                serde_json::json!({"login": "u", "password_file": "../etc/passwd"}),
                "not a path",
            ),
            (serde_json::json!({"token_file": "/etc/shadow"}), "not a path"),
            (serde_json::json!({"data_type": "x"}), "unknown data_type"),
            (
                serde_json::json!({"data_type": "synthese_with_metadata_separated"}),
                "needs a metadata_export_id",
            ),
            (serde_json::json!({"page_size": 0}), "page_size must be between"),
            (serde_json::json!({"max_retries": 21}), "max_retries must be between"),
            (
                serde_json::json!({"retry_backoff_ms": 0}),
                "retry_backoff_ms must be between",
            ),
            (
                serde_json::json!({"connect_timeout_ms": 0}),
                "connect_timeout_ms must be between",
            ),
            (serde_json::json!({"module_path": "a/b"}), "invalid module_path"),
            (
                serde_json::json!({"update_overlap": -1.0}),
                "update_overlap must be between",
            ),
            (serde_json::json!({"paging": "cursor"}), "unknown paging"),
            (
                serde_json::json!({"query_strings": {"token": "x"}}),
                "must not carry the export token",
            ),
        ] {
            let e = row(bad.clone()).validate().unwrap_err();
            assert!(e.message.contains(says), "{bad}: {e:?}");
            assert!(!e.hint.is_empty());
        }
        assert!(row(serde_json::json!({"login": "u", "password_file": "parc.password"}))
            .validate()
            .is_ok());
    }

    #[test]
    fn secrets_come_from_private_files_only() {
        let dir = std::env::temp_dir().join(format!("gn_client-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("parc.password");
        std::fs::write(&file, "s3cret-pw\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let d = row(serde_json::json!({"login": "u", "password_file": "parc.password"}));
        let c = d.client_config(&settings(Some(dir.clone()))).unwrap();
        assert_eq!(c.password.as_deref(), Some("s3cret-pw"));
        // no directory set
        let e = d.client_config(&settings(None)).unwrap_err();
        assert!(e.message.contains("gn_flux.secrets_directory is not"), "{e:?}");
        // readable by others
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = d.client_config(&settings(Some(dir.clone()))).unwrap_err();
        assert!(e.message.contains("may be read by other OS users"), "{e:?}");
        assert!(!e.message.contains("s3cret"), "{e:?}");
        // a symbolic link is not followed
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.join("link.password");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let d = row(serde_json::json!({"login": "u", "password_file": "link.password"}));
        assert!(d.client_config(&settings(Some(dir.clone()))).is_err());
        // missing, empty
        let d = row(serde_json::json!({"token_file": "none.token"}));
        assert!(d
            .client_config(&settings(Some(dir.clone())))
            .unwrap_err()
            .message
            .contains("cannot read token_file"));
        let empty = dir.join("empty.token");
        std::fs::write(&empty, "\n").unwrap();
        std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o600)).unwrap();
        let d = row(serde_json::json!({"token_file": "empty.token"}));
        assert!(d
            .client_config(&settings(Some(dir.clone())))
            .unwrap_err()
            .message
            .contains("is empty"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn debug_output_masks_secrets() {
        let d = row(serde_json::json!({"login": "u", "password": "hunter22", "token": "tok-123"}));
        let shown = format!("{d:?}");
        assert!(!shown.contains("hunter22") && !shown.contains("tok-123"), "{shown}");
    }
}
