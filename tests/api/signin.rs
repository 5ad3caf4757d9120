//! Signing in with the wiki: a real MediaWiki 1.39 (`crate::support::mediawiki`), users logged in
//! through its Action API as a browser would, and the service used with nothing but the
//! wiki's cookies and CSRF token.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::cache::ongoing_event;
use crate::helpers::*;
use crate::support::mediawiki::{TestWiki, WikiSession};

/// The `WIKIS_FILE` entry of `testwiki`, this wiki, its users allowed to sign in with cookies.
pub fn testwiki_entry(wiki: &TestWiki) -> String {
    format!(
        "[wikis.testwiki]\napi = \"{}\"\norigin = \"{}\"\nsessions = true\n",
        wiki.api_url(),
        wiki.origin()
    )
}

pub fn wikis_file(wiki: &TestWiki) -> PathBuf {
    write_wikis_file(&testwiki_entry(wiki))
}

/// A request with `session`'s cookies from the wiki's own pages (as the post-edit module
/// sends it), and the CSRF token in the body for writes.
pub fn from_wiki(
    app: &TestApp,
    wiki: &TestWiki,
    session: &WikiSession,
    method: reqwest::Method,
    url: &str,
) -> reqwest::RequestBuilder {
    app.http
        .request(method, url)
        .header("cookie", session.cookie_header())
        .header("origin", wiki.origin())
}

pub fn event(wikis: &[&str]) -> Value {
    let mut e = ongoing_event();
    e["wikis"] = json!(wikis);
    e
}

pub async fn answer(resp: reqwest::RequestBuilder) -> (u16, Value, reqwest::header::HeaderMap) {
    let resp = resp.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    )
}

#[tokio::test]
async fn a_wiki_user_registers_and_reads_with_the_wikis_cookies_one_wiki_call_per_session() {
    let wiki = TestWiki::start().await;
    let file = wikis_file(&wiki);
    let app = spawn_app_with(|s| s.common.wikis_file = Some(file)).await;

    // The organizer (the wiki gives their group the organizer right) creates an event.
    let organizer = wiki.login(&wiki.organizer).await;
    let mut body = event(&["testwiki"]);
    body["token"] = json!(organizer.csrf_token());
    let (s, v, h) = answer(
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
    assert_eq!(
        h.get("access-control-allow-origin").unwrap(),
        &wiki.origin()
    );
    assert_eq!(h.get("access-control-allow-credentials").unwrap(), "true");
    let id = v["id"].as_u64().unwrap();
    let (_, ev) = app
        .get_json(&app.v0(&format!("/event_registration/{id}")))
        .await;
    assert_eq!(ev["organizers"][0]["user_name"], wiki.organizer.name);

    // A participant registers (token in the header this time) and reads their events.
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
    assert_eq!((s, &v), (200, &json!({"modified": true})));
    // Rights come from the wiki: without the organizer right no event is created; the admin
    // group's members (sysop) are admins, others are not.
    let mut body = event(&["testwiki"]);
    body["token"] = json!(participant.csrf_token());
    let (s, v, _) = answer(
        from_wiki(
            &app,
            &wiki,
            &participant,
            reqwest::Method::POST,
            &app.v0("/event_registration"),
        )
        .json(&body),
    )
    .await;
    assert_eq!(
        (s, assert_error_shape(s, &v).as_str()),
        (403, "campaignevents-rest-createevent-permission-denied")
    );
    let dead_letters = app.v0("/dead_letters?wiki=testwiki");
    let (s, _, _) = answer(from_wiki(
        &app,
        &wiki,
        &participant,
        reqwest::Method::GET,
        &dead_letters,
    ))
    .await;
    assert_eq!(s, 403);
    for _ in 0..5 {
        let (s, v, _) = answer(from_wiki(
            &app,
            &wiki,
            &participant,
            reqwest::Method::GET,
            &app.url("/rest.php/v1/campaignevents/participant-events?ongoing=true&wiki=testwiki"),
        ))
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["events"][0]["id"], json!(id), "{v}");
    }
    // One userinfo call per session, however many requests it made.
    assert_eq!(wiki.userinfo_calls(), 2);
    let admin = wiki.login(&wiki.admin).await;
    let (s, v, _) = answer(from_wiki(
        &app,
        &wiki,
        &admin,
        reqwest::Method::GET,
        &dead_letters,
    ))
    .await;
    assert_eq!(s, 200, "{v}");

    // A new session's first requests, made at once, share one call.
    let again = wiki.login(&wiki.participant).await;
    let url = app.v0("/participant/self/events_for_edit?wiki=testwiki");
    let reads = (0..6).map(|_| answer(from_wiki(&app, &wiki, &again, reqwest::Method::GET, &url)));
    for (s, v, _) in futures::future::join_all(reads).await {
        assert_eq!(s, 200, "{v}");
        assert_eq!(v[0]["id"], json!(id), "{v}");
    }
    assert_eq!(wiki.userinfo_calls(), 4);

    // With the wiki gone, a known session is still answered from memory; a new one is a 503
    // (the wiki could not say), never a wrong 401.
    let stranger = wiki.login(&wiki.admin).await;
    drop(wiki);
    let (s, v, _) =
        answer(
            app.http
                .get(app.url(
                    "/rest.php/v1/campaignevents/participant-events?ongoing=true&wiki=testwiki",
                ))
                .header("cookie", participant.cookie_header()),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v, h) =
        answer(
            app.http
                .get(app.url(
                    "/rest.php/v1/campaignevents/participant-events?ongoing=true&wiki=testwiki",
                ))
                .header("cookie", stranger.cookie_header()),
        )
        .await;
    assert_eq!(
        (s, assert_error_shape(s, &v).as_str()),
        (503, "campaignevents-wiki-unavailable")
    );
    assert!(h.get("retry-after").is_some());
}

