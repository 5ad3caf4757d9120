//! The cache against an in-memory store and a manual clock: the invariants that need no
//! database to state. (The service's integration tests check the same against Postgres.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use campaign_events_actors::domain::*;
use campaign_events_actors::*;
use chrono::{DateTime, Duration, TimeZone, Utc};

#[derive(Default)]
struct State {
    events: HashMap<EventId, EventFacts>,
    /// (event, user) → (active, version)
    participants: HashMap<(EventId, UserId), (bool, i64)>,
    /// The pairs whose participant hid the post-edit prompt.
    hidden: std::collections::HashSet<(EventId, UserId)>,
    version: i64,
    /// Moves this clock by this much while the memberships snapshot is read (a long warm-up).
    slow_snapshot: Option<(ManualClock, Duration)>,
    /// `participants_of` fails this many more times (the database away).
    failing_participant_reads: usize,
    /// `events_around` never answers this many more times (a query stuck on the database).
    hanging_event_reads: usize,
    /// How many times `events_around` was called.
    event_reads: usize,
    /// Runs once just after the memberships snapshot is read (a change committed meanwhile).
    after_snapshot: Option<Box<dyn FnOnce() + Send>>,
}

/// A store in memory, standing in for Postgres.
#[derive(Clone, Default)]
struct MemStore(Arc<Mutex<State>>);

impl MemStore {
    fn next_version(&self) -> i64 {
        let mut s = self.0.lock().unwrap();
        s.version += 1;
        s.version
    }
    fn put_event(&self, mut facts: EventFacts) -> EventFacts {
        facts.version = self.next_version();
        self.0
            .lock()
            .unwrap()
            .events
            .insert(facts.id, facts.clone());
        facts
    }
    fn register(&self, event: EventId, user: UserId, active: bool) -> ParticipantChange {
        let version = self.next_version();
        self.0
            .lock()
            .unwrap()
            .participants
            .insert((event, user), (active, version));
        let prompt_hidden = self.0.lock().unwrap().hidden.contains(&(event, user));
        ParticipantChange {
            event_id: event,
            user_id: user,
            active,
            version,
            prompt_hidden,
        }
    }
    /// The participant hides (or shows again) the post-edit prompt: a new version.
    fn hide_prompt(&self, event: EventId, user: UserId, hidden: bool) -> ParticipantChange {
        {
            let mut s = self.0.lock().unwrap();
            if hidden {
                s.hidden.insert((event, user));
            } else {
                s.hidden.remove(&(event, user));
            }
        }
        self.register(event, user, true)
    }
}

/// Every participant row of the events ongoing at `now`, of the users `want` picks.
fn rows_of(s: &State, now: DateTime<Utc>, want: impl Fn(UserId) -> bool) -> Snapshot {
    let mut rows: Vec<_> = s
        .participants
        .iter()
        .filter(|((e, u), _)| {
            want(*u)
                && s.events
                    .get(e)
                    .is_some_and(|f| !f.deleted && f.window.is_ongoing_at(now))
        })
        .map(|((e, u), (active, v))| MembershipRow {
            user: *u,
            event: *e,
            version: *v,
            active: *active,
            prompt_hidden: s.hidden.contains(&(*e, *u)),
        })
        .collect();
    rows.sort();
    Snapshot { rows }
}

fn fut<T: Send + 'static>(v: T) -> StoreFuture<T> {
    Box::pin(async move { Ok(v) })
}

