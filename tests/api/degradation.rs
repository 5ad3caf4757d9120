//! Graceful degradation, by really taking a dependency away: cached reads keep answering,
//! writes say clearly what is missing, and the service recovers by itself.

use std::time::{Duration, Instant};

use crate::cache::{ongoing_event, ongoing_ids, register};
use crate::helpers::*;

async fn set_connections(app: &TestApp, allowed: bool) {
    admin()
        .await
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" WITH ALLOW_CONNECTIONS {allowed}",
            app.db_name
        ))
        .await
        .unwrap();
    if !allowed {
        app.db_kill_connections().await;
    }
}

#[tokio::test]
async fn with_postgres_down_cached_reads_answer_writes_are_503_and_it_recovers_alone() {
    let app = spawn_app().await;
    let event = app.create_event(1, &ongoing_event()).await;
    register(&app, event, 31).await;

    set_connections(&app, false).await;
    // The post-edit read needs no database.
    assert_eq!(ongoing_ids(&app, 31).await, vec![event]);
    assert_eq!(ongoing_ids(&app, 32).await, Vec::<u64>::new());
    // A write says what is missing, in the error shape, quickly.
    let started = Instant::now();
    let (s, body) = register(&app, event, 33).await;
    assert_eq!(s, 503, "{body}");
    assert_eq!(
        assert_error_shape(s, &body),
        "campaignevents-rest-db-unavailable"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let (s, body) = app.get_json(&app.url("/readyz")).await;
    assert_eq!(s, 503);
    assert_ne!(body["checks"]["postgres"], "ok", "{body}");

    // Back, with no restart of the service.
    set_connections(&app, true).await;
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
    let (s, _) = app.get_json(&app.url("/readyz")).await;
    assert_eq!(s, 200);
}