#[tokio::test]
async fn cookie_requests_need_their_wikis_origin_and_csrf_token_and_cors_answers_only_the_wiki() {
    let wiki = TestWiki::start().await;
    let file = wikis_file(&wiki);
    let app = spawn_app_with(|s| s.common.wikis_file = Some(file)).await;
    let id = app.create_event(1, &event(&["testwiki"])).await;
    let register = app.v0(&format!("/event_registration/{id}/participants/self"));
    let participant = wiki.login(&wiki.participant).await;

    // No cookie and no token: 401.
    let (s, v, _) = answer(
        app.http
            .put(&register)
            .header("origin", wiki.origin())
            .json(&json!({"is_private": false})),
    )
    .await;
    assert_eq!(
        (s, assert_error_shape(s, &v).as_str()),
        (401, "rest-unauthorized")
    );
    // The wiki's anonymous cookies are no one's: 401.
    let anonymous = WikiSession::anonymous(&wiki);
    let (s, v, _) = answer(
        app.http
            .get(app.v0("/participant/self/events_for_edit?wiki=testwiki"))
            .header("cookie", format!("{}; x=1", anonymous.cookie_header())),
    )
    .await;
    assert_eq!(
        (s, assert_error_shape(s, &v).as_str()),
        (401, "rest-unauthorized")
    );
    // ... but where anyone may read, they are an anonymous reader.
    let (s, v, _) = answer(
        app.http
            .get(app.v0(&format!(
                "/event_registration/{id}/contributions?wiki=testwiki"
            )))
            .header("cookie", format!("{}; x=1", anonymous.cookie_header())),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // A write without the CSRF token, or with a wrong one: 403 rest-badtoken, nothing written.
    for token in [None, Some("0123456789abcdef+\\")] {
        let mut req = from_wiki(&app, &wiki, &participant, reqwest::Method::PUT, &register);
        if let Some(t) = token {
            req = req.header("x-csrf-token", t);
        }
        let (s, v, _) = answer(req.json(&json!({"is_private": false}))).await;
        assert_eq!(
            (s, assert_error_shape(s, &v).as_str()),
            (403, "rest-badtoken"),
            "{token:?}"
        );
    }
    assert_eq!(
        app.count("SELECT count(*) FROM ce_participants", &[]).await,
        0
    );
    // The cookies sent from another origin, naming the wiki: 403, whatever the token. (Naming
    // no wiki, such a request is no one's: 401.)
    let (s, v, h) = answer(
        app.http
            .put(format!("{register}?wiki=testwiki"))
            .header("cookie", participant.cookie_header())
            .header("origin", "http://evil.example")
            .header("x-csrf-token", participant.csrf_token())
            .json(&json!({"is_private": false})),
    )
    .await;
    assert_eq!(
        (s, assert_error_shape(s, &v).as_str()),
        (403, "campaignevents-rest-bad-origin")
    );
    assert!(h.get("access-control-allow-origin").is_none());

    // A preflight from the wiki's origin is answered with what it may send; from another
    // origin it gets no CORS headers.
    let preflight = |origin: String| {
        app.http
            .request(reqwest::Method::OPTIONS, &register)
            .header("origin", origin)
            .header("access-control-request-method", "PUT")
            .header(
                "access-control-request-headers",
                "content-type,x-csrf-token",
            )
            .send()
    };
    let resp = preflight(wiki.origin()).await.unwrap();
    assert_eq!(resp.status(), 204);
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], wiki.origin());
    assert_eq!(h["access-control-allow-credentials"], "true");
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("PUT") && methods.contains("DELETE"),
        "{methods}"
    );
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("x-csrf-token") && allowed.contains("content-type"));
    let resp = preflight("http://evil.example".into()).await.unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());

    // With the right token the same write goes through; a bearer token needs neither.
    let (s, v, _) = answer(
        from_wiki(&app, &wiki, &participant, reqwest::Method::PUT, &register)
            .json(&json!({"is_private": false, "token": participant.csrf_token()})),
    )
    .await;
    assert_eq!((s, &v), (200, &json!({"modified": true})));
    let (s, _, _) = answer(
        app.http
            .put(&register)
            .bearer_auth(token(77, "Bob", &[]))
            .header("origin", "http://evil.example")
            .json(&json!({"is_private": false})),
    )
    .await;
    assert_eq!(s, 200);
    // The token was checked once per session, then remembered.
    assert_eq!(wiki.checktoken_calls(), 2);
}

