//! API POST: `POST <root>/api/gn_flux/intake/<name>` writes a batch of observations into an
//! intake (a source of kind `post`), in the request's one transaction: staged in `data_json`
//! like a page of a pull (same statement, keys, uuids, errors), then loaded into the Synthese by
//! the intake's declared mapping when its load is enabled. The reply lists every row, accepted
//! or rejected with its reasons. A row whose uuid was posted before updates it (the uuid is the
//! key), so a repeated request changes nothing.
//!
//! Who may post: a logged-in role (the session cookie or the bearer token of
//! `POST /api/auth/login`) that is a member of the intake's `options.role`. Export tokens read
//! one export; they do not write. The load runs as the worker's role with the mapping the
//! intake's owner declared (the caller's role needs no privilege on GeoNature's tables).

use super::handle::{authenticate, gn_failure, spi_failure, Caller, Outcome, Whole};
use crate::error::GnFluxError;
use crate::pull::write::{feed_ids, PageWriter};
use crate::synthese::{LoadCounts, Loader};
use gn_serve::intake::{parse_batch, reply, RowOutcome};
use gn_serve::{Request, ServeError};
use pgrx::prelude::*;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The intake's definition, 404 when there is none of that name.
fn intake(name: &str) -> Result<gn_client::SourceDefinition, ServeError> {
    let json = Spi::connect(|c| -> Result<Option<String>, pgrx::spi::SpiError> {
        let mut rows = c.select(
            "SELECT gn_flux._source_json(s)::pg_catalog.text FROM gn_flux.source s
              WHERE s.name OPERATOR(pg_catalog.=) $1 AND s.kind OPERATOR(pg_catalog.=) 'post'",
            Some(1),
            &[name.into()],
        )?;
        match rows.next() {
            Some(r) => r.get::<String>(1),
            None => Ok(None),
        }
    })
    .map_err(spi_failure)?
    .ok_or_else(|| ServeError::new(404, format!("no intake named \"{name}\"")))?;
    gn_client::SourceDefinition::from_row_json(&json).map_err(|e| gn_failure(GnFluxError::from(e)))
}

pub(super) fn post(name: &str, req: &Request, outcome: &mut Outcome) -> Result<Whole, ServeError> {
    let caller = authenticate(req, outcome)?;
    let oid = match caller {
        Caller::Anonymous => return Err(ServeError::unauthorized()),
        Caller::Role { token: Some(_), .. } => {
            return Err(ServeError::forbidden(
                "an export token reads one export; it cannot write into an intake: log in (POST /api/auth/login) and send the session",
            ))
        }
        Caller::Role { oid, .. } => oid,
    };
    let def = intake(name)?;
    if !def.is_enabled() {
        return Err(ServeError::new(409, format!("the intake \"{name}\" is disabled")));
    }
    let Some(opts) = def.feed_options().map_err(|e| gn_failure(GnFluxError::from(e)))? else {
        return Err(ServeError::new(404, format!("no intake named \"{name}\"")));
    };
    let gn_client::feed::KindOptions::Post { role, max_items } = &opts.kind else {
        return Err(ServeError::new(404, format!("no intake named \"{name}\"")));
    };
    let member = Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) $2)
                AND pg_catalog.pg_has_role($1, $2::pg_catalog.name, 'MEMBER')",
        &[oid.into(), role.as_str().into()],
    )
    .map_err(spi_failure)?
    .unwrap_or(false);
    if !member {
        return Err(ServeError::forbidden(format!(
            "the role may not write into the intake \"{name}\" (members of \"{role}\" may)"
        )));
    }
    let (items, features) = parse_batch(&req.body, *max_items)?;
    let (import_id, rows) = load(name, &opts, items, features, req.body.len()).map_err(gn_failure)?;
    outcome.rows = Some(rows.len() as i64);
    Ok(Whole::json(reply(name, import_id, &rows)))
}

thread_local! {
    /// Rows this worker staged per intake since it last refreshed data_json's statistics.
    static STAGED_SINCE_ANALYZE: std::cell::RefCell<HashMap<String, i64>> = std::cell::RefCell::new(HashMap::new());
}

