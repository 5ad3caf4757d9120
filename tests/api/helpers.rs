//! `spawn_app()`: the real service, in-process, on port 0, against a fresh uniquely named
//! database and a unique stream prefix, both removed when the `TestApp` is dropped; and the
//! helpers every test shares (unique names, free ports, tokens, `eventually`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use campaign_events::gateway::auth;
use campaign_events::infra::config::{
    AuthSettings, CacheMode, CacheSettings, ServeSettings, Settings, WorkerSettings, DEV_JWT_SECRET,
};
use campaign_events::infra::nats::Names;
use campaign_events::startup::app::{self, Application, ShutdownHandle};
use campaign_events::startup::state::State;
use campaign_events_actors::domain::UserId;
use campaign_events_actors::{ManualClock, SharedClock, SystemClock};
use serde_json::{json, Value};
use std::sync::Arc;

use crate::support::mock_wiki::MockWiki;

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const NATS_URL: &str = "nats://127.0.0.1:4222";

/// A name no other test (in this process or another) is using.
pub fn unique_name(kind: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{kind}_{}_{nanos:x}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A free port below the kernel's ephemeral range, so that while a private server is down
/// for a restart no outgoing connection (another test's, or the app reconnecting to it, which
/// could then connect to itself) can take its port. Spread by process id: nextest runs each
/// test in a process of its own, several at once.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const BASE: u32 = 10_000;
    let ephemeral_low: u32 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768);
    let span = ephemeral_low.saturating_sub(BASE).max(1_000);
    let start = std::process::id().wrapping_mul(4) + NEXT.fetch_add(1, Ordering::Relaxed);
    (0..span)
        .map(|i| (BASE + (start + i) % span) as u16)
        .find(|&port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
        .expect("a free port below the ephemeral range")
}

pub fn database_url(db: &str) -> String {
    format!("postgres://postgres@127.0.0.1:5432/{db}")
}

/// Settings for a test instance: port 0, its own database and prefix, the dev secret.
pub fn test_settings(db: &str, prefix: &str) -> ServeSettings {
    ServeSettings {
        common: Settings {
            database_url: database_url(db),
            nats_url: NATS_URL.into(),
            stream_prefix: prefix.into(),
            wikis_file: None,
            database_pool_size: 4,
            nats_stream_replicas: None,
        },
        auth: AuthSettings {
            jwt_hs256_secret: None,
            jwt_rs256_public_key_file: None,
        },
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        cache_mode: CacheMode::Actors,
        cache: CacheSettings {
            // Tests run sweeps by hand; a timed one would only add noise.
            cache_sweep_interval_secs: 3600,
            cache_horizon_hours: 24,
            cache_arbiters: Some(2),
            // Generous: a test that counts hits must not see a fallback because this busy
            // machine stalled an actor thread for a moment (the fallback has its own test).
            cache_ask_timeout_ms: 5000,
        },
        workers: WorkerSettings {
            diff_workers: 4,
            diff_ack_wait_secs: 5,
            // Retries come quickly in tests; production backs off from seconds to a minute.
            diff_retry_base_ms: 100,
            diff_retry_max_ms: 1000,
            wiki_api_timeout_secs: 2,
            recheck_interval_secs: 3600,
        },
        connections: Default::default(),
        no_workers: false,
        workers_only: false,
        max_body_bytes: 64 * 1024,
        session_cache_secs: 300,
        shutdown_grace_secs: 5,
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub db_name: String,
    pub prefix: String,
    pub http: reqwest::Client,
    pub state: std::sync::Arc<State>,
    pub settings: ServeSettings,
    shutdown: ShutdownHandle,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// When set, dropping the app leaves its database and streams (a restart follows).
    keep_data: bool,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], letting the test adjust the settings first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut ServeSettings)) -> TestApp {
    let db_name = unique_name("ce_test");
    let prefix = unique_name("t");
    let mut settings = test_settings(&db_name, &prefix);
    adjust(&mut settings);
    start(settings, Arc::new(SystemClock)).await
}

