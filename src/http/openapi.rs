//! The OpenAPI 3 document, generated from the route table (`routes::ROUTES`), plus the schemas
//! of the bodies those routes take and give.

use serde_json::{json, Map, Value};

use super::routes::{Access, ROUTES};

/// Builds the whole document. Cheap enough to build once at start and serve from memory.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let mut op = Map::new();
        op.insert("operationId".into(), json!(route.id));
        op.insert("summary".into(), json!(route.summary));
        let mut params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                let schema = if name == "wiki" {
                    json!({"type": "string", "pattern": "^[a-z0-9_-]{1,64}$"})
                } else {
                    json!({"type": "integer", "minimum": 1})
                };
                json!({"name": name, "in": "path", "required": true, "schema": schema})
            })
            .collect();
        params.extend(route.query.iter().map(|(name, description)| {
            json!({"name": name, "in": "query", "required": false,
                   "description": description, "schema": {"type": "string"}})
        }));
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if route.access == Access::User {
            op.insert("security".into(), json!([{"bearer": []}]));
        }
        if let Some(body) = route.body {
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {
                    "schema": {"$ref": format!("#/components/schemas/{body}")}}}}),
            );
        }
        let mut responses = Map::new();
        for (status, description, schema) in route.responses {
            let mut r = json!({"description": description});
            if let Some(schema) = schema {
                r["content"] = json!({"application/json": {
                    "schema": {"$ref": format!("#/components/schemas/{schema}")}}});
            }
            responses.insert(status.to_string(), r);
        }
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
            "items": {"type": "object", "properties": {
                "id": {"type": "integer"}, "name": {"type": "string"}}}
        },
        "RegisterInput": {
            "type": "object", "additionalProperties": false,
            "properties": {"is_private": {"type": "boolean", "default": false}}
        },
        "Modified": {
            "type": "object", "required": ["modified"],
            "properties": {"modified": {"type": "boolean"}}
        },
        "PurgeInput": {
            "type": "object", "additionalProperties": false,
            "properties": {"user_id": {"type": "integer", "minimum": 1},
                           "event_id": {"type": "integer", "minimum": 1}},
            "description": "exactly one of user_id and event_id"
        },
        "AssociateInput": {
            "type": "object",
            "required": ["revisionId", "wikiId", "event_id"],
            "properties": {
                "revisionId": {"type": "integer", "minimum": 1},
                "wikiId": {"type": "string"},
                "event_id": {"type": "integer", "minimum": 1, "description": "`eventId` is accepted too"},
                "timestamp": {"type": "string"}
            }
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
                "contributions": {"type": "array", "items": {"type": "object"}},
                "continue": {"type": "string"}
            }
        },
        "Summary": {
            "type": "object",
            "properties": {
                "event_id": {"type": "integer"}, "edits": {"type": "integer"},
                "participants": {"type": "integer"}, "articles_created": {"type": "integer"},
                "bytes_added": {"type": "integer"}, "bytes_removed": {"type": "integer"},
                "chars_added": {"type": "integer"}, "chars_removed": {"type": "integer"},
                "links_added": {"type": "integer"}, "links_removed": {"type": "integer"},
                "refs_added": {"type": "integer"}, "refs_removed": {"type": "integer"}
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
                "timezone": {"type": "string", "description": "IANA name, e.g. Europe/Lisbon"},
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
