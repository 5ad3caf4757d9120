//! Registering, unregistering and reading one's own registration over REST
//! (`…/event_registration/{id}/participants/self`). Postgres first (one transaction, a version
//! bump), then the change on `CE_CHANGES`, then the local cache at once — without waiting for
//! the change to come back from the stream.

use campaign_events_actors::domain::EventId;
use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Reply;

use crate::gateway::wire_time;
use crate::gateway::{ApiError, Request};
use crate::registration::db::{self as participants, Choices, Outcome, Refusal};
use crate::registration::{Context, Unchanged};

/// The extension's body. Either field left out keeps what the registration says (a new one:
/// false): the post-edit dialog hides its prompt without touching the privacy choice.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterInput {
    #[serde(default, deserialize_with = "present_bool")]
    is_private: Option<bool>,
    #[serde(default, deserialize_with = "present_bool")]
    hide_contribution_association_prompt: Option<bool>,
}

/// A field that may be left out but, when present, is a boolean (`null` is not "unchanged").
fn present_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    bool::deserialize(d).map(Some)
}

pub async fn register(req: Request<Context>) -> Result<Response, ApiError> {
    let (state, caller) = (&req.state, req.caller()?);
    let event = req.event_id()?;
    let input: RegisterInput = if req.body.bytes.is_empty() {
        RegisterInput::default()
    } else {
        req.json()?
    };
    let now = state.clock.now();
    let choices = Choices {
        private: input.is_private,
        hide_prompt: input.hide_contribution_association_prompt,
    };
    let committed = state
        .register(event, caller.user_id, choices, (now, now), Unchanged::Quiet)
        .await?;
    answer(committed.outcome, event)
}

/// `GET …/participants/self`: the caller's own registration, or `404` when they are not
/// registered (as the extension answers).
pub async fn own(req: Request<Context>) -> Result<Response, ApiError> {
    let (state, caller) = (&req.state, req.caller()?);
    let event = req.event_id()?;
    // As the extension: the event must exist and not be deleted, then the caller take part.
    crate::events::http::existing_event(&state.pool, event).await?;
    match participants::own_registration(&state.pool, event, caller.user_id).await? {
        Some(r) => Ok(warp::reply::json(&serde_json::json!({
            "is_private": r.private,
            "registered_at": wire_time(r.registered_at),
            "hide_contribution_association_prompt": r.hide_prompt,
        }))
        .into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "campaignevents-rest-get-registration-info-notparticipant",
            format!("You are not a participant of the event with ID {event}."),
        )),
    }
}

pub async fn unregister(req: Request<Context>) -> Result<Response, ApiError> {
    let (state, caller) = (&req.state, req.caller()?);
    let event = req.event_id()?;
    let now = state.clock.now();
    let committed = state
        .unregister(event, caller.user_id, now, Unchanged::Quiet)
        .await?;
    answer(committed.outcome, event)
}

/// The answer to a registration's outcome (the change, if any, was already handed over).
fn answer(outcome: Outcome, event: EventId) -> Result<Response, ApiError> {
    match outcome {
        Outcome::Applied { modified, .. } => {
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
