//! The stand-in's Synthese: generated rows plus a small overlay of mutations, and the query
//! engine behind the export API and the synthese log.
//!
//! Rows `1..=max_id` exist unless deleted. Unmutated rows are pure functions of the seed; the
//! overlay records the version and `derniere_action` of updated or inserted rows, and the deletion
//! log records deletions (as `gn_synthese.t_log_synthese` does).

use crate::data::{base_epoch_end, columns, wkt_bbox, Col, ColumnDef, RowGen, RowState, Shape};
use chrono::NaiveDateTime;
use gn_protocol::log::{CmpOp, LogEntry, LogQuery};
use gn_protocol::query::{ColumnKind, DateArg, Filter, FilterOp, OrderBy};
use gn_protocol::WireValue;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy)]
struct Mutation {
    version: u32,
    derniere_action: NaiveDateTime,
    inserted: bool,
}

/// An HTTP-level failure of a query, as GeoNature would answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryFailure {
    pub status: u16,
    pub message: String,
}

fn fail(status: u16, message: impl Into<String>) -> QueryFailure {
    QueryFailure {
        status,
        message: message.into(),
    }
}

/// One page request of the export API, as the store sees it.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest<'a> {
    pub shape: Shape,
    /// The export has a geometry field (FeatureCollection mode; enables the geometry filter).
    pub geo: bool,
    pub filters: &'a [Filter],
    pub orderby: &'a OrderBy,
    /// `None` = no LIMIT.
    pub limit: Option<u64>,
    /// 0-based page index.
    pub page: u64,
    /// Fault injection: ignore keyset bounds on id_synthese.
    pub ignore_keyset: bool,
}

/// What a page request resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageIds {
    pub ids: Vec<i64>,
    pub total: u64,
    /// GeoNature's quirk: counted after the OFFSET, so max(0, matching − page·limit).
    pub total_filtered: u64,
}

pub struct Store {
    pub gen: RowGen,
    base_rows: i64,
    max_id: i64,
    overlay: BTreeMap<i64, Mutation>,
    deleted: BTreeMap<i64, NaiveDateTime>,
    overlay_max: Option<NaiveDateTime>,
    pick_counter: u64,
}

/// A compiled predicate on one column.
struct Predicate {
    col: Col,
    kind: ColumnKind,
    op: FilterOp,
    text: String,
    date: Option<DateArg>,
    num: Option<f64>,
    bbox: Option<(i64, i64, i64, i64)>,
}

/// A compiled page query.
struct Plan {
    lo: i64,
    hi: i64,
    predicates: Vec<Predicate>,
    /// Only mutated rows can match (a `derniere_action` lower bound after every generated row).
    overlay_only: bool,
}

impl Store {
    pub fn new(rows: i64, seed: u64) -> Store {
        Store {
            gen: RowGen::new(seed),
            base_rows: rows.max(0),
            max_id: rows.max(0),
            overlay: BTreeMap::new(),
            deleted: BTreeMap::new(),
            overlay_max: None,
            pick_counter: 0,
        }
    }

    pub fn reset(&mut self) {
        *self = Store::new(self.base_rows, self.gen.seed);
    }

    pub fn is_live(&self, id: i64) -> bool {
        id >= 1 && id <= self.max_id && !self.deleted.contains_key(&id)
    }

    pub fn live_count(&self) -> u64 {
        (self.max_id as u64).saturating_sub(self.deleted.len() as u64)
    }

    pub fn max_id(&self) -> i64 {
        self.max_id
    }

    pub fn row_state(&self, id: i64) -> RowState {
        match self.overlay.get(&id) {
            Some(m) => RowState {
                id,
                version: m.version,
                derniere_action: m.derniere_action,
            },
            None => RowState {
                id,
                version: 0,
                derniere_action: self.gen.base_derniere_action(id),
            },
        }
    }

    /// Latest `derniere_action` of any live row.
    fn max_derniere_action(&self) -> NaiveDateTime {
        self.overlay_max.map_or(base_epoch_end(), |m| m.max(base_epoch_end()))
    }

