//! Changes to the cache, as the service applies them locally and publishes them on the
//! `CE_CHANGES` stream for every other instance. Each carries the version the database gave it
//! (`ce_change_version_seq`): applying a change twice, or an older one after a newer one, leaves
//! the same state (invariant 4).

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::domain::{EventFacts, EventId, UserId};

/// A participant registered (`active`) or unregistered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantChange {
    pub event_id: EventId,
    pub user_id: UserId,
    pub active: bool,
    pub version: i64,
    /// The participant asked not to be prompted after their edits for this event (the
    /// extension's `hide_contribution_association_prompt`). Changing it bumps the version like
    /// any other change, so it travels and reconciles with the membership.
    #[serde(default)]
    pub prompt_hidden: bool,
}

impl ParticipantChange {
    pub fn registration(&self) -> Registration {
        Registration {
            version: self.version,
            prompt_hidden: self.prompt_hidden,
        }
    }
}

/// An active registration as the cache holds it: the version of the change that made it, and
/// what the participant chose that the post-edit read must honour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Registration {
    pub version: i64,
    pub prompt_hidden: bool,
}

impl Registration {
    /// A registration with the prompt shown (the default a participant starts with).
    pub fn at(version: i64) -> Self {
        Self {
            version,
            prompt_hidden: false,
        }
    }
}

/// One of a user's ongoing events, as a read answers it: the shared facts, and whether the
/// user hid the post-edit prompt for it. Derefs to the facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attending {
    pub facts: Arc<EventFacts>,
    pub prompt_hidden: bool,
}

impl std::ops::Deref for Attending {
    type Target = EventFacts;
    fn deref(&self) -> &EventFacts {
        &self.facts
    }
}

/// Anything that changes what the cache must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Participant(ParticipantChange),
    /// An event was created, edited or deleted: its new facts, whole.
    Event(EventFacts),
}
