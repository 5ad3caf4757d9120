//! Rows follow their edits (CONTRACT "A row follows its edit"): the stored contributions of
//! events that are under way or ended less than 30 days ago are re-checked against their wiki.
//! A revision the wiki no longer shows (its page deleted), or whose text or author it hides,
//! marks its row `deleted`, which every total, list, feed, export and page leaves out; when
//! the wiki shows it again the mark goes; a page moved gives its rows the new title.
//!
//! Gentle with the wiki: `prop=revisions` for 50 revision ids a request (the API's limit for
//! ordinary users), one request at a time, with `maxlag` as every request of
//! [`RevisionApi`] sends it; a run checks at most `max_rows` rows, those checked longest ago
//! first; a wiki that fails is left for the next run. Periodic runs take a Postgres advisory
//! lock, so several instances do not ask the wiki twice; an organizer may re-check one event
//! at once (`POST …/contributions/recheck`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use campaign_events_actors::domain::{EventId, WikiId};
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::Serialize;

use crate::association::wiki_api::{RevisionApi, Seen};
use crate::association::workers::WorkerDeps;
use crate::cache::changes::announce_contributions;
use crate::infra::db::DbError;
use crate::infra::metrics::Metrics;

/// Revision ids per Action API request: `revids` takes 50 for ordinary users.
pub const BATCH: usize = 50;
/// How recently ended an event's rows are still re-checked.
pub const RECENT_DAYS: i64 = 30;
/// Rows one periodic run checks at most.
pub const PERIODIC_MAX_ROWS: i64 = 5_000;
/// Rows one on-demand run (one event) checks at most.
pub const EVENT_MAX_ROWS: i64 = 5_000;

/// What one run found, by row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub checked: u64,
    pub unchanged: u64,
    pub deleted: u64,
    pub restored: u64,
    pub moved: u64,
    pub failed: u64,
}

/// A stored row as a re-check needs it.
struct Row {
    id: i64,
    event: i64,
    wiki: String,
    revision: i64,
    title: String,
    namespace: i32,
    deleted: bool,
}

/// Which rows a run takes.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// Rows of events under way or ended less than [`RECENT_DAYS`] ago, not checked since
    /// `before`, checked longest ago first.
    Recent { before: DateTime<Utc> },
    /// Every row of one event.
    Event(EventId),
}

async fn rows(
    pool: &Pool,
    scope: Scope,
    now: DateTime<Utc>,
    max: i64,
) -> Result<Vec<Row>, DbError> {
    let client = pool.get().await?;
    let cols = "c.id, c.event_id, c.wiki_id, c.revision_id, c.page_title, c.namespace, c.deleted";
    let found = match scope {
        Scope::Recent { before } => {
            client
                .query(
                    &format!(
                        "SELECT {cols} FROM ce_associate_edit_to_event c \
                         JOIN ce_events e USING (event_id) \
                         WHERE e.start_utc <= $1 AND e.end_utc >= $1 - make_interval(days => $2) \
                         AND (c.rechecked_at IS NULL OR c.rechecked_at < $3) \
                         ORDER BY c.rechecked_at NULLS FIRST, c.id LIMIT $4"
                    ),
                    &[&now, &(RECENT_DAYS as i32), &before, &max],
                )
                .await?
        }
        Scope::Event(event) => {
            client
                .query(
                    &format!(
                        "SELECT {cols} FROM ce_associate_edit_to_event c WHERE c.event_id = $1 \
                         ORDER BY c.rechecked_at NULLS FIRST, c.id LIMIT $2"
                    ),
                    &[&event.as_i64(), &max],
                )
                .await?
        }
    };
    Ok(found
        .iter()
        .map(|r| Row {
            id: r.get(0),
            event: r.get(1),
            wiki: r.get(2),
            revision: r.get(3),
            title: r.get(4),
            namespace: r.get(5),
            deleted: r.get(6),
        })
        .collect())
}