    fn touch(&mut self, at: NaiveDateTime) {
        self.overlay_max = Some(self.overlay_max.map_or(at, |m| m.max(at)));
    }

    // ----- mutations ---------------------------------------------------------------------------

    pub fn insert(&mut self, n: u64, at: NaiveDateTime) -> Vec<i64> {
        let mut ids = Vec::with_capacity(n as usize);
        for _ in 0..n {
            self.max_id += 1;
            self.overlay.insert(
                self.max_id,
                Mutation {
                    version: 0,
                    derniere_action: at,
                    inserted: true,
                },
            );
            ids.push(self.max_id);
        }
        if n > 0 {
            self.touch(at);
        }
        ids
    }

    pub fn update_ids(&mut self, ids: &[i64], at: NaiveDateTime) -> Vec<i64> {
        let mut done = Vec::new();
        for &id in ids {
            if !self.is_live(id) {
                continue;
            }
            let st = self.row_state(id);
            let inserted = self.overlay.get(&id).is_some_and(|m| m.inserted);
            self.overlay.insert(
                id,
                Mutation {
                    version: st.version + 1,
                    derniere_action: at,
                    inserted,
                },
            );
            done.push(id);
        }
        if !done.is_empty() {
            self.touch(at);
        }
        done
    }

    pub fn delete_ids(&mut self, ids: &[i64], at: NaiveDateTime) -> Vec<i64> {
        let mut done = Vec::new();
        for &id in ids {
            if !self.is_live(id) {
                continue;
            }
            self.overlay.remove(&id);
            self.deleted.insert(id, at);
            done.push(id);
        }
        done
    }

    /// `n` distinct live ids, pseudo-random but reproducible for a given seed and history.
    pub fn pick_live(&mut self, n: u64) -> Vec<i64> {
        let n = n.min(self.live_count());
        let mut chosen = BTreeSet::new();
        while (chosen.len() as u64) < n {
            self.pick_counter += 1;
            let h = self.gen.uuid(self.pick_counter as i64, 999);
            let v =
                u64::from_str_radix(&h[..8], 16).unwrap_or(0) << 32 | u64::from_str_radix(&h[9..13], 16).unwrap_or(0);
            let id = 1 + (v % self.max_id.max(1) as u64) as i64;
            if self.is_live(id) {
                chosen.insert(id);
            }
        }
        chosen.into_iter().collect()
    }

    // ----- export API ----------------------------------------------------------------------------

