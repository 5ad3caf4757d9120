//! campaign-events: the ongoing-events cache and edit association service for MediaWiki's
//! CampaignEvents extension. `main.rs` only parses the command line; everything lives here so
//! that integration tests start the real service in-process.
//!
//! The folders are the service's capabilities (ARCHITECTURE.md is their map): `startup` wires
//! them and holds the route table, `gateway` is the HTTP edge, `cache`, `events`,
//! `registration` and `association` are what the service does, `reports` is what organizers
//! read, `ops` is how it is watched, and `infra` is what all of them stand on (settings,
//! metric names, Postgres, NATS and the wikis' addresses).

pub mod association;
pub mod cache;
pub mod events;
pub mod gateway;
pub mod infra;
pub mod ops;
pub mod registration;
pub mod reports;
pub mod startup;
