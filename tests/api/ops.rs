//! Liveness, readiness, the OpenAPI document and warp's own errors in MediaWiki's shape.

use campaign_events::http::routes::ROUTES;
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
