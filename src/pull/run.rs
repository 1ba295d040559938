//! One run of a pull: its import_log row, the work in a subtransaction (a failure rolls every
//! data change back and is then recorded), the event loop with the network thread, the
//! reconciliation of full pulls and the watermark.
use super::stats::AnalyzePolicy;
use super::write::{self, PageWriter};
use crate::error::GnFluxError;
use crate::ffi::{in_subtransaction, SubxactOutcome};
use crate::gucs;
use crate::sources::{self, Source};
use crate::synthese::{LoadCounts, Loader};
use gn_client::{Event, PullPlan};
use gn_protocol::query::{Filter, FilterOp};
use pgrx::datum::{DatumWithOid, Interval};
use pgrx::prelude::*;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

/// How often the main thread checks for interrupts while waiting for the network.
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
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
pub struct RunReport {
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
    /// Warnings of a successful run (a capped watermark, a skipped reconciliation), kept in
    /// import_log.comment.
    warnings: Vec<String>,
    /// What the GeoNature load did (when enabled for the source).
    synthese: LoadCounts,
}

pub type ResultRow = (
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
    pub fn row(&self) -> ResultRow {
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

    fn warn(&mut self, text: String) {
        pgrx::warning!("gn_flux: source \"{}\": {text}", self.source);
        self.warnings.push(text);
    }
}

fn has_success(name: &str) -> Result<bool, GnFluxError> {
    Ok(Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM gn_flux.import_log WHERE source::text = $1 AND controler::text = 'data' AND xfer_status::text = 'success')",
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

fn notice(message: &str) {
    pgrx::notice!("{message}");
}

/// One run: log it, do the work in a subtransaction, record the outcome. Errors before the run
/// starts (an unreadable secret file, a bad configuration) are raised; failures of the run itself
/// are recorded and returned as status 'failed'.
pub fn run(
    source: &Source,
    requested: Option<Mode>,
    since: Option<chrono::NaiveDateTime>,
) -> Result<RunReport, GnFluxError> {
    let started = Instant::now();
    let name = source.name();
    // A configuration that cannot be used (an unreadable secret file, say) is a failed run like
    // any other: recorded in import_log and returned as status 'failed', for monitoring.
    let config = sources::client_config(source);
    let succeeded_before = has_success(name)?;
    let mode = match requested {
        None if succeeded_before => Mode::Update,
        None => Mode::Full,
        Some(Mode::Update) if since.is_none() && !succeeded_before => {
            notice(&format!(
                "gn_flux: source \"{name}\" has no successful pull yet: running a full pull"
            ));
            Mode::Full
        }
        Some(m) => m,
    };
    let watermark = source.watermark.as_deref().and_then(gn_protocol::time::parse_timestamp);
    let overlap = chrono::Duration::milliseconds((source.update_overlap_seconds() * 1000.0) as i64);
    let window_start = match mode {
        Mode::Full => None,
        Mode::Update => gn_client::window_start(watermark, overlap, since),
    };
    let mut window = Vec::new();
    let geonature = source.is_geonature();
    if let (Some(start), true) = (window_start, geonature) {
        window.push(Filter::new(
            FilterOp::DateGe,
            "derniere_action",
            gn_protocol::time::format_timestamp(&start),
        ));
    }
    let mut params: Vec<(String, String)> = Vec::new();
    if let Ok((cfg, _)) = &config {
        params.extend(cfg.query_strings.iter().cloned());
        params.push(("limit".into(), cfg.page_size.to_string()));
        for f in &window {
            params.push((f.param_name(), f.value.clone()));
        }
        if let (Some(start), Some(feed)) = (window_start, &cfg.feed) {
            if feed.incremental() {
                params.push(("since".into(), gn_protocol::time::format_timestamp(&start)));
            }
        }
    }

    let import_id = Spi::get_one_with_args::<i32>(
        "INSERT INTO gn_flux.import_log (source, controler, xfer_type, xfer_status, xfer_start_ts, xfer_filters)
         VALUES ($1, 'data', $2, 'importing data', pg_catalog.clock_timestamp()::timestamp, $3::jsonb) RETURNING id",
        &[name.into(), mode.as_str().into(), xfer_filters(&params).into()],
    )?
    .ok_or_else(|| GnFluxError::internal("no import_log id"))?;

    let mut report = RunReport {
        import_id: Some(import_id),
        source: name.to_string(),
        mode: mode.as_str().into(),
        ..RunReport::default()
    };
    let (cfg, redactor) = match config {
        Ok(c) => c,
        Err(e) => {
            // (already redacted of the row's secrets; the file's secret was never read)
            report.status = "failed".into();
            report.message = Some(e.message.clone());
            report.duration = started.elapsed();
            finish_log(&report, Some(&e.full_text()))?;
            pgrx::warning!("gn_flux: pull of source \"{name}\" failed: {}", e.message);
            return Ok(report);
        }
    };
    let plan = PullPlan {
        window,
        deletions_since: if mode == Mode::Update && source.has_login() && geonature {
            window_start
        } else {
            None
        },
        metadata_export: source.metadata_export_id.is_some(),
        keyset: source.paging() == "keyset",
        feed_since: if geonature { None } else { window_start },
    };
    if let (Mode::Update, Some(feed)) = (mode, &cfg.feed) {
        notice(&format!(
            "gn_flux: source \"{name}\" ({}): {}",
            source.kind(),
            if feed.incremental() {
                "items changed since the watermark are read; deletions are seen by full pulls only"
            } else {
                "this kind has no modification filter: every item is read again (deletions are seen by full pulls only)"
            }
        ));
    } else if geonature && mode == Mode::Update && !source.has_login() && window_start.is_some() {
        notice(&format!(
            "gn_flux: source \"{name}\" has no login: deletions cannot be read from /api/synthese/log (run a full pull to reconcile)"
        ));
    }
    let outcome = in_subtransaction(std::panic::AssertUnwindSafe(|| {
        work(source, cfg, mode, import_id, plan, &mut report)
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
            let comment = (!report.warnings.is_empty()).then(|| redactor.redact(&report.warnings.join("; ")));
            finish_log(&report, comment.as_deref())?;
            // (the new watermark, already combined with the stored one and bounded by the
            // server's clock in work())
            if let Some(w) = report.watermark {
                Spi::run_with_args(
                    "UPDATE gn_flux.source SET watermark = $2::timestamp WHERE name = $1",
                    &[name.into(), gn_protocol::time::format_timestamp(&w).into()],
                )?;
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
            report.synthese = LoadCounts::default();
            report.message = Some(message.clone());
            finish_log(&report, Some(&comment))?;
            pgrx::warning!("gn_flux: pull of source \"{name}\" failed: {message}");
        }
    }
    Ok(report)
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
        ((r.synthese.inserted + r.synthese.updated) as i32).into(),
        (r.synthese.deleted as i32).into(),
        (r.synthese.rejected as i32).into(),
    ];
    Spi::run_with_args(
        "UPDATE gn_flux.import_log SET xfer_status = $2, xfer_end_ts = pg_catalog.clock_timestamp()::timestamp,
                api_count_items = $3, api_count_errors = $4, data_count_upserts = $5, data_count_delete = $6,
                data_count_errors = $7, metadata_count_upserts = $8, metadata_count_errors = $9, comment = $10,
                data_count_inserts = $11, data_count_updates = $12, data_count_unchanged = $13, pages = $14,
                bytes = $15, http_requests = $16, paging = $17, watermark = $18::timestamp,
                synthese_upserts = $19, synthese_deletes = $20, synthese_rejects = $21
          WHERE id = $1",
        &args,
    )?;
    Ok(())
}

/// What a full pull needs to reconcile at its end.
struct Coverage {
    /// Every served id up to here was delivered by range (keyset) pages.
    covered: i64,
    /// Some pages were not id ranges (page-index paging): reconcile by the ids seen instead.
    by_index: bool,
    /// The ids delivered by the current pass of the walk (a new pass starts over).
    seen: Vec<i64>,
    pass: u32,
}

/// The GeoNature load of a run, when enabled for the source: every change to the staging tables
/// is carried to GeoNature in the same subtransaction. Changed observations are loaded by chunks
/// of several pages (GeoNature's statement triggers then run once per chunk, not per page), and
/// always before a deletion and at the end of the run, so the order of the changes is kept.
struct GeoNature {
    loader: Option<Loader>,
    import_id: i32,
    pending: Vec<i32>,
}

impl GeoNature {
    fn flush(&mut self, r: &mut RunReport) -> Result<(), GnFluxError> {
        if let Some(l) = &self.loader {
            if !self.pending.is_empty() {
                l.observations(&self.pending, Some(self.import_id), &mut r.synthese)?;
                self.pending.clear();
            }
        }
        Ok(())
    }

    fn deleted(&mut self, gone: write::Deleted, r: &mut RunReport) -> Result<(), GnFluxError> {
        r.deleted += gone.count;
        if self.loader.is_some() && !gone.uuids.is_empty() {
            self.flush(r)?;
            if let Some(l) = &self.loader {
                l.delete(gone.uuids, &mut r.synthese)?;
            }
        }
        Ok(())
    }

    fn metadata(&mut self, written: write::MetadataWritten, r: &mut RunReport) -> Result<(), GnFluxError> {
        r.metadata_upserts += written.upserts;
        r.metadata_errors += written.rejected;
        if let Some(l) = &self.loader {
            l.metadata(Some(written.changed), Some(self.import_id), &mut r.synthese)?;
        }
        Ok(())
    }

    fn page(&mut self, counts: &mut write::PageCounts, r: &mut RunReport) -> Result<(), GnFluxError> {
        let gone = write::Deleted {
            count: counts.gone,
            uuids: std::mem::take(&mut counts.gone_uuids),
        };
        self.deleted(gone, r)?;
        if self.loader.is_some() {
            self.pending.append(&mut counts.changed);
            if self.pending.len() >= crate::synthese::load::CHUNK {
                self.flush(r)?;
            }
        }
        Ok(())
    }
}

/// Everything a run changes, inside its subtransaction.
fn work(
    source: &Source,
    cfg: gn_client::SourceConfig,
    mode: Mode,
    import_id: i32,
    plan: PullPlan,
    r: &mut RunReport,
) -> Result<(), GnFluxError> {
    let writer = PageWriter::prepare()?;
    let cfg_paging = cfg.feed.as_ref().map(|f| f.paging_name().to_string());
    let mut geonature = GeoNature {
        loader: Loader::for_source(source.name())?,
        import_id,
        pending: Vec::new(),
    };
    let cancel = gn_client::CancelFlag::new();
    let handle = gn_client::spawn_pull(cfg, plan, cancel);
    let progress = gucs::PROGRESS_NOTICES.get();
    let started = Instant::now();
    let mut last_notice = Instant::now();
    let mut cov = Coverage {
        covered: i32::MIN as i64 - 1,
        by_index: false,
        seen: Vec::new(),
        pass: 0,
    };
    let mut analyze = AnalyzePolicy::for_data_json()?;
    let source_name = source.name();
    let data_type = source.data_type();
    let stats = loop {
        let event = match handle.recv_timeout(POLL) {
            Ok(ev) => ev,
            Err(RecvTimeoutError::Timeout) => {
                pgrx::check_for_interrupts!();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(GnFluxError::internal("the gn_flux network thread stopped"))
            }
        };
        match event {
            Event::Started { .. } => {}
            Event::Deletions(ids) => {
                let gone = write::delete_ids(source_name, ids)?;
                geonature.deleted(gone, r)?;
            }
            Event::Metadata(rows) => {
                let payload = gn_client::metadata_payload(&rows);
                let written = write::write_metadata(&payload, source_name, data_type, import_id)?;
                geonature.metadata(written, r)?;
            }
            Event::Page(mut page) => {
                pgrx::check_for_interrupts!();
                if !source.is_geonature() {
                    // (feed items: their keys become the integer id_data of the staging table)
                    let ids = write::feed_ids(source_name, std::mem::take(&mut page.keys))?;
                    page.ids = ids.iter().flatten().copied().collect();
                    page.columns.ids = ids;
                }
                if let Some(meta) = &page.metadata_payload {
                    let written = write::write_metadata(meta, source_name, data_type, import_id)?;
                    geonature.metadata(written, r)?;
                }
                let page_max = page.ids.iter().copied().max();
                let range = match (mode, page_max) {
                    (Mode::Full, Some(max)) if page.reconcilable => Some((cov.covered, max)),
                    _ => None,
                };
                if mode == Mode::Full {
                    if page.pass != cov.pass {
                        cov.pass = page.pass;
                        cov.seen.clear();
                    }
                    cov.by_index |= !page.reconcilable;
                    cov.seen.extend_from_slice(&page.ids);
                }
                let mut counts = writer.write(page.columns, source_name, data_type, import_id, range)?;
                if let Some((_, max)) = range {
                    cov.covered = cov.covered.max(max);
                }
                geonature.page(&mut counts, r)?;
                r.pages += 1;
                r.items += page.items as i64;
                r.inserted += counts.inserted;
                r.updated += counts.updated;
                r.errors += counts.rejected;
                r.unchanged += (page.items as i64 - counts.inserted - counts.updated - counts.rejected).max(0);
                r.bytes += page.bytes as i64;
                r.watermark = gn_client::advance_watermark(r.watermark, page.max_derniere_action);
                if analyze.due(r.inserted) {
                    analyze.analyze()?;
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
            Event::Finished(stats) => break stats,
            Event::Failed(e) => return Err(crate::network::remote_error(&e, source)),
        }
    };
    // Deletions the synthese log reported while a page-index walk was under way.
    let gone = write::delete_ids(source_name, stats.late_deletions.clone())?;
    geonature.deleted(gone, r)?;
    r.requests = stats.requests as i64;
    r.retries = stats.retries as i64;
    r.paging = match &cfg_paging {
        Some(p) => p.clone(),
        None if stats.keyset_fallback || source.paging() == "offset" => "offset".into(),
        None => "keyset".into(),
    };
    if stats.passes > 1 && stats.complete {
        r.warn(format!(
            "the source changed during the walk: walked {} times until a pass saw no change",
            stats.passes
        ));
    }
    if mode == Mode::Full {
        if !stats.complete {
            // Rows of an incomplete walk may be missing for no other reason than the walk:
            // deleting them would lose live data.
            r.warn(format!(
                "the source kept changing during the walk, or did not deliver what it counted ({} passes): stored rows it did not deliver were kept (no reconciliation); run a full pull again later",
                stats.passes
            ));
        } else if cov.by_index {
            let gone = write::reconcile_seen(source_name, std::mem::take(&mut cov.seen))?;
            geonature.deleted(gone, r)?;
        } else {
            let gone = write::reconcile_above(source_name, cov.covered)?;
            geonature.deleted(gone, r)?;
        }
    }
    geonature.flush(r)?;
    // The watermark never runs ahead of the server's clock: one future-dated row would otherwise
    // freeze every later update pull at zero rows. A stored watermark from the future (written
    // before this check existed) is bounded the same way.
    let server_now = stats.server_date.map(|d| d.naive_utc());
    let tolerance = chrono::Duration::seconds(gucs::WATERMARK_TOLERANCE_S.get().max(0) as i64);
    let stored = source.watermark.as_deref().and_then(gn_protocol::time::parse_timestamp);
    let candidate = match mode {
        Mode::Full => r.watermark.or(stored),
        Mode::Update => gn_client::advance_watermark(stored, r.watermark),
    };
    let (bounded, warning) = gn_client::bound_watermark(candidate, server_now, tolerance);
    r.watermark = bounded;
    if let Some(w) = warning {
        r.warn(w);
    }
    if geonature.loader.is_some() {
        let g = &r.synthese;
        notice(&format!(
            "gn_flux: {source_name}: GeoNature: {} inserted, {} updated, {} deleted, {} rejected{}, {} metadata rows written",
            g.inserted,
            g.updated,
            g.deleted,
            g.rejected,
            if g.rejected > 0 { " (reasons in gn_flux.synthese_reject)" } else { "" },
            g.metadata_written
        ));
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
