//! The one integration harness: connecting, starting the GeoNature stand-in, fault rules,
//! creating sources, pulling, comparing what was stored with what the stand-in serves, waiting
//! for requests, SQLSTATEs, and the files and readers the export tests share.
use fake_geonature::{Config, FakeGeoNature, FaultAction, FaultRule};
use postgres::{Client, GenericClient, NoTls};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The database of the pull and multi-session tests (gn_flux installed, no pg_cron).
pub const DSN: &str = "GN_FLUX_E2E_DSN";
/// The database pg_cron runs in (gn_flux and pg_cron installed): scheduled pulls.
pub const CRON_DSN: &str = "GN_FLUX_E2E_CRON_DSN";
/// The database of the export tests (the one pg_cron runs in).
pub const EXPORT_DSN: &str = "GN_FLUX_E2E_EXPORT_DSN";
/// The database of the GeoNature load tests (PostGIS, the GeoNature fixture, gn_flux).
pub const SYNTHESE_DSN: &str = "GN_FLUX_E2E_SYNTHESE_DSN";
/// `gn_flux.export_directory` of the export tests' cluster.
pub const EXPORT_DIR: &str = "GN_FLUX_E2E_EXPORT_DIR";

/// The path prefix of the Export module's data API (fault rules match on it).
pub const EXPORTS: &str = "/api/exports";
/// The export pages of export 1, as they appear in [`FakeGeoNature::requests`].
pub const EXPORT_1_PAGES: &str = "/api/exports/api/1";

/// The libpq connection string in the environment variable `var` (one of the constants above).
pub fn dsn(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set: these tests run from tests/e2e/run.sh (scripts/test)"))
}

/// `gn_flux.export_directory` of the export tests' cluster (`GN_FLUX_E2E_EXPORT_DIR`).
pub fn export_dir() -> PathBuf {
    PathBuf::from(dsn(EXPORT_DIR))
}

pub fn connect(var: &str) -> Client {
    Client::connect(&dsn(var), NoTls).unwrap_or_else(|e| panic!("connect to the database of {var}: {e}"))
}

/// A client whose NOTICE messages are collected.
pub fn connect_with_notices(var: &str) -> (Client, Arc<Mutex<Vec<String>>>) {
    let notices: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = notices.clone();
    let mut config: postgres::Config = dsn(var).parse().expect("a valid connection string");
    config.notice_callback(move |n| sink.lock().unwrap().push(n.message().to_string()));
    let client = config
        .connect(NoTls)
        .unwrap_or_else(|e| panic!("connect to the database of {var}: {e}"));
    (client, notices)
}

/// SQL removing what a test creates (roles, schemas, tables, triggers), written with `IF EXISTS`:
/// run when the guard is made (leftovers of an interrupted run) and again when it is dropped,
/// also after a failed assertion. Declare it before the test's clients so they close first.
pub struct Cleanup {
    var: &'static str,
    sql: String,
}

impl Cleanup {
    pub fn new(var: &'static str, sql: &str) -> Cleanup {
        let guard = Cleanup {
            var,
            sql: sql.to_string(),
        };
        if let Err(e) = guard.run() {
            panic!("cleanup before the test failed: {e}");
        }
        guard
    }

    fn run(&self) -> Result<(), postgres::Error> {
        Client::connect(&dsn(self.var), NoTls)?.batch_execute(&self.sql)
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Err(e) = self.run() {
            if std::thread::panicking() {
                eprintln!("cleanup after the failed test failed too: {e}");
            } else {
                panic!("cleanup after the test failed: {e}");
            }
        }
    }
}

/// Starts the stand-in on 127.0.0.1 (a free port) with `rows` observations generated from
/// `seed`: two instances with different seeds serve different uuids, as two real sources do.
pub fn stand_in(seed: u64, rows: i64) -> FakeGeoNature {
    FakeGeoNature::start(Config {
        rows,
        seed,
        ..Config::default()
    })
    .expect("start the GeoNature stand-in")
}

/// A fault rule: `action` on the next `times` requests whose path starts with `path`, after
/// letting `after` of them through.
pub fn fault(path: &str, action: FaultAction, times: u64, after: u64) -> FaultRule {
    FaultRule {
        path: path.into(),
        action,
        times,
        after,
    }
}

