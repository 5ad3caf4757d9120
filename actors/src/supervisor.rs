//! The Supervisor: keeps the timeline of upcoming event starts and brings participants in at
//! the start instant (one query per starting event), and runs the periodic sweep that
//! reconciles the actors with the database and reports the drift it had to fix (invariant 2).
//!
//! It is long-lived and owns no per-user state; the self-stopping user actors are deliberately
//! not supervised (a supervisor would restart them).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use crate::change::Registration;
use crate::clock::{self, SharedClock};
use crate::directory::Upsert;
use crate::domain::{EventFacts, EventId, UserId};
use crate::registry::{RegistryCore, TOMBSTONE_TTL};
use crate::store::{Store, StoreError};
use crate::user_cache::GetMemberships;

/// What one sweep found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Memberships the cache had wrong and the sweep fixed; zero in a healthy run.
    pub drift: u64,
    /// Users whose actors were compared.
    pub users_checked: usize,
    /// Events held in the directory after the sweep.
    pub events: usize,
}

pub struct Supervisor {
    registry: Arc<RegistryCore>,
    store: Arc<dyn Store>,
    clock: SharedClock,
    /// Upcoming starts within the horizon.
    timeline: BTreeSet<(DateTime<Utc>, EventId)>,
    timer: Option<(DateTime<Utc>, SpawnHandle)>,
    sweep_interval: StdDuration,
    /// A sweep is abandoned after the longer of this and the interval.
    sweep_timeout_min: StdDuration,
    /// A sweep is running: the interval does not start another on top of it (each holds a
    /// full snapshot of the participants).
    sweeping: bool,
}

impl Supervisor {
    pub(crate) fn new(
        registry: Arc<RegistryCore>,
        store: Arc<dyn Store>,
        clock: SharedClock,
        sweep_interval: StdDuration,
        sweep_timeout_min: StdDuration,
    ) -> Self {
        Self {
            registry,
            store,
            clock,
            timeline: BTreeSet::new(),
            timer: None,
            sweep_interval,
            sweep_timeout_min,
            sweeping: false,
        }
    }

    fn schedule(&mut self, facts: &EventFacts, now: DateTime<Utc>) {
        self.timeline.retain(|(_, id)| *id != facts.id);
        if !facts.deleted && facts.window.start() > now {
            self.timeline.insert((facts.window.start(), facts.id));
        }
    }

    /// Rebuilds the timeline from the directory: every start after `since`.
    fn replan(&mut self, since: DateTime<Utc>, ctx: &mut Context<Self>) {
        self.timeline.clear();
        for facts in self.registry.directory().all() {
            self.schedule(&facts, since);
        }
        self.arm(ctx);
    }

    /// Arms the timer for the earliest start on the timeline.
    fn arm(&mut self, ctx: &mut Context<Self>) {
        let next = self.timeline.first().map(|(t, _)| *t);
        if self.timer.as_ref().map(|(t, _)| *t) == next {
            return;
        }
        if let Some((_, h)) = self.timer.take() {
            ctx.cancel_future(h);
        }
        if let Some(at) = next {
            let wait = clock::until(self.clock.now(), at);
            let h = ctx.run_later(wait, |act, ctx| {
                act.timer = None;
                ctx.notify(Tick);
            });
            self.timer = Some((at, h));
        }
    }

    /// Puts starts that could not be brought in (the store failed) back on the timeline, to be
    /// tried again shortly rather than wait for the next sweep.
    fn retry_later(&mut self, events: Vec<EventId>, ctx: &mut Context<Self>) {
        let retry_at = self.clock.now() + BRING_IN_RETRY;
        for event in events {
            self.timeline.insert((retry_at, event));
        }
        self.arm(ctx);
    }

