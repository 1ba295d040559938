//! gn_flux.pull_source() and gn_flux.pull_all(): a remote GeoNature export into the GN2PG-compatible
//! staging tables, full or incremental, in one atomic run.
//!
//! The HTTP work (login, paging, retries, item preparation) runs in one worker thread from
//! gn_client; this backend's main thread only writes, one set-based statement per page and
//! table, while the worker fetches the next page. The main thread waits on the worker in steps of
//! 100 ms and checks for interrupts in between, so a cancel or statement_timeout acts within a
//! second. All data changes of a run happen in a subtransaction: a failure rolls them back, then
//! the failure is recorded in import_log and returned as status 'failed'.
use crate::error::{GnFluxError, Kind, OrRaise};
use crate::ffi::{in_subtransaction, SubxactOutcome};
use crate::gucs;
use crate::sources::{self, Source};
use gn_client::{ClientError, Event, PullPlan};
use gn_protocol::query::{Filter, FilterOp};
use pgrx::datum::{DatumWithOid, Interval};
use pgrx::prelude::*;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

const UPSERT_DATA_PAGE: &str = include_str!("../../sql/queries/upsert_data_page.sql");
const UPSERT_METADATA: &str = include_str!("../../sql/queries/upsert_metadata.sql");
const DELETE_IDS: &str = include_str!("../../sql/queries/delete_ids.sql");
const RECONCILE_FULL: &str = include_str!("../../sql/queries/reconcile_full.sql");

/// How often the main thread checks for interrupts while waiting for the network.
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Full,
    Update,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Update => "update",
        }
    }
}

/// The counters of one run, also the row pull_source() returns.
#[derive(Debug, Clone, Default)]
struct RunReport {
    import_id: Option<i32>,
    source: String,
    mode: String,
    status: String,
    pages: i64,
    items: i64,
    inserted: i64,
    updated: i64,
    unchanged: i64,
    deleted: i64,
    errors: i64,
    metadata_upserts: i64,
    metadata_errors: i64,
    bytes: i64,
    requests: i64,
    retries: i64,
    paging: String,
    watermark: Option<chrono::NaiveDateTime>,
    duration: Duration,
    message: Option<String>,
}

type ResultRow = (
    Option<i32>,
    String,
    String,
    String,
    i32,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    Interval,
    Option<String>,
);

impl RunReport {
    fn row(&self) -> ResultRow {
        let micros = self.duration.as_micros().min(i64::MAX as u128) as i64;
        let duration = Interval::from_micros(micros);
        (
            self.import_id,
            self.source.clone(),
            self.mode.clone(),
            self.status.clone(),
            self.pages.min(i32::MAX as i64) as i32,
            self.items,
            self.inserted,
            self.updated,
            self.unchanged,
            self.deleted,
            self.errors,
            self.bytes,
            duration,
            self.message.clone(),
        )
    }
}

/// Pulls one source. `mode`: 'auto' (update when the source has a successful run, else full),
/// 'full' or 'update'; `since` overrides the start of an update window.
// The return type is spelt out in full: pgrx reads it from the signature (no type alias).
#[allow(clippy::type_complexity)]
#[pg_extern(name = "pull_source")]
pub fn pull_source(
    name: Option<&str>,
    mode: default!(Option<&str>, "'auto'"),
    since: default!(Option<pgrx::datum::TimestampWithTimeZone>, "NULL"),
) -> TableIterator<
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
> {
    let name = name
        .ok_or_else(|| GnFluxError::invalid("name must not be NULL", "Give the name of a registered source."))
        .or_raise();
    let mode = parse_mode(mode).or_raise();
    if mode == Some(Mode::Full) && since.is_some() {
        GnFluxError::invalid(
            "since applies to update pulls only",
            "Call gn_flux.pull_source(name, 'update', since), or 'full' without since.",
        )
        .raise();
    }
    let since = since.map(|s| to_local_naive(s).or_raise());
    lock_source(name).or_raise();
    let source = sources::load(name).or_raise();
    if !source.enabled {
        GnFluxError::new(
            Kind::WrongState,
            format!("source \"{name}\" is disabled"),
            format!("Enable it with UPDATE gn_flux.source SET enabled = true WHERE name = '{name}'."),
        )
        .raise();
    }
    let report = run(&source, mode, since);
    TableIterator::once(report.row())
}