impl Store for MemStore {
    fn events_around(&self, now: DateTime<Utc>, horizon: Duration) -> StoreFuture<Vec<EventFacts>> {
        let mut s = self.0.lock().unwrap();
        s.event_reads += 1;
        if s.hanging_event_reads > 0 {
            s.hanging_event_reads -= 1;
            return Box::pin(std::future::pending());
        }
        fut(s
            .events
            .values()
            .filter(|f| !f.deleted && f.window.end() >= now && f.window.start() <= now + horizon)
            .cloned()
            .collect())
    }
    fn participants_of(&self, event: EventId) -> StoreFuture<Vec<(UserId, Registration)>> {
        let mut s = self.0.lock().unwrap();
        if s.failing_participant_reads > 0 {
            s.failing_participant_reads -= 1;
            return Box::pin(async { Err(StoreError("the database is away".into())) });
        }
        fut(s
            .participants
            .iter()
            .filter(|((e, _), (active, _))| *e == event && *active)
            .map(|((e, u), (_, v))| {
                let prompt_hidden = s.hidden.contains(&(*e, *u));
                (
                    *u,
                    Registration {
                        version: *v,
                        prompt_hidden,
                    },
                )
            })
            .collect())
    }
    fn ongoing_memberships(&self, now: DateTime<Utc>) -> StoreFuture<Snapshot> {
        let snapshot = {
            let s = self.0.lock().unwrap();
            if let Some((clock, by)) = &s.slow_snapshot {
                clock.advance(*by);
            }
            rows_of(&s, now, |_| true)
        };
        let hook = self.0.lock().unwrap().after_snapshot.take();
        if let Some(hook) = hook {
            hook();
        }
        fut(snapshot)
    }
    fn users_rows(&self, users: Vec<UserId>, now: DateTime<Utc>) -> StoreFuture<Snapshot> {
        let s = self.0.lock().unwrap();
        fut(rows_of(&s, now, |u| users.contains(&u)))
    }
    fn user_memberships(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreFuture<Vec<(EventId, Registration)>> {
        let s = self.0.lock().unwrap();
        fut(s
            .participants
            .iter()
            .filter(|((e, u), (active, _))| {
                *u == user
                    && *active
                    && s.events
                        .get(e)
                        .is_some_and(|f| !f.deleted && f.window.is_ongoing_at(now))
            })
            .map(|((e, u), (_, v))| {
                let prompt_hidden = s.hidden.contains(&(*e, *u));
                (
                    *e,
                    Registration {
                        version: *v,
                        prompt_hidden,
                    },
                )
            })
            .collect())
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

fn event(id: u64, start: DateTime<Utc>, end: DateTime<Utc>) -> EventFacts {
    EventFacts {
        id: EventId::new(id).unwrap(),
        name: EventName::parse(&format!("Event {id}")).unwrap(),
        window: EventWindow::new(start, end).unwrap(),
        timezone: EventTimezone::parse("UTC").unwrap(),
        wikis: WikiSelection::All,
        track_contributions: true,
        status: EventStatus::Open,
        deleted: false,
        version: 0,
    }
}

fn uid(n: u64) -> UserId {
    UserId::new(n).unwrap()
}

struct Fixture {
    cache: Cache,
    store: MemStore,
    clock: ManualClock,
}

async fn fixture() -> Fixture {
    fixture_with(MemStore::default(), |_| {}).await
}

async fn fixture_with(store: MemStore, adjust: impl FnOnce(&mut CacheConfig)) -> Fixture {
    let clock = ManualClock::new(t0());
    let mut config = CacheConfig {
        arbiters: 2,
        sweep_interval: StdDuration::from_secs(3600),
        // Reads here must come from the actors: a busy machine stalling a thread for a
        // moment must not turn one into a timeout.
        ask_timeout: StdDuration::from_secs(10),
        ..CacheConfig::default()
    };
    adjust(&mut config);
    let cache = Cache::start(config, Arc::new(store.clone()), Arc::new(clock.clone())).unwrap();
    Fixture {
        cache,
        store,
        clock,
    }
}

async fn ids(cache: &Cache, user: u64) -> Vec<u64> {
    cache
        .ongoing(uid(user))
        .await
        .unwrap()
        .iter()
        .map(|f| f.id.get())
        .collect()
}

/// Waits until the user has no actor (it stops asynchronously after its last event goes).
async fn wait_no_actor(cache: &Cache, user: u64) {
    eventually(&format!("user {user} has no actor"), async || {
        cache.registry().lookup(uid(user)).is_none()
    })
    .await;
}

/// Polls `check` until it holds, failing the test naming `what` past a generous deadline:
/// tests wait for outcomes and never assert how long they took.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + StdDuration::from_secs(30);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 30 s"
        );
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
}

/// The user's ongoing events whose post-edit prompt is hidden.
async fn hidden_ids(cache: &Cache, user: u64) -> Vec<u64> {
    cache
        .ongoing(uid(user))
        .await
        .unwrap()
        .iter()
        .filter(|a| a.prompt_hidden)
        .map(|a| a.id.get())
        .collect()
}

/// The post-edit prompt a participant hid travels with their registration: applied as a
/// versioned change, order-insensitive, and brought in by the sweep when a change was missed.
#[tokio::test]
async fn a_hidden_prompt_is_held_with_the_membership_and_reconciled() {
    let f = fixture().await;
    let e = f.store.put_event(event(
        1,
        t0() - Duration::hours(1),
        t0() + Duration::hours(1),
    ));
    f.cache.apply(Change::Event(e.clone())).await;
    let join = f.store.register(e.id, uid(7), true);
    let hide = f.store.hide_prompt(e.id, uid(7), true);
    // Newer first: the older registration does not show the prompt again.
    f.cache.apply(Change::Participant(hide)).await;
    f.cache.apply(Change::Participant(join)).await;
    assert_eq!(ids(&f.cache, 7).await, vec![1]);
    assert_eq!(hidden_ids(&f.cache, 7).await, vec![1]);

    // Shown again in the database, and the change never reached this instance: the sweep
    // brings it in, and the reverse too.
    let _missed = f.store.hide_prompt(e.id, uid(7), false);
    f.cache.sweep().await.unwrap();
    assert_eq!(hidden_ids(&f.cache, 7).await, Vec::<u64>::new());
    let _missed = f.store.hide_prompt(e.id, uid(7), true);
    f.cache.sweep().await.unwrap();
    assert_eq!(hidden_ids(&f.cache, 7).await, vec![1]);
    assert_eq!(ids(&f.cache, 7).await, vec![1]);

    // The same version with the choice left out (an instance from before the flag published
    // it): the sweep takes the database's choice and counts it as drift.
    let mut unaware = f.store.hide_prompt(e.id, uid(7), true);
    unaware.prompt_hidden = false;
    f.cache.apply(Change::Participant(unaware)).await;
    assert_eq!(hidden_ids(&f.cache, 7).await, Vec::<u64>::new());
    assert_eq!(f.cache.sweep().await.unwrap().drift, 1);
    assert_eq!(hidden_ids(&f.cache, 7).await, vec![1]);
    assert_eq!(f.cache.sweep().await.unwrap().drift, 0);
}

#[tokio::test]
async fn register_then_unregister_adds_then_removes_and_the_actor_stops() {
    let f = fixture().await;
    let e = f.store.put_event(event(
        1,
        t0() - Duration::hours(1),
        t0() + Duration::hours(1),
    ));
    f.cache.apply(Change::Event(e.clone())).await;
    assert_eq!(ids(&f.cache, 42).await, Vec::<u64>::new());
    assert!(
        f.cache.registry().lookup(uid(42)).is_none(),
        "no actor for a non-participant"
    );

    let c = f.store.register(e.id, uid(42), true);
    f.cache.apply(Change::Participant(c)).await;
    assert_eq!(ids(&f.cache, 42).await, vec![1], "in the cache at once");
    assert_eq!(f.cache.stats().actors(), 1);

    let c = f.store.register(e.id, uid(42), false);
    f.cache.apply(Change::Participant(c)).await;
    assert_eq!(ids(&f.cache, 42).await, Vec::<u64>::new());
    wait_no_actor(&f.cache, 42).await;
    eventually("f.cache.stats().actors() == 0", async || {
        f.cache.stats().actors() == 0
    })
    .await;
    assert_eq!(f.cache.stats().actors(), 0);
}

#[tokio::test]
async fn changes_are_idempotent_and_order_insensitive_invariant_4() {
    let f = fixture().await;
    let e = f.store.put_event(event(
        1,
        t0() - Duration::hours(1),
        t0() + Duration::hours(1),
    ));
    f.cache.apply(Change::Event(e.clone())).await;
    let join = f.store.register(e.id, uid(7), true);
    let leave = f.store.register(e.id, uid(7), false);

    // Newer first, then the older one, then both again.
    f.cache.apply(Change::Participant(leave)).await;
    f.cache.apply(Change::Participant(join)).await;
    f.cache.apply(Change::Participant(join)).await;
    f.cache.apply(Change::Participant(leave)).await;
    assert_eq!(ids(&f.cache, 7).await, Vec::<u64>::new());

    let rejoin = f.store.register(e.id, uid(7), true);
    f.cache.apply(Change::Participant(rejoin)).await;
    f.cache.apply(Change::Participant(join)).await;
    f.cache.apply(Change::Participant(leave)).await;
    f.cache.apply(Change::Participant(rejoin)).await;
    assert_eq!(ids(&f.cache, 7).await, vec![1]);

    // An older copy of the event's facts does not replace a newer one.
    let renamed = f.store.put_event(EventFacts {
        name: EventName::parse("Renamed").unwrap(),
        ..e.clone()
    });
    f.cache.apply(Change::Event(renamed)).await;
    f.cache.apply(Change::Event(e)).await;
    let got = f.cache.ongoing(uid(7)).await.unwrap();
    assert_eq!(got[0].name.as_str(), "Renamed");
}

#[tokio::test]
async fn a_user_hammered_while_its_actor_stops_loses_nothing_invariant_3() {
    let f = fixture().await;
    let e = f.store.put_event(event(
        1,
        t0() - Duration::hours(1),
        t0() + Duration::hours(1),
    ));
    f.cache.apply(Change::Event(e.clone())).await;
    let cache = Arc::new(f.cache);
    // Readers run all along; none may fail or see anything but [] or [1].
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (cache, stop) = (cache.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let got = ids(&cache, 9).await;
                assert!(got.is_empty() || got == vec![1], "{got:?}");
                n += 1;
                tokio::task::yield_now().await;
            }
            n
        }));
    }
    // Every leave empties the actor, so it starts stopping; the join right behind it must
    // never be lost. After each pair, the user must be a member.
    for round in 0..2000 {
        let leave = f.store.register(e.id, uid(9), false);
        cache.apply(Change::Participant(leave)).await;
        if round % 3 == 0 {
            tokio::task::yield_now().await;
        }
        if round % 20 == 0 {
            // Let the actor really stop now and then, so the join meets no actor at all.
            tokio::time::sleep(StdDuration::from_millis(2)).await;
        }
        let join = f.store.register(e.id, uid(9), true);
        cache.apply(Change::Participant(join)).await;
        if round % 50 == 0 {
            assert_eq!(ids(&cache, 9).await, vec![1], "round {round}");
        }
    }
    assert_eq!(ids(&cache, 9).await, vec![1]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        assert!(r.await.unwrap() > 0);
    }
    eprintln!("deferred stops: {}", cache.stats().deferred_stops());
    assert!(cache.stats().deferred_stops() > 0, "the race was exercised");
    // At most one live actor for the user, whatever happened.
    assert!(
        cache.stats().actors() <= 1,
        "actors: {}",
        cache.stats().actors()
    );
}

