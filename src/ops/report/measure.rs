//! The report's measurements, taken in this process: RSS growth per cached participant, and
//! cached reads against the query `CACHE_MODE=db` runs, interleaved so that both see the same
//! machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use campaign_events_actors::domain::{
    EventFacts, EventId, EventName, EventStatus, EventTimezone, EventWindow, UserId, WikiSelection,
};
use campaign_events_actors::{Cache, CacheConfig, Change, ParticipantChange, SystemClock};
use chrono::Utc;
use deadpool_postgres::Pool;

use super::ReadStats;
use crate::cache::store::PgStore;

/// Below this many live participants the RSS growth is too small to divide reliably, so the
/// measurement uses this many synthetic ones instead.
pub const SYNTHETIC_PARTICIPANTS: u64 = 20_000;

/// Returns freed heap to the OS, then reads the resident set size.
pub fn trimmed_rss() -> u64 {
    // SAFETY: malloc_trim only releases free memory at the top of glibc's heaps.
    unsafe {
        libc::malloc_trim(0);
    }
    crate::infra::metrics::ProcStat::read(None).map_or(0, |s| s.rss_pages)
        * crate::infra::metrics::page_size()
}

fn report_cache_config() -> CacheConfig {
    CacheConfig {
        // The report's cache only answers reads; it must not sweep while it is measured.
        sweep_interval: Duration::from_secs(24 * 3600),
        ..CacheConfig::default()
    }
}

/// Waits until every actor has started (they are built on their arbiters after `warm_up` or
/// `apply` return): a read of each user either takes the answer the started actor published
/// or waits in its mailbox until it has started.
async fn settle(cache: &Cache) {
    for (user, _) in cache.registry().users() {
        let _ = cache.ongoing(user).await;
    }
}

/// RSS growth per participant of a cache holding `n` synthetic participants of one event.
pub async fn synthetic_bytes_per_participant(pool: &Pool, n: u64) -> anyhow::Result<f64> {
    let store = Arc::new(PgStore::new(pool.clone()));
    let before = trimmed_rss();
    let cache = Cache::start(report_cache_config(), store, Arc::new(SystemClock))?;
    let now = Utc::now();
    let event = EventId::new(u64::MAX >> 2).map_err(anyhow::Error::msg)?;
    cache
        .apply(Change::Event(EventFacts {
            id: event,
            name: EventName::parse("synthetic").map_err(anyhow::Error::msg)?,
            window: EventWindow::new(
                now - chrono::Duration::hours(1),
                now + chrono::Duration::days(1),
            )
            .map_err(anyhow::Error::msg)?,
            timezone: EventTimezone::parse("UTC").map_err(anyhow::Error::msg)?,
            wikis: WikiSelection::All,
            track_contributions: true,
            status: EventStatus::Open,
            deleted: false,
            version: 1,
        }))
        .await;
    for user in 1..=n {
        cache
            .apply(Change::Participant(ParticipantChange {
                event_id: event,
                user_id: UserId::new(user).map_err(anyhow::Error::msg)?,
                active: true,
                version: 2,
                prompt_hidden: false,
            }))
            .await;
    }
    settle(&cache).await;
    let after = trimmed_rss();
    cache.stop();
    Ok(after.saturating_sub(before) as f64 / n as f64)
}

/// A cache warmed from the database as the service warms its own, with the RSS it grew by
/// and how long the warm-up took.
pub struct Warmed {
    pub cache: Cache,
    pub participants: usize,
    pub rss_growth: u64,
    pub warm_up: Duration,
}

pub async fn warm_from_database(pool: &Pool) -> anyhow::Result<Warmed> {
    let store = PgStore::new(pool.clone());
    let before = trimmed_rss();
    let cache = Cache::start(
        report_cache_config(),
        Arc::new(store.clone()),
        Arc::new(SystemClock),
    )?;
    let started = Instant::now();
    let report = cache
        .warm_up(&store)
        .await
        .map_err(|e| anyhow::anyhow!("warm-up failed: {e}"))?;
    settle(&cache).await;
    let warm_up = started.elapsed();
    let after = trimmed_rss();
    Ok(Warmed {
        cache,
        participants: report.users,
        rss_growth: after.saturating_sub(before),
        warm_up,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    Cached,
    Database,
}

/// Cached reads against database reads of the same users, `rounds` times each, interleaved.
pub async fn compare_reads(
    cache: &Arc<Cache>,
    pool: &Pool,
    users: &Arc<Vec<UserId>>,
    total: Duration,
    readers: usize,
) -> (ReadStats, ReadStats) {
    const ROUNDS: u32 = 2;
    let slice = total / ROUNDS;
    let (mut cached, mut database) = (Samples::default(), Samples::default());
    for _ in 0..ROUNDS {
        cached.merge(run(Path::Cached, cache, pool, users, slice, readers).await);
        database.merge(run(Path::Database, cache, pool, users, slice, readers).await);
    }
    // Each side ran ROUNDS slices: `total` in all.
    (cached.stats(total), database.stats(total))
}

#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    errors: u64,
}

impl Samples {
    fn merge(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
    }

    fn stats(mut self, elapsed: Duration) -> ReadStats {
        self.latencies.sort_unstable();
        let pct = |p: f64| -> f64 {
            if self.latencies.is_empty() {
                return 0.0;
            }
            let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
            self.latencies[i].as_secs_f64() * 1e6
        };
        ReadStats {
            reads: self.latencies.len() as u64,
            reads_per_sec: self.latencies.len() as f64 / elapsed.as_secs_f64().max(1e-9),
            p50_us: pct(0.50),
            p99_us: pct(0.99),
            errors: self.errors,
        }
    }
}

async fn run(
    path: Path,
    cache: &Arc<Cache>,
    pool: &Pool,
    users: &Arc<Vec<UserId>>,
    slice: Duration,
    readers: usize,
) -> Samples {
    let until = Instant::now() + slice;
    let tasks: Vec<_> = (0..readers.max(1))
        .map(|reader| {
            let (cache, pool, users) = (cache.clone(), pool.clone(), users.clone());
            tokio::spawn(async move {
                let mut s = Samples::default();
                let mut i = reader * 7919;
                while Instant::now() < until && !users.is_empty() {
                    let user = users[i % users.len()];
                    i += 1;
                    let started = Instant::now();
                    let ok = match path {
                        Path::Cached => cache.ongoing(user).await.is_ok(),
                        Path::Database => {
                            crate::cache::store::ongoing_events_of(&pool, user, Utc::now())
                                .await
                                .is_ok()
                        }
                    };
                    if ok {
                        s.latencies.push(started.elapsed());
                    } else {
                        s.errors += 1;
                    }
                    // Cached reads never wait; let the other readers run.
                    tokio::task::yield_now().await;
                }
                s
            })
        })
        .collect();
    let mut all = Samples::default();
    for t in tasks {
        if let Ok(s) = t.await {
            all.merge(s);
        }
    }
    all
}
