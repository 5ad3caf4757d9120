//! The ongoing-events cache as the service uses it: the actor cache itself is the
//! `campaign-events-actors` crate; here are its Postgres `Store` (`store`, with the event row
//! as `EventFacts` and the database path of the post-edit read), the change stream that keeps
//! every instance's cache in step (`changes`: the `Publisher` every writer hands its committed
//! changes to, and the follower of `CE_CHANGES`), warm-up (`warm_up`) and whether it is done
//! ([`Readiness`]), the post-edit reads (`reads`, with the database fallback while warming up)
//! and the admin purge (`purge`).
//!
//! Owns: invariants 1–4 and 7 as the service sees them. Knows no other capability: events and
//! registrations hand it their changes, the association check reads it through [`Context`].

pub mod changes;
pub mod purge;
pub mod reads;
pub mod store;
pub mod warm_up;

use campaign_events_actors::{Cache, SharedClock};

/// Whether the post-edit read asks the cache (`actors`, the default) or always Postgres
/// (`db`, the baseline the benchmarks compare with).
pub use crate::infra::config::CacheMode;

/// What the cache's routes (`reads`, `purge`) get, and what other capabilities read the
/// cache through (an association checks the caller's ongoing events with [`reads::ongoing_for`]).
pub struct Context {
    /// The actor cache.
    pub actors: Arc<Cache>,
    pub cache_mode: CacheMode,
    pub readiness: Readiness,
    pub clock: SharedClock,
    /// For the database path (`CACHE_MODE=db`, warming up, an actor that does not answer).
    pub pool: deadpool_postgres::Pool,
    /// Rendered events of the post-edit read.
    pub rendered: reads::Rendered,
}

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
