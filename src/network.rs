//! Network work seen from the backend: waiting on a network thread while honouring cancels,
//! and the SQLSTATE of a remote failure. A leaf module: sources and pull both use it.
use crate::error::{GnFluxError, Kind};
use gn_client::ClientError;
use std::time::Duration;

/// Cancels a network thread when the waiting backend leaves, however it leaves (a cancel or a
/// statement_timeout raised by check_for_interrupts unwinds through this guard).
struct CancelOnDrop<'a>(&'a gn_client::CancelFlag);

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Waits for a network thread's result while honouring cancels (interrupts are checked every
/// 10 ms); a cancelled wait also stops the thread at its next cancellation point.
pub fn wait_for_thread<T: Send + 'static>(
    handle: std::thread::JoinHandle<T>,
    cancel: &gn_client::CancelFlag,
) -> Result<T, GnFluxError> {
    let _guard = CancelOnDrop(cancel);
    while !handle.is_finished() {
        pgrx::check_for_interrupts!();
        std::thread::sleep(Duration::from_millis(10));
    }
    handle
        .join()
        .map_err(|_| GnFluxError::internal("the gn_flux network thread panicked"))
}

/// A client failure as a gn_flux error (SQLSTATE class 38).
pub fn remote_error(e: &ClientError, source: &gn_client::SourceDefinition) -> GnFluxError {
    let kind = match e {
        ClientError::Cancelled => Kind::Internal,
        // the source's own configuration, not the remote, is at fault
        ClientError::InvalidUrl { .. } | ClientError::InsecureTransport { .. } | ClientError::CaFile { .. } => {
            Kind::InvalidArgument
        }
        _ => Kind::Remote,
    };
    GnFluxError::new(kind, format!("source \"{}\": {e}", source.name()), e.hint()).with_detail(e.detail())
}
