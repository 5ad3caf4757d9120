//! The UserCache actor: one per user with at least one ongoing event. It owns that user's
//! memberships, answers reads, applies versioned changes, keeps a timer for its earliest event
//! end, and stops itself when it holds nothing.
//!
//! The stop race (invariant 3). A change may be on its way to an actor that has just decided
//! to stop. actix stops processing the mailbox once `ctx.stop()` is called, so such a message
//! would be lost. To prevent that, every change reaches an actor through the registry, which
//! counts what it sent to each incarnation under its shard lock; the actor counts what it
//! handled. In `stopping()` the actor asks the registry, under that same lock, to remove it:
//! only if the counts agree (nothing is in flight) is it removed, and then no one can reach it
//! any more; otherwise it keeps running, handles what is pending, and tries again. Reads are not
//! counted: a read that meets a closed mailbox simply looks the user up again.

use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use crate::change::{Attending, Registration};
use crate::clock::{self, SharedClock};
use crate::domain::{EventFacts, EventId, UserId};
use crate::registry::{RegistryCore, Release};

/// A user's membership of one event: the shared facts, the version of the change that made
/// it, and whether the user hid the post-edit prompt for it.
#[derive(Debug, Clone)]
pub(crate) struct Membership {
    pub facts: Arc<EventFacts>,
    pub version: i64,
    pub prompt_hidden: bool,
}

impl Membership {
    fn attending(&self) -> Attending {
        Attending {
            facts: self.facts.clone(),
            prompt_hidden: self.prompt_hidden,
        }
    }
}

/// A user's memberships, sorted by event id. Almost every participant takes part in one to
/// three events at a time, so a small vector beats a map: no node allocation, a few compares.
/// At a million participants this is a large share of the memory per participant.
#[derive(Debug, Default)]
pub(crate) struct Memberships(Vec<(EventId, Membership)>);

impl Memberships {
    fn find(&self, id: &EventId) -> Result<usize, usize> {
        self.0.binary_search_by_key(id, |(e, _)| *e)
    }
    pub fn get(&self, id: &EventId) -> Option<&Membership> {
        self.find(id).ok().map(|i| &self.0[i].1)
    }
    pub fn get_mut(&mut self, id: &EventId) -> Option<&mut Membership> {
        self.find(id).ok().map(|i| &mut self.0[i].1)
    }
    pub fn insert(&mut self, id: EventId, m: Membership) {
        match self.find(&id) {
            Ok(i) => self.0[i].1 = m,
            Err(i) => {
                self.0.reserve_exact(1);
                self.0.insert(i, (id, m));
            }
        }
    }
    pub fn remove(&mut self, id: &EventId) -> Option<Membership> {
        let removed = self.find(id).ok().map(|i| self.0.remove(i).1);
        if self.0.capacity() > 2 * self.0.len() + 2 {
            self.0.shrink_to_fit();
        }
        removed
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn values(&self) -> impl Iterator<Item = &Membership> {
        self.0.iter().map(|(_, m)| m)
    }
    pub fn keys(&self) -> impl Iterator<Item = &EventId> {
        self.0.iter().map(|(e, _)| e)
    }
}

pub struct UserCache {
    user: UserId,
    incarnation: u64,
    events: Memberships,
    /// Counted messages handled; compared with the registry's count of those sent.
    handled: u64,
    registry: Arc<RegistryCore>,
    clock: SharedClock,
    /// The end the current timer is set for, and its handle.
    timer: Option<(DateTime<Utc>, SpawnHandle)>,
}

impl UserCache {
    pub(crate) fn new(
        user: UserId,
        incarnation: u64,
        initial: Vec<(EventId, Registration)>,
        registry: Arc<RegistryCore>,
        clock: SharedClock,
    ) -> Self {
        let mut actor = Self {
            user,
            incarnation,
            events: Memberships::default(),
            handled: 0,
            registry,
            clock,
            timer: None,
        };
        for (event, registration) in initial {
            actor.add(event, registration);
        }
        actor
    }

