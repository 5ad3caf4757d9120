//! Watching and steering the service: `/healthz`, `/readyz` and the readiness they report
//! (`http`, [`Readiness`]), `/metrics` (`metrics`), the backlog probe shared by the metrics
//! and the dashboard (`backlog`), the operator dashboard (`dashboard`) and the
//! `campaign-events report` command (`report`).
//!
//! Owns: what an operator sees. Reads every capability's counters; changes nothing.

pub mod backlog;
pub mod dashboard;
pub mod http;
pub mod metrics;
pub mod report;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Whether the cache has finished warming up. `/readyz` reports not ready until it has, and
/// the cache-backed routes answer from the database (or `503 campaignevents-not-ready`).
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    warm: Arc<AtomicBool>,
    /// Warm-up starts only when it can take this for reading; a test holds it for writing
    /// to keep the cache cold for as long as it needs (see [`Readiness::hold_warm_up`]).
    gate: Arc<tokio::sync::RwLock<()>>,
}

impl Readiness {
    /// Keeps warm-up from starting while the guard lives (for tests of the cold path: a
    /// real warm-up of many participants would only make the window longer, not certain).
    /// `None` if already held.
    #[doc(hidden)]
    pub fn hold_warm_up(&self) -> Option<tokio::sync::OwnedRwLockWriteGuard<()>> {
        self.gate.clone().try_write_owned().ok()
    }

    /// Waits while a test holds warm-up.
    pub(crate) async fn released(&self) {
        drop(self.gate.read().await);
    }

    pub fn is_warm(&self) -> bool {
        self.warm.load(Ordering::Acquire)
    }

    pub fn set_warm(&self) {
        self.warm.store(true, Ordering::Release);
    }
}