    /// Brings the participants of `events` in; what the store failed to load goes back on the
    /// timeline to be tried again shortly.
    fn bring_in_now(
        &self,
        events: Vec<EventId>,
    ) -> impl ActorFuture<Self, Output = Result<usize, StoreError>> + 'static {
        bring_in(self.registry.clone(), self.store.clone(), events)
            .into_actor(self)
            .map(|result, act, ctx| {
                result.map_err(|(error, left)| {
                    tracing::warn!(%error, "could not load an event's participants; trying again shortly");
                    act.retry_later(left, ctx);
                    error
                })
            })
    }

    /// Takes the starts that are due off the timeline.
    fn due(&mut self, now: DateTime<Utc>) -> Vec<EventId> {
        let mut due = Vec::new();
        while let Some((t, id)) = self.timeline.first().copied() {
            if t > now {
                break;
            }
            self.timeline.pop_first();
            due.push(id);
        }
        due
    }
}

/// Brings the participants of `events` (ongoing now) into the cache. On a store failure,
/// the error and the events not brought in yet (the failing one first).
async fn bring_in(
    registry: Arc<RegistryCore>,
    store: Arc<dyn Store>,
    events: Vec<EventId>,
) -> Result<usize, (StoreError, Vec<EventId>)> {
    let mut joined = 0;
    for (i, &event) in events.iter().enumerate() {
        if registry.directory().get(event).is_none() {
            continue;
        }
        match store.participants_of(event).await {
            Ok(participants) => {
                for (user, registration) in participants {
                    registry.join(user, event, registration);
                    joined += 1;
                }
            }
            Err(e) => return Err((e, events[i..].to_vec())),
        }
    }
    Ok(joined)
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let interval = self.sweep_interval;
        ctx.run_interval(interval, |act, ctx| {
            if !act.sweeping {
                ctx.notify(Sweep);
            }
        });
        // After a restart the timeline is rebuilt from the directory (empty at first start).
        // In place, not as a queued message: queued, it could run after warm-up's own `Replan`
        // and replan from a later instant, dropping a start that fell during warm-up.
        let now = self.clock.now();
        self.replan(now, ctx);
    }
}

/// Long-lived, so supervised: if it ever stops, actix restarts it with its timers re-armed.
impl actix::Supervised for Supervisor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        tracing::warn!("the cache supervisor is restarting");
        self.timer = None;
    }
}

/// Put (or move, or take off) an event on the timeline; if it is ongoing now, bring its
/// participants in (an event created already under way, or edited to start earlier).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct EventUpdated(pub Upsert);

impl Handler<EventUpdated> for Supervisor {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, msg: EventUpdated, ctx: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        let mut start_now = Vec::new();
        match &msg.0 {
            Upsert::Changed(facts) => {
                self.schedule(facts, now);
                if facts.window.is_ongoing_at(now) {
                    start_now.push(facts.id);
                }
            }
            Upsert::Dropped(Some(facts)) => self.timeline.retain(|(_, id)| *id != facts.id),
            _ => {}
        }
        self.arm(ctx);
        Box::pin(self.bring_in_now(start_now).map(|_, _, _| ()))
    }
}

/// Rebuild the timeline from the directory (after warm-up): every start after `since` — the
/// time warm-up read its snapshot at, so that an event starting while warm-up ran (after the
/// snapshot, before now) is brought in at once rather than at the next sweep.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Replan {
    pub since: DateTime<Utc>,
}

impl Handler<Replan> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: Replan, ctx: &mut Context<Self>) {
        self.replan(msg.since, ctx);
    }
}

/// Process the starts that are due. The timer sends it; tests with a manual clock send it
/// after moving the clock. Answers how many memberships it brought in.
#[derive(Message)]
#[rtype(result = "Result<usize, StoreError>")]
pub struct Tick;

impl Handler<Tick> for Supervisor {
    type Result = ResponseActFuture<Self, Result<usize, StoreError>>;
    fn handle(&mut self, _: Tick, ctx: &mut Context<Self>) -> Self::Result {
        let due = self.due(self.clock.now());
        self.arm(ctx);
        self.registry.expire_all();
        Box::pin(self.bring_in_now(due))
    }
}

/// How soon starts that could not be brought in (the store failed) are tried again.
const BRING_IN_RETRY: chrono::Duration = chrono::Duration::seconds(5);

/// Reconcile with the database: refresh the directory and the timeline, compare every actor's
/// memberships with a snapshot, fix and count what differs.
#[derive(Message)]
#[rtype(result = "Result<SweepReport, StoreError>")]
pub struct Sweep;

