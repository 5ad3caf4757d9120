//! Invariant 1 while the cache is cold: from the first instant the port accepts, every
//! cache-backed route answers as a warm cache would (from the database), or `503
//! campaignevents-not-ready` with `Retry-After` — never a `4xx` that a warm cache would not
//! give, since a frontend takes a `400` as final and the user's association would be lost.

use serde_json::{json, Value};

use crate::associate::{alice, assoc, outcome, post_associate, tracking_event, ALICE};
use crate::cache::{ongoing_ids, register};
use crate::helpers::*;
use crate::support::mock_wiki::MockWiki;

#[tokio::test]
async fn a_cold_cache_answers_every_route_as_a_warm_one_would() {
    let wiki = MockWiki::start().await;
    let app = spawn_app_with_wiki(&wiki).await;
    let event = app.create_event(1, &tracking_event(&["ptwiki"])).await;
    let (s, body) = register(&app, event, ALICE).await;
    assert_eq!(s, 200, "{body}");
    let settings = app.stop_keeping_data().await;

    // The restarted instance's warm-up is held: its cache knows nothing yet.
    let (app, hold) = start_cold(settings).await;
    let (s, body) = app.get_json(&app.url("/readyz")).await;
    assert_eq!(s, 503, "{body}");

    assert_eq!(ongoing_ids(&app, ALICE).await, vec![event]);
    let resp = app
        .http
        .get(app.v0("/participant/self/events_for_edit?wiki=ptwiki"))
        .bearer_auth(alice())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let items: Value = resp.json().await.unwrap();
    assert_eq!(items[0]["id"], json!(event), "{items}");

    let rev = wiki.rev("Ligações", 1);
    let (s, body) = post_associate(&app, &alice(), &assoc(event, "ptwiki", rev)).await;
    assert_eq!(s, 202, "an association while warming up: {body}");
    assert_eq!(body["status"], "queued", "{body}");
    // What a warm cache refuses, a cold one refuses the same way.
    let (s, body) = post_associate(
        &app,
        &token(77, "Bob", &[]),
        &assoc(event, "ptwiki", rev + 1000),
    )
    .await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(
        body["errorKey"],
        "campaignevents-event-contribution-not-participant"
    );
    let (s, body) = post_associate(&app, &alice(), &assoc(event + 1000, "ptwiki", rev)).await;
    assert_eq!(s, 404, "{body}");

    // A purge would report on an incomplete cache: not now, and the client is told when.
    let resp = app
        .http
        .post(app.v0("/cache/purge"))
        .bearer_auth(token(9, "Admin", &["admin"]))
        .json(&json!({"user_id": ALICE}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(
        resp.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(assert_error_shape(503, &body), "campaignevents-not-ready");

    drop(hold);
    app.wait_ready().await;
    assert_eq!(ongoing_ids(&app, ALICE).await, vec![event]);
    let row = outcome(&app, "ptwiki", rev).await.expect("a row");
    assert_eq!(row["event_id"], json!(event));
}
