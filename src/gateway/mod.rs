//! The HTTP edge, for any service: request plumbing (authentication, JSON bodies, query
//! parameters, request ids, access logs, metrics per route), MediaWiki's error shape, ETags, the
//! shape of a route table with the OpenAPI document generated from it, and the connection
//! loop.
//!
//! Owns: how a request becomes a handler call and a response, and who the caller is. Knows no
//! capability and no route: the service hands it its route table and state through
//! [`Service`] (`startup::routes`, `startup::state`), and each capability's handlers take a
//! [`Request`] of their own part of that state. Every other capability may use it; it uses
//! only `infra`.

pub mod auth;
mod errors;
pub mod etag;
pub mod openapi;
pub mod routes;
pub mod server;
pub mod sessions;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use warp::http::{HeaderValue, Method};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

pub use errors::ApiError;
pub use routes::PathParams;

use crate::gateway::auth::{Caller, Verifier};
use crate::infra::metrics::Metrics;
use crate::infra::wikis::Wikis;
use routes::{Access, RouteSpec};

/// What the edge itself needs, whatever the service: who callers are (the service's own
/// tokens, the wikis' tokens and session cookies), which origins may call from a browser, how
/// large a body may be, and where the request metrics go.
pub struct Edge {
    pub wikis: Wikis,
    pub verifier: Verifier,
    /// Who the wikis' session cookies belong to, as the wikis said.
    pub sessions: sessions::WikiSessions,
    pub max_body_bytes: u64,
    pub metrics: Arc<Metrics>,
}

/// A service the gateway serves: its route table, and the state its handlers share. The
/// service (`startup::state::State`) implements it; the gateway never names the service's
/// routes or state.
pub trait Service: Send + Sync + Sized + 'static {
    /// Every route, in matching order.
    fn routes() -> &'static [RouteSpec<Self>];
    fn edge(&self) -> &Edge;
}

impl Edge {
    /// The caller a token of this service's names (`400` for a name that is no user name).
    fn own_token_caller(&self, token: &str) -> Result<Caller, ApiError> {
        self.verifier.verify(token).map_err(|e| match e {
            crate::gateway::auth::TokenError::BadName => ApiError::new(
                warp::http::StatusCode::BAD_REQUEST,
                "rest-invalid-user-name",
                e.to_string(),
            ),
            crate::gateway::auth::TokenError::Invalid(_) => ApiError::unauthorized(e),
        })
    }
}

/// A request body as handlers receive it: raw bytes (already size-limited) and its content
/// type, parsed by [`parse_json`] so that a bad body is a 400 with a message, not a rejection.
pub struct Body {
    pub content_type: Option<String>,
    pub bytes: Bytes,
}

/// RFC 3339 in UTC with a `Z`, to the second: the form the contract shows for every time.
pub fn wire_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
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

/// The most rows one page of a paged route holds.
pub const MAX_PAGE_SIZE: i64 = 500;

/// Query parameters, parsed by hand so that a bad value is a 400 naming the parameter.
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn get(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut found = self.0.iter().filter(|(k, _)| k == name);
        let first = found.next().map(|(_, v)| v.as_str());
        if found.next().is_some() {
            return Err(ApiError::bad_param(
                name,
                "paramvalidator-multivalue-disallowed",
                "given more than once",
            ));
        }
        Ok(first)
    }

    pub fn wiki(&self) -> Result<Option<campaign_events_actors::domain::WikiId>, ApiError> {
        self.get("wiki")?
            .map(|w| {
                campaign_events_actors::domain::WikiId::parse(w)
                    .map_err(|e| ApiError::bad_param("wiki", "paramvalidator-badvalue", e))
            })
            .transpose()
    }

    /// The `limit` parameter of a paged route: 1 to [`MAX_PAGE_SIZE`] (what the OpenAPI
    /// document's `Limit` kind says), `default` when absent.
    pub fn page_size(&self, default: i64) -> Result<i64, ApiError> {
        match self.get("limit")? {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|l| (1..=MAX_PAGE_SIZE).contains(l))
                .ok_or_else(|| {
                    ApiError::bad_param(
                        "limit",
                        "paramvalidator-outofrange",
                        format!("must be an integer from 1 to {MAX_PAGE_SIZE}"),
                    )
                }),
        }
    }

    /// MediaWiki's boolean forms.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name)? {
            None => Ok(None),
            Some("true" | "1" | "yes") => Ok(Some(true)),
            Some("false" | "0" | "no" | "") => Ok(Some(false)),
            Some(other) => Err(ApiError::bad_param(
                name,
                "paramvalidator-badbool",
                format!("{other:?} is not a boolean (true or false)"),
            )),
        }
    }
}

