//! The operator dashboard, in a real browser: headless Chromium loads `GET /`, runs its
//! script against the live service and we read the numbers it rendered.

use std::process::Command;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use crate::cache::{event_hours, ongoing_event, register};
use crate::helpers::*;
use crate::metrics::sample;

/// Debian's `chromium` (`.ci/run` installs it), or `$CHROMIUM`.
fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

/// The page's DOM after its script has had a few (virtual) seconds to fetch and render.
pub fn render(url: &str) -> String {
    let profile = std::env::temp_dir().join(unique_name("chromium-profile"));
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-extensions",
            "--no-first-run",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}); install Debian's chromium", chromium()));
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The `data-value` of the element with this id.
fn value_of(dom: &str, id: &str) -> String {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let tag_end = at + dom[at..].find('>').unwrap();
    let tag = &dom[..tag_end];
    let start = tag.rfind('<').unwrap();
    let tag = &tag[start..];
    let v = tag
        .split("data-value=\"")
        .nth(1)
        .unwrap_or_else(|| panic!("#{id} has no data-value: {tag}"));
    v[..v.find('"').unwrap()].to_owned()
}

async fn rendered(app: &TestApp) -> String {
    let url = app.url("/");
    let dom = tokio::task::spawn_blocking(move || render(&url))
        .await
        .unwrap();
    assert!(
        dom.contains("data-ready=\"1\""),
        "the page never finished its first refresh: {dom}"
    );
    dom
}

#[tokio::test]
async fn the_dashboard_shows_what_metrics_say_and_follows_a_registration() {
    let app = spawn_app().await;
    let ongoing = app.create_event(1, &ongoing_event()).await;
    let now = Utc::now();
    let later = app
        .create_event(1, &event_hours(now, 3, 30, &["ptwiki"]))
        .await;
    register(&app, ongoing, 51).await;

    let resp = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let (s, data): (u16, Value) = app.get_json(&app.url("/dashboard.json")).await;
    assert_eq!(s, 200, "{data}");
    assert_eq!(data["ongoing_events"], 1);
    assert_eq!(data["timeline_hours"], 24);
    // The backlog and dead letters are asked of NATS and Postgres under a short timeout; on
    // a busy machine one answer may carry nulls, so ask again.
    eventually(
        "backlog and dead letters",
        Duration::from_secs(10),
        async || {
            let (_, data) = app.get_json(&app.url("/dashboard.json")).await;
            data["dead_letters"] == 0 && data["queue"]["pending"] == 0
        },
    )
    .await;

    // The page's last refresh must have had the backlog (see above).
    let mut dom = rendered(&app).await;
    for _ in 0..3 {
        if value_of(&dom, "queue-depth") == "0" && value_of(&dom, "dead-letters") == "0" {
            break;
        }
        dom = rendered(&app).await;
    }
    let text = app.metrics_text().await;
    assert_eq!(value_of(&dom, "actors"), "1");
    assert_eq!(
        sample(&text, "ce_cache_actors").unwrap().to_string(),
        value_of(&dom, "actors")
    );
    assert_eq!(value_of(&dom, "events"), "1");
    for result in ["hit", "empty", "fallback"] {
        let series = format!("ce_cache_lookups_total{{result=\"{result}\"}}");
        let metric = sample(&text, &series).unwrap_or(0.0);
        assert_eq!(
            value_of(&dom, &format!("lookups-{result}"))
                .parse::<f64>()
                .unwrap(),
            metric,
            "{series}"
        );
    }
    assert_eq!(value_of(&dom, "dead-letters"), "0");
    assert_eq!(value_of(&dom, "queue-depth"), "0");
    // The timeline: the later event starts within 24 hours (and ends after), the ongoing one
    // ends within 24 hours.
    assert!(dom.contains(&format!("data-kind=\"starts\" data-event-id=\"{later}\"")));
    assert!(dom.contains(&format!("data-kind=\"ends\" data-event-id=\"{ongoing}\"")));
    assert!(!dom.contains(&format!("data-kind=\"ends\" data-event-id=\"{later}\"")));

    // A registration makes a new actor, and the page shows it.
    register(&app, ongoing, 52).await;
    let dom = rendered(&app).await;
    assert_eq!(value_of(&dom, "actors"), "2");
}

/// With a cache horizon shorter than a day the directory holds no event starting beyond it:
/// the timeline covers only the horizon, and says so rather than showing an empty day.
#[tokio::test]
async fn the_timeline_says_how_far_it_reaches_when_the_cache_horizon_is_short() {
    let app = spawn_app_with(|s| s.cache.cache_horizon_hours = 6).await;
    let now = Utc::now();
    let soon = app
        .create_event(1, &event_hours(now, 2, 30, &["ptwiki"]))
        .await;
    let beyond = app
        .create_event(1, &event_hours(now, 10, 30, &["ptwiki"]))
        .await;
    let (s, data): (u16, Value) = app.get_json(&app.url("/dashboard.json")).await;
    assert_eq!(s, 200, "{data}");
    assert_eq!(data["timeline_hours"], 6);
    let ids: Vec<u64> = data["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert!(ids.contains(&soon), "{data}");
    assert!(!ids.contains(&beyond), "{data}");
    let dom = rendered(&app).await;
    assert!(dom.contains("Next 6 hours"), "{dom}");
}
