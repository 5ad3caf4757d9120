//! Associating an edit with an event: validated from the cache, queued on `CE_EDITS` under the
//! edit's stable key, and answered `202` only once JetStream has acknowledged the job.

use std::time::Duration;

use campaign_events_actors::domain::{EventId, RevisionId, WikiId};
use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Reply;

use crate::association::db as contributions;
use crate::association::jobs::{self, Job, Published};
use crate::association::Context;
use crate::cache::reads::ongoing_for;
use crate::events::db as events;
use crate::gateway::auth::Caller;
use crate::gateway::{ApiError, Request};
use crate::infra::db::DbError;

/// How long the gateway waits for JetStream's ack before answering 503.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(3);

/// The body as the frontend sends it (field names exactly; `eventId` is accepted too).
#[derive(Debug, Deserialize)]
struct AssociateInput {
    #[serde(rename = "revisionId")]
    revision_id: i64,
    #[serde(rename = "wikiId")]
    wiki_id: String,
    #[serde(alias = "eventId")]
    event_id: i64,
    #[serde(default)]
    timestamp: Option<String>,
}

/// Longest client timestamp kept (it is only echoed into the job).
const MAX_CLIENT_TIMESTAMP: usize = 64;

fn contribution_error(status: StatusCode, suffix: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(
        status,
        &format!("campaignevents-event-contribution-{suffix}"),
        message,
    )
}

/// What became of an association.
enum Outcome {
    Queued,
    AlreadyQueued,
    AlreadyAssociated,
}

pub async fn associate_v1(req: Request<Context>) -> Result<Response, ApiError> {
    let (state, caller) = (&req.state, req.caller()?);
    let input: AssociateInput = req.json()?;
    let revision = u64::try_from(input.revision_id)
        .ok()
        .and_then(|r| RevisionId::new(r).ok())
        .ok_or_else(|| ApiError::invalid_body("revisionId must be a positive integer"))?;
    let wiki =
        WikiId::parse(&input.wiki_id).map_err(|e| ApiError::invalid_body(format!("wikiId {e}")))?;
    let event = u64::try_from(input.event_id)
        .ok()
        .and_then(|e| EventId::new(e).ok())
        .ok_or_else(|| ApiError::invalid_body("event_id must be a positive integer"))?;
    let client_ts: String = input
        .timestamp
        .unwrap_or_default()
        .chars()
        .take(MAX_CLIENT_TIMESTAMP)
        .collect();
    let key = format!("{wiki}:{revision}");
    let outcome = associate(state, caller, event, wiki, revision, client_ts).await;
    count(state, &outcome);
    let status = match outcome? {
        Outcome::Queued => "queued",
        Outcome::AlreadyQueued => "already-queued",
        Outcome::AlreadyAssociated => "already-associated",
    };
    Ok(warp::reply::with_status(
        warp::reply::json(&serde_json::json!({"status": status, "jobId": key})),
        StatusCode::ACCEPTED,
    )
    .into_response())
}

/// `PUT /event_registration/{id}/edits/{wiki}/{revid}`, the extension's form.
pub async fn associate_v0(req: Request<Context>) -> Result<Response, ApiError> {
    let (state, caller) = (&req.state, req.caller()?);
    let event = req.event_id()?;
    let params = &req.params;
    let wiki = WikiId::parse(params.get(1))
        .map_err(|e| ApiError::bad_param("wiki", "paramvalidator-badvalue", e))?;
    let revision = params
        .get(2)
        .parse::<RevisionId>()
        .map_err(|e| ApiError::bad_param("revid", "paramvalidator-badinteger", e))?;
    let outcome = associate(state, caller, event, wiki, revision, String::new()).await;
    count(state, &outcome);
    let outcome = outcome?;
    Ok(warp::reply::with_status(
        warp::reply::json(&serde_json::json!({"modified": matches!(outcome, Outcome::Queued)})),
        StatusCode::ACCEPTED,
    )
    .into_response())
}

