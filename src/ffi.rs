//! The only module that calls PostgreSQL's C API directly (the crate denies `unsafe` everywhere
//! else): subtransactions, used so that a failed pull rolls back its data changes while its
//! failure is still recorded in import_log; and two reads/calls made while the library loads.
#![allow(unsafe_code)]

use pgrx::pg_sys;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::{pg_guard, PgTryBuilder};
use std::panic::UnwindSafe;

/// Outcome of work run in a subtransaction.
pub enum SubxactOutcome<T> {
    /// The closure returned normally; its subtransaction is committed.
    Done(T),
    /// A PostgreSQL error (or a Rust panic) escaped the closure; its subtransaction was rolled back.
    Failed { message: String },
}

/// Runs `f` in a subtransaction. `Ok`-or-`Err` from `f` decides commit or rollback of the
/// subtransaction (`Err` values are returned as `Done(Err(..))` after a rollback); a PostgreSQL
/// error inside `f` is caught and reported as `Failed` after a rollback. Query cancels and other
/// interrupts are re-raised once the subtransaction is rolled back.
pub fn in_subtransaction<T, E, F>(f: F) -> SubxactOutcome<Result<T, E>>
where
    F: FnOnce() -> Result<T, E> + UnwindSafe,
{
    // SAFETY: the standard PL pattern (plpython, plperl): remember the memory context and resource
    // owner, start an internal subtransaction, and restore both after committing or rolling it back.
    // Everything runs on the backend's main thread.
    let (old_context, old_owner) = unsafe { (pg_sys::CurrentMemoryContext, pg_sys::CurrentResourceOwner) };
    unsafe {
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(old_context);
    }
    let restore = move || unsafe {
        pg_sys::MemoryContextSwitchTo(old_context);
        pg_sys::CurrentResourceOwner = old_owner;
    };
    let result = PgTryBuilder::new(move || Ok::<_, Box<CaughtError>>(f()))
        .catch_others(|e| Err(Box::new(e)))
        .catch_rust_panic(|e| Err(Box::new(e)))
        .execute();
    match result {
        Ok(Ok(v)) => {
            // SAFETY: see above; the subtransaction started here is the current one.
            unsafe { pg_sys::ReleaseCurrentSubTransaction() };
            restore();
            SubxactOutcome::Done(Ok(v))
        }
        Ok(Err(e)) => {
            // SAFETY: see above.
            unsafe { pg_sys::RollbackAndReleaseCurrentSubTransaction() };
            restore();
            SubxactOutcome::Done(Err(e))
        }
        Err(caught) => {
            // SAFETY: see above; rolling back also releases the SPI state of the subtransaction.
            unsafe { pg_sys::RollbackAndReleaseCurrentSubTransaction() };
            restore();
            let (message, interrupt) = match caught.as_ref() {
                CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => {
                    let code = r.sql_error_code();
                    let interrupt = matches!(
                        code,
                        pgrx::PgSqlErrorCode::ERRCODE_QUERY_CANCELED
                            | pgrx::PgSqlErrorCode::ERRCODE_ADMIN_SHUTDOWN
                            | pgrx::PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE
                    );
                    let mut m = r.message().to_string();
                    if let Some(d) = r.detail() {
                        m = format!("{m} ({d})");
                    }
                    (m, interrupt)
                }
                CaughtError::RustPanic { ereport, .. } => (ereport.message().to_string(), false),
            };
            if interrupt {
                (*caught).rethrow();
            }
            SubxactOutcome::Failed { message }
        }
    }
}

/// True while the postmaster processes shared_preload_libraries.
pub fn preloading() -> bool {
    // SAFETY: a plain read of a PostgreSQL global boolean, from the main thread during _PG_init.
    unsafe { pg_sys::process_shared_preload_libraries_in_progress }
}

/// Makes SET of unknown `<prefix>.*` settings an error instead of a silent placeholder.
pub fn reserve_guc_prefix(prefix: &'static std::ffi::CStr) {
    // SAFETY: FFI call with a static NUL-terminated string, from the main thread during _PG_init.
    unsafe { pg_sys::MarkGUCPrefixReserved(prefix.as_ptr()) }
}

// ---------------------------------------------------------------------------------------------
// The API worker (src/serve): transactions, roles, timeouts, waits and signal masks.
// ---------------------------------------------------------------------------------------------