impl Handler<Sweep> for Supervisor {
    type Result = ResponseActFuture<Self, Result<SweepReport, StoreError>>;
    fn handle(&mut self, _: Sweep, _ctx: &mut Context<Self>) -> Self::Result {
        let (registry, store, clock) = (
            self.registry.clone(),
            self.store.clone(),
            self.clock.clone(),
        );
        self.sweeping = true;
        // A sweep stuck on the store or on a stalled actor must not hold off every later one.
        let limit = self.sweep_interval.max(self.sweep_timeout_min);
        let sweep = async move {
            let now = clock.now();
            let horizon = registry.directory().horizon();
            let events = store.events_around(now, horizon).await?;
            let changed = refresh_directory(&registry, events, now);
            let snapshot = store.ongoing_memberships(now).await?;
            let report = reconcile(&registry, &*store, snapshot, now).await?;
            registry.prune_tombstones(TOMBSTONE_TTL);
            registry.stats().add_drift(report.drift);
            if report.drift > 0 {
                tracing::warn!(drift = report.drift, "the sweep fixed cache drift");
            }
            Ok::<_, StoreError>((report, changed))
        };
        Box::pin(
            async move {
                actix::clock::timeout(limit, sweep)
                    .await
                    .unwrap_or_else(|_| Err(StoreError(format!("the sweep took over {limit:?}"))))
            }
            .into_actor(self)
            .map(|res, act, ctx| {
                act.sweeping = false;
                let (report, changed) = res?;
                let now = act.clock.now();
                for facts in &changed {
                    act.schedule(facts, now);
                }
                act.timeline
                    .retain(|(_, id)| act.registry.directory().get(*id).is_some());
                act.arm(ctx);
                Ok(SweepReport {
                    events: act.registry.directory().len(),
                    ..report
                })
            }),
        )
    }
}

/// Applies the loaded events to the directory: newer facts replace, events no longer loaded
/// (deleted, ended, beyond the horizon) are dropped, and holders of either are notified.
/// Returns the facts that changed, for the timeline.
fn refresh_directory(
    registry: &Arc<RegistryCore>,
    loaded: Vec<EventFacts>,
    now: DateTime<Utc>,
) -> Vec<Arc<EventFacts>> {
    let dir = registry.directory();
    let loaded_ids: HashSet<EventId> = loaded.iter().map(|f| f.id).collect();
    let mut changed = Vec::new();
    for facts in loaded {
        let id = facts.id;
        if let Upsert::Changed(f) = dir.upsert(facts, now) {
            registry.notify_event(id);
            changed.push(f);
        }
    }
    for held in dir.all() {
        if !loaded_ids.contains(&held.id) {
            dir.remove(held.id);
            registry.notify_event(held.id);
        }
    }
    dir.drop_ended(now);
    changed
}