    fn compile(&self, shape: Shape, geo: bool, filters: &[Filter], ignore_keyset: bool) -> Result<Plan, QueryFailure> {
        let cols = columns(shape);
        let find = |name: &str| cols.iter().find(|c| c.name == name).copied();
        let mut plan = Plan {
            lo: 1,
            hi: i64::MAX,
            predicates: Vec::new(),
            overlay_only: false,
        };
        for f in filters {
            if f.op == FilterOp::Intersects {
                if !geo {
                    return Err(fail(
                        500,
                        format!(
                            "KeyError: geometry filter {:?} on an export without geometry_field",
                            f.column
                        ),
                    ));
                }
                let bbox =
                    wkt_bbox(&f.value).ok_or_else(|| fail(500, format!("invalid WKT geometry {:?}", f.value)))?;
                plan.predicates.push(Predicate {
                    col: Col::Wkt4326,
                    kind: ColumnKind::Geometry,
                    op: f.op,
                    text: f.value.clone(),
                    date: None,
                    num: None,
                    bbox: Some(bbox),
                });
                continue;
            }
            let Some(c) = find(&f.column) else {
                if f.op == FilterOp::Eq {
                    continue; // unknown parameters are silently ignored
                }
                return Err(fail(500, format!("KeyError: '{}'", f.column)));
            };
            let mut p = Predicate {
                col: c.col,
                kind: c.kind,
                op: f.op,
                text: f.value.clone(),
                date: None,
                num: None,
                bbox: None,
            };
            match f.op {
                FilterOp::DateGe | FilterOp::DateLe | FilterOp::DateEq => {
                    p.date = Some(
                        f.date_arg()
                            .ok_or_else(|| fail(500, format!("ParserError: Unknown string format: {}", f.value)))?,
                    );
                }
                FilterOp::NumGe | FilterOp::NumLe => {
                    p.num = Some(f.num_arg().ok_or_else(|| {
                        fail(
                            500,
                            format!("ValueError: could not convert string to float: '{}'", f.value),
                        )
                    })?);
                    if !matches!(
                        c.kind,
                        ColumnKind::Integer | ColumnKind::BigInt | ColumnKind::Float | ColumnKind::Numeric
                    ) {
                        return Err(fail(500, format!("operator does not exist: {} >= numeric", f.column)));
                    }
                }
                FilterOp::Eq => match c.kind {
                    ColumnKind::Integer | ColumnKind::BigInt if f.value.trim().parse::<i64>().is_err() => {
                        return Err(fail(
                            500,
                            format!("invalid input syntax for type integer: \"{}\"", f.value),
                        ));
                    }
                    ColumnKind::Timestamp if gn_protocol::time::parse_timestamp(&f.value).is_none() => {
                        return Err(fail(
                            500,
                            format!("invalid input syntax for type timestamp: \"{}\"", f.value),
                        ));
                    }
                    ColumnKind::Json => return Err(fail(500, "operator does not exist: jsonb = character varying")),
                    _ => {}
                },
                _ => {}
            }
            if !c.kind.accepts(f.op) {
                continue; // GeoNature silently skips filters its reflection does not support
            }
            if c.col == Col::IdSynthese {
                if ignore_keyset && f.op != FilterOp::Eq {
                    continue; // fault injection: a server that ignores keyset bounds
                }
                if self.narrow_ids(&mut plan, &p) {
                    continue;
                }
            }
            if c.col == Col::DerniereAction {
                if let Some(DateArg::Timestamp(t)) = p.date {
                    if f.op == FilterOp::DateLe && t >= self.max_derniere_action() {
                        continue; // bound above every row: always true
                    }
                    if f.op == FilterOp::DateGe && t >= base_epoch_end() {
                        plan.overlay_only = true;
                    }
                }
            }
            plan.predicates.push(p);
        }
        Ok(plan)
    }

    /// Turns a predicate on id_synthese into id bounds; false when it cannot be expressed so.
    fn narrow_ids(&self, plan: &mut Plan, p: &Predicate) -> bool {
        let (lo, hi) = match (p.op, p.num, p.date) {
            (FilterOp::NumGe, Some(v), _) => (v.ceil() as i64, i64::MAX),
            (FilterOp::NumLe, Some(v), _) => (i64::MIN, v.floor() as i64),
            (FilterOp::DateGe, _, Some(DateArg::Int(v))) => (v, i64::MAX),
            (FilterOp::DateLe, _, Some(DateArg::Int(v))) => (i64::MIN, v),
            (FilterOp::DateEq, _, Some(DateArg::Int(v))) => (v, v),
            (FilterOp::Eq, _, _) => match p.text.trim().parse::<i64>() {
                Ok(v) => (v, v),
                Err(_) => return false,
            },
            _ => return false,
        };
        plan.lo = plan.lo.max(lo);
        plan.hi = plan.hi.min(hi);
        true
    }

    fn matches(&self, plan: &Plan, st: &RowState) -> bool {
        plan.predicates.iter().all(|p| self.eval(p, st))
    }

