//! What the cache needs from the database, as a trait: this crate knows no SQL. The service
//! implements it on Postgres; unit tests implement it in memory.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Duration, Utc};

use crate::domain::{EventFacts, EventId, UserId};

/// A boxed future, so the trait stays object-safe (`Arc<dyn Store>`).
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send>>;

/// The database could not answer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

/// Every active membership in an event ongoing at some instant, as of a version: changes with
/// a higher version happened after the snapshot was read.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub as_of_version: i64,
    /// `(user, event, version)`, sorted by user.
    pub memberships: Vec<(UserId, EventId, i64)>,
}

pub trait Store: Send + Sync + 'static {
    /// Events not deleted that are ongoing at `now` or start before `now + horizon`.
    fn events_around(&self, now: DateTime<Utc>, horizon: Duration) -> StoreFuture<Vec<EventFacts>>;

    /// The active participants of `event`, with the version of each registration.
    fn participants_of(&self, event: EventId) -> StoreFuture<Vec<(UserId, i64)>>;

    /// Every active membership of an event ongoing at `now`.
    fn ongoing_memberships(&self, now: DateTime<Utc>) -> StoreFuture<Snapshot>;

    /// One user's active memberships of events ongoing at `now`.
    fn user_memberships(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreFuture<Vec<(EventId, i64)>>;
}
