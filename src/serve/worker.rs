//! An API worker's main thread: connect, wait for gn_flux to be installed, listen, then serve
//! the requests the network threads hand over, one at a time, each in its own transaction.
//! Between requests: SIGHUP reloads the settings, SIGTERM (PostgreSQL's `die`) ends the worker,
//! the access log and the status row are written at most every second, old log rows pruned.

use super::handle::{handle, State};
use super::{listen_address, net, Settings};
use crate::ffi;
use crate::gucs;
use pgrx::bgworkers::{BackgroundWorker, SignalWakeFlags};
use pgrx::prelude::*;
use std::time::{Duration, Instant};

/// How often the access log and the status row are written while requests come in.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Access log rows kept in memory before a write, at most.
const FLUSH_ROWS: usize = 1000;
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub fn run() {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    // SIGTERM also stops a running statement (pgrx's handler would wait for it).
    ffi::terminate_on_sigterm();
    // A SIGHUP before the handlers were attached is lost: read the file once now.
    ffi::reload_configuration();
    let worker: i32 = BackgroundWorker::get_extra().parse().unwrap_or(0);
    let (Some(listen), Some(database)) = (gucs::api_listen(), gucs::api_database()) else {
        return;
    };
    let Ok(address) = listen_address(&listen) else { return };
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    wait_for_extension(&database);
    let mut settings = Settings::read();
    let network = match net::start(address, settings.net) {
        Ok(n) => n,
        Err(e) => {
            pgrx::log!("gn_flux api {worker}: cannot listen on {address}: {e}; retrying after the restart delay");
            ffi::exit_for_restart();
        }
    };
    let scratch = match crate::export::files::ScratchDir::new() {
        Ok(s) => s,
        Err(e) => {
            pgrx::log!("gn_flux api {worker}: {}", e.message);
            ffi::exit_for_restart();
        }
    };
    pgrx::log!(
        "gn_flux api {worker}: serving database \"{database}\" on http://{address}{}",
        settings.router.root()
    );
    // Every statement of the worker names its objects (pg_catalog, gn_flux, PostGIS's schema);
    // with the path pinned, nothing planted in another schema (an exact-match operator in
    // public, say) can stand in for them.
    let _ = ffi::in_transaction(|| Spi::run("SET search_path = pg_catalog, pg_temp"));
    let _ = ffi::in_transaction(|| register(worker, &address.to_string()));
    settings = Settings::read();
    let mut st = State::new(settings, scratch.0.clone());
    let mut last_flush = Instant::now();
    let mut last_prune: Option<Instant> = None;
    loop {
        let wake = ffi::wait_latch_or_socket(network.wake_fd(), 1000);
        if wake.postmaster_died {
            ffi::exit_for_restart();
        }
        if BackgroundWorker::sighup_received() {
            ffi::reload_configuration();
            st.settings = Settings::read();
            network.update_settings(st.settings.net);
        }
        network.drain_wakeups();
        while let Ok(job) = network.jobs.try_recv() {
            handle(job, &mut st);
            pgrx::check_for_interrupts!();
            if st.log.len() >= FLUSH_ROWS || last_flush.elapsed() >= FLUSH_EVERY {
                flush(worker, &mut st);
                last_flush = Instant::now();
            }
        }
        if !st.log.is_empty() && last_flush.elapsed() >= FLUSH_EVERY {
            flush(worker, &mut st);
            last_flush = Instant::now();
        }
        if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            prune(st.settings.log_retention_days);
            last_prune = Some(Instant::now());
        }
        if !network.listener_alive() {
            pgrx::log!("gn_flux api {worker}: the listener thread stopped; restarting");
            ffi::exit_for_restart();
        }
    }
}

