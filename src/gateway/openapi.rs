//! The OpenAPI 3 document, generated from a route table (the service's is
//! `startup::routes::ROUTES`), plus the schemas of the bodies those routes take and give.

use campaign_events_actors::domain::EventTimezone;
use serde_json::{json, Map, Value};

use super::routes::{Access, Content, ParamKind, RouteSpec};

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The largest id the server takes: ids are Postgres `bigint` (`EventId::new`).
const MAX_ID: i64 = i64::MAX;

/// A path parameter's schema: what `Request::event_id` and its kin accept.
fn path_param_schema(name: &str) -> Value {
    if name == "wiki" {
        wiki_schema()
    } else {
        json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID})
    }
}

/// `WikiId::parse`: a-z, 0-9, `_` and `-`, 1 to 64 characters.
fn wiki_schema() -> Value {
    json!({"type": "string", "pattern": "^[a-z0-9_-]{1,64}$"})
}

fn query_param_schema(kind: ParamKind) -> Value {
    match kind {
        // The forms `Query::flag` takes; anything else is a 400.
        ParamKind::Bool => json!({"type": "string",
            "enum": ["true", "false", "1", "0", "yes", "no", ""]}),
        ParamKind::Limit => {
            json!({"type": "integer", "minimum": 1, "maximum": super::MAX_PAGE_SIZE})
        }
        ParamKind::Wiki => wiki_schema(),
        // Postgres text cannot hold NUL; the handler refuses it with a 400.
        // No control characters (Unicode's Cc: U+0000–U+001F, U+007F–U+009F), as
        // `char::is_control` refuses them.
        ParamKind::UserName => {
            json!({"type": "string", "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"})
        }
        ParamKind::Continue(pattern) => json!({"type": "string", "pattern": pattern}),
    }
}

/// From a created event to every operation on it, so that a client (and schemathesis's
/// stateful phase) can follow the new id.
fn event_links<S>(routes: &[RouteSpec<S>]) -> Value {
    let prefix = "/rest.php/campaignevents/v0/event_registration/{id}";
    let links: Map<String, Value> = routes
        .iter()
        .filter(|r| r.path.starts_with(prefix))
        .map(|r| {
            (
                r.id.to_owned(),
                json!({"operationId": r.id, "parameters": {"id": "$response.body#/id"}}),
            )
        })
        .collect();
    Value::Object(links)
}

/// The statuses every route of a kind can answer, whether or not its table entry lists them:
/// the plumbing (path and query validation, the bearer check, the body filter, method
/// matching, the database) answers them before or around the handler's own logic.
fn implied_responses<S>(route: &RouteSpec<S>) -> Vec<(u16, &'static str)> {
    let mut implied = Vec::new();
    // A token whose name claim is no user name is a 400 wherever a token is read.
    if route.path.contains('{')
        || !route.query.is_empty()
        || route.body.is_some()
        || route.access.reads_token()
    {
        implied.push((400, "a bad parameter, body or token name"));
    }
    if route.access.reads_token() {
        implied.push((401, "no or bad token"));
    }
    // The router refuses a caller without the route's role, and a request signed in with a
    // wiki's cookies that comes from another origin or (a write) lacks the wiki's CSRF token.
    if route.access.reads_token() {
        implied.push((
            403,
            "the caller lacks the route's role, or a cookie request's origin or CSRF token is wrong",
        ));
    }
    if route.body.is_some() {
        implied.push((413, "the body is larger than MAX_BODY_BYTES"));
        implied.push((415, "the body is not application/json"));
    }
    // Every REST route reads or writes Postgres; when it is unavailable they answer 503.
    if route.path.starts_with("/rest.php/") {
        implied.push((503, "the database or the queue is unavailable"));
    }
    implied
}

