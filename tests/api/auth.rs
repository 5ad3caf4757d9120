//! Authorisation: missing, forged and expired tokens are 401; the wrong user is 403.

use campaign_events::gateway::auth;
use campaign_events_actors::domain::UserId;
use serde_json::{json, Value};

use crate::helpers::*;

async fn create_with(app: &TestApp, authorization: Option<String>) -> (u16, Value) {
    let mut req = app
        .http
        .post(app.v0("/event_registration"))
        .json(&event_body());
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn missing_malformed_forged_and_expired_tokens_are_401() {
    let app = spawn_app().await;
    let forged = auth::mint(
        "not-the-secret",
        UserId::new(7).unwrap(),
        "Mallory",
        vec!["organizer".into()],
        600,
    )
    .unwrap();
    let expired = sign_claims(serde_json::json!({"sub": "7", "name": "Alice",
        "roles": ["organizer"], "exp": chrono::Utc::now().timestamp() - 3600}));
    for (what, header) in [
        ("no token", None),
        ("not bearer", Some("Basic dXNlcjpwYXNz".to_owned())),
        ("garbage", Some("Bearer not.a.jwt".to_owned())),
        ("bad signature", Some(format!("Bearer {forged}"))),
        ("expired", Some(format!("Bearer {expired}"))),
    ] {
        let (s, body) = create_with(&app, header).await;
        assert_eq!(s, 401, "{what}: {body}");
        assert_eq!(assert_error_shape(s, &body), "rest-unauthorized", "{what}");
    }
    let count: i64 = app.count("SELECT count(*) FROM ce_events", &[]).await;
    assert_eq!(count, 0, "nothing was written");
}

#[tokio::test]
async fn a_participant_cannot_create_or_edit_someone_elses_event() {
    let app = spawn_app().await;
    let participant = token(50, "Participant", &[]);
    let (s, body) = create_with(&app, Some(format!("Bearer {participant}"))).await;
    assert_eq!(
        (s, assert_error_shape(s, &body).as_str()),
        (403, "campaignevents-rest-createevent-permission-denied")
    );

    let id = app.create_event(7, &event_body()).await;
    // Another organizer is still not an organizer of *this* event.
    for tok in [participant, organizer_token(8)] {
        let resp = app
            .http
            .put(app.v0(&format!("/event_registration/{id}")))
            .bearer_auth(&tok)
            .json(&json!({"event_name": "Hijacked", "start_time": "2026-11-01T00:00:00Z",
                          "end_time": "2026-11-30T00:00:00Z", "timezone": "UTC", "wikis": ["*all*"]}))
            .send()
            .await
            .unwrap();
        let s = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            (s, assert_error_shape(s, &body).as_str()),
            (403, "campaignevents-rest-edit-permission-denied")
        );
        let resp = app
            .http
            .delete(app.v0(&format!("/event_registration/{id}")))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);
    }
    let (_, ev) = app
        .get_json(&app.v0(&format!("/event_registration/{id}")))
        .await;
    assert_eq!(ev["name"], "Women in Red", "unchanged");
}

#[tokio::test]
async fn the_token_command_prints_a_jwt_the_service_accepts() {
    let app = spawn_app().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_campaign-events"))
        .args([
            "token",
            "--user-id",
            "42",
            "--name",
            "Alice",
            "--organizer",
            "--ttl",
            "600",
        ])
        .env_remove("JWT_HS256_SECRET")
        .env_remove("JWT_RS256_PUBLIC_KEY_FILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tok = String::from_utf8(out.stdout).unwrap();
    let tok = tok.trim();
    assert_eq!(tok.split('.').count(), 3, "the JWT alone on stdout");
    let (s, body) = create_with(&app, Some(format!("Bearer {tok}"))).await;
    assert_eq!(s, 201, "{body}");
}

#[tokio::test]
async fn rs256_tokens_verify_against_the_configured_public_key() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let public = std::path::PathBuf::from(format!("{dir}/rs256-test-public.pem"));
    let app = spawn_app_with(|s| s.auth.jwt_rs256_public_key_file = Some(public)).await;
    let private = std::fs::read(format!("{dir}/rs256-test-private.pem")).unwrap();
    let claims = auth::Claims {
        sub: "7".into(),
        name: "Alice".into(),
        exp: chrono::Utc::now().timestamp() + 600,
        roles: vec!["organizer".into()],
        iat: None,
    };
    let rs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&private).unwrap(),
    )
    .unwrap();
    let (s, body) = create_with(&app, Some(format!("Bearer {rs}"))).await;
    assert_eq!(s, 201, "{body}");
    // An HS256 token (even one signed with the dev secret) is refused: the algorithm is RS256.
    let (s, body) = create_with(&app, Some(format!("Bearer {}", organizer_token(7)))).await;
    assert_eq!(
        (s, assert_error_shape(s, &body).as_str()),
        (401, "rest-unauthorized")
    );
}