/// An intake grows a little at a time, in many transactions, and may hold few rows of a large
/// staging table: while the statistics say its rows are few, the planner joins a batch against
/// all of them (a nested loop over the whole intake, slower with every batch). So once this
/// worker has staged more rows for the intake than the planner believes it has, data_json's key
/// columns are analyzed again (as a pull does while it runs).
fn keep_staging_statistics(name: &str, inserted: i64) -> Result<(), GnFluxError> {
    let since = STAGED_SINCE_ANALYZE.with(|m| {
        let mut m = m.borrow_mut();
        let v = m.entry(name.to_string()).or_insert(0);
        *v += inserted;
        *v
    });
    if since < 1000 {
        return Ok(());
    }
    let plan = Spi::get_one_with_args::<pgrx::Json>(
        "EXPLAIN (FORMAT JSON) SELECT 1 FROM gn_flux.data_json d WHERE d.source::text = $1 AND d.controler::text = 'data'",
        &[name.into()],
    )?;
    let believed = plan
        .and_then(|p| p.0.pointer("/0/Plan/Plan Rows").and_then(Value::as_f64))
        .unwrap_or(0.0);
    if (since as f64) > believed {
        crate::pull::stats::AnalyzePolicy::for_data_json()?.analyze_if_allowed()?;
        STAGED_SINCE_ANALYZE.with(|m| m.borrow_mut().insert(name.to_string(), 0));
    }
    Ok(())
}

