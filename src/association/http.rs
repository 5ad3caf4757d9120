//! Reading the results: an event's contributions (newest first, stable continuation), its
//! summary (cached per event, invalidated when a row for it lands), an Atom feed, and the
//! admin's view of dead letters with a way to retry one.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use campaign_events_actors::domain::{EventId, WikiId};
use chrono::{DateTime, Utc};
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;
use warp::Reply;

use crate::association::db::{self as contributions, Listed, Listing, Reader, PRIVATE_PARTICIPANT};
use crate::association::jobs::Job;
use crate::association::Context;
use crate::events::db as events;
use crate::events::http::existing_event;
use crate::gateway::etag;
use crate::gateway::wire_time;
use crate::gateway::Query;
use crate::gateway::{ApiError, Request};

const DEFAULT_LIMIT: i64 = 50;

/// The `continue` token's shape, as the OpenAPI document states it: microseconds since the
/// epoch (up to 16 digits: years 1653 to 2286, far around any edit) and the row id (up to 18
/// digits). [`parse_continue`] holds to exactly this shape, so that every token the document
/// allows is accepted and every other is a 400.
pub const CONTINUE_PATTERN: &str = "^-?[0-9]{1,16}_[1-9][0-9]{0,17}$";

/// Rendered summaries by event (JSON and its ETag). Invalidated by the change stream when a
/// contribution for the event is stored (by any instance's workers); the TTL is the safety
/// net should that notice be lost. A summary computed while a row for its event lands must
/// not be kept: each event has a generation, bumped by every invalidation, and a summary is
/// kept only if its event's generation did not move while it was computed.
#[derive(Default)]
pub struct Summaries {
    map: RwLock<SummaryMap>,
}

#[derive(Default)]
struct SummaryMap {
    /// Bumped when the map is emptied, which forgets generations: a summary begun before
    /// that is not kept either.
    era: u64,
    events: HashMap<EventId, SummaryEntry>,
}

#[derive(Default)]
struct SummaryEntry {
    generation: u64,
    rendered: Option<RenderedSummary>,
}

/// When it was rendered, the JSON, its ETag.
type RenderedSummary = (Instant, Arc<[u8]>, String);

/// What a summary was computed against: the map's era and the event's generation.
#[derive(Clone, Copy, PartialEq, Eq)]
struct SummaryStamp(u64, u64);

const SUMMARY_TTL: Duration = Duration::from_secs(60);

/// Most events whose summaries (and generations) are remembered before the map is emptied.
const SUMMARIES_MAX: usize = 10_000;

impl SummaryMap {
    /// Empties the map, starting a new era, when it is full and `event` is not in it; says
    /// whether it did (summaries computed in the old era are then not kept).
    fn make_room(&mut self, event: EventId) -> bool {
        let full = self.events.len() >= SUMMARIES_MAX && !self.events.contains_key(&event);
        if full {
            self.era += 1;
            self.events.clear();
        }
        full
    }
}

impl Summaries {
    pub fn invalidate(&self, event: EventId) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        map.make_room(event);
        let entry = map.events.entry(event).or_default();
        entry.generation += 1;
        entry.rendered = None;
    }

    /// The fresh summary, or the stamp to compute one against.
    fn get(&self, event: EventId) -> Result<(Arc<[u8]>, String), SummaryStamp> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        match map.events.get(&event) {
            Some(SummaryEntry {
                rendered: Some((at, body, tag)),
                ..
            }) if at.elapsed() < SUMMARY_TTL => Ok((body.clone(), tag.clone())),
            Some(e) => Err(SummaryStamp(map.era, e.generation)),
            None => Err(SummaryStamp(map.era, 0)),
        }
    }

    /// Keeps a summary computed against `stamp`, unless a row landed for the event since.
    fn put(&self, event: EventId, stamp: SummaryStamp, body: Arc<[u8]>, tag: String) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.era != stamp.0 {
            return;
        }
        if map.make_room(event) {
            return;
        }
        let entry = map.events.entry(event).or_default();
        if entry.generation == stamp.1 {
            entry.rendered = Some((Instant::now(), body, tag));
        }
    }
}