/// A request as a handler receives it: parsed once by the router, with the caller already
/// resolved and checked against the route's access level.
pub struct Request<S> {
    /// The part of the service's state this route's capability gets.
    pub state: Arc<S>,
    pub params: routes::PathParams,
    pub query: Query,
    pub if_none_match: Option<String>,
    /// Empty unless the route takes a body or is a write (whose body may carry the wiki's CSRF
    /// token, taken out before the handler runs).
    pub body: Body,
    caller: Option<Caller>,
}

impl<S> Request<S> {
    /// The same request, for a handler that gets `state` (its capability's part of the
    /// service's state).
    pub fn with_state<T>(self, state: Arc<T>) -> Request<T> {
        Request {
            state,
            params: self.params,
            query: self.query,
            if_none_match: self.if_none_match,
            body: self.body,
            caller: self.caller,
        }
    }

    /// The caller. Always there on `User`, `Organizer` and `Admin` routes (the router
    /// answered `401` otherwise); on `Optional` routes only when a token was sent.
    pub fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller
            .as_ref()
            .ok_or_else(|| ApiError::unauthorized("no bearer token"))
    }

    /// The caller on an `Optional` route, if a token was sent.
    pub fn caller_if_any(&self) -> Option<&Caller> {
        self.caller.as_ref()
    }

    /// The body as `T`, or a 400 / 415 saying why not.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(&self.body)
    }

    /// The `{id}` path parameter of the event routes, or a 400 naming it.
    pub fn event_id(&self) -> Result<campaign_events_actors::domain::EventId, ApiError> {
        self.params
            .get(0)
            .parse::<campaign_events_actors::domain::EventId>()
            .map_err(|e| ApiError::bad_param("id", "paramvalidator-badinteger", e))
    }
}

/// The request headers the router reads, and only those (this runs on every request).
struct Headers {
    authorization: Option<String>,
    if_none_match: Option<String>,
    content_type: Option<String>,
    content_length: Option<u64>,
    /// A wiki's session cookies, for requests without a bearer token.
    cookie: Option<String>,
    /// Where a browser's request comes from (CORS, and the check of cookie requests).
    origin: Option<String>,
    /// A cookie-authenticated write's CSRF token, when not in the body.
    csrf_token: Option<String>,
    /// A CORS preflight's method.
    preflight_method: Option<String>,
}

fn headers() -> impl Filter<Extract = (Headers,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and(warp::header::optional::<String>("if-none-match"))
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::header::optional::<String>("cookie"))
        .and(warp::header::optional::<String>("origin"))
        .and(warp::header::optional::<String>("x-csrf-token"))
        .and(warp::header::optional::<String>(
            "access-control-request-method",
        ))
        .map(
            |authorization,
             if_none_match,
             content_type,
             content_length,
             cookie,
             origin,
             csrf_token,
             preflight_method| Headers {
                authorization,
                if_none_match,
                content_type,
                content_length,
                cookie,
                origin,
                csrf_token,
                preflight_method,
            },
        )
}

/// The headers a browser may send across origins, and the ones a preflight allows.
const CORS_ALLOW_HEADERS: &str = "Authorization, Content-Type, If-None-Match, X-CSRF-Token";

