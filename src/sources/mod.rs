//! Sources: registered remote GeoNature exports (table gn_flux.source). The SQL side
//! (add_source, drop_source, the validation trigger, pg_cron scheduling) is in
//! sql/schema/030_source_functions.sql; the checks and the probe are here.
use crate::error::{GnFluxError, Kind, OrRaise, Redactor};
use crate::gucs;
use pgrx::prelude::*;
use std::time::Duration;

pub mod validate;

/// A row of gn_flux.source, secrets included (never printed).
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub url: String,
    pub export_id: i32,
    pub login: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    pub data_type: String,
    pub query_strings: Vec<(String, String)>,
    pub page_size: i32,
    pub metadata_export_id: Option<i32>,
    pub enabled: bool,
    pub max_retries: i32,
    pub retry_backoff_ms: i32,
    pub connect_timeout_ms: Option<i32>,
    pub read_timeout_ms: Option<i32>,
    pub module_path: Option<String>,
    pub update_overlap_s: f64,
    pub paging: String,
    pub watermark: Option<String>,
}

impl Source {
    pub fn redactor(&self) -> Redactor {
        Redactor::new([self.password.as_deref(), self.token.as_deref()])
    }

    pub fn has_login(&self) -> bool {
        self.login.is_some() && self.password.is_some()
    }

