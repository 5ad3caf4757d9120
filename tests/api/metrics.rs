//! `/metrics`: every metric CONTRACT.md names, in Prometheus' text format, moving with the
//! service's work.

use crate::associate::{alice, assoc, outcome, post_associate, setup, ALICE};
use crate::cache::ongoing_ids;

/// The value of the sample whose line starts with `series` (name and labels exactly).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

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
    assert_eq!(sample(&text, "ce_cache_events"), Some(1.0));
    let stats = app.state.cache.stats();
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
            (campaign_events::metrics::BYTES_PER_PARTICIPANT
                + campaign_events::metrics::BYTES_PER_EVENT) as f64
        )
    );
}
