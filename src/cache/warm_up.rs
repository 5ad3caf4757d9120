//! Warm-up (ARCHITECTURE.md, "Warm-up"): note the change stream's last sequence, load every ongoing
//! membership from Postgres into actors, then follow the change stream from the next
//! sequence. Until this is done reads go to the database and `/readyz` says "warming up".

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use campaign_events_actors::Cache;

use crate::cache::changes::{self, OnContribution};
use crate::cache::store::PgStore;
use crate::cache::Readiness;
use crate::infra::nats::Names;

/// What warm-up and the change follower need.
pub struct Follower {
    pub jetstream: jetstream::Context,
    pub names: Names,
    pub cache: Arc<Cache>,
    pub readiness: Readiness,
    /// Told of every contribution notice on the stream (other capabilities' caches of
    /// contributions drop what it changed).
    pub on_contribution: OnContribution,
}

/// Warms the cache up, starts following `CE_CHANGES`, waits (up to a minute) until the
/// follower has caught up with what was on the stream when warm-up ended, and marks the
/// cache ready. Returns the follower's task, which runs until it is aborted.
///
/// Retries until warm-up succeeds: a start while Postgres or NATS is briefly away must not
/// leave the instance cold for good.
pub async fn warm_up(f: Follower, store: PgStore) -> tokio::task::JoinHandle<()> {
    f.readiness.released().await;
    let mut delay = Duration::from_millis(200);
    let from = loop {
        let attempt = async {
            let seq = changes::last_sequence(&f.jetstream, &f.names).await?;
            let started = Instant::now();
            let report = f.cache.warm_up(&store).await?;
            tracing::info!(
                events = report.events,
                users = report.users,
                memberships = report.memberships,
                millis = started.elapsed().as_millis() as u64,
                "cache warm"
            );
            anyhow::Ok(seq + 1)
        };
        match attempt.await {
            Ok(from) => break from,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "warm-up failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    };
    let caught_up = changes::last_sequence(&f.jetstream, &f.names)
        .await
        .unwrap_or(0);
    let position = Arc::new(AtomicU64::new(from));
    let readiness = f.readiness.clone();
    let follower = tokio::spawn(follow(f, position.clone()));
    let deadline = Instant::now() + Duration::from_secs(60);
    while position.load(Ordering::Acquire) <= caught_up && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    readiness.set_warm();
    follower
}

/// Follows the change stream from `shared_position` for ever, restarting after errors.
async fn follow(f: Follower, shared_position: Arc<AtomicU64>) {
    let mut position = shared_position.load(Ordering::Acquire);
    loop {
        if let Err(e) = changes::follow(
            f.jetstream.clone(),
            f.names.clone(),
            f.cache.clone(),
            f.on_contribution.clone(),
            &mut position,
            &shared_position,
        )
        .await
        {
            tracing::warn!(error = %format!("{e:#}"), "change stream follower stopped; restarting");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
