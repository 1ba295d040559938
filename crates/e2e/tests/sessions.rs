//! Several sessions at once: cancel and statement_timeout while a pull waits on the network, and
//! two sessions pulling one source, pull_all cancelled. Needs GN_FLUX_E2E_DSN (tests/e2e/run.sh).
use gn_flux_e2e::fixtures::{
    add_source, connect, connect_with_notices, delay, drop_source, fault, fresh, pull, sqlstate, stand_in, status,
    wait_for_page_request, wait_for_requests, DSN, EXPORTS, EXPORT_1_PAGES,
};
use gn_flux_e2e::{Client, FakeGeoNature};
use std::time::{Duration, Instant};

/// The stand-in's seed (another instance uses another seed: other uuids).
const SEED: u64 = 5;

/// The sources of these tests: no retries, a read timeout longer than any injected delay.
fn add(c: &mut Client, name: &str, gn: &FakeGeoNature) {
    add_source(c, name, gn, 1, &[("max_retries", "0"), ("read_timeout_ms", "60000")]);
}

/// Makes the second export page answer after `ms` milliseconds.
fn slow_second_page(gn: &FakeGeoNature, ms: u64) {
    gn.add_fault(fault(EXPORTS, delay(ms), 1, 1));
}

#[test]
fn pg_cancel_backend_stops_a_pull_waiting_on_the_network_within_a_second() {
    let gn = stand_in(SEED, 3000);
    let mut a = connect(DSN);
    fresh(&mut a, &[]);
    add(&mut a, "e2e_cancel", &gn);
    let pid: i32 = a.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    gn.clear_requests();
    slow_second_page(&gn, 30_000);
    let puller = std::thread::spawn(move || {
        let r = a.query("SELECT * FROM gn_flux.pull_source('e2e_cancel', 'full')", &[]);
        (r.map(|rows| rows.len()), Instant::now(), a)
    });
    wait_for_page_request(&gn, 2);
    std::thread::sleep(Duration::from_millis(300));
    let mut b = connect(DSN);
    let cancelled_at = Instant::now();
    let ok: bool = b.query_one("SELECT pg_cancel_backend($1)", &[&pid]).unwrap().get(0);
    assert!(ok);
    let (result, ended_at, mut a) = puller.join().unwrap();
    let err = result.expect_err("the pull must be cancelled");
    assert_eq!(sqlstate(&err), "57014", "{err}");
    let latency = ended_at.duration_since(cancelled_at);
    eprintln!("cancel honoured after {latency:?}");
    assert!(latency < Duration::from_secs(1), "cancel took {latency:?}");
    // nothing half-written: the run's transaction was rolled back
    let rows: i64 = a
        .query_one(
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'e2e_cancel'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(rows, 0);
}

#[test]
fn statement_timeout_stops_a_pull_waiting_on_the_network() {
    let gn = stand_in(SEED, 3000);
    let mut a = connect(DSN);
    fresh(&mut a, &[]);
    add(&mut a, "e2e_timeout", &gn);
    slow_second_page(&gn, 30_000);
    a.batch_execute("SET statement_timeout = '1500ms'").unwrap();
    let started = Instant::now();
    let err = a
        .query("SELECT * FROM gn_flux.pull_source('e2e_timeout', 'full')", &[])
        .expect_err("timeout");
    let took = started.elapsed();
    assert_eq!(sqlstate(&err), "57014", "{err}");
    eprintln!("statement_timeout 1.5 s honoured after {took:?}");
    assert!(took < Duration::from_millis(2500), "took {took:?}");
}

#[test]
fn two_sessions_pulling_one_source_do_not_interleave() {
    let gn = stand_in(SEED, 3000);
    let mut a = connect(DSN);
    fresh(&mut a, &[]);
    add(&mut a, "e2e_twice", &gn);
    gn.clear_requests();
    slow_second_page(&gn, 3_000);
    let first = std::thread::spawn(move || {
        let row = a
            .query_one(
                "SELECT status, inserted FROM gn_flux.pull_source('e2e_twice', 'full')",
                &[],
            )
            .unwrap();
        (row.get::<_, String>(0), row.get::<_, i64>(1))
    });
    wait_for_page_request(&gn, 2);
    let mut b = connect(DSN);
    let started = Instant::now();
    let err = b
        .query("SELECT * FROM gn_flux.pull_source('e2e_twice')", &[])
        .expect_err("second pull must not run");
    assert_eq!(sqlstate(&err), "55P03", "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the second session errors at once"
    );
    assert_eq!(first.join().unwrap(), ("success".to_string(), 3000));
    // once the first is done, the second session pulls normally (an update now)
    let row = b
        .query_one(
            "SELECT mode, status, inserted FROM gn_flux.pull_source('e2e_twice')",
            &[],
        )
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, i64>(2)),
        ("update".into(), "success".into(), 0)
    );
}

