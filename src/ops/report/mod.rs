//! `campaign-events report`: the original cache evaluation, answered on live data. It reads
//! the database, the live service's `/metrics` (when one answers), warms a cache of its own
//! from the database to measure memory, and times cached reads against database reads side by
//! side in this process. Each scenario of the evaluation gets a section ([`render`]).

mod gather;
pub mod measure;
mod render;

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use gather::gather;
pub use render::render_text;

/// Command-line options of `report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Postgres connection URL of the service's database.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/campaign_events"
    )]
    pub database_url: String,
    /// Base URL of a running instance whose `/metrics` give the live hit ratio.
    #[arg(
        long,
        env = "REPORT_SERVICE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub service_url: String,
    /// Seconds each side of the cached-vs-database comparison runs in all (two interleaved
    /// rounds of half that).
    #[arg(long, default_value_t = 4)]
    pub bench_seconds: u64,
    /// Concurrent readers in that comparison.
    #[arg(long, default_value_t = 8)]
    pub readers: usize,
    /// Write the report as JSON: to FILE, or to stdout when no FILE is given (the text is
    /// then not printed).
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    pub json: Option<PathBuf>,
}

/// Everything the report found. Field names are the `--json` format.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub generated_at: DateTime<Utc>,
    pub size: Size,
    pub live: Live,
    pub freshness: Freshness,
    pub performance: Performance,
    pub cost: Cost,
}

/// Scenario "cache size analysis".
#[derive(Debug, Clone, Serialize)]
pub struct Size {
    /// Distinct users with at least one ongoing registration: the cache's actors.
    pub participants_with_ongoing_events: i64,
    /// Their registrations to ongoing events.
    pub ongoing_registrations: i64,
    pub ongoing_events: i64,
    /// Events starting within the next 7 days.
    pub upcoming_events_7d: i64,
    /// Registrations for those upcoming events (the cache grows by these as they start).
    pub upcoming_registrations_7d: i64,
    /// The estimate `ce_cache_memory_bytes` uses.
    pub estimated_bytes_per_participant: u64,
    pub estimated_total_bytes: u64,
    /// RSS growth per participant measured in this run.
    pub measured_bytes_per_participant: Option<f64>,
    /// How the measurement was taken.
    pub measured_how: String,
}

/// Scenario "hit ratio": the live service's own counters.
#[derive(Debug, Clone, Serialize)]
pub struct Live {
    pub service_url: String,
    /// Why there are no live numbers, if there are none.
    pub unavailable: Option<String>,
    pub actors: Option<f64>,
    pub lookups_hit: Option<f64>,
    pub lookups_empty: Option<f64>,
    pub lookups_fallback: Option<f64>,
    /// (hit + empty) / all lookups: the share of post-edit reads answered without the database.
    pub hit_ratio: Option<f64>,
    pub memory_gauge_bytes: Option<f64>,
    pub resident_memory_bytes: Option<f64>,
    pub reconcile_drift_total: Option<f64>,
}

/// One bucket of the event-duration distribution.
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    pub label: &'static str,
    pub events: i64,
}

/// Scenario "update frequency".
#[derive(Debug, Clone, Serialize)]
pub struct Freshness {
    /// Durations of the events ongoing now or starting within 7 days.
    pub durations: Vec<Bucket>,
    pub median_duration_hours: Option<f64>,
    /// Events ending in each hour of the coming week (168 values, hour 0 starting now).
    pub ends_per_hour: Vec<u32>,
    pub ends_in_week: u32,
    pub busiest_hour_start: Option<DateTime<Utc>>,
    pub busiest_hour_ends: u32,
    /// Most registrations that end within any 3-hour window of the week: what a cache
    /// refreshed only every 3 hours (the first proposal) could serve stale.
    pub max_registrations_ending_in_3h: i64,
    /// How long the sweep's reconciliation query took here.
    pub sweep_query_ms: f64,
    pub recommended_sweep_secs: u64,
    /// What that interval allows: how long a change the cache missed can stay wrong. Ends and
    /// starts are applied on time by timers and are not delayed by the interval.
    pub allowed_staleness_secs: u64,
    pub reasoning: String,
}

/// Latency and throughput of one kind of read.
#[derive(Debug, Clone, Serialize)]
pub struct ReadStats {
    pub reads: u64,
    pub reads_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub errors: u64,
}

/// Scenario "performance improvement".
#[derive(Debug, Clone, Serialize)]
pub struct Performance {
    pub method: String,
    pub users_sampled: usize,
    pub cached: ReadStats,
    pub database: ReadStats,
    /// cached reads/s ÷ database reads/s.
    pub throughput_ratio: f64,
    /// database p50 ÷ cached p50.
    pub latency_ratio: f64,
    /// Database queries the live service has avoided since it started (hit + empty lookups).
    pub queries_avoided: Option<f64>,
}

/// Scenario "implementation cost".
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    pub memory_now_bytes: u64,
    pub memory_at_10x_bytes: u64,
    pub warm_up_ms: f64,
    pub sweeps_per_day: u64,
    pub sweep_db_time_per_day_secs: f64,
    pub notes: Vec<String>,
}

/// Runs the report as the CLI does: gather, then print text or write JSON.
pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let report = gather(&args).await?;
    match &args.json {
        Some(path) if path.as_os_str() == "-" => {
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Some(path) => {
            std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
            print!("{}", render_text(&report));
            println!("\nJSON written to {}", path.display());
        }
        None => print!("{}", render_text(&report)),
    }
    Ok(())
}