#[tokio::test]
async fn an_ended_event_leaves_and_a_started_one_arrives_invariant_2() {
    let f = fixture().await;
    let ending = f.store.put_event(event(
        1,
        t0() - Duration::hours(1),
        t0() + Duration::minutes(10),
    ));
    let starting = f.store.put_event(event(
        2,
        t0() + Duration::minutes(5),
        t0() + Duration::hours(2),
    ));
    f.store.register(ending.id, uid(1), true);
    f.store.register(starting.id, uid(2), true);
    f.store.register(starting.id, uid(1), true);
    let report = f.cache.warm_up(&f.store).await.unwrap();
    assert_eq!((report.events, report.users), (2, 1));
    assert_eq!(ids(&f.cache, 1).await, vec![1]);
    assert_eq!(ids(&f.cache, 2).await, Vec::<u64>::new());

    f.clock.advance(Duration::minutes(6));
    let joined = f.cache.tick().await.unwrap();
    assert_eq!(joined, 2, "one query brought both participants in");
    assert_eq!(ids(&f.cache, 1).await, vec![1, 2]);
    assert_eq!(ids(&f.cache, 2).await, vec![2]);

    f.clock.advance(Duration::minutes(5));
    f.cache.tick().await.unwrap();
    assert_eq!(ids(&f.cache, 1).await, vec![2], "the ended event left");
}