#[test]
fn two_sources_pull_in_parallel() {
    let gn = stand_in(SEED, 2000);
    // another instance (another seed: other uuids), as two real sources would be
    let gn2 = stand_in(77, 1500);
    let mut a = connect(DSN);
    fresh(&mut a, &[]);
    let mut b = connect(DSN);
    add(&mut a, "e2e_par_a", &gn);
    drop_source(&mut b, "e2e_par_b");
    b.execute(
        "SELECT gn_flux.add_source('e2e_par_b', $1::text, 2, login => 'admin', password => 'admin', data_type => 'synthese_with_metadata')",
        &[&gn2.url()],
    )
    .unwrap();
    let ta = std::thread::spawn(move || {
        a.query_one("SELECT status FROM gn_flux.pull_source('e2e_par_a', 'full')", &[])
            .unwrap()
            .get::<_, String>(0)
    });
    let tb = std::thread::spawn(move || {
        let r = b
            .query_one(
                "SELECT status, inserted FROM gn_flux.pull_source('e2e_par_b', 'full')",
                &[],
            )
            .unwrap();
        (r.get::<_, String>(0), r.get::<_, i64>(1))
    });
    assert_eq!(ta.join().unwrap(), "success");
    let (status, inserted) = tb.join().unwrap();
    assert_eq!((status.as_str(), inserted), ("success", 1500));
}

#[test]
fn progress_notices_during_long_pulls_can_be_switched_off() {
    let gn = stand_in(SEED, 4000);
    let (mut c, notices) = connect_with_notices(DSN);
    fresh(&mut c, &[]);
    add(&mut c, "e2e_progress", &gn);
    // every page takes 0.6 s: a 4-page pull lasts more than a second
    gn.add_fault(fault(EXPORTS, delay(600), 4, 1));
    c.query("SELECT * FROM gn_flux.pull_source('e2e_progress', 'full')", &[])
        .unwrap();
    let seen: Vec<String> = notices
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.contains("e2e_progress"))
        .cloned()
        .collect();
    assert!(
        seen.iter().any(|m| m.contains("rows/s") && m.contains("page ")),
        "{seen:?}"
    );
    notices.lock().unwrap().clear();
    c.batch_execute("SET gn_flux.progress_notices = off").unwrap();
    gn.add_fault(fault(EXPORTS, delay(600), 4, 0));
    c.query("SELECT * FROM gn_flux.pull_source('e2e_progress', 'full')", &[])
        .unwrap();
    assert!(
        notices.lock().unwrap().iter().all(|m| !m.contains("rows/s")),
        "{:?}",
        notices.lock().unwrap()
    );
}

