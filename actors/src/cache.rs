//! The cache as the service uses it: starts the actor system on its own threads, and offers
//! reads, changes, warm-up, sweeps and purges as plain async methods callable from any tokio
//! runtime (an `Addr` is a channel; asking it works from anywhere).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use actix::prelude::*;
use chrono::Duration;

use crate::change::{Attending, Change, ParticipantChange, Registration};
use crate::clock::SharedClock;
use crate::directory::{EventDirectory, Upsert};
use crate::domain::{EventFacts, EventId, UserId};
use crate::registry::{ReadPath, RegistryCore};
use crate::stats::{CacheStats, Lookup};
use crate::store::{Store, StoreError};
use crate::supervisor::{EventUpdated, Replan, Supervisor, Sweep, SweepReport, Tick};
use crate::system_thread::SystemThread;
use crate::user_cache::GetOngoing;

/// Tuning of the cache.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Arbiters (threads) the user actors are spread over.
    pub arbiters: usize,
    /// Messages an actor's mailbox holds before `send` waits. actix's default of 16 is too
    /// small for a popular user hammered by reads; unbounded would hide overload.
    pub mailbox_capacity: usize,
    /// How far ahead events are held and their starts put on the timeline.
    pub horizon: Duration,
    /// How often the sweep reconciles with the database.
    pub sweep_interval: StdDuration,
    /// How long a read waits for an actor before the caller falls back to the database.
    pub ask_timeout: StdDuration,
    /// The least time a sweep is given before it is abandoned (it gets at least the sweep
    /// interval too), so that one stuck on the store or on a stalled actor does not hold off
    /// every later sweep.
    pub sweep_timeout_min: StdDuration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            arbiters: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .clamp(1, 16),
            mailbox_capacity: 256,
            horizon: Duration::hours(24),
            sweep_interval: StdDuration::from_secs(300),
            ask_timeout: StdDuration::from_millis(250),
            sweep_timeout_min: StdDuration::from_secs(60),
        }
    }
}

/// Why a read could not be answered from the cache; the caller falls back to the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AskError {
    #[error("the user's actor did not answer in time")]
    Timeout,
    #[error("the user's actor kept stopping under concurrent changes")]
    Churning,
}

/// How many times a read looks the user up again after meeting a stopped actor.
const READ_TRIES: usize = 8;

/// What warm-up loaded.
#[derive(Debug, Clone, Default)]
pub struct WarmUpReport {
    pub events: usize,
    pub users: usize,
    pub memberships: usize,
}

pub struct Cache {
    core: Arc<RegistryCore>,
    supervisor: Addr<Supervisor>,
    clock: SharedClock,
    config: CacheConfig,
    /// Last: dropping the cache stops its actors.
    _system: SystemThread,
}

impl Cache {
    /// Starts the actor system: one thread for the system arbiter (the supervisor) and
    /// `config.arbiters` more for the user actors.
    pub fn start(
        config: CacheConfig,
        store: Arc<dyn Store>,
        clock: SharedClock,
    ) -> std::io::Result<Self> {
        let stats = Arc::new(CacheStats::default());
        let directory = Arc::new(EventDirectory::new(config.horizon));
        let cfg = config.clone();
        let clk = clock.clone();
        let (system, (core, supervisor)) =
            SystemThread::start("ce-actors", config.arbiters, move |arbiters| {
                let core = Arc::new(RegistryCore::new(
                    arbiters,
                    directory,
                    clk.clone(),
                    stats,
                    cfg.mailbox_capacity,
                ));
                let supervisor = {
                    let core = core.clone();
                    actix::Supervisor::start(move |_| {
                        Supervisor::new(core, store, clk, cfg.sweep_interval, cfg.sweep_timeout_min)
                    })
                };
                (core, supervisor)
            })?;
        Ok(Self {
            core,
            supervisor,
            clock,
            config,
            _system: system,
        })
    }

    pub fn stats(&self) -> &Arc<CacheStats> {
        self.core.stats()
    }

    pub fn directory(&self) -> &Arc<EventDirectory> {
        self.core.directory()
    }

