//! The ongoing-events cache as the service uses it: the actor cache itself is the
//! `campaign-events-actors` crate; here are its Postgres `Store` (`store`), the change stream
//! that keeps every instance's cache in step (`changes`: publishing committed changes and
//! following `CE_CHANGES`), the post-edit reads (`reads`, with the database fallback while
//! warming up), the admin purge (`purge`) and warm-up (`warm_up`).
//!
//! Owns: invariants 1–4 and 7 as the service sees them. Does not know HTTP routing or the
//! diff workers.

pub mod changes;
pub mod purge;
pub mod reads;
pub mod store;
