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

use crate::config::SourceConfig;
use crate::session::Session;
use crate::ClientError;
use gn_protocol::page::{ExportPage, Items};
use gn_protocol::query::RESERVED_PARAMS;
use gn_protocol::{ExportQuery, Filter, FilterOp, OrderBy};
use serde_json::Value;

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
}

fn pages_for(total: u64, limit: u64) -> u64 {
    if limit == 0 {
        1
    } else {
        total.div_ceil(limit)
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
        w
    }

    /// The separate metadata export of `cfg` (offset paging in the server's default order, no
    /// filters, the same token); `None` when the source has none.
    pub fn metadata(cfg: &SourceConfig) -> Option<ExportWalk> {
        let id = cfg.metadata_export_id?;
        let mut w = ExportWalk::new(id, cfg.token.clone(), cfg.page_size, false);
        w.order = None;
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
        }
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

    fn deliver(&mut self, page: ExportPage, bytes: u64) -> WalkPage {
        let index = self.delivered;
        self.delivered += 1;
        WalkPage { index, page, bytes }
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
        let (items, feature) = match &page.items {
            Items::Rows(v) => (v, false),
            Items::Features(v) => (v, true),
        };
        let ids: Vec<i64> = items.iter().filter_map(|i| item_id(i, feature)).collect();
        if let Some(b) = bound {
            if ids.iter().any(|id| *id < b) {
                // The server ignored the bound: discard this reply, go on with page indexes.
                self.fallback = true;
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
                    self.mode = Mode::Offset {
                        bound,
                        next: 1,
                        pages_total: Some(pages_for(t, limit)),
                    };
                }
                _ => self.done = true,
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
            self.done = true;
        } else {
            self.mode = Mode::Keyset {
                bound: Some(max_id.saturating_add(1)),
            };
        }
        Ok(Some(self.deliver(page, bytes)))
    }

    fn next_offset(
        &mut self,
        s: &mut Session,
        bound: Option<i64>,
        next: u64,
        pages_total: Option<u64>,
    ) -> Result<Option<WalkPage>, ClientError> {
        if pages_total.is_some_and(|t| next >= t) {
            self.done = true;
            return Ok(None);
        }
        let (page, bytes) = self.fetch(s, next, bound)?;
        let limit = page.limit;
        let pages_total = match pages_total {
            Some(t) => t,
            // An offset-0 reply: its total_filtered counts every matching row.
            None => pages_for(page.total_filtered.unwrap_or(page.total), limit),
        };
        let feature = matches!(page.items, Items::Features(_));
        let empty = page.items.is_empty() && (!feature || page.total_filtered.is_none_or(|t| t == 0));
        if empty || page.total_filtered == Some(0) {
            self.done = true;
            return Ok(None);
        }
        let next = next + 1;
        if limit == 0 || next >= pages_total {
            self.done = true;
        }
        self.mode = Mode::Offset {
            bound,
            next,
            pages_total: Some(pages_total),
        };
        if page.items.is_empty() {
            return Ok(None); // a FeatureCollection page of NULL geometries only: nothing to deliver
        }
        Ok(Some(self.deliver(page, bytes)))
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
}
