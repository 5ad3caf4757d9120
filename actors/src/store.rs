//! What the cache needs from the database, as a trait: this crate knows no SQL. The service
//! implements it on Postgres; unit tests implement it in memory.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Duration, Utc};

use crate::change::Registration;
use crate::domain::{EventFacts, EventId, UserId};

/// A boxed future, so the trait stays object-safe (`Arc<dyn Store>`).
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send>>;

/// The database could not answer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

/// Every participant row (active or not) of the events ongoing at some instant, with its
/// version. Inactive rows matter: an unregistration in the database with a version at least
/// the cache's is proof that the cache is wrong. A cached membership the snapshot does not
/// justify (no row, or only an older one) is either a change committed after the snapshot was
/// read or a forged one: the sweep re-reads those users ([`Store::users_rows`]) to tell which.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Sorted by user.
    pub rows: Vec<MembershipRow>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MembershipRow {
    pub user: UserId,
    pub event: EventId,
    pub version: i64,
    pub active: bool,
    pub prompt_hidden: bool,
}

impl MembershipRow {
    pub fn registration(&self) -> Registration {
        Registration {
            version: self.version,
            prompt_hidden: self.prompt_hidden,
        }
    }
}

pub trait Store: Send + Sync + 'static {
    /// Events not deleted that are ongoing at `now` or start before `now + horizon`.
    fn events_around(&self, now: DateTime<Utc>, horizon: Duration) -> StoreFuture<Vec<EventFacts>>;

    /// The active participants of `event`, with each registration.
    fn participants_of(&self, event: EventId) -> StoreFuture<Vec<(UserId, Registration)>>;

    /// Every participant row, active or not, of the events ongoing at `now`.
    fn ongoing_memberships(&self, now: DateTime<Utc>) -> StoreFuture<Snapshot>;

    /// Every participant row, active or not, of `users` in the events ongoing at `now`: the
    /// sweep's second look at the users whose cached versions the snapshot did not justify.
    fn users_rows(&self, users: Vec<UserId>, now: DateTime<Utc>) -> StoreFuture<Snapshot>;

    /// One user's active memberships of events ongoing at `now`.
    fn user_memberships(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreFuture<Vec<(EventId, Registration)>>;
}
