//! The post-edit reads: "which events is this user taking part in right now?" — from the
//! cache (no query), or from Postgres in `CACHE_MODE=db`, while warming up, or when an actor
//! does not answer in time. Both paths give the same JSON and therefore the same ETag.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use campaign_events_actors::domain::{EventFacts, EventId, UserId};
use campaign_events_actors::{Attending, Lookup};
use serde::Serialize;
use warp::reply::Response;
use warp::Reply;

use crate::cache::CacheMode;
use crate::cache::Context;
use crate::gateway::etag;
use crate::gateway::wire_time;
use crate::gateway::{ApiError, Request};

/// The user's events ongoing now, sorted by id, with whether they hid the post-edit prompt.
pub async fn ongoing_for(state: &Context, user: UserId) -> Result<Vec<Attending>, ApiError> {
    if state.cache_mode == CacheMode::Actors && state.readiness.is_warm() {
        match state.actors.ongoing(user).await {
            Ok(events) => return Ok(events),
            Err(e) => {
                tracing::debug!(user_id = %user, error = %e, "cache read fell back to the database")
            }
        }
    }
    state.actors.stats().lookup(Lookup::Fallback);
    Ok(crate::cache::store::ongoing_events_of(&state.pool, user, state.clock.now()).await?)
}

#[derive(Serialize)]
struct EventItem<'a> {
    id: u64,
    name: &'a str,
    start: String,
    end: String,
    timezone: &'a str,
    wikis: Vec<String>,
}

/// Each event's JSON in the post-edit answer, rendered once per version: formatting times and
/// escaping names would otherwise be most of a cached read's work. The answer is the
/// fragments joined, byte for byte what serializing the list would give (same ETag on the
/// database path, which renders the same way).
#[derive(Default)]
pub struct Rendered {
    events: RwLock<HashMap<EventId, (i64, Arc<str>)>>,
}

/// Beyond this many remembered events the map is emptied (it is rebuilt as reads come).
const RENDERED_MAX: usize = 10_000;

impl Rendered {
    fn fragment(&self, f: &EventFacts) -> Arc<str> {
        if let Some((v, json)) = self
            .events
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&f.id)
        {
            if *v == f.version {
                return json.clone();
            }
        }
        let item = EventItem {
            id: f.id.get(),
            name: f.name.as_str(),
            start: wire_time(f.window.start()),
            end: wire_time(f.window.end()),
            timezone: f.timezone.as_str(),
            wikis: f.wikis.to_wire(),
        };
        let json: Arc<str> = serde_json::to_string(&item).unwrap_or_default().into();
        let mut map = self.events.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= RENDERED_MAX {
            map.clear();
        }
        map.insert(f.id, (f.version, json.clone()));
        json
    }

    /// `{"events":[…]}` for these events.
    fn body<'a>(&self, events: impl Iterator<Item = &'a Arc<EventFacts>>) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"events\":[");
        for (i, f) in events.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(self.fragment(f).as_bytes());
        }
        out.extend_from_slice(b"]}");
        out
    }
}

#[derive(Serialize)]
struct ForEditItem<'a> {
    id: u64,
    name: &'a str,
    /// The extension's field: whether the edit may be associated without asking. This
    /// service always asks (the dialog), so it is always false.
    #[serde(rename = "autoAssociable")]
    auto_associable: bool,
}

/// `GET /rest.php/v1/campaignevents/participant-events?ongoing=true[&wiki=W]`.
pub async fn participant_events(req: Request<Context>) -> Result<Response, ApiError> {
    let (state, caller) = (&req.state, req.caller()?);
    let wiki = req.query.wiki()?;
    let ongoing = req.query.flag("ongoing")?.unwrap_or(false);
    let events: Vec<Attending> = if ongoing {
        ongoing_for(state, caller.user_id).await?
    } else {
        crate::cache::store::registered_events_of(&state.pool, caller.user_id).await?
    };
    let body = state.rendered.body(
        events
            .iter()
            .map(|a| &a.facts)
            .filter(|f| wiki.as_ref().is_none_or(|w| f.wikis.includes(w))),
    );
    Ok(with_etag(Ok(body), req.if_none_match.as_deref()))
}

/// `GET /rest.php/campaignevents/v0/participant/self/events_for_edit?wiki=W`: the user's
/// ongoing events that track contributions on W and whose prompt they have not hidden ("Don't
/// ask again for this event" in the post-edit dialog) — all from the cache.
pub async fn events_for_edit(req: Request<Context>) -> Result<Response, ApiError> {
    let (state, caller) = (&req.state, req.caller()?);
    let wiki = req
        .query
        .wiki()?
        .ok_or_else(|| ApiError::bad_param("wiki", "paramvalidator-missingparam", "is required"))?;
    let events = ongoing_for(state, caller.user_id).await?;
    let items: Vec<ForEditItem> = events
        .iter()
        .filter(|a| !a.prompt_hidden && a.track_contributions && a.wikis.includes(&wiki))
        .map(|f| ForEditItem {
            id: f.id.get(),
            name: f.name.as_str(),
            auto_associable: false,
        })
        .collect();
    Ok(with_etag(
        serde_json::to_vec(&items),
        req.if_none_match.as_deref(),
    ))
}

/// A private, always-revalidated JSON answer with a strong ETag; `304` when the client has it.
fn with_etag(body: Result<Vec<u8>, serde_json::Error>, if_none_match: Option<&str>) -> Response {
    match body {
        Ok(body) => {
            let tag = etag::of(&body);
            crate::gateway::conditional_json(
                body,
                &tag,
                if_none_match,
                Some("private, max-age=0, must-revalidate"),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "serializing a read");
            ApiError::internal().into_response()
        }
    }
}