    fn eval(&self, p: &Predicate, st: &RowState) -> bool {
        if p.op == FilterOp::Intersects {
            let (Some(g), Some((x0, y0, x1, y1))) = (self.gen.geometry(st.id), p.bbox) else {
                return false;
            };
            let (a0, b0, a1, b1) = g.bbox();
            return a0 <= x1 && x0 <= a1 && b0 <= y1 && y0 <= b1;
        }
        let v = self.gen.value(p.col, st);
        if v.is_null() {
            return false; // SQL: comparisons with NULL are not true
        }
        match p.op {
            FilterOp::Eq => match (&v, p.kind) {
                (WireValue::Int(i), _) => p.text.trim().parse::<i64>() == Ok(*i),
                (WireValue::Timestamp(t), _) => gn_protocol::time::parse_timestamp(&p.text) == Some(*t),
                (WireValue::Uuid(u), _) => u.eq_ignore_ascii_case(p.text.trim()),
                _ => v.to_text().as_deref() == Some(p.text.as_str()),
            },
            FilterOp::ILike => v
                .to_text()
                .is_some_and(|t| t.to_lowercase().contains(&p.text.to_lowercase())),
            FilterOp::DateGe | FilterOp::DateLe | FilterOp::DateEq => {
                let ord = match (&v, p.date) {
                    (WireValue::Timestamp(t), Some(DateArg::Timestamp(a))) => t.cmp(&a),
                    (WireValue::Int(i), Some(DateArg::Int(a))) => i.cmp(&a),
                    _ => return false,
                };
                match p.op {
                    FilterOp::DateGe => ord != Ordering::Less,
                    FilterOp::DateLe => ord != Ordering::Greater,
                    _ => ord == Ordering::Equal,
                }
            }
            FilterOp::NumGe => v.as_f64().zip(p.num).is_some_and(|(a, b)| a >= b),
            FilterOp::NumLe => v.as_f64().zip(p.num).is_some_and(|(a, b)| a <= b),
            FilterOp::Intersects => false,
        }
    }

