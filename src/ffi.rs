//! The only module that calls PostgreSQL's C API directly (the crate denies `unsafe` everywhere
//! else): subtransactions, used so that a failed pull rolls back its data changes while its
//! failure is still recorded in import_log; and two reads/calls made while the library loads.
#![allow(unsafe_code)]

use pgrx::pg_sys;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::PgTryBuilder;
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
