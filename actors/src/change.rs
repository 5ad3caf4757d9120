//! Changes to the cache, as the service applies them locally and publishes them on the
//! `CE_CHANGES` stream for every other instance. Each carries the version the database gave it
//! (`ce_change_version_seq`): applying a change twice, or an older one after a newer one, leaves
//! the same state (invariant 4).

use serde::{Deserialize, Serialize};

use crate::domain::{EventFacts, EventId, UserId};

/// A participant registered (`active`) or unregistered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantChange {
    pub event_id: EventId,
    pub user_id: UserId,
    pub active: bool,
    pub version: i64,
}

/// Anything that changes what the cache must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Participant(ParticipantChange),
    /// An event was created, edited or deleted: its new facts, whole.
    Event(EventFacts),
}
