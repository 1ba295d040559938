//! The pull pipeline: one worker thread does every HTTP request and prepares each page while
//! the consumer (the backend's main thread, which alone touches PostgreSQL) writes the previous
//! one. Events go through a `sync_channel(2)`, so the worker runs at most about two pages ahead.
//!
//! Event order: `Started`, then `Deletions` (when asked), then `Metadata` batches (when asked
//! and the source has a metadata export), then one `Page` per data page, then `Finished`; or
//! `Failed` at any point, after which nothing follows. Dropping the [`PullHandle`] cancels the
//! pull: the worker stops at its next cancellation point (between requests, during a backoff
//! sleep, or when it next sends an event and finds the receiver gone). A worker that vanished
//! without `Finished`/`Failed` shows as `RecvTimeoutError::Disconnected`.

use crate::cancel::CancelFlag;
use crate::config::SourceConfig;
use crate::feed::{prepare_feed_item, FeedItem, FeedOptions, FeedPage, FeedWalk};
use crate::prepare::{
    metadata_export_rows, metadata_payload, page_columns, prepare_item, MetaRow, PageColumns, PreparedItem,
};
use crate::session::Session;
use crate::walk::ExportWalk;
use crate::ClientError;
use chrono::{DateTime, NaiveDateTime, Utc};
use gn_protocol::Filter;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

/// What one pull does.
#[derive(Debug, Clone, PartialEq)]
pub struct PullPlan {
    /// Extra export filters (the incremental window, e.g. `filter_d_up_derniere_action`).
    pub window: Vec<Filter>,
    /// Fetch the ids deleted since then from the synthese log (needs a login).
    pub deletions_since: Option<NaiveDateTime>,
    /// Walk the source's separate metadata export first (if it has one).
    pub metadata_export: bool,
    /// Keyset paging (default), else offset paging.
    pub keyset: bool,
    /// Sources of other kinds: the start of an update window (incremental kinds only).
    pub feed_since: Option<NaiveDateTime>,
}

impl Default for PullPlan {
    fn default() -> Self {
        PullPlan {
            window: Vec::new(),
            deletions_since: None,
            metadata_export: false,
            keyset: true,
            feed_since: None,
        }
    }
}

/// One data page, prepared for a set-based write.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedPage {
    /// 0-based page index within the pull.
    pub index: u64,
    /// Items in the page.
    pub items: usize,
    /// Items with an error (they go to `error_log`).
    pub errors: usize,
    /// The page's items in columns ([`page_columns`]), for the database statement.
    pub columns: PageColumns,
    /// [`metadata_payload`] of the `ca_data`/`jdd_data` objects of the page, if any.
    pub metadata_payload: Option<String>,
    /// `id_data` of every item that has one.
    pub ids: Vec<i64>,
    pub max_derniere_action: Option<NaiveDateTime>,
    /// Size of the reply body.
    pub bytes: u64,
    pub feature_collection: bool,
    /// A keyset page: its id range is complete, so rows missing from it may be reconciled page
    /// by page. Offset pages (`keyset = false`, or after the fallback) are not: reconcile only
    /// after a walk that ended with [`PullStats::complete`].
    pub reconcilable: bool,
    /// The walk pass (1-based) that delivered the page: the pages of the last pass of a
    /// complete walk hold every row.
    pub pass: u32,
    /// Sources of other kinds: each item's key (the database maps keys to `id_data`, then fills
    /// `columns.ids` and `ids`). Empty for GeoNature exports.
    pub keys: Vec<Option<String>>,
}

impl PreparedPage {
    /// The page as one JSON array of `{"i", "g", "e", "id", "u"}` objects (diagnostics, tests).
    pub fn payload(&self) -> String {
        self.columns.to_json()
    }
}

