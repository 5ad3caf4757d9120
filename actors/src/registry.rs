//! The registry: `user_id → Addr<UserCache>`, sharded so that lookups from many gateway
//! threads rarely meet on one lock, with the actors spread over several arbiters (threads).
//!
//! A lookup for a user without an actor answers "no ongoing events" with a hash lookup under a
//! read lock: no actor hop, no query (invariant 1's fast path).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockWriteGuard};
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::change::{Attending, Registration};
use crate::clock::SharedClock;
use crate::directory::EventDirectory;
use crate::domain::{EventId, UserId};
use crate::stats::CacheStats;
use crate::user_cache::{Correct, EventChanged, Expire, Join, Leave, Reset, UserCache};

/// How many lock shards. More than arbiters, so that two users on one arbiter rarely share a
/// lock; a power of two so the shard is a mask.
const SHARDS: usize = 64;

/// How long an unregistration is remembered for users without an actor, so that an older
/// registration published late by another instance cannot resurrect the membership. Far longer
/// than any publish delay; pruned by the sweep.
pub const TOMBSTONE_TTL: Duration = Duration::from_secs(15 * 60);

/// What the registry said to an actor that wants to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// Removed from the registry: nothing can reach it any more.
    Removed,
    /// The registry already holds another incarnation (or none): stop.
    NotMine,
    /// Changes were sent that it has not handled yet: keep running.
    Pending,
}

struct Entry {
    addr: Addr<UserCache>,
    incarnation: u64,
    /// Counted messages sent to this incarnation; only changed under the shard's write lock.
    sent: u64,
    /// The actor's answer as it last published it, with the count of messages it had handled
    /// then. When that count equals `sent`, no change is on its way to the actor and the
    /// published answer is exactly what asking it would return: a read takes it without a
    /// hop. Otherwise the read asks the actor, queued behind the pending changes, so a caller
    /// always reads its own writes.
    published: Option<(u64, Arc<[Attending]>)>,
}

/// How a read of one user can be answered.
pub enum ReadPath {
    /// No actor: no ongoing events.
    NoActor,
    /// The actor's published memberships, current (nothing in flight). Filter by "now".
    Published(Arc<[Attending]>),
    /// Changes are in flight: ask the actor.
    Ask(Addr<UserCache>),
}

#[derive(Default)]
struct Shard {
    users: HashMap<UserId, Entry>,
    /// Which users of this shard are members of an event: the actors to notify when the
    /// event's facts change. Maintained by the actors themselves.
    by_event: HashMap<EventId, HashSet<UserId>>,
    /// Recent unregistrations: `(user, event) → (version, when)`.
    tombstones: HashMap<(UserId, EventId), (i64, Instant)>,
}

/// The registry's state, shared with every actor (which reports its index changes and asks to
/// be released through it).
pub struct RegistryCore {
    shards: Box<[RwLock<Shard>]>,
    arbiters: Vec<ArbiterHandle>,
    directory: Arc<EventDirectory>,
    clock: SharedClock,
    stats: Arc<CacheStats>,
    next_incarnation: AtomicU64,
    mailbox_capacity: usize,
}

