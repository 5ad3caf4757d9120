//! The ongoing-events cache end to end: the feature's BDD scenarios, registrations over REST
//! and NATS, restarts, the read API (ETag, filter, parameters) and the database baseline.

use std::time::Duration;

use campaign_events::infra::config::CacheMode;
use campaign_events::registration::nats::{self as registrations, Command, Kind};
use campaign_events_actors::domain::UserId;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::helpers::*;

pub fn event_between(start: DateTime<Utc>, end: DateTime<Utc>, wikis: &[&str]) -> Value {
    json!({
        "event_name": "Edit-a-thon",
        "start_time": start.to_rfc3339(),
        "end_time": end.to_rfc3339(),
        "timezone": "Europe/Lisbon",
        "wikis": wikis,
        "track_contributions": true,
    })
}

/// An event from `from` to `to` hours away from `now` (negative: before).
pub fn event_hours(now: DateTime<Utc>, from: i64, to: i64, wikis: &[&str]) -> Value {
    event_between(
        now + chrono::Duration::hours(from),
        now + chrono::Duration::hours(to),
        wikis,
    )
}

pub fn ongoing_event() -> Value {
    let now = Utc::now();
    event_hours(now, -1, 2, &["ptwiki"])
}

fn user_token(user: u64) -> String {
    token(user, &format!("User{user}"), &[])
}