/// Answer with this HTTP status, optionally with `Retry-After` (seconds).
pub fn status(status: u16, retry_after: Option<u64>) -> FaultAction {
    FaultAction::Status { status, retry_after }
}

/// Answer normally after `ms` milliseconds.
pub fn delay(ms: u64) -> FaultAction {
    FaultAction::Delay { ms }
}

/// Drops every source and its rows (uuids are unique across sources, and several tests serve
/// the same synthetic observations), then forgets the runs (import_log, error_log) of `names`,
/// so that a test finds its sources' history empty even on a database used before. The tests
/// run one at a time (`--test-threads=1`).
pub fn fresh(c: &mut impl GenericClient, names: &[&str]) {
    c.batch_execute("SELECT gn_flux.drop_source(name) FROM gn_flux.source")
        .expect("drop every source");
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    c.execute(
        "DELETE FROM gn_flux.import_log WHERE source = ANY($1::text[])",
        &[&names],
    )
    .expect("forget earlier runs");
}

/// The options every test source gets: the stand-in's admin account, fast retries, a 3 s read
/// timeout. A test overrides or adds options by name.
pub const SOURCE_DEFAULTS: &[(&str, &str)] = &[
    ("login", "'admin'"),
    ("password", "'admin'"),
    ("retry_backoff_ms", "5"),
    ("read_timeout_ms", "3000"),
];

/// Registers `name` (dropped first if it exists) on the stand-in's export `export_id` with
/// [`SOURCE_DEFAULTS`] overridden by `options`: named arguments of gn_flux.add_source whose
/// values are SQL literals written in the tests, e.g. `&[("max_retries", "8")]`.
pub fn add_source(
    c: &mut impl GenericClient,
    name: &str,
    gn: &FakeGeoNature,
    export_id: i32,
    options: &[(&str, &str)],
) {
    drop_source(c, name);
    let mut args: Vec<(&str, &str)> = SOURCE_DEFAULTS.to_vec();
    for &(key, value) in options {
        match args.iter_mut().find(|(k, _)| *k == key) {
            Some(arg) => arg.1 = value,
            None => args.push((key, value)),
        }
    }
    let named: String = args.iter().map(|(k, v)| format!(", {k} => {v}")).collect();
    let sql = format!("SELECT gn_flux.add_source(name => $1::text, url => $2::text, export_id => $3::int{named})");
    c.execute(sql.as_str(), &[&name, &gn.url(), &export_id])
        .unwrap_or_else(|e| panic!("add_source {name}: {e}"));
}

/// Drops `name` and its rows if it exists.
pub fn drop_source(c: &mut impl GenericClient, name: &str) {
    c.execute(
        "SELECT gn_flux.drop_source($1::text) FROM gn_flux.source WHERE name = $1::text",
        &[&name],
    )
    .unwrap_or_else(|e| panic!("drop_source {name}: {e}"));
}

/// One row of gn_flux.pull_source().
#[derive(Debug, Clone, PartialEq)]
pub struct Pull {
    pub import_id: Option<i32>,
    pub mode: String,
    pub status: String,
    pub pages: i32,
    pub items: i64,
    pub inserted: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub deleted: i64,
    pub errors: i64,
    pub message: Option<String>,
}

/// `gn_flux.pull_source(name, mode)`; a failed run is a row with status `failed`, an error
/// (cancel, lock, privileges) is the `Err`.
pub fn try_pull(c: &mut impl GenericClient, name: &str, mode: &str) -> Result<Pull, postgres::Error> {
    let r = c.query_one(
        "SELECT import_id, mode, status, pages, items, inserted, updated, unchanged, deleted, errors, message
           FROM gn_flux.pull_source($1::text, $2::text)",
        &[&name, &mode],
    )?;
    Ok(Pull {
        import_id: r.get(0),
        mode: r.get(1),
        status: r.get(2),
        pages: r.get(3),
        items: r.get(4),
        inserted: r.get(5),
        updated: r.get(6),
        unchanged: r.get(7),
        deleted: r.get(8),
        errors: r.get(9),
        message: r.get(10),
    })
}

