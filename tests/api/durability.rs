//! Invariant 5, with real kills: hundreds of accepted associations while the worker process is
//! killed (SIGKILL) and restarted, NATS and Postgres are killed (SIGKILL) and restarted, and
//! the wiki's API fails — afterwards every
//! accepted job is exactly one row or one dead letter.
//!
//! NATS and Postgres here are servers of the test's own (`crate::support::private`: their own
//! ports and storage), so that killing them does not disturb the other tests.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::associate::{alice, assoc, post_associate, tracking_event, ALICE};
use crate::cache::register;
use crate::helpers::*;
use crate::support::mock_wiki::{Fault, FixtureRev, MockWiki};
use crate::support::private::{PrivateNats, PrivatePostgres};

/// A child process killed (SIGKILL) when dropped, so a failing test leaves no worker behind.
struct KilledOnDrop(Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Kills the private NATS and waits until the app's client has noticed.
async fn nats_down(nats: &mut PrivateNats, app: &TestApp) {
    nats.kill();
    eventually(
        "the client never noticed",
        Duration::from_secs(10),
        async || !connected(app),
    )
    .await;
}

fn connected(app: &TestApp) -> bool {
    matches!(
        app.state.ops.nats.connection_state(),
        async_nats::connection::State::Connected
    )
}

/// `campaign-events serve --workers-only` as a child process.
fn worker_process(app: &TestApp, nats: &PrivateNats, wikis_file: &std::path::Path) -> KilledOnDrop {
    KilledOnDrop(
        Command::new(env!("CARGO_BIN_EXE_campaign-events"))
            .args(["serve", "--workers-only"])
            .env("DATABASE_URL", &app.settings.common.database_url)
            .env("NATS_URL", nats.url())
            .env("STREAM_PREFIX", &app.prefix)
            .env("WIKIS_FILE", wikis_file)
            .env("DIFF_WORKERS", "8")
            .env("DIFF_ACK_WAIT_SECS", "2")
            .env("DIFF_RETRY_BASE_MS", "50")
            .env("DIFF_RETRY_MAX_MS", "400")
            .env("WIKI_API_TIMEOUT_SECS", "2")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the worker process starts"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_accepted_is_lost_across_kills_and_outages_invariant_5() {
    const JOBS: usize = 240;
    let mut nats = PrivateNats::start();
    let mut pg = PrivatePostgres::start();
    let wiki = MockWiki::start().await;
    let revs = wiki.add_page(
        "Carga",
        0,
        (0..JOBS)
            .map(|i| {
                FixtureRev::new(
                    "Alice",
                    &format!("2026-11-21T{:02}:{:02}:00Z", 10 + i / 60, i % 60),
                    &format!("Versão {i}: texto com [[Ligação {i}]] e mais texto.\n")
                        .repeat(1 + i % 5),
                )
            })
            .collect(),
    );
    let wikis_file = wikis_file_for(&wiki);
    let nats_url = nats.url();
    let database_url = pg.url(&unique_name("ce_durable"));
    let wf = wikis_file.clone();
    let app = spawn_app_with(move |s| {
        s.common.nats_url = nats_url;
        s.common.database_url = database_url;
        s.common.wikis_file = Some(wf);
        s.no_workers = true;
    })
    .await;
    let event = app.create_event(1, &tracking_event(&["ptwiki"])).await;
    assert_eq!(register(&app, event, ALICE).await.0, 200);
    let mut worker = worker_process(&app, &nats, &wikis_file);

    // Submit from several tasks; remember what was accepted.
    let accepted: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let refused: Arc<Mutex<Vec<(u64, u16)>>> = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = Arc::new(app);
    let mut submitters = Vec::new();
    for _ in 0..4 {
        let (app, accepted, refused, next, revs) = (
            app.clone(),
            accepted.clone(),
            refused.clone(),
            next.clone(),
            revs.clone(),
        );
        submitters.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= revs.len() {
                    break;
                }
                let resp = app
                    .http
                    .post(app.url("/rest.php/v1/campaignevents/associate-edit-to-event"))
                    .bearer_auth(alice())
                    .json(&assoc(event, "ptwiki", revs[i]))
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                if status == 202 {
                    accepted.lock().unwrap().insert(revs[i]);
                } else {
                    let body: Value = resp.json().await.unwrap_or(Value::Null);
                    assert_eq!(status, 503, "only an outage may refuse: {body}");
                    refused.lock().unwrap().push((revs[i], status));
                }
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        }));
    }
    let progress = |n: usize| {
        let next = next.clone();
        async move {
            while next.load(std::sync::atomic::Ordering::Relaxed) < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };

    progress(JOBS / 6).await;
    worker.0.kill().unwrap(); // SIGKILL, jobs in flight unacked
    worker.0.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(worker);
    // Kept until the test ends; killed when dropped, at the end or on a failure.
    let _restarted = worker_process(&app, &nats, &wikis_file);

    progress(JOBS / 3).await;
    wiki.set_fault(Fault::ServerError);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    wiki.set_fault(Fault::None);

    progress(JOBS / 2).await;
    nats.kill();
    tokio::time::sleep(Duration::from_millis(800)).await;
    nats.up();

    progress(2 * JOBS / 3).await;
    pg.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tokio::task::block_in_place(|| pg.up());

    progress(5 * JOBS / 6).await;
    wiki.stop().await; // connection refused
    tokio::time::sleep(Duration::from_millis(800)).await;
    wiki.restart().await;

    for s in submitters {
        s.await.unwrap();
    }
    let mut accepted: HashSet<u64> = accepted.lock().unwrap().clone();
    let refused = refused.lock().unwrap().clone();
    eprintln!(
        "accepted {}, refused {} (503 during the NATS outage)",
        accepted.len(),
        refused.len()
    );
    // The gateway recovered: what was refused during the outages is accepted when sent again
    // (as the frontend's retry would), however long reconnecting took on this machine.
    let deadline = Instant::now() + Duration::from_secs(60);
    for (rev, _) in &refused {
        loop {
            let (status, body) =
                post_associate(&app, &alice(), &assoc(event, "ptwiki", *rev)).await;
            if status == 202 {
                accepted.insert(*rev);
                break;
            }
            assert_eq!(status, 503, "only an outage may refuse: {body}");
            assert!(
                Instant::now() < deadline,
                "refused after the outages ended: {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_eq!(
        accepted.len(),
        JOBS,
        "every association accepted in the end"
    );

    // Every accepted job ends: exactly one row or one dead letter.
    let db = app.db().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let (rows, dead) = loop {
        let rows: HashMap<u64, i64> = db
            .query(
                "SELECT revision_id, count(*) FROM ce_associate_edit_to_event GROUP BY 1",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
            .collect();
        let dead: HashMap<u64, String> = db
            .query("SELECT revision_id, reason FROM ce_dead_letters", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
            .collect();
        let done = accepted
            .iter()
            .all(|r| rows.contains_key(r) || dead.contains_key(r));
        if done {
            break (rows, dead);
        }
        assert!(
            Instant::now() < deadline,
            "not all accepted jobs ended: {} rows, {} dead letters, {} accepted",
            rows.len(),
            dead.len(),
            accepted.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for r in &accepted {
        let n_rows = rows.get(r).copied().unwrap_or(0);
        let n_dead = usize::from(dead.contains_key(r));
        assert_eq!(
            n_rows as usize + n_dead,
            1,
            "revision {r}: {n_rows} rows, {n_dead} dead letters"
        );
    }
    let landed_after_503 = refused
        .iter()
        .filter(|(r, _)| rows.contains_key(r) || dead.contains_key(r))
        .count();
    eprintln!(
        "rows {}, dead letters {} ({:?}); refused yet landed: {landed_after_503}",
        rows.len(),
        dead.len(),
        dead.values().collect::<HashSet<_>>()
    );
}

#[tokio::test]
async fn with_nats_down_associations_answer_503_and_nothing_is_written_then_it_recovers() {
    let mut nats = PrivateNats::start();
    let wiki = MockWiki::start().await;
    let wikis_file = wikis_file_for(&wiki);
    let nats_url = nats.url();
    let app = spawn_app_with(move |s| {
        s.common.nats_url = nats_url;
        s.common.wikis_file = Some(wikis_file);
    })
    .await;
    let event = app.create_event(1, &tracking_event(&["ptwiki"])).await;
    register(&app, event, ALICE).await;

    nats_down(&mut nats, &app).await;
    let rev = wiki.rev("Prosa", 1);
    let (s, body) =
        crate::associate::post_associate(&app, &alice(), &assoc(event, "ptwiki", rev)).await;
    assert_eq!(s, 503, "{body}");
    assert_eq!(
        assert_error_shape(s, &body),
        "campaignevents-rest-queue-unavailable"
    );
    // Reads keep answering from the cache meanwhile.
    assert_eq!(crate::cache::ongoing_ids(&app, ALICE).await, vec![event]);

    nats.up();
    eventually(
        "the client never reconnected",
        Duration::from_secs(15),
        async || connected(&app),
    )
    .await;
    // The refused association left nothing behind: no job, no row.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows: i64 = app
        .count("SELECT count(*) FROM ce_associate_edit_to_event", &[])
        .await;
    assert_eq!(rows, 0);
    let js = campaign_events::infra::nats::jetstream(
        campaign_events::infra::nats::connect(&nats.url())
            .await
            .unwrap(),
    );
    let mut edits = js.get_stream(app.names().edits_stream()).await.unwrap();
    assert_eq!(
        edits.info().await.unwrap().state.last_sequence,
        0,
        "nothing was queued"
    );
    // And it works again, without a restart.
    let (s, body) =
        crate::associate::post_associate(&app, &alice(), &assoc(event, "ptwiki", rev)).await;
    assert_eq!(s, 202, "{body}");
    crate::associate::outcome(&app, "ptwiki", rev)
        .await
        .expect("a row");
}

#[tokio::test]
async fn with_nats_down_rest_registrations_still_commit_and_the_cache_stays_right() {
    let mut nats = PrivateNats::start();
    let nats_url = nats.url();
    let app = spawn_app_with(move |s| s.common.nats_url = nats_url).await;
    let event = app.create_event(1, &crate::cache::ongoing_event()).await;
    nats_down(&mut nats, &app).await;
    let (s, body) = register(&app, event, 51).await;
    assert_eq!((s, body["modified"].as_bool()), (200, Some(true)), "{body}");
    assert_eq!(crate::cache::ongoing_ids(&app, 51).await, vec![event]);
    assert_eq!(crate::cache::db_ongoing_ids(&app, 51).await, vec![event]);
    let (s, body) = app.get_json(&app.url("/readyz")).await;
    assert_eq!(s, 503);
    assert_ne!(body["checks"]["nats"], "ok", "{body}");

    nats.up();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (s, _) = app.get_json(&app.url("/readyz")).await;
        if s == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, _) = register(&app, event, 52).await;
    assert_eq!(s, 200);
    assert_eq!(crate::cache::ongoing_ids(&app, 52).await, vec![event]);
    assert_eq!(app.state.ops.cache.sweep().await.unwrap().drift, 0);
}
