//! Time, injectable: production reads the system clock; tests move a manual clock past starts
//! and ends and then ask the supervisor to act, through the same code path a timer takes.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

/// Where "now" comes from. Times are whole microseconds: Postgres keeps no more, and "is this
/// event ongoing?" must get the same answer from the cache and from a query at the same now.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// Drops what Postgres would not store.
pub fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        to_micros(Utc::now())
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(to_micros(start))),
        }
    }

    pub fn set(&self, t: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = to_micros(t);
    }

    /// The clock's time (also available through [`Clock::now`]).
    pub fn now_utc(&self) -> DateTime<Utc> {
        self.now()
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now = to_micros(*now + by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The clock as the cache shares it.
pub type SharedClock = Arc<dyn Clock>;

/// Converts a wall-clock wait into a tokio duration, clamped so that a deadline in the past
/// fires at once and a far one is re-checked at least hourly (the clock may jump).
pub fn until(now: DateTime<Utc>, deadline: DateTime<Utc>) -> std::time::Duration {
    let wait = (deadline - now).to_std().unwrap_or_default();
    wait.min(std::time::Duration::from_secs(3600))
}
