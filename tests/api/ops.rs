//! Liveness, readiness, the OpenAPI document and warp's own errors in MediaWiki's shape.

use campaign_events::gateway::routes::Access;
use campaign_events::startup::routes::ROUTES;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn healthz_and_readyz_answer_on_a_fresh_app() {
    let app = spawn_app().await;
    let (s, body) = app.get_json(&app.url("/healthz")).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("ok")));
    let (s, body) = app.get_json(&app.url("/readyz")).await;
    assert_eq!(s, 200, "{body}");
    for dep in ["postgres", "nats", "cache"] {
        assert_eq!(body["checks"][dep], "ok", "{body}");
    }
}

#[tokio::test]
async fn readyz_names_postgres_when_the_pool_cannot_reach_it() {
    // Point the pool at a port where nothing listens, after a successful start: the probe must
    // say which dependency is down rather than hang or answer 200.
    let app = spawn_app().await;
    admin()
        .await
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" WITH ALLOW_CONNECTIONS false",
            app.db_name
        ))
        .await
        .unwrap();
    app.db_kill_connections().await;
    let (s, body) = app.get_json(&app.url("/readyz")).await;
    assert_eq!(s, 503, "{body}");
    assert_eq!(assert_error_shape(s, &body), "campaignevents-not-ready");
    assert_ne!(body["checks"]["postgres"], "ok", "{body}");
    assert_eq!(body["checks"]["nats"], "ok", "{body}");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_echoes_a_given_one() {
    let app = spawn_app().await;
    let resp = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert!(resp.headers().contains_key("x-request-id"));
    let resp = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn openapi_documents_exactly_the_routes_served() {
    let app = spawn_app().await;
    let (s, doc) = app.get_json(&app.url("/openapi.json")).await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().unwrap();
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, ROUTES.len());
    for route in ROUTES {
        let op = &doc["paths"][route.path][route.method.as_str().to_ascii_lowercase()];
        assert_eq!(
            op["operationId"], route.id,
            "{} {}",
            route.method, route.path
        );
        // The route is really served: whatever it answers, it is not "no such route".
        let url = app.url(&route.path.replace("{id}", "1"));
        let resp = app
            .http
            .request(route.method.clone(), &url)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_ne!(
            body["errorKey"], "rest-no-match",
            "{} {}",
            route.method, route.path
        );
        assert!(
            status < 500,
            "{} {} → {status} {body}",
            route.method,
            route.path
        );
    }
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_use_the_error_shape() {
    let app = spawn_app().await;
    let (s, body) = app
        .get_json(&app.url("/rest.php/campaignevents/v0/nope"))
        .await;
    assert_eq!(
        (s, assert_error_shape(s, &body).as_str()),
        (404, "rest-no-match")
    );
    let resp = app.http.patch(app.url("/healthz")).send().await.unwrap();
    let s = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (s, assert_error_shape(s, &body).as_str()),
        (405, "rest-wrong-method")
    );
}

/// The responses the document lists for `method` on `path` (a documented pattern).
fn documented<'a>(doc: &'a Value, path: &str, method: &reqwest::Method) -> &'a Value {
    &doc["paths"][path][method.as_str().to_ascii_lowercase()]["responses"]
}

/// A concrete URL path for a documented pattern: every parameter filled with a valid value.
fn concrete(pattern: &str, id: &str) -> String {
    pattern
        .replace("{id}", id)
        .replace("{wiki}", "ptwiki")
        .replace("{revid}", "1")
}

#[tokio::test]
async fn every_documented_path_answers_other_methods_with_405_and_allow() {
    let app = spawn_app().await;
    let (_, doc) = app.get_json(&app.url("/openapi.json")).await;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let mut served: Vec<String> = ops.as_object().unwrap().keys().cloned().collect();
        if served.iter().any(|m| m == "get") {
            served.push("head".into());
        }
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "TRACE"] {
            if served.iter().any(|m| m.eq_ignore_ascii_case(method)) {
                continue;
            }
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let resp = app
                .http
                .request(method.clone(), app.url(&concrete(path, "1")))
                .bearer_auth(organizer_token(7))
                .send()
                .await
                .unwrap();
            let s = resp.status().as_u16();
            let allow = resp
                .headers()
                .get("allow")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: Value = resp.json().await.unwrap();
            assert_eq!(
                (s, assert_error_shape(s, &body).as_str()),
                (405, "rest-wrong-method"),
                "{method} {path}"
            );
            let allow = allow.unwrap_or_else(|| panic!("{method} {path}: no Allow header"));
            let mut allowed: Vec<String> =
                allow.split(", ").map(|m| m.to_ascii_lowercase()).collect();
            allowed.sort();
            served.sort();
            assert_eq!(allowed, served, "{method} {path}: Allow: {allow}");
        }
        for (method, op) in ops.as_object().unwrap() {
            assert!(
                op["responses"]["405"]["headers"]["Allow"].is_object(),
                "{method} {path} documents 405 with Allow"
            );
        }
    }
}