// Functions PostgreSQL exports that pgrx 0.18.1 does not bind (utils/timeout.h), and `die`,
// which must be installed as a plain C handler (pg_sys::die is a Rust wrapper).
// The timeout functions only arm or disarm a timer (no ERROR path in practice): plain "C".
unsafe extern "C" {
    #[link_name = "enable_timeout_after"]
    fn raw_enable_timeout_after(id: u32, delay_ms: i32);
    #[link_name = "disable_timeout"]
    fn raw_disable_timeout(id: u32, keep_indicator: bool);
}
unsafe extern "C-unwind" {
    // Never called from Rust: only its address is handed to pqsignal.
    #[link_name = "die"]
    fn raw_die(sig: i32);
}

/// PG15's `TimeoutId` STATEMENT_TIMEOUT.
const STATEMENT_TIMEOUT: u32 = 3;

/// A request's failure inside [`in_transaction`]: a PostgreSQL ERROR (or a panic), already
/// rolled back.
#[derive(Debug, Clone)]
pub struct CaughtSqlError {
    /// The error code's name (`ERRCODE_…`).
    pub sqlstate: String,
    /// The five-character SQLSTATE.
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

/// Arms PostgreSQL's statement timeout for the next query (SPI in a background worker does not
/// arm `statement_timeout` by itself): a query still running after `ms` is cancelled with an
/// ERROR. 0 disarms it.
pub fn arm_statement_timeout(ms: i32) {
    disarm_statement_timeout();
    if ms > 0 {
        // SAFETY: a plain call on the main thread inside a transaction.
        unsafe { raw_enable_timeout_after(STATEMENT_TIMEOUT, ms) };
    }
}

/// Disarms the statement timeout and forgets a cancel it may have requested.
pub fn disarm_statement_timeout() {
    // SAFETY: plain calls on the main thread; a no-op when the timeout is not armed.
    unsafe {
        raw_disable_timeout(STATEMENT_TIMEOUT, false);
        pg_sys::QueryCancelPending = false as _;
    }
}

/// Runs `f` in its own transaction on a background worker's main thread: committed when `f`
/// returns `Ok`, aborted when it returns `Err` or raises (the error is caught, the transaction
/// aborted, the worker goes on).
pub fn in_transaction<T, E, F>(f: F) -> Result<Result<T, E>, CaughtSqlError>
where
    F: FnOnce() -> Result<T, E>,
{
    // SAFETY: the transaction pattern of PostgreSQL's worker_spi, on the worker's main thread
    // between transactions; every path ends the transaction it started.
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    let f = std::panic::AssertUnwindSafe(f);
    let outcome = PgTryBuilder::new(move || Ok::<_, CaughtSqlError>(f()))
        .catch_others(|e| Err(caught_to_error(&e)))
        .catch_rust_panic(|e| Err(caught_to_error(&e)))
        .execute();
    disarm_statement_timeout();
    match outcome {
        Ok(Ok(v)) => {
            // SAFETY: the snapshot pushed above is still the active one; commit ends the
            // transaction started above.
            let committed = PgTryBuilder::new(|| unsafe {
                pg_sys::PopActiveSnapshot();
                pg_sys::CommitTransactionCommand();
                Ok(())
            })
            .catch_others(|e| Err(caught_to_error(&e)))
            .execute();
            match committed {
                Ok(()) => Ok(Ok(v)),
                Err(e) => {
                    // SAFETY: a failed commit leaves an aborted transaction to clean up.
                    unsafe { pg_sys::AbortCurrentTransaction() };
                    Err(e)
                }
            }
        }
        Ok(Err(e)) => {
            // SAFETY: aborting releases the snapshot, SPI, locks and the user id set by as_role.
            unsafe { pg_sys::AbortCurrentTransaction() };
            Ok(Err(e))
        }
        Err(e) => {
            // SAFETY: as above; the error state was flushed by PgTryBuilder.
            unsafe {
                pg_sys::QueryCancelPending = false as _;
                pg_sys::AbortCurrentTransaction();
            }
            Err(e)
        }
    }
}

/// PostgreSQL's packed error code (MAKE_SQLSTATE: six bits per character) as its five characters.
fn five_chars(packed: i32) -> String {
    (0..5)
        .map(|i| (((packed >> (6 * i)) & 0x3F) as u8 + b'0') as char)
        .collect()
}

fn caught_to_error(e: &CaughtError) -> CaughtSqlError {
    match e {
        CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => CaughtSqlError {
            sqlstate: format!("{:?}", r.sql_error_code()),
            code: five_chars(r.sql_error_code() as i32),
            message: r.message().to_string(),
            detail: r.detail().map(str::to_string),
            hint: r.hint().map(str::to_string),
        },
        CaughtError::RustPanic { ereport, .. } => CaughtSqlError {
            sqlstate: "ERRCODE_INTERNAL_ERROR".into(),
            code: "XX000".into(),
            message: ereport.message().to_string(),
            detail: None,
            hint: None,
        },
    }
}

/// Runs `f` with `role` as the current user, in a security-restricted way (`SET ROLE` and
/// `RESET ROLE` then fail: SQL reached through a request cannot switch back to the worker's
/// superuser). Call inside [`in_transaction`]: an error aborts the transaction, which restores
/// the user id; on a normal return it is restored here.
pub fn as_role<T>(role: pg_sys::Oid, f: impl FnOnce() -> T) -> T {
    let (mut uid, mut ctx) = (pg_sys::Oid::INVALID, 0);
    // SAFETY: PostgreSQL's own pattern for security-restricted operations, on the main thread.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut uid, &mut ctx);
        pg_sys::SetUserIdAndSecContext(role, ctx | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32);
    }
    let out = f();
    // SAFETY: restores what was read above.
    unsafe { pg_sys::SetUserIdAndSecContext(uid, ctx) };
    out
}

