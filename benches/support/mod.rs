//! What the benchmark harnesses share: the release binary as a child process, readiness, a
//! tracking event to work on, percentiles. (A folder, so that Cargo does not take it for a
//! benchmark of its own.)

#![allow(dead_code)] // each harness uses its part

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use campaign_events::gateway::auth;
use campaign_events::infra::config::DEV_JWT_SECRET;
use campaign_events::infra::metrics::ProcStat;
use campaign_events_actors::domain::UserId;
use serde_json::json;

/// A port nothing listens on now (a harness never restarts a server on the same port, so the
/// test suite's choice below the ephemeral range is not needed).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A child process, killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The release binary with `args`, logging warnings only, with `env` added.
pub fn service(args: &[&str], env: &[(&str, String)]) -> anyhow::Result<Proc> {
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

/// Waits up to a minute for `base/readyz` to answer 200.
pub async fn wait_ready(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        anyhow::ensure!(Instant::now() < deadline, "{base} never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Creates an ongoing event on ptwiki that tracks contributions; returns its id.
pub async fn create_event(http: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let organizer = auth::mint(
        DEV_JWT_SECRET,
        UserId::new(1)?,
        "Org",
        vec!["organizer".into()],
        3600,
    )?;
    http.post(format!(
        "{base}/rest.php/campaignevents/v0/event_registration"
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
        .ok_or_else(|| anyhow::anyhow!("no event id"))
}

/// The `p` quantile of sorted samples.
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// The URL of database `name` on the local server.
pub fn database_url(name: &str) -> String {
    format!("postgres://postgres@127.0.0.1:5432/{name}")
}

/// Drops a run's scratch database, whoever is still connected.
pub async fn drop_database(name: &str) -> anyhow::Result<()> {
    let admin = campaign_events::infra::db::connect(&database_url("postgres").parse()?).await?;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await?;
    Ok(())
}

/// Deletes the three streams of a run's prefix.
pub async fn delete_streams(
    js: &async_nats::jetstream::Context,
    names: &campaign_events::infra::nats::Names,
) {
    for s in [
        names.registrations_stream(),
        names.changes_stream(),
        names.edits_stream(),
    ] {
        let _ = js.delete_stream(&s).await;
    }
}

/// CPU time, in clock ticks (`metrics::PROC_TICKS_PER_SECOND`), read from `/proc`: the whole
/// machine's busy and total time, and the time of each watched process. Two samples around
/// a phase say how busy the machine was and who spent the CPU, which a rate alone cannot.
#[derive(Clone, Debug, Default)]
pub struct Cpu {
    pub busy: u64,
    pub total: u64,
    pub procs: Vec<u64>,
}

impl Cpu {
    /// Reads the counters now for the processes `pids` (0 for one not found: counts nothing).
    pub fn sample(pids: &[u32]) -> Self {
        let mut cpu = Cpu::default();
        if let Some(line) = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| s.lines().next().map(str::to_owned))
        {
            // cpu user nice system idle iowait irq softirq steal …
            let f: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect();
            if f.len() >= 8 {
                cpu.busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
                cpu.total = cpu.busy + f[3] + f[4];
            }
        }
        cpu.procs = pids
            .iter()
            .map(|&pid| ProcStat::read(Some(pid)).map_or(0, |s| s.cpu_ticks))
            .collect();
        cpu
    }

    /// What was spent between `earlier` and `self`.
    pub fn since(&self, earlier: &Cpu) -> Cpu {
        Cpu {
            busy: self.busy - earlier.busy,
            total: self.total - earlier.total,
            procs: self
                .procs
                .iter()
                .zip(&earlier.procs)
                .map(|(a, b)| a - b)
                .collect(),
        }
    }

    /// Adds another phase's spending.
    pub fn add(&mut self, other: &Cpu) {
        self.busy += other.busy;
        self.total += other.total;
        if self.procs.is_empty() {
            self.procs = vec![0; other.procs.len()];
        }
        for (a, b) in self.procs.iter_mut().zip(&other.procs) {
            *a += b;
        }
    }

    /// The share of the machine's time that was busy.
    pub fn busy_share(&self) -> f64 {
        self.busy as f64 / self.total.max(1) as f64
    }
}

/// The pid of the first process whose command name is `comm` (as `/proc/PID/comm` has it).
pub fn pid_of(comm: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let name = std::fs::read_to_string(e.path().join("comm")).ok()?;
        (name.trim() == comm).then_some(pid)
    })
}