    /// Live ids of `[lo, hi]`, in order, restricted to the overlay when `overlay_only`.
    fn candidates<'a>(&'a self, plan: &Plan, descending: bool) -> Box<dyn Iterator<Item = i64> + 'a> {
        let lo = plan.lo.max(1);
        let hi = plan.hi.min(self.max_id);
        if lo > hi {
            return Box::new(std::iter::empty());
        }
        if plan.overlay_only {
            let it = self.overlay.range(lo..=hi).map(|(id, _)| *id);
            return if descending { Box::new(it.rev()) } else { Box::new(it) };
        }
        let deleted = &self.deleted;
        if descending {
            Box::new((lo..=hi).rev().filter(move |id| !deleted.contains_key(id)))
        } else {
            Box::new((lo..=hi).filter(move |id| !deleted.contains_key(id)))
        }
    }

    /// Number of live ids in `[lo, hi]`.
    fn live_in_range(&self, lo: i64, hi: i64) -> u64 {
        let lo = lo.max(1);
        let hi = hi.min(self.max_id);
        if lo > hi {
            return 0;
        }
        (hi - lo + 1) as u64 - self.deleted.range(lo..=hi).count() as u64
    }

    /// The `k`-th (0-based) live id from `lo` upwards, or from `hi` downwards.
    fn nth_live(&self, lo: i64, hi: i64, k: u64, descending: bool) -> Option<i64> {
        let lo = lo.max(1);
        let hi = hi.min(self.max_id);
        if descending {
            let mut cand = hi - k as i64;
            for (&d, _) in self.deleted.range(..=hi).rev() {
                if d >= cand {
                    cand -= 1;
                } else {
                    break;
                }
            }
            (cand >= lo).then_some(cand)
        } else {
            let mut cand = lo + k as i64;
            for (&d, _) in self.deleted.range(lo..) {
                if d <= cand {
                    cand += 1;
                } else {
                    break;
                }
            }
            (cand <= hi).then_some(cand)
        }
    }

    /// Resolves one page of an export query to row ids, with GeoNature's counters.
    pub fn page(&self, req: &PageRequest<'_>) -> Result<PageIds, QueryFailure> {
        let PageRequest {
            shape,
            geo,
            filters,
            orderby,
            limit,
            page,
            ignore_keyset,
        } = *req;
        let cols = columns(shape);
        let order_col: ColumnDef = cols
            .iter()
            .find(|c| c.name == orderby.column)
            .copied()
            .ok_or_else(|| fail(400, format!("No column name {} to sort with", orderby.column)))?;
        let plan = self.compile(shape, geo, filters, ignore_keyset)?;
        let total = self.live_count();
        let skip = limit.map_or(0, |l| l.saturating_mul(page));
        let take = limit.unwrap_or(u64::MAX);

        if order_col.col == Col::IdSynthese {
            if plan.predicates.is_empty() && !plan.overlay_only {
                let matching = self.live_in_range(plan.lo, plan.hi);
                let mut ids = Vec::new();
                if skip < matching {
                    if let Some(start) = self.nth_live(plan.lo, plan.hi, skip, orderby.descending) {
                        let (lo, hi) = if orderby.descending {
                            (plan.lo, start)
                        } else {
                            (start, plan.hi)
                        };
                        let sub = Plan {
                            lo,
                            hi,
                            predicates: Vec::new(),
                            overlay_only: false,
                        };
                        ids = self
                            .candidates(&sub, orderby.descending)
                            .take(take.min(matching - skip) as usize)
                            .collect();
                    }
                }
                return Ok(PageIds {
                    ids,
                    total,
                    total_filtered: matching.saturating_sub(skip),
                });
            }
            let mut matching = 0u64;
            let mut ids = Vec::new();
            for id in self.candidates(&plan, orderby.descending) {
                if self.matches(&plan, &self.row_state(id)) {
                    if matching >= skip && (ids.len() as u64) < take {
                        ids.push(id);
                    }
                    matching += 1;
                }
            }
            return Ok(PageIds {
                ids,
                total,
                total_filtered: matching.saturating_sub(skip),
            });
        }

        // Any other sort column: materialise the matching keys, then sort (ties by id, so pages
        // are stable; PostgreSQL gives no such guarantee).
        let mut keyed: Vec<(WireValue, i64)> = self
            .candidates(&plan, false)
            .map(|id| self.row_state(id))
            .filter(|st| self.matches(&plan, st))
            .map(|st| (self.gen.value(order_col.col, &st), st.id))
            .collect();
        keyed.sort_by(|a, b| {
            let o = a.0.sql_cmp(&b.0).then(a.1.cmp(&b.1));
            if orderby.descending {
                o.reverse()
            } else {
                o
            }
        });
        let matching = keyed.len() as u64;
        let ids = keyed
            .into_iter()
            .skip(skip as usize)
            .take(take.min(usize::MAX as u64) as usize)
            .map(|k| k.1)
            .collect();
        Ok(PageIds {
            ids,
            total,
            total_filtered: matching.saturating_sub(skip),
        })
    }

    // ----- synthese log --------------------------------------------------------------------------

    /// One page of `/api/synthese/log`, plus the total count of matching entries.
    pub fn log_page(&self, q: &LogQuery) -> (Vec<LogEntry>, u64) {
        let only_deletions = q.last_action.as_deref() == Some("D");
        let recent_only = q
            .dates
            .iter()
            .any(|c| matches!(c.op, CmpOp::Gt | CmpOp::Gte | CmpOp::Eq) && c.at >= base_epoch_end());
        let mut entries: Vec<LogEntry> = self
            .deleted
            .iter()
            .map(|(id, at)| LogEntry {
                id_synthese: *id,
                last_action: "D".into(),
                meta_last_action_date: *at,
            })
            .filter(|e| q.matches(e))
            .collect();
        if !only_deletions {
            let entry = |id: i64| {
                let st = self.row_state(id);
                let updated = self.overlay.get(&id).is_some_and(|m| m.version > 0);
                LogEntry {
                    id_synthese: id,
                    last_action: if updated { "U" } else { "I" }.into(),
                    meta_last_action_date: st.derniere_action,
                }
            };
            if recent_only {
                entries.extend(self.overlay.keys().map(|id| entry(*id)).filter(|e| q.matches(e)));
            } else if let Some(id) = q.id_synthese {
                entries.extend(
                    Some(id)
                        .filter(|id| self.is_live(*id))
                        .map(entry)
                        .filter(|e| q.matches(e)),
                );
            } else {
                entries.extend(
                    (1..=self.max_id)
                        .filter(|id| !self.deleted.contains_key(id))
                        .map(entry)
                        .filter(|e| q.matches(e)),
                );
            }
        }
        entries.sort_by(|a, b| {
            let o = a
                .meta_last_action_date
                .cmp(&b.meta_last_action_date)
                .then(a.id_synthese.cmp(&b.id_synthese));
            if q.descending {
                o.reverse()
            } else {
                o
            }
        });
        let total = entries.len() as u64;
        let start = ((q.page.max(1) - 1).saturating_mul(q.limit)) as usize;
        let page = entries.into_iter().skip(start).take(q.limit as usize).collect();
        (page, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gn_protocol::ExportQuery;

    fn at(s: &str) -> NaiveDateTime {
        gn_protocol::time::parse_timestamp(s).unwrap()
    }

    fn page(store: &Store, q: &str) -> Result<PageIds, QueryFailure> {
        let q = ExportQuery::parse(q).unwrap();
        let ob = q.orderby.clone().unwrap_or(OrderBy::asc("id_synthese"));
        store.page(&PageRequest {
            shape: Shape::CdNomenclature,
            geo: false,
            filters: &q.filters,
            orderby: &ob,
            limit: q.effective_limit(1000),
            page: q.page,
            ignore_keyset: false,
        })
    }

    #[test]
    fn offset_is_a_page_index_and_total_filtered_follows_offset() {
        let s = Store::new(25, 1);
        let p = page(&s, "limit=10&offset=2").unwrap();
        assert_eq!(p.ids, (21..=25).collect::<Vec<_>>());
        assert_eq!((p.total, p.total_filtered), (25, 5));
        let p = page(&s, "limit=10&offset=5").unwrap();
        assert!(p.ids.is_empty());
        assert_eq!(p.total_filtered, 0);
    }

    #[test]
    fn deletions_are_skipped_in_offset_arithmetic() {
        let mut s = Store::new(30, 1);
        s.delete_ids(&[1, 2, 11, 12, 30], at("2026-01-01 00:00:00"));
        let all: Vec<i64> = (1..=30).filter(|i| ![1, 2, 11, 12, 30].contains(i)).collect();
        for l in [1u64, 3, 7, 10] {
            let mut got = Vec::new();
            for k in 0.. {
                let p = page(&s, &format!("limit={l}&offset={k}")).unwrap();
                if p.ids.is_empty() {
                    break;
                }
                got.extend(p.ids);
            }
            assert_eq!(got, all, "limit {l}");
            let mut got_desc = Vec::new();
            for k in 0.. {
                let p = page(&s, &format!("limit={l}&offset={k}&orderby=id_synthese:desc")).unwrap();
                if p.ids.is_empty() {
                    break;
                }
                got_desc.extend(p.ids);
            }
            let mut rev = all.clone();
            rev.reverse();
            assert_eq!(got_desc, rev, "limit {l} desc");
        }
    }

    #[test]
    fn keyset_bounds_and_fault() {
        let s = Store::new(100, 1);
        let p = page(&s, "limit=10&filter_n_up_id_synthese=95").unwrap();
        assert_eq!(p.ids, vec![95, 96, 97, 98, 99, 100]);
        assert_eq!(p.total_filtered, 6);
        let q = ExportQuery::parse("limit=10&filter_n_up_id_synthese=95").unwrap();
        let ob = OrderBy::asc("id_synthese");
        let req = PageRequest {
            shape: Shape::CdNomenclature,
            geo: false,
            filters: &q.filters,
            orderby: &ob,
            limit: Some(10),
            page: 0,
            ignore_keyset: true,
        };
        let p = s.page(&req).unwrap();
        assert_eq!(p.ids[0], 1);
    }

    #[test]
    fn incremental_window_sees_only_changes() {
        let mut s = Store::new(1000, 3);
        let t = at("2026-02-01 10:00:00.250000");
        s.update_ids(&[5, 7], t);
        let ins = s.insert(2, t);
        assert_eq!(ins, vec![1001, 1002]);
        let p = page(
            &s,
            "filter_d_up_derniere_action=2026-02-01 10:00:00&filter_d_lo_derniere_action=2026-02-02",
        )
        .unwrap();
        assert_eq!(p.ids, vec![5, 7, 1001, 1002]);
        let p = page(&s, "filter_d_up_derniere_action=2026-02-01 10:00:01").unwrap();
        assert!(p.ids.is_empty());
    }

    #[test]
    fn filters_follow_geonature_rules() {
        let s = Store::new(300, 9);
        // varchar: ilike is a silent no-op; text: applied.
        assert_eq!(page(&s, "ilike_observateurs=zzz").unwrap().total_filtered, 300);
        let p = page(&s, "ilike_comment_releve=PLUIE").unwrap();
        assert!(p.total_filtered > 0 && p.total_filtered < 300);
        // unknown names ignored for equality, errors for the other families
        assert_eq!(page(&s, "nope=1&action=%5B%27I%27%5D").unwrap().total_filtered, 300);
        assert_eq!(page(&s, "ilike_nope=1").unwrap_err().status, 500);
        assert_eq!(page(&s, "filter_n_up_nope=1").unwrap_err().status, 500);
        assert_eq!(page(&s, "filter_d_up_date_debut=notadate").unwrap_err().status, 500);
        assert_eq!(page(&s, "orderby=nope").unwrap_err().status, 400);
        // numeric bounds on cd_nom
        let p = page(&s, "filter_n_up_cd_nom=60000&filter_n_lo_cd_nom=62000&limit=0").unwrap();
        for id in &p.ids {
            let v = s.gen.value(Col::CdNom, &s.row_state(*id));
            assert!(matches!(v, WireValue::Int(c) if (60000..=62000).contains(&c)));
        }
        // equality on a uuid
        let u = match s.gen.value(Col::IdPermSinp, &s.row_state(42)) {
            WireValue::Uuid(u) => u,
            _ => unreachable!(),
        };
        assert_eq!(
            page(&s, &format!("id_perm_sinp={}", u.to_uppercase())).unwrap().ids,
            vec![42]
        );
    }

    #[test]
    fn order_by_other_column() {
        let s = Store::new(200, 4);
        let p = page(&s, "orderby=cd_nom:desc&limit=0").unwrap();
        let vals: Vec<WireValue> = p
            .ids
            .iter()
            .map(|id| s.gen.value(Col::CdNom, &s.row_state(*id)))
            .collect();
        let mut sorted = vals.clone();
        sorted.sort_by(|a, b| b.sql_cmp(a));
        assert_eq!(vals, sorted);
        assert_eq!(p.ids.len(), 200);
    }

    #[test]
    fn log_lists_inserts_updates_deletes() {
        let mut s = Store::new(50, 2);
        let t = at("2026-03-01 00:00:00");
        s.update_ids(&[3], t);
        s.delete_ids(&[4, 5], t);
        s.insert(1, t);
        let (items, total) = s.log_page(&LogQuery::parse("last_action=D&limit=1&page=2").unwrap());
        assert_eq!(total, 2);
        assert_eq!(items[0].id_synthese, 5);
        let (items, total) = s.log_page(&LogQuery::parse("meta_last_action_date=gte:2026-01-01").unwrap());
        assert_eq!(total, 4);
        let actions: Vec<(i64, &str)> = items.iter().map(|e| (e.id_synthese, e.last_action.as_str())).collect();
        assert_eq!(actions, vec![(3, "U"), (4, "D"), (5, "D"), (51, "I")]);
        let (_, total) = s.log_page(&LogQuery::parse("").unwrap());
        assert_eq!(total, 51); // 49 live rows (I/U) + 2 deletions
    }
}
