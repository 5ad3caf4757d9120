//! The ongoing-events cache of campaign-events.
//!
//! This crate knows nothing of HTTP, Postgres or NATS: it holds the typed domain values every
//! other part of the service speaks in (parsed once, at the edge) and, built on them, the actor
//! system that answers "which events is this user taking part in right now?" without a query.
//! Wiring it to the database and the message bus is the job of the `campaign-events` crate.

pub mod domain;