#[tokio::test]
async fn the_sweep_fixes_and_counts_drift_and_removes_expired_entries() {
    let f = fixture().await;
    let e = f.store.put_event(event(
        1,
        t0() - Duration::hours(1),
        t0() + Duration::hours(1),
    ));
    f.store.register(e.id, uid(5), true);
    f.cache.warm_up(&f.store).await.unwrap();
    let healthy = f.cache.sweep().await.unwrap();
    assert_eq!(healthy.drift, 0);

    // A registration the cache never heard of, and an unregistration it missed (lost messages).
    f.store.register(e.id, uid(6), true);
    f.store.register(e.id, uid(5), false);
    let report = f.cache.sweep().await.unwrap();
    assert_eq!(report.drift, 2);
    assert_eq!(ids(&f.cache, 6).await, vec![1]);
    assert_eq!(ids(&f.cache, 5).await, Vec::<u64>::new());
    assert_eq!(f.cache.stats().drift(), 2);
    assert_eq!(f.cache.sweep().await.unwrap().drift, 0, "fixed for good");

    // A change the cache applied after the snapshot would have been read is not drift.
    let newer = f.store.register(e.id, uid(5), true);
    f.cache.apply(Change::Participant(newer)).await;
    assert_eq!(f.cache.sweep().await.unwrap().drift, 0);
    let c = f.store.register(e.id, uid(5), false);
    f.cache.apply(Change::Participant(c)).await;

    // Past the end, the sweep leaves no entry behind.
    f.clock.advance(Duration::hours(2));
    f.cache.sweep().await.unwrap();
    wait_no_actor(&f.cache, 6).await;
    assert_eq!(f.cache.directory().len(), 0);
}