    /// Adds a membership with the directory's current facts. The index entry goes in first,
    /// then the facts are read: an event edit either finds this user in the index (and its
    /// notice follows) or was written to the directory before the read below sees it. An event
    /// the directory no longer holds (deleted, ended) is not added.
    fn add(&mut self, event: EventId, registration: Registration) {
        if self
            .events
            .get(&event)
            .is_some_and(|m| m.version >= registration.version)
        {
            return;
        }
        self.registry.index(self.user, event);
        match self.registry.directory().get(event) {
            Some(facts) => {
                self.events.insert(
                    event,
                    Membership {
                        facts,
                        version: registration.version,
                        prompt_hidden: registration.prompt_hidden,
                    },
                );
            }
            None => {
                self.events.remove(&event);
                self.registry.unindex(self.user, &[event]);
            }
        }
    }

    fn remove(&mut self, event: EventId) {
        if self.events.remove(&event).is_some() {
            self.registry.unindex(self.user, &[event]);
        }
    }

    /// After every change and every timer: drop events that have ended, re-arm the timer for
    /// the earliest end, and stop when nothing is left.
    fn settle(&mut self, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        let gone: Vec<EventId> = self
            .events
            .values()
            .filter(|m| m.facts.deleted || m.facts.window.has_ended_at(now))
            .map(|m| m.facts.id)
            .collect();
        for id in gone {
            self.remove(id);
        }
        self.publish();
        if self.events.is_empty() {
            if let Some((_, handle)) = self.timer.take() {
                ctx.cancel_future(handle);
            }
            ctx.stop();
            return;
        }
        let next_end = self.events.values().map(|m| m.facts.window.end()).min();
        if let Some(end) = next_end {
            // While the actor system shuts down, actix drives actors that never started
            // once more from the runtime's destructor, where no timer can be made: the actor
            // is going away, it needs none.
            // (Checked only when a timer is to be made: this runs after every change.)
            if self.timer.as_ref().map(|(at, _)| *at) != Some(end)
                && tokio::runtime::Handle::try_current().is_ok()
            {
                if let Some((_, handle)) = self.timer.take() {
                    ctx.cancel_future(handle);
                }
                // One past the end: the window is inclusive, so the event is still ongoing at
                // `end` itself.
                let wake = clock::until(now, end) + std::time::Duration::from_millis(1);
                let handle = ctx.run_later(wake, |act, ctx| {
                    act.timer = None;
                    act.settle(ctx);
                });
                self.timer = Some((end, handle));
            }
        }
    }

    /// Publishes the memberships for hop-free reads (see `registry::ReadPath`).
    fn publish(&self) {
        let events: Arc<[Attending]> = self.events.values().map(Membership::attending).collect();
        self.registry
            .publish(self.user, self.incarnation, self.handled, events);
    }

    fn counted(&mut self, ctx: &mut Context<Self>) {
        self.handled += 1;
        self.settle(ctx);
    }
}

impl Actor for UserCache {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.registry.mailbox_capacity());
        self.settle(ctx);
    }

    fn stopping(&mut self, _ctx: &mut Self::Context) -> Running {
        if !self.events.is_empty() {
            return Running::Continue;
        }
        match self
            .registry
            .release(self.user, self.incarnation, self.handled)
        {
            Release::Removed | Release::NotMine => Running::Stop,
            // Changes are in flight to this incarnation: handle them first.
            Release::Pending => {
                self.registry.stats().stop_deferred();
                Running::Continue
            }
        }
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.registry.stats().actor_stopped();
    }
}

/// Read: the user's events ongoing now, sorted by id.
#[derive(Message)]
#[rtype(result = "Vec<Attending>")]
pub struct GetOngoing;

impl Handler<GetOngoing> for UserCache {
    type Result = MessageResult<GetOngoing>;
    fn handle(&mut self, _: GetOngoing, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        MessageResult(
            self.events
                .values()
                .filter(|m| !m.facts.deleted && m.facts.window.is_ongoing_at(now))
                .map(Membership::attending)
                .collect(),
        )
    }
}

/// Read: every membership with its registration, for reconciliation.
#[derive(Message)]
#[rtype(result = "Vec<(EventId, Registration)>")]
pub struct GetMemberships;

