//! What a route table is made of. The service declares every route once, as a [`RouteSpec`]
//! in its table (`startup::routes::ROUTES`): the router matches requests and checks access with
//! it, and the OpenAPI document is generated from it, so none of them can drift from the
//! others. The gateway knows the shape of an entry, never the service's entries.

use futures::future::BoxFuture;
use warp::http::Method;
use warp::reply::Response;

use super::{ApiError, Request};

/// Who may call a route. The router checks it before the handler runs: a handler of a `User`,
/// `Organizer` or `Admin` route always has its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// Public, and a token, when sent, shows more: a private participant's own rows to
    /// themselves, and every participant to the event's organizers. A bad token is a `401`.
    Optional,
    /// Any valid bearer token.
    User,
    /// A user who may create events (the organizer role); organizing one event is checked by
    /// its handlers, per event.
    Organizer,
    /// An admin.
    Admin,
}

impl Access {
    /// Whether the route answers `401` without a token.
    pub fn needs_token(self) -> bool {
        matches!(self, Access::User | Access::Organizer | Access::Admin)
    }

    /// Whether the route reads a token when one is sent.
    pub fn reads_token(self) -> bool {
        self != Access::Public
    }
}

/// A route's handler: the parsed request in, a response or an error in MediaWiki's shape out.
/// `S` is the service's state; a table entry hands each capability's handler its own part of
/// it (`Request::with_state`).
pub type Handler<S> = fn(Request<S>) -> BoxFuture<'static, Result<Response, ApiError>>;

/// One route: method, path pattern (`{name}` segments are parameters) and what the OpenAPI
/// document says about it.
pub struct RouteSpec<S> {
    pub id: &'static str,
    pub method: Method,
    pub path: &'static str,
    pub summary: &'static str,
    pub access: Access,
    /// Query parameters, as the handler reads them.
    pub query: &'static [QueryParam],
    /// The request body the route reads, if any.
    pub body: Option<BodySpec>,
    /// Status, description and body of the responses the handler itself gives. The plumbing's
    /// (400, 401, 405, 413, 415, 503) are added by `openapi::implied_responses`.
    pub responses: &'static [(u16, &'static str, Content)],
    pub handler: Handler<S>,
}

/// A JSON request body: its schema's name in the document's components, and whether it may
/// be left out (registering takes an empty body as `{}`).
#[derive(Debug, Clone, Copy)]
pub struct BodySpec {
    pub schema: &'static str,
    pub required: bool,
}

pub const fn json_body(schema: &'static str) -> Option<BodySpec> {
    Some(BodySpec {
        schema,
        required: true,
    })
}

/// What a response carries, so the document names its media type (schemathesis checks that
/// the answer's `Content-Type` is the documented one).
#[derive(Debug, Clone, Copy)]
pub enum Content {
    /// No body (204, 304).
    None,
    /// JSON described by this schema in the document's components.
    Json(&'static str),
    /// A JSON object whose members the document does not list.
    AnyJson,
    /// Another media type (HTML, Prometheus text, Atom).
    Other(&'static str),
}

/// A query parameter: what the document says about it must be what the handler accepts, so
/// that a client (or schemathesis) holding to the document is never refused with a 400.
#[derive(Debug)]
pub struct QueryParam {
    pub name: &'static str,
    pub description: &'static str,
    pub required: bool,
    pub kind: ParamKind,
}

/// The value a query parameter takes; `openapi` turns each into its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// MediaWiki's boolean forms: true/false, 1/0, yes/no, and empty for false.
    Bool,
    /// A page size, 1 to [`MAX_PAGE_SIZE`](super::MAX_PAGE_SIZE).
    Limit,
    /// A wiki id (`WikiId`): a-z, 0-9, `_` and `-`, 1 to 64 characters.
    Wiki,
    /// A user name: any characters but control characters (no user name has them, and
    /// Postgres cannot store a NUL).
    UserName,
    /// The `continue` token of a previous page, which the handler parses in exactly the
    /// shape of this pattern (so that every token the document allows is accepted and every
    /// other is a 400).
    Continue(&'static str),
}

pub const fn optional(
    name: &'static str,
    kind: ParamKind,
    description: &'static str,
) -> QueryParam {
    QueryParam {
        name,
        description,
        required: false,
        kind,
    }
}

/// Path parameters of a matched route, in the order they appear in its pattern.
#[derive(Debug, Clone)]
pub struct PathParams(pub Vec<String>);

impl PathParams {
    pub fn get(&self, i: usize) -> &str {
        self.0.get(i).map(String::as_str).unwrap_or_default()
    }
}

/// The methods served on a concrete request path, as an `Allow` header value. Every route
/// whose pattern matches counts (one path may have GET, PUT and DELETE routes), and HEAD
/// wherever GET is, since GET routes answer HEAD too.
pub fn allowed_methods<S>(routes: &[RouteSpec<S>], path: &str) -> String {
    let mut methods: Vec<&str> = Vec::new();
    for route in routes.iter().filter(|r| r.match_path(path).is_some()) {
        methods.push(route.method.as_str());
        if route.method == Method::GET {
            methods.push(Method::HEAD.as_str());
        }
    }
    methods.dedup();
    methods.join(", ")
}

impl<S> RouteSpec<S> {
    /// Matches `path` against the pattern; returns the parameters.
    pub fn match_path(&self, path: &str) -> Option<PathParams> {
        let mut params = Vec::new();
        let mut want = self.path.split('/');
        let mut got = path.split('/');
        loop {
            match (want.next(), got.next()) {
                (None, None) => return Some(PathParams(params)),
                (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                    if g.is_empty() {
                        return None;
                    }
                    params.push(g.to_owned());
                }
                (Some(w), Some(g)) if w == g => {}
                _ => return None,
            }
        }
    }
}