#[tokio::test]
async fn an_edited_event_notifies_exactly_its_participants_invariant_7() {
    let f = fixture().await;
    let a = f.store.put_event(event(
        1,
        t0() - Duration::hours(1),
        t0() + Duration::hours(1),
    ));
    let b = f.store.put_event(event(
        2,
        t0() - Duration::hours(1),
        t0() + Duration::hours(1),
    ));
    f.store.register(a.id, uid(1), true);
    f.store.register(b.id, uid(2), true);
    f.cache.warm_up(&f.store).await.unwrap();
    assert_eq!(f.cache.registry().indexed_participants(a.id), 1);

    let renamed = f.store.put_event(EventFacts {
        name: EventName::parse("Edited").unwrap(),
        ..a.clone()
    });
    f.cache.apply(Change::Event(renamed)).await;
    let one = f.cache.ongoing(uid(1)).await.unwrap();
    assert_eq!(one[0].name.as_str(), "Edited");
    // Shared, not copied: the participant holds the directory's Arc.
    assert!(Arc::ptr_eq(
        &one[0].facts,
        &f.cache.directory().get(a.id).unwrap()
    ));

    let deleted = f.store.put_event(EventFacts { deleted: true, ..a });
    f.cache.apply(Change::Event(deleted)).await;
    assert_eq!(ids(&f.cache, 1).await, Vec::<u64>::new());
    assert_eq!(
        ids(&f.cache, 2).await,
        vec![2],
        "the other event's participant is untouched"
    );
}

/// An event created on a running instance more than the horizon ahead is not held then; it
/// must come in once it is near, and its participants once it starts.
#[tokio::test]
async fn an_event_created_beyond_the_horizon_is_cached_when_it_starts() {
    let f = fixture().await;
    f.cache.warm_up(&f.store).await.unwrap();
    let e = f
        .store
        .put_event(event(1, t0() + Duration::days(3), t0() + Duration::days(4)));
    f.cache.apply(Change::Event(e.clone())).await;
    assert!(
        f.cache.directory().get(e.id).is_none(),
        "beyond the horizon"
    );
    f.store.register(e.id, uid(7), true);
    // Within the horizon: the sweep brings the event into the directory…
    f.clock.advance(Duration::days(2) + Duration::hours(1));
    f.cache.sweep().await.unwrap();
    assert!(f.cache.directory().get(e.id).is_some(), "near: held");
    // …and its start brings its participants in.
    f.clock.advance(Duration::hours(23));
    f.cache.tick().await.unwrap();
    assert_eq!(ids(&f.cache, 7).await, vec![1]);
}

/// A purge of an event reloads the same version of its facts: it must stay held, and its
/// participants with it.
#[tokio::test]
async fn purging_an_event_keeps_it_and_its_participants() {
    let f = fixture().await;
    let e = f.store.put_event(event(
        1,
        t0() - Duration::hours(1),
        t0() + Duration::hours(5),
    ));
    f.store.register(e.id, uid(7), true);
    f.cache.warm_up(&f.store).await.unwrap();
    assert_eq!(ids(&f.cache, 7).await, vec![1]);
    f.cache.purge_event(&f.store, e.id).await.unwrap();
    assert!(f.cache.directory().get(e.id).is_some());
    eventually("ids(&f.cache, 7).await == vec![1]", async || {
        ids(&f.cache, 7).await == vec![1]
    })
    .await;
    assert_eq!(ids(&f.cache, 7).await, vec![1]);
}