#[tokio::test]
async fn ids_outside_their_documented_bounds_are_400_as_documented() {
    let app = spawn_app().await;
    let (_, doc) = app.get_json(&app.url("/openapi.json")).await;
    let mut checked = 0;
    for route in ROUTES.iter().filter(|r| r.path.contains("{id}")) {
        let op = &doc["paths"][route.path][route.method.as_str().to_ascii_lowercase()];
        let id = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "id")
            .unwrap();
        assert_eq!(id["required"], true, "{}", route.id);
        let (min, max) = (
            id["schema"]["minimum"].as_i64().unwrap(),
            id["schema"]["maximum"].as_i64().unwrap(),
        );
        assert_eq!((min, max), (1, i64::MAX), "{}", route.id);
        assert!(documented(&doc, route.path, &route.method)["400"].is_object());
        let beyond = (max as u64 + 1).to_string();
        for bad in ["0", beyond.as_str(), "-1", "1.5", "x"] {
            let resp = app
                .http
                .request(route.method.clone(), app.url(&concrete(route.path, bad)))
                .bearer_auth(token(42, "Alice", &["organizer", "admin"]))
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let s = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap();
            assert_eq!(s, 400, "{} {bad}: {body}", route.id);
            assert_eq!(assert_error_shape(s, &body), "paramvalidator-badinteger");
            assert_eq!(body["name"], "id", "{}", route.id);
        }
        // The largest documented id is taken: whatever the route answers (no such event, or
        // a body it does not take), it is not about the id.
        let resp = app
            .http
            .request(
                route.method.clone(),
                app.url(&concrete(route.path, &max.to_string())),
            )
            .bearer_auth(token(42, "Alice", &["organizer", "admin"]))
            .json(&event_body())
            .send()
            .await
            .unwrap();
        let s = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(
            s < 500 && body["name"] != "id",
            "{} {max} → {s} {body}",
            route.id
        );
        checked += 1;
    }
    assert!(checked >= 10, "{checked}");
}

#[tokio::test]
async fn the_plumbing_statuses_are_documented_for_every_route_that_answers_them() {
    let app = spawn_app().await;
    let (_, doc) = app.get_json(&app.url("/openapi.json")).await;
    for route in ROUTES {
        let responses = documented(&doc, route.path, &route.method);
        let url = app.url(&concrete(route.path, "1"));
        let mut seen = Vec::new();
        if route.access == Access::User {
            let resp = app
                .http
                .request(route.method.clone(), &url)
                .send()
                .await
                .unwrap();
            seen.push(resp.status().as_u16());
        }
        if route.body.is_some() {
            let auth = token(42, "Alice", &["organizer", "admin"]);
            let big = app
                .http
                .request(route.method.clone(), &url)
                .bearer_auth(&auth)
                .json(&"x".repeat(70 * 1024))
                .send()
                .await
                .unwrap();
            seen.push(big.status().as_u16());
            let plain = app
                .http
                .request(route.method.clone(), &url)
                .bearer_auth(&auth)
                .header("content-type", "text/plain")
                .body("{}")
                .send()
                .await
                .unwrap();
            seen.push(plain.status().as_u16());
        }
        for status in seen {
            assert!(
                responses[status.to_string()].is_object(),
                "{} answered {status}, which its entry does not list",
                route.id
            );
        }
    }
}

#[tokio::test]
async fn a_nul_in_a_query_parameter_is_400_not_500() {
    let app = spawn_app().await;
    let event = app.create_event(7, &event_body()).await;
    for query in [
        "user=%00",
        "user=a%00b",
        "wiki=%00",
        "continue=%00",
        "limit=%00",
    ] {
        let (s, body) = app
            .get_json(&app.v0(&format!(
                "/event_registration/{event}/contributions?{query}"
            )))
            .await;
        assert_eq!(s, 400, "{query}: {body}");
        assert_error_shape(s, &body);
    }
}
