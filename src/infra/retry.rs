//! Retrying, one way everywhere: the delay before the n-th retry, and the loop that keeps a
//! consumer of a JetStream stream running across failures.

use std::future::Future;
use std::time::Duration;

/// The delay before delivery `attempt` is retried (1: the first): `base`, doubling each
/// attempt, never more than `max`.
pub fn backoff(base: Duration, max: Duration, attempt: i64) -> Duration {
    let doublings = u32::try_from(attempt.clamp(1, 32) - 1).unwrap_or(0);
    base.saturating_mul(1u32 << doublings.min(31)).min(max)
}

/// Runs `once` again and again until the task is dropped: a stream consumer returns when its
/// stream fails (NATS away, the consumer deleted); it is started anew after `pause`, and the
/// failure is logged as `what`.
pub async fn keep_running<F, Fut>(what: &str, pause: Duration, mut once: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    loop {
        if let Err(e) = once().await {
            tracing::warn!(error = %format!("{e:#}"), "{what} interrupted; resuming");
        }
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_from_the_base_up_to_the_cap() {
        let s = Duration::from_secs;
        let d = |n| backoff(s(2), s(32), n);
        assert_eq!(
            [d(0), d(1), d(2), d(3), d(5), d(6), d(99)],
            [s(2), s(2), s(4), s(8), s(32), s(32), s(32)]
        );
    }
}
