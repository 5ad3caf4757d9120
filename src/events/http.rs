//! `/event_registration`: create, read, replace and soft-delete events, as the CampaignEvents
//! extension's REST module does.

use campaign_events_actors::domain::{
    EventDraft, EventId, EventName, EventStatus, EventTimezone, EventWindow, WikiSelection,
};
use campaign_events_actors::Change;
use chrono::Datelike as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Reply;

use crate::events::db::{self as events, EventRecord, Organizer, WriteOutcome};
use crate::events::Context;
use crate::gateway::auth::Caller;
use crate::gateway::{wire_time, ApiError, Request};

/// The body of create and update, as the wire has it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventInput {
    event_name: String,
    start_time: String,
    end_time: String,
    timezone: String,
    wikis: Vec<String>,
    #[serde(default)]
    track_contributions: bool,
    #[serde(default = "default_status")]
    status: String,
}

fn default_status() -> String {
    "open".into()
}

impl EventInput {
    /// Turns the wire form into a validated draft; each error names its field.
    fn validate(&self, state: &Context) -> Result<EventDraft, ApiError> {
        let field = |name: &str, key: &str, msg: String| {
            ApiError::new(StatusCode::BAD_REQUEST, key, msg).with_name(name)
        };
        let name = EventName::parse(&self.event_name)
            .map_err(|e| field("event_name", "campaignevents-error-invalid-name", e))?;
        let start = parse_time("start_time", &self.start_time)?;
        let end = parse_time("end_time", &self.end_time)?;
        let window = EventWindow::new(start, end)
            .map_err(|e| field("end_time", "campaignevents-error-end-before-start", e))?;
        let timezone = EventTimezone::parse(&self.timezone)
            .map_err(|e| field("timezone", "campaignevents-error-invalid-timezone", e))?;
        let wikis = WikiSelection::parse(&self.wikis, |w| state.wikis.is_known(w))
            .map_err(|e| field("wikis", "campaignevents-error-invalid-wikis", e))?;
        let status = self
            .status
            .parse::<EventStatus>()
            .map_err(|e| field("status", "campaignevents-error-invalid-status", e))?;
        Ok(EventDraft {
            name,
            window,
            timezone,
            wikis,
            track_contributions: self.track_contributions,
            status,
        })
    }
}

/// RFC 3339, kept to the second as MediaWiki keeps event times (and as the API shows them).
/// In UTC the year must be 0001–9999: RFC 3339 has no other years, and an offset can push
/// `9999-12-31T23:59:59-01:00` past them (stored, it would read back as `+10000-…`).
fn parse_time(name: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    let invalid = |detail: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "campaignevents-error-invalid-time",
            format!("{name} must be an RFC 3339 date-time such as 2026-11-01T00:00:00Z ({detail})"),
        )
        .with_name(name)
    };
    let t = DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map(|t| DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t))
        .map_err(|e| invalid(e.to_string()))?;
    if !(1..=9999).contains(&t.year()) {
        return Err(invalid(format!(
            "in UTC its year is {}, outside 0001–9999",
            t.year()
        )));
    }
    Ok(t)
}

/// An event as the API shows it.
#[derive(Debug, Serialize)]
struct EventView {
    id: u64,
    name: String,
    start_time: String,
    end_time: String,
    timezone: String,
    wikis: Vec<String>,
    track_contributions: bool,
    status: &'static str,
    organizers: Vec<OrganizerView>,
    created_at: String,
    updated_at: String,
}

#[derive(Debug, Serialize)]
struct OrganizerView {
    user_id: u64,
    user_name: String,
}

impl From<&EventRecord> for EventView {
    fn from(r: &EventRecord) -> Self {
        let f = &r.facts;
        EventView {
            id: f.id.get(),
            name: f.name.to_string(),
            start_time: wire_time(f.window.start()),
            end_time: wire_time(f.window.end()),
            timezone: f.timezone.as_str().to_owned(),
            wikis: f.wikis.to_wire(),
            track_contributions: f.track_contributions,
            status: f.status.as_str(),
            organizers: r
                .organizers
                .iter()
                .map(|o| OrganizerView {
                    user_id: o.user_id.get(),
                    user_name: o.user_name.clone(),
                })
                .collect(),
            created_at: wire_time(r.created_at),
            updated_at: wire_time(r.updated_at),
        }
    }
}

