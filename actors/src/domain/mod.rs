//! Typed domain values. Input becomes one of these at the edge ("parse, don't validate"), so the
//! core never sees an id of zero, a wiki id with a space in it or an event that ends before it
//! starts.

mod event;
mod ids;

pub use event::{
    EventDraft, EventFacts, EventName, EventStatus, EventTimezone, EventWindow, WikiSelection,
    ALL_WIKIS_MARKER, MAX_EVENT_NAME_CHARS, MAX_EVENT_WIKIS,
};
pub use ids::{EventId, IdError, RevisionId, UserId, WikiId, WikiIdError, MAX_WIKI_ID_LEN};
