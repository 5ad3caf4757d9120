//! The registration harness: `cargo bench --bench registrations`. Writes
//! `benches/reports/registrations.md`.
//!
//! How many registrations one instance (the release binary, `serve --no-workers`) turns into
//! committed rows and cache entries per second, by either road:
//! 1. REST: `PUT …/participants/self` from concurrent clients, each a different user.
//! 2. NATS: registration commands published (with their acks) onto `CE_REGISTRATIONS` as fast
//!    as possible, then the time until the instance's shared consumer has committed them all
//!    and its cache holds every one.
//!
//! Same machine, same run; the load generator shares the cores. Never asserts a timing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use campaign_events::gateway::auth;
use campaign_events::infra::config::DEV_JWT_SECRET;
use campaign_events::infra::db;
use campaign_events::infra::nats::{self, Names};
use campaign_events::registration::nats::{self as registrations, Kind};
use campaign_events_actors::domain::UserId;
use serde_json::json;
use support::{create_event, pct, service, wait_ready};

mod support;

const CONCURRENCY: usize = 32;
const REST_USERS: usize = 10_000;
const NATS_USERS: usize = 20_000;
const PORT: u16 = 18491;

async fn actors(http: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(campaign_events::infra::metrics::sample(&text, "ce_cache_actors").unwrap_or(0.0) as u64)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let tag = std::process::id();
    let db_name = format!("ce_bench_reg_{tag}");
    let url = support::database_url(&db_name);
    campaign_events::infra::migrate(&db::prepare(&url).await?).await?;
    let prefix = format!("benchreg{tag}_");
    let names = Names::new(&prefix);

    let service = service(
        &["serve", "--no-workers"],
        &[
            ("DATABASE_URL", url.clone()),
            ("STREAM_PREFIX", prefix.clone()),
            ("LISTEN_ADDR", format!("127.0.0.1:{PORT}")),
        ],
    )?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()?;
    let base = format!("http://127.0.0.1:{PORT}");
    wait_ready(&http, &base).await?;
    let event = create_event(&http, &base).await?;

    // --- 1. REST ----------------------------------------------------------------------------
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..REST_USERS)
            .map(|i| {
                auth::mint(
                    DEV_JWT_SECRET,
                    UserId::new(1000 + i as u64)?,
                    "U",
                    vec![],
                    3600,
                )
            })
            .collect::<anyhow::Result<_>>()?,
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (http, tokens, next, base) = (http.clone(), tokens.clone(), next.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            let url = format!(
                "{base}/rest.php/campaignevents/v0/event_registration/{event}/participants/self"
            );
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= tokens.len() {
                    break;
                }
                let t = Instant::now();
                match http
                    .put(&url)
                    .bearer_auth(&tokens[i])
                    .json(&json!({"is_private": false}))
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => lat.push(t.elapsed()),
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let (mut rest_lat, mut rest_errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await?;
        rest_lat.extend(l);
        rest_errors += e;
    }
    let rest_secs = started.elapsed().as_secs_f64();
    rest_lat.sort();
    let rest_rate = rest_lat.len() as f64 / rest_secs;
    let rest_actors = actors(&http, &base).await?;

    // --- 2. NATS ----------------------------------------------------------------------------
    let js = nats::jetstream(nats::connect("nats://127.0.0.1:4222").await?);
    let counter = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (js, names, counter) = (js.clone(), names.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                if i >= NATS_USERS {
                    break;
                }
                let cmd = registrations::Command {
                    kind: Kind::Registered,
                    event_id: event,
                    user_id: 100_000 + i as u64,
                    private: false,
                    at: chrono::Utc::now().timestamp_millis(),
                };
                if registrations::publish(&js, &names, &cmd).await.is_err() {
                    eprintln!("a publish failed");
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let published_secs = started.elapsed().as_secs_f64();
    let want = rest_actors + NATS_USERS as u64;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let n = actors(&http, &base).await?;
        if n >= want || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let nats_secs = started.elapsed().as_secs_f64();
    let client = db::connect(&url.parse()?).await?;
    let rows: i64 = client
        .query_one(
            "SELECT count(*) FROM ce_participants WHERE unregistered_at IS NULL",
            &[],
        )
        .await?
        .get(0);
    let cached = actors(&http, &base).await?;
    drop(service);

    let report = format!(
        "# Registration benchmark\n\nGenerated by `cargo bench --bench registrations` on {} ({} cores). \
         One release instance (`serve --no-workers`); the load generator and NATS share the machine.\n\n\
         | road | registrations | time | per second | p50 | p99 | errors |\n|---|---:|---:|---:|---:|---:|---:|\n\
         | REST `PUT …/participants/self`, {CONCURRENCY} clients | {} | {rest_secs:.2} s | **{rest_rate:.0}** | {:.2} ms | {:.2} ms | {rest_errors} |\n\
         | NATS commands → committed and cached | {NATS_USERS} | {nats_secs:.2} s | **{:.0}** | – | – | – |\n\n\
         Publishing the {NATS_USERS} commands ({CONCURRENCY} publishers, each waiting for its ack) took \
         {published_secs:.2} s; the instance's shared `registrations` consumer then committed each in its \
         own transaction, published the change on `CE_CHANGES` and applied it to its cache. At the end: \
         {rows} active registrations in Postgres, {cached} cached participants.\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        rest_lat.len(),
        pct(&rest_lat, 0.5).as_secs_f64() * 1e3,
        pct(&rest_lat, 0.99).as_secs_f64() * 1e3,
        NATS_USERS as f64 / nats_secs,
    );

    drop(client);
    support::drop_database(&db_name).await?;
    support::delete_streams(&js, &names).await;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/reports/registrations.md"
    );
    std::fs::write(path, &report)?;
    println!("{report}");
    Ok(())
}
