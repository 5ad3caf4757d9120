//! The HTTP edge: the shared state handlers get, request plumbing (authentication, JSON
//! bodies, request ids, access logs, metrics per route), MediaWiki's error shape, ETags, the
//! route table with the OpenAPI document generated from it, and the connection loop.
//!
//! Owns: how a request becomes a handler call and a response. Does not know what an event,
//! a registration or a contribution means: the handlers live with their capabilities
//! (`events::http`, `registration::http`, `cache::reads`, `association::http`, …) and this
//! module only routes to them.

pub mod auth;
mod errors;
pub mod etag;
pub mod openapi;
pub mod routes;
pub mod server;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, Method};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use errors::respond;
pub use errors::ApiError;

use crate::association::{accept as associate, http as contributions};
use crate::cache::{purge, reads as ongoing};
use crate::events::http as events;
use crate::gateway::auth::{Caller, Verifier};
use crate::infra::nats::Names;
use crate::infra::wikis::Wikis;
use crate::ops::{backlog, dashboard, http as ops, Readiness};
use crate::registration::http as participants;
use crate::startup::config::CacheMode;

/// What every handler may use. Cloned as an `Arc` into each route.
pub struct State {
    pub pool: deadpool_postgres::Pool,
    pub nats: async_nats::Client,
    pub jetstream: async_nats::jetstream::Context,
    pub names: Names,
    pub wikis: Wikis,
    pub verifier: Verifier,
    pub readiness: Readiness,
    pub cache: Arc<campaign_events_actors::Cache>,
    pub cache_mode: CacheMode,
    pub clock: campaign_events_actors::SharedClock,
    pub max_body_bytes: u64,
    /// Rendered events of the post-edit read.
    pub rendered: ongoing::Rendered,
    /// Rendered contribution summaries.
    pub summaries: contributions::Summaries,
    pub metrics: Arc<crate::ops::metrics::Metrics>,
    /// Which edits may already be associated (a Bloom filter in front of Postgres).
    pub associated: crate::association::bloom::AssociatedEdits,
    /// Built once at start from the route table.
    pub openapi: serde_json::Value,
    /// The backlog and open dead letters, shared by `/metrics` and the dashboard.
    pub backlog: backlog::BacklogProbe,
}

pub type Shared = Arc<State>;

impl State {
    /// The caller behind an `Authorization: Bearer` header, or 401.
    pub fn caller(&self, authorization: Option<&str>) -> Result<Caller, ApiError> {
        let header = authorization.ok_or_else(|| ApiError::unauthorized("no bearer token"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
            })?;
        self.verifier.verify(token.trim()).map_err(|e| match e {
            crate::gateway::auth::TokenError::BadName => ApiError::new(
                warp::http::StatusCode::BAD_REQUEST,
                "rest-invalid-user-name",
                e.to_string(),
            ),
            crate::gateway::auth::TokenError::Invalid(_) => ApiError::unauthorized(e),
        })
    }

    /// After a database commit: publish the change for the other instances, then apply it to
    /// the local cache at once. A publish that fails (NATS down) is logged and the local cache
    /// is still updated; the other instances' sweeps reconcile.
    /// Returns whether the publish succeeded, for callers that can retry (a NATS command).
    pub async fn commit_change(&self, change: campaign_events_actors::Change) -> bool {
        // Not connected: do not make the caller wait out a publish timeout.
        let connected = matches!(
            self.nats.connection_state(),
            async_nats::connection::State::Connected
        );
        let attempt = async {
            if connected {
                crate::cache::changes::publish(&self.jetstream, &self.names, &change).await
            } else {
                Err(anyhow::anyhow!("NATS is not connected"))
            }
        };
        let published = match attempt.await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "could not publish a change; applied locally");
                false
            }
        };
        self.cache.apply(change).await;
        published
    }
}

/// A request body as handlers receive it: raw bytes (already size-limited) and its content
/// type, parsed by [`parse_json`] so that a bad body is a 400 with a message, not a rejection.
pub struct Body {
    pub content_type: Option<String>,
    pub bytes: Bytes,
}

