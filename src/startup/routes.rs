//! The service's route table: every route it serves, declared once. The gateway builds the
//! router, the access check and the OpenAPI document from it; each entry names the handler of
//! the capability that owns the route, and which part of the service's [`State`] that handler
//! gets. This is the one place that knows every capability's routes, which is why it lives
//! here and not in the gateway (which knows none of them).

use warp::http::Method;

use crate::gateway::routes::{
    json_body, optional, Access, BodySpec, Content, ParamKind, QueryParam, RouteSpec,
};
use crate::gateway::{Edge, Service};
use crate::startup::state::State;

/// The gateway serves the service's state with this table.
impl Service for State {
    fn routes() -> &'static [RouteSpec<Self>] {
        ROUTES
    }

    fn edge(&self) -> &Edge {
        &self.edge
    }
}

/// A table entry's handler: the capability's `async fn(Request<Context>)`, given its own
/// part of the service's state (`State::$part`).
macro_rules! handler {
    ($part:ident, $f:path) => {
        |request: crate::gateway::Request<State>| {
            let part = request.state.$part.clone();
            Box::pin($f(request.with_state(part)))
        }
    };
}

/// A path of the CampaignEvents extension's REST API (`/rest.php/campaignevents/v0…`).
macro_rules! v0 {
    ($p:literal) => {
        concat!("/rest.php/campaignevents/v0", $p)
    };
}

