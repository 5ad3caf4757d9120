//! A participant's own registration (`GET …/participants/self`) and the post-edit prompt they
//! may hide for one event ("Don't ask again"): kept with the registration, honoured by
//! `events_for_edit` from the cache, by the database path, and after a restart.

use serde_json::{json, Value};

use crate::cache::ongoing_event;
use crate::helpers::*;

const USER: u64 = 31;

fn me() -> String {
    token(USER, "Participant Thirty-One", &[])
}

async fn put_self(app: &TestApp, event: u64, body: Value) -> (u16, Value) {
    let resp = app
        .http
        .put(app.v0(&format!("/event_registration/{event}/participants/self")))
        .bearer_auth(me())
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn get_self(app: &TestApp, event: u64) -> (u16, Value) {
    let resp = app
        .http
        .get(app.v0(&format!("/event_registration/{event}/participants/self")))
        .bearer_auth(me())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// The ids `events_for_edit` offers on ptwiki.
async fn for_edit(app: &TestApp) -> Vec<u64> {
    let resp = app
        .http
        .get(app.v0("/participant/self/events_for_edit?wiki=ptwiki"))
        .bearer_auth(me())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body.as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect()
}

fn tracking() -> Value {
    let mut e = ongoing_event();
    e["track_contributions"] = json!(true);
    e
}

#[tokio::test]
async fn the_own_registration_reads_back_and_a_hidden_prompt_leaves_events_for_edit() {
    let app = spawn_app().await;
    let a = app.create_event(1, &tracking()).await;
    let b = app.create_event(1, &tracking()).await;

    // Not registered: 404 with the extension's key; no such event: the event's 404.
    let (s, body) = get_self(&app, a).await;
    assert_eq!(s, 404);
    assert_eq!(
        assert_error_shape(s, &body),
        "campaignevents-rest-get-registration-info-notparticipant"
    );
    let (s, body) = get_self(&app, 999_999).await;
    assert_eq!(
        assert_error_shape(s, &body),
        "campaignevents-rest-event-not-found"
    );

    for e in [a, b] {
        let (s, body) = put_self(&app, e, json!({"is_private": true})).await;
        assert_eq!((s, &body), (200, &json!({"modified": true})));
    }
    let (s, own) = get_self(&app, a).await;
    assert_eq!(s, 200, "{own}");
    assert_eq!(own["is_private"], true);
    assert_eq!(own["hide_contribution_association_prompt"], false);
    assert!(own["registered_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(for_edit(&app).await, vec![a, b]);

    // "Don't ask again" for a: the privacy choice, left out, stays as it was.
    let (s, body) = put_self(
        &app,
        a,
        json!({"hide_contribution_association_prompt": true}),
    )
    .await;
    assert_eq!((s, &body), (200, &json!({"modified": true})));
    let (_, own) = get_self(&app, a).await;
    assert_eq!(own["is_private"], true);
    assert_eq!(own["hide_contribution_association_prompt"], true);
    assert_eq!(for_edit(&app).await, vec![b]);
    // Asking again changes nothing; the event stays one the user takes part in.
    let (_, body) = put_self(
        &app,
        a,
        json!({"hide_contribution_association_prompt": true}),
    )
    .await;
    assert_eq!(body, json!({"modified": false}));
    let events: Value = app
        .http
        .get(app.url("/rest.php/v1/campaignevents/participant-events?ongoing=true"))
        .bearer_auth(me())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<u64> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![a, b]);

    // Another instance learns it from the change stream; a restarted one from the database.
    let peer = app.peer().await;
    eventually(
        "the peer hides the prompt",
        std::time::Duration::from_secs(20),
        async || for_edit(&peer).await == vec![b],
    )
    .await;
    drop(peer);
    let settings = app.stop_keeping_data().await;
    let app = start(
        settings,
        std::sync::Arc::new(campaign_events_actors::SystemClock),
    )
    .await;
    assert_eq!(for_edit(&app).await, vec![b]);

    // Shown again; a null is not "unchanged" but bad input.
    let (s, _) = put_self(
        &app,
        a,
        json!({"hide_contribution_association_prompt": false}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(for_edit(&app).await, vec![a, b]);
    let (s, body) = put_self(&app, a, json!({"is_private": null})).await;
    assert_eq!(assert_error_shape(s, &body), "rest-invalid-body");
    assert_eq!(s, 400);

    // Registration closed while the event runs: a participant may still hide its prompt; no
    // one new may join.
    let mut closed = tracking();
    closed["status"] = json!("closed");
    let resp = app
        .http
        .put(app.v0(&format!("/event_registration/{b}")))
        .bearer_auth(organizer_token(1))
        .json(&closed)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let (s, body) = put_self(
        &app,
        b,
        json!({"hide_contribution_association_prompt": true}),
    )
    .await;
    assert_eq!((s, &body), (200, &json!({"modified": true})));
    assert_eq!(for_edit(&app).await, vec![a]);
    let resp = app
        .http
        .put(app.v0(&format!("/event_registration/{b}/participants/self")))
        .bearer_auth(token(32, "Newcomer", &[]))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (s, body) = (resp.status().as_u16(), resp.json::<Value>().await.unwrap());
    assert_eq!(
        assert_error_shape(s, &body),
        "campaignevents-register-event-not-open"
    );

    // A deleted event has no registration to read.
    let resp = app
        .http
        .delete(app.v0(&format!("/event_registration/{b}")))
        .bearer_auth(organizer_token(1))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let (s, body) = get_self(&app, b).await;
    assert_eq!(s, 404, "{body}");
}

#[tokio::test]
async fn the_database_path_honours_a_hidden_prompt_too() {
    let app =
        spawn_app_with(|s| s.cache_mode = campaign_events::infra::config::CacheMode::Db).await;
    let a = app.create_event(1, &tracking()).await;
    let (s, _) = put_self(
        &app,
        a,
        json!({"is_private": false, "hide_contribution_association_prompt": true}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(for_edit(&app).await, Vec::<u64>::new());
    let (_, own) = get_self(&app, a).await;
    assert_eq!(own["hide_contribution_association_prompt"], true);
}
