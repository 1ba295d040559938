//! Walking an export page by page, in id order.
//!
//! **Keyset mode** (default): every request asks for `offset=0`, `orderby=id_synthese`,
//! `limit=page_size` and, from the second page on, `filter_n_up_id_synthese=<last id + 1>`.
//! Each page costs the server one index range scan instead of an OFFSET scan, and rows that
//! change during the walk cannot shift the pages (no holes, no duplicates). The reply's
//! `limit` L is trusted (servers cap it; 0 = everything came at once). The walk ends when the
//! reply's `total_filtered` (counted from the bound) is at most L, on an empty page, or on a
//! short flat page. A FeatureCollection drops NULL-geometry rows, so a short FeatureCollection
//! page is not the end: there only `total_filtered` or an empty page end it.
//!
//! **Fallback**: a server that ignores the bound (it answers ids below it) is detected on the
//! first bounded page: that reply is discarded and the walk continues with page-index paging
//! (`offset=<k>`, explicit `orderby=id_synthese`) at k = the number of pages already delivered,
//! the page count taken from the discarded reply (an offset-0 reply, so its `total_filtered`
//! counts every row). This costs exactly one extra request; no page is requested twice
//! otherwise.
//!
//! **Offset mode**: `pages = ceil(total_filtered / L)` from the offset-0 reply (GeoNature counts
//! `total_filtered` after the OFFSET, so only page 0's value is the full count); the walk stops
//! after the last page or on an empty page.
//!
//! **Passes**: page-index paging is not stable: a row deleted upstream during the walk shifts
//! later rows onto pages already fetched, and they would never be delivered. So an offset walk
//! (from the start, or after the fallback) watches every reply: `total`, and the matching count
//! implied by `total_filtered` (`total_filtered + offset·limit`, page 0's full count), must stay
//! the same across a pass, and, when the caller watches the synthese log
//! ([`ExportWalk::watch_deletions`]), no new deletion may appear. A pass that saw a change is
//! followed by a new pass from page 0 (pages may then be delivered again: the consumer upserts),
//! at most `max_walk_passes` passes; [`ExportWalk::is_complete`] says whether the last pass saw
//! no change. Keyset pages are id ranges, complete by construction and safe to reconcile one by
//! one ([`WalkPage::reconcilable`]); offset pages are not.
//!
//! **No progress**: a keyset bound that does not advance (an `id_synthese` at `i64::MAX`), or an
//! offset page identical to the previous one, stops the walk with [`ClientError::NoProgress`]
//! instead of looping.

use crate::config::SourceConfig;
use crate::session::Session;
use crate::ClientError;
use chrono::NaiveDateTime;
use gn_protocol::page::{ExportPage, Items};
use gn_protocol::query::RESERVED_PARAMS;
use gn_protocol::{ExportQuery, Filter, FilterOp, OrderBy};
use serde_json::Value;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};

/// The id column of Synthese exports.
pub const ID_COLUMN: &str = "id_synthese";

/// One delivered page of a walk.
#[derive(Debug, Clone, PartialEq)]
pub struct WalkPage {
    /// 0-based index among the delivered pages.
    pub index: u64,
    pub page: ExportPage,
    /// Size of the reply body.
    pub bytes: u64,
    /// A keyset page: an id range complete at the time of its reply, safe to reconcile on its
    /// own. Offset pages are not (rows may have shifted between pages).
    pub reconcilable: bool,
    /// The pass (1-based) that delivered the page.
    pub pass: u32,
}

impl WalkPage {
    pub fn is_feature_collection(&self) -> bool {
        matches!(self.page.items, Items::Features(_))
    }