/// `POST /event_registration` (the router checked the organizer role).
pub async fn create(req: Request<Context>) -> Result<Response, ApiError> {
    let (state, caller) = (&req.state, req.caller()?);
    let draft = req.json::<EventInput>()?.validate(state)?;
    let organizer = Organizer {
        user_id: caller.user_id,
        user_name: caller.name.clone(),
    };
    let record = events::create(&state.pool, &draft, &organizer).await?;
    let id = record.facts.id;
    state
        .changes
        .commit(Change::Event(record.facts.clone()))
        .await;
    tracing::info!(event_id = %id, user_id = %caller.user_id, "event created");
    let reply = warp::reply::with_status(
        warp::reply::json(&serde_json::json!({"id": id.get()})),
        StatusCode::CREATED,
    );
    Ok(warp::reply::with_header(
        reply,
        "location",
        format!("/rest.php/campaignevents/v0/event_registration/{id}"),
    )
    .into_response())
}

pub async fn get(req: Request<Context>) -> Result<Response, ApiError> {
    let id = req.event_id()?;
    match events::get(&req.state.pool, id).await? {
        None => Err(ApiError::event_not_found(id)),
        Some(r) if r.facts.deleted => Err(ApiError::event_deleted(id)),
        Some(r) => Ok(warp::reply::json(&EventView::from(&r)).into_response()),
    }
}

pub async fn update(req: Request<Context>) -> Result<Response, ApiError> {
    let (state, caller) = (&req.state, req.caller()?);
    let id = req.event_id()?;
    authorize_organizer(
        &state.pool,
        caller,
        id,
        "campaignevents-rest-edit-permission-denied",
    )
    .await?;
    let draft = req.json::<EventInput>()?.validate(state)?;
    let record = written(events::replace(&state.pool, id, &draft).await?, id)?;
    state.changes.commit(Change::Event(record.facts)).await;
    tracing::info!(event_id = %id, user_id = %caller.user_id, "event updated");
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn delete(req: Request<Context>) -> Result<Response, ApiError> {
    let (state, caller) = (&req.state, req.caller()?);
    let id = req.event_id()?;
    authorize_organizer(
        &state.pool,
        caller,
        id,
        "campaignevents-rest-delete-permission-denied",
    )
    .await?;
    let record = written(events::soft_delete(&state.pool, id).await?, id)?;
    state.changes.commit(Change::Event(record.facts)).await;
    tracing::info!(event_id = %id, user_id = %caller.user_id, "event deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Organizers of the event and admins pass. A caller who is neither learns nothing about
/// whether the event exists beyond what the public GET already tells.
pub(crate) async fn authorize_organizer(
    pool: &deadpool_postgres::Pool,
    caller: &Caller,
    id: EventId,
    key: &str,
) -> Result<(), ApiError> {
    if caller.admin || events::is_organizer(pool, id, caller.user_id).await? {
        return Ok(());
    }
    match events::get(pool, id).await? {
        None => Err(ApiError::event_not_found(id)),
        Some(_) => Err(ApiError::forbidden(
            key,
            "Only an organizer of this event can change it.",
        )),
    }
}

/// 404 unless the event exists and is not deleted.
pub(crate) async fn existing_event(
    pool: &deadpool_postgres::Pool,
    event: EventId,
) -> Result<EventRecord, ApiError> {
    match events::get(pool, event).await? {
        None => Err(ApiError::event_not_found(event)),
        Some(r) if r.facts.deleted => Err(ApiError::event_deleted(event)),
        Some(r) => Ok(r),
    }
}

fn written(outcome: WriteOutcome, id: EventId) -> Result<EventRecord, ApiError> {
    match outcome {
        WriteOutcome::Done(r) => Ok(r),
        WriteOutcome::NotFound => Err(ApiError::event_not_found(id)),
        WriteOutcome::Deleted => Err(ApiError::event_deleted(id)),
    }
}