async fn associate(
    state: &Context,
    caller: &Caller,
    event: EventId,
    wiki: WikiId,
    revision: RevisionId,
    client_timestamp: String,
) -> Result<Outcome, ApiError> {
    if !state.wikis.is_known(&wiki) {
        // The contract's key for "not a wiki this event counts"; no event counts a wiki the
        // service cannot read.
        return Err(contribution_error(
            StatusCode::BAD_REQUEST,
            "not-target-wiki",
            format!("{wiki} is not a wiki this service knows."),
        ));
    }
    let now = state.cache.clock.now();
    // Once warm, the directory holds every event that is ongoing or starts soon, so an event
    // it lacks is not taking the edit (looked up once only to say precisely why). While the
    // cache is warming up the directory may lack an ongoing event: the facts come from the
    // database then, so that a cold cache never refuses with a 4xx that a warm one would not
    // give (a frontend takes a 400 as final).
    let warm = state.cache.readiness.is_warm();
    let cached = if warm {
        state.cache.actors.directory().get(event)
    } else {
        None
    };
    let facts = match cached {
        Some(f) => f,
        None => match events::get(&state.pool, event).await? {
            None => return Err(ApiError::event_not_found(event)),
            Some(r) if r.facts.deleted => {
                return Err(contribution_error(
                    StatusCode::NOT_FOUND,
                    "event-deleted",
                    format!("The event with ID {event} has been deleted."),
                ))
            }
            Some(r) if !warm => std::sync::Arc::new(r.facts),
            Some(_) => return Err(not_active(event)),
        },
    };
    if !facts.window.is_ongoing_at(now) {
        return Err(not_active(event));
    }
    if !facts.wikis.includes(&wiki) {
        return Err(contribution_error(
            StatusCode::BAD_REQUEST,
            "not-target-wiki",
            format!("The event with ID {event} does not take place on {wiki}."),
        ));
    }
    if !facts.track_contributions {
        return Err(contribution_error(
            StatusCode::BAD_REQUEST,
            "tracking-disabled",
            format!("The event with ID {event} does not track contributions."),
        ));
    }
    // A participant associates their own edit (from the cache). An organizer may associate
    // a participant's edit, as in the extension: asked of the database only when the caller
    // is not a participant; the worker then checks that the edit's author is one.
    let ongoing = ongoing_for(&state.cache, caller.user_id).await?;
    if !ongoing.iter().any(|f| f.id == event)
        && !events::is_organizer(&state.pool, event, caller.user_id).await?
    {
        return Err(contribution_error(
            StatusCode::FORBIDDEN,
            "not-participant",
            "You are not a participant of this event.",
        ));
    }
    // A cheap check; the unique index is the final word. Without the database the check is
    // skipped: queuing only needs NATS, and the worker will tell.
    let maybe = state
        .associated
        .maybe_contains(wiki.as_str(), revision.get());
    match if maybe {
        contributions::associated_event(&state.pool, &wiki, revision).await
    } else {
        Ok(None)
    } {
        Ok(Some(e)) if e == event => {
            state.associated.insert(wiki.as_str(), revision.get());
            return Ok(Outcome::AlreadyAssociated);
        }
        Ok(Some(e)) => return Err(already_associated(e)),
        Ok(None) => {}
        Err(DbError::Unavailable(e)) => {
            tracing::debug!(error = %e, "association pre-check skipped")
        }
        Err(e) => return Err(e.into()),
    }
    if !matches!(
        state.nats.connection_state(),
        async_nats::connection::State::Connected
    ) {
        return Err(queue_unavailable("NATS is not connected"));
    }
    let job = Job {
        revision_id: revision.get(),
        wiki_id: wiki.to_string(),
        event_id: event.get(),
        user_id: caller.user_id.get(),
        user_name: caller.name.clone(),
        requested_at: now.timestamp_millis(),
        client_timestamp,
    };
    queue(
        state,
        &job,
        (event, &wiki, revision),
        now.timestamp_millis(),
    )
    .await
}

