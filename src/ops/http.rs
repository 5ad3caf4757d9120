//! Operations routes: liveness, readiness and the OpenAPI document.

use std::time::Duration;

use serde_json::json;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Reply;

use crate::gateway::{ApiError, Request};
use crate::ops::Context;

/// How long readiness waits for Postgres: a probe must answer quickly even when it is down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

pub async fn healthz(_: Request<Context>) -> Result<Response, ApiError> {
    Ok(warp::reply::json(&json!({"status": "ok"})).into_response())
}

/// 200 when the cache is warm and Postgres and NATS answer; otherwise 503 naming each
/// dependency that is not, so an operator reading the probe knows where to look.
pub async fn readyz(req: Request<Context>) -> Result<Response, ApiError> {
    let state = req.state;
    let postgres = match tokio::time::timeout(PROBE_TIMEOUT, ping_postgres(&state)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("no answer within 1 s".to_owned()),
    };
    let nats = match state.nats.connection_state() {
        async_nats::connection::State::Connected => Ok(()),
        other => Err(format!("connection {other}")),
    };
    let cache = if state.readiness.is_warm() {
        Ok(())
    } else {
        Err("warming up".to_owned())
    };
    let checks: Vec<(&str, Result<(), String>)> =
        vec![("postgres", postgres), ("nats", nats), ("cache", cache)];
    let map: serde_json::Map<String, serde_json::Value> = checks
        .iter()
        .map(|(name, r)| {
            let v = match r {
                Ok(()) => "ok".to_owned(),
                Err(e) => e.clone(),
            };
            (name.to_string(), json!(v))
        })
        .collect();
    let failing: Vec<String> = checks
        .iter()
        .filter_map(|(name, r)| r.as_ref().err().map(|e| format!("{name}: {e}")))
        .collect();
    if failing.is_empty() {
        return Ok(warp::reply::json(&json!({"status": "ready", "checks": map})).into_response());
    }
    Ok(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "campaignevents-not-ready",
        format!("Not ready: {}.", failing.join("; ")),
    )
    .with_checks(serde_json::Value::Object(map))
    .into_response())
}

async fn ping_postgres(state: &Context) -> Result<(), String> {
    let client = state.pool.get().await.map_err(|e| e.to_string())?;
    client
        .simple_query("SELECT 1")
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

pub async fn metrics(req: Request<Context>) -> Result<Response, ApiError> {
    let state = req.state;
    let mut body = state.metrics.render(Some(&state.cache));
    // What an operator alerts on when the diff workers fall behind or give up; a figure whose
    // dependency did not answer is left out (alert on its absence).
    let backlog = state.backlog.get(&state).await;
    crate::infra::metrics::backlog(
        &mut body,
        backlog.pending,
        backlog.in_flight,
        backlog.dead_letters,
    );
    let mut resp = Response::new(body.into());
    resp.headers_mut().insert(
        "content-type",
        warp::http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(resp)
}

pub async fn openapi(req: Request<Context>) -> Result<Response, ApiError> {
    let state = req.state;
    Ok(warp::reply::json(&state.openapi).into_response())
}
