//! Collects the report's numbers: database queries, the live service's metrics, and the
//! measurements of [`super::measure`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use campaign_events_actors::domain::UserId;
use campaign_events_actors::Store as _;
use chrono::{DateTime, Utc};

use super::measure::{self, SYNTHETIC_PARTICIPANTS};
use super::{Bucket, Cost, Freshness, Live, Performance, Report, ReportArgs, Size};
use crate::cache::store::PgStore;
use crate::infra::db;
use crate::infra::metrics::{sample, BYTES_PER_PARTICIPANT};

const WEEK_HOURS: usize = 7 * 24;
/// The refresh interval the original proposal had in mind ("every few hours").
const NAIVE_REFRESH_HOURS: i64 = 3;
/// Most users of each kind the read comparison cycles through.
const SAMPLE_USERS: i64 = 1000;

pub async fn gather(args: &ReportArgs) -> anyhow::Result<Report> {
    let config: tokio_postgres::Config = args.database_url.parse().with_context(|| {
        format!(
            "DATABASE_URL is not a valid Postgres URL: {}",
            args.database_url
        )
    })?;
    let pool = db::pool(config, args.readers.max(1) + 2)?;
    let now = Utc::now();
    let week = now + chrono::Duration::days(7);
    let client = pool.get().await.context("cannot connect to the database")?;

    let row = client
        .query_one(
            "SELECT count(DISTINCT p.user_id), count(*) FROM ce_participants p \
             JOIN ce_events e USING (event_id) WHERE p.unregistered_at IS NULL \
             AND e.deleted_at IS NULL AND e.start_utc <= $1 AND e.end_utc >= $1",
            &[&now],
        )
        .await
        .context("cannot read the participants (is this the service's database, migrated?)")?;
    let (participants, registrations): (i64, i64) = (row.get(0), row.get(1));
    let ongoing_events: i64 = client
        .query_one(
            "SELECT count(*) FROM ce_events WHERE deleted_at IS NULL \
             AND start_utc <= $1 AND end_utc >= $1",
            &[&now],
        )
        .await?
        .get(0);
    // `end_utc > now` always holds for these (they end after they start); it lets the index
    // that leads with `end_utc` narrow the scan.
    let row = client
        .query_one(
            "SELECT count(DISTINCT e.event_id), count(p.user_id) FROM ce_events e \
             LEFT JOIN ce_participants p ON p.event_id = e.event_id AND p.unregistered_at IS NULL \
             WHERE e.deleted_at IS NULL AND e.start_utc > $1 AND e.start_utc <= $2 \
             AND e.end_utc > $1",
            &[&now, &week],
        )
        .await?;
    let (upcoming, upcoming_registrations): (i64, i64) = (row.get(0), row.get(1));
    let durations: Vec<f64> = client
        .query(
            "SELECT extract(epoch FROM end_utc - start_utc)::float8 FROM ce_events \
             WHERE deleted_at IS NULL AND end_utc >= $1 AND start_utc <= $2",
            &[&now, &week],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let ends: Vec<(DateTime<Utc>, i64)> = client
        .query(
            "SELECT e.end_utc, (SELECT count(*) FROM ce_participants p \
               WHERE p.event_id = e.event_id AND p.unregistered_at IS NULL) \
             FROM ce_events e WHERE e.deleted_at IS NULL AND e.end_utc > $1 AND e.end_utc <= $2",
            &[&now, &week],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut users: Vec<UserId> = client
        .query(
            "SELECT DISTINCT p.user_id FROM ce_participants p JOIN ce_events e USING (event_id) \
             WHERE p.unregistered_at IS NULL AND e.deleted_at IS NULL \
             AND e.start_utc <= $1 AND e.end_utc >= $1 LIMIT $2",
            &[&now, &SAMPLE_USERS],
        )
        .await?
        .iter()
        .filter_map(|r| UserId::from_db(r.get(0)).ok())
        .collect();
    let max_user: i64 = client
        // Active rows only: the partial index on them answers without a scan; a user above
        // them all still takes part in nothing now.
        .query_one(
            "SELECT coalesce(max(user_id), 0) FROM ce_participants WHERE unregistered_at IS NULL",
            &[],
        )
        .await?
        .get(0);
    drop(client);
    // As many users who take part in nothing (most editors): ids above every participant's.
    let with_events = users.len().max(1) as i64;
    users.extend((1..=with_events).filter_map(|k| UserId::new((max_user + k) as u64).ok()));
    let users_sampled = users.len();

    let live = live_metrics(&args.service_url).await;

    // Memory: the live data warmed into a cache of this process, or synthetic participants
    // when there are too few to measure.
    let (measured, measured_how) = if (participants as u64) < SYNTHETIC_PARTICIPANTS / 4 {
        let per = measure::synthetic_bytes_per_participant(&pool, SYNTHETIC_PARTICIPANTS).await?;
        (
            Some(per),
            format!(
                "RSS growth of this process for {SYNTHETIC_PARTICIPANTS} synthetic participants \
                 (only {participants} live ones: too few to measure)"
            ),
        )
    } else {
        (None, String::new())
    };
    let warmed = measure::warm_from_database(&pool).await?;
    let (measured, measured_how) = match measured {
        Some(m) => (Some(m), measured_how),
        None => (
            Some(warmed.rss_growth as f64 / warmed.participants.max(1) as f64),
            format!(
                "RSS growth of this process while it warmed a cache with the {} live participants",
                warmed.participants
            ),
        ),
    };
    let warm_up = warmed.warm_up;
    let cache = Arc::new(warmed.cache);

    // The sweep's reconciliation query, timed (median of three).
    let store = PgStore::new(pool.clone());
    let mut sweep_times = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        store
            .ongoing_memberships(Utc::now())
            .await
            .map_err(|e| anyhow::anyhow!("sweep query failed: {e}"))?;
        sweep_times.push(started.elapsed());
    }
    sweep_times.sort();
    let sweep_query = sweep_times[1];

    let users = Arc::new(users);
    let (cached, database) = measure::compare_reads(
        &cache,
        &pool,
        &users,
        Duration::from_secs(args.bench_seconds.max(1)),
        args.readers,
    )
    .await;
    drop(cache);
    // Ratios of nothing would read as absurd numbers and a wrong verdict.
    anyhow::ensure!(
        cached.reads_per_sec > 0.0 && database.reads_per_sec > 0.0,
        "the read measurement did not complete: {} cached reads/s ({} errors), {} database \
         reads/s ({} errors)",
        cached.reads_per_sec,
        cached.errors,
        database.reads_per_sec,
        database.errors
    );

    // As the gauge counts it: participants, and the ongoing events in the directory (it also
    // holds those starting within the horizon; a few more kilobytes).
    let estimated_total = participants as u64 * BYTES_PER_PARTICIPANT
        + ongoing_events as u64 * crate::infra::metrics::BYTES_PER_EVENT;
    let size = Size {
        participants_with_ongoing_events: participants,
        ongoing_registrations: registrations,
        ongoing_events,
        upcoming_events_7d: upcoming,
        upcoming_registrations_7d: upcoming_registrations,
        estimated_bytes_per_participant: BYTES_PER_PARTICIPANT,
        estimated_total_bytes: estimated_total,
        measured_bytes_per_participant: measured,
        measured_how,
    };
    let freshness = freshness(
        now,
        &durations,
        &ends,
        sweep_query,
        live.reconcile_drift_total,
    );
    let performance = Performance {
        method: format!(
            "In this process, interleaved, {} concurrent readers: the cache warmed from the \
             database (as the service warms its own) against the query CACHE_MODE=db runs for \
             the same users (half with ongoing events, half without). HTTP is not included: \
             over HTTP the gateway's own cost is added to both (benches/reports/cache.md).",
            args.readers
        ),
        users_sampled,
        throughput_ratio: cached.reads_per_sec / database.reads_per_sec,
        latency_ratio: database.p50_us / cached.p50_us.max(1.0),
        cached,
        database,
        queries_avoided: match (live.lookups_hit, live.lookups_empty) {
            (Some(h), Some(e)) => Some(h + e),
            _ => None,
        },
    };
    let cost = cost(&size, &freshness, &performance, warm_up);
    Ok(Report {
        generated_at: now,
        size,
        live,
        freshness,
        performance,
        cost,
    })
}

async fn live_metrics(url: &str) -> Live {
    let mut live = Live {
        service_url: url.to_owned(),
        unavailable: None,
        actors: None,
        lookups_hit: None,
        lookups_empty: None,
        lookups_fallback: None,
        hit_ratio: None,
        memory_gauge_bytes: None,
        resident_memory_bytes: None,
        reconcile_drift_total: None,
    };
    let fetched = async {
        let resp = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()?
            .get(format!("{}/metrics", url.trim_end_matches('/')))
            .send()
            .await?
            .error_for_status()?;
        resp.text().await
    }
    .await;
    let text = match fetched {
        Ok(t) => t,
        Err(e) => {
            live.unavailable = Some(format!("no service answered at {url}: {e}"));
            return live;
        }
    };
    let lookups = |r: &str| sample(&text, &format!("ce_cache_lookups_total{{result=\"{r}\"}}"));
    live.actors = sample(&text, "ce_cache_actors");
    live.lookups_hit = lookups("hit");
    live.lookups_empty = lookups("empty");
    live.lookups_fallback = lookups("fallback");
    live.memory_gauge_bytes = sample(&text, "ce_cache_memory_bytes");
    live.resident_memory_bytes = sample(&text, "process_resident_memory_bytes");
    live.reconcile_drift_total = sample(&text, "ce_cache_reconcile_drift_total");
    if let (Some(h), Some(e), Some(f)) =
        (live.lookups_hit, live.lookups_empty, live.lookups_fallback)
    {
        let total = h + e + f;
        live.hit_ratio = (total > 0.0).then(|| (h + e) / total);
    }
    if live.actors.is_none() {
        live.unavailable = Some(format!(
            "{url}/metrics has no cache metrics (a --workers-only instance?)"
        ));
    }
    live
}

fn freshness(
    now: DateTime<Utc>,
    durations: &[f64],
    ends: &[(DateTime<Utc>, i64)],
    sweep_query: Duration,
    drift: Option<f64>,
) -> Freshness {
    const HOUR: f64 = 3600.0;
    let limits: [(&str, f64); 6] = [
        ("up to 1 hour", HOUR),
        ("1 hour to 1 day", 24.0 * HOUR),
        ("1 to 3 days", 72.0 * HOUR),
        ("3 to 7 days", 168.0 * HOUR),
        ("1 to 4 weeks", 672.0 * HOUR),
        ("more than 4 weeks", f64::INFINITY),
    ];
    let mut lower = 0.0;
    let buckets = limits
        .iter()
        .map(|(label, upper)| {
            let events = durations
                .iter()
                .filter(|d| **d > lower && **d <= *upper)
                .count() as i64;
            lower = *upper;
            Bucket { label, events }
        })
        .collect();
    let mut sorted = durations.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = (!sorted.is_empty()).then(|| sorted[sorted.len() / 2] / HOUR);

    let mut per_hour = vec![0u32; WEEK_HOURS];
    for (end, _) in ends {
        let hour = ((*end - now).num_seconds().max(0) / 3600) as usize;
        if let Some(slot) = per_hour.get_mut(hour.min(WEEK_HOURS - 1)) {
            *slot += 1;
        }
    }
    let (busiest, busiest_ends) = per_hour
        .iter()
        .enumerate()
        .max_by_key(|(i, n)| (**n, std::cmp::Reverse(*i)))
        .map(|(i, n)| (i, *n))
        .unwrap_or((0, 0));
    let mut by_time: Vec<(DateTime<Utc>, i64)> = ends.to_vec();
    by_time.sort();
    let window = chrono::Duration::hours(NAIVE_REFRESH_HOURS);
    let mut max_in_window = 0;
    let (mut lo, mut sum) = (0, 0);
    for hi in 0..by_time.len() {
        sum += by_time[hi].1;
        while by_time[hi].0 - by_time[lo].0 >= window {
            sum -= by_time[lo].1;
            lo += 1;
        }
        max_in_window = max_in_window.max(sum);
    }

    // The sweep only repairs what the change stream failed to deliver (ends and starts run
    // on timers). Budget: its query may use at most 0.2% of one database connection's time,
    // within one to fifteen minutes; drift seen live halves the interval.
    let ms = sweep_query.as_secs_f64() * 1000.0;
    let mut interval = ((ms / 1000.0) * 500.0).ceil().clamp(60.0, 900.0) as u64;
    let drifted = drift.is_some_and(|d| d > 0.0);
    if drifted {
        interval = (interval / 2).max(60);
    }
    let share = ms / 1000.0 / interval as f64 * 100.0;
    let reasoning = format!(
        "Ends and starts are applied by timers at the exact second, whatever the sweep \
         interval. The sweep only repairs a change the cache missed (a change message lost \
         with its stream); its query took {ms:.1} ms here, so sweeping every {interval} s keeps \
         one database connection busy {share:.2}% of the time (the aim is at most 0.2%, \
         within one to fifteen minutes), and a missed change stays wrong for at most \
         {interval} s.{}",
        if drifted {
            " The live service has counted drift since it started, so the interval is halved; \
             find out why changes were missed."
        } else {
            ""
        }
    );
    Freshness {
        durations: buckets,
        median_duration_hours: median,
        ends_in_week: per_hour.iter().sum(),
        busiest_hour_start: (busiest_ends > 0)
            .then(|| now + chrono::Duration::hours(busiest as i64)),
        busiest_hour_ends: busiest_ends,
        ends_per_hour: per_hour,
        max_registrations_ending_in_3h: max_in_window,
        sweep_query_ms: ms,
        recommended_sweep_secs: interval,
        allowed_staleness_secs: interval,
        reasoning,
    }
}

fn cost(size: &Size, fresh: &Freshness, perf: &Performance, warm_up: Duration) -> Cost {
    let per = size
        .measured_bytes_per_participant
        .unwrap_or(size.estimated_bytes_per_participant as f64);
    let now_bytes = (size.participants_with_ongoing_events as f64 * per) as u64;
    let sweeps_per_day = 86_400 / fresh.recommended_sweep_secs.max(1);
    let sweep_db_secs = sweeps_per_day as f64 * fresh.sweep_query_ms / 1000.0;
    let notes = vec![
        format!(
            "Memory: {} participants at {per:.0} B each is {}; ten times as many would be {}.",
            size.participants_with_ongoing_events,
            human_bytes(now_bytes),
            human_bytes(now_bytes * 10)
        ),
        format!(
            "Start-up: warming the cache took {:.0} ms here; until it is warm an instance answers \
             from the database and /readyz says so.",
            warm_up.as_secs_f64() * 1000.0
        ),
        format!(
            "Maintenance: {sweeps_per_day} sweeps a day, {sweep_db_secs:.1} s of database time \
             in all; no other scheduled job."
        ),
        format!(
            "Per read: the cache answers in {:.0} µs (p50) with no query; the database path takes \
             {:.0} µs and a pooled connection, {:.1}× slower.",
            perf.cached.p50_us, perf.database.p50_us, perf.latency_ratio
        ),
        "Moving parts: one actor per participant, a supervisor with a start timeline and the \
         sweep, a follower of the change stream that keeps instances coherent. A read the cache \
         cannot answer in time falls back to the database (counted as `fallback`)."
            .to_owned(),
    ];
    Cost {
        memory_now_bytes: now_bytes,
        memory_at_10x_bytes: now_bytes * 10,
        warm_up_ms: warm_up.as_secs_f64() * 1000.0,
        sweeps_per_day,
        sweep_db_time_per_day_secs: sweep_db_secs,
        notes,
    }
}

pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
