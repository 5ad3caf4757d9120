//! Registering and unregistering over REST (`…/event_registration/{id}/participants/self`).
//! Postgres first (one transaction, a version bump), then the change on `CE_CHANGES`, then the
//! local cache at once — without waiting for the change to come back from the stream.

use campaign_events_actors::domain::EventId;
use campaign_events_actors::{Change, ParticipantChange};
use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Reply;

use crate::gateway::{ApiError, Request, Shared};
use crate::registration::db::{self as participants, Outcome, Refusal};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterInput {
    #[serde(default)]
    is_private: bool,
}

pub async fn register(req: Request) -> Result<Response, ApiError> {
    let (state, caller) = (&req.state, req.caller()?);
    let event = req.event_id()?;
    let input: RegisterInput = if req.body.bytes.is_empty() {
        RegisterInput::default()
    } else {
        req.json()?
    };
    let now = state.clock.now();
    let outcome = participants::register(
        &state.pool,
        event,
        caller.user_id,
        input.is_private,
        now,
        now,
    )
    .await?;
    finish(state, event, caller.user_id, outcome).await
}

pub async fn unregister(req: Request) -> Result<Response, ApiError> {
    let (state, caller) = (&req.state, req.caller()?);
    let event = req.event_id()?;
    let now = state.clock.now();
    let outcome = participants::unregister(&state.pool, event, caller.user_id, now).await?;
    finish(state, event, caller.user_id, outcome).await
}

async fn finish(
    state: &Shared,
    event: EventId,
    user: campaign_events_actors::domain::UserId,
    outcome: Outcome,
) -> Result<Response, ApiError> {
    match outcome {
        Outcome::Applied {
            modified,
            version,
            active,
        } => {
            if modified {
                let change = Change::Participant(ParticipantChange {
                    event_id: event,
                    user_id: user,
                    active,
                    version,
                });
                state.commit_change(change).await;
                tracing::info!(event_id = %event, user_id = %user, active, version, "registration changed");
            }
            Ok(warp::reply::json(&serde_json::json!({"modified": modified})).into_response())
        }
        // A REST change is stamped "now"; a later NATS command can still have been applied.
        Outcome::Stale => {
            Ok(warp::reply::json(&serde_json::json!({"modified": false})).into_response())
        }
        Outcome::Refused(r) => Err(refusal(r, event)),
    }
}

/// The contract's error for each refusal.
pub fn refusal(r: Refusal, event: EventId) -> ApiError {
    match r {
        Refusal::EventNotFound => ApiError::event_not_found(event),
        Refusal::EventDeleted => ApiError::new(
            StatusCode::BAD_REQUEST,
            "campaignevents-register-registration-deleted",
            format!("The event with ID {event} has been deleted."),
        ),
        Refusal::EventEnded => ApiError::new(
            StatusCode::BAD_REQUEST,
            "campaignevents-register-event-past",
            format!("The event with ID {event} has already ended."),
        ),
        Refusal::EventClosed => ApiError::new(
            StatusCode::BAD_REQUEST,
            "campaignevents-register-event-not-open",
            format!("The event with ID {event} is not open for registration."),
        ),
    }
}