/// Waits (serving signals) until gn_flux is installed in the database, at the library's
/// version.
fn wait_for_extension(database: &str) {
    let mut said = false;
    loop {
        let version = ffi::in_transaction(|| {
            Spi::get_one::<String>("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'gn_flux'")
                .map_err(|e| e.to_string())
        });
        let problem = match version {
            Ok(Ok(Some(v))) if v == env!("CARGO_PKG_VERSION") => return,
            Ok(Ok(Some(v))) => format!(
                "gn_flux {v} is installed, the library is {}: run ALTER EXTENSION gn_flux UPDATE",
                env!("CARGO_PKG_VERSION")
            ),
            Ok(Ok(None)) | Ok(Err(_)) => "gn_flux is not installed: run CREATE EXTENSION gn_flux".to_string(),
            Err(e) => e.message,
        };
        if !said {
            pgrx::log!("gn_flux api: waiting for database \"{database}\": {problem}");
            said = true;
        }
        if ffi::wait_latch_or_socket(-1, 5000).postmaster_died {
            ffi::exit_for_restart();
        }
        if BackgroundWorker::sighup_received() {
            ffi::reload_configuration();
        }
    }
}

fn register(worker: i32, address: &str) -> Result<(), pgrx::spi::SpiError> {
    Spi::run_with_args(
        "INSERT INTO gn_flux.api_worker (worker, pid, address, started_at, updated_at)
         VALUES ($1, pg_catalog.pg_backend_pid(), $2, pg_catalog.now(), pg_catalog.now())
         ON CONFLICT (worker) DO UPDATE SET pid = excluded.pid, address = excluded.address,
             started_at = excluded.started_at, requests = 0, errors = 0, bytes = 0,
             last_request_at = NULL, updated_at = excluded.updated_at",
        &[worker.into(), address.into()],
    )
}

/// Writes the access log rows kept so far and the worker's counters, in one transaction.
fn flush(worker: i32, st: &mut State) {
    let rows: Vec<serde_json::Value> = st
        .log
        .drain(..)
        .map(|r| {
            serde_json::json!({
                "at": r.at, "worker": worker, "client": r.client, "method": r.method, "route": r.route,
                "path": r.path, "export_id": r.export_id, "role_name": r.role_name, "token_id": r.token_id,
                "status": r.status, "rows": r.rows, "bytes": r.bytes, "duration_ms": r.duration_ms, "error": r.error,
            })
        })
        .collect();
    let rows = serde_json::Value::Array(rows).to_string();
    let c = st.counters;
    let last = st.last_request_at.clone();
    let written = ffi::in_transaction(|| -> Result<(), pgrx::spi::SpiError> {
        Spi::run_with_args(
            "INSERT INTO gn_flux.api_log (at, worker, client, method, route, path, export_id, role_name, token_id, status, rows, bytes, duration_ms, error)
             SELECT at, worker, client, method, route, path, export_id, role_name, token_id, status, rows, bytes, duration_ms, error
               FROM pg_catalog.jsonb_to_recordset(CAST($1 AS pg_catalog.jsonb)) AS r(
                    at timestamptz, worker integer, client text, method text, route text, path text, export_id integer,
                    role_name name, token_id integer, status smallint, rows bigint, bytes bigint, duration_ms double precision, error text)",
            &[rows.as_str().into()],
        )?;
        Spi::run_with_args(
            "UPDATE gn_flux.api_worker SET requests = $2, errors = $3, bytes = $4,
                    last_request_at = CAST($5 AS pg_catalog.timestamptz), updated_at = pg_catalog.now()
              WHERE worker OPERATOR(pg_catalog.=) $1",
            &[
                worker.into(),
                c.requests.into(),
                c.errors.into(),
                c.bytes.into(),
                last.into(),
            ],
        )
    });
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => pgrx::warning!("gn_flux api {worker}: the access log was not written: {e}"),
        Err(e) => pgrx::warning!("gn_flux api {worker}: the access log was not written: {}", e.message),
    }
}

fn prune(retention_days: i32) {
    let _ = ffi::in_transaction(|| -> Result<(), pgrx::spi::SpiError> {
        if retention_days > 0 {
            Spi::run_with_args(
                "DELETE FROM gn_flux.api_log WHERE at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(days => $1))",
                &[retention_days.into()],
            )?;
        }
        Spi::run("DELETE FROM gn_flux.api_session WHERE expires_at OPERATOR(pg_catalog.<) pg_catalog.now()")
    });
}
