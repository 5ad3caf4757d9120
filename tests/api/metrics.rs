//! `/metrics`: every metric CONTRACT.md names, in Prometheus' text format, moving with the
//! service's work.

use std::time::Duration;

use crate::associate::{alice, assoc, outcome, post_associate, setup, ALICE};
use crate::cache::ongoing_ids;
use crate::helpers::eventually;

pub use campaign_events::infra::metrics::sample;

#[tokio::test]
async fn metrics_name_everything_the_contract_lists_and_follow_the_work() {
    let (wiki, app, event) = setup().await;
    assert_eq!(ongoing_ids(&app, ALICE).await, vec![event]);
    assert_eq!(ongoing_ids(&app, 4242).await, Vec::<u64>::new());
    let rev = wiki.rev("Prosa", 1);
    let (s, _) = post_associate(&app, &alice(), &assoc(event, "ptwiki", rev)).await;
    assert_eq!(s, 202);
    outcome(&app, "ptwiki", rev).await.expect("a row");
    let (s, _) = post_associate(&app, &alice(), &assoc(987654, "ptwiki", rev)).await;
    assert_eq!(s, 404);
    // A worker counts its job after the row is committed and the contribution notice acked:
    // the row can be visible a moment before the count moves.
    eventually(
        "the stored job is counted",
        Duration::from_secs(10),
        async || {
            let text = app.http.get(app.url("/metrics")).send().await.unwrap();
            let text = text.text().await.unwrap();
            sample(&text, "ce_jobs_total{outcome=\"stored\"}") == Some(1.0)
                && sample(&text, "ce_job_duration_seconds_count") == Some(1.0)
        },
    )
    .await;

    let resp = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = resp.text().await.unwrap();
    for name in [
        "ce_cache_actors",
        "ce_cache_events",
        "ce_cache_lookups_total",
        "ce_cache_memory_bytes",
        "ce_cache_reconcile_drift_total",
        "ce_associations_total",
        "ce_jobs_total",
        "ce_job_duration_seconds",
        "ce_http_requests_total",
        "ce_http_request_duration_seconds",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} missing:\n{text}"
        );
    }
    assert_eq!(sample(&text, "ce_cache_actors"), Some(1.0));
    // Asked of NATS and Postgres at scrape time under a timeout: on a busy machine one scrape
    // may leave them out, so ask again.
    eventually(
        "the backlog and open dead letters in /metrics",
        Duration::from_secs(10),
        async || {
            let t = app.metrics_text().await;
            sample(&t, "ce_jobs_pending") == Some(0.0)
                && sample(&t, "ce_dead_letters_open") == Some(0.0)
                && t.contains("# TYPE ce_jobs_in_flight gauge")
        },
    )
    .await;
    assert_eq!(sample(&text, "ce_cache_events"), Some(1.0));
    let stats = app.state.ops.cache.stats();
    assert_eq!(
        sample(&text, "ce_cache_lookups_total{result=\"hit\"}"),
        Some(stats.lookups(campaign_events_actors::Lookup::Hit) as f64)
    );
    assert!(sample(&text, "ce_cache_lookups_total{result=\"empty\"}").unwrap() >= 1.0);
    assert_eq!(
        sample(&text, "ce_associations_total{outcome=\"queued\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "ce_associations_total{outcome=\"rejected\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "ce_associations_total{outcome=\"unavailable\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "ce_jobs_total{outcome=\"stored\"}"),
        Some(1.0)
    );
    assert_eq!(sample(&text, "ce_job_duration_seconds_count"), Some(1.0));
    assert!(
        sample(
            &text,
            "ce_http_requests_total{route=\"participantEvents\",status=\"200\"}"
        )
        .unwrap()
            >= 2.0
    );
    assert!(
        sample(
            &text,
            "ce_http_request_duration_seconds_count{route=\"associateEdit\"}"
        )
        .unwrap()
            >= 2.0
    );
    assert_eq!(
        sample(&text, "ce_cache_memory_bytes"),
        Some(
            (campaign_events::infra::metrics::BYTES_PER_PARTICIPANT
                + campaign_events::infra::metrics::BYTES_PER_EVENT) as f64
        )
    );
}

fn trimmed_rss() -> f64 {
    campaign_events::ops::report::measure::trimmed_rss() as f64
}

async fn memory_gauge(app: &crate::helpers::TestApp) -> f64 {
    app.metric("ce_cache_memory_bytes").await.unwrap()
}

/// `ce_cache_memory_bytes` is an estimate (participants × the bytes the cache benchmark
/// measured per participant). Here it is checked against what this process really grows by
/// when 50,000 participants come into the cache (nextest runs each test in its own process).
#[tokio::test]
async fn the_memory_estimate_matches_the_measured_rss_growth() {
    use campaign_events::cache::store::PgStore;
    use campaign_events_actors::domain::UserId;

    const N: i64 = 50_000;
    let app = crate::helpers::spawn_app().await;
    let event = app.create_event(1, &crate::cache::ongoing_event()).await;
    app.db()
        .await
        .execute(
            "INSERT INTO ce_participants (event_id, user_id, registered_at, last_change_at)
               SELECT $1, g, now(), now() FROM generate_series(1, $2::bigint) g",
            &[&(event as i64), &N],
        )
        .await
        .unwrap();

    let (rss_before, gauge_before) = (trimmed_rss(), memory_gauge(&app).await);
    let store = PgStore::new(app.state.ops.pool.clone());
    let report = app.state.ops.cache.warm_up(&store).await.unwrap();
    assert_eq!(report.users as i64, N);
    // Actors are built on their arbiters after the warm-up returns: wait until each answers
    // (on a busy machine an ask may time out; it is asked again).
    for user in 1..=N {
        let user = UserId::new(user as u64).unwrap();
        eventually("every actor answers", Duration::from_secs(60), async || {
            app.state
                .ops
                .cache
                .ongoing(user)
                .await
                .is_ok_and(|events| events.len() == 1)
        })
        .await;
    }
    let (rss_after, gauge_after) = (trimmed_rss(), memory_gauge(&app).await);

    let measured = (rss_after - rss_before) / N as f64;
    let estimated = (gauge_after - gauge_before) / N as f64;
    eprintln!("per participant: estimated {estimated:.0} B, measured {measured:.0} B");
    assert!(
        (estimated - measured).abs() / measured < 0.25,
        "estimate {estimated:.0} B vs measured {measured:.0} B per participant"
    );
}