/// Pulls every enabled source, one after the other, each in its own atomic run; a failing
/// source does not stop the others. A source already being pulled elsewhere is reported failed.
#[allow(clippy::type_complexity)]
#[pg_extern(name = "pull_all")]
fn pull_all() -> TableIterator<
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
> {
    let names: Vec<String> = Spi::connect(|c| -> Result<Vec<String>, GnFluxError> {
        let mut out = Vec::new();
        for r in c.select("SELECT name FROM gn_flux.source WHERE enabled ORDER BY name", None, &[])? {
            if let Some(n) = r.get::<String>(1)? {
                out.push(n);
            }
        }
        Ok(out)
    })
    .or_raise();
    let mut rows = Vec::new();
    for name in names {
        let report = match lock_source(&name).and_then(|_| sources::load(&name)) {
            Ok(source) => run(&source, None, None),
            Err(e) => RunReport {
                source: name.clone(),
                mode: String::new(),
                status: "failed".into(),
                message: Some(e.message),
                ..RunReport::default()
            },
        };
        rows.push(report.row());
    }
    TableIterator::new(rows)
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
        "SELECT to_char($1::timestamp, 'YYYY-MM-DD HH24:MI:SS.US')",
        &[ts.into()],
    )?
    .unwrap_or_default();
    gn_protocol::time::parse_timestamp(&text)
        .ok_or_else(|| GnFluxError::invalid(format!("invalid since {text}"), "Give a timestamp."))
}

/// Two pulls of one source never interleave: the second one fails at once (55P03) rather than
/// waiting, so a pg_cron run that overlaps a long pull is reported instead of queued.
fn lock_source(name: &str) -> Result<(), GnFluxError> {
    let got = Spi::get_one_with_args::<bool>(
        "SELECT pg_try_advisory_xact_lock(hashtext('gn_flux.pull'), hashtext($1))",
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

fn has_success(name: &str) -> Result<bool, GnFluxError> {
    Ok(Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM gn_flux.import_log WHERE source = $1 AND controler = 'data' AND xfer_status = 'success')",
        &[name.into()],
    )?
    .unwrap_or(false))
}

/// GN2PG's xfer_filters: a one-element JSON array holding the parameters as a JSON string.
fn xfer_filters(params: &[(String, String)]) -> String {
    let mut inner = String::from("{");
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            inner.push_str(", ");
        }
        inner.push_str(&gn_protocol::json::to_string(&serde_json::Value::String(k.clone())));
        inner.push_str(": ");
        let value = match v.parse::<i64>() {
            Ok(n) => n.to_string(),
            Err(_) => gn_protocol::json::to_string(&serde_json::Value::String(v.clone())),
        };
        inner.push_str(&value);
    }
    inner.push('}');
    serde_json::Value::Array(vec![serde_json::Value::String(inner)]).to_string()
}