fn limit(query: &Query) -> Result<i64, ApiError> {
    query.page_size(DEFAULT_LIMIT)
}

/// `"{microseconds}_{id}"` of the last row shown, in the shape of [`CONTINUE_PATTERN`]; the
/// bounds on the digits keep the time inside what Postgres holds and the id inside `bigint`.
fn parse_continue(raw: &str) -> Option<(DateTime<Utc>, i64)> {
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    let (t, id) = raw.split_once('_')?;
    if !digits(t.strip_prefix('-').unwrap_or(t), 16) || !digits(id, 18) || id.starts_with('0') {
        return None;
    }
    Some((
        DateTime::from_timestamp_micros(t.parse().ok()?)?,
        id.parse().ok()?,
    ))
}

/// Who reads an event's contributions: organizers of the event see every participant, a
/// signed-in user sees their own rows, everyone else sees private participants as "Private
/// participant". (A bad token never gets here: the router refused it with a 401.)
pub(crate) fn reader<S>(req: &Request<S>, record: &events::EventRecord) -> Reader {
    let Some(caller) = req.caller_if_any() else {
        return Reader::Anonymous;
    };
    if record
        .organizers
        .iter()
        .any(|o| o.user_id == caller.user_id)
    {
        Reader::Organizer
    } else {
        Reader::User(caller.user_id)
    }
}

/// A listed row as `reader` may see it: a private participant's name and id are replaced.
fn shown(listed: &Listed, reader: Reader) -> serde_json::Value {
    let mut v = serde_json::to_value(&listed.row).unwrap_or_default();
    v["id"] = listed.id.into();
    if !listed.author_visible_to(reader) {
        v["user_id"] = serde_json::Value::Null;
        v["user_name"] = PRIVATE_PARTICIPANT.into();
    }
    v
}

/// The author's name as `reader` may see it.
fn author_name(listed: &Listed, reader: Reader) -> &str {
    if listed.author_visible_to(reader) {
        &listed.row.user_name
    } else {
        PRIVATE_PARTICIPANT
    }
}

/// A `user` filter value: no user name has control characters, and Postgres cannot store a
/// NUL, so they are refused (as the document says); a name too long to exist simply matches
/// nothing.
fn user_filter(query: &Query) -> Result<Option<&str>, ApiError> {
    match query.get("user")? {
        Some(u) if u.chars().any(char::is_control) => Err(ApiError::bad_param(
            "user",
            "paramvalidator-badvalue",
            "not a user name (it has control characters)",
        )),
        other => Ok(other),
    }
}