/// CALL gn_flux.pull_all() commits each source on its own: cancelling it while the second source
/// waits on the network keeps the first source's rows and its success in import_log.
#[test]
fn pull_all_keeps_the_sources_already_pulled_when_cancelled() {
    let gn_a = stand_in(SEED, 300);
    let gn_b = stand_in(SEED, 300);
    let mut a = connect(DSN);
    fresh(&mut a, &[]);
    add(&mut a, "e2e_all_a", &gn_a);
    add(&mut a, "e2e_all_b", &gn_b);
    // b's first export page hangs long enough to cancel the call there
    gn_b.add_fault(fault(EXPORTS, delay(20_000), 1, 0));
    // (add_source's probe already asked b for a page: count from here)
    gn_b.clear_requests();
    let pid: i32 = a.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let canceller = std::thread::spawn(move || {
        // pull_all reaches the second source
        wait_for_requests(&gn_b, EXPORT_1_PAGES, 1);
        let mut b = connect(DSN);
        b.execute("SELECT pg_cancel_backend($1)", &[&pid]).unwrap();
        gn_b
    });
    let r = a.batch_execute("CALL gn_flux.pull_all()");
    let _gn_b = canceller.join().unwrap();
    let e = r.expect_err("the call was cancelled");
    assert_eq!(sqlstate(&e), "57014", "{e}");
    let kept: i64 = a
        .query_one("SELECT count(*) FROM gn_flux.data_json WHERE source = 'e2e_all_a'", &[])
        .unwrap()
        .get(0);
    assert_eq!(kept, 300, "the first source's pull was committed before the cancel");
    let b_rows: i64 = a
        .query_one("SELECT count(*) FROM gn_flux.data_json WHERE source = 'e2e_all_b'", &[])
        .unwrap()
        .get(0);
    assert_eq!(b_rows, 0);
    let status: String = a
        .query_one("SELECT last_status FROM gn_flux.status WHERE source = 'e2e_all_a'", &[])
        .unwrap()
        .get(0);
    assert_eq!(status, "success");
    // and no lock is left behind: the second source can be pulled at once
    let st: String = a
        .query_one("SELECT status FROM gn_flux.pull_source('e2e_all_b', 'full')", &[])
        .unwrap()
        .get(0);
    assert_eq!(st, "success");
    fresh(&mut a, &[]);
}

/// A cancelled add_source() stops its probe's network thread: no request reaches the remote after
/// the cancel, though the probe was retrying every few hundred milliseconds with retries left.
#[test]
fn a_cancelled_probe_stops_its_network_thread() {
    let gn = stand_in(SEED, 100);
    let mut a = connect(DSN);
    fresh(&mut a, &[]);
    gn.add_fault(fault(EXPORTS, status(503, None), 100, 0));
    let pid: i32 = a.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let url = gn.url();
    let prober = std::thread::spawn(move || {
        let r = a.execute(
            "SELECT gn_flux.add_source('e2e_probe_cancel', $1::text, 1, login => 'admin', password => 'admin',
                                       max_retries => 20, retry_backoff_ms => 50)",
            &[&url],
        );
        (r, a)
    });
    wait_for_requests(&gn, EXPORTS, 3);
    let mut b = connect(DSN);
    let ok: bool = b.query_one("SELECT pg_cancel_backend($1)", &[&pid]).unwrap().get(0);
    assert!(ok);
    let (r, _a) = prober.join().unwrap();
    assert_eq!(sqlstate(&r.expect_err("cancelled")), "57014");
    let after_cancel = gn.requests().len();
    // retries 50, 100, 200, 400, 800 ms apart (plus jitter): a live thread would ask again within
    // this wait, a stopped one does not
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        gn.requests().len(),
        after_cancel,
        "the probe thread went on after the cancel"
    );
}

/// gn_flux.max_run_time bounds a whole pull: a remote that answers slowly page after page fails
/// the run with a clear message, nothing stored.
#[test]
fn max_run_time_fails_a_slow_pull_cleanly() {
    let gn = stand_in(SEED, 3000);
    let mut a = connect(DSN);
    fresh(&mut a, &[]);
    add(&mut a, "e2e_runtime", &gn);
    gn.add_fault(fault(EXPORTS, delay(700), 100, 1));
    a.batch_execute("SET gn_flux.max_run_time = '1s'").unwrap();
    let started = Instant::now();
    let p = pull(&mut a, "e2e_runtime", "full");
    a.batch_execute("RESET gn_flux.max_run_time").unwrap();
    assert_eq!(p.status, "failed", "{p:?}");
    assert!(
        p.message
            .clone()
            .unwrap_or_default()
            .contains("maximum run time of 1 s"),
        "{p:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let stored: i64 = a
        .query_one(
            "SELECT count(*) FROM gn_flux.data_json WHERE source = 'e2e_runtime'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(stored, 0);
    drop_source(&mut a, "e2e_runtime");
}