/// One run: log it, do the work in a subtransaction, record the outcome.
fn run(source: &Source, requested: Option<Mode>, since: Option<chrono::NaiveDateTime>) -> RunReport {
    let started = Instant::now();
    let redactor = source.redactor();
    let succeeded_before = has_success(&source.name).or_raise();
    let mode = match requested {
        None if succeeded_before => Mode::Update,
        None => Mode::Full,
        Some(Mode::Update) if since.is_none() && !succeeded_before => {
            notice(&format!(
                "gn_flux: source \"{}\" has no successful pull yet: running a full pull",
                source.name
            ));
            Mode::Full
        }
        Some(m) => m,
    };
    let watermark = source.watermark.as_deref().and_then(gn_protocol::time::parse_timestamp);
    let overlap = chrono::Duration::milliseconds((source.update_overlap_s * 1000.0) as i64);
    let window_start = match mode {
        Mode::Full => None,
        Mode::Update => gn_client::window_start(watermark, overlap, since),
    };
    let mut window = Vec::new();
    if let Some(start) = window_start {
        window.push(Filter::new(
            FilterOp::DateGe,
            "derniere_action",
            gn_protocol::time::format_timestamp(&start),
        ));
    }
    let mut params: Vec<(String, String)> = source.query_strings.clone();
    params.push(("limit".into(), source.page_size.to_string()));
    for f in &window {
        params.push((f.param_name(), f.value.clone()));
    }

    let import_id = Spi::get_one_with_args::<i32>(
        "INSERT INTO gn_flux.import_log (source, controler, xfer_type, xfer_status, xfer_start_ts, xfer_filters)
         VALUES ($1, 'data', $2, 'importing data', clock_timestamp()::timestamp, $3::jsonb) RETURNING id",
        &[
            source.name.as_str().into(),
            mode.as_str().into(),
            xfer_filters(&params).into(),
        ],
    )
    .map_err(GnFluxError::from)
    .and_then(|id| id.ok_or_else(|| sources::internal("no import_log id")))
    .or_raise();

    let mut report = RunReport {
        import_id: Some(import_id),
        source: source.name.clone(),
        mode: mode.as_str().into(),
        ..RunReport::default()
    };
    let plan = PullPlan {
        window,
        deletions_since: if mode == Mode::Update && source.has_login() {
            window_start
        } else {
            None
        },
        metadata_export: source.metadata_export_id.is_some(),
        keyset: source.paging == "keyset",
    };
    if mode == Mode::Update && !source.has_login() && window_start.is_some() {
        notice(&format!(
            "gn_flux: source \"{}\" has no login: deletions cannot be read from /api/synthese/log (run a full pull to reconcile)",
            source.name
        ));
    }
    let outcome = in_subtransaction(std::panic::AssertUnwindSafe(|| {
        work(source, mode, import_id, plan, &mut report)
    }));
    report.duration = started.elapsed();
    // (short message for the caller, full text with the details for import_log.comment)
    let failure = match outcome {
        SubxactOutcome::Done(Ok(())) => None,
        SubxactOutcome::Done(Err(e)) => {
            let e = e.redacted(&redactor);
            Some((e.message.clone(), e.full_text()))
        }
        SubxactOutcome::Failed { message } => {
            let m = redactor.redact(&message);
            Some((m.clone(), m))
        }
    };
    match failure {
        None => {
            report.status = "success".into();
            finish_log(&report, None).or_raise();
            if report.watermark.is_some() || mode == Mode::Full {
                Spi::run_with_args(
                    "UPDATE gn_flux.source SET watermark = CASE WHEN $2 = 'full' THEN coalesce($3::timestamp, watermark)
                            ELSE greatest(watermark, $3::timestamp) END WHERE name = $1",
                    &[
                        source.name.as_str().into(),
                        mode.as_str().into(),
                        report.watermark.map(|w| gn_protocol::time::format_timestamp(&w)).into(),
                    ],
                )
                .map_err(GnFluxError::from)
                .or_raise();
            }
        }
        Some((message, comment)) => {
            // Nothing of the run's data survived the rollback: report zero changes.
            report.status = "failed".into();
            report.inserted = 0;
            report.updated = 0;
            report.unchanged = 0;
            report.deleted = 0;
            report.errors = 0;
            report.metadata_upserts = 0;
            report.metadata_errors = 0;
            report.message = Some(message.clone());
            finish_log(&report, Some(&comment)).or_raise();
            pgrx::warning!("gn_flux: pull of source \"{}\" failed: {}", source.name, message);
        }
    }
    report
}