/// Publishes `job` under `id`, waiting for JetStream's ack (at most `PUBLISH_TIMEOUT`); a
/// failure is `503 queue-unavailable`. The admin's dead-letter retry publishes through it too.
pub(crate) async fn publish(state: &Context, job: &Job, id: &str) -> Result<Published, ApiError> {
    tokio::time::timeout(
        PUBLISH_TIMEOUT,
        jobs::publish(&state.jetstream, &state.names, job, id),
    )
    .await
    .map_err(|_| queue_unavailable("no acknowledgement in time"))?
    .map_err(|e| queue_unavailable(format!("{e:#}")))
}

/// Queues the job under the edit's stable id. JetStream drops a second message with that id
/// (its duplicate window): the job it kept says what this association is.
/// - This user's job, still queued: the same association (`already-queued`), or this user's
///   association of the edit with another event.
/// - Someone else's job, still queued (it will fail unless they made the edit): this user's
///   association is work of its own, queued under an id of this user's for the edit — so
///   that retrying it finds it instead of queuing it again.
/// - Processed: the row says which event the edit went to; with no row the earlier job ended
///   as a dead letter, and this association is new work under a fresh id.
async fn queue(
    state: &Context,
    job: &Job,
    (event, wiki, revision): (EventId, &WikiId, RevisionId),
    now_millis: i64,
) -> Result<Outcome, ApiError> {
    for id in [job.key(), format!("{}:u{}", job.key(), job.user_id)] {
        let seq = match publish(state, job, &id).await? {
            Published::Queued(seq) => {
                tracing::info!(job = %id, event_id = %event, seq, "association queued");
                return Ok(Outcome::Queued);
            }
            Published::Duplicate(seq) => seq,
        };
        match jobs::stored(&state.jetstream, &state.names, seq)
            .await
            .map_err(|e| queue_unavailable(format!("cannot read the queued job: {e:#}")))?
        {
            Some(earlier) if earlier.user_id == job.user_id => {
                return if earlier.event_id == job.event_id {
                    Ok(Outcome::AlreadyQueued)
                } else {
                    Err(already_associated(
                        EventId::new(earlier.event_id).unwrap_or(event),
                    ))
                };
            }
            Some(_) => continue,
            None => break,
        }
    }
    match contributions::associated_event(&state.pool, wiki, revision).await? {
        Some(e) if e != event => Err(already_associated(e)),
        Some(_) => Ok(Outcome::AlreadyAssociated),
        None => {
            let fresh = format!("{}:{now_millis}", job.key());
            match publish(state, job, &fresh).await? {
                Published::Queued(seq) => {
                    tracing::info!(job = %fresh, event_id = %event, seq, "association queued");
                    Ok(Outcome::Queued)
                }
                // The same request twice in one millisecond.
                Published::Duplicate(_) => Ok(Outcome::AlreadyQueued),
            }
        }
    }
}

/// `ce_associations_total{outcome}`.
fn count(state: &Context, outcome: &Result<Outcome, ApiError>) {
    let label = match outcome {
        Ok(Outcome::Queued) => "queued",
        // A repeat of an earlier association is not new work.
        Ok(_) => return,
        Err(e) if e.status() == StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        Err(_) => "rejected",
    };
    state.metrics.associations.with_label_values(&[label]).inc();
}

fn not_active(event: EventId) -> ApiError {
    contribution_error(
        StatusCode::BAD_REQUEST,
        "event-not-active",
        format!("The event with ID {event} is not taking place now."),
    )
}

fn already_associated(other: EventId) -> ApiError {
    contribution_error(
        StatusCode::BAD_REQUEST,
        "already-associated",
        format!("This edit is already associated with the event with ID {other}."),
    )
}

fn queue_unavailable(detail: impl std::fmt::Display) -> ApiError {
    tracing::warn!(%detail, "job not queued: queue unavailable");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "campaignevents-rest-queue-unavailable",
        "The association could not be queued right now; please try again shortly.",
    )
}
