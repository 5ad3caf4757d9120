//! Several instances on one Postgres and one NATS, as behind a load balancer: a change made
//! through one is seen through every other, diff workers of two instances share the queue
//! without doing a job twice, and stopping one loses nothing.

use std::time::{Duration, Instant};

use campaign_events::registration::nats::Kind;
use chrono::Utc;

use crate::associate::{alice, assoc, outcome, post_associate, tracking_event, ALICE};
use crate::cache::{cmd, ongoing_event, ongoing_ids, publish_command, register, unregister};
use crate::helpers::*;
use crate::support::mock_wiki::{FixtureRev, MockWiki};

/// Polls `app` until `user`'s ongoing events are `want`; returns how long that took.
async fn seen(app: &TestApp, user: u64, want: &[u64]) -> Duration {
    let started = Instant::now();
    loop {
        if ongoing_ids(app, user).await == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} never showed user {user} with {want:?}",
            app.addr
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn a_change_through_one_instance_is_seen_through_the_others() {
    let a = spawn_app().await;
    let b = a.peer().await;
    let c = a.peer().await;
    let all = [&a, &b, &c];
    let event = a.create_event(1, &ongoing_event()).await;
    // The event reached every directory (a registration needs it there to make an actor).
    for app in all {
        eventually(
            "the event in every directory",
            Duration::from_secs(10),
            async || {
                app.state
                    .ops
                    .cache
                    .directory()
                    .get(campaign_events_actors::domain::EventId::new(event).unwrap())
                    .is_some()
            },
        )
        .await;
    }

    // Registrations through each instance in turn, seen through the other two.
    let mut lags = Vec::new();
    for user in 71..=100u64 {
        let through = all[(user % 3) as usize];
        assert_eq!(register(through, event, user).await.0, 200);
        for other in all {
            lags.push(seen(other, user, &[event]).await);
        }
    }
    lags.sort();
    eprintln!(
        "registration visible on the other instances: p50 {:?}, p99 {:?}, max {:?}",
        lags[lags.len() / 2],
        lags[lags.len() * 99 / 100],
        lags[lags.len() - 1]
    );

    // An unregistration through b leaves every instance.
    assert_eq!(unregister(&b, event, 71).await.0, 200);
    for app in all {
        seen(app, 71, &[]).await;
    }

    // A registration command on NATS, taken by whichever instance the shared durable consumer
    // hands it to, reaches every instance's cache.
    publish_command(&a, &cmd(Kind::Registered, event, 200, Utc::now())).await;
    for app in all {
        seen(app, 200, &[event]).await;
    }

    // Deleting the event through c empties it everywhere.
    let resp = c
        .http
        .delete(c.v0(&format!("/event_registration/{event}")))
        .bearer_auth(organizer_token(1))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    for app in all {
        seen(app, 72, &[]).await;
        seen(app, 200, &[]).await;
    }
}

fn jobs(app: &TestApp, outcome: &str) -> u64 {
    app.state
        .edge
        .metrics
        .jobs
        .with_label_values(&[outcome])
        .get()
}

#[tokio::test]
async fn diff_workers_of_two_instances_share_the_queue_and_stopping_one_loses_nothing() {
    const JOBS: usize = 150;
    let wiki = MockWiki::start().await;
    let revs = wiki.add_page(
        "Partilha",
        0,
        (0..JOBS)
            .map(|i| {
                FixtureRev::new(
                    "Alice",
                    &format!("2026-11-21T{:02}:{:02}:00Z", 10 + i / 60, i % 60),
                    &format!("Versão {i} com [[Ligação {i}]].\n").repeat(1 + i % 4),
                )
            })
            .collect(),
    );
    let a = spawn_app_with_wiki(&wiki).await;
    let mut b = a.peer().await;
    let event = a.create_event(1, &tracking_event(&["ptwiki"])).await;
    assert_eq!(register(&a, event, ALICE).await.0, 200);
    eventually("Alice on b", Duration::from_secs(10), async || {
        ongoing_ids(&b, ALICE).await == vec![event]
    })
    .await;

    // Submitted through both gateways.
    for (i, rev) in revs.iter().enumerate() {
        let through = if i % 2 == 0 { &a } else { &b };
        let (s, body) = post_associate(through, &alice(), &assoc(event, "ptwiki", *rev)).await;
        assert_eq!(s, 202, "{body}");
    }
    // Both instances take jobs; then b stops while the queue still holds work.
    eventually(
        "both instances working",
        Duration::from_secs(60),
        async || jobs(&a, "stored") >= 5 && jobs(&b, "stored") >= 5,
    )
    .await;
    b.stop().await;
    let by_b = jobs(&b, "stored");
    assert!(
        (by_b as usize) < JOBS,
        "b did everything before it stopped; the test proves nothing"
    );

    for rev in &revs {
        outcome(&a, "ptwiki", *rev)
            .await
            .expect("a row, not a dead letter");
    }
    let db = a.db().await;
    let (rows, dead): (i64, i64) = {
        let r = db
            .query_one(
                "SELECT (SELECT count(*) FROM ce_associate_edit_to_event), \
                        (SELECT count(*) FROM ce_dead_letters)",
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((rows, dead), (JOBS as i64, 0));
    // No job done twice: one row each (above). A job b stored but could not ack before it
    // stopped is in neither count yet: JetStream hands it to a after ack_wait, and a stores it
    // again, idempotently. Then every job has been counted by one instance or the other (by
    // both for those) and the queue holds nothing.
    eventually(
        "every job counted and the queue empty",
        Duration::from_secs(30),
        async || {
            let backlog =
                campaign_events::infra::nats::edits_backlog(&a.state.ops.jetstream, &a.names())
                    .await
                    .unwrap();
            jobs(&a, "stored") + by_b >= JOBS as u64 && backlog == (0, 0)
        },
    )
    .await;
    assert_eq!(
        a.count("SELECT count(*) FROM ce_associate_edit_to_event", &[])
            .await,
        JOBS as i64
    );
}

/// The newest command wins, whatever order commands are handled in — by one instance taking
/// several at once, or by two instances sharing the consumer: a user who registered and then
/// unregistered ends unregistered, even when the unregistration is handled first, or both at
/// the same moment for a pair never seen before.
#[tokio::test]
async fn the_newest_registration_command_wins_however_they_are_handled() {
    let a = spawn_app().await;
    let b = a.peer().await;
    let event = a.create_event(1, &ongoing_event()).await;
    let js = campaign_events::infra::nats::jetstream(
        campaign_events::infra::nats::connect(NATS_URL)
            .await
            .unwrap(),
    );
    let t = Utc::now();
    let later = t + chrono::Duration::milliseconds(1);
    for user in 1000..1200u64 {
        // Even users: published in order; odd users: the unregistration published first.
        let (first, second) = if user % 2 == 0 {
            (
                cmd(Kind::Registered, event, user, t),
                cmd(Kind::Unregistered, event, user, later),
            )
        } else {
            (
                cmd(Kind::Unregistered, event, user, later),
                cmd(Kind::Registered, event, user, t),
            )
        };
        for c in [first, second] {
            campaign_events::registration::nats::publish(&js, &a.names(), &c)
                .await
                .unwrap();
        }
    }
    // A user who unregistered and registered again, later: registered.
    publish_command(&a, &cmd(Kind::Unregistered, event, 1500, t)).await;
    publish_command(&a, &cmd(Kind::Registered, event, 1500, later)).await;
    crate::cache::registrations_drained(&a).await;

    let active: Vec<i64> = a
        .db()
        .await
        .query(
            "SELECT user_id FROM ce_participants WHERE unregistered_at IS NULL ORDER BY user_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(active, vec![1500]);
    for app in [&a, &b] {
        seen(app, 1500, &[event]).await;
        for user in [1000, 1001, 1100, 1199] {
            seen(app, user, &[]).await;
        }
    }
}
