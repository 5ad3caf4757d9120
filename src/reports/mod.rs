//! What organizers see of an event's results beyond the contribution list, summary and feed
//! (which `association::http` serves): totals per participant and per page, the CSV export,
//! and the report page `GET /event/{id}` that puts them in front of a person.
//!
//! Owns: invariant 8 on these routes — a private participant is shown by name or id only to
//! themselves and the event's organizers, in every total, export and page (the reader is
//! decided once, by `association::http::reader`). Reads the stored rows; writes nothing.

pub mod csv;
pub mod db;
pub mod http;
pub mod page;

/// What the report routes get: Postgres (the stored rows) and the clock (the page's "now").
pub struct Context {
    pub pool: deadpool_postgres::Pool,
    pub clock: campaign_events_actors::SharedClock,
}
