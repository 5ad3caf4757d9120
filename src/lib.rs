//! campaign-events: the ongoing-events cache and edit association service for MediaWiki's
//! CampaignEvents extension. `main.rs` only parses the command line; everything lives here so
//! that integration tests start the real service in-process.

pub mod app;
pub mod associated;
pub mod auth;
pub mod changes;
pub mod cli;
pub mod config;
pub mod db;
pub mod etag;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod nats;
pub mod registrations;
pub mod report;
pub mod stats;
pub mod telemetry;
pub mod wiki_api;
pub mod wikis;
pub mod workers;
