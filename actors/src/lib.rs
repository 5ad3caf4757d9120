//! The ongoing-events cache of campaign-events.
//!
//! This crate knows nothing of HTTP, Postgres or NATS: it holds the typed domain values every
//! other part of the service speaks in (parsed once, at the edge) and, built on them, the actor
//! system that answers "which events is this user taking part in right now?" without a query:
//!
//! - [`directory::EventDirectory`]: the facts of ongoing and soon-starting events, held once.
//! - [`user_cache::UserCache`]: one actor per user with an ongoing event; stops when empty.
//! - [`registry::RegistryCore`]: `user → actor`, sharded; the stop-race protocol.
//! - [`supervisor::Supervisor`]: the start timeline and the reconciling sweep.
//! - [`cache::Cache`]: the facade the service calls.
//!
//! Wiring it to the database ([`store::Store`]) and the change stream is the job of the
//! `campaign-events` crate.

pub mod cache;
pub mod change;
pub mod clock;
pub mod directory;
pub mod domain;
pub mod registry;
pub mod stats;
pub mod store;
pub mod supervisor;
pub mod system_thread;
pub mod user_cache;

pub use cache::{AskError, Cache, CacheConfig, WarmUpReport};
pub use change::{Attending, Change, ParticipantChange, Registration};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use stats::{CacheStats, Lookup};
pub use store::{MembershipRow, Snapshot, Store, StoreError, StoreFuture};
pub use supervisor::SweepReport;
pub use system_thread::SystemThread;
