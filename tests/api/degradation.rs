//! Graceful degradation, by really taking a dependency away: cached reads keep answering,
//! writes say clearly what is missing, and the service recovers by itself.

use std::time::{Duration, Instant};

use crate::cache::{ongoing_event, ongoing_ids, register};
use crate::helpers::*;
use crate::support::private::PrivatePostgres;

/// Postgres here is a server of the test's own, really killed (SIGKILL) and started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgres_down_cached_reads_answer_writes_are_503_and_it_recovers_alone() {
    let mut pg = PrivatePostgres::start();
    let database_url = pg.url(&unique_name("ce_degraded"));
    let app = spawn_app_with(|s| s.common.database_url = database_url).await;
    let event = app.create_event(1, &ongoing_event()).await;
    register(&app, event, 31).await;

    pg.kill();
    // The post-edit read needs no database.
    assert_eq!(ongoing_ids(&app, 31).await, vec![event]);
    assert_eq!(ongoing_ids(&app, 32).await, Vec::<u64>::new());
    // /readyz names the missing dependency. (Waited for: the killed postmaster's backends,
    // which hold the pool's connections, take a moment to notice and quit.)
    eventually(
        "/readyz reports Postgres down",
        Duration::from_secs(10),
        async || {
            let (s, body) = app.get_json(&app.url("/readyz")).await;
            s == 503 && body["checks"]["postgres"] != "ok"
        },
    )
    .await;
    // A write says what is missing, in the error shape, quickly.
    let started = Instant::now();
    let (s, body) = register(&app, event, 33).await;
    assert_eq!(s, 503, "{body}");
    assert_eq!(
        assert_error_shape(s, &body),
        "campaignevents-rest-db-unavailable"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // Back, with no restart of the service.
    tokio::task::block_in_place(|| pg.up());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (s, _) = register(&app, event, 33).await;
        if s == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "writes never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ongoing_ids(&app, 33).await, vec![event]);
    eventually("/readyz ready again", Duration::from_secs(10), async || {
        app.get_json(&app.url("/readyz")).await.0 == 200
    })
    .await;
}

async fn fallback_lookups(app: &TestApp) -> f64 {
    app.metric("ce_cache_lookups_total{result=\"fallback\"}")
        .await
        .unwrap_or(0.0)
}

#[tokio::test]
async fn an_actor_that_does_not_answer_in_time_sends_the_read_to_the_database_and_is_counted() {
    let app = spawn_app_with(|s| s.cache.cache_ask_timeout_ms = 150).await;
    let first = app.create_event(1, &ongoing_event()).await;
    let second = app.create_event(1, &ongoing_event()).await;
    register(&app, first, 41).await;
    assert_eq!(ongoing_ids(&app, 41).await, vec![first]);
    let before = fallback_lookups(&app).await;

    // The actor's thread is stuck for a while, and a registration is queued behind it: the
    // read must ask the actor (a change is in flight), which cannot answer in time.
    // Long enough that the registration and the read both happen while it lasts, even on a
    // busy machine; the read must not wait for it.
    let stall = Duration::from_secs(8);
    let stalled_at = Instant::now();
    assert!(app.state.ops.cache.inject_stall(
        campaign_events_actors::domain::UserId::new(41).unwrap(),
        stall
    ));
    let (s, body) = register(&app, second, 41).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(ongoing_ids(&app, 41).await, vec![first, second]);
    assert!(
        stalled_at.elapsed() < stall,
        "the read waited for the stalled actor: {:?}",
        stalled_at.elapsed()
    );
    assert_eq!(fallback_lookups(&app).await, before + 1.0);

    // Once the actor is back, reads come from the cache again, with the same answer. (Polled:
    // the actor first works through what queued behind the stall, and a busy machine may take
    // longer than the 150 ms ask timeout for that.)
    tokio::time::sleep(stall.saturating_sub(stalled_at.elapsed())).await;
    eventually(
        "a read answered by the actor again",
        Duration::from_secs(10),
        async || {
            let fallbacks = fallback_lookups(&app).await;
            ongoing_ids(&app, 41).await == vec![first, second]
                && fallback_lookups(&app).await == fallbacks
        },
    )
    .await;
}
