//! The EventDirectory: the facts of every event that is ongoing or starts soon, held once and
//! shared by reference (`Arc`) with every participant's actor (invariant 7).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};

use crate::domain::{EventFacts, EventId};

/// What `upsert` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upsert {
    /// The facts are new, or newer than the copy held: participants must hear of them.
    Changed(Arc<EventFacts>),
    /// The event is not relevant now (ended, deleted, or starts beyond the horizon); any copy
    /// held was dropped. `Some` carries the dropped copy, whose participants must let go.
    Dropped(Option<Arc<EventFacts>>),
    /// An older or identical version: nothing to do (invariant 4).
    Stale,
}

/// The held facts, and the newest version seen of every event ever upserted — also of events
/// not held — so that a late, older copy of a deleted or moved event cannot bring it back.
/// Events are few (thousands), so remembering every id costs nothing worth counting.
#[derive(Debug, Default)]
struct Held {
    facts: HashMap<EventId, Arc<EventFacts>>,
    seen: HashMap<EventId, i64>,
}

/// Shared event facts. Reads take a read lock for a hash lookup; writes are rare (event edits,
/// sweeps), so a plain `RwLock` is the simplest thing that is fast enough.
#[derive(Debug)]
pub struct EventDirectory {
    events: RwLock<Held>,
    /// How far ahead an event must start to be held (and put on the supervisor's timeline).
    horizon: Duration,
}

impl EventDirectory {
    pub fn new(horizon: Duration) -> Self {
        Self {
            events: RwLock::new(Held::default()),
            horizon,
        }
    }

    pub fn horizon(&self) -> Duration {
        self.horizon
    }

    /// Whether an event with these facts belongs in the directory at `now`.
    pub fn is_relevant(&self, facts: &EventFacts, now: DateTime<Utc>) -> bool {
        !facts.deleted && facts.window.end() >= now && facts.window.start() <= now + self.horizon
    }

    pub fn get(&self, id: EventId) -> Option<Arc<EventFacts>> {
        self.read().facts.get(&id).cloned()
    }

    /// Applies new facts unless an older copy than one seen, or the very copy held. A copy of
    /// the version seen but not held is applied again: an event that was beyond the horizon
    /// (or removed by a purge or a sweep) when that version arrived must come in once it is
    /// relevant, and the facts themselves say whether it is (a deleted one never is).
    pub fn upsert(&self, facts: EventFacts, now: DateTime<Utc>) -> Upsert {
        let mut held = self.write();
        let stale = match held.seen.get(&facts.id) {
            Some(&seen) if seen > facts.version => true,
            Some(&seen) if seen == facts.version => held.facts.contains_key(&facts.id),
            _ => false,
        };
        if stale {
            return Upsert::Stale;
        }
        held.seen.insert(facts.id, facts.version);
        if self.is_relevant(&facts, now) {
            let facts = Arc::new(facts);
            held.facts.insert(facts.id, facts.clone());
            Upsert::Changed(facts)
        } else {
            Upsert::Dropped(held.facts.remove(&facts.id))
        }
    }

    /// Replaces the whole content (warm-up and reconciliation), keeping a held copy when it is
    /// newer than the loaded one.
    pub fn replace_all(&self, loaded: Vec<EventFacts>, now: DateTime<Utc>) {
        let mut held = self.write();
        let mut fresh = HashMap::with_capacity(loaded.len());
        for facts in loaded {
            let seen = held.seen.get(&facts.id).copied();
            if seen.is_some_and(|v| v > facts.version) {
                // A newer change arrived while the snapshot was read: keep what it left.
                if let Some(kept) = held.facts.get(&facts.id) {
                    fresh.insert(kept.id, kept.clone());
                }
                continue;
            }
            held.seen.insert(facts.id, facts.version);
            if !self.is_relevant(&facts, now) {
                continue;
            }
            let keep = match held.facts.get(&facts.id) {
                Some(h) if h.version >= facts.version => h.clone(),
                _ => Arc::new(facts),
            };
            fresh.insert(keep.id, keep);
        }
        held.facts = fresh;
    }

    /// Drops an event's facts (the database no longer lists it as relevant), remembering its
    /// version so that an older copy cannot bring it back.
    pub fn remove(&self, id: EventId) -> Option<Arc<EventFacts>> {
        self.write().facts.remove(&id)
    }

    /// Drops events that ended before `now`; returns them.
    pub fn drop_ended(&self, now: DateTime<Utc>) -> Vec<Arc<EventFacts>> {
        let mut held = self.write();
        let ended: Vec<EventId> = held
            .facts
            .values()
            .filter(|f| f.window.has_ended_at(now))
            .map(|f| f.id)
            .collect();
        ended
            .iter()
            .filter_map(|id| held.facts.remove(id))
            .collect()
    }

    /// Every event held, sorted by id.
    pub fn all(&self) -> Vec<Arc<EventFacts>> {
        let mut v: Vec<_> = self.read().facts.values().cloned().collect();
        v.sort_by_key(|f| f.id);
        v
    }

    /// How many held events are ongoing at `now`.
    pub fn ongoing_count(&self, now: DateTime<Utc>) -> usize {
        self.read()
            .facts
            .values()
            .filter(|f| f.window.is_ongoing_at(now))
            .count()
    }

    pub fn len(&self) -> usize {
        self.read().facts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Held> {
        // A panic while holding the lock cannot leave the map half-written (every write is a
        // single insert/remove/replace), so a poisoned lock is safe to keep using.
        self.events.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Held> {
        self.events.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::*;
    use chrono::TimeZone;

    pub fn facts(id: u64, start: DateTime<Utc>, end: DateTime<Utc>, version: i64) -> EventFacts {
        EventFacts {
            id: EventId::new(id).unwrap(),
            name: EventName::parse(&format!("Event {id}")).unwrap(),
            window: EventWindow::new(start, end).unwrap(),
            timezone: EventTimezone::parse("UTC").unwrap(),
            wikis: WikiSelection::All,
            track_contributions: true,
            status: EventStatus::Open,
            deleted: false,
            version,
        }
    }

    #[test]
    fn only_newer_versions_replace_and_irrelevant_events_are_dropped() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
        let d = EventDirectory::new(Duration::hours(24));
        let f = facts(1, now - Duration::hours(1), now + Duration::hours(1), 5);
        assert!(matches!(d.upsert(f.clone(), now), Upsert::Changed(_)));
        assert_eq!(
            d.upsert(f.clone(), now),
            Upsert::Stale,
            "same version twice"
        );
        let older = EventFacts {
            version: 4,
            ..f.clone()
        };
        assert_eq!(d.upsert(older, now), Upsert::Stale, "older after newer");
        let deleted = EventFacts {
            deleted: true,
            version: 6,
            ..f.clone()
        };
        assert!(matches!(d.upsert(deleted, now), Upsert::Dropped(Some(_))));
        assert!(d.is_empty());
        let far = facts(2, now + Duration::days(3), now + Duration::days(4), 1);
        assert_eq!(d.upsert(far, now), Upsert::Dropped(None));
        assert_eq!(d.ongoing_count(now), 0);
        let resurrected = EventFacts { version: 5, ..f };
        assert_eq!(
            d.upsert(resurrected, now),
            Upsert::Stale,
            "a late older copy of a deleted event"
        );
    }
}
