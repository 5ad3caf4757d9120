//! Edit association end to end: the routes, the queue, the diff workers against a local
//! Action API, the stored rows and dead letters, and the reading routes.

use std::time::{Duration, Instant};

use campaign_events::association::stats::{compute, Page, SiteInfo};
use chrono::Utc;
use serde_json::{json, Value};

use crate::cache::register;
use crate::helpers::*;
use crate::support::mock_wiki::{Fault, FixtureRev, MockWiki};

pub const ALICE: u64 = 42;

/// An event on ptwiki that tracks contributions, ongoing now and covering the fixtures' times.
pub fn tracking_event(wikis: &[&str]) -> Value {
    json!({
        "event_name": "Wiki Loves Lisboa",
        "start_time": "2026-11-20T00:00:00Z",
        "end_time": (Utc::now() + chrono::Duration::days(2)).to_rfc3339(),
        "timezone": "Europe/Lisbon",
        "wikis": wikis,
        "track_contributions": true,
    })
}

pub fn alice() -> String {
    token(ALICE, "Alice", &[])
}

pub async fn post_associate(app: &TestApp, tok: &str, body: &Value) -> (u16, Value) {
    let resp = app
        .http
        .post(app.url("/rest.php/v1/campaignevents/associate-edit-to-event"))
        .bearer_auth(tok)
        .json(body)
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

pub fn assoc(event: u64, wiki: &str, rev: u64) -> Value {
    json!({"revisionId": rev, "wikiId": wiki, "event_id": event, "timestamp": "2026-11-21T10:00:00Z"})
}

/// Waits until the edit is a row or a dead letter; returns which.
pub async fn outcome(app: &TestApp, wiki: &str, rev: u64) -> Result<Value, (String, String)> {
    let db = app.db().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(r) = db
            .query_opt(
                "SELECT row_to_json(c)::text FROM ce_associate_edit_to_event c \
                 WHERE wiki_id = $1 AND revision_id = $2",
                &[&wiki, &(rev as i64)],
            )
            .await
            .unwrap()
        {
            return Ok(serde_json::from_str(&r.get::<_, String>(0)).unwrap());
        }
        if let Some(r) = db
            .query_opt(
                "SELECT reason, detail FROM ce_dead_letters WHERE wiki_id = $1 AND revision_id = $2",
                &[&wiki, &(rev as i64)],
            )
            .await
            .unwrap()
        {
            return Err((r.get(0), r.get(1)));
        }
        assert!(Instant::now() < deadline, "{wiki}:{rev} never finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn siteinfo(wiki: &MockWiki) -> SiteInfo {
    let v: Value = reqwest::Client::new()
        .get(wiki.api_url())
        .header("user-agent", "test")
        .query(&[
            ("action", "query"),
            ("meta", "siteinfo"),
            ("siprop", "general|namespaces|namespacealiases|interwikimap"),
            ("format", "json"),
            ("formatversion", "2"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    SiteInfo::from_action_api(&v).unwrap()
}

/// Sets up an app on a mock wiki with one tracking event Alice takes part in.
pub async fn setup() -> (MockWiki, TestApp, u64) {
    let wiki = MockWiki::start().await;
    let app = spawn_app_with_wiki(&wiki).await;
    let event = app.create_event(1, &tracking_event(&["ptwiki"])).await;
    let (s, _) = register(&app, event, ALICE).await;
    assert_eq!(s, 200);
    (wiki, app, event)
}

/// A page of `n` revisions by Alice (at most 10), each adding a link: `n` edits to associate.
fn linked_page(wiki: &MockWiki, title: &str, n: usize) -> Vec<u64> {
    wiki.add_page(
        title,
        0,
        (0..n)
            .map(|i| {
                FixtureRev::new(
                    "Alice",
                    &format!("2026-11-21T10:0{i}:00Z"),
                    &format!("Texto {i} com [[Ligação {i}]]."),
                )
            })
            .collect(),
    )
}

#[tokio::test]
async fn an_association_becomes_one_row_with_the_measured_numbers() {
    let (wiki, app, event) = setup().await;
    let rev = wiki.rev("Ligações", 1);
    let (s, body) = post_associate(&app, &alice(), &assoc(event, "ptwiki", rev)).await;
    assert_eq!(s, 202, "{body}");
    assert_eq!(
        body,
        json!({"status": "queued", "jobId": format!("ptwiki:{rev}")})
    );

    let row = outcome(&app, "ptwiki", rev).await.expect("a row");
    assert!(wiki
        .last_user_agent()
        .unwrap()
        .starts_with("campaign-events/"));
    let site = siteinfo(&wiki).await;
    let old = wiki.revision(wiki.rev("Ligações", 0)).unwrap().content;
    let new = wiki.revision(rev).unwrap().content;
    let expected = compute(&old, &new, &Page::new(0, "Ligações"), &site);
    assert_eq!(row["links_added"], 2, "Coimbra and Faro: {row}");
    assert_eq!(row["links_removed"], 1, "Porto");
    assert_eq!(row["bytes_added"], expected.bytes_added);
    assert_eq!(row["bytes_removed"], expected.bytes_removed);
    assert_eq!(row["chars_added"], expected.chars_added);
    assert_eq!(row["chars_removed"], expected.chars_removed);
    assert_eq!(
        row["bytes_added"].as_i64().unwrap() - row["bytes_removed"].as_i64().unwrap(),
        new.len() as i64 - old.len() as i64
    );
    assert_eq!(row["event_id"], event);
    assert_eq!(row["user_id"], ALICE);
    assert_eq!(row["page_title"], "Ligações");
    assert_eq!(row["parent_revision_id"], wiki.rev("Ligações", 0));
    assert_eq!(row["is_new_article"], false);

    // Refs: Fonte C and Fonte D defined, Fonte A gone; the reuses do not count.
    let rev = wiki.rev("Referências", 1);
    post_associate(&app, &alice(), &assoc(event, "ptwiki", rev)).await;
    let row = outcome(&app, "ptwiki", rev).await.expect("a row");
    assert_eq!(
        (row["refs_added"].as_u64(), row["refs_removed"].as_u64()),
        (Some(2), Some(1))
    );

    // A page creation: everything added, a new article.
    let rev = wiki.rev("Criação", 0);
    post_associate(&app, &alice(), &assoc(event, "ptwiki", rev)).await;
    let row = outcome(&app, "ptwiki", rev).await.expect("a row");
    let text = wiki.revision(rev).unwrap().content;
    assert_eq!(row["is_new_article"], true);
    assert_eq!(row["bytes_added"], text.len());
    assert_eq!(row["bytes_removed"], 0);
    assert_eq!(row["chars_added"], text.chars().count());
    assert_eq!(row["parent_revision_id"], Value::Null);
}

#[tokio::test]
async fn associating_twice_keeps_one_row_and_another_event_is_refused_invariant_6() {
    let (wiki, app, event) = setup().await;
    let other = app.create_event(1, &tracking_event(&["ptwiki"])).await;
    register(&app, other, ALICE).await;
    let rev = wiki.rev("Prosa", 1);
    let (s, body) = post_associate(&app, &alice(), &assoc(event, "ptwiki", rev)).await;
    assert_eq!((s, body["status"].as_str()), (202, Some("queued")));
    let (s, body) = post_associate(&app, &alice(), &assoc(event, "ptwiki", rev)).await;
    assert_eq!(s, 202);
    assert!(
        matches!(
            body["status"].as_str(),
            Some("already-queued" | "already-associated")
        ),
        "{body}"
    );
    outcome(&app, "ptwiki", rev).await.expect("a row");
    // The gateway hears of the row from the worker's notice, published after the commit: for
    // that moment the job still counts as queued, then the edit as associated.
    eventually(
        "a repeat answers already-associated",
        Duration::from_secs(10),
        async || {
            let (s, body) = post_associate(&app, &alice(), &assoc(event, "ptwiki", rev)).await;
            assert_eq!(s, 202, "{body}");
            match body["status"].as_str() {
                Some("already-associated") => true,
                Some("already-queued") => false,
                _ => panic!("{body}"),
            }
        },
    )
    .await;

    let (s, body) = post_associate(&app, &alice(), &assoc(other, "ptwiki", rev)).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(
        assert_error_shape(s, &body),
        "campaignevents-event-contribution-already-associated"
    );
    let n: i64 = app
        .count("SELECT count(*) FROM ce_associate_edit_to_event", &[])
        .await;
    assert_eq!(n, 1);
}

#[tokio::test]
async fn the_extension_route_associates_too() {
    let (wiki, app, event) = setup().await;
    let rev = wiki.rev("東京", 1);
    // Yuki's edit: Yuki must be the one associating it.
    register(&app, event, 77).await;
    let resp = app
        .http
        .put(app.v0(&format!("/event_registration/{event}/edits/ptwiki/{rev}")))
        .bearer_auth(token(77, "Yuki", &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"modified": true})
    );
    let row = outcome(&app, "ptwiki", rev).await.expect("a row");
    assert_eq!(row["links_added"], 1, "大阪: {row}");
    let old = wiki.revision(wiki.rev("東京", 0)).unwrap().content;
    let new = wiki.revision(rev).unwrap().content;
    assert_eq!(
        row["chars_added"].as_i64().unwrap() - row["chars_removed"].as_i64().unwrap(),
        new.chars().count() as i64 - old.chars().count() as i64
    );
    let resp = app
        .http
        .put(app.v0(&format!("/event_registration/{event}/edits/ptwiki/{rev}")))
        .bearer_auth(token(77, "Yuki", &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"modified": false})
    );
}

#[tokio::test]
async fn every_validation_error_has_its_status_and_key() {
    let (wiki, app, event) = setup().await;
    let rev = wiki.rev("Prosa", 1);
    let now = Utc::now();
    let future = app
        .create_event(1, &json!({"event_name": "Later", "start_time": (now + chrono::Duration::days(3)).to_rfc3339(),
            "end_time": (now + chrono::Duration::days(4)).to_rfc3339(), "timezone": "UTC", "wikis": ["ptwiki"],
            "track_contributions": true}))
        .await;
    register(&app, future, ALICE).await;
    let en_only = app.create_event(1, &tracking_event(&["enwiki"])).await;
    register(&app, en_only, ALICE).await;
    let mut untracked = tracking_event(&["ptwiki"]);
    untracked["track_contributions"] = json!(false);
    let untracked = app.create_event(1, &untracked).await;
    register(&app, untracked, ALICE).await;
    let not_mine = app.create_event(1, &tracking_event(&["ptwiki"])).await;
    let deleted = app.create_event(1, &tracking_event(&["ptwiki"])).await;
    app.http
        .delete(app.v0(&format!("/event_registration/{deleted}")))
        .bearer_auth(organizer_token(1))
        .send()
        .await
        .unwrap();

    let cases: Vec<(Value, u16, &str)> = vec![
        (json!("not an object"), 400, "rest-invalid-body"),
        (
            json!({"wikiId": "ptwiki", "event_id": event}),
            400,
            "rest-invalid-body",
        ),
        (
            json!({"revisionId": 0, "wikiId": "ptwiki", "event_id": event}),
            400,
            "rest-invalid-body",
        ),
        (
            json!({"revisionId": -5, "wikiId": "ptwiki", "event_id": event}),
            400,
            "rest-invalid-body",
        ),
        (
            json!({"revisionId": "12", "wikiId": "ptwiki", "event_id": event}),
            400,
            "rest-invalid-body",
        ),
        (
            json!({"revisionId": rev, "wikiId": "pt wiki", "event_id": event}),
            400,
            "rest-invalid-body",
        ),
        (
            json!({"revisionId": rev, "wikiId": "ptwiki", "event_id": 0}),
            400,
            "rest-invalid-body",
        ),
        (
            assoc(987654, "ptwiki", rev),
            404,
            "campaignevents-rest-event-not-found",
        ),
        (
            assoc(deleted, "ptwiki", rev),
            404,
            "campaignevents-event-contribution-event-deleted",
        ),
        (
            assoc(future, "ptwiki", rev),
            400,
            "campaignevents-event-contribution-event-not-active",
        ),
        (
            assoc(en_only, "ptwiki", rev),
            400,
            "campaignevents-event-contribution-not-target-wiki",
        ),
        (
            assoc(untracked, "ptwiki", rev),
            400,
            "campaignevents-event-contribution-tracking-disabled",
        ),
        (
            assoc(not_mine, "ptwiki", rev),
            403,
            "campaignevents-event-contribution-not-participant",
        ),
        (
            assoc(event, "dewiki", rev),
            400,
            "campaignevents-event-contribution-not-target-wiki",
        ),
    ];
    for (body, status, key) in cases {
        let (s, v) = post_associate(&app, &alice(), &body).await;
        assert_eq!(s, status, "{body} → {v}");
        assert_eq!(assert_error_shape(s, &v), key, "{body}");
    }
    // `eventId` is accepted for `event_id`.
    let (s, v) = post_associate(
        &app,
        &alice(),
        &json!({"revisionId": rev, "wikiId": "ptwiki", "eventId": event}),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    let (s, _) = post_associate(&app, "garbage", &assoc(event, "ptwiki", rev)).await;
    assert_eq!(s, 401);
    let jobs: u64 = {
        let js = campaign_events::infra::nats::jetstream(
            campaign_events::infra::nats::connect(NATS_URL)
                .await
                .unwrap(),
        );
        let mut s = js.get_stream(app.names().edits_stream()).await.unwrap();
        let info = s.info().await.unwrap();
        info.state.last_sequence
    };
    assert_eq!(jobs, 1, "only the valid association was queued");
}

#[tokio::test]
async fn someone_elses_edit_and_edits_outside_the_window_become_dead_letters() {
    let (wiki, app, event) = setup().await;
    // Bob fixed the typo in "Prosa"; Alice claims it.
    let bobs = wiki.rev("Prosa", 2);
    let (s, _) = post_associate(&app, &alice(), &assoc(event, "ptwiki", bobs)).await;
    assert_eq!(s, 202);
    let (reason, _) = outcome(&app, "ptwiki", bobs)
        .await
        .expect_err("a dead letter");
    assert_eq!(reason, "not-owner");

    let old = wiki.add_page(
        "Antigo",
        0,
        vec![FixtureRev::new(
            "Alice",
            "2020-01-01T00:00:00Z",
            "Texto antigo.",
        )],
    );
    let (s, _) = post_associate(&app, &alice(), &assoc(event, "ptwiki", old[0])).await;
    assert_eq!(s, 202);
    let (reason, _) = outcome(&app, "ptwiki", old[0])
        .await
        .expect_err("a dead letter");
    assert_eq!(reason, "outside-event-window");

    let hidden = wiki.rev("Escondido", 1);
    post_associate(&app, &alice(), &assoc(event, "ptwiki", hidden)).await;
    assert_eq!(
        outcome(&app, "ptwiki", hidden)
            .await
            .expect_err("a dead letter")
            .0,
        "content-hidden"
    );

    let (s, _) = post_associate(&app, &alice(), &assoc(event, "ptwiki", 999_999)).await;
    assert_eq!(s, 202);
    assert_eq!(
        outcome(&app, "ptwiki", 999_999)
            .await
            .expect_err("a dead letter")
            .0,
        "revision-missing"
    );

    // The admin sees them all, with reasons.
    let resp = app
        .http
        .get(app.v0("/dead_letters"))
        .bearer_auth(token(9, "Admin", &["admin"]))
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["dead_letters"].as_array().unwrap().len(), 4, "{v}");
    let resp = app
        .http
        .get(app.v0("/dead_letters"))
        .bearer_auth(alice())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn transient_failures_are_retried_and_a_dead_letter_can_be_retried_by_an_admin() {
    let (wiki, app, event) = setup().await;
    // A few 503s: retried with backoff, then stored.
    wiki.set_fault(Fault::FailNext(3));
    let rev = wiki.rev("Predefinições", 1);
    post_associate(&app, &alice(), &assoc(event, "ptwiki", rev)).await;
    let row = outcome(&app, "ptwiki", rev)
        .await
        .expect("a row after retries");
    assert_eq!(row["links_added"], 0, "templates add no links");

    // The wiki down for longer than max_deliver allows: a dead letter "gave-up"...
    wiki.set_fault(Fault::ServerError);
    let rev = wiki.rev("Vandalismo", 1);
    register(&app, event, 66).await;
    let (s, _) = post_associate(
        &app,
        &token(66, "Mallory", &[]),
        &assoc(event, "ptwiki", rev),
    )
    .await;
    assert_eq!(s, 202);
    let (reason, detail) = outcome(&app, "ptwiki", rev)
        .await
        .expect_err("a dead letter");
    assert_eq!(reason, "gave-up", "{detail}");
    // ...which an admin retries once the wiki is back: it becomes the one row, no dead letter.
    wiki.set_fault(Fault::None);
    let id: i64 = app
        .db()
        .await
        .query_one("SELECT id FROM ce_dead_letters", &[])
        .await
        .unwrap()
        .get(0);
    let resp = app
        .http
        .post(app.v0(&format!("/dead_letters/{id}/retry")))
        .bearer_auth(token(9, "Admin", &["admin"]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let db = app.db().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows: i64 = db
            .query_one(
                "SELECT count(*) FROM ce_associate_edit_to_event WHERE revision_id = $1",
                &[&(rev as i64)],
            )
            .await
            .unwrap()
            .get(0);
        let dead: i64 = db
            .query_one("SELECT count(*) FROM ce_dead_letters", &[])
            .await
            .unwrap()
            .get(0);
        if rows == 1 && dead == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "retry did not land: rows {rows}, dead {dead}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn contributions_list_summary_and_feed() {
    let (wiki, app, event) = setup().await;
    let revs = linked_page(&wiki, "Lista", 7);
    for r in &revs {
        post_associate(&app, &alice(), &assoc(event, "ptwiki", *r)).await;
    }
    for r in &revs {
        outcome(&app, "ptwiki", *r).await.expect("a row");
    }
    // Newest first, three per page, a stable continuation through all seven.
    let mut seen = Vec::new();
    let mut cont: Option<String> = None;
    loop {
        let mut url = app.v0(&format!(
            "/event_registration/{event}/contributions?limit=3"
        ));
        if let Some(c) = &cont {
            url.push_str(&format!("&continue={c}"));
        }
        let (s, v) = app.get_json(&url).await;
        assert_eq!(s, 200, "{v}");
        seen.extend(
            v["contributions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["revision_id"].as_u64().unwrap()),
        );
        match v["continue"].as_str() {
            Some(c) => cont = Some(c.to_owned()),
            None => break,
        }
    }
    let mut newest_first = revs.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    let (_, v) = app
        .get_json(&app.v0(&format!(
            "/event_registration/{event}/contributions?user=Bob"
        )))
        .await;
    assert_eq!(v["contributions"].as_array().unwrap().len(), 0);
    let (s, v) = app
        .get_json(&app.v0(&format!(
            "/event_registration/{event}/contributions?limit=0"
        )))
        .await;
    assert_eq!(
        (s, assert_error_shape(s, &v).as_str()),
        (400, "paramvalidator-outofrange")
    );
    let (s, _) = app
        .get_json(&app.v0(&format!(
            "/event_registration/{event}/contributions?continue=garbage"
        )))
        .await;
    assert_eq!(s, 400);
    // Well formed, but a time no database holds: refused as a bad token, not a 500.
    let (s, v) = app
        .get_json(&app.v0(&format!(
            "/event_registration/{event}/contributions?continue=-300000000000000000_1"
        )))
        .await;
    assert_eq!(
        (s, assert_error_shape(s, &v).as_str()),
        (400, "paramvalidator-badvalue")
    );

    let url = app.v0(&format!(
        "/event_registration/{event}/contributions/summary"
    ));
    let resp = app.http.get(&url).send().await.unwrap();
    let tag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["edits"], 7);
    assert_eq!(v["participants"], 1);
    assert_eq!(v["articles_created"], 1);
    assert_eq!(v["links_added"], 7);
    let resp = app
        .http
        .get(&url)
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);
    // A new row for the event changes the summary (the cache is invalidated).
    let more = wiki.add_revisions(
        "Lista",
        vec![FixtureRev::new(
            "Alice",
            "2026-11-21T10:30:00Z",
            "Texto final.",
        )],
    );
    post_associate(&app, &alice(), &assoc(event, "ptwiki", more[0])).await;
    outcome(&app, "ptwiki", more[0]).await.expect("a row");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v: Value = app
            .http
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["edits"] == 8 {
            break;
        }
        assert!(Instant::now() < deadline, "the summary never changed: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let resp = app
        .http
        .get(app.v0(&format!("/event_registration/{event}/contributions.atom")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    let feed = resp.text().await.unwrap();
    assert!(
        feed.starts_with("<?xml") && feed.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">")
    );
    assert_eq!(feed.matches("<entry>").count(), 8);
    assert!(feed.contains("index.php?diff="));
    assert!(feed.trim_end().ends_with("</feed>"));
}

#[tokio::test]
async fn an_edit_whose_earlier_job_was_dead_lettered_can_be_associated_again_at_once() {
    let (wiki, app, event) = setup().await;
    let bobs = wiki.rev("Prosa", 2);
    // Alice claims Bob's edit: accepted, then dead-lettered as not hers.
    post_associate(&app, &alice(), &assoc(event, "ptwiki", bobs)).await;
    assert_eq!(
        outcome(&app, "ptwiki", bobs)
            .await
            .expect_err("a dead letter")
            .0,
        "not-owner"
    );
    // Bob, inside the duplicate window, associates his own edit: new work, queued and stored.
    let bob = token(43, "Bob", &[]);
    register(&app, event, 43).await;
    let (s, body) = post_associate(&app, &bob, &assoc(event, "ptwiki", bobs)).await;
    assert_eq!(
        (s, body["status"].as_str()),
        (202, Some("queued")),
        "{body}"
    );
    // Each accepted association ended as its own record: Bob's as the row, Alice's as her
    // dead letter, which Bob's row does not erase.
    let (row, dead) = one_row_and_one_dead_letter(&app).await;
    assert_eq!(row, (43, event as i64));
    assert_eq!(dead, (ALICE as i64, "not-owner".to_owned()));
}

/// Waits until the database holds one contribution row and one dead letter; then returns the
/// row's (user, event) and the dead letter's (user, reason).
async fn one_row_and_one_dead_letter(app: &TestApp) -> ((i64, i64), (i64, String)) {
    eventually(
        "one row and one dead letter",
        Duration::from_secs(20),
        async || {
            let rows = app
                .count("SELECT count(*) FROM ce_associate_edit_to_event", &[])
                .await;
            let dead = app.count("SELECT count(*) FROM ce_dead_letters", &[]).await;
            (rows, dead) == (1, 1)
        },
    )
    .await;
    let db = app.db().await;
    let row = db
        .query_one(
            "SELECT user_id, event_id FROM ce_associate_edit_to_event",
            &[],
        )
        .await
        .unwrap();
    let dead = db
        .query_one("SELECT user_id, reason FROM ce_dead_letters", &[])
        .await
        .unwrap();
    ((row.get(0), row.get(1)), (dead.get(0), dead.get(1)))
}

/// Someone else's job for an edit, still queued, does not swallow the author's association:
/// the author's is queued as work of its own (and a retry of it finds it), and each ends on
/// its own — the author's as the row, the other as a dead letter.
#[tokio::test]
async fn a_queued_job_of_someone_else_does_not_swallow_the_authors_association() {
    let wiki = MockWiki::start().await;
    // A gateway without workers: the jobs stay queued until a peer with workers starts.
    let file = wikis_file_for(&wiki);
    let gateway = spawn_app_with(|s| {
        s.common.wikis_file = Some(file);
        s.no_workers = true;
    })
    .await;
    let event = gateway.create_event(1, &tracking_event(&["ptwiki"])).await;
    register(&gateway, event, ALICE).await;
    register(&gateway, event, 43).await;
    let bob = token(43, "Bob", &[]);
    let bobs = wiki.rev("Prosa", 2);

    let (s, body) = post_associate(&gateway, &alice(), &assoc(event, "ptwiki", bobs)).await;
    assert_eq!(
        (s, body["status"].as_str()),
        (202, Some("queued")),
        "{body}"
    );
    let (s, body) = post_associate(&gateway, &bob, &assoc(event, "ptwiki", bobs)).await;
    assert_eq!(
        (s, body["status"].as_str()),
        (202, Some("queued")),
        "{body}"
    );
    let (s, body) = post_associate(&gateway, &bob, &assoc(event, "ptwiki", bobs)).await;
    assert_eq!(
        (s, body["status"].as_str()),
        (202, Some("already-queued")),
        "{body}"
    );
    // Bob associating the same edit with another event while his job is queued: refused.
    let other = gateway.create_event(1, &tracking_event(&["ptwiki"])).await;
    register(&gateway, other, 43).await;
    let (s, body) = post_associate(&gateway, &bob, &assoc(other, "ptwiki", bobs)).await;
    assert_eq!(
        (s, assert_error_shape(s, &body).as_str()),
        (400, "campaignevents-event-contribution-already-associated")
    );

    let _workers = gateway.peer_with(|s| s.no_workers = false).await;
    let (row, dead) = one_row_and_one_dead_letter(&gateway).await;
    assert_eq!(row, (43, event as i64));
    assert_eq!(dead, (ALICE as i64, "not-owner".to_owned()));
}

/// A dead letter records one job (edit, event, user): two failed jobs for one edit keep two
/// records, the same job failing again replaces its own, and a job whose row exists — stored
/// by another delivery of it — writes none.
#[tokio::test]
async fn a_dead_letter_is_one_jobs_and_none_is_written_once_its_row_exists() {
    use campaign_events::association::db::dead_letter;
    let app = spawn_app().await;
    let pool = &app.state.ops.pool;
    let (e1, e2) = (
        app.create_event(1, &tracking_event(&["ptwiki"])).await,
        app.create_event(1, &tracking_event(&["ptwiki"])).await,
    );
    let letter = |event: u64, reason: &'static str, detail: &'static str| async move {
        dead_letter(pool, "ptwiki", 7, event, ALICE, reason, detail, 1, b"job")
            .await
            .unwrap()
    };
    assert!(letter(e1, "not-owner", "").await);
    // The wiki's text may hold a NUL, which Postgres' text refuses: replaced, still written.
    assert!(letter(e2, "outside-event-window", "a\0b").await);
    assert!(letter(e1, "gave-up", "after 10 deliveries").await);
    let db = app.db().await;
    let rows: Vec<(i64, String, String)> = db
        .query(
            "SELECT event_id, reason, detail FROM ce_dead_letters ORDER BY event_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        rows,
        vec![
            (e1 as i64, "gave-up".into(), "after 10 deliveries".into()),
            (
                e2 as i64,
                "outside-event-window".into(),
                "a\u{FFFD}b".into()
            ),
        ]
    );

    db.execute(
        "INSERT INTO ce_associate_edit_to_event (event_id, user_id, user_name, wiki_id, \
         revision_id, page_id, page_title, namespace, bytes_added, bytes_removed, chars_added, \
         chars_removed, links_added, links_removed, refs_added, refs_removed, is_new_article, \
         rev_timestamp, associated_at) \
         VALUES ($1, $2, 'Alice', 'ptwiki', 8, 1, 'X', 0, 0, 0, 0, 0, 0, 0, 0, 0, false, now(), now())",
        &[&(e1 as i64), &(ALICE as i64)],
    )
    .await
    .unwrap();
    assert!(
        !dead_letter(pool, "ptwiki", 8, e1, ALICE, "gave-up", "", 10, b"job")
            .await
            .unwrap()
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM ce_dead_letters WHERE revision_id = 8",
            &[]
        )
        .await,
        0
    );
}

/// The diff workers' one puller keeps asking for work while the queue is quiet: every job that
/// arrives at an idle pool — at any point of a pull request's life — is handled on its first
/// delivery. The ack wait is far beyond `outcome`'s deadline, so a job the puller received but
/// never handed to a worker (as async-nats' `Batch` does after a server heartbeat) could only
/// be stored after a redelivery, too late. The gaps between jobs stand for a quiet queue; the
/// test asserts outcomes only.
#[tokio::test]
async fn jobs_arriving_at_an_idle_pool_are_each_handled_on_their_first_delivery() {
    let wiki = MockWiki::start().await;
    let file = wikis_file_for(&wiki);
    let app = spawn_app_with(|s| {
        s.common.wikis_file = Some(file);
        s.workers.diff_ack_wait_secs = 600;
    })
    .await;
    let event = app.create_event(1, &tracking_event(&["ptwiki"])).await;
    assert_eq!(register(&app, event, ALICE).await.0, 200);
    let revs = linked_page(&wiki, "Sossego", 6);
    // Jobs 7 s apart: each finds the pool quiet for longer than a pull request lasts (5 s),
    // and longer than the server's idle heartbeat would be (5 s) had one been asked for.
    for rev in &revs[1..5] {
        tokio::time::sleep(Duration::from_secs(7)).await;
        let (s, body) = post_associate(&app, &alice(), &assoc(event, "ptwiki", *rev)).await;
        assert_eq!(s, 202, "{body}");
        outcome(&app, "ptwiki", *rev)
            .await
            .unwrap_or_else(|e| panic!("ptwiki:{rev} dead-lettered: {e:?}"));
    }
    let info = app
        .state
        .ops
        .jetstream
        .get_stream(app.names().edits_stream())
        .await
        .unwrap()
        .consumer_info(app.names().diff_workers_consumer())
        .await
        .unwrap()
        .clone();
    // Each delivery takes a consumer sequence; only first deliveries advance the stream's.
    assert_eq!(
        info.delivered.consumer_sequence, info.delivered.stream_sequence,
        "every job was delivered once"
    );
}