/// Stages and loads one batch; returns the run's import_log id and each row's outcome.
fn load(
    name: &str,
    opts: &gn_client::FeedOptions,
    items: Vec<Value>,
    features: bool,
    bytes: usize,
) -> Result<(i32, Vec<RowOutcome>), GnFluxError> {
    // The load runs GeoNature's triggers, written for the database's search_path (PostGIS
    // unqualified), as a pull does: this transaction takes the database's default path instead
    // of the worker's pinned one. Our own statements name every object with its schema.
    Spi::run(
        "SELECT pg_catalog.set_config('search_path', s.reset_val, true) FROM pg_catalog.pg_settings s
          WHERE s.name OPERATOR(pg_catalog.=) 'search_path'",
    )?;
    // (posts to one intake are serialised with its pulls' lock: one batch at a time)
    Spi::run_with_args(
        "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('gn_flux.pull'), pg_catalog.hashtext($1))",
        &[name.into()],
    )?;
    let import_id = Spi::get_one_with_args::<i32>(
        "INSERT INTO gn_flux.import_log (source, controler, xfer_type, xfer_status, xfer_start_ts)
         VALUES ($1, 'data', 'post', 'importing data', pg_catalog.clock_timestamp()::timestamp) RETURNING id",
        &[name.into()],
    )?
    .ok_or_else(|| GnFluxError::internal("no import_log id"))?;
    let page = gn_client::FeedPage {
        items,
        features,
        bytes: bytes as u64,
        pass: 1,
    };
    let mut prepared = gn_client::pipeline::prepare_feed_page(name, opts, 0, page);
    let n = prepared.items;
    let uuids = prepared.columns.uuids.clone();
    let item_errors = prepared.columns.errors.clone();
    let ids = feed_ids(name, std::mem::take(&mut prepared.keys))?;
    prepared.columns.ids = ids.clone();
    // (which rows existed before: the reply says inserted, updated or unchanged)
    let existing: std::collections::HashSet<i32> = Spi::connect(|c| -> Result<_, GnFluxError> {
        let wanted: Vec<i32> = ids.iter().flatten().map(|i| *i as i32).collect();
        let mut out = std::collections::HashSet::new();
        for r in c.select(
            "SELECT d.id_data FROM gn_flux.data_json d
              WHERE d.source::text = $1 AND d.controler::text = 'data' AND d.id_data = ANY ($2::integer[])",
            None,
            &[name.into(), wanted.into()],
        )? {
            if let Some(id) = r.get::<i32>(1)? {
                out.insert(id);
            }
        }
        Ok(out)
    })?;
    let writer = PageWriter::prepare()?;
    let counts = writer.write(prepared.columns, name, "post", import_id, None)?;
    // Rows the staging statement refused (a uuid of another source…): their reason, by uuid.
    let staging_rejects: HashMap<String, String> = Spi::connect(|c| -> Result<_, GnFluxError> {
        let mut out = HashMap::new();
        for r in c.select(
            "SELECT e.uuid::text, e.error FROM gn_flux.error_log e WHERE e.import_id = $1 AND e.uuid IS NOT NULL",
            None,
            &[import_id.into()],
        )? {
            if let (Some(u), Some(e)) = (r.get::<String>(1)?, r.get::<String>(2)?) {
                out.insert(u, e);
            }
        }
        Ok(out)
    })?;
    let mut synthese = LoadCounts::default();
    let loader = Loader::for_source(name)?;
    if let Some(l) = &loader {
        // Every row of the batch, changed or not: one rejected before and posted again
        // unchanged is tried again (the load writes only what differs).
        let all: Vec<i32> = ids.iter().flatten().map(|i| *i as i32).collect();
        l.observations(&all, Some(import_id), &mut synthese)?;
    }
    // (batches arrive one transaction at a time: keep the planner's statistics of the tables
    // they grow close to the truth, as a pull does while it runs)
    keep_staging_statistics(name, counts.inserted)?;
    if loader.is_some() {
        crate::pull::stats::AnalyzePolicy::for_synthese()?.analyze_if_stale("gn_synthese.synthese")?;
    }
    // The Synthese load's rejects of this run, by staged id: {field: [value, problem]}.
    let mut load_rejects: HashMap<i32, serde_json::Map<String, Value>> = HashMap::new();
    Spi::connect(|c| -> Result<(), GnFluxError> {
        for r in c.select(
            "SELECT x.id_data, x.field, x.value, x.problem FROM gn_flux.synthese_reject x
              WHERE x.import_id = $1 AND x.kind = 'observation' AND x.action = 'rejected'",
            None,
            &[import_id.into()],
        )? {
            let id = r.get::<i32>(1)?.unwrap_or_default();
            let field = r.get::<String>(2)?.unwrap_or_default();
            let value = r.get::<String>(3)?;
            let problem = r.get::<String>(4)?.unwrap_or_default();
            load_rejects
                .entry(id)
                .or_default()
                .insert(field, json!([value, problem]));
        }
        Ok(())
    })?;
    let changed: std::collections::HashSet<i32> = counts.changed.iter().copied().collect();
    let mut rows = Vec::with_capacity(n);
    for k in 0..n {
        let uuid = uuids[k].clone();
        if let Some(e) = &item_errors[k] {
            rows.push(RowOutcome::Rejected {
                uuid,
                reasons: json!({"item": e}),
            });
            continue;
        }
        if let Some(e) = uuid.as_ref().and_then(|u| staging_rejects.get(u)) {
            rows.push(RowOutcome::Rejected {
                uuid,
                reasons: json!({"uuid": e}),
            });
            continue;
        }
        let id = ids[k].map(|i| i as i32);
        if let Some(r) = id.and_then(|i| load_rejects.get(&i)) {
            rows.push(RowOutcome::Rejected {
                uuid,
                reasons: Value::Object(r.clone()),
            });
            continue;
        }
        let action = match id {
            Some(i) if changed.contains(&i) && existing.contains(&i) => "updated",
            Some(i) if changed.contains(&i) => "inserted",
            _ => "unchanged",
        };
        rows.push(RowOutcome::Accepted { uuid, action });
    }
    let rejected = rows.iter().filter(|r| matches!(r, RowOutcome::Rejected { .. })).count() as i32;
    Spi::run_with_args(
        "UPDATE gn_flux.import_log SET xfer_status = 'success', xfer_end_ts = pg_catalog.clock_timestamp()::timestamp,
                api_count_items = $2, data_count_upserts = $3, data_count_inserts = $4, data_count_updates = $5,
                data_count_errors = $6, pages = 1, bytes = $7, synthese_upserts = $8, synthese_rejects = $9
          WHERE id = $1",
        &[
            import_id.into(),
            (n as i32).into(),
            ((counts.inserted + counts.updated) as i32).into(),
            (counts.inserted as i32).into(),
            (counts.updated as i32).into(),
            rejected.into(),
            (bytes as i64).into(),
            ((synthese.inserted + synthese.updated) as i32).into(),
            (synthese.rejected as i32).into(),
        ],
    )?;
    Ok((import_id, rows))
}