/// Checks `password` against the role's stored verifier (SCRAM or MD5) with PostgreSQL's own
/// functions, as a plain-password login would. False for a missing role, no password, an
/// expired `VALID UNTIL`, or a wrong password. Inside a transaction, on the main thread.
pub fn password_matches(role: &str, password: &str) -> bool {
    let (Ok(role), Ok(password)) = (std::ffi::CString::new(role), std::ffi::CString::new(password)) else {
        return false;
    };
    let mut detail: *const std::ffi::c_char = std::ptr::null();
    // SAFETY: NUL-terminated strings that outlive the calls; the verifier is palloc'd in the
    // transaction's memory.
    unsafe {
        let shadow = pg_sys::get_role_password(role.as_ptr(), &mut detail);
        if shadow.is_null() {
            return false;
        }
        pg_sys::plain_crypt_verify(role.as_ptr(), shadow, password.as_ptr(), &mut detail) == 0
    }
}

/// What woke the worker's main thread.
pub struct Wake {
    pub postmaster_died: bool,
}

/// Waits for the latch (signals), the readable socket `fd`, or `timeout_ms`; then resets the
/// latch and serves interrupts (barriers, cancels).
pub fn wait_latch_or_socket(fd: i32, timeout_ms: i64) -> Wake {
    let mut events = (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_POSTMASTER_DEATH) as i32;
    // (no socket: waiting for a socket event without one is an ERROR, which ended the worker)
    if fd >= 0 {
        events |= pg_sys::WL_SOCKET_READABLE as i32;
    }
    // SAFETY: MyLatch is the worker's own latch; the call only waits.
    let rc =
        unsafe { pg_sys::WaitLatchOrSocket(pg_sys::MyLatch, events, fd, timeout_ms as _, pg_sys::PG_WAIT_EXTENSION) };
    // SAFETY: as above.
    unsafe { pg_sys::ResetLatch(pg_sys::MyLatch) };
    pgrx::check_for_interrupts!();
    Wake {
        postmaster_died: rc & pg_sys::WL_POSTMASTER_DEATH as i32 != 0,
    }
}

/// Re-reads postgresql.conf (on SIGHUP; pgrx's handler only sets a flag).
pub fn reload_configuration() {
    // SAFETY: what PostgreSQL's own processes do on SIGHUP, on the main thread, between transactions.
    unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) }
}

/// Installs PostgreSQL's `die` as the SIGTERM handler, so SIGTERM also interrupts a running
/// statement (pgrx's handler only sets a flag, checked between requests).
pub fn terminate_on_sigterm() {
    // SAFETY: pqsignal with PostgreSQL's own handler, on the main thread during startup.
    unsafe {
        pg_sys::pqsignal(libc::SIGTERM, Some(raw_die));
    }
}

/// Exits the worker with status 1, so that the postmaster restarts it after its restart delay.
pub fn exit_for_restart() -> ! {
    // SAFETY: proc_exit runs the exit callbacks and never returns.
    unsafe { pg_sys::proc_exit(1) }
}

/// Spawns a thread with every signal blocked: PostgreSQL's signal handlers must run on the main
/// thread (a handler run on a helper thread calls into PostgreSQL from the wrong thread). Used for
/// every helper thread gn_flux starts.
pub fn spawn_quiet<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    // SAFETY: plain libc calls on a local sigset; the previous mask is restored before returning.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let spawned = std::thread::Builder::new().name(name.into()).spawn(f);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        spawned
    }
}

/// The entry point of the API background workers (registered by `serve::register_workers`).
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn gn_flux_api_worker_main(_arg: pg_sys::Datum) {
    crate::serve::worker::run();
    // Returning ends the worker for good (exit code 0): only when it is not configured to serve.
}