pub async fn register(app: &TestApp, event: u64, user: u64) -> (u16, Value) {
    let resp = app
        .http
        .put(app.v0(&format!("/event_registration/{event}/participants/self")))
        .bearer_auth(user_token(user))
        .json(&json!({"is_private": false}))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

pub async fn unregister(app: &TestApp, event: u64, user: u64) -> (u16, Value) {
    let resp = app
        .http
        .delete(app.v0(&format!("/event_registration/{event}/participants/self")))
        .bearer_auth(user_token(user))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// The ids the post-edit read answers for `user`.
pub async fn ongoing_ids(app: &TestApp, user: u64) -> Vec<u64> {
    let (s, body) = read(app, user, "?ongoing=true").await;
    assert_eq!(s, 200, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect()
}

async fn read(app: &TestApp, user: u64, query: &str) -> (u16, Value) {
    let resp = app
        .http
        .get(app.url(&format!(
            "/rest.php/v1/campaignevents/participant-events{query}"
        )))
        .bearer_auth(user_token(user))
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

/// What Postgres says the user's ongoing events are, now.
pub async fn db_ongoing_ids(app: &TestApp, user: u64) -> Vec<u64> {
    campaign_events::cache::store::ongoing_events_of(
        &app.state.ops.pool,
        UserId::new(user).unwrap(),
        app.state.ops.clock.now(),
    )
    .await
    .unwrap()
    .iter()
    .map(|f| f.id.get())
    .collect()
}

pub fn has_actor(app: &TestApp, user: u64) -> bool {
    app.state
        .ops
        .cache
        .registry()
        .lookup(UserId::new(user).unwrap())
        .is_some()
}

pub async fn publish_command(app: &TestApp, cmd: &Command) {
    let js = campaign_events::infra::nats::jetstream(
        campaign_events::infra::nats::connect(NATS_URL)
            .await
            .unwrap(),
    );
    registrations::publish(&js, &app.names(), cmd)
        .await
        .unwrap();
}

/// Waits until the durable registrations consumer has handled everything published.
pub async fn registrations_drained(app: &TestApp) {
    let js = campaign_events::infra::nats::jetstream(
        campaign_events::infra::nats::connect(NATS_URL)
            .await
            .unwrap(),
    );
    let names = app.names();
    eventually(
        "registrations drained",
        // Generous: hundreds of commands, two at a time per instance, on a busy machine.
        Duration::from_secs(60),
        async || {
            let mut s = js.get_stream(names.registrations_stream()).await.unwrap();
            s.info().await.unwrap().state.messages == 0
        },
    )
    .await;
}

pub fn cmd(kind: Kind, event: u64, user: u64, at: DateTime<Utc>) -> Command {
    Command {
        kind,
        event_id: event,
        user_id: user,
        private: false,
        at: at.timestamp_millis(),
    }
}

#[tokio::test]
async fn bdd_registering_for_an_ongoing_event_puts_the_user_in_the_cache_at_once() {
    let app = spawn_app().await;
    let event = app.create_event(1, &ongoing_event()).await;
    assert_eq!(ongoing_ids(&app, 42).await, Vec::<u64>::new());
    assert!(!has_actor(&app, 42), "a non-participant has no actor");

    let (s, body) = register(&app, event, 42).await;
    assert_eq!((s, body["modified"].as_bool()), (200, Some(true)));
    // No waiting, no echo: the very next read is answered by the user's actor.
    let hits = app
        .state
        .ops
        .cache
        .stats()
        .lookups(campaign_events_actors::Lookup::Hit);
    assert_eq!(ongoing_ids(&app, 42).await, vec![event]);
    assert!(has_actor(&app, 42));
    assert_eq!(
        app.state
            .ops
            .cache
            .stats()
            .lookups(campaign_events_actors::Lookup::Hit),
        hits + 1
    );

    // Registering again changes nothing.
    let (s, body) = register(&app, event, 42).await;
    assert_eq!((s, body["modified"].as_bool()), (200, Some(false)));
}

#[tokio::test]
async fn bdd_unregistering_removes_the_event_and_the_actor_stops_with_the_last_one() {
    let app = spawn_app().await;
    let a = app.create_event(1, &ongoing_event()).await;
    let b = app.create_event(1, &ongoing_event()).await;
    register(&app, a, 7).await;
    register(&app, b, 7).await;
    assert_eq!(ongoing_ids(&app, 7).await, vec![a, b]);

    let (s, body) = unregister(&app, a, 7).await;
    assert_eq!((s, body["modified"].as_bool()), (200, Some(true)));
    assert_eq!(ongoing_ids(&app, 7).await, vec![b]);
    assert!(has_actor(&app, 7), "still a participant of b");

    unregister(&app, b, 7).await;
    assert_eq!(ongoing_ids(&app, 7).await, Vec::<u64>::new());
    eventually("the actor stops", Duration::from_secs(2), async || {
        !has_actor(&app, 7)
    })
    .await;

    // Unregistering when not registered: not modified.
    let (s, body) = unregister(&app, b, 7).await;
    assert_eq!((s, body["modified"].as_bool()), (200, Some(false)));
    // Re-registering reuses the row.
    register(&app, a, 7).await;
    assert_eq!(ongoing_ids(&app, 7).await, vec![a]);
    let rows: i64 = app
        .count(
            "SELECT count(*) FROM ce_participants WHERE user_id = 7 AND event_id = $1",
            &[&(a as i64)],
        )
        .await;
    assert_eq!(rows, 1);
}

/// Moves an event's window (its organizer, user 1, edits it), keeping its other facts.
async fn move_window(app: &TestApp, event: u64, start: DateTime<Utc>, end: DateTime<Utc>) {
    let resp = app
        .http
        .put(app.v0(&format!("/event_registration/{event}")))
        .bearer_auth(organizer_token(1))
        .json(&event_between(start, end, &["ptwiki"]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
}

// The transitions below are the actors' and the supervisor's own timers at work: tests run
// the sweep only by hand (its interval is an hour), so nothing else can make them happen.
// The event is moved to start or end two seconds from now only once the setup is done, so a
// busy machine cannot make the setup miss the instant; no test asserts how late it came.

#[tokio::test]
async fn bdd_an_event_that_ends_leaves_every_entry_by_the_actors_own_timer() {
    let app = spawn_app().await;
    let now = Utc::now();
    let short = app.create_event(1, &ongoing_event()).await;
    let long = app.create_event(1, &ongoing_event()).await;
    for user in [11, 12] {
        assert_eq!(register(&app, short, user).await.0, 200);
    }
    assert_eq!(register(&app, long, 12).await.0, 200);
    assert_eq!(ongoing_ids(&app, 11).await, vec![short]);

    // Whole seconds, as event times are kept.
    let end = DateTime::from_timestamp(Utc::now().timestamp() + 2, 0).unwrap();
    move_window(&app, short, now - chrono::Duration::hours(1), end).await;
    eventually(
        "user 11's actor stops",
        Duration::from_secs(30),
        async || !has_actor(&app, 11),
    )
    .await;
    assert!(Utc::now() >= end, "left before the end");
    eventually(
        "user 12 keeps only the long event",
        Duration::from_secs(10),
        async || ongoing_ids(&app, 12).await == vec![long],
    )
    .await;
    assert!(has_actor(&app, 12));
    assert_eq!(app.state.ops.cache.stats().drift(), 0);
}

#[tokio::test]
async fn bdd_an_event_that_starts_brings_its_participants_in_by_the_supervisors_timer() {
    let app = spawn_app().await;
    let now = Utc::now();
    let later = now + chrono::Duration::hours(2);
    let event = app
        .create_event(
            1,
            &event_between(later, later + chrono::Duration::hours(1), &["ptwiki"]),
        )
        .await;
    assert_eq!(register(&app, event, 21).await.0, 200);
    assert_eq!(register(&app, event, 22).await.0, 200);
    assert_eq!(
        ongoing_ids(&app, 21).await,
        Vec::<u64>::new(),
        "not started yet"
    );
    assert!(!has_actor(&app, 21), "no actor before the start");

    // Whole seconds, as event times are kept.
    let start = DateTime::from_timestamp(Utc::now().timestamp() + 2, 0).unwrap();
    move_window(&app, event, start, now + chrono::Duration::hours(1)).await;
    eventually("participants appear", Duration::from_secs(30), async || {
        has_actor(&app, 21) && has_actor(&app, 22)
    })
    .await;
    assert!(Utc::now() >= start, "brought in before the start");
    assert_eq!(ongoing_ids(&app, 21).await, vec![event]);
    assert_eq!(ongoing_ids(&app, 22).await, vec![event]);
}

#[tokio::test]
async fn bdd_the_sweep_removes_expired_events_and_empty_participants() {
    let clock = campaign_events_actors::ManualClock::new(Utc::now());
    let app = spawn_app_with_clock(&clock).await;
    let now = clock.now_utc();
    let a = app
        .create_event(1, &event_hours(now, -1, 1, &["ptwiki"]))
        .await;
    let b = app
        .create_event(1, &event_hours(now, -1, 5, &["ptwiki"]))
        .await;
    register(&app, a, 31).await;
    register(&app, a, 32).await;
    register(&app, b, 32).await;
    let healthy = app.state.ops.cache.sweep().await.unwrap();
    assert_eq!(healthy.drift, 0, "a healthy run has no drift");
    assert_eq!(healthy.events, 2);

    clock.advance(chrono::Duration::hours(2));
    let report = app.state.ops.cache.sweep().await.unwrap();
    assert_eq!(report.drift, 0);
    assert_eq!(report.events, 1, "the expired event left the directory");
    eventually(
        "the empty participant is gone",
        Duration::from_secs(2),
        async || !has_actor(&app, 31),
    )
    .await;
    assert_eq!(ongoing_ids(&app, 32).await, vec![b]);
    assert_eq!(app.state.ops.cache.stats().drift(), 0);
}

#[tokio::test]
async fn registrations_over_rest_are_refused_for_past_deleted_closed_and_unknown_events() {
    let app = spawn_app().await;
    let now = Utc::now();
    let past = app
        .create_event(
            1,
            &event_between(
                now - chrono::Duration::days(3),
                now - chrono::Duration::days(2),
                &["ptwiki"],
            ),
        )
        .await;
    let mut closed = ongoing_event();
    closed["status"] = json!("closed");
    let closed = app.create_event(1, &closed).await;
    let deleted = app.create_event(1, &ongoing_event()).await;
    app.http
        .delete(app.v0(&format!("/event_registration/{deleted}")))
        .bearer_auth(organizer_token(1))
        .send()
        .await
        .unwrap();
    for (event, status, key) in [
        (past, 400, "campaignevents-register-event-past"),
        (closed, 400, "campaignevents-register-event-not-open"),
        (deleted, 400, "campaignevents-register-registration-deleted"),
        (987654, 404, "campaignevents-rest-event-not-found"),
    ] {
        let (s, body) = register(&app, event, 5).await;
        assert_eq!(s, status, "{body}");
        assert_eq!(assert_error_shape(s, &body), key);
    }
    let (s, body) = register(&app, 0, 5).await;
    assert_eq!(
        (s, assert_error_shape(s, &body).as_str()),
        (400, "paramvalidator-badinteger")
    );
    let rows: i64 = app.count("SELECT count(*) FROM ce_participants", &[]).await;
    assert_eq!(rows, 0, "nothing half-written");
}

#[tokio::test]
async fn registrations_over_nats_apply_like_rest_and_ignore_older_commands() {
    let app = spawn_app().await;
    let event = app.create_event(1, &ongoing_event()).await;
    let t = Utc::now();
    // MessagePack, as the CLI and MediaWiki publish.
    publish_command(&app, &cmd(Kind::Registered, event, 51, t)).await;
    registrations_drained(&app).await;
    assert_eq!(ongoing_ids(&app, 51).await, vec![event]);

    // An older unregistration arriving late changes nothing.
    publish_command(
        &app,
        &cmd(
            Kind::Unregistered,
            event,
            51,
            t - chrono::Duration::seconds(5),
        ),
    )
    .await;
    // The same command twice (a re-publish with the same Nats-Msg-Id) is stored once.
    publish_command(&app, &cmd(Kind::Registered, event, 51, t)).await;
    registrations_drained(&app).await;
    assert_eq!(ongoing_ids(&app, 51).await, vec![event]);

    // JSON, by header.
    let nc = campaign_events::infra::nats::connect(NATS_URL)
        .await
        .unwrap();
    let js = campaign_events::infra::nats::jetstream(nc);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Content-Type", "application/json");
    let body = json!({"kind": "unregistered", "event_id": event, "user_id": 51,
                      "at": (t + chrono::Duration::seconds(1)).timestamp_millis()});
    js.publish_with_headers(
        app.names().registration_subject(event),
        headers,
        body.to_string().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    registrations_drained(&app).await;
    assert_eq!(ongoing_ids(&app, 51).await, Vec::<u64>::new());
    assert_eq!(db_ongoing_ids(&app, 51).await, Vec::<u64>::new());
}

#[tokio::test]
async fn malformed_and_invalid_nats_commands_are_terminated_and_recorded() {
    let app = spawn_app().await;
    let event = app.create_event(1, &ongoing_event()).await;
    let now = Utc::now();
    let past = app
        .create_event(
            1,
            &event_between(
                now - chrono::Duration::days(3),
                now - chrono::Duration::days(2),
                &["ptwiki"],
            ),
        )
        .await;
    let js = campaign_events::infra::nats::jetstream(
        campaign_events::infra::nats::connect(NATS_URL)
            .await
            .unwrap(),
    );
    let names = app.names();
    let raw = |subject: String, payload: Vec<u8>| {
        let js = js.clone();
        async move {
            js.publish(subject, payload.into())
                .await
                .unwrap()
                .await
                .unwrap()
        }
    };
    raw(
        names.registration_subject(event),
        b"\x00\xffgarbage".to_vec(),
    )
    .await;
    raw(
        names.registration_subject(event),
        rmp_serde::to_vec_named(&json!({"kind": "registered"})).unwrap(),
    )
    .await;
    raw(
        names.registration_subject(event + 1),
        rmp_serde::to_vec_named(&cmd(Kind::Registered, event, 1, now)).unwrap(),
    )
    .await;
    raw(
        names.registration_subject(event),
        rmp_serde::to_vec_named(&cmd(Kind::Registered, event, 0, now)).unwrap(),
    )
    .await;
    raw(
        names.registration_subject(past),
        rmp_serde::to_vec_named(&cmd(Kind::Registered, past, 1, now)).unwrap(),
    )
    .await;
    raw(
        names.registration_subject(987654),
        rmp_serde::to_vec_named(&cmd(Kind::Registered, 987654, 1, now)).unwrap(),
    )
    .await;
    raw(
        names.registration_subject(event),
        rmp_serde::to_vec_named(&cmd(
            Kind::Registered,
            event,
            1,
            now + chrono::Duration::days(1),
        ))
        .unwrap(),
    )
    .await;
    // serde quotes an unknown variant as sent, NUL included, and Postgres' text refuses NUL:
    // the reason is cleaned, recorded, and the command terminated (not retried forever).
    raw(
        names.registration_subject(event),
        rmp_serde::to_vec_named(
            &json!({"kind": "regis\u{0}tered", "event_id": event, "user_id": 1, "at": 0}),
        )
        .unwrap(),
    )
    .await;
    // A time Postgres cannot hold (the year 7537 BC): rejected at once, not retried for
    // minutes as a database error.
    raw(
        names.registration_subject(event),
        rmp_serde::to_vec_named(
            &json!({"kind": "registered", "event_id": event, "user_id": 1,
                    "at": -300_000_000_000_000_i64}),
        )
        .unwrap(),
    )
    .await;
    registrations_drained(&app).await;

    let rows = app
        .db()
        .await
        .query(
            "SELECT reason FROM ce_rejected_commands ORDER BY stream_seq",
            &[],
        )
        .await
        .unwrap();
    let reasons: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(reasons.len(), 9, "{reasons:?}");
    assert!(reasons[0].contains("malformed MessagePack"), "{reasons:?}");
    assert!(reasons[1].contains("malformed"), "{reasons:?}");
    assert!(reasons[2].contains("does not match"), "{reasons:?}");
    assert!(reasons[3].contains("user_id"), "{reasons:?}");
    assert_eq!(reasons[4], "event-past");
    assert_eq!(reasons[5], "event-not-found");
    assert!(reasons[6].contains("future"), "{reasons:?}");
    assert!(
        reasons[7].contains("unknown variant") && reasons[7].contains("regis\u{FFFD}tered"),
        "{reasons:?}"
    );
    assert!(reasons[8].contains("0001–9999"), "{reasons:?}");
    let participants: i64 = app.count("SELECT count(*) FROM ce_participants", &[]).await;
    assert_eq!(participants, 0);
}

/// A registration and an unregistration stamped with the same instant: the unregistration
/// wins in either order of handling, so every instance ends the same.
#[tokio::test]
async fn of_two_commands_of_the_same_instant_the_unregistration_wins() {
    let app = spawn_app().await;
    let event = app.create_event(1, &ongoing_event()).await;
    let t = Utc::now() - chrono::Duration::seconds(1);
    publish_command(&app, &cmd(Kind::Registered, event, 81, t)).await;
    publish_command(&app, &cmd(Kind::Unregistered, event, 81, t)).await;
    registrations_drained(&app).await;
    publish_command(&app, &cmd(Kind::Unregistered, event, 82, t)).await;
    publish_command(&app, &cmd(Kind::Registered, event, 82, t)).await;
    registrations_drained(&app).await;
    for user in [81, 82] {
        assert_eq!(
            db_ongoing_ids(&app, user).await,
            Vec::<u64>::new(),
            "user {user}"
        );
        assert_eq!(
            ongoing_ids(&app, user).await,
            Vec::<u64>::new(),
            "user {user}"
        );
    }
}

#[tokio::test]
async fn after_a_restart_with_changes_made_while_down_the_cache_matches_the_database() {
    let app = spawn_app().await;
    let a = app.create_event(1, &ongoing_event()).await;
    let b = app.create_event(1, &ongoing_event()).await;
    register(&app, a, 61).await;
    register(&app, a, 62).await;
    register(&app, b, 62).await;
    let settings = app.stop_keeping_data().await;

    // While it is down: a direct database change, and NATS commands waiting in the stream.
    let db = tokio_postgres::connect(&settings.common.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(db.1);
    db.0.execute(
        "UPDATE ce_participants SET unregistered_at = now(), version = nextval('ce_change_version_seq') \
         WHERE user_id = 61",
        &[],
    )
    .await
    .unwrap();
    let js = campaign_events::infra::nats::jetstream(
        campaign_events::infra::nats::connect(NATS_URL)
            .await
            .unwrap(),
    );
    let names = campaign_events::infra::nats::Names::new(&settings.common.stream_prefix);
    let now = Utc::now();
    registrations::publish(&js, &names, &cmd(Kind::Registered, b, 63, now))
        .await
        .unwrap();
    registrations::publish(&js, &names, &cmd(Kind::Unregistered, b, 62, now))
        .await
        .unwrap();

    let app = start(
        settings,
        std::sync::Arc::new(campaign_events_actors::SystemClock),
    )
    .await;
    registrations_drained(&app).await;
    for user in [61, 62, 63] {
        assert_eq!(
            ongoing_ids(&app, user).await,
            db_ongoing_ids(&app, user).await,
            "user {user}"
        );
    }
    assert_eq!(ongoing_ids(&app, 61).await, Vec::<u64>::new());
    assert_eq!(ongoing_ids(&app, 62).await, vec![a]);
    assert_eq!(ongoing_ids(&app, 63).await, vec![b]);
    assert_eq!(app.state.ops.cache.sweep().await.unwrap().drift, 0);
}

/// Finding 5 of issue 10, end to end: a change forged on this instance's change subject (a
/// user who never registered, a version above any real one) is taken by the cache; the sweep
/// takes it out again, counts it as drift on `/metrics`, and the user's real registration
/// afterwards is not mistaken for an older change.
#[tokio::test]
async fn a_forged_change_is_undone_by_the_sweep_and_counted_as_drift() {
    use campaign_events::cache::changes::{publish_message, ChangeMessage};
    let app = spawn_app().await;
    let event = app.create_event(1, &ongoing_event()).await;
    register(&app, event, 82).await;
    assert_eq!(app.state.ops.cache.sweep().await.unwrap().drift, 0);

    let forged = ChangeMessage::Participant {
        event_id: event,
        user_id: 81,
        active: true,
        version: 1 << 60,
        prompt_hidden: false,
    };
    publish_message(&app.state.ops.jetstream, &app.names(), &forged)
        .await
        .unwrap();
    eventually(
        "the forged membership is cached",
        Duration::from_secs(10),
        async || ongoing_ids(&app, 81).await == vec![event],
    )
    .await;

    let report = app.state.ops.cache.sweep().await.unwrap();
    assert_eq!(report.drift, 1, "the forged membership is drift");
    assert_eq!(ongoing_ids(&app, 81).await, Vec::<u64>::new());
    assert_eq!(ongoing_ids(&app, 82).await, vec![event]);
    assert_eq!(
        app.metric("ce_cache_reconcile_drift_total").await,
        Some(1.0)
    );

    register(&app, event, 81).await;
    assert_eq!(ongoing_ids(&app, 81).await, vec![event]);
    assert_eq!(app.state.ops.cache.sweep().await.unwrap().drift, 0);
}

#[tokio::test]
async fn reads_carry_a_strong_etag_and_answer_304_to_a_matching_if_none_match() {
    let app = spawn_app().await;
    let event = app.create_event(1, &ongoing_event()).await;
    register(&app, event, 71).await;
    let url = app.url("/rest.php/v1/campaignevents/participant-events?ongoing=true");
    let resp = app
        .http
        .get(&url)
        .bearer_auth(user_token(71))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["cache-control"],
        "private, max-age=0, must-revalidate"
    );
    let tag = resp.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        tag.starts_with('"') && !tag.starts_with("W/"),
        "strong: {tag}"
    );

    let resp = app
        .http
        .get(&url)
        .bearer_auth(user_token(71))
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);
    assert_eq!(resp.headers()["etag"].to_str().unwrap(), tag);
    assert!(resp.bytes().await.unwrap().is_empty());

    // The answer changes, so does the tag.
    unregister(&app, event, 71).await;
    let resp = app
        .http
        .get(&url)
        .bearer_auth(user_token(71))
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_ne!(resp.headers()["etag"].to_str().unwrap(), tag);
}

#[tokio::test]
async fn the_wiki_filter_and_bad_parameters() {
    let app = spawn_app().await;
    let now = Utc::now();
    let pt = app.create_event(1, &ongoing_event()).await;
    let all = app
        .create_event(1, &event_hours(now, -1, 1, &["*all*"]))
        .await;
    let en = app
        .create_event(1, &event_hours(now, -1, 1, &["enwiki"]))
        .await;
    for e in [pt, all, en] {
        register(&app, e, 81).await;
    }
    let ids = |v: Value| -> Vec<u64> {
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_u64().unwrap())
            .collect()
    };
    let (_, v) = read(&app, 81, "?ongoing=true&wiki=ptwiki").await;
    assert_eq!(ids(v), vec![pt, all]);
    let (_, v) = read(&app, 81, "?ongoing=true").await;
    assert_eq!(ids(v.clone()), vec![pt, all, en]);
    let first = &v["events"][0];
    assert_eq!(first["name"], "Edit-a-thon");
    assert_eq!(first["timezone"], "Europe/Lisbon");
    assert_eq!(first["wikis"], json!(["ptwiki"]));
    assert!(first["start"].as_str().unwrap().ends_with('Z'));

    // events_for_edit: ongoing, tracking, on that wiki.
    let resp = app
        .http
        .get(app.v0("/participant/self/events_for_edit?wiki=enwiki"))
        .bearer_auth(user_token(81))
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v,
        json!([
            {"id": all, "name": "Edit-a-thon", "autoAssociable": false},
            {"id": en, "name": "Edit-a-thon", "autoAssociable": false}
        ])
    );

    for (query, key) in [
        ("?ongoing=maybe", "paramvalidator-badbool"),
        ("?ongoing=true&wiki=Pt%20Wiki", "paramvalidator-badvalue"),
        (
            "?ongoing=true&ongoing=false",
            "paramvalidator-multivalue-disallowed",
        ),
    ] {
        let (s, body) = read(&app, 81, query).await;
        assert_eq!(
            (s, assert_error_shape(s, &body).as_str()),
            (400, key),
            "{query}"
        );
    }
    let resp = app
        .http
        .get(app.v0("/participant/self/events_for_edit"))
        .bearer_auth(user_token(81))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = app
        .http
        .get(app.url("/rest.php/v1/campaignevents/participant-events?ongoing=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn cache_mode_db_answers_the_same_json_and_etag() {
    let cached = spawn_app().await;
    let settings = cached.settings.clone();
    let event = cached.create_event(1, &ongoing_event()).await;
    register(&cached, event, 91).await;
    let mut db_settings = settings.clone();
    db_settings.cache_mode = CacheMode::Db;
    let db_mode = start(
        db_settings,
        std::sync::Arc::new(campaign_events_actors::SystemClock),
    )
    .await;
    let get = |app: &TestApp| {
        app.http
            .get(app.url("/rest.php/v1/campaignevents/participant-events?ongoing=true&wiki=ptwiki"))
            .bearer_auth(user_token(91))
            .send()
    };
    let a = get(&cached).await.unwrap();
    let b = get(&db_mode).await.unwrap();
    assert_eq!(a.headers()["etag"], b.headers()["etag"]);
    assert_eq!(a.text().await.unwrap(), b.text().await.unwrap());
    let fallbacks = db_mode
        .state
        .ops
        .cache
        .stats()
        .lookups(campaign_events_actors::Lookup::Fallback);
    assert!(fallbacks >= 1, "db mode reads from Postgres");
    // Both share the database: keep it until both have stopped.
    let mut db_mode = db_mode;
    db_mode.stop().await;
    drop(db_mode);
}

#[tokio::test]
async fn the_publish_registration_command_registers_over_nats() {
    let app = spawn_app().await;
    let event = app.create_event(1, &ongoing_event()).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_campaign-events"))
        .args([
            "publish-registration",
            "--event",
            &event.to_string(),
            "--user-id",
            "77",
        ])
        .env("NATS_URL", NATS_URL)
        .env("STREAM_PREFIX", &app.prefix)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("queued at stream sequence"));
    registrations_drained(&app).await;
    assert_eq!(ongoing_ids(&app, 77).await, vec![event]);
}

#[tokio::test]
async fn an_admin_purge_rebuilds_a_users_or_an_events_entries_from_the_database() {
    let app = spawn_app().await;
    let event = app.create_event(1, &ongoing_event()).await;
    // The database changes behind the cache's back (a manual fix, a lost message).
    app.db()
        .await
        .execute(
            "INSERT INTO ce_participants (event_id, user_id, registered_at, last_change_at) \
             VALUES ($1, 88, now(), now())",
            &[&(event as i64)],
        )
        .await
        .unwrap();
    assert_eq!(
        ongoing_ids(&app, 88).await,
        Vec::<u64>::new(),
        "the cache does not know yet"
    );
    let admin = token(9, "Admin", &["admin"]);
    let purge = |body: Value, tok: String| {
        let app = &app;
        async move {
            let resp = app
                .http
                .post(app.v0("/cache/purge"))
                .bearer_auth(tok)
                .json(&body)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (s, v) = purge(json!({"user_id": 88}), admin.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"user_id": 88, "before": [], "after": [event], "changed": true})
    );
    assert_eq!(ongoing_ids(&app, 88).await, vec![event]);

    app.db()
        .await
        .execute(
            "UPDATE ce_events SET name = 'Renamed by hand', version = nextval('ce_change_version_seq') \
             WHERE event_id = $1",
            &[&(event as i64)],
        )
        .await
        .unwrap();
    let (s, v) = purge(json!({"event_id": event}), admin.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["participants_reloaded"], 1);
    let (_, body) = read(&app, 88, "?ongoing=true").await;
    assert_eq!(body["events"][0]["name"], "Renamed by hand");

    let (s, _) = purge(json!({"user_id": 88}), token(5, "Someone", &[])).await;
    assert_eq!(s, 403);
    for bad in [
        json!({}),
        json!({"user_id": 1, "event_id": 1}),
        json!({"user_id": 0}),
        json!({"user": 1}),
    ] {
        let (s, v) = purge(bad.clone(), admin.clone()).await;
        assert_eq!(
            (s, assert_error_shape(s, &v).as_str()),
            (400, "rest-invalid-body"),
            "{bad}"
        );
    }
}