    /// The HTTP client configuration of this source.
    pub fn client_config(&self) -> gn_client::SourceConfig {
        let connect = self
            .connect_timeout_ms
            .unwrap_or_else(|| gucs::HTTP_CONNECT_TIMEOUT_MS.get());
        let read = self.read_timeout_ms.unwrap_or_else(|| gucs::HTTP_TIMEOUT_MS.get());
        gn_client::SourceConfig {
            url: self.url.clone(),
            export_id: self.export_id as i64,
            login: self.login.clone(),
            password: self.password.clone(),
            token: self.token.clone(),
            data_type: self.data_type.clone(),
            query_strings: self.query_strings.clone(),
            page_size: self.page_size.max(1) as u64,
            metadata_export_id: self.metadata_export_id.map(i64::from),
            module_path: self.module_path.clone(),
            max_retries: self.max_retries.max(0) as u32,
            backoff_base: Duration::from_millis(self.retry_backoff_ms.max(1) as u64),
            backoff_cap: Duration::from_secs(120),
            connect_timeout: Duration::from_millis(connect.max(1) as u64),
            read_timeout: Duration::from_millis(read.max(1) as u64),
            user_agent: format!("gn_flux/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Loads a source by name; 42704 when it does not exist.
pub fn load(name: &str) -> Result<Source, GnFluxError> {
    let row = Spi::connect(|client| -> Result<Option<Source>, GnFluxError> {
        let mut rows = client.select(
            "SELECT name, url, export_id, login, password, token, data_type, query_strings::text, page_size,
                    metadata_export_id, enabled, max_retries, retry_backoff_ms, connect_timeout_ms, read_timeout_ms,
                    module_path, extract(epoch FROM update_overlap)::float8, paging,
                    to_char(watermark, 'YYYY-MM-DD HH24:MI:SS.US')
               FROM gn_flux.source WHERE name = $1",
            Some(1),
            &[name.into()],
        )?;
        let Some(r) = rows.next() else { return Ok(None) };
        let qs: String = r.get(8)?.unwrap_or_else(|| "{}".into());
        let qs_value: serde_json::Value = serde_json::from_str(&qs).unwrap_or(serde_json::Value::Null);
        Ok(Some(Source {
            name: r.get(1)?.unwrap_or_default(),
            url: r.get(2)?.unwrap_or_default(),
            export_id: r.get(3)?.unwrap_or_default(),
            login: r.get(4)?,
            password: r.get(5)?,
            token: r.get(6)?,
            data_type: r.get(7)?.unwrap_or_default(),
            query_strings: validate::check_query_strings(&qs_value).unwrap_or_default(),
            page_size: r.get(9)?.unwrap_or(1000),
            metadata_export_id: r.get(10)?,
            enabled: r.get(11)?.unwrap_or(true),
            max_retries: r.get(12)?.unwrap_or(5),
            retry_backoff_ms: r.get(13)?.unwrap_or(5000),
            connect_timeout_ms: r.get(14)?,
            read_timeout_ms: r.get(15)?,
            module_path: r.get(16)?,
            update_overlap_s: r.get(17)?.unwrap_or(600.0),
            paging: r.get(18)?.unwrap_or_else(|| "keyset".into()),
            watermark: r.get(19)?,
        }))
    })?;
    row.ok_or_else(|| {
        GnFluxError::unknown(
            format!("source \"{name}\" does not exist"),
            "Register it with gn_flux.add_source(), or see SELECT name FROM gn_flux.source.",
        )
    })
}

fn required<T>(what: &str, v: Option<T>) -> Result<T, GnFluxError> {
    v.ok_or_else(|| GnFluxError::invalid(format!("{what} must not be NULL"), format!("Give a {what}.")))
}

/// Validates a source definition and returns its normalised url (used by the trigger on
/// gn_flux.source, so INSERT, UPDATE and add_source() share the same checks).
#[allow(clippy::too_many_arguments)]
#[pg_extern(name = "_check_source")]
pub fn check_source(
    name: Option<&str>,
    url: Option<&str>,
    export_id: Option<i32>,
    login: Option<&str>,
    password: Option<&str>,
    token: Option<&str>,
    data_type: Option<&str>,
    query_strings: Option<pgrx::JsonB>,
    page_size: Option<i32>,
    metadata_export_id: Option<i32>,
    max_retries: Option<i32>,
    retry_backoff_ms: Option<i32>,
    connect_timeout_ms: Option<i32>,
    read_timeout_ms: Option<i32>,
    module_path: Option<&str>,
    update_overlap: Option<pgrx::datum::Interval>,
    paging: Option<&str>,
) -> String {
    let redactor = Redactor::new([password, token]);
    let checked = || -> Result<String, GnFluxError> {
        let name = required("name", name)?;
        validate::check_name(name)?;
        let url = validate::check_url(required("url", url)?)?;
        let export_id = required("export_id", export_id)?;
        validate::check_range("export_id", export_id as i64, 1, i32::MAX as i64)?;
        validate::check_credentials(login, password)?;
        if token.is_some_and(|t| t.trim().is_empty()) {
            return Err(GnFluxError::invalid(
                "token must not be empty",
                "Give the export token, or NULL.",
            ));
        }
        let data_type = required("data_type", data_type)?;
        validate::check_data_type(data_type)?;
        if data_type == "synthese_with_metadata_separated" && metadata_export_id.is_none() {
            return Err(GnFluxError::invalid(
                "data_type synthese_with_metadata_separated needs a metadata_export_id",
                "Give the id of the export serving acquisition frameworks and datasets.",
            ));
        }
        validate::check_query_strings(&required("query_strings", query_strings)?.0)?;
        validate::check_range(
            "page_size",
            required("page_size", page_size)? as i64,
            1,
            validate::PAGE_SIZE_MAX as i64,
        )?;
        if let Some(m) = metadata_export_id {
            validate::check_range("metadata_export_id", m as i64, 1, i32::MAX as i64)?;
        }
        validate::check_range(
            "max_retries",
            required("max_retries", max_retries)? as i64,
            0,
            validate::MAX_RETRIES_MAX as i64,
        )?;
        validate::check_range(
            "retry_backoff_ms",
            required("retry_backoff_ms", retry_backoff_ms)? as i64,
            1,
            600_000,
        )?;
        for (what, v) in [
            ("connect_timeout_ms", connect_timeout_ms),
            ("read_timeout_ms", read_timeout_ms),
        ] {
            if let Some(v) = v {
                validate::check_range(what, v as i64, 1, 3_600_000)?;
            }
        }
        validate::check_module_path(module_path)?;
        let overlap = required("update_overlap", update_overlap.map(interval_seconds))?;
        if !(0.0..=30.0 * 86_400.0).contains(&overlap) {
            return Err(GnFluxError::invalid(
                format!("update_overlap must be between 0 and 30 days (got {overlap} s)"),
                "Give an interval such as '10 minutes'.",
            ));
        }
        validate::check_paging(required("paging", paging)?)?;
        Ok(url)
    };
    checked().map_err(|e| e.redacted(&redactor)).or_raise()
}

fn interval_seconds(i: pgrx::datum::Interval) -> f64 {
    i.months() as f64 * 30.0 * 86_400.0 + i.days() as f64 * 86_400.0 + i.micros() as f64 / 1e6
}

/// Checks that a source answers as a GeoNature export: login (if any), module discovery, and one
/// row with id_synthese, id_perm_sinp and derniere_action. Raises 38000 with a hint otherwise.
#[pg_extern(name = "_probe_source")]
pub fn probe_source(name: &str) {
    let source = load(name).or_raise();
    let redactor = source.redactor();
    let cancel = gn_client::CancelFlag::new();
    let cfg = source.client_config();
    let handle = std::thread::spawn(move || gn_client::probe(&cfg, &cancel));
    let result = crate::pull::wait_for_thread(handle);
    match result {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => crate::pull::remote_error(&e, &source).redacted(&redactor).raise(),
        Err(e) => e.raise(),
    }
}

pub fn internal(message: impl Into<String>) -> GnFluxError {
    GnFluxError::new(Kind::Internal, message, "Report this as a gn_flux bug.")
}

extension_sql!(
    r#"
COMMENT ON FUNCTION gn_flux._check_source(text, text, integer, text, text, text, text, jsonb, integer, integer, integer,
    integer, integer, integer, text, interval, text) IS 'internal: validates a source definition, returns the normalised url';
COMMENT ON FUNCTION gn_flux._probe_source(text) IS 'internal: checks that a source answers as a GeoNature export';
REVOKE ALL ON FUNCTION gn_flux._probe_source(text) FROM PUBLIC;
"#,
    name = "source_rust_comments",
    requires = [check_source, probe_source]
);
