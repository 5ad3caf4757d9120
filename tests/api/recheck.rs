//! Rows follow the wiki, on a real MediaWiki: a page deleted with `deleteBatch.php` and a
//! revision whose text an admin hid leave every total after a re-check; a moved page's row
//! takes the new title; `undelete.php` brings the row back.

use serde_json::{json, Value};

use crate::associate::{assoc, outcome, post_associate};
use crate::helpers::*;
use crate::signin::wikis_file;
use crate::support::mediawiki::TestWiki;

async fn recheck(app: &TestApp, event: u64, tok: &str) -> (u16, Value) {
    let resp = app
        .http
        .post(app.v0(&format!(
            "/event_registration/{event}/contributions/recheck"
        )))
        .bearer_auth(tok)
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

/// (summary edits, listed titles, CSV records, per-participant edits)
async fn everywhere(app: &TestApp, event: u64) -> (i64, Vec<String>, usize, i64) {
    let base = format!("/event_registration/{event}/contributions");
    let (_, summary) = app.get_json(&app.v0(&format!("{base}/summary"))).await;
    let (_, list) = app.get_json(&app.v0(&base)).await;
    let mut titles: Vec<String> = list["contributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["page_title"].as_str().unwrap().to_owned())
        .collect();
    titles.sort();
    let csv = app
        .http
        .get(app.v0(&format!("/event_registration/{event}/contributions.csv")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let records = csv.trim_end().split("\r\n").count() - 1;
    let (_, people) = app.get_json(&app.v0(&format!("{base}/participants"))).await;
    let per_participant = people["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["edits"].as_i64().unwrap())
        .sum();
    (
        summary["edits"].as_i64().unwrap(),
        titles,
        records,
        per_participant,
    )
}

#[tokio::test]
async fn deleted_and_hidden_edits_leave_every_total_moves_rename_and_restores_return() {
    let wiki = TestWiki::start().await;
    let file = wikis_file(&wiki);
    let app = spawn_app_with(|s| s.common.wikis_file = Some(file)).await;
    let mut body = crate::cache::ongoing_event();
    body["wikis"] = json!(["testwiki"]);
    body["track_contributions"] = json!(true);
    let event = app.create_event(1, &body).await;
    // The participant signs in with a token of this service under their wiki name.
    let me = token(77, &wiki.participant.name, &[]);
    let resp = app
        .http
        .put(app.v0(&format!("/event_registration/{event}/participants/self")))
        .bearer_auth(&me)
        .json(&json!({"is_private": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let editor = wiki.login(&wiki.participant).await;
    let deleted = editor
        .edit("Recheck Deleted", "To be [[deleted]].", "new")
        .await;
    let hidden = editor
        .edit("Recheck Hidden", "To be [[hidden]].", "new")
        .await;
    // The current revision's text cannot be hidden: a later edit makes it an old one.
    editor.edit("Recheck Hidden", "Replaced.", "again").await;
    let moved = editor
        .edit("Recheck Moved", "To be [[moved]].", "new")
        .await;
    for rev in [deleted, hidden, moved] {
        let (s, v) = post_associate(&app, &me, &assoc(event, "testwiki", rev)).await;
        assert_eq!(s, 202, "{v}");
        outcome(&app, "testwiki", rev).await.expect("a row");
    }
    assert_eq!(
        everywhere(&app, event).await,
        (
            3,
            vec![
                "Recheck Deleted".to_owned(),
                "Recheck Hidden".to_owned(),
                "Recheck Moved".to_owned()
            ],
            3,
            3
        )
    );

    // What the wiki's admins do (hiding a revision's text takes MediaWiki 1.39's `suppress`
    // group's right, `deleterevision`).
    wiki.add_to_groups(&wiki.admin, &["suppress"]).await;
    let admin = wiki.login(&wiki.admin).await;
    wiki.delete_pages(&["Recheck Deleted"], "test").await;
    let v = admin
        .post(&[
            ("action", "revisiondelete"),
            ("type", "revision"),
            ("target", "Recheck Hidden"),
            ("ids", &hidden.to_string()),
            ("hide", "content"),
            ("reason", "test"),
            ("token", admin.csrf_token()),
        ])
        .await;
    assert_eq!(v["revisiondelete"]["status"], "Success", "{v}");
    let v = admin
        .post(&[
            ("action", "move"),
            ("from", "Recheck Moved"),
            ("to", "Recheck Moved Here"),
            ("reason", "test"),
            ("token", admin.csrf_token()),
        ])
        .await;
    assert!(v["move"]["to"].is_string(), "{v}");

    // Only an organizer may ask for a re-check now.
    let (s, _) = recheck(&app, event, &me).await;
    assert_eq!(s, 403);
    let (s, found) = recheck(&app, event, &organizer_token(1)).await;
    assert_eq!(s, 200, "{found}");
    assert_eq!(
        (
            &found["checked"],
            &found["deleted"],
            &found["moved"],
            &found["failed"]
        ),
        (&json!(3), &json!(2), &json!(1), &json!(0)),
        "{found}"
    );
    assert!(found["rechecked_at"].is_string(), "{found}");
    assert_eq!(
        everywhere(&app, event).await,
        (1, vec!["Recheck Moved Here".to_owned()], 1, 1)
    );
    let dom = {
        let url = app.url(&format!("/event/{event}"));
        tokio::task::spawn_blocking(move || crate::dashboard::render(&url))
            .await
            .unwrap()
    };
    assert!(dom.contains("data-edits=\"1\""));
    assert!(dom.contains("last re-checked"));

    // Restored: it counts again.
    wiki.undelete_page("Recheck Deleted", "test").await;
    let (_, found) = recheck(&app, event, &organizer_token(1)).await;
    assert_eq!(found["restored"], 1, "{found}");
    assert_eq!(everywhere(&app, event).await.0, 2);
    assert_eq!(
        app.metric("ce_recheck_rows_total{result=\"deleted\"}")
            .await,
        Some(2.0)
    );
    assert_eq!(
        app.metric("ce_recheck_rows_total{result=\"restored\"}")
            .await,
        Some(1.0)
    );
}