/// Writes `toml` as a `WIKIS_FILE` in a directory of its own; returns its path.
pub fn write_wikis_file(toml: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(unique_name("wikis"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("wikis.toml");
    std::fs::write(&file, toml).unwrap();
    file
}

/// Writes a `WIKIS_FILE` naming `ptwiki` (and `enwiki`) at this mock wiki's API.
pub fn wikis_file_for(wiki: &MockWiki) -> std::path::PathBuf {
    write_wikis_file(&format!(
        "[wikis]\nptwiki = \"{0}\"\nenwiki = \"{0}\"\n",
        wiki.api_url()
    ))
}

/// An app whose wikis are served by `wiki`.
pub async fn spawn_app_with_wiki(wiki: &MockWiki) -> TestApp {
    let file = wikis_file_for(wiki);
    spawn_app_with(|s| s.common.wikis_file = Some(file)).await
}

/// An app whose clock only moves when the test moves it.
pub async fn spawn_app_with_clock(clock: &ManualClock) -> TestApp {
    let settings = test_settings(&unique_name("ce_test"), &unique_name("t"));
    start(settings, Arc::new(clock.clone())).await
}

/// Starts an app on `settings` (database and prefix named there) and waits until it is ready.
pub async fn start(settings: ServeSettings, clock: SharedClock) -> TestApp {
    let (app, _) = launch(settings, clock, false).await;
    app.wait_ready().await;
    app
}

/// Starts an app on `settings` whose cache stays cold (warm-up not begun) until the returned
/// guard is dropped: its port accepts requests from the first instant.
pub async fn start_cold(
    settings: ServeSettings,
) -> (TestApp, tokio::sync::OwnedRwLockWriteGuard<()>) {
    let (app, hold) = launch(settings, Arc::new(SystemClock), true).await;
    (app, hold.expect("warm-up held"))
}

async fn launch(
    settings: ServeSettings,
    clock: SharedClock,
    hold_warm_up: bool,
) -> (TestApp, Option<tokio::sync::OwnedRwLockWriteGuard<()>>) {
    campaign_events::startup::telemetry::init();
    let db_name = settings
        .common
        .database_url
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let prefix = settings.common.stream_prefix.clone();
    let app = Application::build_with_clock(settings.clone(), clock)
        .await
        .expect("the app builds");
    let addr = app.local_addr().expect("a gateway");
    let state = app.state().expect("a gateway");
    let hold = hold_warm_up.then(|| state.cache.readiness.hold_warm_up().expect("not held yet"));
    let (shutdown, rx) = app::shutdown_channel();
    let task = tokio::spawn(app.run(rx));
    let app = TestApp {
        addr,
        db_name,
        prefix,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            // Below the server's keep-alive wait (HTTP_HEADER_READ_TIMEOUT_SECS, 10 s), so the
            // client never sends on a connection the server is closing.
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
        state,
        settings,
        shutdown,
        task: Some(task),
        keep_data: false,
    };
    (app, hold)
}

/// A token signed with the dev secret the test apps verify with.
pub fn token(user_id: u64, name: &str, roles: &[&str]) -> String {
    auth::mint(
        DEV_JWT_SECRET,
        UserId::new(user_id).unwrap(),
        name,
        roles.iter().map(|r| r.to_string()).collect(),
        3600,
    )
    .unwrap()
}

/// Any claims, signed with the dev secret: for tokens `token()` refuses to mint (expired,
/// malformed names).
pub fn sign_claims(claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(DEV_JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

pub fn organizer_token(user_id: u64) -> String {
    token(user_id, &format!("Organizer{user_id}"), &["organizer"])
}

/// A valid event body; tests change what they need.
pub fn event_body() -> Value {
    json!({
        "event_name": "Women in Red",
        "start_time": "2026-11-01T00:00:00Z",
        "end_time": "2026-11-30T23:59:59Z",
        "timezone": "Europe/Lisbon",
        "wikis": ["ptwiki", "enwiki"],
        "track_contributions": true,
        "status": "open"
    })
}

impl TestApp {
    /// Waits for `/readyz` (the cache is warm).
    pub async fn wait_ready(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = self.http.get(self.url("/readyz")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the app never became ready"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Another instance on the same database and streams, with its own port and cache, as
    /// a second replica behind a load balancer would be. Dropping it leaves the shared data
    /// to this app.
    pub async fn peer(&self) -> TestApp {
        self.peer_with(|_| {}).await
    }

    /// Like [`TestApp::peer`], letting the test adjust the peer's settings first.
    pub async fn peer_with(&self, adjust: impl FnOnce(&mut ServeSettings)) -> TestApp {
        let mut settings = self.settings.clone();
        settings.listen_addr = "127.0.0.1:0".parse().unwrap();
        adjust(&mut settings);
        let mut peer = start(settings, Arc::new(SystemClock)).await;
        peer.keep_data = true;
        peer
    }

    /// The single number a `SELECT count(*) …` returns, on this app's database.
    pub async fn count(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> i64 {
        self.db().await.query_one(sql, params).await.unwrap().get(0)
    }

    /// `/metrics` as text.
    pub async fn metrics_text(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// One sample of `/metrics` (name and labels exactly, e.g.
    /// `ce_cache_lookups_total{result="hit"}`), if present.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        crate::metrics::sample(&self.metrics_text().await, series)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn names(&self) -> Names {
        Names::new(&self.prefix)
    }

    pub fn v0(&self, path: &str) -> String {
        self.url(&format!("/rest.php/campaignevents/v0{path}"))
    }

    /// Creates an event as `organizer` and returns its id.
    pub async fn create_event(&self, organizer: u64, body: &Value) -> u64 {
        let resp = self
            .http
            .post(self.v0("/event_registration"))
            .bearer_auth(organizer_token(organizer))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(status, 201, "create failed: {v}");
        v["id"].as_u64().unwrap()
    }

    pub async fn get_json(&self, url: &str) -> (u16, Value) {
        let resp = self.http.get(url).send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    /// A fresh connection to this app's database.
    pub async fn db(&self) -> tokio_postgres::Client {
        let (client, conn) =
            tokio_postgres::connect(&self.settings.common.database_url, tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(conn);
        client
    }

    /// Terminates every server connection to this app's database (a Postgres restart, as
    /// the app's pool sees it).
    pub async fn db_kill_connections(&self) {
        admin()
            .await
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&self.db_name],
            )
            .await
            .unwrap();
    }

    /// Stops the app gracefully but keeps its database and streams, and returns its settings
    /// so that a new instance can start on the same data.
    pub async fn stop_keeping_data(mut self) -> ServeSettings {
        self.keep_data = true;
        self.stop().await;
        self.settings.clone()
    }

    /// Graceful stop; waits for the server task to finish.
    pub async fn stop(&mut self) {
        self.shutdown.shutdown();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("the app stops within its grace period")
                .unwrap()
                .unwrap();
        }
    }
}

impl TestApp {
    /// `route status` for every status this app answered on a route whose OpenAPI entry does not
    /// list it, from the gateway's own request counter: so every test also checks that the
    /// document tells the truth about what it saw.
    pub fn undocumented_statuses(&self) -> Vec<String> {
        use campaign_events::startup::routes::ROUTES;
        use prometheus::core::Collector;
        let doc = &self.state.ops.openapi;
        let mut found = Vec::new();
        for family in self.state.edge.metrics.http_requests.collect() {
            for m in family.get_metric() {
                if m.get_counter().get_value() == 0.0 {
                    continue;
                }
                let label = |name: &str| {
                    m.get_label()
                        .iter()
                        .find(|l| l.name() == name)
                        .map(|l| l.value().to_owned())
                        .unwrap_or_default()
                };
                let (route, status) = (label("route"), label("status"));
                // Answers no route tagged (no such path, a wrong method) are the plumbing's.
                let Some(spec) = ROUTES.iter().find(|r| r.id == route) else {
                    continue;
                };
                let op = &doc["paths"][spec.path][spec.method.as_str().to_ascii_lowercase()];
                if op["responses"][status.as_str()].is_null() {
                    found.push(format!("{route} {status}"));
                }
            }
        }
        found
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let undocumented = self.undocumented_statuses();
        self.shutdown.shutdown();
        if !self.keep_data {
            cleanup_on(
                self.settings.common.nats_url.clone(),
                self.db_name.clone(),
                self.prefix.clone(),
            );
        }
        // After the clean-up, so that a failure here leaves nothing behind.
        if !std::thread::panicking() {
            assert!(
                undocumented.is_empty(),
                "answers the OpenAPI document does not list: {undocumented:?}"
            );
        }
    }
}

/// Drops the database and deletes the streams on the shared NATS server.
pub fn cleanup(db_name: String, prefix: String) {
    cleanup_on(NATS_URL.to_owned(), db_name, prefix)
}

/// Drops the database and deletes the streams on the NATS server at `nats_url` (the one the
/// app used: a test on a private server may use no prefix, whose streams on the shared server
/// are not its own). Runs on its own thread and runtime because `Drop` cannot await and the
/// test's runtime may be shutting down.
pub fn cleanup_on(nats_url: String, db_name: String, prefix: String) {
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            if let Ok((client, conn)) =
                tokio_postgres::connect(PG_ADMIN_URL, tokio_postgres::NoTls).await
            {
                tokio::spawn(conn);
                let _ = client
                    .batch_execute(&format!(
                        "DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)"
                    ))
                    .await;
            }
            // The service's own connect: it understands credentials in the URL.
            if let Ok(nc) = campaign_events::infra::nats::connect(&nats_url).await {
                let js = async_nats::jetstream::new(nc);
                let names = Names::new(&prefix);
                for s in [
                    names.registrations_stream(),
                    names.changes_stream(),
                    names.edits_stream(),
                ] {
                    let _ = js.delete_stream(&s).await;
                }
            }
        });
    })
    .join();
}

/// A connection to the server's `postgres` database, for admin work.
pub async fn admin() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(PG_ADMIN_URL, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// Asserts the MediaWiki REST error shape and returns the errorKey.
pub fn assert_error_shape(status: u16, body: &Value) -> String {
    assert!(body.is_object(), "error body is not JSON: {body}");
    assert_eq!(body["httpCode"].as_u64(), Some(status as u64), "{body}");
    assert!(body["httpReason"].is_string(), "{body}");
    assert!(
        body["messageTranslations"]["en"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body["errorKey"].as_str().expect("errorKey").to_owned()
}

/// Polls `check` until it holds; fails the test naming `what` if it does not within `within`.
pub async fn eventually(
    what: &str,
    within: Duration,
    mut check: impl AsyncFnMut() -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