impl RegistryCore {
    pub(crate) fn new(
        arbiters: Vec<ArbiterHandle>,
        directory: Arc<EventDirectory>,
        clock: SharedClock,
        stats: Arc<CacheStats>,
        mailbox_capacity: usize,
    ) -> Self {
        assert!(
            !arbiters.is_empty(),
            "the registry needs at least one arbiter"
        );
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            arbiters,
            directory,
            clock,
            stats,
            next_incarnation: AtomicU64::new(1),
            mailbox_capacity,
        }
    }

    pub fn directory(&self) -> &Arc<EventDirectory> {
        &self.directory
    }

    pub fn stats(&self) -> &Arc<CacheStats> {
        &self.stats
    }

    pub(crate) fn mailbox_capacity(&self) -> usize {
        self.mailbox_capacity
    }

    fn shard_of(&self, user: UserId) -> usize {
        // Ids are sequential; a multiplicative hash spreads neighbours over shards.
        (user.get().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize % SHARDS
    }

    fn lock(&self, shard: usize) -> RwLockWriteGuard<'_, Shard> {
        // Every critical section is a few map operations that cannot panic half-way in a way
        // that breaks an invariant, so a poisoned lock is still consistent.
        self.shards[shard]
            .write()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// How to answer a read for `user` (see [`ReadPath`]).
    pub fn read(&self, user: UserId) -> ReadPath {
        let shard = self.shards[self.shard_of(user)]
            .read()
            .unwrap_or_else(|p| p.into_inner());
        match shard.users.get(&user) {
            None => ReadPath::NoActor,
            Some(e) => match &e.published {
                Some((handled, events)) if *handled == e.sent => {
                    ReadPath::Published(events.clone())
                }
                _ => ReadPath::Ask(e.addr.clone()),
            },
        }
    }

    /// An actor publishes its memberships after handling `handled` counted messages.
    pub(crate) fn publish(
        &self,
        user: UserId,
        incarnation: u64,
        handled: u64,
        events: Arc<[Attending]>,
    ) {
        let mut shard = self.lock(self.shard_of(user));
        if let Some(e) = shard.users.get_mut(&user) {
            if e.incarnation == incarnation {
                e.published = Some((handled, events));
            }
        }
    }

    /// The user's actor, if any.
    pub fn lookup(&self, user: UserId) -> Option<Addr<UserCache>> {
        let shard = self.shards[self.shard_of(user)]
            .read()
            .unwrap_or_else(|p| p.into_inner());
        shard.users.get(&user).map(|e| e.addr.clone())
    }

    /// The user takes part in `event` (already checked to be ongoing) as of the
    /// registration's version.
    pub fn join(self: &Arc<Self>, user: UserId, event: EventId, registration: Registration) {
        let s = self.shard_of(user);
        let mut shard = self.lock(s);
        if shard
            .tombstones
            .get(&(user, event))
            .is_some_and(|(v, _)| *v >= registration.version)
        {
            return;
        }
        self.deliver(
            &mut shard,
            s,
            user,
            Join {
                event,
                registration,
            },
            || vec![(event, registration)],
        );
    }

    /// The user left `event` as of `version`.
    pub fn leave(self: &Arc<Self>, user: UserId, event: EventId, version: i64) {
        let s = self.shard_of(user);
        let mut shard = self.lock(s);
        let t = shard
            .tombstones
            .entry((user, event))
            .or_insert((version, Instant::now()));
        if t.0 < version {
            *t = (version, Instant::now());
        }
        self.deliver(&mut shard, s, user, Leave { event, version }, Vec::new);
    }

    /// The sweep found `user`'s membership of `event` held at `expect`, a version the
    /// database does not justify: if the actor still holds that version, it takes the
    /// database's, `to` (`None`: not a member). See [`Correct`].
    pub(crate) fn correct(
        self: &Arc<Self>,
        user: UserId,
        event: EventId,
        expect: i64,
        to: Option<Registration>,
    ) {
        let s = self.shard_of(user);
        let mut shard = self.lock(s);
        // No actor: it holds nothing, so there is nothing to correct.
        self.deliver(&mut shard, s, user, Correct { event, expect, to }, Vec::new);
    }

    /// The sweep found the unregistration remembered for `(user, event)` at `expect`, a
    /// version the database does not justify (a forged one would keep every real registration
    /// out for the tombstone's lifetime). If it is still the one remembered, it takes the
    /// database's row: an active row joins at its version (returns true, a membership fixed),
    /// an inactive one is remembered at its own version, and no row forgets it.
    pub(crate) fn retract_tombstone(
        self: &Arc<Self>,
        user: UserId,
        event: EventId,
        expect: i64,
        row: Option<(Registration, bool)>,
    ) -> bool {
        let s = self.shard_of(user);
        let mut shard = self.lock(s);
        if shard.tombstones.get(&(user, event)).map(|(v, _)| *v) != Some(expect) {
            return false;
        }
        match row {
            Some((registration, true)) => {
                shard.tombstones.remove(&(user, event));
                self.deliver(
                    &mut shard,
                    s,
                    user,
                    Join {
                        event,
                        registration,
                    },
                    || vec![(event, registration)],
                );
                true
            }
            Some((registration, false)) => {
                shard
                    .tombstones
                    .insert((user, event), (registration.version, Instant::now()));
                false
            }
            None => {
                shard.tombstones.remove(&(user, event));
                false
            }
        }
    }

    /// Replaces the user's memberships wholesale (warm-up, purge, reconciliation).
    pub fn reset(self: &Arc<Self>, user: UserId, memberships: Vec<(EventId, Registration)>) {
        let s = self.shard_of(user);
        let mut shard = self.lock(s);
        let seed = memberships.clone();
        self.deliver(&mut shard, s, user, Reset(memberships), move || seed);
    }

    /// Tells every actor holding `event` to re-read its facts from the directory.
    pub fn notify_event(&self, event: EventId) -> usize {
        let mut notified = 0;
        for s in 0..SHARDS {
            let mut shard = self.lock(s);
            let users: Vec<UserId> = match shard.by_event.get(&event) {
                Some(set) => set.iter().copied().collect(),
                None => continue,
            };
            for user in users {
                if let Some(entry) = shard.users.get_mut(&user) {
                    entry.sent += 1;
                    entry.addr.do_send(EventChanged(event));
                    notified += 1;
                }
            }
        }
        notified
    }

    /// Nudges every actor to drop what has ended (the sweep's safety net under the timers).
    pub fn expire_all(&self) {
        for s in 0..SHARDS {
            let mut shard = self.lock(s);
            for entry in shard.users.values_mut() {
                entry.sent += 1;
                entry.addr.do_send(Expire);
            }
        }
    }

    /// Sends a counted message to the user's actor, or starts one seeded with `seed()` when
    /// there is none (or the one registered died without being released). An empty seed
    /// starts nothing: a user with nothing to hold needs no actor.
    fn deliver<M>(
        self: &Arc<Self>,
        shard: &mut Shard,
        s: usize,
        user: UserId,
        msg: M,
        seed: impl FnOnce() -> Vec<(EventId, Registration)>,
    ) where
        M: Message<Result = ()> + Send + 'static,
        UserCache: Handler<M>,
    {
        if let Some(entry) = shard.users.get_mut(&user) {
            if entry.addr.connected() {
                entry.sent += 1;
                entry.addr.do_send(msg);
                return;
            }
            // Its mailbox is closed but it was never released (its arbiter died): never hand
            // this address out again; a fresh actor takes the message.
            shard.users.remove(&user);
            self.stats.rerouted();
            self.stats.actor_stopped();
        }
        let seed = seed();
        if seed.is_empty() {
            return;
        }
        // Indexed now, under the lock, so that an event edit from this instant on finds the
        // new actor (its constructor indexes again, harmlessly, and drops what is not held).
        for (event, _) in &seed {
            shard.by_event.entry(*event).or_default().insert(user);
        }
        let entry = self.spawn(s, user, seed);
        shard.users.insert(user, entry);
    }

    fn spawn(
        self: &Arc<Self>,
        s: usize,
        user: UserId,
        seed: Vec<(EventId, Registration)>,
    ) -> Entry {
        let incarnation = self.next_incarnation.fetch_add(1, Ordering::Relaxed);
        let core = self.clone();
        let clock = self.clock.clone();
        let arbiter = &self.arbiters[s % self.arbiters.len()];
        let addr = UserCache::start_in_arbiter(arbiter, move |_| {
            UserCache::new(user, incarnation, seed, core, clock)
        });
        self.stats.actor_started();
        Entry {
            addr,
            incarnation,
            sent: 0,
            published: None,
        }
    }

    /// Called by an empty actor in `stopping()`. See the module docs of `user_cache`.
    pub(crate) fn release(&self, user: UserId, incarnation: u64, handled: u64) -> Release {
        let mut shard = self.lock(self.shard_of(user));
        match shard.users.get(&user) {
            Some(e) if e.incarnation == incarnation => {
                if e.sent == handled {
                    shard.users.remove(&user);
                    Release::Removed
                } else {
                    Release::Pending
                }
            }
            _ => Release::NotMine,
        }
    }

    pub(crate) fn index(&self, user: UserId, event: EventId) {
        self.lock(self.shard_of(user))
            .by_event
            .entry(event)
            .or_default()
            .insert(user);
    }

    pub(crate) fn unindex(&self, user: UserId, events: &[EventId]) {
        let mut shard = self.lock(self.shard_of(user));
        for event in events {
            if let Some(set) = shard.by_event.get_mut(event) {
                set.remove(&user);
                if set.is_empty() {
                    shard.by_event.remove(event);
                }
            }
        }
    }

    /// Every user with an actor, and its address.
    pub fn users(&self) -> Vec<(UserId, Addr<UserCache>)> {
        let mut out = Vec::new();
        for s in 0..SHARDS {
            let shard = self.shards[s].read().unwrap_or_else(|p| p.into_inner());
            out.extend(shard.users.iter().map(|(u, e)| (*u, e.addr.clone())));
        }
        out
    }

    /// How many users with an actor the index lists for `event`.
    pub fn indexed_participants(&self, event: EventId) -> usize {
        (0..SHARDS)
            .map(|s| {
                let shard = self.shards[s].read().unwrap_or_else(|p| p.into_inner());
                shard.by_event.get(&event).map_or(0, HashSet::len)
            })
            .sum()
    }

    /// The newest unregistration remembered for `(user, event)`.
    pub fn tombstone(&self, user: UserId, event: EventId) -> Option<i64> {
        let shard = self.shards[self.shard_of(user)]
            .read()
            .unwrap_or_else(|p| p.into_inner());
        shard.tombstones.get(&(user, event)).map(|(v, _)| *v)
    }

    /// Forgets unregistrations older than `ttl`.
    pub fn prune_tombstones(&self, ttl: Duration) {
        for s in 0..SHARDS {
            let mut shard = self.lock(s);
            shard.tombstones.retain(|_, (_, at)| at.elapsed() < ttl);
        }
    }
}
