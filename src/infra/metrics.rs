//! `/metrics` in Prometheus' text format: the names CONTRACT.md fixes, plus the usual process
//! metrics. Counters the request path touches are `prometheus` types (lock-free); the cache's
//! own counters live in its `CacheStats` and are read at scrape time.

use std::fmt::Write as _;
use std::sync::Arc;

use campaign_events_actors::{Cache, Lookup};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// Bytes one cached participant costs, as `benches/cache.rs` measured it (RSS delta at 100k and
/// 1M participants, `benches/reports/cache.md`). The gauge is this times the live actors.
pub const BYTES_PER_PARTICIPANT: u64 = 1440;
/// A directory entry (shared event facts and its wiki list), generously.
pub const BYTES_PER_EVENT: u64 = 1024;

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub associations: IntCounterVec,
    pub jobs: IntCounterVec,
    pub job_duration: Histogram,
    /// Connections open now (the gateway's listener).
    pub http_connections: IntGauge,
    /// Connections closed at once because `HTTP_MAX_CONNECTIONS` were open.
    pub http_connections_refused: IntCounter,
    /// Stored rows re-checked against their wiki, by what the check found.
    pub recheck_rows: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "ce_http_requests_total",
                "HTTP requests by route and status.",
            ),
            &["route", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "ce_http_request_duration_seconds",
                "HTTP request duration by route.",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0,
            ]),
            &["route"],
        )
        .expect("valid metric");
        let associations = IntCounterVec::new(
            Opts::new(
                "ce_associations_total",
                "Association requests: queued, rejected (4xx) or unavailable (503).",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let jobs = IntCounterVec::new(
            Opts::new(
                "ce_jobs_total",
                "Diff jobs handled: stored, retried or dead.",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let job_duration = Histogram::with_opts(
            HistogramOpts::new(
                "ce_job_duration_seconds",
                "Time one attempt at a job took: fetch, measure, then store, retry or dead-letter.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
        )
        .expect("valid metric");
        let http_connections = IntGauge::new("ce_http_connections", "HTTP connections open now.")
            .expect("valid metric");
        let http_connections_refused = IntCounter::new(
            "ce_http_connections_refused_total",
            "HTTP connections closed at once because HTTP_MAX_CONNECTIONS were open.",
        )
        .expect("valid metric");
        registry
            .register(Box::new(http_connections.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(http_connections_refused.clone()))
            .expect("unique metric");
        let recheck_rows = IntCounterVec::new(
            Opts::new(
                "ce_recheck_rows_total",
                "Stored contributions re-checked against their wiki: unchanged, deleted (page \
                 deleted, text or author hidden), restored, moved, or failed (the wiki did not say).",
            ),
            &["result"],
        )
        .expect("valid metric");
        for c in [&http_requests, &associations, &jobs, &recheck_rows] {
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
        }
        registry
            .register(Box::new(http_duration.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(job_duration.clone()))
            .expect("unique metric");
        // Outcomes exist from the start, at zero, so that rates and alerts see them.
        for o in ["queued", "rejected", "unavailable"] {
            associations.with_label_values(&[o]);
        }
        for o in ["stored", "retried", "dead"] {
            jobs.with_label_values(&[o]);
        }
        for o in ["unchanged", "deleted", "restored", "moved", "failed"] {
            recheck_rows.with_label_values(&[o]);
        }
        Self {
            registry,
            http_requests,
            http_duration,
            associations,
            jobs,
            job_duration,
            http_connections,
            http_connections_refused,
            recheck_rows,
        }
    }

    /// The whole scrape: registered metrics, the cache's, the process's.
    pub fn render(&self, cache: Option<&Arc<Cache>>) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        let mut out = String::from_utf8(buf).unwrap_or_default();
        if let Some(cache) = cache {
            let s = cache.stats();
            let now = cache.clock().now();
            let actors = s.actors().max(0) as u64;
            let events = cache.directory().ongoing_count(now) as u64;
            let held = cache.directory().len() as u64;
            gauge(
                &mut out,
                "ce_cache_actors",
                "Live user actors (participants with an ongoing event).",
                actors,
            );
            gauge(
                &mut out,
                "ce_cache_events",
                "Ongoing events in the directory.",
                events,
            );
            gauge(
                &mut out,
                "ce_cache_memory_bytes",
                "Estimated cache memory: actors times the measured bytes per participant, plus the directory.",
                actors * BYTES_PER_PARTICIPANT + held * BYTES_PER_EVENT,
            );
            let _ = writeln!(
                out,
                "# HELP ce_cache_lookups_total Post-edit reads by how they were answered."
            );
            let _ = writeln!(out, "# TYPE ce_cache_lookups_total counter");
            for (label, how) in [
                ("hit", Lookup::Hit),
                ("empty", Lookup::Empty),
                ("fallback", Lookup::Fallback),
            ] {
                let _ = writeln!(
                    out,
                    "ce_cache_lookups_total{{result=\"{label}\"}} {}",
                    s.lookups(how)
                );
            }
            counter(
                &mut out,
                "ce_cache_reconcile_drift_total",
                "Memberships the sweep had to fix.",
                s.drift(),
            );
        }
        process_metrics(&mut out);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The backlog gauges (`ops::backlog` measures them at scrape time): what an operator alerts
/// on when the diff workers fall behind or give up. A figure whose dependency did not answer is
/// left out (alert on its absence).
pub fn backlog(
    out: &mut String,
    pending: Option<u64>,
    in_flight: Option<u64>,
    dead_letters: Option<u64>,
) {
    for (name, help, value) in [
        (
            "ce_jobs_pending",
            "Association jobs queued and not yet delivered to a diff worker.",
            pending,
        ),
        (
            "ce_jobs_in_flight",
            "Association jobs delivered to a diff worker and not yet acknowledged.",
            in_flight,
        ),
        (
            "ce_dead_letters_open",
            "Dead letters nobody has retried yet.",
            dead_letters,
        ),
    ] {
        if let Some(v) = value {
            gauge(out, name, help, v);
        }
    }
}

pub fn gauge(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"
    );
}

fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"
    );
}

/// The size of a memory page, which `/proc`'s resident-set figures count in (4 KiB on
/// x86-64, 16 or 64 KiB on some arm64 kernels).
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no memory preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0).unwrap_or(4096)
}

/// Clock ticks per second of `/proc`'s CPU times (USER_HZ: 100 on every Linux port in use).
pub const PROC_TICKS_PER_SECOND: f64 = 100.0;

/// What `/proc/PID/stat` says of a process (Linux).
#[derive(Debug, Clone, Copy)]
pub struct ProcStat {
    /// User and system CPU time, in clock ticks ([`PROC_TICKS_PER_SECOND`]).
    pub cpu_ticks: u64,
    pub threads: u64,
    pub rss_pages: u64,
}

impl ProcStat {
    /// This process's, or `pid`'s; `None` where there is no such file (gone, or not Linux).
    pub fn read(pid: Option<u32>) -> Option<Self> {
        let path = pid.map_or("/proc/self/stat".to_owned(), |p| format!("/proc/{p}/stat"));
        let stat = std::fs::read_to_string(path).ok()?;
        // Fields after the command name, which is in parentheses and may contain spaces:
        // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name.
        let (_, rest) = stat.rsplit_once(')')?;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Some(Self {
            cpu_ticks: num(11) + num(12),
            threads: num(17),
            rss_pages: num(21),
        })
    }
}

/// The usual `process_*` metrics, from /proc (Linux; elsewhere they are left out).
fn process_metrics(out: &mut String) {
    let Some(stat) = ProcStat::read(None) else {
        return;
    };
    let cpu = stat.cpu_ticks as f64 / PROC_TICKS_PER_SECOND;
    let threads = stat.threads;
    let _ = write!(
        out,
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n\
         # TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {cpu}\n\
         # HELP process_resident_memory_bytes Resident memory size in bytes.\n\
         # TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {}\n\
         # HELP process_threads Number of OS threads in the process.\n\
         # TYPE process_threads gauge\nprocess_threads {threads}\n",
        stat.rss_pages * page_size()
    );
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        let _ = write!(
            out,
            "# HELP process_open_fds Number of open file descriptors.\n\
             # TYPE process_open_fds gauge\nprocess_open_fds {}\n",
            fds.count()
        );
    }
}

/// The value of one sample in Prometheus text: the line whose series is exactly `series`
/// (name and labels as rendered, e.g. `ce_cache_lookups_total{result="hit"}`). For the report,
/// which reads a live instance's `/metrics`, and for the tests and benchmarks.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