    pub fn registry(&self) -> &Arc<RegistryCore> {
        &self.core
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The user's ongoing events, sorted by id. No actor: empty, with no hop. The lookup is
    /// counted as `Hit` or `Empty` here; a caller that falls back on error counts `Fallback`.
    pub async fn ongoing(&self, user: UserId) -> Result<Vec<Attending>, AskError> {
        // An actor that stopped between the lookup and the ask has a closed mailbox; looking up
        // again finds its successor or no one (invariant 3). Under a storm of joins and leaves
        // this can repeat; past a few tries the caller asks the database instead.
        for _ in 0..READ_TRIES {
            let addr = match self.core.read(user) {
                ReadPath::NoActor => {
                    self.stats().lookup(Lookup::Empty);
                    return Ok(Vec::new());
                }
                ReadPath::Published(events) => {
                    self.stats().lookup(Lookup::Hit);
                    let now = self.clock.now();
                    return Ok(events
                        .iter()
                        .filter(|f| !f.deleted && f.window.is_ongoing_at(now))
                        .cloned()
                        .collect());
                }
                ReadPath::Ask(addr) => addr,
            };
            match addr.send(GetOngoing).timeout(self.config.ask_timeout).await {
                Ok(events) => {
                    self.stats().lookup(Lookup::Hit);
                    return Ok(events);
                }
                Err(MailboxError::Timeout) => return Err(AskError::Timeout),
                Err(MailboxError::Closed) => continue,
            }
        }
        Err(AskError::Churning)
    }

    /// Fault injection: blocks the thread of `user`'s actor (and so every actor sharing its
    /// arbiter) for `pause`. Returns false when the user has no actor. Reads that must ask a
    /// stalled actor time out after `ask_timeout` and the caller falls back to the database.
    #[doc(hidden)]
    pub fn inject_stall(&self, user: UserId, pause: StdDuration) -> bool {
        match self.core.lookup(user) {
            Some(addr) => {
                addr.do_send(crate::user_cache::Stall(pause));
                true
            }
            None => false,
        }
    }

    /// Applies a committed change (from this instance or from the change stream). Idempotent
    /// and order-insensitive by version (invariant 4).
    pub async fn apply(&self, change: Change) {
        match change {
            Change::Participant(p) => self.apply_participant(p),
            Change::Event(facts) => self.apply_event(facts).await,
        }
    }

    fn apply_participant(&self, p: ParticipantChange) {
        if p.active {
            // Only events ongoing now get an actor; a registration for an upcoming event is
            // brought in by the supervisor when the event starts.
            let now = self.clock.now();
            if self
                .directory()
                .get(p.event_id)
                .is_some_and(|f| f.window.is_ongoing_at(now))
            {
                self.core.join(p.user_id, p.event_id, p.registration());
            }
        } else {
            self.core.leave(p.user_id, p.event_id, p.version);
        }
    }

    async fn apply_event(&self, facts: EventFacts) {
        let id = facts.id;
        let upsert = self.directory().upsert(facts, self.clock.now());
        if upsert == Upsert::Stale {
            return;
        }
        self.core.notify_event(id);
        let _ = self.supervisor.send(EventUpdated(upsert)).await;
    }

    /// Loads the directory and every membership of an ongoing event from the store. Changes
    /// applied meanwhile are kept when newer (versions decide).
    pub async fn warm_up(&self, store: &dyn Store) -> Result<WarmUpReport, StoreError> {
        let now = self.clock.now();
        let events = store.events_around(now, self.config.horizon).await?;
        let n_events = events.len();
        self.directory().replace_all(events, now);
        let snapshot = store.ongoing_memberships(now).await?;
        let mut memberships = 0;
        let mut users = 0;
        let mut current: Option<(UserId, Vec<(EventId, Registration)>)> = None;
        for row in snapshot.rows.into_iter().filter(|r| r.active) {
            let (user, event, registration) = (row.user, row.event, row.registration());
            memberships += 1;
            match &mut current {
                Some((u, list)) if *u == user => list.push((event, registration)),
                _ => {
                    if let Some((u, list)) = current.take() {
                        self.load_user(u, list);
                        users += 1;
                    }
                    current = Some((user, vec![(event, registration)]));
                }
            }
        }
        if let Some((u, list)) = current {
            self.load_user(u, list);
            users += 1;
        }
        let _ = self.supervisor.send(Replan { since: now }).await;
        Ok(WarmUpReport {
            events: n_events,
            users,
            memberships,
        })
    }

    /// Seeds one user at warm-up, skipping memberships an unregistration already overtook.
    /// Each membership is a versioned join, checked against tombstones under the shard lock,
    /// so a change applied while warm-up runs is never undone by the older snapshot.
    fn load_user(&self, user: UserId, list: Vec<(EventId, Registration)>) {
        for (event, registration) in list {
            self.core.join(user, event, registration);
        }
    }

    /// Processes the starts that are due now (the timer does this by itself).
    pub async fn tick(&self) -> Result<usize, StoreError> {
        self.supervisor
            .send(Tick)
            .await
            .map_err(|e| StoreError(e.to_string()))?
    }

    /// Reconciles with the database now (it also runs every `sweep_interval`).
    pub async fn sweep(&self) -> Result<SweepReport, StoreError> {
        self.supervisor
            .send(Sweep)
            .await
            .map_err(|e| StoreError(e.to_string()))?
    }

    /// Drops a user's entry and rebuilds it from the store. Returns (before, after) event ids.
    pub async fn purge_user(
        &self,
        store: &dyn Store,
        user: UserId,
    ) -> Result<(Vec<EventId>, Vec<EventId>), StoreError> {
        let before: Vec<EventId> = self
            .ongoing(user)
            .await
            .unwrap_or_default()
            .iter()
            .map(|f| f.id)
            .collect();
        let now = self.clock.now();
        let fresh = store.user_memberships(user, now).await?;
        let after: Vec<EventId> = fresh.iter().map(|(e, _)| *e).collect();
        self.core.reset(user, fresh);
        Ok((before, after))
    }

    /// Reloads one event's facts and participants from the store.
    pub async fn purge_event(
        &self,
        store: &dyn Store,
        event: EventId,
    ) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let events = store.events_around(now, self.config.horizon).await?;
        match events.into_iter().find(|f| f.id == event) {
            Some(facts) => {
                self.directory().remove(event);
                let upsert = match self.directory().upsert(facts.clone(), now) {
                    Upsert::Stale => {
                        // Same version as before: force the copy in.
                        Upsert::Changed(Arc::new(facts))
                    }
                    other => other,
                };
                self.core.notify_event(event);
                let _ = self.supervisor.send(EventUpdated(upsert)).await;
            }
            None => {
                self.directory().remove(event);
                self.core.notify_event(event);
            }
        }
        let mut reloaded = 0;
        if self
            .directory()
            .get(event)
            .is_some_and(|f| f.window.is_ongoing_at(now))
        {
            let participants: HashMap<UserId, Registration> =
                store.participants_of(event).await?.into_iter().collect();
            reloaded = participants.len();
            for (user, registration) in participants {
                let mut list = store.user_memberships(user, now).await?;
                list.retain(|(e, _)| *e != event);
                list.push((event, registration));
                self.core.reset(user, list);
            }
        }
        Ok(reloaded)
    }

    /// Stops the actor system and waits for its threads (as dropping the cache does).
    pub fn stop(self) {
        drop(self);
    }
}
