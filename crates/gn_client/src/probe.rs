//! A one-row check that a source answers as a GeoNature export gn_flux can pull (for source
//! registration): login (if any), module discovery, then a `limit=1` page of the data export
//! (and of the metadata export, if any).

use crate::cancel::CancelFlag;
use crate::config::SourceConfig;
use crate::session::Session;
use crate::walk::{ExportWalk, ID_COLUMN};
use crate::{redact_url, ClientError};
use gn_protocol::page::Items;
use serde_json::Value;

/// What the probe learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    pub module_path: String,
    /// Rows of the export (unfiltered).
    pub total: u64,
    /// The export has a geometry field (its items are GeoJSON features).
    pub feature_collection: bool,
    /// `id_synthese` of the first row, when the export is not empty.
    pub first_id: Option<i64>,
}

fn unsuitable(url: String, reason: impl Into<String>) -> ClientError {
    ClientError::UnsuitableExport {
        url,
        reason: reason.into(),
    }
}

/// Checks the first item of a data export: an integer `id_synthese`, an `id_perm_sinp` key and
/// a parseable `derniere_action`.
fn check_item(url: &str, item: &Value, feature: bool) -> Result<i64, ClientError> {
    let row = if feature { item.get("properties") } else { Some(item) };
    let Some(row) = row.filter(|r| r.is_object()) else {
        return Err(unsuitable(url.into(), "the items are not JSON objects"));
    };
    let id = match row.get(ID_COLUMN) {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| unsuitable(url.into(), "the items have no integer id_synthese"))?;
    if row.get("id_perm_sinp").is_none() {
        return Err(unsuitable(url.into(), "the items have no id_perm_sinp"));
    }
    if row
        .get("derniere_action")
        .and_then(Value::as_str)
        .and_then(gn_protocol::time::parse_timestamp)
        .is_none()
    {
        return Err(unsuitable(
            url.into(),
            "the items have no parseable derniere_action (needed for incremental pulls)",
        ));
    }
    Ok(id)
}

/// Probes `cfg`'s data export (and metadata export, if any) with one-row pages.
/// A source of another kind: its first page, and whether its first item has a key and a
/// readable geometry.
fn probe_feed(
    cfg: &SourceConfig,
    opts: &crate::feed::FeedOptions,
    cancel: &CancelFlag,
) -> Result<ProbeReport, ClientError> {
    let mut s = Session::new(cfg.clone(), cancel.clone())?;
    let root = s.root().to_string();
    let mut walk = crate::feed::FeedWalk::new(
        &root,
        opts.clone(),
        cfg.query_strings.clone(),
        cfg.page_size.min(10),
        None,
        cfg.token.clone(),
        1,
    );
    let page = walk.next_page(&mut s)?;
    let (total, features) = match page {
        Some(p) => {
            if let Some(first) = p.items.into_iter().next() {
                let it = crate::feed::prepare_feed_item(&cfg.source_name, walk.options(), first, p.features);
                if let Some(e) = it.error {
                    return Err(unsuitable(
                        redact_url(&root),
                        format!("its first item cannot be staged: {e}"),
                    ));
                }
            }
            (walk.expected_count().unwrap_or(0), p.features)
        }
        None => (0, false),
    };
    Ok(ProbeReport {
        module_path: String::new(),
        total,
        feature_collection: features,
        first_id: None,
    })
}

pub fn probe(cfg: &SourceConfig, cancel: &CancelFlag) -> Result<ProbeReport, ClientError> {
    if let Some(opts) = &cfg.feed {
        return probe_feed(cfg, opts, cancel);
    }
    let mut s = Session::new(cfg.clone(), cancel.clone())?;
    let module_path = s.module_path()?;
    let one = SourceConfig {
        page_size: 1,
        ..cfg.clone()
    };
    let q = ExportWalk::data(&one, Vec::new(), true).query_string(0, None);
    let page = s.export_page(cfg.export_id, cfg.token.as_deref(), &q, Some(0))?.page;
    let url = s.export_url(cfg.export_id);
    let (items, feature) = match &page.items {
        Items::Rows(v) => (v, false),
        Items::Features(v) => (v, true),
    };
    let first_id = items.first().map(|i| check_item(&url, i, feature)).transpose()?;
    if let Some(mid) = cfg.metadata_export_id {
        let q = ExportWalk::metadata(&one)
            .map(|w| w.query_string(0, None))
            .unwrap_or_default();
        let meta = s.export_page(mid, cfg.token.as_deref(), &q, Some(0))?.page;
        let meta_url = s.export_url(mid);
        if let Items::Rows(rows) = &meta.items {
            if let Some(first) = rows.first() {
                if first.get("uuid").and_then(Value::as_str).is_none() {
                    return Err(unsuitable(meta_url, "the metadata export items have no uuid"));
                }
            }
        } else {
            return Err(unsuitable(meta_url, "the metadata export answers a FeatureCollection"));
        }
    }
    Ok(ProbeReport {
        module_path,
        total: page.total,
        feature_collection: feature,
        first_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn first_item_checks() {
        let ok = json!({"id_synthese": 3, "id_perm_sinp": null, "derniere_action": "2024-01-01 10:00:00"});
        assert_eq!(check_item("u", &ok, false).unwrap(), 3);
        assert_eq!(
            check_item("u", &json!({"properties": ok, "geometry": null}), true).unwrap(),
            3
        );
        let reason = |v: Value| match check_item("u", &v, false) {
            Err(ClientError::UnsuitableExport { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert!(reason(json!({"id_perm_sinp": null, "derniere_action": "2024-01-01"})).contains("id_synthese"));
        assert!(reason(json!({"id_synthese": 1, "derniere_action": "2024-01-01"})).contains("id_perm_sinp"));
        assert!(reason(json!({"id_synthese": 1, "id_perm_sinp": null})).contains("derniere_action"));
        assert!(
            reason(json!({"id_synthese": 1, "id_perm_sinp": null, "derniere_action": "hier"}))
                .contains("derniere_action")
        );
        assert!(reason(json!([1])).contains("objects"));
    }
}