/// Compares each user's ongoing memberships in the actors with the snapshot, fixes the users
/// that differ and counts the memberships that were wrong, so that the cache ends equal to the
/// database whatever versions it was sent.
///
/// A real change reaches the cache only after it is committed, so a row is always at the
/// version of the cached change or a later one: a row "justifies" a cached membership at
/// version `v` when it is newer than `v`, or is that very registration. Against the snapshot:
/// - the database has an active row the cache lacks, and no unregistration at least as new is
///   remembered → drift (missing): a versioned join;
/// - the cache holds a membership whose row is inactive and newer → drift (stale): a versioned
///   leave;
/// - the cache holds a membership the snapshot does not justify (no row, an older row, or the
///   unregistration of that very version), or remembers an unregistration at least as new as
///   an active row → doubtful: a change committed after the snapshot was read looks just like a
///   forged one (published by someone else on the change subjects, with any version).
///
/// The doubtful users are read again ([`Store::users_rows`]), after their actors and
/// tombstones were: whatever real change the cache held by then is in that read. What it still
/// does not justify is forged, or lost from the database, and is drift: the actor takes the
/// row's state and version (a conditional fix, see [`crate::user_cache::Correct`], since a
/// forged version may be above any real one and would make every later real change look
/// older), and a forged unregistration is forgotten.
async fn reconcile(
    registry: &Arc<RegistryCore>,
    store: &dyn Store,
    snapshot: crate::store::Snapshot,
    now: DateTime<Utc>,
) -> Result<SweepReport, StoreError> {
    let dir = registry.directory();
    let ongoing = |e: &EventId| dir.get(*e).is_some_and(|f| f.window.is_ongoing_at(now));
    let (db, hidden) = rows_by_user(snapshot, &ongoing);

    let mut have: HashMap<UserId, HashMap<EventId, Registration>> = HashMap::new();
    let users = registry.users();
    let users_checked = users.len();
    for chunk in users.chunks(512) {
        let asks = chunk.iter().map(|(user, addr)| {
            let user = *user;
            let ask = addr.send(GetMemberships);
            async move { (user, ask.await) }
        });
        for (user, res) in futures_join_all(asks).await {
            // A closed mailbox means the actor stopped (empty) meanwhile: it holds nothing.
            let held: HashMap<EventId, Registration> = res
                .unwrap_or_default()
                .into_iter()
                .filter(|(e, _)| ongoing(e))
                .collect();
            if !held.is_empty() {
                have.insert(user, held);
            }
        }
    }

    let empty_db = HashMap::new();
    let empty_have = HashMap::new();
    let mut drift = 0u64;
    let mut doubts: HashMap<UserId, Vec<Doubt>> = HashMap::new();
    let all_users: HashSet<UserId> = db.keys().chain(have.keys()).copied().collect();
    for user in all_users {
        let d = db.get(&user).unwrap_or(&empty_db);
        let h = have.get(&user).unwrap_or(&empty_have);
        let events: HashSet<EventId> = d.keys().chain(h.keys()).copied().collect();
        // Each fix is a versioned join or leave, like any change: one that raced with this
        // sweep and is newer wins, whichever arrives first (no wholesale replacement).
        for event in events {
            let row = d.get(&event).copied();
            let prompt_hidden = hidden.contains(&(user, event));
            match (h.get(&event).copied(), row) {
                // The same registration with another prompt choice: a change published
                // without it (an instance from before the flag) or a forged one. The database's
                // choice, at that version.
                (Some(held), Some((version, true)))
                    if version == held.version && held.prompt_hidden != prompt_hidden =>
                {
                    drift += 1;
                    registry.correct(
                        user,
                        event,
                        version,
                        Some(Registration {
                            version,
                            prompt_hidden,
                        }),
                    );
                }
                (Some(held), Some((version, false))) if version > held.version => {
                    drift += 1;
                    registry.leave(user, event, version);
                }
                // A newer active row: the membership stands, but what it carries (the
                // hidden prompt) may have changed in a change this instance has not applied
                // yet. A versioned join brings it in; not drift, since it is most likely
                // still on its way through the change stream.
                (Some(held), Some((version, true))) if version > held.version => {
                    registry.join(
                        user,
                        event,
                        Registration {
                            version,
                            prompt_hidden,
                        },
                    );
                }
                (Some(held), row) if !justifies_join(row, held.version) => {
                    doubts
                        .entry(user)
                        .or_default()
                        .push(Doubt::Held(event, held.version));
                }
                (None, Some((version, true))) => match registry.tombstone(user, event) {
                    Some(t) if t >= version => {
                        doubts
                            .entry(user)
                            .or_default()
                            .push(Doubt::Tombstone(event, t));
                    }
                    _ => {
                        drift += 1;
                        registry.join(
                            user,
                            event,
                            Registration {
                                version,
                                prompt_hidden,
                            },
                        );
                    }
                },
                _ => {}
            }
        }
    }

    drift += settle_doubts(registry, store, doubts, now, &ongoing).await?;
    Ok(SweepReport {
        drift,
        users_checked,
        events: 0,
    })
}

/// What the snapshot did not justify for one user, as the sweep saw it.
#[derive(Debug, Clone, Copy)]
enum Doubt {
    /// The actor holds the event at this version.
    Held(EventId, i64),
    /// An unregistration at this version keeps the event out of the cache.
    Tombstone(EventId, i64),
}