/// Builds the whole document. Cheap enough to build once at start and serve from memory.
pub fn document<S>(routes: &[RouteSpec<S>]) -> Value {
    let mut paths = Map::new();
    for route in routes {
        let mut op = Map::new();
        op.insert("operationId".into(), json!(route.id));
        op.insert("summary".into(), json!(route.summary));
        let mut params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                json!({"name": name, "in": "path", "required": true,
                       "schema": path_param_schema(name)})
            })
            .collect();
        params.extend(route.query.iter().map(|q| {
            json!({"name": q.name, "in": "query", "required": q.required,
                   "description": q.description, "schema": query_param_schema(q.kind)})
        }));
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        match route.access {
            Access::User | Access::Organizer | Access::Admin => {
                op.insert("security".into(), json!([{"bearer": []}]));
            }
            // Anonymous or with a token: the empty requirement allows either.
            Access::Optional => {
                op.insert("security".into(), json!([{}, {"bearer": []}]));
            }
            Access::Public => {}
        }
        if let Some(body) = route.body {
            op.insert(
                "requestBody".into(),
                json!({"required": body.required, "content": {"application/json": {
                    "schema": {"$ref": format!("#/components/schemas/{}", body.schema)}}}}),
            );
        }
        let mut responses = Map::new();
        for (status, description, content) in route.responses {
            let mut r = json!({"description": description});
            match content {
                Content::None => {}
                Content::Json(schema) => {
                    r["content"] = json!({"application/json": {
                        "schema": {"$ref": format!("#/components/schemas/{schema}")}}});
                }
                Content::AnyJson => {
                    r["content"] = json!({"application/json": {"schema": {"type": "object"}}});
                }
                Content::Other(media_type) => {
                    r["content"] = json!({*media_type: {"schema": {"type": "string"}}});
                }
            }
            if *status == 201 {
                r["headers"] = json!({"Location": {"description": "the new event's URL",
                    "schema": {"type": "string"}}});
                r["links"] = event_links(routes);
            }
            responses.insert(status.to_string(), r);
        }
        for (status, description) in implied_responses(route) {
            responses
                .entry(status.to_string())
                .or_insert_with(|| error_response(description));
        }
        let mut wrong_method = error_response("the method is not served on this path");
        wrong_method["headers"] = json!({"Allow": {"required": true,
            "description": "the methods this path serves", "schema": {"type": "string"}}});
        responses.insert("405".into(), wrong_method);
        op.insert("responses".into(), Value::Object(responses));
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[route.method.as_str().to_ascii_lowercase()] = Value::Object(op);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "campaign-events",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Ongoing-events cache and edit association service for MediaWiki's \
                            CampaignEvents extension. Errors use MediaWiki's REST error shape."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": schemas(),
        }
    })
}

/// An id in a body: a positive `bigint`.
fn id() -> Value {
    json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID})
}

fn id_or_null() -> Value {
    let mut schema = id();
    schema["nullable"] = json!(true);
    schema
}

