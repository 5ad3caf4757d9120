//! Registrations: a participant joining or leaving an event, through REST (`http`) or a NATS
//! command (`nats`, the shared durable `registrations` consumer), both through the same
//! transaction (`db`: the participant row locked, the newest change by time wins).
//!
//! Owns: who takes part in which event, and the validation both entry points share. After a
//! commit, the change is handed to the cache (`cache::changes`) to publish and apply.

pub mod db;
pub mod http;
pub mod nats;
