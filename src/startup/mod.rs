//! Starting and stopping the service: settings (`config`), the order in which the parts are
//! wired and shut down (`app`), logging (`telemetry`) and the command line (`cli`).
//!
//! Owns: every setting's name, flag and default; the start order (wikis → auth → database →
//! NATS streams → cache → listener); graceful shutdown. Knows every other capability, and
//! none of them knows it back (settings are handed in as values).

pub mod app;
pub mod cli;
pub mod config;
pub mod telemetry;
