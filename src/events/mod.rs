//! Events: creating, reading, changing and soft-deleting an event (`http`), and their rows
//! (`db`: every write locks the event's row and bumps its version from the global change
//! sequence, invariant 4).
//!
//! Owns: the event's facts as the API shows them and as Postgres keeps them. Does not know
//! the cache's insides: a committed change is handed to the cache as a `Change`.

pub mod db;
pub mod http;