/// The test key pair's files (`tests/fixtures`): the wiki signs with the private half, the
/// service verifies with the public one.
fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name)
}

/// A wiki whose JWTs (issuer: its origin, as MediaWiki's canonical server) the service verifies.
fn wikis_file_with_jwt(wiki: &TestWiki) -> PathBuf {
    write_wikis_file(&format!(
        "{}jwt_issuer = \"{}\"\njwt_public_key_file = \"{}\"\n",
        testwiki_entry(wiki),
        wiki.origin(),
        fixture("rs256-test-public.pem").display()
    ))
}

/// Signs `claims` as MediaWiki does: RS256, header `{"typ":"JWT","alg":"RS256"}`, no `kid`.
fn mw_jwt(claims: &Value, private_pem: &[u8]) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.typ = Some("JWT".into());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(private_pem).unwrap(),
    )
    .unwrap()
}

/// Unix time with microseconds, as Extension:OAuth writes `iat`, `nbf` and `exp`.
fn now_f() -> f64 {
    chrono::Utc::now().timestamp_micros() as f64 / 1e6
}

/// An access token shaped as Extension:OAuth's `AccessTokenEntity` builds it.
fn oauth_claims(iss: &str, sub: &str, exp_in: f64) -> Value {
    let now = now_f();
    json!({"aud": "0123456789abcdef0123456789abcdef", "jti": "5f1e2d3c4b5a69788796a5b4c3d2e1f0",
           "iat": now, "nbf": now, "exp": now + exp_in, "sub": sub, "iss": iss,
           "scopes": ["basic", "editpage"]})
}

/// The `sessionJwt` cookie's claims as MediaWiki core writes them: no `exp`, a soft expiry.
fn session_claims(iss: &str, sub: &str, sxp_in: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": iss, "sub": sub, "iat": now, "jti": "q83vEjRWeJCrze8SNFZ4kA==",
           "sxp": now + sxp_in})
}

