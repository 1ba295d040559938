//! Every gn_flux setting, in one place. All names start with `gn_flux.`, a prefix reserved at load.
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};

/// `gn_flux.progress_notices`: NOTICE lines (page, rows, rows/s) during long runs.
pub static PROGRESS_NOTICES: GucSetting<bool> = GucSetting::<bool>::new(true);
/// `gn_flux.http_connect_timeout_ms`: TCP/TLS connect timeout of every HTTP request.
pub static HTTP_CONNECT_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(10_000);
/// `gn_flux.http_timeout_ms`: read timeout of every HTTP request (time without progress).
pub static HTTP_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(120_000);

/// `gn_flux.export_directory`: the only directory tree export files may be written to.
pub static EXPORT_DIRECTORY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `gn_flux.export_retention_days`: scheduled export files older than this are removed.
pub static EXPORT_RETENTION_DAYS: GucSetting<i32> = GucSetting::<i32>::new(15);
/// `gn_flux.gpkg_spatial_index`: GeoPackage exports carry an R-tree spatial index.
pub static GPKG_SPATIAL_INDEX: GucSetting<bool> = GucSetting::<bool>::new(true);
/// `gn_flux.csv_separator`: field separator of CSV exports (GeoNature: `;`).
pub static CSV_SEPARATOR: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c";"));

/// `gn_flux.secrets_directory`: where source secret files (password_file, token_file) are read.
pub static SECRETS_DIRECTORY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `gn_flux.http_ca_file`: extra trusted certificate authorities (PEM) for https sources.
pub static HTTP_CA_FILE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `gn_flux.max_reply_size` (kB): a larger HTTP reply fails the run before it is parsed.
pub static MAX_REPLY_SIZE_KB: GucSetting<i32> = GucSetting::<i32>::new(64 * 1024);
/// `gn_flux.max_run_time` (s): a pull running longer fails; 0 = no limit.
pub static MAX_RUN_TIME_S: GucSetting<i32> = GucSetting::<i32>::new(0);
/// `gn_flux.watermark_tolerance` (s): how far past the server's clock a derniere_action may be
/// before the watermark falls back to the server's time minus this tolerance.
pub static WATERMARK_TOLERANCE_S: GucSetting<i32> = GucSetting::<i32>::new(86_400);

// The API worker (src/serve). Postmaster settings are defined only while preloading.
/// `gn_flux.api_listen`: `host:port` the API workers listen on; empty = no API (the default).
pub static API_LISTEN: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `gn_flux.api_database`: the database the API serves.
pub static API_DATABASE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `gn_flux.api_workers`: API worker processes sharing the port.
pub static API_WORKERS: GucSetting<i32> = GucSetting::<i32>::new(2);
/// `gn_flux.api_root`: path prefix of the GeoNature-compatible routes.
pub static API_ROOT: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"/geonature"));
/// `gn_flux.api_public_url`: scheme and host of absolute links (behind a proxy); empty = from the request.
pub static API_PUBLIC_URL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `gn_flux.api_dashboard_role`: members of this role (and superusers' roles) see the dashboard.
pub static API_DASHBOARD_ROLE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"gn_flux_monitor"));
/// `gn_flux.api_public_role`: role anonymous callers read public exports as.
pub static API_PUBLIC_ROLE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"gn_flux_anonymous"));
/// `gn_flux.api_statement_timeout` (ms): every query of a request.
pub static API_STATEMENT_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(60_000);
/// `gn_flux.api_max_connections`: open connections per worker.
pub static API_MAX_CONNECTIONS: GucSetting<i32> = GucSetting::<i32>::new(512);
/// `gn_flux.api_read_timeout` (ms): a request must arrive whole within this time of its first byte.
pub static API_READ_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(10_000);
/// `gn_flux.api_idle_timeout` (ms): an idle keep-alive connection is closed after this.
pub static API_IDLE_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(30_000);
/// `gn_flux.api_max_post_size` (kB): the largest body of an intake request (API POST).
pub static API_MAX_POST_SIZE_KB: GucSetting<i32> = GucSetting::<i32>::new(16 * 1024);
/// `gn_flux.api_send_timeout` (ms): a client that takes nothing for this long is dropped.
pub static API_SEND_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(30_000);
/// `gn_flux.api_log_retention` (days): api_log rows older than this are removed.
pub static API_LOG_RETENTION_DAYS: GucSetting<i32> = GucSetting::<i32>::new(30);
/// `gn_flux.api_session_lifetime` (s): validity of a login token.
pub static API_SESSION_LIFETIME_S: GucSetting<i32> = GucSetting::<i32>::new(86_400);
/// `gn_flux.api_count_ttl` (s): how long a page count is reused by the later pages of a walk.
pub static API_COUNT_TTL_S: GucSetting<i32> = GucSetting::<i32>::new(60);
/// `gn_flux.api_max_page_size`: the largest `limit` served (GeoNature's max_page_size_api).
pub static API_MAX_PAGE_SIZE: GucSetting<i32> = GucSetting::<i32>::new(1000);
/// `gn_flux.api_allow_all_rows`: whether `limit=0` serves every row in one reply, as GeoNature does.
pub static API_ALLOW_ALL_ROWS: GucSetting<bool> = GucSetting::<bool>::new(true);