    /// Takes the raw items out of the page, with whether they are GeoJSON features.
    pub fn take_items(&mut self) -> (Vec<Value>, bool) {
        match std::mem::replace(&mut self.page.items, Items::Rows(Vec::new())) {
            Items::Rows(v) => (v, false),
            Items::Features(v) => (v, true),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Keyset {
        bound: Option<i64>,
    },
    Offset {
        /// A keyset bound the server honours, kept as a filter (see `next_keyset`).
        bound: Option<i64>,
        next: u64,
        pages_total: Option<u64>,
    },
}

/// A walk over one export. Call [`ExportWalk::next_page`] until it returns `Ok(None)`.
#[derive(Debug, Clone)]
pub struct ExportWalk {
    export_id: i64,
    token: Option<String>,
    filters: Vec<Filter>,
    extra: Vec<(String, String)>,
    /// The ordering (and keyset) column; `None` = the server's default order (the view pk).
    order: Option<String>,
    page_size: u64,
    mode: Mode,
    delivered: u64,
    requests: u64,
    fallback: bool,
    done: bool,
    /// Passes allowed (at least 1).
    max_passes: u32,
    /// The current pass, 1-based.
    pass: u32,
    /// The current pass saw the export change.
    changed: bool,
    /// `total` of the current pass's first reply.
    ref_total: Option<u64>,
    /// Rows matching in the current offset mode (`total_filtered + offset·limit`).
    ref_matching: Option<u64>,
    /// Fingerprint of the previous offset page of this pass.
    prev_fingerprint: Option<u64>,
    /// Offset paging was used (from the start, by fallback, or for NULL geometries).
    offset_used: bool,
    /// The last pass ended without seeing a change.
    complete: bool,
    /// Deletions watched in the synthese log: since when, and the ids already known.
    deletions: Option<(NaiveDateTime, BTreeSet<i64>)>,
    /// Deletions that appeared in the log during the walk.
    new_deletions: Vec<i64>,
}

fn pages_for(total: u64, limit: u64) -> u64 {
    if limit == 0 {
        1
    } else {
        total.div_ceil(limit)
    }
}

/// A fingerprint of a page's items (their ids when they all have one, else their JSON text).
fn fingerprint(items: &[Value], feature: bool) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    items.len().hash(&mut h);
    for it in items {
        match item_id(it, feature) {
            Some(id) => id.hash(&mut h),
            None => it.to_string().hash(&mut h),
        }
    }
    h.finish()
}

/// The keyset bound after a page whose largest id is `max_id`; `None` when it would not move
/// past `prev` (no progress).
fn next_bound(prev: Option<i64>, max_id: i64) -> Option<i64> {
    let next = max_id.checked_add(1)?;
    match prev {
        Some(p) if next <= p => None,
        _ => Some(next),
    }
}

/// `id_synthese` of a row or of a feature's properties (an integer or a string of digits).
fn item_id(item: &Value, feature: bool) -> Option<i64> {
    let row = if feature { item.get("properties")? } else { item };
    match row.get(ID_COLUMN)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl ExportWalk {
    /// The data export of `cfg` (`export_id`, `token`, `page_size`, `query_strings`) with the
    /// window filters (e.g. `filter_d_up_derniere_action`); keyset or offset paging.
    pub fn data(cfg: &SourceConfig, window: Vec<Filter>, keyset: bool) -> ExportWalk {
        let mut w = ExportWalk::new(cfg.export_id, cfg.token.clone(), cfg.page_size, keyset);
        w.filters = window;
        w.extra = cfg.query_strings.clone();
        w.max_passes = cfg.max_walk_passes.max(1);
        w
    }

    /// The separate metadata export of `cfg` (offset paging in the server's default order, no
    /// filters, the same token); `None` when the source has none.
    pub fn metadata(cfg: &SourceConfig) -> Option<ExportWalk> {
        let id = cfg.metadata_export_id?;
        let mut w = ExportWalk::new(id, cfg.token.clone(), cfg.page_size, false);
        w.order = None;
        w.max_passes = cfg.max_walk_passes.max(1);
        Some(w)
    }

    /// A bare walk ordered by `id_synthese`.
    pub fn new(export_id: i64, token: Option<String>, page_size: u64, keyset: bool) -> ExportWalk {
        ExportWalk {
            export_id,
            token,
            filters: Vec::new(),
            extra: Vec::new(),
            order: Some(ID_COLUMN.to_string()),
            page_size,
            mode: if keyset {
                Mode::Keyset { bound: None }
            } else {
                Mode::Offset {
                    bound: None,
                    next: 0,
                    pages_total: None,
                }
            },
            delivered: 0,
            requests: 0,
            fallback: false,
            done: false,
            max_passes: crate::config::DEFAULT_MAX_WALK_PASSES,
            pass: 1,
            changed: false,
            ref_total: None,
            ref_matching: None,
            prev_fingerprint: None,
            offset_used: !keyset,
            complete: false,
            deletions: None,
            new_deletions: Vec::new(),
        }
    }

    /// Sets the number of passes allowed to an offset walk (at least 1).
    pub fn set_max_passes(&mut self, n: u32) {
        self.max_passes = n.max(1);
    }

    /// Watches the synthese log during an offset walk: at the end of each pass the ids deleted
    /// since `since` are fetched again (needs a login); one not in `known` means the pass saw a
    /// change. A keyset walk does not need it and makes no log request.
    pub fn watch_deletions(&mut self, since: NaiveDateTime, known: &[i64]) {
        self.deletions = Some((since, known.iter().copied().collect()));
    }

    /// Deletions that appeared in the watched log during the walk (sorted).
    pub fn new_deletions(&self) -> &[i64] {
        &self.new_deletions
    }

    /// Once the walk is done: whether it delivered every row. A keyset walk is complete by
    /// construction; an offset walk when its last pass saw no change.
    pub fn is_complete(&self) -> bool {
        self.done && self.complete
    }

    /// Passes walked so far (1 for a keyset walk).
    pub fn passes(&self) -> u32 {
        self.pass
    }

    /// Pages delivered so far.
    pub fn pages_delivered(&self) -> u64 {
        self.delivered
    }

    /// Page requests made so far (retries of one request not counted).
    pub fn page_requests(&self) -> u64 {
        self.requests
    }

    /// Whether the walk fell back from keyset to offset paging.
    pub fn keyset_fallback(&self) -> bool {
        self.fallback
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The query string of one request.
    pub fn query_string(&self, offset: u64, bound: Option<i64>) -> String {
        let mut filters = Vec::with_capacity(self.filters.len() + 1);
        if let (Some(b), Some(col)) = (bound, &self.order) {
            filters.push(Filter::new(FilterOp::NumGe, col.clone(), b.to_string()));
        }
        filters.extend(self.filters.iter().cloned());
        let q = ExportQuery {
            limit: Some(self.page_size),
            page: offset,
            orderby: self.order.as_ref().map(|c| OrderBy::asc(c.clone())),
            token: None,
            filters,
        };
        let mut s = q.to_query_string();
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        let mut any = false;
        for (k, v) in &self.extra {
            if RESERVED_PARAMS.contains(&k.as_str()) {
                continue;
            }
            ser.append_pair(k, v);
            any = true;
        }
        if any {
            s.push('&');
            s.push_str(&ser.finish());
        }
        s
    }

    fn fetch(&mut self, s: &mut Session, offset: u64, bound: Option<i64>) -> Result<(ExportPage, u64), ClientError> {
        let q = self.query_string(offset, bound);
        self.requests += 1;
        let f = s.export_page(self.export_id, self.token.as_deref(), &q, Some(self.delivered))?;
        Ok((f.page, f.bytes))
    }

    fn deliver(&mut self, page: ExportPage, bytes: u64, reconcilable: bool) -> WalkPage {
        let index = self.delivered;
        self.delivered += 1;
        WalkPage {
            index,
            page,
            bytes,
            reconcilable,
            pass: self.pass,
        }
    }

    /// Compares one reply with the pass's first: `offset` is the page index of an offset-mode
    /// reply (its `total_filtered` then gives the matching count), `None` for a keyset reply.
    fn observe(&mut self, page: &ExportPage, offset: Option<u64>) {
        match self.ref_total {
            None => self.ref_total = Some(page.total),
            Some(t) if t != page.total => self.changed = true,
            Some(_) => {}
        }
        if let (Some(k), Some(tf)) = (offset, page.total_filtered) {
            if page.limit > 0 && tf > 0 {
                let matching = tf.saturating_add(k.saturating_mul(page.limit));
                match self.ref_matching {
                    None => self.ref_matching = Some(matching),
                    Some(m) if m != matching => self.changed = true,
                    Some(_) => {}
                }
            }
        }
    }

    fn no_progress(&self, s: &Session, reason: String) -> ClientError {
        ClientError::NoProgress {
            url: s.export_url(self.export_id),
            page: Some(self.delivered),
            reason,
        }
    }

    /// The current pass is over: the walk is done, or starts a new pass from page 0.
    fn end_pass(&mut self, s: &mut Session) -> Result<(), ClientError> {
        if !self.offset_used {
            self.complete = true;
            self.done = true;
            return Ok(());
        }
        if let Some((since, known)) = &mut self.deletions {
            let now: BTreeSet<i64> = s.fetch_deletions(*since)?.into_iter().collect();
            let fresh: Vec<i64> = now.difference(known).copied().collect();
            if !fresh.is_empty() {
                self.changed = true;
                self.new_deletions.extend(fresh);
                self.new_deletions.sort_unstable();
                *known = now;
            }
        }
        if !self.changed {
            self.complete = true;
            self.done = true;
        } else if self.pass >= self.max_passes {
            self.complete = false;
            self.done = true;
        } else {
            self.pass += 1;
            self.changed = false;
            self.ref_total = None;
            self.ref_matching = None;
            self.prev_fingerprint = None;
            self.mode = Mode::Offset {
                bound: None,
                next: 0,
                pages_total: None,
            };
        }
        Ok(())
    }

    /// The next page, or `None` at the end.
    pub fn next_page(&mut self, s: &mut Session) -> Result<Option<WalkPage>, ClientError> {
        loop {
            if self.done {
                return Ok(None);
            }
            match self.mode {
                Mode::Keyset { bound } => {
                    if let Some(p) = self.next_keyset(s, bound)? {
                        return Ok(Some(p));
                    }
                }
                Mode::Offset {
                    bound,
                    next,
                    pages_total,
                } => {
                    if let Some(p) = self.next_offset(s, bound, next, pages_total)? {
                        return Ok(Some(p));
                    }
                }
            }
        }
    }

    /// One keyset step: `Some(page)`, or `None` when the walk ended or changed mode.
    fn next_keyset(&mut self, s: &mut Session, bound: Option<i64>) -> Result<Option<WalkPage>, ClientError> {
        let (page, bytes) = self.fetch(s, 0, bound)?;
        let limit = page.limit;
        let ignored = bound.is_some_and(|b| {
            let (items, feature) = match &page.items {
                Items::Rows(v) => (v, false),
                Items::Features(v) => (v, true),
            };
            items.iter().any(|i| item_id(i, feature).is_some_and(|id| id < b))
        });
        // A reply that ignored the bound is an offset-0 reply: its total_filtered is the full count.
        self.observe(&page, ignored.then_some(0));
        let (items, feature) = match &page.items {
            Items::Rows(v) => (v, false),
            Items::Features(v) => (v, true),
        };
        let ids: Vec<i64> = items.iter().filter_map(|i| item_id(i, feature)).collect();
        if let Some(b) = bound {
            if ids.iter().any(|id| *id < b) {
                // The server ignored the bound: discard this reply, go on with page indexes.
                self.fallback = true;
                self.offset_used = true;
                let total = page.total_filtered.unwrap_or(page.total);
                self.mode = Mode::Offset {
                    bound: None,
                    next: self.delivered,
                    pages_total: Some(pages_for(total, limit)),
                };
                return Ok(None);
            }
        }
        let n = items.len() as u64;
        let tf = page.total_filtered;
        if n == 0 {
            match tf {
                // Only NULL-geometry rows in a FeatureCollection page: the bound cannot move,
                // so page through the rest by index, keeping the (honoured) bound.
                Some(t) if feature && limit > 0 && t > limit => {
                    self.offset_used = true;
                    self.ref_matching = None;
                    self.mode = Mode::Offset {
                        bound,
                        next: 1,
                        pages_total: Some(pages_for(t, limit)),
                    };
                }
                _ => self.end_pass(s)?,
            }
            return Ok(None);
        }
        let Some(max_id) = ids.iter().max().copied() else {
            return Err(ClientError::Protocol {
                url: s.export_url(self.export_id),
                page: Some(self.delivered),
                reason: format!(
                    "the items carry no integer {ID_COLUMN}: keyset paging is impossible, use offset paging"
                ),
            });
        };
        let end = limit == 0 || tf.is_some_and(|t| t <= limit) || (!feature && n < limit);
        if end {
            self.end_pass(s)?;
        } else {
            let Some(next) = next_bound(bound, max_id) else {
                return Err(self.no_progress(
                    s,
                    format!(
                        "the keyset bound does not advance: the page's largest {ID_COLUMN} is {max_id} (bound {}) and the server announces more rows",
                        bound.map_or_else(|| "none".to_string(), |b| b.to_string())
                    ),
                ));
            };
            self.mode = Mode::Keyset { bound: Some(next) };
        }
        Ok(Some(self.deliver(page, bytes, true)))
    }

    fn next_offset(
        &mut self,
        s: &mut Session,
        bound: Option<i64>,
        next: u64,
        pages_total: Option<u64>,
    ) -> Result<Option<WalkPage>, ClientError> {
        if pages_total.is_some_and(|t| next >= t) {
            self.end_pass(s)?;
            return Ok(None);
        }
        let (page, bytes) = self.fetch(s, next, bound)?;
        self.observe(&page, Some(next));
        let limit = page.limit;
        let pages_total = match pages_total {
            Some(t) => t,
            // An offset-0 reply: its total_filtered counts every matching row.
            None => pages_for(page.total_filtered.unwrap_or(page.total), limit),
        };
        let feature = matches!(page.items, Items::Features(_));
        let empty = page.items.is_empty() && (!feature || page.total_filtered.is_none_or(|t| t == 0));
        if empty || page.total_filtered == Some(0) {
            self.end_pass(s)?;
            return Ok(None);
        }
        if !page.items.is_empty() {
            let (items, feature) = match &page.items {
                Items::Rows(v) => (v, false),
                Items::Features(v) => (v, true),
            };
            let fp = fingerprint(items, feature);
            if self.prev_fingerprint == Some(fp) {
                return Err(self.no_progress(
                    s,
                    format!("page {next} (offset) has the same items as the page before it"),
                ));
            }
            self.prev_fingerprint = Some(fp);
        }
        let next = next + 1;
        self.mode = Mode::Offset {
            bound,
            next,
            pages_total: Some(pages_total),
        };
        let pass = self.pass;
        if limit == 0 || next >= pages_total {
            self.end_pass(s)?;
        }
        if page.items.is_empty() {
            return Ok(None); // a FeatureCollection page of NULL geometries only: nothing to deliver
        }
        let mut wp = self.deliver(page, bytes, false);
        wp.pass = pass;
        Ok(Some(wp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings() {
        let cfg = SourceConfig {
            page_size: 500,
            query_strings: vec![
                ("cd_nom".into(), "61098".into()),
                ("limit".into(), "7".into()),
                ("token".into(), "secret".into()),
                ("offset".into(), "3".into()),
                ("orderby".into(), "cd_nom".into()),
            ],
            ..SourceConfig::default()
        };
        let w = ExportWalk::data(
            &cfg,
            vec![Filter::new(FilterOp::DateGe, "derniere_action", "2024-01-01 00:00:00")],
            true,
        );
        assert_eq!(
            w.query_string(0, None),
            "limit=500&offset=0&orderby=id_synthese&filter_d_up_derniere_action=2024-01-01+00%3A00%3A00&cd_nom=61098"
        );
        assert_eq!(
            w.query_string(0, Some(1001)),
            "limit=500&offset=0&orderby=id_synthese&filter_n_up_id_synthese=1001&filter_d_up_derniere_action=2024-01-01+00%3A00%3A00&cd_nom=61098"
        );
        let m = ExportWalk::metadata(&SourceConfig {
            metadata_export_id: Some(4),
            ..SourceConfig::default()
        })
        .unwrap();
        assert_eq!(m.query_string(2, None), "limit=1000&offset=2");
        assert!(ExportWalk::metadata(&SourceConfig::default()).is_none());
    }

    #[test]
    fn ids_and_page_counts() {
        let row = serde_json::json!({"id_synthese": 12});
        let f = serde_json::json!({"properties": {"id_synthese": "13"}});
        assert_eq!(
            (item_id(&row, false), item_id(&f, true), item_id(&row, true)),
            (Some(12), Some(13), None)
        );
        assert_eq!(
            (
                pages_for(2500, 1000),
                pages_for(3000, 1000),
                pages_for(0, 1000),
                pages_for(9, 0)
            ),
            (3, 3, 0, 1)
        );
    }

    #[test]
    fn keyset_bounds_must_advance() {
        assert_eq!(next_bound(None, 1000), Some(1001));
        assert_eq!(next_bound(Some(1001), 2000), Some(2001));
        assert_eq!(next_bound(Some(2001), 2000), None, "nothing above the bound");
        assert_eq!(next_bound(None, i64::MAX), None, "no id above i64::MAX");
        assert_eq!(next_bound(Some(5), i64::MAX - 1), Some(i64::MAX));
        assert_eq!(next_bound(Some(i64::MAX), i64::MAX), None);
        let a = vec![
            serde_json::json!({"id_synthese": 1}),
            serde_json::json!({"id_synthese": 2}),
        ];
        let b = vec![
            serde_json::json!({"id_synthese": 1}),
            serde_json::json!({"id_synthese": 3}),
        ];
        let m = vec![serde_json::json!({"uuid": "x"})];
        assert_eq!(fingerprint(&a, false), fingerprint(&a.clone(), false));
        assert_ne!(fingerprint(&a, false), fingerprint(&b, false));
        assert_ne!(
            fingerprint(&m, false),
            fingerprint(&[serde_json::json!({"uuid": "y"})], false)
        );
    }
}