pub fn pull(c: &mut impl GenericClient, name: &str, mode: &str) -> Pull {
    try_pull(c, name, mode).unwrap_or_else(|e| panic!("pull_source({name}, {mode}): {e}"))
}

/// The single bigint a query returns (a count).
pub fn count(c: &mut impl GenericClient, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

/// Every stored item of `source` equals the stand-in's current item of `export_id`, and the
/// stored ids are exactly the live ones.
pub fn assert_exact(c: &mut impl GenericClient, gn: &FakeGeoNature, source: &str, export_id: i64) {
    let max_id = gn.live_rows() as i64 + 10_000;
    let mut expected = String::from("[");
    let mut n = 0;
    for id in 1..=max_id {
        if let Some(item) = gn.item_json(export_id, id) {
            if n > 0 {
                expected.push(',');
            }
            expected.push_str(&item);
            n += 1;
        }
    }
    expected.push(']');
    let mismatches: i64 = c
        .query_one(
            "SELECT count(*) FROM jsonb_array_elements($1::text::jsonb) e
               FULL JOIN (SELECT * FROM gn_flux.data_json WHERE source = $2::text) d ON d.id_data = (e->>'id_synthese')::int
              WHERE e IS NULL OR d.item IS NULL OR e IS DISTINCT FROM d.item",
            &[&expected, &source],
        )
        .expect("compare stored items")
        .get(0);
    assert_eq!(mismatches, 0, "stored items of {source} differ from the source");
    assert_eq!(n as u64, gn.live_rows());
}

/// A fingerprint of every stored row of `source` (ids, uuids, items, geometries).
pub fn checksum(c: &mut impl GenericClient, source: &str) -> String {
    c.query_one(
        "SELECT md5(coalesce(string_agg(id_data || ':' || uuid || ':' || item::text || ':' || coalesce(geom::text, ''), '|' ORDER BY id_data), ''))
           FROM gn_flux.data_json WHERE source = $1::text",
        &[&source],
    )
    .expect("checksum")
    .get(0)
}

/// The SQLSTATE of an error, or a text saying there is none (a lost connection).
pub fn sqlstate(e: &postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no SQLSTATE: {e}"))
}

/// The server's message of an error (without SQLSTATE, DETAIL or HINT), else the whole error.
pub fn message(e: &postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string())
}

/// Waits (30 s at most) until the stand-in has received `n` requests containing `needle`.
pub fn wait_for_requests(gn: &FakeGeoNature, needle: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while gn.requests().iter().filter(|r| r.contains(needle)).count() < n {
        assert!(Instant::now() < deadline, "the stand-in never received {n} × {needle}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the pull has asked for page `n` of export 1.
pub fn wait_for_page_request(gn: &FakeGeoNature, n: usize) {
    wait_for_requests(gn, EXPORT_1_PAGES, n);
}

/// uid and gid of the `postgres` OS user (the server's).
pub fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = std::process::Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("run id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no postgres OS user (id {flag} postgres)"))
    };
    (id("-u"), id("-g"))
}

/// Gives `p` to the server's OS user (the tests run as root on the server's host).
pub fn chown_postgres(p: &Path) {
    let (uid, gid) = postgres_ids();
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
}

/// A private directory of the server's OS user (mode 700) holding one secret file `name`
/// (mode `mode`, owned by the server's OS user), for gn_flux.secrets_directory. Made anew.
pub fn secrets_dir(test: &str, name: &str, content: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("gn_flux_e2e_secrets_{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    chown_postgres(&dir);
    let file = dir.join(name);
    std::fs::write(&file, content).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
    chown_postgres(&file);
    dir
}

/// A scratch directory `gn_flux_e2e_exports_<name>` made anew under the temporary directory.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gn_flux_e2e_exports_{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `bytes` to `dir/name`.
pub fn save(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The names in `dir`, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `ogrinfo -ro -al -so path`: GDAL's summary of every layer (fails the test if GDAL cannot read it).
pub fn ogrinfo(path: &str) -> String {
    let out = std::process::Command::new("ogrinfo")
        .args(["-ro", "-al", "-so", path])
        .output()
        .expect("ogrinfo (gdal-bin) must be installed: scripts/lib.sh installs it");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ogrinfo {path} failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