/// `Access-Control-Allow-Origin` with credentials for a configured wiki origin; nothing for
/// any other origin (the browser then keeps the answer from the page).
fn add_cors(edge: &Edge, origin: Option<&str>, resp: &mut Response) {
    let Some(origin) = origin else { return };
    if edge.wikis.by_origin(origin).is_none() {
        return;
    }
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert("access-control-allow-origin", v);
        h.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
        h.append("vary", HeaderValue::from_static("Origin"));
        h.insert(
            "access-control-expose-headers",
            HeaderValue::from_static("ETag, Retry-After, X-Request-Id"),
        );
    }
}

/// A CORS preflight from a configured wiki origin for a path some route serves: `204` with the
/// methods served there and the headers a request may carry. `None` for anything else.
fn preflight<S: Service>(edge: &Edge, path: &str, headers: &Headers) -> Option<Response> {
    let origin = headers.origin.as_deref()?;
    headers.preflight_method.as_ref()?;
    edge.wikis.by_origin(origin)?;
    if !S::routes().iter().any(|r| r.match_path(path).is_some()) {
        return None;
    }
    let mut resp = Response::new(Vec::new().into());
    *resp.status_mut() = warp::http::StatusCode::NO_CONTENT;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&routes::allowed_methods(S::routes(), path)) {
        h.insert("access-control-allow-methods", v);
    }
    h.insert(
        "access-control-allow-headers",
        HeaderValue::from_static(CORS_ALLOW_HEADERS),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("600"));
    add_cors(edge, Some(origin), &mut resp);
    Some(resp)
}

/// The wiki a request names, for signing in with that wiki: the `wiki` query parameter, the
/// route's `{wiki}`, the body's `wikiId`, or else the wiki whose origin sent it.
fn named_wiki<S>(
    edge: &Edge,
    route: &RouteSpec<S>,
    params: &PathParams,
    query: &Query,
    body: &Body,
    origin: Option<&str>,
) -> Option<campaign_events_actors::domain::WikiId> {
    use campaign_events_actors::domain::WikiId;
    if let Some(Ok(w)) = query
        .0
        .iter()
        .find(|(k, _)| k == "wiki")
        .map(|(_, v)| WikiId::parse(v))
    {
        return Some(w);
    }
    let position = route
        .path
        .split('/')
        .filter(|s| s.starts_with('{'))
        .position(|s| s == "{wiki}");
    if let Some(Ok(w)) = position.map(|i| WikiId::parse(params.get(i))) {
        return Some(w);
    }
    if !body.bytes.is_empty() {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body.bytes) {
            if let Some(Ok(w)) = v.get("wikiId").and_then(|w| w.as_str()).map(WikiId::parse) {
                return Some(w);
            }
        }
    }
    origin
        .and_then(|o| edge.wikis.by_origin(o))
        .map(|(w, _)| w.clone())
}

/// The caller of a request with no bearer token, from the wiki's session cookies, if the
/// request names a wiki that accepts them. Writes must carry the session's CSRF token (the
/// body's `token`, which is then taken out of the body, or `X-CSRF-Token`), and a browser's
/// `Origin`, when sent, must be the wiki's own.
async fn session_caller<S>(
    edge: &Edge,
    route: &RouteSpec<S>,
    method: &Method,
    params: &PathParams,
    query: &Query,
    body: &mut Body,
    headers: &Headers,
) -> Result<Option<Caller>, ApiError> {
    let Some(cookies) = headers.cookie.as_deref().filter(|c| !c.trim().is_empty()) else {
        return Ok(None);
    };
    let Some(wiki) = named_wiki(edge, route, params, query, body, headers.origin.as_deref()) else {
        return Ok(None);
    };
    let Some(site) = edge.wikis.site(&wiki).filter(|s| s.sessions) else {
        return Ok(None);
    };
    if let Some(origin) = headers.origin.as_deref() {
        if site.origin.as_deref() != Some(origin) {
            return Err(ApiError::forbidden(
                "campaignevents-rest-bad-origin",
                format!("Requests signed in with {wiki}'s cookies must come from its own pages."),
            ));
        }
    }
    // MediaWiki 1.45+'s `sessionJwt` cookie, where the wiki's key is configured, says who it is
    // without asking the wiki; otherwise the wiki's userinfo does.
    let session_jwt = cookies
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == "sessionJwt")
        .map(|(_, value)| value);
    let caller = match (session_jwt, &site.jwt) {
        (Some(jwt), Some(_)) => edge
            .sessions
            .jwt_caller(&wiki, site, jwt, sessions::jwt::Kind::SessionCookie)
            .await
            .map_err(session_error)?,
        _ => edge
            .sessions
            .caller(&wiki, site, cookies)
            .await
            .map_err(session_error)?,
    };
    if *method != Method::GET && *method != Method::HEAD {
        let from_body = take_body_token(body);
        let token = headers
            .csrf_token
            .clone()
            .or(from_body)
            .ok_or_else(bad_token)?;
        if !edge
            .sessions
            .token_is_valid(&wiki, site, cookies, &token)
            .await
            .map_err(session_error)?
        {
            return Err(bad_token());
        }
    }
    Ok(Some(caller))
}

