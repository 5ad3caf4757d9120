//! Counters the cache keeps about itself; the service exports them as metrics.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Lock-free counters, shared by the registry, the actors and the gateway.
#[derive(Debug, Default)]
pub struct CacheStats {
    actors: AtomicI64,
    drift: AtomicU64,
    lookups_hit: AtomicU64,
    lookups_empty: AtomicU64,
    lookups_fallback: AtomicU64,
    reroutes: AtomicU64,
    deferred_stops: AtomicU64,
}

/// How a read was answered (`ce_cache_lookups_total{result}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// From a user's actor.
    Hit,
    /// No actor: no ongoing events, no hop, no query.
    Empty,
    /// From the database (warming up, actor too slow, or `CACHE_MODE=db`).
    Fallback,
}

impl CacheStats {
    pub(crate) fn actor_started(&self) {
        self.actors.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn actor_stopped(&self) {
        self.actors.fetch_sub(1, Ordering::Relaxed);
    }
    pub(crate) fn rerouted(&self) {
        self.reroutes.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn stop_deferred(&self) {
        self.deferred_stops.fetch_add(1, Ordering::Relaxed);
    }
    pub fn add_drift(&self, n: u64) {
        self.drift.fetch_add(n, Ordering::Relaxed);
    }
    pub fn lookup(&self, how: Lookup) {
        let c = match how {
            Lookup::Hit => &self.lookups_hit,
            Lookup::Empty => &self.lookups_empty,
            Lookup::Fallback => &self.lookups_fallback,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Live user actors.
    pub fn actors(&self) -> i64 {
        self.actors.load(Ordering::Relaxed)
    }
    /// Memberships the sweep had to fix, since start.
    pub fn drift(&self) -> u64 {
        self.drift.load(Ordering::Relaxed)
    }
    pub fn lookups(&self, how: Lookup) -> u64 {
        match how {
            Lookup::Hit => &self.lookups_hit,
            Lookup::Empty => &self.lookups_empty,
            Lookup::Fallback => &self.lookups_fallback,
        }
        .load(Ordering::Relaxed)
    }
    /// Times an empty actor wanted to stop but changes were already on their way to it, so it
    /// kept running to handle them (the stop race, won).
    pub fn deferred_stops(&self) -> u64 {
        self.deferred_stops.load(Ordering::Relaxed)
    }
    /// Messages that met a stopped actor and were re-routed to a fresh one.
    pub fn reroutes(&self) -> u64 {
        self.reroutes.load(Ordering::Relaxed)
    }
}