/// `DELETE /event_contributions/{id}`: its author or an organizer of its event removes a
/// stored contribution (as the extension allows); the edit may then be associated again. Every
/// instance drops the event's summary (the same notice a stored row sends).
pub async fn remove(req: Request<Context>) -> Result<Response, ApiError> {
    let (state, caller) = (&req.state, req.caller()?);
    let id = req
        .params
        .get(0)
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::bad_param(
                "id",
                "paramvalidator-badinteger",
                "must be a positive integer",
            )
        })?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "campaignevents-rest-contribution-not-found",
            format!("There is no contribution with ID {id}."),
        )
    };
    let edit = contributions::stored_edit(&state.pool, id)
        .await?
        .ok_or_else(not_found)?;
    if edit.author != caller.user_id
        && !events::is_organizer(&state.pool, edit.event, caller.user_id).await?
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "campaignevents-rest-delete-contribution-permission-denied",
            "Only the contribution's author and the event's organizers may remove it.",
        ));
    }
    if !contributions::remove(&state.pool, id).await? {
        return Err(not_found());
    }
    tracing::info!(contribution = id, event_id = %edit.event, wiki = %edit.wiki,
        revision = edit.revision, by = %caller.user_id, "contribution removed");
    state.summaries.invalidate(edit.event);
    crate::cache::changes::announce_contributions(
        &state.jetstream,
        &state.names,
        edit.event,
        Some((edit.wiki.as_str(), edit.revision)),
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST …/contributions/recheck` (an organizer of the event): re-checks the event's rows
/// against the wiki now, at most `recheck::EVENT_MAX_ROWS` of them (those checked longest ago
/// first), and answers what it found. A wiki that does not answer leaves its rows as they
/// were (counted `failed`).
pub async fn recheck(req: Request<Context>) -> Result<Response, ApiError> {
    let (state, caller) = (&req.state, req.caller()?);
    let event = req.event_id()?;
    crate::events::http::authorize_organizer(
        &state.pool,
        caller,
        event,
        "campaignevents-rest-recheck-permission-denied",
    )
    .await?;
    existing_event(&state.pool, event).await?;
    let (counts, changed) = crate::association::recheck::run(
        &state.pool,
        &state.revision_api,
        &state.metrics,
        crate::association::recheck::Scope::Event(event),
        crate::association::recheck::EVENT_MAX_ROWS,
    )
    .await?;
    tracing::info!(event_id = %event, ?counts, by = %caller.user_id, "event re-checked");
    if !changed.is_empty() {
        state.summaries.invalidate(event);
        crate::cache::changes::announce_contributions(&state.jetstream, &state.names, event, None)
            .await;
    }
    let last = crate::association::recheck::last_checked(&state.pool, event).await?;
    let mut body = serde_json::to_value(counts).map_err(|_| ApiError::internal())?;
    body["rechecked_at"] = last.map(wire_time).into();
    Ok(warp::reply::json(&body).into_response())
}

pub async fn list(req: Request<Context>) -> Result<Response, ApiError> {
    let (state, query) = (&req.state, &req.query);
    let event = req.event_id()?;
    let limit = limit(query)?;
    let after = query
        .get("continue")?
        .map(|c| {
            parse_continue(c).ok_or_else(|| {
                ApiError::bad_param(
                    "continue",
                    "paramvalidator-badvalue",
                    "not a continuation token from this API",
                )
            })
        })
        .transpose()?;
    let wiki = query
        .get("wiki")?
        .map(|w| {
            WikiId::parse(w).map_err(|e| ApiError::bad_param("wiki", "paramvalidator-badvalue", e))
        })
        .transpose()?;
    let user_name = user_filter(query)?;
    let record = existing_event(&state.pool, event).await?;
    let reader = reader(&req, &record);
    let page = contributions::list(
        &state.pool,
        &Listing {
            event,
            limit,
            after,
            user_name,
            wiki: wiki.as_ref(),
            reader,
        },
    )
    .await?;
    let rows: Vec<serde_json::Value> = page.rows.iter().map(|l| shown(l, reader)).collect();
    let mut body = serde_json::json!({"contributions": rows});
    if let Some((t, id)) = page.next {
        body["continue"] = serde_json::json!(format!("{}_{id}", t.timestamp_micros()));
    }
    Ok(warp::reply::json(&body).into_response())
}

pub async fn summary(req: Request<Context>) -> Result<Response, ApiError> {
    let state = &req.state;
    let event = req.event_id()?;
    let (body, tag) = match state.summaries.get(event) {
        Ok(hit) => hit,
        Err(stamp) => {
            existing_event(&state.pool, event).await?;
            let s = contributions::summary(&state.pool, event).await?;
            let body: Arc<[u8]> = serde_json::to_vec(&s)
                .map_err(|_| ApiError::internal())?
                .into();
            let tag = etag::of(&body);
            state.summaries.put(event, stamp, body.clone(), tag.clone());
            (body, tag)
        }
    };
    Ok(crate::gateway::conditional_json(
        body.to_vec(),
        &tag,
        req.if_none_match.as_deref(),
        None,
    ))
}

/// Escapes text for XML content and attributes.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab/newline are not allowed in XML 1.0.
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

pub async fn atom(req: Request<Context>) -> Result<Response, ApiError> {
    let state = &req.state;
    let event = req.event_id()?;
    req.query.wiki()?; // only names the wiki that signs the reader in
    let record = existing_event(&state.pool, event).await?;
    let reader = reader(&req, &record);
    let page = contributions::list(
        &state.pool,
        &Listing {
            event,
            limit: DEFAULT_LIMIT,
            after: None,
            user_name: None,
            wiki: None,
            reader,
        },
    )
    .await?;
    let updated = page
        .rows
        .first()
        .map(|l| l.row.rev_timestamp)
        .unwrap_or(record.updated_at);
    let mut feed = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <id>urn:campaign-events:event:{event}:contributions</id>\n\
         <title>{}: contributions</title>\n<updated>{}</updated>\n\
         <generator>campaign-events</generator>\n",
        xml(record.facts.name.as_str()),
        wire_time(updated)
    );
    for listed in &page.rows {
        let c = &listed.row;
        let link = WikiId::parse(&c.wiki_id)
            .ok()
            .and_then(|w| state.wikis.api_url(&w).map(str::to_owned))
            .and_then(|api| {
                api.strip_suffix("api.php")
                    .map(|base| format!("{base}index.php?diff={}", c.revision_id))
            });
        let delta = c.stats.bytes_added as i64 - c.stats.bytes_removed as i64;
        feed.push_str(&format!(
            "<entry>\n<id>urn:campaign-events:edit:{}:{}</id>\n<title>{} ({delta:+} bytes)</title>\n\
             <updated>{}</updated>\n<author><name>{}</name></author>\n{}\
             <summary>{} on {}: {} bytes added, {} removed; {} links added, {} removed; {} references added{}</summary>\n</entry>\n",
            xml(&c.wiki_id),
            c.revision_id,
            xml(&c.page_title),
            wire_time(c.rev_timestamp),
            xml(author_name(listed, reader)),
            link.map(|l| format!("<link rel=\"alternate\" href=\"{}\"/>\n", xml(&l))).unwrap_or_default(),
            xml(&c.page_title),
            xml(&c.wiki_id),
            c.stats.bytes_added,
            c.stats.bytes_removed,
            c.stats.links_added,
            c.stats.links_removed,
            c.stats.refs_added,
            if c.is_new_article { "; new article" } else { "" },
        ));
    }
    feed.push_str("</feed>\n");
    let mut resp = Response::new(feed.into());
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/atom+xml; charset=utf-8"),
    );
    Ok(resp)
}

/// `GET /dead_letters` (admins: the router checked).
pub async fn dead_letters(req: Request<Context>) -> Result<Response, ApiError> {
    let limit = limit(&req.query)?;
    let rows = contributions::dead_letters(&req.state.pool, limit).await?;
    Ok(warp::reply::json(&serde_json::json!({"dead_letters": rows})).into_response())
}

/// Publishes a dead letter's job again, under a fresh message id (the edit's key would be
/// dropped as a duplicate inside the window). If it succeeds this time, storing its row
/// removes the dead letter; if it fails again, the dead letter is replaced.
pub async fn retry_dead_letter(req: Request<Context>) -> Result<Response, ApiError> {
    let state = &req.state;
    // The same digits-only rule as event ids (no sign), as the document states for `{id}`.
    let id: i64 = req.event_id().map(EventId::as_i64)?;
    let Some((payload, _)) = contributions::mark_retried(&state.pool, id).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "campaignevents-rest-dead-letter-not-found",
            format!("There is no dead letter with ID {id}."),
        ));
    };
    let job: Job = rmp_serde::from_slice(&payload).map_err(|e| {
        ApiError::new(
            StatusCode::CONFLICT,
            "campaignevents-rest-dead-letter-unreadable",
            format!("The dead letter's job cannot be read: {e}"),
        )
    })?;
    let message_id = format!("{}:retry:{id}:{}", job.key(), Utc::now().timestamp_millis());
    if let Err(e) = crate::association::accept::publish(state, &job, &message_id).await {
        // Nothing was queued: the dead letter is open again (if this fails too, the admin's
        // next retry sets it right).
        if let Err(e) = contributions::unmark_retried(&state.pool, id).await {
            tracing::warn!(error = %e, "dead letter left marked as retried");
        }
        return Err(e);
    }
    Ok(warp::reply::with_status(
        warp::reply::json(&serde_json::json!({"status": "queued", "jobId": job.key()})),
        StatusCode::ACCEPTED,
    )
    .into_response())
}