/// Counters of a finished pull.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullStats {
    /// Data pages delivered.
    pub pages: u64,
    /// HTTP requests (every attempt and login included).
    pub requests: u64,
    pub retries: u64,
    pub logins: u64,
    /// Reply body bytes.
    pub bytes: u64,
    /// The data walk fell back from keyset to offset paging.
    pub keyset_fallback: bool,
    /// `Date` header of the last reply of the data walk.
    pub server_date: Option<DateTime<Utc>>,
    /// `Date` header of the first reply of the data walk.
    pub server_date_first: Option<DateTime<Utc>>,
    /// The data walk delivered every row: a keyset walk, or an offset walk whose last pass saw
    /// no change (see [`ExportWalk::is_complete`]).
    pub complete: bool,
    /// Passes of the data walk (1 for keyset; more when an offset pass saw the export change).
    pub passes: u32,
    /// The largest `derniere_action` of the delivered items (server LOCAL time, unchecked:
    /// bound it with [`crate::watermark::bound_watermark`] before using it as a watermark).
    pub max_derniere_action: Option<NaiveDateTime>,
    /// Ids that appeared in the synthese log's deletions during an offset walk (after the
    /// `Deletions` event); only when `deletions_since` was given.
    pub late_deletions: Vec<i64>,
}

impl PullStats {
    /// The session's counters (requests, retries, logins, bytes, server dates); the walk's own
    /// fields are left at their defaults.
    fn of_session(st: &crate::session::SessionStats, server_date_first: Option<DateTime<Utc>>) -> PullStats {
        PullStats {
            requests: st.requests,
            retries: st.retries,
            logins: st.logins,
            bytes: st.bytes,
            server_date: st.server_date,
            server_date_first,
            ..PullStats::default()
        }
    }
}

/// What the worker reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Started { module_path: String },
    Deletions(Vec<i64>),
    Metadata(Vec<MetaRow>),
    Page(PreparedPage),
    Finished(PullStats),
    Failed(ClientError),
}

/// Whether the worker thread is still running (usable after the handle is gone).
#[derive(Debug, Clone)]
pub struct WorkerProbe(Arc<AtomicBool>);