/// An event that starts while warm-up reads its snapshot (after the snapshot's instant, before
/// warm-up ends) is brought in at once by the supervisor's own timer (already due when armed),
/// not left for the next sweep. No explicit tick: the sweep interval is an hour, so only the
/// timer can bring the participant in within the wait.
#[tokio::test]
async fn an_event_starting_during_warm_up_is_brought_in_at_once() {
    let f = fixture().await;
    let e = f.store.put_event(event(
        1,
        t0() + Duration::seconds(2),
        t0() + Duration::hours(5),
    ));
    f.store.register(e.id, uid(7), true);
    f.store.0.lock().unwrap().slow_snapshot = Some((f.clock.clone(), Duration::seconds(5)));
    f.cache.warm_up(&f.store).await.unwrap();
    f.store.0.lock().unwrap().slow_snapshot = None;
    eventually("ids(&f.cache, 7).await == vec![1]", async || {
        ids(&f.cache, 7).await == vec![1]
    })
    .await;
    assert_eq!(ids(&f.cache, 7).await, vec![1]);
}

/// A start whose participants cannot be read (the store is away) is tried again shortly.
#[tokio::test]
async fn a_start_the_store_failed_is_tried_again() {
    let f = fixture().await;
    let e = f.store.put_event(event(
        1,
        t0() + Duration::hours(1),
        t0() + Duration::hours(5),
    ));
    f.store.register(e.id, uid(7), true);
    f.cache.warm_up(&f.store).await.unwrap();
    f.store.0.lock().unwrap().failing_participant_reads = 1;
    f.clock.advance(Duration::hours(1));
    assert!(f.cache.tick().await.is_err());
    assert_eq!(ids(&f.cache, 7).await, Vec::<u64>::new());
    f.clock.advance(Duration::seconds(5));
    f.cache.tick().await.unwrap();
    assert_eq!(ids(&f.cache, 7).await, vec![1]);
}

/// A timed sweep stuck on the store (its query never answers) is abandoned after its time,
/// and the next timed sweep runs and fixes what the cache lacks; a stuck sweep does not hold
/// off every later one.
#[tokio::test]
async fn a_stuck_sweep_is_abandoned_and_the_next_one_runs() {
    let store = MemStore::default();
    store.0.lock().unwrap().hanging_event_reads = 1;
    let f = fixture_with(store, |c| {
        c.sweep_interval = StdDuration::from_millis(200);
        c.sweep_timeout_min = StdDuration::from_millis(200);
    })
    .await;
    // In the database but not in the cache (no warm-up): only a sweep can bring it in.
    let e = f.store.put_event(event(
        1,
        t0() - Duration::hours(1),
        t0() + Duration::hours(5),
    ));
    f.store.register(e.id, uid(7), true);
    let event_reads = || f.store.0.lock().unwrap().event_reads;
    eventually(
        "event_reads() >= 2 && ids(&f.cache, 7).await == vec![1]",
        async || event_reads() >= 2 && ids(&f.cache, 7).await == vec![1],
    )
    .await;
    assert_eq!(
        f.store.0.lock().unwrap().hanging_event_reads,
        0,
        "the first sweep got stuck"
    );
    assert!(event_reads() >= 2, "no sweep after the stuck one");
    assert_eq!(ids(&f.cache, 7).await, vec![1]);
}

/// Changes anyone able to publish on the change subjects could forge: a version above any
/// real one makes every later real change look older, and the snapshot shows no row newer.
fn forged(event: EventId, user: u64, active: bool) -> Change {
    Change::Participant(ParticipantChange {
        event_id: event,
        user_id: uid(user),
        active,
        version: 1 << 60,
        prompt_hidden: false,
    })
}

