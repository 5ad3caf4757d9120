//! The association harness: `cargo bench --bench associate`. Writes
//! `benches/reports/associate.md`.
//!
//! In one run, on this machine, against a local Action API (the tests' mock wiki, in this
//! process) and the release binary:
//! 1. Accepted associations per second through `POST …/associate-edit-to-event` (a gateway
//!    with `--no-workers`), next to raw JetStream publish+ack of the same jobs from this
//!    process, interleaved in rounds so both see the same machine.
//! 2. End-to-end job throughput: every queued job fetched, measured and stored by a
//!    `--workers-only` process with all workers busy, from the first job to the last row.
//!
//! The diff's own cost is in `cargo bench --bench stats` (criterion). Never asserts a timing.

#[path = "../tests/api/wiki.rs"]
mod wiki;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use campaign_events::jobs::{self, Job};
use campaign_events::nats::{self, Names};
use campaign_events::{auth, config::DEV_JWT_SECRET, db};
use campaign_events_actors::domain::UserId;
use serde_json::json;
use wiki::{FixtureRev, MockWiki};

const CONCURRENCY: usize = 32;
const ROUNDS: usize = 5;
const PER_ROUND: usize = 4000;
/// Extra jobs queued directly for the end-to-end run.
const EXTRA_JOBS: usize = 4000;
const GATEWAY_PORT: u16 = 18490;

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn service(args: &[&str], env: &[(&str, String)]) -> anyhow::Result<Proc> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_campaign-events"));
    cmd.args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Ok(Proc(cmd.spawn()?))
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let tag = std::process::id();
    let db_name = format!("ce_bench_assoc_{tag}");
    let url = format!("postgres://postgres@127.0.0.1:5432/{db_name}");
    db::migrate(&db::prepare(&url).await?).await?;
    let prefix = format!("benchassoc{tag}_");
    let raw_prefix = format!("benchraw{tag}_");

    // Revisions by Alice: one page, each revision a small edit of the previous.
    let wiki = MockWiki::start().await;
    let total = ROUNDS * PER_ROUND + EXTRA_JOBS;
    let base = "Lisboa é a capital de [[Portugal]]. A cidade fica no estuário do [[Tejo]].<ref>Fonte</ref>\n".repeat(20);
    let revs = wiki.add_page(
        "Carga",
        0,
        (0..total)
            .map(|i| {
                FixtureRev::new(
                    "Alice",
                    "2026-11-21T10:00:00Z",
                    &format!("{base}Parágrafo {i} com [[Ligação {i}]].\n"),
                )
            })
            .collect(),
    );
    let wikis = std::env::temp_dir().join(format!("bench-wikis-{tag}.toml"));
    std::fs::write(
        &wikis,
        format!("[wikis]\nptwiki = \"{}\"\n", wiki.api_url()),
    )?;
    let common = vec![
        ("DATABASE_URL", url.clone()),
        ("STREAM_PREFIX", prefix.clone()),
        ("WIKIS_FILE", wikis.display().to_string()),
    ];

    // --- 1. POST vs raw publish -----------------------------------------------------------
    let mut env = common.clone();
    env.push(("LISTEN_ADDR", format!("127.0.0.1:{GATEWAY_PORT}")));
    let gateway = service(&["serve", "--no-workers"], &env)?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()?;
    let base_url = format!("http://127.0.0.1:{GATEWAY_PORT}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while http
        .get(format!("{base_url}/readyz"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        anyhow::ensure!(Instant::now() < deadline, "gateway never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let organizer = auth::mint(
        DEV_JWT_SECRET,
        UserId::new(1)?,
        "Org",
        vec!["organizer".into()],
        3600,
    )?;
    let alice = auth::mint(DEV_JWT_SECRET, UserId::new(42)?, "Alice", vec![], 3600)?;
    let event: u64 = http
        .post(format!(
            "{base_url}/rest.php/campaignevents/v0/event_registration"
        ))
        .bearer_auth(&organizer)
        .json(
            &json!({"event_name": "Bench", "start_time": "2026-11-20T00:00:00Z",
            "end_time": (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339(),
            "timezone": "UTC", "wikis": ["ptwiki"], "track_contributions": true}),
        )
        .send()
        .await?
        .json::<serde_json::Value>()
        .await?["id"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("no event id"))?;
    http.put(format!(
        "{base_url}/rest.php/campaignevents/v0/event_registration/{event}/participants/self"
    ))
    .bearer_auth(&alice)
    .json(&json!({}))
    .send()
    .await?;

    let js = nats::jetstream(nats::connect("nats://127.0.0.1:4222").await?);
    let raw_names = Names::new(&raw_prefix);
    nats::ensure_streams(&js, &raw_names).await?;
    let revs = Arc::new(revs);
    let next = Arc::new(AtomicUsize::new(0));
    let (mut post_lat, mut raw_lat) = (Vec::new(), Vec::new());
    let (mut post_secs, mut raw_secs, mut post_errors) = (0.0, 0.0, 0usize);
    for round in 0..ROUNDS {
        eprintln!("round {}/{ROUNDS}", round + 1);
        // POST
        let start = Instant::now();
        let end_at = (round + 1) * PER_ROUND;
        let mut tasks = Vec::new();
        for _ in 0..CONCURRENCY {
            let (http, revs, next, alice, base_url) = (
                http.clone(),
                revs.clone(),
                next.clone(),
                alice.clone(),
                base_url.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= end_at {
                        break;
                    }
                    let t = Instant::now();
                    let r = http
                        .post(format!(
                            "{base_url}/rest.php/v1/campaignevents/associate-edit-to-event"
                        ))
                        .bearer_auth(&alice)
                        .json(
                            &json!({"revisionId": revs[i], "wikiId": "ptwiki", "event_id": event}),
                        )
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 202 => lat.push(t.elapsed()),
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            }));
        }
        for t in tasks {
            let (lat, e) = t.await?;
            post_lat.extend(lat);
            post_errors += e;
        }
        post_secs += start.elapsed().as_secs_f64();
        next.store(end_at, Ordering::Relaxed);
        // Raw publish+ack of the same number of jobs, same concurrency.
        let start = Instant::now();
        let counter = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..CONCURRENCY {
            let (js, names, counter) = (js.clone(), raw_names.clone(), counter.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = counter.fetch_add(1, Ordering::Relaxed);
                    if i >= PER_ROUND {
                        break;
                    }
                    let job = Job {
                        revision_id: (round * PER_ROUND + i + 1) as u64,
                        wiki_id: "ptwiki".into(),
                        event_id: event,
                        user_id: 42,
                        user_name: "Alice".into(),
                        requested_at: chrono::Utc::now().timestamp_millis(),
                        client_timestamp: String::new(),
                    };
                    let t = Instant::now();
                    if jobs::publish(&js, &names, &job, &job.key()).await.is_ok() {
                        lat.push(t.elapsed());
                    }
                }
                lat
            }));
        }
        for t in tasks {
            raw_lat.extend(t.await?);
        }
        raw_secs += start.elapsed().as_secs_f64();
    }
    drop(gateway);
    post_lat.sort();
    raw_lat.sort();
    let post_rate = post_lat.len() as f64 / post_secs;
    let raw_rate = raw_lat.len() as f64 / raw_secs;

    // --- 2. End to end -------------------------------------------------------------------
    let names = Names::new(&prefix);
    for (i, rev) in revs.iter().enumerate().skip(ROUNDS * PER_ROUND) {
        let job = Job {
            revision_id: *rev,
            wiki_id: "ptwiki".into(),
            event_id: event,
            user_id: 42,
            user_name: "Alice".into(),
            requested_at: chrono::Utc::now().timestamp_millis(),
            client_timestamp: String::new(),
        };
        // Fire and collect acks in batches: the queue is filled before the workers start.
        let ack = js.publish_with_headers(
            names.edit_subject("ptwiki"),
            {
                let mut h = async_nats::HeaderMap::new();
                h.insert("Nats-Msg-Id", job.key().as_str());
                h
            },
            rmp_serde::to_vec_named(&job)?.into(),
        );
        ack.await?.await?;
        if i % 1000 == 0 {
            eprintln!("queued {i}");
        }
    }
    let mut edits = js.get_stream(names.edits_stream()).await?;
    let queued = edits.info().await?.state.messages as i64;
    let client = db::connect(&url.parse()?).await?;
    let workers_n = std::env::var("BENCH_WORKERS").unwrap_or_else(|_| "64".into());
    let mut env = common.clone();
    env.push(("DIFF_WORKERS", workers_n.clone()));
    let started = Instant::now();
    let workers = service(&["serve", "--workers-only"], &env)?;
    let done = loop {
        let n: i64 = client
            .query_one(
                "SELECT (SELECT count(*) FROM ce_associate_edit_to_event) + (SELECT count(*) FROM ce_dead_letters)",
                &[],
            )
            .await?
            .get(0);
        if n >= queued || started.elapsed() > Duration::from_secs(300) {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let e2e = started.elapsed().as_secs_f64();
    drop(workers);
    let dead: i64 = client
        .query_one("SELECT count(*) FROM ce_dead_letters", &[])
        .await?
        .get(0);

    let mut report = format!(
        "# Association benchmark\n\nGenerated by `cargo bench --bench associate` on {} ({} cores). \
         The mock Action API, the load generator and the service share the machine.\n\n\
         ## Accepted associations vs raw JetStream publish+ack\n\n\
         {CONCURRENCY} concurrent clients, {ROUNDS} interleaved rounds of {PER_ROUND} each. POST goes \
         through HTTP, JWT, the cache's checks, the database's already-associated check and the \
         publish with its ack; raw is the publish+ack alone, from this process.\n\n\
         | path | accepted/s | p50 | p99 | errors |\n|---|---:|---:|---:|---:|\n\
         | POST associate-edit-to-event | {post_rate:.0} | {:.2} ms | {:.2} ms | {post_errors} |\n\
         | raw JetStream publish+ack | {raw_rate:.0} | {:.2} ms | {:.2} ms | 0 |\n\n\
         POST at **{:.0}%** of raw publish+ack (target ≥ 60%: {}).\n\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        pct(&post_lat, 0.5).as_secs_f64() * 1e3,
        pct(&post_lat, 0.99).as_secs_f64() * 1e3,
        pct(&raw_lat, 0.5).as_secs_f64() * 1e3,
        pct(&raw_lat, 0.99).as_secs_f64() * 1e3,
        post_rate / raw_rate * 100.0,
        if post_rate / raw_rate >= 0.6 { "met" } else { "NOT met" },
    );
    report.push_str(&format!(
        "## End-to-end job throughput\n\n{queued} jobs queued, then a `--workers-only` process with \
         {workers_n} workers started: each job fetches its revision and the parent from the \
         Action API, diffs them (~2 KB pages), and stores a row. {done} jobs ended ({dead} dead \
         letters) in {e2e:.2} s: **{:.0} jobs/s** (target ≥ 1,000: {}).\n",
        done as f64 / e2e,
        if done as f64 / e2e >= 1000.0 { "met" } else { "NOT met" },
    ));

    let admin = db::connect(&"postgres://postgres@127.0.0.1:5432/postgres".parse()?).await?;
    drop(client);
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)"
        ))
        .await?;
    for n in [names, raw_names] {
        for s in [
            n.registrations_stream(),
            n.changes_stream(),
            n.edits_stream(),
        ] {
            let _ = js.delete_stream(&s).await;
        }
    }
    let _ = std::fs::remove_file(&wikis);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/reports/associate.md");
    std::fs::write(path, &report)?;
    println!("{report}");
    Ok(())
}
