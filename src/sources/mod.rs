//! Sources: registered remote GeoNature exports (table gn_flux.source). The SQL side
//! (add_source, drop_source, the validation trigger, pg_cron scheduling) is in
//! sql/schema/030_source_functions.sql; a source's options, their checks and the client
//! configuration they give are pure Rust in `gn_client::definition`: this module only reads
//! the row and adds the server's settings.
use crate::error::{GnFluxError, Kind, Redactor, SqlResult};
use crate::gucs;
use gn_client::{ClientSettings, DefinitionError, SourceConfig, SourceDefinition};
use pgrx::prelude::*;

/// A source row (secrets included, never printed) with its name.
pub type Source = SourceDefinition;

impl From<DefinitionError> for GnFluxError {
    fn from(e: DefinitionError) -> Self {
        GnFluxError::invalid(e.message, e.hint)
    }
}

/// Masks the secrets written in the row (those read from files are masked by the client and
/// by [`client_config`]'s caller).
pub fn redactor(source: &Source) -> Redactor {
    Redactor::new(source.inline_secrets().into_iter().map(Some))
}

/// The server's settings that complete a source's client configuration.
pub fn client_settings() -> ClientSettings {
    ClientSettings {
        connect_timeout: std::time::Duration::from_millis(gucs::HTTP_CONNECT_TIMEOUT_MS.get().max(1) as u64),
        read_timeout: std::time::Duration::from_millis(gucs::HTTP_TIMEOUT_MS.get().max(1) as u64),
        secrets_directory: gucs::secrets_directory().map(std::path::PathBuf::from),
        user_agent: format!("gn_flux/{}", env!("CARGO_PKG_VERSION")),
    }
}

/// The client configuration of a source, its secret files read, with the redactor that masks
/// every secret it holds.
pub fn client_config(source: &Source) -> Result<(SourceConfig, Redactor), GnFluxError> {
    let inline = redactor(source);
    let cfg = source
        .client_config(&client_settings())
        .map_err(|e| GnFluxError::from(e).redacted(&inline))?;
    let all = Redactor::new([cfg.password.as_deref(), cfg.token.as_deref()]);
    Ok((gucs::apply_client_limits(cfg), all))
}

/// Loads a source by name; 42704 when it does not exist.
pub fn load(name: &str) -> Result<Source, GnFluxError> {
    let json = Spi::connect(|c| -> Result<Option<String>, GnFluxError> {
        let mut rows = c.select(
            "SELECT gn_flux._source_json(s)::text FROM gn_flux.source s WHERE s.name = $1",
            Some(1),
            &[name.into()],
        )?;
        Ok(match rows.next() {
            Some(r) => r.get::<String>(1)?,
            None => None,
        })
    })?;
    let json = json.ok_or_else(|| {
        GnFluxError::unknown(
            format!("source \"{name}\" does not exist"),
            "Register it with gn_flux.add_source(), or see SELECT name FROM gn_flux.source.",
        )
    })?;
    Ok(SourceDefinition::from_row_json(&json)?)
}

/// Validates a source row (the trigger on gn_flux.source passes it whole, so INSERT, UPDATE and
/// add_source() share the same checks) and returns its normalised url.
#[pg_extern(name = "_check_source")]
pub fn check_source_row(row: pgrx::JsonB) -> SqlResult<Option<String>> {
    let def = SourceDefinition::from_row_json(&row.0.to_string()).map_err(GnFluxError::from)?;
    let url = def
        .validate()
        .map_err(|e| GnFluxError::from(e).redacted(&redactor(&def)))?;
    // (an intake has no url)
    Ok((!url.is_empty()).then_some(url))
}

/// 0.1.0's `_check_source(17 arguments)`: its symbol stays so that a database still at 0.1.0
/// (the library upgraded, ALTER EXTENSION UPDATE not yet run) gets an error, not a misread
/// argument, and the frozen 0.1.0 install script loads.
#[pg_extern(sql = false)]
fn check_source() -> SqlResult<String> {
    Err(GnFluxError::new(
        Kind::WrongState,
        "gn_flux's SQL objects are older than its library",
        "Run ALTER EXTENSION gn_flux UPDATE;",
    )
    .into())
}

/// Checks that a source answers as a GeoNature export: login (if any), module discovery, and one
/// row with id_synthese, id_perm_sinp and derniere_action. 38000 with a hint otherwise.
#[pg_extern(name = "_probe_source")]
pub fn probe_source(name: &str) -> SqlResult<()> {
    Ok(probe(name)?)
}

fn probe(name: &str) -> Result<(), GnFluxError> {
    let source = load(name)?;
    if source.kind() == "post" {
        // (an intake receives: nothing to probe)
        return Ok(());
    }
    let (cfg, redactor) = client_config(&source)?;
    let cancel = gn_client::CancelFlag::new();
    let thread_cancel = cancel.clone();
    let handle = crate::ffi::spawn_quiet("gn_flux probe", move || gn_client::probe(&cfg, &thread_cancel))
        .map_err(|e| GnFluxError::internal(format!("could not start the probe thread: {e}")))?;
    match crate::network::wait_for_thread(handle, &cancel)? {
        Ok(_) => Ok(()),
        Err(e) => Err(crate::network::remote_error(&e, &source).redacted(&redactor)),
    }
}

extension_sql!(
    r#"
COMMENT ON FUNCTION gn_flux._check_source(jsonb) IS 'internal: validates a source row (as gn_flux._source_json gives it), returns the normalised url';
COMMENT ON FUNCTION gn_flux._probe_source(text) IS 'internal: checks that a source answers as a GeoNature export';
REVOKE ALL ON FUNCTION gn_flux._probe_source(text) FROM PUBLIC;
"#,
    name = "source_rust_comments",
    requires = [check_source_row, probe_source]
);
