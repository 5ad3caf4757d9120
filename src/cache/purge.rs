//! `POST …/cache/purge` (admin): drop a user's or an event's cache entries and rebuild them
//! from the database, like a wiki's purge — for when someone suspects the cache, without a
//! restart. Answers what changed.

use campaign_events_actors::domain::{EventId, UserId};
use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Reply;

use crate::cache::store::PgStore;
use crate::cache::Context;
use crate::gateway::{ApiError, Request};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeInput {
    user_id: Option<u64>,
    event_id: Option<u64>,
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "purge failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "campaignevents-rest-db-unavailable",
        "The database is unavailable right now; please try again shortly.",
    )
}

/// `POST /cache/purge` (admins: the router checked).
pub async fn purge(req: Request<Context>) -> Result<Response, ApiError> {
    let state = &req.state;
    let input: PurgeInput = req.json()?;
    // Warm-up is loading every entry anyway, and what a purge reports ("ongoing", before
    // and after) would be read from a cache that is not complete yet.
    if !state.readiness.is_warm() {
        return Err(ApiError::not_ready());
    }
    let store = PgStore::new(state.pool.clone());
    let answer = match (input.user_id, input.event_id) {
        (Some(u), None) => {
            let user =
                UserId::new(u).map_err(|e| ApiError::invalid_body(format!("user_id {e}")))?;
            let (before, after) = state
                .actors
                .purge_user(&store, user)
                .await
                .map_err(unavailable)?;
            let ids = |v: Vec<EventId>| v.into_iter().map(EventId::get).collect::<Vec<_>>();
            let before = ids(before);
            let after = ids(after);
            tracing::info!(user_id = %user, ?before, ?after, "cache purged for a user");
            serde_json::json!({"user_id": u, "before": before, "after": after,
                               "changed": before != after})
        }
        (None, Some(e)) => {
            let event =
                EventId::new(e).map_err(|e| ApiError::invalid_body(format!("event_id {e}")))?;
            let participants = state
                .actors
                .purge_event(&store, event)
                .await
                .map_err(unavailable)?;
            tracing::info!(event_id = %event, participants, "cache purged for an event");
            serde_json::json!({"event_id": e, "participants_reloaded": participants,
                               "ongoing": state.actors.directory().get(event)
                                   .is_some_and(|f| f.window.is_ongoing_at(state.clock.now()))})
        }
        _ => {
            return Err(ApiError::invalid_body(
                "give exactly one of user_id and event_id",
            ))
        }
    };
    Ok(warp::reply::json(&answer).into_response())
}
