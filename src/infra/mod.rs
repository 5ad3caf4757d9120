//! How the service reaches what it depends on: Postgres (`db`: creating the database, the
//! pool, the error split between "unavailable" and "refused"; `migrate`), NATS JetStream
//! (`nats`: the three streams and two durable consumers, names with `STREAM_PREFIX`,
//! credentials), the wikis' addresses and sign-in settings (`wikis`, `WIKIS_FILE`), and how
//! anything is retried (`retry`: one backoff, one consumer loop).
//!
//! Owns: connections and names. Knows no capability: every other module may use it.

pub mod db;
mod migrate;
pub mod nats;
pub mod retry;
pub mod wikis;

pub use migrate::{migrate, MigrationReport};
