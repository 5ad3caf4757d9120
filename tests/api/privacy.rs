//! Invariant 8: a private participant's name and id reach only themselves and the event's
//! organizers — on the contributions listing, its `user` filter and the Atom feed.

use serde_json::{json, Value};

use crate::associate::{alice, assoc, outcome, post_associate, tracking_event, ALICE};
use crate::helpers::*;
use crate::support::mock_wiki::MockWiki;

const ORGANIZER: u64 = 1;

/// The listing as `token` (or anonymously) sees it.
async fn listing(app: &TestApp, event: u64, query: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = app
        .http
        .get(app.v0(&format!("/event_registration/{event}/contributions{query}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn feed(app: &TestApp, event: u64, token: Option<&str>) -> String {
    let mut req = app
        .http
        .get(app.v0(&format!("/event_registration/{event}/contributions.atom")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

fn authors(v: &Value) -> Vec<(Value, Value)> {
    v["contributions"]
        .as_array()
        .unwrap_or_else(|| panic!("no listing: {v}"))
        .iter()
        .map(|c| (c["user_id"].clone(), c["user_name"].clone()))
        .collect()
}

#[tokio::test]
async fn a_private_participant_is_shown_only_to_themselves_and_organizers() {
    let wiki = MockWiki::start().await;
    let app = spawn_app_with_wiki(&wiki).await;
    let event = app
        .create_event(ORGANIZER, &tracking_event(&["ptwiki"]))
        .await;
    let resp = app
        .http
        .put(app.v0(&format!("/event_registration/{event}/participants/self")))
        .bearer_auth(alice())
        .json(&json!({"is_private": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let rev = wiki.rev("Ligações", 1);
    let (s, body) = post_associate(&app, &alice(), &assoc(event, "ptwiki", rev)).await;
    assert_eq!(s, 202, "{body}");
    outcome(&app, "ptwiki", rev).await.expect("a row");

    let hidden = vec![(Value::Null, json!("Private participant"))];
    let shown = vec![(json!(ALICE), json!("Alice"))];
    let bob = token(77, "Bob", &[]);
    let organizer = organizer_token(ORGANIZER);
    // Anonymous readers and other users: neither name nor id, in the listing and the feed.
    for reader in [None, Some(bob.as_str())] {
        let (s, v) = listing(&app, event, "", reader).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(authors(&v), hidden, "{v}");
        let atom = feed(&app, event, reader).await;
        assert!(!atom.contains("Alice"), "{atom}");
        assert!(atom.contains("<name>Private participant</name>"), "{atom}");
        // The filter answers as for a name never seen.
        let (s, by_name) = listing(&app, event, "?user=Alice", reader).await;
        let (_, never_seen) = listing(&app, event, "?user=Nobody", reader).await;
        assert_eq!(s, 200);
        assert_eq!(by_name, never_seen);
        assert_eq!(authors(&by_name), vec![]);
    }
    // Themselves and the event's organizers see who it was.
    for reader in [alice(), organizer] {
        let (s, v) = listing(&app, event, "", Some(&reader)).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(authors(&v), shown, "{v}");
        let (_, v) = listing(&app, event, "?user=Alice", Some(&reader)).await;
        assert_eq!(authors(&v), shown, "{v}");
        assert!(feed(&app, event, Some(&reader))
            .await
            .contains("<name>Alice</name>"));
    }
    // An organizer of another event is anyone else here.
    let other = token(5, "Organizer5", &["organizer"]);
    let (_, v) = listing(&app, event, "", Some(&other)).await;
    assert_eq!(authors(&v), hidden, "{v}");
    // A bad token is refused, not read as anonymous.
    let (s, v) = listing(&app, event, "", Some("not-a-token")).await;
    assert_eq!(
        (s, assert_error_shape(s, &v).as_str()),
        (401, "rest-unauthorized")
    );

    // An admin's dead-letter listing does not name her either.
    let bobs = wiki.rev("Prosa", 2);
    let (s, _) = post_associate(&app, &alice(), &assoc(event, "ptwiki", bobs)).await;
    assert_eq!(s, 202);
    outcome(&app, "ptwiki", bobs)
        .await
        .expect_err("a dead letter");
    let resp = app
        .http
        .get(app.v0("/dead_letters"))
        .bearer_auth(token(9, "Admin", &["admin"]))
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["dead_letters"][0]["user_id"], Value::Null, "{v}");

    // Registering publicly again shows the name to everyone.
    let resp = app
        .http
        .put(app.v0(&format!("/event_registration/{event}/participants/self")))
        .bearer_auth(alice())
        .json(&json!({"is_private": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (_, v) = listing(&app, event, "?user=Alice", None).await;
    assert_eq!(authors(&v), shown, "{v}");
    let v: Value = app
        .http
        .get(app.v0("/dead_letters"))
        .bearer_auth(token(9, "Admin", &["admin"]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["dead_letters"][0]["user_id"], json!(ALICE), "{v}");
}

#[tokio::test]
async fn a_user_filter_with_a_nul_byte_is_a_bad_parameter() {
    let app = spawn_app().await;
    let event = app.create_event(ORGANIZER, &event_body()).await;
    for q in ["?user=%00", "?user=A%00B", "?user=%0A"] {
        let (s, v) = listing(&app, event, q, None).await;
        assert_eq!(
            (s, assert_error_shape(s, &v).as_str()),
            (400, "paramvalidator-badvalue"),
            "{q}"
        );
    }
}
