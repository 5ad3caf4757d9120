//! Putting the service together and running it: the order in which the parts are wired and
//! shut down (`app`), the service's state with each capability's part (`state`), the route
//! table that names every route's handler (`routes`), logging (`telemetry`) and the command
//! line (`cli`).
//!
//! Owns: the start order (wikis → auth → database → NATS streams → cache → listener), which
//! capability serves which route, and graceful shutdown. Knows every other capability, and
//! none of them knows it back: each gets its own `Context` and settings as values.

pub mod app;
pub mod cli;
pub mod routes;
pub mod state;
pub mod telemetry;
