//! The diff workers' backlog and the open dead letters, as `/metrics` and the dashboard show
//! them. They live in NATS and Postgres, so asking costs a request to each: the answer is kept
//! for a second and shared, however many scrapers and dashboard tabs ask — and while one probe
//! is out, the others wait for its answer instead of sending their own.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::association::db as contributions;
use crate::ops::Context;

/// Each dependency gets this long; a slow one leaves its figure out (`None`) rather than
/// stalling a scrape or the dashboard.
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);

/// How long an answer is reused.
const FRESH_FOR: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, Default)]
pub struct Backlog {
    /// Jobs queued and not yet delivered to a worker.
    pub pending: Option<u64>,
    /// Jobs delivered and not yet acknowledged.
    pub in_flight: Option<u64>,
    /// Dead letters nobody has retried yet.
    pub dead_letters: Option<u64>,
}

#[derive(Default)]
pub struct BacklogProbe {
    /// The last answer. Held across a probe, so that callers arriving meanwhile wait for it
    /// (at most `PROBE_TIMEOUT`) and reuse it.
    last: Mutex<Option<(Instant, Backlog)>>,
}

impl BacklogProbe {
    pub async fn get(&self, state: &Context) -> Backlog {
        let mut last = self.last.lock().await;
        if let Some((at, b)) = *last {
            if at.elapsed() < FRESH_FOR {
                return b;
            }
        }
        let (queue, dead) = tokio::join!(
            tokio::time::timeout(
                PROBE_TIMEOUT,
                crate::infra::nats::edits_backlog(&state.jetstream, &state.names)
            ),
            tokio::time::timeout(PROBE_TIMEOUT, contributions::open_dead_letters(&state.pool)),
        );
        let (pending, in_flight) = match queue {
            Ok(Ok((p, f))) => (Some(p), Some(f)),
            _ => (None, None),
        };
        let b = Backlog {
            pending,
            in_flight,
            dead_letters: dead.ok().and_then(Result::ok).map(|n| n.max(0) as u64),
        };
        *last = Some((Instant::now(), b));
        b
    }
}
