//! Events: creating, reading, changing and soft-deleting an event (`http`), and their rows
//! (`db`: every write locks the event's row and bumps its version from the global change
//! sequence, invariant 4).
//!
//! Owns: the event's facts as the API shows them and its rows in Postgres (how a row reads as
//! the cache's `EventFacts` is the cache's, `cache::store`, which it reuses). Does not know the
//! cache's insides: a committed change is handed to the cache's `Publisher` as a `Change`.

pub mod db;
pub mod http;

/// What the event routes get: Postgres, the wikis an event may name, and the hand-over of
/// committed changes to the caches.
pub struct Context {
    pub pool: deadpool_postgres::Pool,
    pub wikis: crate::infra::wikis::Wikis,
    pub changes: crate::cache::changes::Publisher,
}