fn schemas() -> Value {
    json!({
        "Error": {
            "type": "object",
            "required": ["errorKey", "messageTranslations", "httpCode", "httpReason"],
            "properties": {
                "errorKey": {"type": "string"},
                "messageTranslations": {"type": "object", "properties": {"en": {"type": "string"}}},
                "httpCode": {"type": "integer"},
                "httpReason": {"type": "string"},
                "name": {"type": "string", "description": "the parameter or field at fault"}
            }
        },
        "Readiness": {
            "type": "object",
            "properties": {
                "status": {"type": "string"},
                "checks": {"type": "object", "additionalProperties": {"type": "string"}}
            }
        },
        "ParticipantEvents": {
            "type": "object", "required": ["events"],
            "properties": {"events": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "integer"}, "name": {"type": "string"},
                "start": {"type": "string", "format": "date-time"},
                "end": {"type": "string", "format": "date-time"},
                "timezone": {"type": "string"},
                "wikis": {"type": "array", "items": {"type": "string"}}}}}}
        },
        "EventsForEdit": {
            "type": "array",
            "items": {"type": "object", "required": ["id", "name", "autoAssociable"], "properties": {
                "id": {"type": "integer"}, "name": {"type": "string"},
                "autoAssociable": {"type": "boolean", "description": "always false: the user is asked"}}}
        },
        "RegisterInput": {
            "type": "object", "additionalProperties": false,
            "properties": {
                "is_private": {"type": "boolean", "description": "absent: unchanged (a new registration: false)"},
                "hide_contribution_association_prompt": {"type": "boolean", "description": "do not ask after my edits whether they were for this event; absent: unchanged (a new registration: false)"}
            }
        },
        "OwnRegistration": {
            "type": "object",
            "required": ["is_private", "registered_at", "hide_contribution_association_prompt"],
            "properties": {
                "is_private": {"type": "boolean"},
                "registered_at": {"type": "string", "format": "date-time"},
                "hide_contribution_association_prompt": {"type": "boolean"}
            }
        },
        "Modified": {
            "type": "object", "required": ["modified"],
            "properties": {"modified": {"type": "boolean"}}
        },
        "PurgeInput": {
            "type": "object", "additionalProperties": false,
            "properties": {"user_id": id_or_null(), "event_id": id_or_null()},
            "description": "exactly one of user_id and event_id (a null one counts as absent)",
            "oneOf": [
                {"required": ["user_id"], "properties": {"user_id": {"type": "integer"}}},
                {"required": ["event_id"], "properties": {"event_id": {"type": "integer"}}}
            ]
        },
        "AssociateInput": {
            "type": "object",
            "required": ["revisionId", "wikiId"],
            "properties": {
                "revisionId": id(),
                "wikiId": wiki_schema(),
                "event_id": id(),
                "eventId": {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID,
                            "description": "the extension's spelling of event_id"},
                "timestamp": {"type": "string", "nullable": true,
                              "description": "the client's, echoed into the job"}
            },
            "description": "exactly one of event_id and eventId",
            "oneOf": [{"required": ["event_id"]}, {"required": ["eventId"]}]
        },
        "Associated": {
            "type": "object", "required": ["status", "jobId"],
            "properties": {
                "status": {"type": "string", "enum": ["queued", "already-queued", "already-associated"]},
                "jobId": {"type": "string", "description": "{wiki_id}:{revision_id}"}
            }
        },
        "Contributions": {
            "type": "object",
            "properties": {
                "contributions": {"type": "array", "items": {"type": "object",
                    "description": "a stored contribution; `id` is what DELETE /event_contributions/{id} takes"}},
                "continue": {"type": "string"}
            }
        },
        "Summary": {
            "type": "object",
            "properties": {
                "event_id": {"type": "integer"}, "edits": {"type": "integer"},
                "participants": {"type": "integer"}, "articles_created": {"type": "integer"},
                "articles_edited": {"type": "integer", "description": "distinct pages"},
                "wikis": {"type": "integer", "description": "distinct wikis"},
                "bytes_added": {"type": "integer"}, "bytes_removed": {"type": "integer"},
                "chars_added": {"type": "integer"}, "chars_removed": {"type": "integer"},
                "links_added": {"type": "integer"}, "links_removed": {"type": "integer"},
                "refs_added": {"type": "integer"}, "refs_removed": {"type": "integer"}
            }
        },
        "Recheck": {
            "type": "object",
            "required": ["checked", "unchanged", "deleted", "restored", "moved", "failed"],
            "properties": {
                "checked": {"type": "integer"}, "unchanged": {"type": "integer"},
                "deleted": {"type": "integer"}, "restored": {"type": "integer"},
                "moved": {"type": "integer"}, "failed": {"type": "integer"},
                "rechecked_at": {"type": "string", "nullable": true, "format": "date-time",
                    "description": "when the event's least recently checked row was checked; null while some row never was"}
            }
        },
        "ParticipantTotals": {
            "type": "object", "required": ["participants"],
            "properties": {
                "participants": {"type": "array", "items": {"type": "object",
                    "description": "user_id (null for a private participant the reader may not see), user_name, edits, articles_created, bytes/chars/links/refs added and removed"}},
                "continue": {"type": "string"}
            }
        },
        "PageTotals": {
            "type": "object", "required": ["pages"],
            "properties": {
                "pages": {"type": "array", "items": {"type": "object",
                    "description": "wiki_id, page_id, page_title, namespace, edits, contributors, created_in_event, bytes/links/refs added and removed"}},
                "continue": {"type": "string"}
            }
        },
        "Created": {
            "type": "object", "required": ["id"],
            "properties": {"id": {"type": "integer"}}
        },
        "EventInput": {
            "type": "object",
            "additionalProperties": false,
            "required": ["event_name", "start_time", "end_time", "timezone", "wikis"],
            "properties": {
                "event_name": {"type": "string", "minLength": 1, "maxLength": 255},
                "start_time": {"type": "string", "format": "date-time"},
                "end_time": {"type": "string", "format": "date-time",
                             "description": "after start_time"},
                "timezone": {"type": "string", "description": "IANA name, e.g. Europe/Lisbon",
                             "enum": EventTimezone::names().collect::<Vec<_>>()},
                "wikis": {"type": "array", "minItems": 1, "maxItems": 100,
                          "items": {"type": "string", "pattern": "^([a-z0-9_-]{1,64}|\\*all\\*)$"},
                          "description": "wiki ids, or [\"*all*\"] for every wiki"},
                "track_contributions": {"type": "boolean", "default": false},
                "status": {"type": "string", "enum": ["open", "closed"], "default": "open"}
            }
        },
        "Event": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "start_time": {"type": "string", "format": "date-time"},
                "end_time": {"type": "string", "format": "date-time"},
                "timezone": {"type": "string"},
                "wikis": {"type": "array", "items": {"type": "string"}},
                "track_contributions": {"type": "boolean"},
                "status": {"type": "string", "enum": ["open", "closed"]},
                "organizers": {"type": "array", "items": {"type": "object", "properties": {
                    "user_id": {"type": "integer"}, "user_name": {"type": "string"}}}},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"}
            }
        }
    })
}
