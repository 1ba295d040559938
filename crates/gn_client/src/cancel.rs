//! The flag that stops a pull or a probe: a leaf module (it knows only the error type), so that
//! the session, the retry loop and the pipeline can all import it without import circles.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A shared "stop now" flag: checked between requests, during backoff sleeps (every 50 ms at
/// most) and before each pipeline event.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn new() -> CancelFlag {
        CancelFlag::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// `Err(ClientError::Cancelled)` once cancelled.
    pub fn check(&self) -> Result<(), crate::ClientError> {
        if self.is_cancelled() {
            Err(crate::ClientError::Cancelled)
        } else {
            Ok(())
        }
    }
}
