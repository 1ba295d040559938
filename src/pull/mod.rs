//! gn_flux.pull_source(): a remote GeoNature export into the GN2PG-compatible staging tables,
//! full or incremental, in one atomic run. (gn_flux.pull_all() is a procedure in
//! sql/schema/030_source_functions.sql: one transaction per source.)
//!
//! - `mod.rs`: the SQL entry point and its arguments;
//! - `run.rs`: one run — its log row, its subtransaction, the event loop with the network
//!   thread, reconciliation, the watermark;
//! - `write.rs`: the set-based statements (one per page and table);
//! - `stats.rs`: when to refresh the planner statistics during a run.
//!
//! Thread model: the HTTP work (login, paging, retries, item preparation) runs in one worker
//! thread from gn_client; this backend's main thread alone touches PostgreSQL, writing page N
//! while the worker fetches page N+1. The main thread waits on the worker in steps of 100 ms and
//! checks for interrupts in between, so a cancel or statement_timeout acts within a second.
use crate::error::{GnFluxError, Kind, SqlResult};
use crate::sources;
use pgrx::datum::Interval;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

mod run;
pub(crate) mod stats;
pub(crate) mod write;

pub use run::Mode;

/// Pulls one source. `mode`: 'auto' (update when the source has a successful run, else full),
/// 'full' or 'update'; `since` overrides the start of an update window.
// The return type is spelt out in full: pgrx reads it from the signature (no type alias, not
// even SqlResult).
#[allow(clippy::type_complexity)]
#[pg_extern(name = "pull_source")]
pub fn pull_source(
    name: Option<&str>,
    mode: default!(Option<&str>, "'auto'"),
    since: default!(Option<pgrx::datum::TimestampWithTimeZone>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(import_id, Option<i32>),
            name!(source, String),
            name!(mode, String),
            name!(status, String),
            name!(pages, i32),
            name!(items, i64),
            name!(inserted, i64),
            name!(updated, i64),
            name!(unchanged, i64),
            name!(deleted, i64),
            name!(errors, i64),
            name!(bytes, i64),
            name!(duration, Interval),
            name!(message, Option<String>),
        ),
    >,
    ErrorReport,
> {
    let name =
        name.ok_or_else(|| GnFluxError::invalid("name must not be NULL", "Give the name of a registered source."))?;
    let mode = parse_mode(mode)?;
    if mode == Some(Mode::Full) && since.is_some() {
        return Err(GnFluxError::invalid(
            "since applies to update pulls only",
            "Call gn_flux.pull_source(name, 'update', since), or 'full' without since.",
        )
        .into());
    }
    let since = since.map(to_local_naive).transpose()?;
    lock_source(name)?;
    let source = sources::load(name)?;
    if source.kind() == "post" {
        return Err(GnFluxError::new(
            Kind::WrongState,
            format!("source \"{name}\" is an intake: observations are posted to it, it is not pulled"),
            "Post batches to <api root>/api/gn_flux/intake/<name> (see the README's API POST section).",
        )
        .into());
    }
    if !source.is_enabled() {
        return Err(GnFluxError::new(
            Kind::WrongState,
            format!("source \"{name}\" is disabled"),
            format!("Enable it with UPDATE gn_flux.source SET enabled = true WHERE name = '{name}'."),
        )
        .into());
    }
    let report = run::run(&source, mode, since)?;
    Ok(TableIterator::once(report.row()))
}

/// 0.1.0's `pull_all()` function, now a procedure: this symbol stays so that the frozen 0.1.0
/// install script loads with this library; called, it says what to do.
#[pg_extern(sql = false)]
fn pull_all() -> SqlResult<()> {
    Err(GnFluxError::new(
        Kind::WrongState,
        "gn_flux.pull_all() is a procedure since gn_flux 0.2.0",
        "Run ALTER EXTENSION gn_flux UPDATE, then CALL gn_flux.pull_all();",
    )
    .into())
}

fn parse_mode(mode: Option<&str>) -> Result<Option<Mode>, GnFluxError> {
    match mode.unwrap_or("auto") {
        "auto" => Ok(None),
        "full" => Ok(Some(Mode::Full)),
        "update" => Ok(Some(Mode::Update)),
        other => Err(GnFluxError::invalid(
            format!("unknown mode \"{other}\""),
            "Use 'auto', 'full' or 'update'.",
        )),
    }
}

fn to_local_naive(ts: pgrx::datum::TimestampWithTimeZone) -> Result<chrono::NaiveDateTime, GnFluxError> {
    let text = Spi::get_one_with_args::<String>(
        "SELECT pg_catalog.to_char($1::timestamp, 'YYYY-MM-DD HH24:MI:SS.US')",
        &[ts.into()],
    )?
    .unwrap_or_default();
    gn_protocol::time::parse_timestamp(&text)
        .ok_or_else(|| GnFluxError::invalid(format!("invalid since {text}"), "Give a timestamp."))
}

/// Two pulls of one source never interleave: the second one fails at once (55P03) rather than
/// waiting, so a pg_cron run that overlaps a long pull is reported instead of queued.
pub(crate) fn lock_source(name: &str) -> Result<(), GnFluxError> {
    let got = Spi::get_one_with_args::<bool>(
        "SELECT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('gn_flux.pull'), pg_catalog.hashtext($1))",
        &[name.into()],
    )?
    .unwrap_or(false);
    if got {
        return Ok(());
    }
    Err(GnFluxError::new(
        Kind::Busy,
        format!("source \"{name}\" is already being pulled by another session"),
        "Wait for that pull to finish (see pg_stat_activity); a pull holds its lock until its transaction ends.",
    ))
}

extension_sql!(
    r#"
COMMENT ON FUNCTION gn_flux.pull_source(text, text, timestamptz) IS
  'Pulls a source into data_json/metadata_json: mode auto (update if the source has a successful run, else full), full or update; since overrides the update window start. Atomic: on failure nothing changes, import_log records why, and the returned status is failed.';
REVOKE ALL ON FUNCTION gn_flux.pull_source(text, text, timestamptz) FROM PUBLIC;
"#,
    name = "pull_comments",
    requires = [pull_source]
);