/// The caller behind a bearer token: this service's own JWT, or else an access token of a
/// wiki whose `jwt_issuer` and key are configured (Extension:OAuth's).
async fn bearer_caller(edge: &Edge, authorization: Option<&str>) -> Result<Caller, ApiError> {
    let token = bearer_token(authorization)?;
    let own = match edge.own_token_caller(token) {
        Ok(caller) => return Ok(caller),
        Err(e) if e.status() == warp::http::StatusCode::UNAUTHORIZED => e,
        Err(e) => return Err(e),
    };
    for (wiki, site) in edge.wikis.iter().filter(|(_, s)| s.jwt.is_some()) {
        match edge
            .sessions
            .jwt_caller(wiki, site, token, sessions::jwt::Kind::AccessToken)
            .await
        {
            Ok(caller) => return Ok(caller),
            Err(sessions::SessionError::Anonymous) => continue,
            Err(e) => return Err(session_error(e)),
        }
    }
    Err(own)
}

/// The token of an `Authorization: Bearer <token>` header, or 401 saying what is wrong.
fn bearer_token(authorization: Option<&str>) -> Result<&str, ApiError> {
    let header = authorization.ok_or_else(|| ApiError::unauthorized("no bearer token"))?;
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))
}

/// Takes `token` out of a JSON object body (the CampaignEvents frontend sends the CSRF token
/// there), so that handlers see the body they expect.
fn take_body_token(body: &mut Body) -> Option<String> {
    let mut v: serde_json::Value = serde_json::from_slice(&body.bytes).ok()?;
    let token = v.as_object_mut()?.remove("token")?;
    let token = token.as_str()?.to_owned();
    body.bytes = serde_json::to_vec(&v).ok()?.into();
    Some(token)
}

fn bad_token() -> ApiError {
    ApiError::forbidden(
        "rest-badtoken",
        "The CSRF token is missing or invalid; send the wiki's csrf token as `token` or X-CSRF-Token.",
    )
}

fn session_error(e: sessions::SessionError) -> ApiError {
    match e {
        sessions::SessionError::Anonymous => {
            ApiError::unauthorized("the wiki says these cookies belong to no signed-in user")
        }
        sessions::SessionError::WikiUnavailable(_) => ApiError::new(
            warp::http::StatusCode::SERVICE_UNAVAILABLE,
            "campaignevents-wiki-unavailable",
            "The wiki could not confirm who you are right now; please try again shortly.",
        )
        .with_retry_after(5),
    }
}