impl WorkerProbe {
    pub fn is_alive(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The consumer's end of a pull. Dropping it cancels the pull.
#[derive(Debug)]
pub struct PullHandle {
    rx: Receiver<Event>,
    cancel: CancelFlag,
    alive: WorkerProbe,
}

impl PullHandle {
    /// The next event, waiting at most `d` (poll in short steps to stay interruptible).
    pub fn recv_timeout(&self, d: Duration) -> Result<Event, RecvTimeoutError> {
        self.rx.recv_timeout(d)
    }

    pub fn try_recv(&self) -> Result<Event, TryRecvError> {
        self.rx.try_recv()
    }

    /// Asks the worker to stop; it then reports `Failed(Cancelled)` if it can.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    pub fn cancel_flag(&self) -> &CancelFlag {
        &self.cancel
    }

    pub fn worker_probe(&self) -> WorkerProbe {
        self.alive.clone()
    }
}

impl Drop for PullHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Sets the probe to "dead" when the worker ends, however it ends.
struct AliveGuard(Arc<AtomicBool>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

enum Stop {
    Failed(ClientError),
    /// The receiver is gone: nobody to tell.
    Gone,
}

impl From<ClientError> for Stop {
    fn from(e: ClientError) -> Self {
        Stop::Failed(e)
    }
}

fn send(tx: &SyncSender<Event>, cancel: &CancelFlag, ev: Event) -> Result<(), Stop> {
    cancel.check()?;
    tx.send(ev).map_err(|_| Stop::Gone)
}

/// Prepares one walked page.
pub fn prepare_page(mut wp: crate::walk::WalkPage) -> PreparedPage {
    let bytes = wp.bytes;
    let index = wp.index;
    let (raw, feature) = wp.take_items();
    let mut prepared: Vec<_> = raw.into_iter().map(|r| prepare_item(r, feature)).collect();
    mark_duplicates(&mut prepared);
    let meta: Vec<MetaRow> = prepared.iter().flat_map(|p| p.metadata.iter().cloned()).collect();
    PreparedPage {
        index,
        items: prepared.len(),
        errors: prepared.iter().filter(|p| p.error.is_some()).count(),
        columns: page_columns(&prepared),
        metadata_payload: (!meta.is_empty()).then(|| metadata_payload(&meta)),
        ids: prepared.iter().filter_map(|p| p.id_data).collect(),
        max_derniere_action: prepared.iter().filter_map(|p| p.derniere_action).max(),
        bytes,
        feature_collection: feature,
        reconcilable: wp.reconcilable,
        pass: wp.pass,
        keys: Vec::new(),
    }
}

/// Prepares one page of a feed (a source of another kind).
pub fn prepare_feed_page(source: &str, opts: &FeedOptions, index: u64, page: FeedPage) -> PreparedPage {
    let features = page.features;
    let mut items: Vec<FeedItem> = page
        .items
        .into_iter()
        .map(|raw| prepare_feed_item(source, opts, raw, features))
        .collect();
    mark_feed_duplicates(&mut items);
    let mut columns = PageColumns::default();
    let mut keys = Vec::with_capacity(items.len());
    for it in &items {
        columns.items.push(crate::prepare::to_jsonb_ordered_text(&it.item));
        columns.geoms.push(it.geom.clone());
        columns.errors.push(it.error.clone());
        columns.ids.push(None);
        columns
            .uuids
            .push(if it.error.is_none() { it.uuid.clone() } else { None });
        keys.push(if it.error.is_none() { it.key.clone() } else { None });
    }
    PreparedPage {
        index,
        items: items.len(),
        errors: items.iter().filter(|p| p.error.is_some()).count(),
        columns,
        metadata_payload: None,
        ids: Vec::new(),
        max_derniere_action: items.iter().filter_map(|p| p.modified).max(),
        bytes: page.bytes,
        feature_collection: features,
        reconcilable: false,
        pass: page.pass,
        keys,
    }
}

/// Items of one feed page that repeat a key or a uuid: every occurrence but the last gets an
/// error (as [`mark_duplicates`] for exports).
fn mark_feed_duplicates(items: &mut [FeedItem]) {
    use std::collections::HashMap;
    for by_uuid in [false, true] {
        let value = |it: &FeedItem| if by_uuid { it.uuid.clone() } else { it.key.clone() };
        let mut last: HashMap<String, usize> = HashMap::new();
        for (i, it) in items.iter().enumerate() {
            if let (None, Some(v)) = (&it.error, value(it)) {
                last.insert(v, i);
            }
        }
        for (i, it) in items.iter_mut().enumerate() {
            if let (None, Some(v)) = (&it.error, value(it)) {
                if last.get(&v) != Some(&i) {
                    let what = if by_uuid { "uuid" } else { "key" };
                    it.error = Some(format!(
                        "{what} {v} appears again later in the same page; the later item was kept"
                    ));
                }
            }
        }
    }
}

/// Items of one page that repeat an `id_synthese` (every occurrence but the last, which is kept)
/// or share a uuid with another item cannot be stored: they get an error, so the database
/// statement does not have to look for them.
pub fn mark_duplicates(items: &mut [PreparedItem]) {
    use std::collections::HashMap;
    let mut last: HashMap<i64, usize> = HashMap::new();
    for (i, it) in items.iter().enumerate() {
        if let (None, Some(id)) = (&it.error, it.id_data) {
            last.insert(id, i);
        }
    }
    for (i, it) in items.iter_mut().enumerate() {
        if let (None, Some(id)) = (&it.error, it.id_data) {
            if last.get(&id) != Some(&i) {
                it.error = Some(format!(
                    "id_synthese {id} appears again later in the same page; the later item was kept"
                ));
            }
        }
    }
    let mut uses: HashMap<String, usize> = HashMap::new();
    for it in items.iter().filter(|it| it.error.is_none()) {
        if let Some(u) = &it.uuid {
            *uses.entry(u.clone()).or_default() += 1;
        }
    }
    for it in items.iter_mut().filter(|it| it.error.is_none()) {
        if let Some(u) = &it.uuid {
            if uses.get(u).copied().unwrap_or(0) > 1 {
                it.error = Some(format!("uuid {u} is used by several items of the same page"));
            }
        }
    }
}

/// A source of another kind: its walk, page by page.
fn run_feed(
    cfg: SourceConfig,
    opts: FeedOptions,
    plan: PullPlan,
    cancel: &CancelFlag,
    tx: &SyncSender<Event>,
) -> Result<(), Stop> {
    let mut session = Session::new(cfg.clone(), cancel.clone())?;
    send(
        tx,
        cancel,
        Event::Started {
            module_path: String::new(),
        },
    )?;
    let since = if opts.incremental() { plan.feed_since } else { None };
    let mut walk = FeedWalk::new(
        session.root(),
        opts.clone(),
        cfg.query_strings.clone(),
        cfg.page_size,
        since,
        cfg.token.clone(),
        cfg.max_walk_passes,
    );
    let mut server_date_first = None;
    let mut max_modified = None;
    let mut index = 0u64;
    while let Some(page) = walk.next_page(&mut session)? {
        if server_date_first.is_none() {
            server_date_first = session.stats().server_date;
        }
        // (the walk's options: a WFS layer's CRS is read from the server's capabilities)
        let prepared = prepare_feed_page(&cfg.source_name, walk.options(), index, page);
        index += 1;
        max_modified = max_modified.max(prepared.max_derniere_action);
        send(tx, cancel, Event::Page(prepared))?;
    }
    let stats = PullStats {
        pages: walk.pages_delivered(),
        complete: walk.is_complete(),
        passes: walk.passes(),
        max_derniere_action: max_modified,
        ..PullStats::of_session(session.stats(), server_date_first)
    };
    send(tx, cancel, Event::Finished(stats))
}

fn run(cfg: SourceConfig, plan: PullPlan, cancel: &CancelFlag, tx: &SyncSender<Event>) -> Result<(), Stop> {
    if let Some(opts) = cfg.feed.clone() {
        return run_feed(cfg, opts, plan, cancel, tx);
    }
    let mut session = Session::new(cfg.clone(), cancel.clone())?;
    let module_path = session.module_path()?;
    send(tx, cancel, Event::Started { module_path })?;
    let mut walk = ExportWalk::data(&cfg, plan.window, plan.keyset);
    if let Some(since) = plan.deletions_since {
        let ids = session.fetch_deletions(since)?;
        walk.watch_deletions(since, &ids);
        send(tx, cancel, Event::Deletions(ids))?;
    }
    if plan.metadata_export {
        if let Some(mut walk) = ExportWalk::metadata(&cfg) {
            while let Some(mut page) = walk.next_page(&mut session)? {
                let (items, _) = page.take_items();
                let rows: Vec<MetaRow> = items.into_iter().flat_map(metadata_export_rows).collect();
                send(tx, cancel, Event::Metadata(rows))?;
            }
        }
    }
    let mut server_date_first = None;
    let mut max_derniere_action = None;
    loop {
        let next = walk.next_page(&mut session)?;
        if walk.page_requests() > 0 && server_date_first.is_none() {
            server_date_first = session.stats().server_date;
        }
        let Some(page) = next else { break };
        let prepared = prepare_page(page);
        max_derniere_action = max_derniere_action.max(prepared.max_derniere_action);
        send(tx, cancel, Event::Page(prepared))?;
    }
    let stats = PullStats {
        pages: walk.pages_delivered(),
        keyset_fallback: walk.keyset_fallback(),
        complete: walk.is_complete(),
        passes: walk.passes(),
        max_derniere_action,
        late_deletions: walk.new_deletions().to_vec(),
        ..PullStats::of_session(session.stats(), server_date_first)
    };
    send(tx, cancel, Event::Finished(stats))
}

/// Starts one worker thread for a pull. The worker needs no PostgreSQL.
pub fn spawn_pull(cfg: SourceConfig, plan: PullPlan, cancel: CancelFlag) -> PullHandle {
    let (tx, rx) = sync_channel(2);
    let alive = Arc::new(AtomicBool::new(true));
    let handle = PullHandle {
        rx,
        cancel: cancel.clone(),
        alive: WorkerProbe(alive.clone()),
    };
    let guard = AliveGuard(alive);
    let worker_tx = tx.clone();
    let spawned = std::thread::Builder::new().name("gn_flux pull".into()).spawn(move || {
        let _guard = guard;
        match run(cfg, plan, &cancel, &worker_tx) {
            Ok(()) | Err(Stop::Gone) => {}
            Err(Stop::Failed(e)) => {
                let _ = worker_tx.send(Event::Failed(e));
            }
        }
    });
    if let Err(e) = spawned {
        // The closure (and the guard in it) was dropped: the probe already says "dead".
        let _ = tx.send(Event::Failed(ClientError::Protocol {
            url: String::new(),
            page: None,
            reason: format!("cannot start the pull thread: {e}"),
        }));
    }
    handle
}