fn finish_log(r: &RunReport, comment: Option<&str>) -> Result<(), GnFluxError> {
    let args: Vec<DatumWithOid> = vec![
        r.import_id.into(),
        r.status.as_str().into(),
        (r.items as i32).into(),
        (r.retries as i32).into(),
        ((r.inserted + r.updated) as i32).into(),
        (r.deleted as i32).into(),
        (r.errors as i32).into(),
        (r.metadata_upserts as i32).into(),
        (r.metadata_errors as i32).into(),
        comment.into(),
        (r.inserted as i32).into(),
        (r.updated as i32).into(),
        (r.unchanged as i32).into(),
        (r.pages as i32).into(),
        r.bytes.into(),
        (r.requests as i32).into(),
        (!r.paging.is_empty()).then_some(r.paging.as_str()).into(),
        r.watermark.map(|w| gn_protocol::time::format_timestamp(&w)).into(),
    ];
    Spi::run_with_args(
        "UPDATE gn_flux.import_log SET xfer_status = $2, xfer_end_ts = clock_timestamp()::timestamp,
                api_count_items = $3, api_count_errors = $4, data_count_upserts = $5, data_count_delete = $6,
                data_count_errors = $7, metadata_count_upserts = $8, metadata_count_errors = $9, comment = $10,
                data_count_inserts = $11, data_count_updates = $12, data_count_unchanged = $13, pages = $14,
                bytes = $15, http_requests = $16, paging = $17, watermark = $18::timestamp
          WHERE id = $1",
        &args,
    )?;
    Ok(())
}

fn notice(message: &str) {
    pgrx::notice!("{message}");
}

/// Waits for a worker thread's result while honouring cancels (interrupts are checked every 100 ms).
pub fn wait_for_thread<T: Send + 'static>(handle: std::thread::JoinHandle<T>) -> Result<T, GnFluxError> {
    while !handle.is_finished() {
        pgrx::check_for_interrupts!();
        std::thread::sleep(Duration::from_millis(10));
    }
    handle
        .join()
        .map_err(|_| sources::internal("the gn_flux network thread panicked"))
}

/// A client failure as a gn_flux error (SQLSTATE class 38, or 42501/42704 where it says so).
pub fn remote_error(e: &ClientError, source: &Source) -> GnFluxError {
    let kind = match e {
        ClientError::Cancelled => Kind::Internal,
        _ => Kind::Remote,
    };
    GnFluxError::new(kind, format!("source \"{}\": {e}", source.name), e.hint()).with_detail(e.detail())
}

/// When to refresh the planner statistics of data_json during a run. The per-page statement
/// looks rows up by key; on a table PostgreSQL has never analyzed (a first full pull into new
/// tables) the planner assumes it is tiny and scans it whole for every item, which makes a pull
/// quadratic. So while a run grows the table well past what the statistics say, it runs ANALYZE
/// at 1,000, 4,000, 16,000 … rows inserted (each ANALYZE samples at most 30,000 rows and costs
/// up to half a second on a large table, hence growth by 4 rather than 2: plans stay right while
/// the statistics are within a factor 4 of the truth).
#[derive(Debug, Clone, Copy)]
struct AnalyzePolicy {
    /// Row count the statistics know about (pg_class.reltuples; negative = never analyzed).
    known: f64,
    next: i64,
    allowed: bool,
}

impl AnalyzePolicy {
    fn new(known: f64, allowed: bool) -> Self {
        AnalyzePolicy {
            known,
            next: 1000,
            allowed,
        }
    }

    /// Whether to analyze now, `inserted` rows into the run.
    fn due(&mut self, inserted: i64) -> bool {
        if !self.allowed || inserted < self.next || (inserted as f64) < self.known.max(0.0) / 2.0 {
            return false;
        }
        self.next = inserted.saturating_mul(4);
        true
    }
}

fn data_json_statistics() -> Result<AnalyzePolicy, GnFluxError> {
    let (known, owner) = Spi::get_two::<f64, bool>(
        "SELECT reltuples::float8, pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = 'gn_flux.data_json'::regclass",
    )?;
    Ok(AnalyzePolicy::new(known.unwrap_or(-1.0), owner.unwrap_or(false)))
}