impl Handler<GetMemberships> for UserCache {
    type Result = MessageResult<GetMemberships>;
    fn handle(&mut self, _: GetMemberships, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.events
                .values()
                .map(|m| {
                    (
                        m.facts.id,
                        Registration {
                            version: m.version,
                            prompt_hidden: m.prompt_hidden,
                        },
                    )
                })
                .collect(),
        )
    }
}

/// Counted: the user takes part in an event (registered, or the event started).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Join {
    pub event: EventId,
    pub registration: Registration,
}

impl Handler<Join> for UserCache {
    type Result = ();
    fn handle(&mut self, msg: Join, ctx: &mut Context<Self>) {
        self.add(msg.event, msg.registration);
        self.counted(ctx);
    }
}

/// Fault injection: the actor's thread blocks for the given time, as when its arbiter is
/// starved or stuck. Uncounted. Exists so that tests can prove that a read which cannot get
/// an answer in time falls back to the database.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Stall(pub std::time::Duration);

impl Handler<Stall> for UserCache {
    type Result = ();
    fn handle(&mut self, msg: Stall, _: &mut Context<Self>) {
        tracing::warn!(user_id = %self.user, pause = ?msg.0, "actor stalled on purpose (fault injection)");
        std::thread::sleep(msg.0);
    }
}

/// Counted: the user unregistered.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Leave {
    pub event: EventId,
    pub version: i64,
}

impl Handler<Leave> for UserCache {
    type Result = ();
    fn handle(&mut self, msg: Leave, ctx: &mut Context<Self>) {
        if self
            .events
            .get(&msg.event)
            .is_some_and(|m| m.version < msg.version)
        {
            self.remove(msg.event);
        }
        self.counted(ctx);
    }
}

/// Counted: an event's facts changed in the directory (edited, deleted, moved out of the
/// window); the actor re-reads them.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct EventChanged(pub EventId);

impl Handler<EventChanged> for UserCache {
    type Result = ();
    fn handle(&mut self, msg: EventChanged, ctx: &mut Context<Self>) {
        match self.registry.directory().get(msg.0) {
            Some(facts) => {
                if let Some(m) = self.events.get_mut(&msg.0) {
                    if m.facts.version < facts.version {
                        m.facts = facts;
                    }
                }
            }
            None => self.remove(msg.0),
        }
        self.counted(ctx);
    }
}

/// Counted: replace the whole state (purge, reconciliation).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Reset(pub Vec<(EventId, Registration)>);

impl Handler<Reset> for UserCache {
    type Result = ();
    fn handle(&mut self, msg: Reset, ctx: &mut Context<Self>) {
        let keep: std::collections::HashSet<EventId> = msg.0.iter().map(|(e, _)| *e).collect();
        let drop: Vec<EventId> = self
            .events
            .keys()
            .filter(|e| !keep.contains(e))
            .copied()
            .collect();
        for e in drop {
            self.remove(e);
        }
        for (event, registration) in msg.0 {
            // A reset is authoritative: take its version even when lower than held.
            self.events.remove(&event);
            self.add(event, registration);
        }
        self.counted(ctx);
    }
}

/// Counted: the sweep's correction of a membership whose version the database does not
/// justify (a forged change, or one the database no longer shows): if the actor still holds
/// `event` at `expect`, it takes the database's state, `to` (the row's version, or `None`
/// when it must not hold the event). Versions cannot make this fix, since a forged version may
/// be higher than any real one; so it is conditional instead: a change the actor applied after
/// the sweep read it (its version differs) is never undone.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Correct {
    pub event: EventId,
    pub expect: i64,
    pub to: Option<Registration>,
}

impl Handler<Correct> for UserCache {
    type Result = ();
    fn handle(&mut self, msg: Correct, ctx: &mut Context<Self>) {
        if let Some(m) = self.events.get_mut(&msg.event) {
            if m.version == msg.expect {
                match msg.to {
                    Some(r) => {
                        m.version = r.version;
                        m.prompt_hidden = r.prompt_hidden;
                    }
                    None => self.remove(msg.event),
                }
            }
        }
        self.counted(ctx);
    }
}

/// Counted: re-check ends now (the sweep's nudge; the timer normally does this).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Expire;

impl Handler<Expire> for UserCache {
    type Result = ();
    fn handle(&mut self, _: Expire, ctx: &mut Context<Self>) {
        self.counted(ctx);
    }
}
