//! Watching and steering the service: `/healthz`, `/readyz`, `/metrics` and `/openapi.json`
//! (`http`; the metrics themselves are named in `infra::metrics`, and the warm-up `/readyz`
//! reports is the cache's `Readiness`), the backlog probe shared by the metrics
//! and the dashboard (`backlog`), the operator dashboard (`dashboard`) and the
//! `campaign-events report` command (`report`).
//!
//! Owns: what an operator sees. Reads every capability's counters; changes nothing.

pub mod backlog;
pub mod dashboard;
pub mod http;
pub mod report;

/// What the operator routes get: every dependency they probe, the cache they describe, the
/// metrics they render and the OpenAPI document they serve.
pub struct Context {
    pub pool: deadpool_postgres::Pool,
    pub nats: async_nats::Client,
    pub jetstream: async_nats::jetstream::Context,
    pub names: crate::infra::nats::Names,
    pub cache: std::sync::Arc<campaign_events_actors::Cache>,
    pub clock: campaign_events_actors::SharedClock,
    pub readiness: crate::cache::Readiness,
    pub metrics: std::sync::Arc<crate::infra::metrics::Metrics>,
    /// The backlog and open dead letters, shared by `/metrics` and the dashboard.
    pub backlog: backlog::BacklogProbe,
    /// Built once at start from the route table.
    pub openapi: serde_json::Value,
}