/// A JSON answer with its strong ETag, or `304` with no body when `If-None-Match` has it.
pub fn conditional_json(
    body: Vec<u8>,
    tag: &str,
    if_none_match: Option<&str>,
    cache_control: Option<&'static str>,
) -> Response {
    let mut resp = if if_none_match.is_some_and(|h| crate::gateway::etag::matches(h, tag)) {
        let mut r = Response::new(Vec::new().into());
        *r.status_mut() = warp::http::StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(body.into());
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        r
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(tag) {
        h.insert("etag", v);
    }
    if let Some(cc) = cache_control {
        h.insert("cache-control", HeaderValue::from_static(cc));
    }
    resp
}

/// Parses a JSON body into `T`. serde's message names the field and position at fault.
pub fn parse_json<T: DeserializeOwned>(body: &Body) -> Result<T, ApiError> {
    if let Some(ct) = &body.content_type {
        let mime = ct.split(';').next().unwrap_or_default().trim();
        if !mime.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::new(
                warp::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "rest-unsupported-content-type",
                format!("The request body must be application/json, not {mime}."),
            ));
        }
    }
    if body.bytes.is_empty() {
        return Err(ApiError::invalid_body(
            "the body is empty; a JSON object is required",
        ));
    }
    serde_json::from_slice(&body.bytes).map_err(ApiError::invalid_body)
}

fn with_state(
    state: Shared,
) -> impl Filter<Extract = (Shared,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || state.clone())
}

fn if_none_match() -> impl Filter<Extract = (Option<String>,), Error = Rejection> + Clone {
    warp::header::optional::<String>("if-none-match")
}

fn query() -> impl Filter<Extract = (ongoing::Query,), Error = Rejection> + Clone {
    warp::query::<Vec<(String, String)>>().map(ongoing::Query)
}

fn authorization() -> impl Filter<Extract = (Option<String>,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization")
}

/// The body filter: at most `limit` bytes, refused with 413 as soon as `Content-Length` says
/// it is larger, or as soon as a body without one grows past the limit while being read.
fn body(limit: u64) -> impl Filter<Extract = (Body,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::body::stream())
        .and_then(
            move |length: Option<u64>, content_type: Option<String>, stream| async move {
                if length.is_some_and(|l| l > limit) {
                    return Err(warp::reject::custom(errors::BodyTooLarge));
                }
                let bytes = read_limited(stream, limit).await?;
                Ok(Body {
                    content_type,
                    bytes,
                })
            },
        )
}

async fn read_limited<S, B>(stream: S, limit: u64) -> Result<Bytes, Rejection>
where
    S: futures::Stream<Item = Result<B, warp::Error>>,
    B: bytes::Buf,
{
    use futures::StreamExt;
    let mut stream = std::pin::pin!(stream);
    let mut bytes = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|_| warp::reject::custom(errors::BodyUnreadable))?;
        if bytes.len() as u64 + chunk.remaining() as u64 > limit {
            return Err(warp::reject::custom(errors::BodyTooLarge));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            bytes.extend_from_slice(part);
            chunk.advance(n);
        }
    }
    Ok(bytes.freeze())
}

