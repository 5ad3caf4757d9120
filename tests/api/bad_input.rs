//! Bad input on every route is a 4xx in MediaWiki's error shape — never a 500, never a panic,
//! and nothing written.

use serde_json::{json, Value};

use crate::helpers::*;

/// Sends `body` (raw) to create and to update, expecting `status` and `key` from both.
async fn expect_rejected(
    app: &TestApp,
    event: u64,
    body: &str,
    content_type: &str,
    status: u16,
    key: &str,
) {
    for (method, url) in [
        (reqwest::Method::POST, app.v0("/event_registration")),
        (
            reqwest::Method::PUT,
            app.v0(&format!("/event_registration/{event}")),
        ),
    ] {
        let resp = app
            .http
            .request(method.clone(), &url)
            .bearer_auth(organizer_token(7))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let s = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        assert_eq!(s, status, "{method} {body:.80} → {v}");
        assert_eq!(assert_error_shape(s, &v), key, "{method} {body:.80}");
    }
}

fn with(field: &str, value: Value) -> String {
    let mut b = event_body();
    b[field] = value;
    b.to_string()
}

fn without(field: &str) -> String {
    let mut b = event_body();
    b.as_object_mut().unwrap().remove(field);
    b.to_string()
}

#[tokio::test]
async fn malformed_and_invalid_event_bodies_are_400_with_the_field_named() {
    let app = spawn_app().await;
    let event = app.create_event(7, &event_body()).await;
    let j = "application/json";
    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "rest-invalid-body"),
        ("".into(), "rest-invalid-body"),
        ("[]".into(), "rest-invalid-body"),
        ("null".into(), "rest-invalid-body"),
        (without("event_name"), "rest-invalid-body"),
        (without("wikis"), "rest-invalid-body"),
        (with("event_name", json!(12)), "rest-invalid-body"),
        (with("wikis", json!("ptwiki")), "rest-invalid-body"),
        (
            with("track_contributions", json!("yes")),
            "rest-invalid-body",
        ),
        (with("surprise", json!(1)), "rest-invalid-body"),
        (
            with("event_name", json!("   ")),
            "campaignevents-error-invalid-name",
        ),
        (
            with("event_name", json!("x".repeat(256))),
            "campaignevents-error-invalid-name",
        ),
        (
            with("start_time", json!("yesterday")),
            "campaignevents-error-invalid-time",
        ),
        (
            with("end_time", json!("2026-11-31T00:00:00Z")),
            "campaignevents-error-invalid-time",
        ),
        (
            with("end_time", json!("9999-12-31T23:59:59-01:00")),
            "campaignevents-error-invalid-time",
        ),
        (
            with("start_time", json!("0001-01-01T00:30:00+01:00")),
            "campaignevents-error-invalid-time",
        ),
        (
            with("end_time", json!("2026-10-01T00:00:00Z")),
            "campaignevents-error-end-before-start",
        ),
        (
            with("end_time", json!("2026-11-01T00:00:00Z")),
            "campaignevents-error-end-before-start",
        ),
        (
            with("timezone", json!("Mars/Olympus_Mons")),
            "campaignevents-error-invalid-timezone",
        ),
        (
            with("timezone", json!("")),
            "campaignevents-error-invalid-timezone",
        ),
        (
            with("wikis", json!([])),
            "campaignevents-error-invalid-wikis",
        ),
        (
            with("wikis", json!(["Pt Wiki"])),
            "campaignevents-error-invalid-wikis",
        ),
        (
            with("wikis", json!(["*all*", "ptwiki"])),
            "campaignevents-error-invalid-wikis",
        ),
        (
            with(
                "wikis",
                json!((0..101).map(|i| format!("w{i}wiki")).collect::<Vec<_>>()),
            ),
            "campaignevents-error-invalid-wikis",
        ),
        (
            with("status", json!("maybe")),
            "campaignevents-error-invalid-status",
        ),
    ];
    for (body, key) in &cases {
        expect_rejected(&app, event, body, j, 400, key).await;
    }
    expect_rejected(
        &app,
        event,
        &event_body().to_string(),
        "text/plain",
        415,
        "rest-unsupported-content-type",
    )
    .await;

    let count: i64 = app.count("SELECT count(*) FROM ce_events", &[]).await;
    assert_eq!(count, 1, "only the setup event exists");
    let (_, ev) = app
        .get_json(&app.v0(&format!("/event_registration/{event}")))
        .await;
    assert_eq!(ev["name"], "Women in Red", "failed updates changed nothing");
}