/// Finding 5 of issue 10: forged changes put a user with no registration into the cache, or
/// a registered one out of it, with a huge version. The sweep makes the cache equal the
/// database whatever the versions say, counts each fix as drift, and leaves each actor at the
/// database's version, so that later real changes apply again.
#[tokio::test]
async fn the_sweep_undoes_forged_changes_whatever_their_versions() {
    let f = fixture().await;
    let e = f.store.put_event(event(
        1,
        t0() - Duration::hours(1),
        t0() + Duration::hours(1),
    ));
    f.store.register(e.id, uid(5), true);
    f.store.register(e.id, uid(7), true);
    f.cache.warm_up(&f.store).await.unwrap();
    assert_eq!(f.cache.sweep().await.unwrap().drift, 0);

    // 66 never registered; 5 is registered (the membership is right, its version is not);
    // 7 is registered and a forged unregistration takes it out.
    f.cache.apply(forged(e.id, 66, true)).await;
    f.cache.apply(forged(e.id, 5, true)).await;
    f.cache.apply(forged(e.id, 7, false)).await;
    assert_eq!(
        ids(&f.cache, 66).await,
        vec![1],
        "the forged change was taken"
    );
    assert_eq!(ids(&f.cache, 7).await, Vec::<u64>::new());

    let report = f.cache.sweep().await.unwrap();
    assert_eq!(report.drift, 3, "each forged membership is drift");
    assert_eq!(f.cache.stats().drift(), 3);
    assert_eq!(ids(&f.cache, 66).await, Vec::<u64>::new());
    assert_eq!(ids(&f.cache, 5).await, vec![1]);
    assert_eq!(ids(&f.cache, 7).await, vec![1]);
    wait_no_actor(&f.cache, 66).await;
    assert_eq!(f.cache.sweep().await.unwrap().drift, 0, "fixed for good");

    // Real changes after the fix are not taken for older than the forged versions.
    let c = f.store.register(e.id, uid(5), false);
    f.cache.apply(Change::Participant(c)).await;
    assert_eq!(ids(&f.cache, 5).await, Vec::<u64>::new());
    let c = f.store.register(e.id, uid(66), true);
    f.cache.apply(Change::Participant(c)).await;
    assert_eq!(ids(&f.cache, 66).await, vec![1]);
    let c = f.store.register(e.id, uid(7), false);
    f.cache.apply(Change::Participant(c)).await;
    assert_eq!(ids(&f.cache, 7).await, Vec::<u64>::new());
    assert_eq!(f.cache.sweep().await.unwrap().drift, 0);
}

/// The legitimate race the forged-change fix must not break: changes committed after the
/// sweep read its snapshot, and applied before it asked the actors, look like forged ones
/// against the snapshot (no row, an older row); the sweep's second look at those users shows
/// them real, and nothing is undone or counted.
#[tokio::test]
async fn the_sweep_keeps_changes_committed_after_its_snapshot() {
    let f = fixture().await;
    let e = f.store.put_event(event(
        1,
        t0() - Duration::hours(1),
        t0() + Duration::hours(1),
    ));
    f.store.register(e.id, uid(5), true);
    f.store.register(e.id, uid(9), true);
    f.cache.warm_up(&f.store).await.unwrap();

    let (store, registry) = (f.store.clone(), f.cache.registry().clone());
    f.store.0.lock().unwrap().after_snapshot = Some(Box::new(move || {
        // A new registration (no row in the snapshot), an unregistration and registration
        // again (a newer version than the snapshot's row), and an unregistration (remembered,
        // newer than the snapshot's active row).
        let c = store.register(e.id, uid(8), true);
        registry.join(c.user_id, c.event_id, c.registration());
        let c = store.register(e.id, uid(5), false);
        registry.leave(c.user_id, c.event_id, c.version);
        let c = store.register(e.id, uid(5), true);
        registry.join(c.user_id, c.event_id, c.registration());
        let c = store.register(e.id, uid(9), false);
        registry.leave(c.user_id, c.event_id, c.version);
    }));
    let report = f.cache.sweep().await.unwrap();
    assert!(f.store.0.lock().unwrap().after_snapshot.is_none());
    assert_eq!(report.drift, 0);
    assert_eq!(ids(&f.cache, 8).await, vec![1]);
    assert_eq!(ids(&f.cache, 5).await, vec![1]);
    assert_eq!(ids(&f.cache, 9).await, Vec::<u64>::new());
    assert_eq!(f.cache.stats().drift(), 0);
}
