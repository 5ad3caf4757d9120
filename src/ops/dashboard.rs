//! The operator dashboard: one self-contained page at `GET /` (it polls `/metrics` and
//! `/dashboard.json` every few seconds and draws its own charts), and the JSON it needs beyond
//! the metrics: the backlog, open dead letters, and what starts and ends in the next 24 hours.

use chrono::Duration as ChronoDuration;
use serde::Serialize;
use warp::reply::Response;
use warp::Reply;

use crate::gateway::wire_time;
use crate::gateway::{ApiError, Request};
use crate::ops::Context;

/// The page, compiled in: serving it needs no files and no build step.
const PAGE: &str = include_str!("dashboard.html");

/// How far ahead the timeline looks, at most: no further than the cache's horizon, since the
/// directory it reads holds no event starting beyond that.
const TIMELINE_HOURS: i64 = 24;

pub async fn page(_: Request<Context>) -> Result<Response, ApiError> {
    let mut resp = warp::reply::html(PAGE).into_response();
    resp.headers_mut().insert(
        "cache-control",
        warp::http::HeaderValue::from_static("no-cache"),
    );
    Ok(resp)
}

#[derive(Serialize)]
struct Queue {
    pending: Option<u64>,
    ack_pending: Option<u64>,
}

#[derive(Serialize)]
struct TimelineItem {
    id: u64,
    name: String,
    start_time: String,
    end_time: String,
}

#[derive(Serialize)]
struct Data {
    now: String,
    ongoing_events: usize,
    queue: Queue,
    dead_letters: Option<u64>,
    /// How many hours ahead `timeline` covers (24, or the cache horizon when shorter).
    timeline_hours: i64,
    timeline: Vec<TimelineItem>,
}

/// `GET /dashboard.json`. The timeline comes from the cache's event directory, which holds
/// every event ongoing or starting within the cache horizon (24 h by default), so it costs
/// no query; with a shorter horizon the timeline is that much shorter, and says so.
pub async fn data(req: Request<Context>) -> Result<Response, ApiError> {
    let state = req.state;
    let now = state.clock.now();
    let directory = state.cache.directory();
    let timeline_hours = directory.horizon().num_hours().clamp(1, TIMELINE_HOURS);
    let until = now + ChronoDuration::hours(timeline_hours);
    let timeline = directory
        .all()
        .into_iter()
        .filter(|f| !f.deleted)
        .filter(|f| {
            let (start, end) = (f.window.start(), f.window.end());
            (start >= now && start <= until) || (end >= now && end <= until)
        })
        .map(|f| TimelineItem {
            id: f.id.get(),
            name: f.name.as_str().to_owned(),
            start_time: wire_time(f.window.start()),
            end_time: wire_time(f.window.end()),
        })
        .collect();
    let backlog = state.backlog.get(&state).await;
    let queue = Queue {
        pending: backlog.pending,
        ack_pending: backlog.in_flight,
    };
    let body = Data {
        now: wire_time(now),
        ongoing_events: directory.ongoing_count(now),
        queue,
        dead_letters: backlog.dead_letters,
        timeline_hours,
        timeline,
    };
    let mut resp = warp::reply::json(&body).into_response();
    resp.headers_mut().insert(
        "cache-control",
        warp::http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}