/// Every route the service serves, in matching order (the post-edit read first: it is the hot
/// path). Each route is declared here once — method, path, access, parameters, body, responses
/// and handler — and the router, the access check and the OpenAPI document are all built from
/// this table, so they cannot drift.
pub static ROUTES: &[RouteSpec<State>] = &[
    RouteSpec {
        id: "participantEvents",
        method: Method::GET,
        path: "/rest.php/v1/campaignevents/participant-events",
        summary: "The caller's events: with ongoing=true those ongoing now, from the cache (the \
                  post-edit check); otherwise every active registration. Strong ETag; 304 on \
                  If-None-Match.",
        access: Access::User,
        query: &[
            optional(
                "ongoing",
                ParamKind::Bool,
                "true: only events ongoing now (from the cache)",
            ),
            optional(
                "wiki",
                ParamKind::Wiki,
                "keep only events that target this wiki (or all wikis)",
            ),
        ],
        body: None,
        responses: &[
            (
                200,
                "the events, sorted by id",
                Content::Json("ParticipantEvents"),
            ),
            (304, "not modified", Content::None),
            (400, "bad parameter", Content::Json("Error")),
            (401, "no or bad token", Content::Json("Error")),
        ],
        handler: handler!(cache, crate::cache::reads::participant_events),
    },
    RouteSpec {
        id: "eventsForEdit",
        method: Method::GET,
        path: v0!("/participant/self/events_for_edit"),
        summary: "The caller's ongoing events that track contributions on a wiki.",
        access: Access::User,
        query: &[QueryParam {
            name: "wiki",
            description: "the wiki the edit was made on",
            required: true,
            kind: ParamKind::Wiki,
        }],
        body: None,
        responses: &[
            (200, "[{id, name}]", Content::Json("EventsForEdit")),
            (304, "not modified", Content::None),
            (400, "bad or missing parameter", Content::Json("Error")),
            (401, "no or bad token", Content::Json("Error")),
        ],
        handler: handler!(cache, crate::cache::reads::events_for_edit),
    },
    RouteSpec {
        id: "healthz",
        method: Method::GET,
        path: "/healthz",
        summary: "The process is alive.",
        access: Access::Public,
        query: &[],
        body: None,
        responses: &[(200, "alive", Content::AnyJson)],
        handler: handler!(ops, crate::ops::http::healthz),
    },
    RouteSpec {
        id: "readyz",
        method: Method::GET,
        path: "/readyz",
        summary: "Ready once the cache is warm and Postgres and NATS answer; 503 says which is not.",
        access: Access::Public,
        query: &[],
        body: None,
        responses: &[
            (200, "ready", Content::Json("Readiness")),
            (503, "not ready", Content::Json("Error")),
        ],
        handler: handler!(ops, crate::ops::http::readyz),
    },
    RouteSpec {
        id: "metrics",
        method: Method::GET,
        path: "/metrics",
        summary: "Prometheus metrics (text format).",
        access: Access::Public,
        query: &[],
        body: None,
        responses: &[(
            200,
            "Prometheus text format 0.0.4",
            Content::Other("text/plain"),
        )],
        handler: handler!(ops, crate::ops::http::metrics),
    },
    RouteSpec {
        id: "openapi",
        method: Method::GET,
        path: "/openapi.json",
        summary: "This document.",
        access: Access::Public,
        query: &[],
        body: None,
        responses: &[(200, "OpenAPI 3 document", Content::AnyJson)],
        handler: handler!(ops, crate::ops::http::openapi),
    },
    RouteSpec {
        id: "dashboard",
        method: Method::GET,
        path: "/",
        summary: "The operator dashboard: one self-contained HTML page.",
        access: Access::Public,
        query: &[],
        body: None,
        responses: &[(200, "the page", Content::Other("text/html"))],
        handler: handler!(ops, crate::ops::dashboard::page),
    },
    RouteSpec {
        id: "dashboardData",
        method: Method::GET,
        path: "/dashboard.json",
        summary: "What the dashboard shows beyond /metrics: the diff workers' backlog, open dead \
                  letters (null when a dependency does not answer) and the events starting or \
                  ending in the next 24 hours.",
        access: Access::Public,
        query: &[],
        body: None,
        responses: &[(200, "dashboard data", Content::AnyJson)],
        handler: handler!(ops, crate::ops::dashboard::data),
    },
    RouteSpec {
        id: "postEditScript",
        method: Method::GET,
        path: "/postedit.js",
        summary: "The post-edit module a wiki loads with mw.loader.load: after a save, asks the \
                  user whether to associate the edit with one of their events. Strong ETag; 304 \
                  on If-None-Match.",
        access: Access::Public,
        query: &[],
        body: None,
        responses: &[
            (200, "the script", Content::Other("text/javascript")),
            (304, "not modified", Content::None),
        ],
        handler: handler!(association, crate::association::postedit::script),
    },
    RouteSpec {
        id: "createEvent",
        method: Method::POST,
        path: v0!("/event_registration"),
        summary: "Create an event (organizer or admin role). It may already be under way.",
        access: Access::Organizer,
        query: &[],
        body: json_body("EventInput"),
        responses: &[
            (201, "created", Content::Json("Created")),
            (400, "invalid input", Content::Json("Error")),
            (401, "no or bad token", Content::Json("Error")),
            (403, "not an organizer", Content::Json("Error")),
        ],
        handler: handler!(events, crate::events::http::create),
    },
    RouteSpec {
        id: "getEvent",
        method: Method::GET,
        path: v0!("/event_registration/{id}"),
        summary: "Read an event (public).",
        access: Access::Public,
        query: &[],
        body: None,
        responses: &[
            (200, "the event", Content::Json("Event")),
            (400, "bad id", Content::Json("Error")),
            (404, "no such event, or deleted", Content::Json("Error")),
        ],
        handler: handler!(events, crate::events::http::get),
    },
    RouteSpec {
        id: "updateEvent",
        method: Method::PUT,
        path: v0!("/event_registration/{id}"),
        summary: "Replace an event's details (an organizer of that event, or an admin).",
        access: Access::User,
        query: &[],
        body: json_body("EventInput"),
        responses: &[
            (204, "updated", Content::None),
            (400, "invalid input", Content::Json("Error")),
            (401, "no or bad token", Content::Json("Error")),
            (
                403,
                "not an organizer of this event",
                Content::Json("Error"),
            ),
            (404, "no such event, or deleted", Content::Json("Error")),
        ],
        handler: handler!(events, crate::events::http::update),
    },
    RouteSpec {
        id: "deleteEvent",
        method: Method::DELETE,
        path: v0!("/event_registration/{id}"),
        summary: "Soft-delete an event (an organizer of that event, or an admin).",
        access: Access::User,
        query: &[],
        body: None,
        responses: &[
            (204, "deleted", Content::None),
            (401, "no or bad token", Content::Json("Error")),
            (
                403,
                "not an organizer of this event",
                Content::Json("Error"),
            ),
            (
                404,
                "no such event, or already deleted",
                Content::Json("Error"),
            ),
        ],
        handler: handler!(events, crate::events::http::delete),
    },
    RouteSpec {
        id: "registerSelf",
        method: Method::PUT,
        path: v0!("/event_registration/{id}/participants/self"),
        summary: "Register the caller for an event (not ended, not deleted, open).",
        access: Access::User,
        query: &[],
        body: Some(BodySpec {
            schema: "RegisterInput",
            required: false,
        }),
        responses: &[
            (200, "{modified}", Content::Json("Modified")),
            (
                400,
                "ended, deleted, closed, or bad input",
                Content::Json("Error"),
            ),
            (401, "no or bad token", Content::Json("Error")),
            (404, "no such event", Content::Json("Error")),
        ],
        handler: handler!(registration, crate::registration::http::register),
    },
    RouteSpec {
        id: "getOwnRegistration",
        method: Method::GET,
        path: v0!("/event_registration/{id}/participants/self"),
        summary: "The caller's own registration for an event (privacy, registration time, \
                  whether the post-edit prompt is hidden).",
        access: Access::User,
        query: &[],
        body: None,
        responses: &[
            (200, "the registration", Content::Json("OwnRegistration")),
            (401, "no or bad token", Content::Json("Error")),
            (404, "no such event, or the caller is not registered", Content::Json("Error")),
        ],
        handler: handler!(registration, crate::registration::http::own),
    },
    RouteSpec {
        id: "unregisterSelf",
        method: Method::DELETE,
        path: v0!("/event_registration/{id}/participants/self"),
        summary: "Unregister the caller from an event; not registered → modified: false.",
        access: Access::User,
        query: &[],
        body: None,
        responses: &[
            (200, "{modified}", Content::Json("Modified")),
            (401, "no or bad token", Content::Json("Error")),
            (404, "no such event", Content::Json("Error")),
        ],
        handler: handler!(registration, crate::registration::http::unregister),
    },
    RouteSpec {
        id: "associateEdit",
        method: Method::POST,
        path: "/rest.php/v1/campaignevents/associate-edit-to-event",
        summary: "Associate one of the caller's edits with an ongoing event they take part in. \
                  202 once the job is durably queued.",
        access: Access::User,
        query: &[],
        body: json_body("AssociateInput"),
        responses: &[
            (202, "queued, already-queued or already-associated", Content::Json("Associated")),
            (400, "invalid body, event not active, not a target wiki, tracking off, already associated with another event", Content::Json("Error")),
            (401, "no or bad token", Content::Json("Error")),
            (403, "not a participant", Content::Json("Error")),
            (404, "no such event, or deleted", Content::Json("Error")),
            (503, "the queue did not acknowledge", Content::Json("Error")),
        ],
        handler: handler!(association, crate::association::accept::associate_v1),
    },
    RouteSpec {
        id: "associateEditV0",
        method: Method::PUT,
        path: v0!("/event_registration/{id}/edits/{wiki}/{revid}"),
        summary: "Associate an edit (the extension's form). 202 {modified}.",
        access: Access::User,
        query: &[],
        body: None,
        responses: &[
            (202, "{modified}", Content::Json("Modified")),
            (400, "see associateEdit", Content::Json("Error")),
            (401, "no or bad token", Content::Json("Error")),
            (403, "not a participant", Content::Json("Error")),
            (404, "no such event, or deleted", Content::Json("Error")),
            (503, "the queue did not acknowledge", Content::Json("Error")),
        ],
        handler: handler!(association, crate::association::accept::associate_v0),
    },
    RouteSpec {
        id: "contributions",
        method: Method::GET,
        path: v0!("/event_registration/{id}/contributions"),
        summary: "Stored contributions, newest first, with a stable continuation.",
        access: Access::Optional,
        query: &[
            optional("limit", ParamKind::Limit, "page size, default 50"),
            optional(
                "continue",
                ParamKind::Continue(crate::association::http::CONTINUE_PATTERN),
                "the `continue` value of the previous page",
            ),
            optional("user", ParamKind::UserName, "only this user name"),
            optional("wiki", ParamKind::Wiki, "only this wiki"),
        ],
        body: None,
        responses: &[
            (
                200,
                "{contributions, continue?}",
                Content::Json("Contributions"),
            ),
            (400, "bad parameter", Content::Json("Error")),
            (404, "no such event, or deleted", Content::Json("Error")),
        ],
        handler: handler!(association, crate::association::http::list),
    },
    RouteSpec {
        id: "removeContribution",
        method: Method::DELETE,
        path: v0!("/event_contributions/{id}"),
        summary: "Remove a stored contribution (its author or an organizer of its event); the \
                  edit may be associated again. 204.",
        access: Access::User,
        query: &[],
        body: None,
        responses: &[
            (204, "removed", Content::None),
            (401, "no or bad token", Content::Json("Error")),
            (403, "neither its author nor an organizer of its event", Content::Json("Error")),
            (404, "no such contribution", Content::Json("Error")),
        ],
        handler: handler!(association, crate::association::http::remove),
    },
    RouteSpec {
        id: "contributionsSummary",
        method: Method::GET,
        path: v0!("/event_registration/{id}/contributions/summary"),
        summary: "Totals: edits, participants, articles created, bytes/chars/links/refs added and removed. ETag.",
        access: Access::Public,
        query: &[],
        body: None,
        responses: &[
            (200, "the totals", Content::Json("Summary")),
            (304, "not modified", Content::None),
            (404, "no such event, or deleted", Content::Json("Error")),
        ],
        handler: handler!(association, crate::association::http::summary),
    },
    RouteSpec {
        id: "contributionsAtom",
        method: Method::GET,
        path: v0!("/event_registration/{id}/contributions.atom"),
        summary: "An Atom feed of the event's latest contributions.",
        access: Access::Optional,
        query: &[optional(
            "wiki",
            ParamKind::Wiki,
            "the wiki whose session cookies sign the reader in",
        )],
        body: None,
        responses: &[
            (200, "an Atom feed", Content::Other("application/atom+xml")),
            (404, "no such event", Content::Json("Error")),
        ],
        handler: handler!(association, crate::association::http::atom),
    },
    RouteSpec {
        id: "recheckContributions",
        method: Method::POST,
        path: v0!("/event_registration/{id}/contributions/recheck"),
        summary: "Re-check the event's stored contributions against their wiki now (an \
                  organizer): deleted pages and hidden revisions leave every total, restores \
                  come back, moves take the new title.",
        access: Access::User,
        query: &[],
        body: None,
        responses: &[
            (200, "what the re-check found", Content::Json("Recheck")),
            (401, "no or bad token", Content::Json("Error")),
            (403, "not an organizer of the event", Content::Json("Error")),
            (404, "no such event, or deleted", Content::Json("Error")),
        ],
        handler: handler!(association, crate::association::http::recheck),
    },
    RouteSpec {
        id: "contributionsCsv",
        method: Method::GET,
        path: v0!("/event_registration/{id}/contributions.csv"),
        summary: "Every stored contribution as CSV (RFC 4180, header row, UTF-8 with BOM), oldest \
                  first, streamed; timestamps in UTC and in the event's time zone.",
        access: Access::Optional,
        query: &[optional(
            "wiki",
            ParamKind::Wiki,
            "the wiki whose session cookies sign the reader in",
        )],
        body: None,
        responses: &[
            (200, "the CSV", Content::Other("text/csv")),
            (404, "no such event, or deleted", Content::Json("Error")),
        ],
        handler: handler!(reports, crate::reports::http::export_csv),
    },
    RouteSpec {
        id: "participantTotals",
        method: Method::GET,
        path: v0!("/event_registration/{id}/contributions/participants"),
        summary: "Totals per participant, most edits first.",
        access: Access::Optional,
        query: &[
            optional(
            "wiki",
            ParamKind::Wiki,
            "the wiki whose session cookies sign the reader in",
        ),
            optional("limit", ParamKind::Limit, "page size, default 100"),
            optional(
                "continue",
                ParamKind::Continue(crate::reports::http::CONTINUE_PATTERN),
                "the `continue` value of the previous page",
            ),
        ],
        body: None,
        responses: &[
            (200, "{participants, continue?}", Content::Json("ParticipantTotals")),
            (400, "bad parameter", Content::Json("Error")),
            (404, "no such event, or deleted", Content::Json("Error")),
        ],
        handler: handler!(reports, crate::reports::http::participants),
    },
    RouteSpec {
        id: "pageTotals",
        method: Method::GET,
        path: v0!("/event_registration/{id}/contributions/pages"),
        summary: "Totals per page (wiki and page id, latest title), most edits first.",
        access: Access::Public,
        query: &[
            optional("limit", ParamKind::Limit, "page size, default 100"),
            optional(
                "continue",
                ParamKind::Continue(crate::reports::http::CONTINUE_PATTERN),
                "the `continue` value of the previous page",
            ),
        ],
        body: None,
        responses: &[
            (200, "{pages, continue?}", Content::Json("PageTotals")),
            (400, "bad parameter", Content::Json("Error")),
            (404, "no such event, or deleted", Content::Json("Error")),
        ],
        handler: handler!(reports, crate::reports::http::pages),
    },
    RouteSpec {
        id: "reportPage",
        method: Method::GET,
        path: "/event/{id}",
        summary: "The organizers' report page of an event (HTML).",
        access: Access::Optional,
        query: &[optional(
            "wiki",
            ParamKind::Wiki,
            "the wiki whose session cookies sign the reader in",
        )],
        body: None,
        responses: &[
            (200, "the page", Content::Other("text/html")),
            (404, "no such event, or deleted", Content::Json("Error")),
        ],
        handler: handler!(reports, crate::reports::page::page),
    },
    RouteSpec {
        id: "deadLetters",
        method: Method::GET,
        path: v0!("/dead_letters"),
        summary: "Associations that could not be measured, with the reason (admin).",
        access: Access::Admin,
        query: &[optional("limit", ParamKind::Limit, "page size, default 50")],
        body: None,
        responses: &[
            (200, "{dead_letters}", Content::AnyJson),
            (401, "no or bad token", Content::Json("Error")),
            (403, "not an admin", Content::Json("Error")),
        ],
        handler: handler!(association, crate::association::http::dead_letters),
    },
    RouteSpec {
        id: "retryDeadLetter",
        method: Method::POST,
        path: v0!("/dead_letters/{id}/retry"),
        summary: "Queue a dead letter's job again (admin).",
        access: Access::Admin,
        query: &[],
        body: None,
        responses: &[
            (202, "queued", Content::Json("Associated")),
            (401, "no or bad token", Content::Json("Error")),
            (403, "not an admin", Content::Json("Error")),
            (404, "no such dead letter", Content::Json("Error")),
            (503, "the queue did not acknowledge", Content::Json("Error")),
        ],
        handler: handler!(association, crate::association::http::retry_dead_letter),
    },
    RouteSpec {
        id: "cachePurge",
        method: Method::POST,
        path: v0!("/cache/purge"),
        summary: "Drop and rebuild cache entries from the database (admin): {\"user_id\": N} or {\"event_id\": N}.",
        access: Access::Admin,
        query: &[],
        body: json_body("PurgeInput"),
        responses: &[
            (200, "what changed", Content::AnyJson),
            (400, "invalid body", Content::Json("Error")),
            (401, "no or bad token", Content::Json("Error")),
            (403, "not an admin", Content::Json("Error")),
        ],
        handler: handler!(cache, crate::cache::purge::purge),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn route(id: &str) -> &'static RouteSpec<State> {
        ROUTES.iter().find(|r| r.id == id).unwrap()
    }

    #[test]
    fn patterns_match_whole_paths_only() {
        let event_get = route("getEvent");
        let p = event_get
            .match_path("/rest.php/campaignevents/v0/event_registration/12")
            .unwrap();
        assert_eq!(p.get(0), "12");
        assert!(event_get
            .match_path("/rest.php/campaignevents/v0/event_registration/")
            .is_none());
        assert!(event_get
            .match_path("/rest.php/campaignevents/v0/event_registration/1/x")
            .is_none());
        assert!(route("createEvent")
            .match_path("/rest.php/campaignevents/v0/event_registration")
            .is_some());
        assert!(route("healthz").match_path("/healthz/").is_none());
    }

    #[test]
    fn route_ids_and_method_paths_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(seen.insert(r.id), "duplicate id {}", r.id);
            assert!(seen.insert(Box::leak(
                format!("{} {}", r.method, r.path).into_boxed_str()
            )));
        }
    }
}
