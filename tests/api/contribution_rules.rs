//! The extension's association rules beyond "a participant associates their own edit": an
//! organizer of the event may associate a participant's edit (the worker then checks the
//! author), and a stored contribution may be removed by its author or an organizer, after which
//! the edit may be associated again.

use serde_json::{json, Value};

use crate::associate::{alice, assoc, outcome, post_associate, setup, ALICE};
use crate::helpers::*;
use crate::signin::{answer, event, from_wiki, wikis_file};
use crate::support::mediawiki::TestWiki;

async fn delete(app: &TestApp, tok: &str, id: &str) -> (u16, Value) {
    let resp = app
        .http
        .delete(app.v0(&format!("/event_contributions/{id}")))
        .bearer_auth(tok)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The event's listed contributions and its summary's edit count.
async fn listed(app: &TestApp, event: u64) -> (Vec<Value>, u64) {
    let (s, list) = app
        .get_json(&app.v0(&format!("/event_registration/{event}/contributions")))
        .await;
    assert_eq!(s, 200, "{list}");
    let (_, summary) = app
        .get_json(&app.v0(&format!(
            "/event_registration/{event}/contributions/summary"
        )))
        .await;
    (
        list["contributions"].as_array().unwrap().clone(),
        summary["edits"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn a_contribution_is_removed_by_its_author_or_an_organizer_and_may_come_back() {
    let (wiki, app, event) = setup().await;
    let rev = wiki.rev("Ligações", 1);
    let (s, _) = post_associate(&app, &alice(), &assoc(event, "ptwiki", rev)).await;
    assert_eq!(s, 202);
    outcome(&app, "ptwiki", rev).await.expect("a row");
    let (rows, edits) = listed(&app, event).await;
    assert_eq!((rows.len(), edits), (1, 1));
    let id = rows[0]["id"].as_i64().expect("a listed row has its id");

    // Someone else: refused, nothing removed. No such row, or not an id: as the extension.
    let (s, body) = delete(&app, &token(77, "Mallory", &[]), &id.to_string()).await;
    assert_eq!(
        (s, assert_error_shape(s, &body).as_str()),
        (
            403,
            "campaignevents-rest-delete-contribution-permission-denied"
        )
    );
    let (s, body) = delete(&app, &alice(), "987654321").await;
    assert_eq!(
        (s, assert_error_shape(s, &body).as_str()),
        (404, "campaignevents-rest-contribution-not-found")
    );
    let (s, _) = delete(&app, &alice(), "abc").await;
    assert_eq!(s, 400);
    assert_eq!(listed(&app, event).await.1, 1);

    // Its author removes it: gone from the list and the summary.
    let (s, body) = delete(&app, &alice(), &id.to_string()).await;
    assert_eq!((s, body), (204, Value::Null));
    assert_eq!(listed(&app, event).await, (vec![], 0));
    let (s, _) = delete(&app, &alice(), &id.to_string()).await;
    assert_eq!(s, 404);

    // The edit may be associated again at once, and an organizer removes it this time.
    let (s, body) = post_associate(&app, &alice(), &assoc(event, "ptwiki", rev)).await;
    assert_eq!(
        (s, body["status"].as_str()),
        (202, Some("queued")),
        "{body}"
    );
    outcome(&app, "ptwiki", rev).await.expect("a row again");
    let (rows, edits) = listed(&app, event).await;
    assert_eq!((rows.len(), edits), (1, 1));
    assert_eq!(rows[0]["user_id"], ALICE);
    let again = rows[0]["id"].as_i64().unwrap();
    assert_ne!(again, id);
    let (s, _) = delete(&app, &organizer_token(1), &again.to_string()).await;
    assert_eq!(s, 204);
    assert_eq!(listed(&app, event).await, (vec![], 0));
}

/// On a real MediaWiki: the organizer associates a participant's edit (the row is the
/// participant's) and an outsider's (a dead letter, `author-not-participant`); the
/// participant removes their row with the wiki's cookies and CSRF token.
#[tokio::test]
async fn an_organizer_associates_a_participants_edit_but_not_an_outsiders() {
    let wiki = TestWiki::start().await;
    let file = wikis_file(&wiki);
    let app = spawn_app_with(|s| s.common.wikis_file = Some(file)).await;
    let outsider = wiki.create_user("Outsider", &[]).await;

    let organizer = wiki.login(&wiki.organizer).await;
    let mut body = event(&["testwiki"]);
    body["track_contributions"] = json!(true);
    body["token"] = json!(organizer.csrf_token());
    let (s, v, _) = answer(
        from_wiki(
            &app,
            &wiki,
            &organizer,
            reqwest::Method::POST,
            &app.v0("/event_registration"),
        )
        .json(&body),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_u64().unwrap();

    let participant = wiki.login(&wiki.participant).await;
    let (s, v, _) = answer(
        from_wiki(
            &app,
            &wiki,
            &participant,
            reqwest::Method::PUT,
            &app.v0(&format!("/event_registration/{id}/participants/self")),
        )
        .header("x-csrf-token", participant.csrf_token())
        .json(&json!({"is_private": false})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let participant_id = participant.userinfo().await["query"]["userinfo"]["id"]
        .as_u64()
        .unwrap();
    let theirs = participant
        .edit("Lisboa", "Lisboa é a capital de [[Portugal]].", "new")
        .await;
    let outsiders = wiki
        .login(&outsider)
        .await
        .edit("Porto", "O Porto fica no [[Douro]].", "new")
        .await;

    for rev in [theirs, outsiders] {
        let (s, v, _) = answer(
            from_wiki(
                &app,
                &wiki,
                &organizer,
                reqwest::Method::PUT,
                &app.v0(&format!("/event_registration/{id}/edits/testwiki/{rev}")),
            )
            .json(&json!({"token": organizer.csrf_token()})),
        )
        .await;
        assert_eq!((s, &v), (202, &json!({"modified": true})));
    }
    let row = outcome(&app, "testwiki", theirs).await.expect("a row");
    assert_eq!(row["user_id"], participant_id);
    assert_eq!(row["user_name"], wiki.participant.name);
    assert_eq!(row["links_added"], 1);
    let (reason, detail) = outcome(&app, "testwiki", outsiders)
        .await
        .expect_err("a dead letter");
    assert_eq!(reason, "author-not-participant", "{detail}");

    // The participant removes their row, signed in with the wiki's cookies.
    let (rows, _) = listed(&app, id).await;
    let row_id = rows[0]["id"].as_i64().unwrap();
    let (s, v, _) = answer(
        from_wiki(
            &app,
            &wiki,
            &participant,
            reqwest::Method::DELETE,
            &app.v0(&format!("/event_contributions/{row_id}")),
        )
        .json(&json!({"token": participant.csrf_token()})),
    )
    .await;
    assert_eq!(s, 204, "{v}");
    assert_eq!(listed(&app, id).await, (vec![], 0));
}
