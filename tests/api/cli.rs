//! The commands the README shows, run as the built binary against a live service.

use std::process::Command;

use crate::cache::ongoing_event;
use crate::helpers::*;

/// Runs `publish-registration ARGS` against `app`'s NATS prefix and database, off the test's
/// runtime (the app answers on it while the command waits); returns what it printed.
async fn publish(app: &TestApp, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let prefix = app.prefix.clone();
    let url = app.settings.common.database_url.clone();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_campaign-events"))
            .arg("publish-registration")
            .args(&args)
            .env("NATS_URL", NATS_URL)
            .env("STREAM_PREFIX", prefix)
            .env("DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn publish_registration_says_queued_or_with_wait_what_became_of_it() {
    let app = spawn_app().await;
    let event = app.create_event(1, &ongoing_event()).await.to_string();
    let queued = publish(&app, &["--event", &event, "--user-id", "43"]).await;
    assert!(queued.starts_with("queued at stream sequence "), "{queued}");
    let applied = publish(&app, &["--event", &event, "--user-id", "44", "--wait"]).await;
    assert_eq!(
        applied.trim(),
        format!("applied: user 44 is registered for event {event}")
    );
    let rejected = publish(&app, &["--event", "999999", "--user-id", "44", "--wait"]).await;
    assert_eq!(rejected.trim(), "rejected: event-not-found");
}