#[tokio::test]
async fn mediawikis_own_jwts_sign_in_and_every_wrong_one_is_401() {
    let wiki = TestWiki::start().await;
    let file = wikis_file_with_jwt(&wiki);
    let app = spawn_app_with(|s| s.common.wikis_file = Some(file)).await;
    let key = std::fs::read(fixture("rs256-test-private.pem")).unwrap();
    let iss = wiki.origin();
    let id_of = |info: Value| info["query"]["userinfo"]["id"].as_u64().unwrap();
    let organizer_id = id_of(wiki.login(&wiki.organizer).await.userinfo().await);
    let participant_id = id_of(wiki.login(&wiki.participant).await.userinfo().await);

    // An OAuth access token of the organizer creates an event: the name, and the right to
    // create, come from the wiki's API.
    let bearer = mw_jwt(
        &oauth_claims(&iss, &format!("mw:local:my_wiki:{organizer_id}"), 3600.0),
        &key,
    );
    let resp = app
        .http
        .post(app.v0("/event_registration"))
        .bearer_auth(&bearer)
        .json(&event(&["testwiki"]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let id = resp.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    let (_, ev) = app
        .get_json(&app.v0(&format!("/event_registration/{id}")))
        .await;
    assert_eq!(ev["organizers"][0]["user_name"], wiki.organizer.name);
    assert_eq!(ev["organizers"][0]["user_id"], json!(organizer_id));

    // The participant registers with an owner-only token (a plain decimal subject), and reads
    // with the session cookie of MediaWiki 1.45+: no call to the wiki's userinfo.
    let owner_only = mw_jwt(
        &oauth_claims(&iss, &participant_id.to_string(), 3600.0),
        &key,
    );
    let resp = app
        .http
        .put(app.v0(&format!("/event_registration/{id}/participants/self")))
        .bearer_auth(&owner_only)
        .json(&json!({"is_private": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let userinfo_before = wiki.userinfo_calls();
    let cookie = mw_jwt(
        &session_claims(&iss, &format!("mw:local:my_wiki:{participant_id}"), 3600),
        &key,
    );
    let read = app.url("/rest.php/v1/campaignevents/participant-events?ongoing=true&wiki=testwiki");
    let (s, v, _) = answer(
        app.http
            .get(&read)
            .header("cookie", format!("sessionJwt={cookie}; other=1")),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["events"][0]["id"], json!(id), "{v}");
    assert_eq!(wiki.userinfo_calls(), userinfo_before);

    // Every way to get one wrong is a 401.
    let other_key = std::env::temp_dir().join(unique_name("other-key"));
    let made = std::process::Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&other_key)
        .arg("2048")
        .output()
        .unwrap();
    assert!(made.status.success());
    let other_key_pem = std::fs::read(&other_key).unwrap();
    let _ = std::fs::remove_file(&other_key);
    let sub = format!("mw:local:my_wiki:{participant_id}");
    let public_pem = std::fs::read(fixture("rs256-test-public.pem")).unwrap();
    let hs256_with_public_key = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &oauth_claims(&iss, &sub, 3600.0),
        &jsonwebtoken::EncodingKey::from_secret(&public_pem),
    )
    .unwrap();
    let unsigned = format!(
        "{}.{}.",
        base64url(br#"{"typ":"JWT","alg":"none"}"#),
        base64url(oauth_claims(&iss, &sub, 3600.0).to_string().as_bytes())
    );
    for (what, bearer) in [
        (
            "another key",
            mw_jwt(&oauth_claims(&iss, &sub, 3600.0), &other_key_pem),
        ),
        (
            "another issuer",
            mw_jwt(&oauth_claims("https://meta.example", &sub, 3600.0), &key),
        ),
        (
            "expired exp",
            mw_jwt(&oauth_claims(&iss, &sub, -120.0), &key),
        ),
        (
            "the anonymous subject",
            mw_jwt(&oauth_claims(&iss, "mw:anon", 3600.0), &key),
        ),
        ("alg none", unsigned),
        ("HS256 with the public key as secret", hs256_with_public_key),
    ] {
        let (s, v, _) = answer(app.http.get(&read).bearer_auth(&bearer)).await;
        assert_eq!(
            (s, assert_error_shape(s, &v).as_str()),
            (401, "rest-unauthorized"),
            "{what}: {v}"
        );
    }
    // A session cookie past its soft expiry (plus MediaWiki's minute), or with no expiry.
    let stale = mw_jwt(&session_claims(&iss, &sub, -120), &key);
    let mut no_expiry = session_claims(&iss, &sub, 0);
    no_expiry.as_object_mut().unwrap().remove("sxp");
    for cookie in [stale, mw_jwt(&no_expiry, &key)] {
        let (s, v, _) = answer(
            app.http
                .get(&read)
                .header("cookie", format!("sessionJwt={cookie}")),
        )
        .await;
        assert_eq!(
            (s, assert_error_shape(s, &v).as_str()),
            (401, "rest-unauthorized"),
            "{v}"
        );
    }
}

/// Base64url without padding, as JWTs are written (for a token no library would sign).
fn base64url(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}