static LOADED_FROM_PRELOAD: AtomicBool = AtomicBool::new(false);

/// Defines the session-level settings. Safe in any backend, preloaded or not.
pub fn init() {
    GucRegistry::define_bool_guc(
        c"gn_flux.progress_notices",
        c"Emit NOTICE lines with progress (pages, rows, rows/s) during long gn_flux runs.",
        c"Turn off in scripts that treat notices as noise; failures are still reported as errors.",
        &PROGRESS_NOTICES,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"gn_flux.http_connect_timeout_ms",
        c"Connect timeout of gn_flux HTTP requests.",
        c"Applies to each attempt; retries follow the source's retry policy.",
        &HTTP_CONNECT_TIMEOUT_MS,
        1,
        3_600_000,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"gn_flux.http_timeout_ms",
        c"Read timeout of gn_flux HTTP requests (longest wait without receiving data).",
        c"A cancel (pg_cancel_backend, statement_timeout) interrupts a request sooner.",
        &HTTP_TIMEOUT_MS,
        1,
        3_600_000,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_string_guc(
        c"gn_flux.export_directory",
        c"Directory under which gn_flux may write export files (export_to_file, schedule_export).",
        c"Unset: no file exports. Only superusers may change it; the server's OS user must be able to write there.",
        &EXPORT_DIRECTORY,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"gn_flux.export_retention_days",
        c"Days a scheduled export file is kept before a later run of the same schedule removes it.",
        c"0 keeps every file. The newest file of a schedule is never removed.",
        &EXPORT_RETENTION_DAYS,
        0,
        36_500,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"gn_flux.gpkg_spatial_index",
        c"Build the R-tree spatial index (GeoPackage extension gpkg_rtree_index) in GeoPackage exports.",
        c"On by default, as GDAL does; off writes faster files that GIS clients index themselves or read unindexed.",
        &GPKG_SPATIAL_INDEX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"gn_flux.csv_separator",
        c"Field separator of CSV exports.",
        c"One ASCII character; GeoNature's Export module writes ';'.",
        &CSV_SEPARATOR,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"gn_flux.secrets_directory",
        c"Directory holding the secret files named by gn_flux.source.password_file and token_file.",
        c"Only superusers may change it. Files must be owned by the server's OS user and not readable by others (mode 600).",
        &SECRETS_DIRECTORY,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"gn_flux.http_ca_file",
        c"PEM file of extra certificate authorities trusted for https sources (an internal CA).",
        c"Unset: the public web PKI only. Only superusers may change it.",
        &HTTP_CA_FILE,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"gn_flux.max_reply_size",
        c"Largest HTTP reply body gn_flux reads from a remote server; a larger one fails the run.",
        c"Protects the server's memory from a hostile or broken remote. Only superusers may raise it.",
        &MAX_REPLY_SIZE_KB,
        64,
        1024 * 1024,
        GucContext::Suset,
        GucFlags::UNIT_KB,
    );
    GucRegistry::define_int_guc(
        c"gn_flux.max_run_time",
        c"Longest time one pull may run before it fails (0: no limit).",
        c"A bound on a remote that never ends its pages; statement_timeout also applies.",
        &MAX_RUN_TIME_S,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"gn_flux.watermark_tolerance",
        c"How far past the remote server's clock a derniere_action may lie before the watermark falls back to the server's time minus this tolerance.",
        c"Covers time zones (derniere_action is the server's local time) and clock skew; a capped watermark is reported in the run's comment.",
        &WATERMARK_TOLERANCE_S,
        0,
        30 * 86_400,
        GucContext::Userset,
        GucFlags::UNIT_S,
    );
    define_api_settings();
}

/// name, short and long description, setting, min, max, flags.
type IntSetting = (
    &'static std::ffi::CStr,
    &'static std::ffi::CStr,
    &'static std::ffi::CStr,
    &'static GucSetting<i32>,
    i32,
    i32,
    GucFlags,
);

fn define_api_settings() {
    GucRegistry::define_string_guc(
        c"gn_flux.api_root",
        c"Path prefix of the GeoNature-compatible API routes served by the API workers.",
        c"\"/geonature\" by default (GeoNature's usual URL); \"\" serves /api/... at the root.",
        &API_ROOT,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"gn_flux.api_public_url",
        c"Scheme, host and port the links of the OGC API and the web pages start with, e.g. https://data.example.org.",
        c"Empty by default: taken from the request (X-Forwarded-Proto and X-Forwarded-Host of a proxy, else Host).",
        &API_PUBLIC_URL,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"gn_flux.api_dashboard_role",
        c"Role whose members may see the monitoring dashboard of the web pages.",
        c"gn_flux_monitor by default; they see what the role's grants show (sources, runs, errors, scheduled exports, API usage).",
        &API_DASHBOARD_ROLE,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"gn_flux.api_public_role",
        c"Role whose privileges anonymous API callers get on public exports.",
        c"gn_flux_anonymous by default (NOLOGIN, created by the extension): GRANT it SELECT on the views of public exports. Empty: public exports need credentials too.",
        &API_PUBLIC_ROLE,
        GucContext::Sighup,
        GucFlags::default(),
    );
    let ints: [IntSetting; 10] = [
        (c"gn_flux.api_statement_timeout", c"statement_timeout of every query the API workers run for a request.", c"A request over it answers 503; 0 disables it.", &API_STATEMENT_TIMEOUT_MS, 0, i32::MAX, GucFlags::UNIT_MS),
        (c"gn_flux.api_max_connections", c"Open HTTP connections per API worker; beyond it new connections get 503.", c"Idle keep-alive connections count; each costs a thread and little memory.", &API_MAX_CONNECTIONS, 1, 100_000, GucFlags::default()),
        (c"gn_flux.api_read_timeout", c"Time a request has to arrive whole once its first byte is in.", c"A client slower than this (slow loris) gets 408 and is closed.", &API_READ_TIMEOUT_MS, 100, 3_600_000, GucFlags::UNIT_MS),
        (c"gn_flux.api_idle_timeout", c"Time an idle keep-alive connection is kept open.", c"", &API_IDLE_TIMEOUT_MS, 100, 3_600_000, GucFlags::UNIT_MS),
        (c"gn_flux.api_max_post_size", c"Largest request body an intake accepts (API POST of observations); beyond it, 413.", c"Other routes take bodies of at most 64 kB.", &API_MAX_POST_SIZE_KB, 64, 1024 * 1024, GucFlags::UNIT_KB),
        (c"gn_flux.api_send_timeout", c"Time a client may take no reply bytes before the API worker drops it.", c"Bounds how long a stalled client holds a worker.", &API_SEND_TIMEOUT_MS, 100, 3_600_000, GucFlags::UNIT_MS),
        (c"gn_flux.api_log_retention", c"Days of gn_flux.api_log kept; older rows are removed by the API workers (0: keep all).", c"", &API_LOG_RETENTION_DAYS, 0, 36_500, GucFlags::default()),
        (c"gn_flux.api_session_lifetime", c"Validity of a token returned by POST /api/auth/login.", c"", &API_SESSION_LIFETIME_S, 60, 365 * 86_400, GucFlags::UNIT_S),
        (c"gn_flux.api_count_ttl", c"How long the row counts of an export page (total, total_filtered) are reused by the later pages of the same walk.", c"The first page of a walk (offset 0) always counts afresh.", &API_COUNT_TTL_S, 0, 86_400, GucFlags::UNIT_S),
        (c"gn_flux.api_max_page_size", c"Largest limit the export API serves (GeoNature's max_page_size_api); larger requests are capped and the reply's limit says so.", c"", &API_MAX_PAGE_SIZE, 1, 1_000_000, GucFlags::default()),
    ];
    for (name, short, long, setting, min, max, flags) in ints {
        GucRegistry::define_int_guc(name, short, long, setting, min, max, GucContext::Sighup, flags);
    }
    GucRegistry::define_bool_guc(
        c"gn_flux.api_allow_all_rows",
        c"Whether limit=0 returns every row of an export in one streamed reply, as GeoNature does.",
        c"Off: limit=0 answers 400 asking to page.",
        &API_ALLOW_ALL_ROWS,
        GucContext::Sighup,
        GucFlags::default(),
    );
}

fn setting_text(s: &GucSetting<Option<CString>>) -> Option<String> {
    s.get()
        .map(|c| c.to_string_lossy().trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `gn_flux.secrets_directory`, if set and not empty.
pub fn secrets_directory() -> Option<String> {
    setting_text(&SECRETS_DIRECTORY)
}

/// The server-wide limits of every pull: reply size, run time, extra CAs.
pub fn apply_client_limits(mut cfg: gn_client::SourceConfig) -> gn_client::SourceConfig {
    cfg.max_reply_bytes = MAX_REPLY_SIZE_KB.get().max(1) as u64 * 1024;
    let run_time = MAX_RUN_TIME_S.get();
    cfg.max_run_time = (run_time > 0).then(|| std::time::Duration::from_secs(run_time as u64));
    cfg.ca_file = http_ca_file().map(std::path::PathBuf::from);
    cfg
}

/// `gn_flux.http_ca_file`, if set and not empty.
pub fn http_ca_file() -> Option<String> {
    setting_text(&HTTP_CA_FILE)
}

/// `gn_flux.export_directory`, if set and not empty.
pub fn export_directory() -> Option<String> {
    setting_text(&EXPORT_DIRECTORY)
}

/// `gn_flux.csv_separator` as text ("" when unset).
pub fn csv_separator() -> String {
    CSV_SEPARATOR
        .get()
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Registers what only a preloaded library may register (postmaster settings, background
/// workers). Called from `_PG_init` only while shared_preload_libraries is processed.
pub fn init_preloaded() {
    LOADED_FROM_PRELOAD.store(true, Ordering::Relaxed);
    GucRegistry::define_string_guc(
        c"gn_flux.api_listen",
        c"Address (host:port) the gn_flux API workers listen on; empty: no API workers.",
        c"For example 127.0.0.1:8791. Needs gn_flux in shared_preload_libraries and a restart.",
        &API_LISTEN,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"gn_flux.api_database",
        c"Database whose registered exports the API workers serve.",
        c"gn_flux must be installed there. Needs a restart.",
        &API_DATABASE,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"gn_flux.api_workers",
        c"API worker processes sharing the API port.",
        c"Each takes one max_worker_processes slot and serves one request at a time.",
        &API_WORKERS,
        1,
        64,
        GucContext::Postmaster,
        GucFlags::default(),
    );
}

/// True while the postmaster processes shared_preload_libraries.
pub fn preloading() -> bool {
    crate::ffi::preloading()
}

/// Whether this process inherited a library loaded through shared_preload_libraries.
pub fn loaded_from_preload() -> bool {
    LOADED_FROM_PRELOAD.load(Ordering::Relaxed)
}

pub fn reserve_prefix() {
    // SET of unknown gn_flux.* names becomes an error instead of a silent placeholder.
    crate::ffi::reserve_guc_prefix(c"gn_flux");
}

/// `gn_flux.api_listen`, if set and not empty.
pub fn api_listen() -> Option<String> {
    setting_text(&API_LISTEN)
}

/// `gn_flux.api_database`, if set and not empty.
pub fn api_database() -> Option<String> {
    setting_text(&API_DATABASE)
}

/// `gn_flux.api_root` ("" when unset).
pub fn api_root() -> String {
    setting_text(&API_ROOT).unwrap_or_default()
}

/// `gn_flux.api_public_url`, if set and not empty.
pub fn api_public_url() -> Option<String> {
    setting_text(&API_PUBLIC_URL)
}

/// `gn_flux.api_dashboard_role`, if set and not empty.
pub fn api_dashboard_role() -> Option<String> {
    setting_text(&API_DASHBOARD_ROLE)
}

/// `gn_flux.api_public_role`, if set and not empty.
pub fn api_public_role() -> Option<String> {
    setting_text(&API_PUBLIC_ROLE)
}
