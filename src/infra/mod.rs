//! What every capability stands on: the settings (`config`: every setting's name, flag, variable
//! and default), the service's metrics registry (`metrics`: every metric's name and labels in
//! one place), and how the service reaches what it depends on: Postgres (`db`: creating the database, the
//! pool, the error split between "unavailable" and "refused"; `migrate`), NATS JetStream
//! (`nats`: the three streams and two durable consumers, names with `STREAM_PREFIX`,
//! credentials), the wikis' addresses and sign-in settings (`wikis`, `WIKIS_FILE`), and how
//! anything is retried (`retry`: one backoff, one consumer loop).
//!
//! Owns: settings, metric names, connections and stream names. Knows no capability: every
//! other module may use it, and it uses none of them.

pub mod config;
pub mod db;
pub mod metrics;
mod migrate;
pub mod nats;
pub mod retry;
pub mod wikis;

pub use migrate::{migrate, MigrationReport};
