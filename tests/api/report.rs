//! `campaign-events report` against a seeded database and a live instance: every section,
//! with the numbers the seed implies.

use chrono::{Duration, Utc};
use serde_json::Value;

use campaign_events::ops::report::{gather, render_text, ReportArgs};

use crate::cache::{event_between, ongoing_ids, register};
use crate::helpers::*;

/// Three ongoing events (ending in 2 h, 30 h and 10 days), two upcoming ones, five
/// participants; a few reads so that the live metrics have lookups.
async fn seeded() -> (TestApp, Vec<u64>) {
    let app = spawn_app().await;
    let now = Utc::now();
    let mut ongoing = Vec::new();
    for end_hours in [2, 30, 240] {
        ongoing.push(
            app.create_event(
                1,
                &event_between(
                    now - Duration::hours(1),
                    now + Duration::hours(end_hours),
                    &["ptwiki"],
                ),
            )
            .await,
        );
    }
    for start_hours in [5, 50] {
        app.create_event(
            1,
            &event_between(
                now + Duration::hours(start_hours),
                now + Duration::hours(start_hours + 48),
                &["ptwiki"],
            ),
        )
        .await;
    }
    for user in 61..=65 {
        let (s, _) = register(&app, ongoing[(user % 3) as usize], user).await;
        assert_eq!(s, 200);
    }
    register(&app, ongoing[0], 61).await;
    for user in [61, 62, 63, 999] {
        ongoing_ids(&app, user).await;
    }
    (app, ongoing)
}

fn args(app: &TestApp) -> ReportArgs {
    ReportArgs {
        database_url: app.settings.common.database_url.clone(),
        service_url: app.url(""),
        bench_seconds: 1,
        readers: 2,
        json: None,
    }
}

#[tokio::test]
async fn the_report_answers_every_scenario_with_the_seeded_numbers() {
    let (app, _) = seeded().await;
    let report = gather(&args(&app)).await.unwrap();

    let size = &report.size;
    assert_eq!(size.participants_with_ongoing_events, 5);
    assert_eq!(size.ongoing_registrations, 6);
    assert_eq!(size.ongoing_events, 3);
    assert_eq!(size.upcoming_events_7d, 2);
    let measured = size.measured_bytes_per_participant.unwrap();
    assert!((500.0..5000.0).contains(&measured), "{measured}");

    let live = &report.live;
    assert_eq!(live.unavailable, None);
    assert_eq!(live.actors, Some(5.0));
    assert!(live.lookups_hit.unwrap() >= 3.0);
    assert!(live.lookups_empty.unwrap() >= 1.0);
    assert!(live.hit_ratio.is_some());

    let fresh = &report.freshness;
    let events: i64 = fresh.durations.iter().map(|b| b.events).sum();
    assert_eq!(events, 5, "ongoing and upcoming events by duration");
    // Ends within the week: the events ending in 2 h and 30 h, and both upcoming ones.
    assert_eq!(fresh.ends_in_week, 4);
    assert_eq!(fresh.ends_per_hour.len(), 7 * 24);
    assert_eq!(fresh.ends_per_hour[1] + fresh.ends_per_hour[2], 1);
    assert!(fresh.recommended_sweep_secs >= 60 && fresh.recommended_sweep_secs <= 900);
    assert_eq!(fresh.allowed_staleness_secs, fresh.recommended_sweep_secs);

    let perf = &report.performance;
    assert!(perf.cached.reads > 0 && perf.database.reads > 0);
    assert_eq!(perf.cached.errors + perf.database.errors, 0);
    assert!(perf.throughput_ratio > 0.0);
    assert!(perf.queries_avoided.unwrap() >= 4.0);

    let text = render_text(&report);
    for section in [
        "1. Cache size analysis",
        "2. Hit ratio",
        "3. Update frequency and maintenance",
        "4. Performance improvement",
        "5. Implementation cost",
        "Recommended sweep interval",
        "Verdict:",
    ] {
        assert!(text.contains(section), "{section} missing:\n{text}");
    }
    assert!(
        text.contains("5 participants take part in 3 ongoing events"),
        "{text}"
    );
}

#[tokio::test]
async fn the_report_command_writes_json_and_says_when_no_service_answers() {
    let (app, _) = seeded().await;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_campaign-events"));
    command
        .args(["report", "--json", "--bench-seconds", "1", "--readers", "2"])
        .env("DATABASE_URL", &app.settings.common.database_url)
        // Nothing listens there.
        .env("REPORT_SERVICE_URL", "http://127.0.0.1:9")
        .env("RUST_LOG", "warn");
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["size"]["participants_with_ongoing_events"], 5);
    assert!(json["live"]["unavailable"]
        .as_str()
        .unwrap()
        .contains("no service answered"));
    assert!(json["live"]["hit_ratio"].is_null());
    for key in ["size", "live", "freshness", "performance", "cost"] {
        assert!(json[key].is_object(), "{key} missing: {json}");
    }
    assert!(
        json["performance"]["database"]["reads_per_sec"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}
