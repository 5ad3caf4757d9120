//! The report as text a product owner can read: one section per scenario of the original
//! evaluation, each with its numbers and what they mean.

use std::fmt::Write as _;

use super::gather::human_bytes;
use super::Report;

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.digits$}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{:.2}%", v * 100.0))
}

pub fn render_text(r: &Report) -> String {
    let mut o = String::new();
    let s = &r.size;
    let l = &r.live;
    let f = &r.freshness;
    let p = &r.performance;
    let c = &r.cost;
    let _ = writeln!(
        o,
        "campaign-events cache report, {}\n",
        r.generated_at.format("%Y-%m-%d %H:%M UTC")
    );

    let _ = writeln!(o, "1. Cache size analysis");
    let _ = writeln!(
        o,
        "   {} participants take part in {} ongoing events right now ({} registrations); the \
         cache holds one small actor for each of these participants and nothing for anyone else.",
        s.participants_with_ongoing_events, s.ongoing_events, s.ongoing_registrations
    );
    let _ = writeln!(
        o,
        "   {} more events start within 7 days, with {} registrations so far.",
        s.upcoming_events_7d, s.upcoming_registrations_7d
    );
    let _ = writeln!(
        o,
        "   Memory per participant: estimated {} B (the figure behind ce_cache_memory_bytes), \
         measured {} B ({}).",
        s.estimated_bytes_per_participant,
        opt(s.measured_bytes_per_participant, 0),
        s.measured_how
    );
    let _ = writeln!(
        o,
        "   Estimated cache memory now: {}.\n",
        human_bytes(s.estimated_total_bytes)
    );

    let _ = writeln!(o, "2. Hit ratio (from the live service's /metrics)");
    match &l.unavailable {
        Some(why) => {
            let _ = writeln!(o, "   No live numbers: {why}.");
        }
        None => {
            match l.hit_ratio {
                Some(_) => {
                    let _ = writeln!(
                        o,
                        "   {} of post-edit lookups were answered by the cache without the \
                         database (hit {}, empty {}, fallback {}).",
                        pct(l.hit_ratio),
                        opt(l.lookups_hit, 0),
                        opt(l.lookups_empty, 0),
                        opt(l.lookups_fallback, 0)
                    );
                }
                None => {
                    let _ = writeln!(o, "   No post-edit lookups yet since the service started.");
                }
            }
            let _ = writeln!(
                o,
                "   \"hit\": the user takes part in an event; \"empty\": they take part in none, \
                 known without a query; \"fallback\": asked the database (warming up, or an \
                 actor too slow)."
            );
            let _ = writeln!(
                o,
                "   Live: {} actors, estimated cache memory {}, process resident memory {}, \
                 reconcile drift {}.",
                opt(l.actors, 0),
                l.memory_gauge_bytes
                    .map_or("n/a".to_owned(), |b| human_bytes(b as u64)),
                l.resident_memory_bytes
                    .map_or("n/a".to_owned(), |b| human_bytes(b as u64)),
                opt(l.reconcile_drift_total, 0)
            );
        }
    }
    let _ = writeln!(o);

    let _ = writeln!(o, "3. Update frequency and maintenance");
    let _ = writeln!(
        o,
        "   Durations of the events ongoing now or starting within 7 days (median {} hours):",
        opt(f.median_duration_hours, 1)
    );
    for b in &f.durations {
        let _ = writeln!(o, "     {:<20} {:>6}", b.label, b.events);
    }
    let _ = writeln!(
        o,
        "   {} events end in the coming week. Ends per day (hour by hour, '.' = none):",
        f.ends_in_week
    );
    for (day, hours) in f.ends_per_hour.chunks(24).enumerate() {
        let line: String = hours
            .iter()
            .map(|n| match n {
                0 => '.',
                1..=9 => char::from(b'0' + *n as u8),
                _ => '+',
            })
            .collect();
        let total: u32 = hours.iter().sum();
        let _ = writeln!(o, "     day {}: {line} {total:>5}", day + 1);
    }
    if let Some(start) = f.busiest_hour_start {
        let _ = writeln!(
            o,
            "   Busiest hour: {} events end in the hour from {}.",
            f.busiest_hour_ends,
            start.format("%a %H:%M UTC")
        );
    }
    let _ = writeln!(
        o,
        "   A cache refreshed only every 3 hours (the first proposal) could answer with an ended \
         event for up to 3 hours: in the worst 3-hour window of this week, {} registrations end.",
        f.max_registrations_ending_in_3h
    );
    let _ = writeln!(
        o,
        "   Recommended sweep interval: {} s; a change the cache missed stays wrong for at most \
         {} s.",
        f.recommended_sweep_secs, f.allowed_staleness_secs
    );
    let _ = writeln!(o, "   Why: {}\n", f.reasoning);

    let _ = writeln!(
        o,
        "4. Performance improvement (measured now, same machine, same run)"
    );
    let _ = writeln!(o, "   How: {}", p.method);
    let _ = writeln!(
        o,
        "     {:<16} {:>12} {:>10} {:>10} {:>8}",
        "read", "reads/s", "p50", "p99", "errors"
    );
    for (name, st) in [("cached", &p.cached), ("database", &p.database)] {
        let _ = writeln!(
            o,
            "     {:<16} {:>12.0} {:>8.1}µs {:>8.1}µs {:>8}",
            name, st.reads_per_sec, st.p50_us, st.p99_us, st.errors
        );
    }
    let _ = writeln!(
        o,
        "   The cache serves {:.1}× the reads per second of the database path, each {:.1}× faster \
         at the median; {} users sampled.",
        p.throughput_ratio, p.latency_ratio, p.users_sampled
    );
    if let Some(q) = p.queries_avoided {
        let _ = writeln!(
            o,
            "   The live service has avoided {q:.0} database queries since it started."
        );
    }
    let _ = writeln!(o);

    let _ = writeln!(o, "5. Implementation cost");
    for n in &c.notes {
        let _ = writeln!(o, "   - {n}");
    }
    let verdict = if p.throughput_ratio >= 2.0 && c.memory_at_10x_bytes < 8 << 30 {
        "Worth it: reads are several times cheaper and the memory stays small even at ten times \
         today's participants."
    } else if p.throughput_ratio >= 2.0 {
        "Reads are several times cheaper, but memory at ten times today's size needs planning \
         (more instances do not split it: every instance holds every participant)."
    } else {
        "On this data the database answers almost as fast; the cache's benefit is mostly that \
         reads never touch the database."
    };
    let _ = writeln!(o, "   Verdict: {verdict}");
    o
}