/// A row (version, active) justifies a cached membership at `held`: it is newer, or it is
/// that registration.
fn justifies_join(row: Option<(i64, bool)>, held: i64) -> bool {
    row.is_some_and(|(version, active)| version > held || (version == held && active))
}

/// A row justifies a remembered unregistration at `t`: it is newer, or it is that
/// unregistration.
fn justifies_leave(row: Option<(i64, bool)>, t: i64) -> bool {
    row.is_some_and(|(version, active)| version > t || (version == t && !active))
}

/// user → event → (version, active), of the events ongoing now; and the pairs whose
/// participant hid the post-edit prompt (rare: a set beside the map, not a field in every
/// entry).
type RowsByUser = HashMap<UserId, HashMap<EventId, (i64, bool)>>;

fn rows_by_user(
    snapshot: crate::store::Snapshot,
    ongoing: &impl Fn(&EventId) -> bool,
) -> (RowsByUser, HashSet<(UserId, EventId)>) {
    let mut db: RowsByUser = HashMap::new();
    let mut hidden = HashSet::new();
    for r in snapshot.rows.into_iter().filter(|r| ongoing(&r.event)) {
        if r.prompt_hidden {
            hidden.insert((r.user, r.event));
        }
        db.entry(r.user)
            .or_default()
            .insert(r.event, (r.version, r.active));
    }
    (db, hidden)
}

/// How many doubtful users one re-read asks for.
const RECHECK_CHUNK: usize = 1000;

/// Reads the doubtful users again and fixes what the database still does not justify: those
/// memberships and unregistrations were forged (or their rows are gone). Returns how many
/// memberships it fixed.
async fn settle_doubts(
    registry: &Arc<RegistryCore>,
    store: &dyn Store,
    doubts: HashMap<UserId, Vec<Doubt>>,
    now: DateTime<Utc>,
    ongoing: &impl Fn(&EventId) -> bool,
) -> Result<u64, StoreError> {
    let mut fixed = 0u64;
    let doubts: Vec<(UserId, Vec<Doubt>)> = doubts.into_iter().collect();
    for chunk in doubts.chunks(RECHECK_CHUNK) {
        let users = chunk.iter().map(|(u, _)| *u).collect();
        let (fresh, hidden) = rows_by_user(store.users_rows(users, now).await?, ongoing);
        for (user, list) in chunk {
            let rows = fresh.get(user);
            for doubt in list {
                match *doubt {
                    Doubt::Held(event, held) => {
                        let row = rows.and_then(|r| r.get(&event)).copied();
                        if justifies_join(row, held) {
                            continue; // committed after the snapshot was read
                        }
                        tracing::warn!(user_id = %user, event_id = %event, version = held,
                            "the cache held a membership the database does not justify (a forged change?); corrected");
                        let to =
                            row.filter(|(_, active)| *active)
                                .map(|(version, _)| Registration {
                                    version,
                                    prompt_hidden: hidden.contains(&(*user, event)),
                                });
                        registry.correct(*user, event, held, to);
                        fixed += 1;
                    }
                    Doubt::Tombstone(event, t) => {
                        let row = rows.and_then(|r| r.get(&event)).copied();
                        if justifies_leave(row, t) {
                            continue;
                        }
                        tracing::warn!(user_id = %user, event_id = %event, version = t,
                            "an unregistration the database does not justify kept a membership out (a forged change?); corrected");
                        let row = row.map(|(version, active)| {
                            let prompt_hidden = hidden.contains(&(*user, event));
                            (
                                Registration {
                                    version,
                                    prompt_hidden,
                                },
                                active,
                            )
                        });
                        if registry.retract_tombstone(*user, event, t, row) {
                            fixed += 1;
                        }
                    }
                }
            }
        }
    }
    Ok(fixed)
}

/// `join_all` without a dependency: awaits each in turn. The asks were all sent when created
/// (actix queues the message on `send`), so the actors work on them concurrently; awaiting in
/// order only orders the collection of answers.
async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let futs: Vec<F> = futs.collect();
    let mut out = Vec::with_capacity(futs.len());
    for f in futs {
        out.push(f.await);
    }
    out
}
