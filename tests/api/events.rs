//! The events API happy paths: create, read, replace, soft-delete.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn an_organizer_creates_reads_updates_and_deletes_an_event() {
    let app = spawn_app().await;
    let id = app.create_event(7, &event_body()).await;

    let (s, ev) = app
        .get_json(&app.v0(&format!("/event_registration/{id}")))
        .await;
    assert_eq!(s, 200, "{ev}");
    assert_eq!(ev["id"], id);
    assert_eq!(ev["name"], "Women in Red");
    assert_eq!(ev["start_time"], "2026-11-01T00:00:00Z");
    assert_eq!(ev["end_time"], "2026-11-30T23:59:59Z");
    assert_eq!(ev["timezone"], "Europe/Lisbon");
    assert_eq!(ev["wikis"], json!(["enwiki", "ptwiki"]));
    assert_eq!(ev["track_contributions"], true);
    assert_eq!(ev["status"], "open");
    assert_eq!(
        ev["organizers"],
        json!([{"user_id": 7, "user_name": "Organizer7"}])
    );

    let mut changed = event_body();
    changed["event_name"] = json!("Women in Red — December");
    changed["start_time"] = json!("2026-12-01T01:00:00+01:00");
    changed["end_time"] = json!("2026-12-31T23:59:59Z");
    changed["wikis"] = json!(["*all*"]);
    changed["status"] = json!("closed");
    let resp = app
        .http
        .put(app.v0(&format!("/event_registration/{id}")))
        .bearer_auth(organizer_token(7))
        .json(&changed)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let (_, ev) = app
        .get_json(&app.v0(&format!("/event_registration/{id}")))
        .await;
    assert_eq!(ev["name"], "Women in Red — December");
    assert_eq!(
        ev["start_time"], "2026-12-01T00:00:00Z",
        "offsets are stored as UTC"
    );
    assert_eq!(ev["wikis"], json!(["*all*"]));
    assert_eq!(ev["status"], "closed");

    let resp = app
        .http
        .delete(app.v0(&format!("/event_registration/{id}")))
        .bearer_auth(organizer_token(7))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let (s, body) = app
        .get_json(&app.v0(&format!("/event_registration/{id}")))
        .await;
    assert_eq!(
        (s, assert_error_shape(s, &body).as_str()),
        (404, "campaignevents-rest-event-deleted")
    );

    // The row stays for reports: a soft delete.
    let row = app
        .db()
        .await
        .query_one(
            "SELECT deleted_at IS NOT NULL FROM ce_events WHERE event_id = $1",
            &[&(id as i64)],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));

    // Deleting or editing it again: 404 deleted, nothing changes.
    let resp = app
        .http
        .delete(app.v0(&format!("/event_registration/{id}")))
        .bearer_auth(organizer_token(7))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn an_event_may_be_created_already_under_way_and_defaults_apply() {
    let app = spawn_app().await;
    let now = chrono::Utc::now();
    let body = json!({
        "event_name": "Edit-a-thon",
        "start_time": (now - chrono::Duration::hours(1)).to_rfc3339(),
        "end_time": (now + chrono::Duration::hours(1)).to_rfc3339(),
        "timezone": "UTC",
        "wikis": ["*all*"]
    });
    let id = app.create_event(3, &body).await;
    let (_, ev) = app
        .get_json(&app.v0(&format!("/event_registration/{id}")))
        .await;
    assert_eq!(ev["status"], "open");
    assert_eq!(ev["track_contributions"], false);
    assert_eq!(ev["wikis"], json!(["*all*"]));
}

#[tokio::test]
async fn an_admin_may_edit_any_event_and_unknown_events_are_404() {
    let app = spawn_app().await;
    let id = app.create_event(7, &event_body()).await;
    let admin = token(99, "Admin", &["admin"]);
    let mut body = event_body();
    body["event_name"] = json!("Renamed by an admin");
    let resp = app
        .http
        .put(app.v0(&format!("/event_registration/{id}")))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);

    for (method, url) in [
        (reqwest::Method::GET, app.v0("/event_registration/999999")),
        (
            reqwest::Method::DELETE,
            app.v0("/event_registration/999999"),
        ),
    ] {
        let resp = app
            .http
            .request(method, &url)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        let s = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(
            (s, assert_error_shape(s, &body).as_str()),
            (404, "campaignevents-rest-event-not-found")
        );
    }
}