/// Re-checks the rows of `scope` (at most `max` of them). Returns what it found and the
/// events whose rows changed (their summaries must be dropped).
pub async fn run(
    pool: &Pool,
    api: &RevisionApi,
    metrics: &Metrics,
    scope: Scope,
    max: i64,
) -> Result<(Counts, Vec<EventId>), DbError> {
    let now = Utc::now();
    let rows = rows(pool, scope, now, max).await?;
    let mut counts = Counts::default();
    let mut changed_events = std::collections::BTreeSet::new();
    let mut by_wiki: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for r in rows {
        by_wiki.entry(r.wiki.clone()).or_default().push(r);
    }
    let client = pool.get().await?;
    for (wiki, rows) in by_wiki {
        let Ok(wiki_id) = WikiId::parse(&wiki) else {
            counts.failed += rows.len() as u64;
            continue;
        };
        for (i, batch) in rows.chunks(BATCH).enumerate() {
            let ids: Vec<u64> = batch
                .iter()
                .filter_map(|r| u64::try_from(r.revision).ok())
                .collect();
            let seen = match api.revisions_seen(&wiki_id, &ids).await {
                Ok(seen) => seen,
                Err(e) => {
                    // The wiki is away or throttling: leave its rows for the next run.
                    tracing::warn!(wiki = %wiki, error = %e, "re-check: the wiki did not answer");
                    counts.failed += (rows.len() - i * BATCH) as u64;
                    break;
                }
            };
            let mut checked = Vec::with_capacity(batch.len());
            for r in batch {
                let Some(s) = u64::try_from(r.revision).ok().and_then(|id| seen.get(&id)) else {
                    counts.failed += 1;
                    continue;
                };
                checked.push(r.id);
                counts.checked += 1;
                let result = match (s, r.deleted) {
                    (Seen::Hidden, false) => {
                        client
                            .execute(
                                "UPDATE ce_associate_edit_to_event SET deleted = true WHERE id = $1",
                                &[&r.id],
                            )
                            .await?;
                        counts.deleted += 1;
                        "deleted"
                    }
                    (Seen::Hidden, true) => {
                        counts.unchanged += 1;
                        "unchanged"
                    }
                    (Seen::Visible { title, namespace }, deleted) => {
                        let moved = *title != r.title || *namespace != r.namespace;
                        if moved || deleted {
                            client
                                .execute(
                                    "UPDATE ce_associate_edit_to_event SET deleted = false, \
                                     page_title = $2, namespace = $3 WHERE id = $1",
                                    &[&r.id, title, namespace],
                                )
                                .await?;
                        }
                        if deleted {
                            counts.restored += 1;
                            "restored"
                        } else if moved {
                            counts.moved += 1;
                            "moved"
                        } else {
                            counts.unchanged += 1;
                            "unchanged"
                        }
                    }
                };
                if result != "unchanged" {
                    if let Ok(e) = EventId::from_db(r.event) {
                        changed_events.insert(e);
                    }
                }
                metrics.recheck_rows.with_label_values(&[result]).inc();
            }
            client
                .execute(
                    "UPDATE ce_associate_edit_to_event SET rechecked_at = $2 WHERE id = ANY($1)",
                    &[&checked, &now],
                )
                .await?;
        }
    }
    if counts.failed > 0 {
        metrics
            .recheck_rows
            .with_label_values(&["failed"])
            .inc_by(counts.failed);
    }
    Ok((counts, changed_events.into_iter().collect()))
}

/// When the rows of `event` were last re-checked (the oldest check among them; `None` while
/// any was never checked).
pub async fn last_checked(pool: &Pool, event: EventId) -> Result<Option<DateTime<Utc>>, DbError> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "SELECT bool_or(rechecked_at IS NULL), min(rechecked_at) \
             FROM ce_associate_edit_to_event WHERE event_id = $1",
            &[&event.as_i64()],
        )
        .await?;
    Ok(match row.get::<_, Option<bool>>(0) {
        Some(false) => row.get(1),
        _ => None,
    })
}

/// Key of the advisory lock that lets one instance run the periodic re-check at a time.
const LOCK_KEY: i64 = 0x0063_655f_7265_636b; // "ce_reck"

/// Every `interval`, one bounded run over recent events, on one instance at a time. Each run
/// publishes a notice per event whose rows changed, so every instance drops its summary.
pub async fn periodic(deps: Arc<WorkerDeps>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first run one interval after start, not at once
    loop {
        tick.tick().await;
        match periodic_once(&deps.pool, &deps.api, &deps.metrics, interval).await {
            Ok(Some((counts, changed))) => {
                tracing::info!(?counts, "re-check run");
                for e in changed {
                    announce_contributions(&deps.jetstream, &deps.names, e, None).await;
                }
            }
            Ok(None) => tracing::debug!("re-check: another instance is running one"),
            Err(e) => tracing::warn!(error = %e, "re-check run failed"),
        }
    }
}

async fn periodic_once(
    pool: &Pool,
    api: &RevisionApi,
    metrics: &Metrics,
    interval: Duration,
) -> Result<Option<(Counts, Vec<EventId>)>, DbError> {
    let lock = pool.get().await?;
    let held: bool = lock
        .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])
        .await?
        .get(0);
    if !held {
        return Ok(None);
    }
    let before = Utc::now()
        - chrono::Duration::from_std(interval).unwrap_or_else(|_| chrono::Duration::hours(1));
    let result = run(
        pool,
        api,
        metrics,
        Scope::Recent { before },
        PERIODIC_MAX_ROWS,
    )
    .await;
    let _ = lock
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await;
    result.map(Some)
}