#[tokio::test]
async fn field_errors_name_the_field() {
    let app = spawn_app().await;
    let resp = app
        .http
        .post(app.v0("/event_registration"))
        .bearer_auth(organizer_token(7))
        .json(&serde_json::from_str::<Value>(&with("timezone", json!("Europe/Lisbonn"))).unwrap())
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["name"], "timezone");
    assert!(body["messageTranslations"]["en"]
        .as_str()
        .unwrap()
        .contains("Europe/Lisbonn"));
}

#[tokio::test]
async fn an_oversized_body_is_413_before_it_is_read() {
    let app = spawn_app().await;
    let mut body = event_body();
    body["event_name"] = json!("x".repeat(70 * 1024));
    let resp = app
        .http
        .post(app.v0("/event_registration"))
        .bearer_auth(organizer_token(7))
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        (s, assert_error_shape(s, &v).as_str()),
        (413, "rest-request-body-too-large")
    );
}

#[tokio::test]
async fn bad_path_ids_are_400_not_404_or_500() {
    let app = spawn_app().await;
    for id in ["0", "-1", "abc", "1.5", "99999999999999999999", "%20"] {
        let (s, body) = app
            .get_json(&app.v0(&format!("/event_registration/{id}")))
            .await;
        assert_eq!(s, 400, "{id}: {body}");
        assert_eq!(
            assert_error_shape(s, &body),
            "paramvalidator-badinteger",
            "{id}"
        );
        assert_eq!(body["name"], "id");
        let resp = app
            .http
            .delete(app.v0(&format!("/event_registration/{id}")))
            .bearer_auth(organizer_token(7))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "DELETE {id}");
    }
}

#[tokio::test]
async fn with_a_wikis_file_only_known_wikis_are_accepted() {
    let file = write_wikis_file(
        "[wikis]\nptwiki = \"http://127.0.0.1:1/w/api.php\"\nenwiki = \"http://127.0.0.1:1/w/api.php\"\n",
    );
    let app = spawn_app_with(|s| s.common.wikis_file = Some(file.clone())).await;
    let event = app.create_event(7, &event_body()).await;
    expect_rejected(
        &app,
        event,
        &with("wikis", json!(["ptwiki", "dewiki"])),
        "application/json",
        400,
        "campaignevents-error-invalid-wikis",
    )
    .await;
    let _ = std::fs::remove_dir_all(file.parent().unwrap());
}

#[tokio::test]
async fn times_whose_year_in_utc_leaves_0001_to_9999_are_400() {
    let app = spawn_app().await;
    let event = app.create_event(7, &event_body()).await;
    // Each parses as RFC 3339, but in UTC its year is 10000 or 0.
    for (field, t) in [
        ("end_time", "9999-12-31T23:59:59-01:00"),
        ("start_time", "0001-01-01T00:00:00+01:00"),
    ] {
        expect_rejected(
            &app,
            event,
            &with(field, json!(t)),
            "application/json",
            400,
            "campaignevents-error-invalid-time",
        )
        .await;
    }
    assert_eq!(
        app.count("SELECT count(*) FROM ce_events", &[]).await,
        1,
        "nothing written"
    );
}

#[tokio::test]
async fn a_token_whose_name_is_no_user_name_is_400_and_writes_nothing() {
    let app = spawn_app().await;
    for name in ["Nul\u{0}Byte", "Two\nLines"] {
        let resp = app
            .http
            .post(app.v0("/event_registration"))
            .bearer_auth(sign_claims(
                json!({"sub": "7", "name": name, "roles": ["organizer"],
                                           "exp": chrono::Utc::now().timestamp() + 600}),
            ))
            .json(&event_body())
            .send()
            .await
            .unwrap();
        let s = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(
            (s, assert_error_shape(s, &v).as_str()),
            (400, "rest-invalid-user-name"),
            "{name:?}"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM ce_events", &[]).await, 0);
}

#[tokio::test]
async fn a_database_error_says_its_cause() {
    let client = admin().await;
    let e = client.query_one("SELECT 1/0", &[]).await.unwrap_err();
    let shown = campaign_events::infra::db::DbError::from(e).to_string();
    assert!(
        shown.contains("division by zero") && shown.contains("22012"),
        "{shown}"
    );
}
