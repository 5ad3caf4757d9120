//! Edit association: accepting an association (`accept`: validated from the cache, queued on
//! `CE_EDITS` under the edit's stable key, `202` only after JetStream's ack), the job and its
//! message ids (`jobs`), the Bloom filter of associated edits (`bloom`), the diff workers
//! (`workers`: one puller task handing jobs to worker actors) with the wiki's Action API
//! client (`wiki_api`) and the measurements (`stats`), the stored rows and dead letters
//! (`db`), the routes that read them (`http`: listing, summary, Atom feed, dead letters), the
//! re-check that makes rows follow the wiki (`recheck`), and the post-edit module wikis load
//! to offer their users the association after a save (`postedit`: `GET /postedit.js`).
//!
//! Owns: invariants 5 and 6 (nothing accepted is lost; stable keys) and 8 on the routes that
//! show contributions. Reads the cache to validate; never writes it.

pub mod accept;
pub mod bloom;
pub mod db;
pub mod http;
pub mod jobs;
pub mod postedit;
pub mod recheck;
pub mod stats;
pub mod wiki_api;
pub mod workers;

use std::sync::Arc;

/// What the association routes get: the cache to validate against, the queue to put jobs
/// on, the rows to read, and the caches of what was already associated and summed up.
pub struct Context {
    pub pool: deadpool_postgres::Pool,
    pub nats: async_nats::Client,
    pub jetstream: async_nats::jetstream::Context,
    pub names: crate::infra::nats::Names,
    pub wikis: crate::infra::wikis::Wikis,
    pub metrics: Arc<crate::infra::metrics::Metrics>,
    /// The cache, read to validate an association (the caller's ongoing events, the event's
    /// facts) and its warm state and clock.
    pub cache: Arc<crate::cache::Context>,
    /// Which edits may already be associated (a Bloom filter in front of Postgres).
    pub associated: bloom::AssociatedEdits,
    /// Rendered contribution summaries.
    pub summaries: http::Summaries,
    /// The wikis' Action API client (an organizer's re-check of one event).
    pub revision_api: Arc<wiki_api::RevisionApi>,
}