/// The id of the route that produced a response, for metric labels (bounded cardinality:
/// route ids, not paths).
#[derive(Clone, Copy)]
struct RouteId(&'static str);

/// Boxes a route and marks its responses with the route's id, so the access log and metrics
/// know the route without matching the path again.
fn tagged<F>(spec: &'static routes::RouteSpec, route: F) -> BoxedFilter<(Response,)>
where
    F: Filter<Extract = (Response,), Error = Rejection> + Clone + Send + Sync + 'static,
{
    route
        .map(move |mut resp: Response| {
            resp.extensions_mut().insert(RouteId(spec.id));
            resp
        })
        .boxed()
}

/// Every route, with error recovery, request ids and access logging around them.
pub fn routes(
    state: Shared,
) -> impl Filter<Extract = (Response,), Error = std::convert::Infallible> + Clone + Send + Sync + 'static
{
    use routes::*;
    let s = || with_state(state.clone());
    let limit = state.max_body_bytes;

    let healthz = HEALTHZ.filter().and_then(|_| ops::healthz());
    let readyz = READYZ.filter().and(s()).and_then(|_, st| ops::readyz(st));
    let openapi = OPENAPI.filter().and(s()).and_then(|_, st| ops::openapi(st));
    let metrics = METRICS.filter().and(s()).and_then(|_, st| ops::metrics(st));
    let dashboard_page = DASHBOARD.filter().and_then(|_| dashboard::page());
    let dashboard_data = DASHBOARD_DATA
        .filter()
        .and(s())
        .and_then(|_, st| dashboard::data(st));
    let create = EVENT_CREATE
        .filter()
        .and(s())
        .and(authorization())
        .and(body(limit))
        .and_then(|_, st, auth, body| async move { respond(events::create(st, auth, body).await) });
    let get = EVENT_GET
        .filter()
        .and(s())
        .and_then(|p, st| async move { respond(events::get(st, p).await) });
    let update = EVENT_UPDATE
        .filter()
        .and(s())
        .and(authorization())
        .and(body(limit))
        .and_then(
            |p, st, auth, body| async move { respond(events::update(st, p, auth, body).await) },
        );
    let delete = EVENT_DELETE
        .filter()
        .and(s())
        .and(authorization())
        .and_then(|p, st, auth| async move { respond(events::delete(st, p, auth).await) });
    let participant_events = PARTICIPANT_EVENTS
        .filter()
        .and(s())
        .and(authorization())
        .and(if_none_match())
        .and(query())
        .and_then(|_, st, auth, inm, q| async move {
            respond(ongoing::participant_events(st, auth, inm, q).await)
        });
    let events_for_edit = EVENTS_FOR_EDIT
        .filter()
        .and(s())
        .and(authorization())
        .and(if_none_match())
        .and(query())
        .and_then(|_, st, auth, inm, q| async move {
            respond(ongoing::events_for_edit(st, auth, inm, q).await)
        });
    let register = REGISTER
        .filter()
        .and(s())
        .and(authorization())
        .and(body(limit))
        .and_then(|p, st, auth, body| async move {
            respond(participants::register(st, p, auth, body).await)
        });
    let unregister =
        UNREGISTER
            .filter()
            .and(s())
            .and(authorization())
            .and_then(
                |p, st, auth| async move { respond(participants::unregister(st, p, auth).await) },
            );

    let associate_v1 = ASSOCIATE_V1
        .filter()
        .and(s())
        .and(authorization())
        .and(body(limit))
        .and_then(|_, st, auth, body| async move {
            respond(associate::associate_v1(st, auth, body).await)
        });
    let associate_v0 = ASSOCIATE_V0
        .filter()
        .and(s())
        .and(authorization())
        .and_then(|p, st, auth| async move { respond(associate::associate_v0(st, p, auth).await) });
    let contributions_list = CONTRIBUTIONS
        .filter()
        .and(s())
        .and(authorization())
        .and(query())
        .and_then(
            |p, st, auth, q| async move { respond(contributions::list(st, p, auth, q).await) },
        );
    let contributions_summary = CONTRIBUTIONS_SUMMARY
        .filter()
        .and(s())
        .and(if_none_match())
        .and_then(|p, st, inm| async move { respond(contributions::summary(st, p, inm).await) });
    let contributions_atom = CONTRIBUTIONS_ATOM
        .filter()
        .and(s())
        .and(authorization())
        .and_then(|p, st, auth| async move { respond(contributions::atom(st, p, auth).await) });
    let dead_letters = DEAD_LETTERS
        .filter()
        .and(s())
        .and(authorization())
        .and(query())
        .and_then(|_, st, auth, q| async move {
            respond(contributions::dead_letters(st, auth, q).await)
        });
    let dead_letter_retry = DEAD_LETTER_RETRY
        .filter()
        .and(s())
        .and(authorization())
        .and_then(|p, st, auth| async move {
            respond(contributions::retry_dead_letter(st, p, auth).await)
        });

    let cache_purge = CACHE_PURGE
        .filter()
        .and(s())
        .and(authorization())
        .and(body(limit))
        .and_then(|_, st, auth, body| async move { respond(purge::purge(st, auth, body).await) });

    // Boxed and folded: a long chain of `.or()` makes a type so deep that the compiler
    // takes minutes on it. The order is the matching order (the hot read first).
    let all: Vec<BoxedFilter<(Response,)>> = vec![
        tagged(&PARTICIPANT_EVENTS, participant_events),
        tagged(&EVENTS_FOR_EDIT, events_for_edit),
        tagged(&HEALTHZ, healthz),
        tagged(&READYZ, readyz),
        tagged(&METRICS, metrics),
        tagged(&OPENAPI, openapi),
        tagged(&DASHBOARD, dashboard_page),
        tagged(&DASHBOARD_DATA, dashboard_data),
        tagged(&EVENT_CREATE, create),
        tagged(&EVENT_GET, get),
        tagged(&EVENT_UPDATE, update),
        tagged(&EVENT_DELETE, delete),
        tagged(&REGISTER, register),
        tagged(&UNREGISTER, unregister),
        tagged(&ASSOCIATE_V1, associate_v1),
        tagged(&ASSOCIATE_V0, associate_v0),
        tagged(&CONTRIBUTIONS, contributions_list),
        tagged(&CONTRIBUTIONS_SUMMARY, contributions_summary),
        tagged(&CONTRIBUTIONS_ATOM, contributions_atom),
        tagged(&DEAD_LETTERS, dead_letters),
        tagged(&DEAD_LETTER_RETRY, dead_letter_retry),
        tagged(&CACHE_PURGE, cache_purge),
    ];
    let api = all
        .into_iter()
        .reduce(|a, b| a.or(b).unify().boxed())
        .expect("at least one route")
        .recover(errors::recover)
        .unify();

    let st = state.clone();
    warp::any()
        .map(Instant::now)
        .and(request_id())
        .and(warp::method())
        .and(warp::path::full())
        .and(api)
        .map(
            move |start: Instant,
                  id: String,
                  method: Method,
                  path: warp::path::FullPath,
                  reply: Response| {
                let mut resp = reply.into_response();
                let status = resp.status().as_u16();
                // Set by `tagged` on the route that answered; warp's own rejections have none.
                let route = resp
                    .extensions()
                    .get::<RouteId>()
                    .map_or("unmatched", |r| r.0);
                st.metrics
                    .http_requests
                    .with_label_values(&[route, resp.status().as_str()])
                    .inc();
                st.metrics
                    .http_duration
                    .with_label_values(&[route])
                    .observe(start.elapsed().as_secs_f64());
                tracing::info!(
                    request_id = %id,
                    %method,
                    path = path.as_str(),
                    status,
                    micros = start.elapsed().as_micros() as u64,
                    "request"
                );
                if let Ok(v) = HeaderValue::from_str(&id) {
                    resp.headers_mut().insert("x-request-id", v);
                }
                resp
            },
        )
}

/// The caller's `X-Request-Id` when it is a sane token, else a new one: unique per process
/// (start time and a counter), which is all a log search needs.
fn request_id() -> impl Filter<Extract = (String,), Error = std::convert::Infallible> + Clone {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static BOOT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    // Only this header, not a clone of them all: this runs on every request.
    warp::header::optional::<String>("x-request-id")
        .or(warp::any().map(|| None))
        .unify()
        .map(|given: Option<String>| match given {
            Some(id)
                if !id.is_empty()
                    && id.len() <= 64
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                id
            }
            _ => {
                let boot = *BOOT.get_or_init(|| {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or_default()
                });
                format!("{boot:x}-{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
            }
        })
}