/// Finds the route, reads the body (refused with 413 as soon as `Content-Length` says it is
/// larger than `MAX_BODY_BYTES`, or as soon as a body without one grows past it), resolves the
/// caller as the route's access level asks, and runs the handler. A path no route serves is
/// a rejection (404), as is a served path with the wrong method (405 with `Allow`).
async fn dispatch<Svc: Service, S, B>(
    state: Arc<Svc>,
    method: Method,
    path: warp::path::FullPath,
    raw_query: String,
    headers: Headers,
    stream: S,
) -> Result<Response, Rejection>
where
    S: futures::Stream<Item = Result<B, warp::Error>>,
    B: bytes::Buf,
{
    let path = path.as_str();
    let edge = state.edge();
    if method == Method::OPTIONS {
        if let Some(resp) = preflight::<Svc>(edge, path, &headers) {
            return Ok(resp);
        }
    }
    let mut served_here = false;
    let mut found = None;
    for route in Svc::routes() {
        if let Some(params) = route.match_path(path) {
            served_here = true;
            if method == route.method || (route.method == Method::GET && method == Method::HEAD) {
                found = Some((route, params));
                break;
            }
        }
    }
    let Some((route, params)) = found else {
        return Err(if served_here {
            warp::reject::custom(errors::WrongMethod {
                allow: routes::allowed_methods(Svc::routes(), path),
            })
        } else {
            warp::reject::not_found()
        });
    };
    let limit = edge.max_body_bytes;
    // Writes without a body of their own still carry one for the wiki's CSRF token
    // (`{"token": …}`, as the extension's frontend sends it on PUT and DELETE); their handlers
    // never read it.
    let reads_body = route.body.is_some() || !matches!(method, Method::GET | Method::HEAD);
    let mut body = if reads_body {
        if headers.content_length.is_some_and(|l| l > limit) {
            return Err(warp::reject::custom(errors::BodyTooLarge));
        }
        Body {
            content_type: headers.content_type.clone(),
            bytes: read_limited(stream, limit).await?,
        }
    } else {
        Body {
            content_type: None,
            bytes: Bytes::new(),
        }
    };
    let query = Query(parse_query(&raw_query));
    let origin = headers.origin.clone();
    let result = async {
        let caller =
            match (&headers.authorization, route.access) {
                (_, Access::Public) => None,
                (None, access) => {
                    let session = match session_caller(
                        edge, route, &method, &params, &query, &mut body, &headers,
                    )
                    .await
                    {
                        // Cookies the wiki calls no one's are an anonymous reader where one may
                        // read anonymously.
                        Err(e)
                            if access == Access::Optional
                                && e.status() == warp::http::StatusCode::UNAUTHORIZED =>
                        {
                            None
                        }
                        other => other?,
                    };
                    match session {
                        Some(c) => Some(c),
                        None if access == Access::Optional => None,
                        None => return Err(ApiError::unauthorized(
                            "no bearer token, and no session cookies of a wiki that accepts them",
                        )),
                    }
                }
                (authorization, _) => Some(bearer_caller(edge, authorization.as_deref()).await?),
            };
        match (route.access, &caller) {
            (Access::Organizer, Some(c)) if !c.may_create_events() => {
                return Err(ApiError::forbidden(
                    "campaignevents-rest-createevent-permission-denied",
                    "You need the organizer role to create events.",
                ))
            }
            (Access::Admin, Some(c)) if !c.admin => {
                return Err(ApiError::forbidden(
                    "campaignevents-rest-admin-only",
                    "Only administrators may do this.",
                ))
            }
            _ => {}
        }
        (route.handler)(Request {
            state: state.clone(),
            params,
            query,
            if_none_match: headers.if_none_match,
            body,
            caller,
        })
        .await
    }
    .await;
    let mut resp = result.unwrap_or_else(Reply::into_response);
    resp.extensions_mut().insert(RouteId(route.id));
    add_cors(edge, origin.as_deref(), &mut resp);
    Ok(resp)
}

/// `a=1&b=2` as pairs, %- and `+`-decoded (invalid UTF-8 replaced, as warp's own query
/// filter does).
fn parse_query(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
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

/// Every route, with error recovery, request ids and access logging around them.
pub fn routes<Svc: Service>(
    state: Arc<Svc>,
) -> impl Filter<Extract = (Response,), Error = std::convert::Infallible> + Clone + Send + Sync + 'static
{
    let dispatched = state.clone();
    let api = warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(headers())
        .and(warp::body::stream())
        .and_then(move |method, path, raw_query, headers, stream| {
            dispatch(dispatched.clone(), method, path, raw_query, headers, stream)
        })
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
                st.edge()
                    .metrics
                    .http_requests
                    .with_label_values(&[route, resp.status().as_str()])
                    .inc();
                st.edge()
                    .metrics
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
