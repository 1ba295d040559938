//! Several sessions at once: cancel and statement_timeout while a pull waits on the network, and
//! two sessions pulling one source.
use fake_geonature::{Config, FakeGeoNature, FaultAction, FaultRule};
use postgres::{Client, NoTls};
use std::time::{Duration, Instant};

fn connect() -> Client {
    let dsn = std::env::var("GN_FLUX_E2E_DSN")
        .expect("GN_FLUX_E2E_DSN is not set: these tests run from tests/e2e/run.sh (scripts/test)");
    Client::connect(&dsn, NoTls).expect("connect to the e2e database")
}

fn stand_in(rows: i64) -> FakeGeoNature {
    FakeGeoNature::start(Config {
        rows,
        seed: 5,
        ..Config::default()
    })
    .expect("stand-in")
}

/// Drops every source and its rows (uuids are unique across sources, and several tests serve the
/// same synthetic observations). The tests run one at a time (--test-threads=1).
fn fresh(c: &mut Client) {
    c.batch_execute("SELECT gn_flux.drop_source(name) FROM gn_flux.source")
        .unwrap();
}

fn add_source(c: &mut Client, name: &str, gn: &FakeGeoNature) {
    c.execute(
        "SELECT gn_flux.drop_source($1::text) FROM gn_flux.source WHERE name = $1::text",
        &[&name],
    )
    .unwrap();
    c.execute(
        "SELECT gn_flux.add_source(name => $1::text, url => $2::text, export_id => 1, login => 'admin', password => 'admin',
                                   retry_backoff_ms => 5, max_retries => 0, read_timeout_ms => 60000)",
        &[&name, &gn.url()],
    )
    .unwrap();
}

/// Makes the second export page answer after `ms` milliseconds.
fn slow_second_page(gn: &FakeGeoNature, ms: u64) {
    gn.add_fault(FaultRule {
        path: "/api/exports".into(),
        action: FaultAction::Delay { ms },
        times: 1,
        after: 1,
    });
}

fn wait_for_page_request(gn: &FakeGeoNature, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while gn
        .requests()
        .iter()
        .filter(|r| r.contains("/api/exports/api/1"))
        .count()
        < n
    {
        assert!(Instant::now() < deadline, "the pull never reached page {n}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sqlstate(e: &postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no SQLSTATE: {e}"))
}

#[test]
fn pg_cancel_backend_stops_a_pull_waiting_on_the_network_within_a_second() {
    let gn = stand_in(3000);
    let mut a = connect();
    fresh(&mut a);
    add_source(&mut a, "e2e_cancel", &gn);
    let pid: i32 = a.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    gn.clear_requests();
    slow_second_page(&gn, 30_000);
    let puller = std::thread::spawn(move || {
        let r = a.query("SELECT * FROM gn_flux.pull_source('e2e_cancel', 'full')", &[]);
        (r.map(|rows| rows.len()), Instant::now(), a)
    });
    wait_for_page_request(&gn, 2);
    std::thread::sleep(Duration::from_millis(300));
    let mut b = connect();
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
    let gn = stand_in(3000);
    let mut a = connect();
    fresh(&mut a);
    add_source(&mut a, "e2e_timeout", &gn);
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
    let gn = stand_in(3000);
    let mut a = connect();
    fresh(&mut a);
    add_source(&mut a, "e2e_twice", &gn);
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
    let mut b = connect();
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
    let gn = stand_in(2000);
    // another instance (another seed: other uuids), as two real sources would be
    let gn2 = FakeGeoNature::start(Config {
        rows: 1500,
        seed: 77,
        ..Config::default()
    })
    .expect("stand-in");
    let mut a = connect();
    fresh(&mut a);
    let mut b = connect();
    add_source(&mut a, "e2e_par_a", &gn);
    b.execute(
        "SELECT gn_flux.drop_source($1::text) FROM gn_flux.source WHERE name = $1::text",
        &[&"e2e_par_b"],
    )
    .unwrap();
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
    use std::sync::{Arc, Mutex};
    let gn = stand_in(4000);
    let dsn = std::env::var("GN_FLUX_E2E_DSN").expect("GN_FLUX_E2E_DSN");
    let notices: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = notices.clone();
    let mut config: postgres::Config = dsn.parse().unwrap();
    config.notice_callback(move |n| sink.lock().unwrap().push(n.message().to_string()));
    let mut c = config.connect(NoTls).unwrap();
    fresh(&mut c);
    add_source(&mut c, "e2e_progress", &gn);
    // every page takes 0.6 s: a 4-page pull lasts more than a second
    gn.add_fault(FaultRule {
        path: "/api/exports".into(),
        action: FaultAction::Delay { ms: 600 },
        times: 4,
        after: 1,
    });
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
    gn.add_fault(FaultRule {
        path: "/api/exports".into(),
        action: FaultAction::Delay { ms: 600 },
        times: 4,
        after: 0,
    });
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
    let gn_a = stand_in(300);
    let gn_b = stand_in(300);
    let mut a = connect();
    fresh(&mut a);
    add_source(&mut a, "e2e_all_a", &gn_a);
    add_source(&mut a, "e2e_all_b", &gn_b);
    // b's first export page hangs long enough to cancel the call there
    gn_b.add_fault(FaultRule {
        path: "/api/exports".into(),
        action: FaultAction::Delay { ms: 20_000 },
        times: 1,
        after: 0,
    });
    let pid: i32 = a.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let canceller = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !gn_b.requests().iter().any(|r| r.contains("/api/exports/api/1")) {
            assert!(Instant::now() < deadline, "pull_all never reached the second source");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut b = connect();
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
    fresh(&mut a);
}