/// Everything a run changes, inside its subtransaction.
fn work(source: &Source, mode: Mode, import_id: i32, plan: PullPlan, r: &mut RunReport) -> Result<(), GnFluxError> {
    let postgis = crate::spi::required_postgis_schema()?;
    let upsert_page = UPSERT_DATA_PAGE.replace("@postgis@", &postgis);
    // Planned once per run, not once per page.
    let upsert_page = {
        use pgrx::pg_sys::{PgBuiltInOids as T, PgOid};
        let types = [
            T::TEXTARRAYOID,
            T::TEXTOID,
            T::TEXTOID,
            T::INT4OID,
            T::INT8OID,
            T::INT8OID,
            T::TEXTARRAYOID,
            T::TEXTARRAYOID,
            T::INT8ARRAYOID,
            T::TEXTARRAYOID,
        ]
        .map(PgOid::BuiltIn);
        Spi::connect(|c| c.prepare_mut(upsert_page.as_str(), &types).map(|p| p.keep()))?
    };
    let cancel = gn_client::CancelFlag::new();
    let handle = gn_client::spawn_pull(source.client_config(), plan, cancel);
    let progress = gucs::PROGRESS_NOTICES.get();
    let started = Instant::now();
    let mut last_notice = Instant::now();
    // Full pulls reconcile page by page: each page covers every served id in (covered, its max].
    let below_every_id = i32::MIN as i64 - 1;
    let mut covered: i64 = below_every_id;
    let mut analyze = data_json_statistics()?;
    let source_name = source.name.as_str();
    let data_type = source.data_type.as_str();
    loop {
        let event = match handle.recv_timeout(POLL) {
            Ok(ev) => ev,
            Err(RecvTimeoutError::Timeout) => {
                pgrx::check_for_interrupts!();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return Err(sources::internal("the gn_flux network thread stopped")),
        };
        match event {
            Event::Started { .. } => {}
            Event::Deletions(ids) => {
                if !ids.is_empty() {
                    r.deleted +=
                        Spi::get_one_with_args::<i64>(DELETE_IDS, &[source_name.into(), ids.into()])?.unwrap_or(0);
                }
            }
            Event::Metadata(rows) => {
                let payload = gn_client::metadata_payload(&rows);
                let (ups, rej) = write_metadata(&payload, source_name, data_type, import_id)?;
                r.metadata_upserts += ups;
                r.metadata_errors += rej;
            }
            Event::Page(page) => {
                pgrx::check_for_interrupts!();
                if let Some(meta) = &page.metadata_payload {
                    let (ups, rej) = write_metadata(meta, source_name, data_type, import_id)?;
                    r.metadata_upserts += ups;
                    r.metadata_errors += rej;
                }
                let page_max = page.ids.iter().copied().max();
                let columns = page.columns;
                let (lower, upper) = match (mode, page_max) {
                    (Mode::Full, Some(max)) => (Some(covered), Some(max)),
                    _ => (None, None),
                };
                let (ins, upd, rej, gone) = Spi::connect_mut(|c| -> Result<(i64, i64, i64, i64), GnFluxError> {
                    let row = c
                        .update(
                            &upsert_page,
                            None,
                            &[
                                columns.items.into(),
                                source_name.into(),
                                data_type.into(),
                                import_id.into(),
                                lower.into(),
                                upper.into(),
                                columns.geoms.into(),
                                columns.errors.into(),
                                columns.ids.into(),
                                columns.uuids.into(),
                            ],
                        )?
                        .first();
                    Ok((
                        row.get(1)?.unwrap_or(0),
                        row.get(2)?.unwrap_or(0),
                        row.get(3)?.unwrap_or(0),
                        row.get(4)?.unwrap_or(0),
                    ))
                })?;
                if let Some(max) = upper {
                    covered = covered.max(max);
                }
                r.deleted += gone;
                r.pages += 1;
                r.items += page.items as i64;
                r.inserted += ins;
                r.updated += upd;
                r.errors += rej;
                r.unchanged += (page.items as i64 - ins - upd - rej).max(0);
                r.bytes += page.bytes as i64;
                r.watermark = gn_client::advance_watermark(r.watermark, page.max_derniere_action);
                if analyze.due(r.inserted) {
                    // Key columns only: the lookups need them and the table size; sorting a sample of jsonb
                    // items and geometries would cost more than the page itself.
                    Spi::run("ANALYZE gn_flux.data_json (id_data, controler, source, uuid)")?;
                }
                if progress && last_notice.elapsed() >= Duration::from_secs(1) {
                    last_notice = Instant::now();
                    let secs = started.elapsed().as_secs_f64().max(0.001);
                    notice(&format!(
                        "gn_flux: {}: page {}, {} rows ({} new, {} changed), {:.0} rows/s",
                        source_name,
                        r.pages,
                        r.items,
                        r.inserted,
                        r.updated,
                        r.items as f64 / secs
                    ));
                }
            }
            Event::Finished(stats) => {
                r.requests = stats.requests as i64;
                r.retries = stats.retries as i64;
                r.paging = if stats.keyset_fallback || source.paging == "offset" {
                    "offset"
                } else {
                    "keyset"
                }
                .into();
                break;
            }
            Event::Failed(e) => return Err(remote_error(&e, source)),
        }
    }
    if mode == Mode::Full {
        r.deleted += Spi::get_one_with_args::<i64>(RECONCILE_FULL, &[source_name.into(), covered.into()])?.unwrap_or(0);
    }
    if progress && started.elapsed() >= Duration::from_secs(1) {
        notice(&format!(
            "gn_flux: {}: done, {} pages, {} rows, {} deleted, {:.0} rows/s",
            source_name,
            r.pages,
            r.items,
            r.deleted,
            r.items as f64 / started.elapsed().as_secs_f64().max(0.001)
        ));
    }
    Ok(())
}

fn write_metadata(payload: &str, source: &str, data_type: &str, import_id: i32) -> Result<(i64, i64), GnFluxError> {
    Spi::connect_mut(|c| -> Result<(i64, i64), GnFluxError> {
        let row = c
            .update(
                UPSERT_METADATA,
                None,
                &[payload.into(), source.into(), data_type.into(), import_id.into()],
            )?
            .first();
        Ok((row.get(1)?.unwrap_or(0), row.get(2)?.unwrap_or(0)))
    })
}

#[cfg(test)]
mod tests {
    use super::AnalyzePolicy;

    #[test]
    fn analyze_while_the_table_outgrows_its_statistics() {
        let mut p = AnalyzePolicy::new(-1.0, true);
        let due: Vec<i64> = (1..=100).map(|page| page * 1000).filter(|n| p.due(*n)).collect();
        assert_eq!(due, vec![1000, 4000, 16000, 64000]);
        // statistics that already know a large table: no ANALYZE for a small update
        let mut p = AnalyzePolicy::new(1_000_000.0, true);
        assert!(!(1..=20).any(|page| p.due(page * 1000)));
        // not the owner: never
        let mut p = AnalyzePolicy::new(-1.0, false);
        assert!(!p.due(5000));
    }
}

extension_sql!(
    r#"
COMMENT ON FUNCTION gn_flux.pull_source(text, text, timestamptz) IS
  'Pulls a source into data_json/metadata_json: mode auto (update if the source has a successful run, else full), full or update; since overrides the update window start. Atomic: on failure nothing changes, import_log records why, and the returned status is failed.';
COMMENT ON FUNCTION gn_flux.pull_all() IS 'Pulls every enabled source, one row per source; a failing source does not stop the others.';
REVOKE ALL ON FUNCTION gn_flux.pull_source(text, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION gn_flux.pull_all() FROM PUBLIC;
"#,
    name = "pull_comments",
    requires = [pull_source, pull_all]
);
