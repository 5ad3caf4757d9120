//! The facts of an event registration that input must get right before anything is stored.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::WikiId;

/// Longest event name accepted, in characters. The extension's event pages are wiki titles,
/// which MediaWiki caps at 255 bytes; a name is the title's text, so the same order of size.
pub const MAX_EVENT_NAME_CHARS: usize = 255;

/// The most wikis one event may list (beyond that an organizer wants "all wikis").
pub const MAX_EVENT_WIKIS: usize = 100;

/// What the wire uses for "every wiki" in an event's `wikis` array, as the extension does.
pub const ALL_WIKIS_MARKER: &str = "*all*";

/// A trimmed, non-empty event name without control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventName(String);

impl EventName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("the event name must not be empty".into());
        }
        if name.chars().count() > MAX_EVENT_NAME_CHARS {
            return Err(format!(
                "the event name must be at most {MAX_EVENT_NAME_CHARS} characters"
            ));
        }
        if name.chars().any(char::is_control) {
            return Err("the event name must not contain control characters".into());
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IANA time zone name (`Europe/Lisbon`), kept for display; all times are stored in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventTimezone(String);

impl EventTimezone {
    /// Checked against the IANA database compiled into the binary, so a typo such as
    /// `Europe/Lisbonn` is refused rather than stored and shown to participants.
    pub fn parse(raw: &str) -> Result<Self, String> {
        chrono_tz::Tz::from_str(raw)
            .map(|tz| Self(tz.name().to_owned()))
            .map_err(|_| format!("{:?} is not an IANA time zone name", truncate(raw, 60)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Every name [`EventTimezone::parse`] accepts, for the OpenAPI document's enum.
    pub fn names() -> impl Iterator<Item = &'static str> {
        chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())
    }
}

/// When an event runs: both ends inclusive, `start < end`. An event is *ongoing* at `t` when
/// `start <= t <= end` (CONTRACT.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventWindow {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl EventWindow {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, String> {
        if end <= start {
            return Err("the end time must be after the start time".into());
        }
        Ok(Self { start, end })
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    pub fn is_ongoing_at(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t <= self.end
    }

    pub fn has_ended_at(&self, t: DateTime<Utc>) -> bool {
        t > self.end
    }
}

/// Whether new participants may register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    Open,
    Closed,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Open => "open",
            EventStatus::Closed => "closed",
        }
    }
}

impl FromStr for EventStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "open" => Ok(EventStatus::Open),
            "closed" => Ok(EventStatus::Closed),
            other => Err(format!(
                "status must be \"open\" or \"closed\", got {:?}",
                truncate(other, 40)
            )),
        }
    }
}

/// The wikis an event counts edits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WikiSelection {
    All,
    /// Non-empty, sorted, without duplicates.
    Only(BTreeSet<WikiId>),
}

impl WikiSelection {
    /// From the wire form: a list of wiki ids, or exactly `["*all*"]`. `is_known` says whether
    /// the service knows a wiki (from `WIKIS_FILE`); without that file every well-formed id is.
    pub fn parse(raw: &[String], is_known: impl Fn(&WikiId) -> bool) -> Result<Self, String> {
        if raw.is_empty() {
            return Err(format!(
                "wikis must list at least one wiki id, or be [\"{ALL_WIKIS_MARKER}\"]"
            ));
        }
        if raw.iter().any(|w| w == ALL_WIKIS_MARKER) {
            return if raw.len() == 1 {
                Ok(WikiSelection::All)
            } else {
                Err(format!(
                    "\"{ALL_WIKIS_MARKER}\" cannot be combined with other wikis"
                ))
            };
        }
        if raw.len() > MAX_EVENT_WIKIS {
            return Err(format!(
                "an event may list at most {MAX_EVENT_WIKIS} wikis; use [\"{ALL_WIKIS_MARKER}\"]"
            ));
        }
        let mut set = BTreeSet::new();
        for w in raw {
            let id = WikiId::parse(w).map_err(|e| format!("wiki id {:?} {e}", truncate(w, 40)))?;
            if !is_known(&id) {
                return Err(format!("{id} is not a wiki this service knows"));
            }
            set.insert(id);
        }
        Ok(WikiSelection::Only(set))
    }

    pub fn includes(&self, wiki: &WikiId) -> bool {
        match self {
            WikiSelection::All => true,
            WikiSelection::Only(set) => set.contains(wiki),
        }
    }

    /// The wire form: sorted ids, or `["*all*"]`.
    pub fn to_wire(&self) -> Vec<String> {
        match self {
            WikiSelection::All => vec![ALL_WIKIS_MARKER.to_owned()],
            WikiSelection::Only(set) => set.iter().map(|w| w.to_string()).collect(),
        }
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            EventName::parse("  Women in Red ").unwrap().as_str(),
            "Women in Red"
        );
        assert!(EventName::parse("   ").is_err());
        assert!(EventName::parse("a\u{0}b").is_err());
        assert!(EventName::parse(&"é".repeat(MAX_EVENT_NAME_CHARS)).is_ok());
        assert!(EventName::parse(&"é".repeat(MAX_EVENT_NAME_CHARS + 1)).is_err());
    }

    #[test]
    fn every_listed_timezone_name_parses_as_itself() {
        let names: Vec<&str> = EventTimezone::names().collect();
        assert!(names.contains(&"Europe/Lisbon"));
        for name in names {
            assert_eq!(EventTimezone::parse(name).map(|t| t.0), Ok(name.to_owned()));
        }
    }

    #[test]
    fn timezones_must_be_iana_names() {
        assert_eq!(
            EventTimezone::parse("Europe/Lisbon").unwrap().as_str(),
            "Europe/Lisbon"
        );
        assert!(EventTimezone::parse("UTC").is_ok());
        assert!(EventTimezone::parse("Europe/Lisbonn").is_err());
        assert!(EventTimezone::parse("+01:00").is_err());
    }

    #[test]
    fn windows_are_inclusive_and_ordered() {
        let s = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let e = Utc.with_ymd_and_hms(2026, 11, 30, 23, 59, 59).unwrap();
        let w = EventWindow::new(s, e).unwrap();
        assert!(w.is_ongoing_at(s) && w.is_ongoing_at(e));
        assert!(!w.is_ongoing_at(e + chrono::Duration::seconds(1)));
        assert!(EventWindow::new(e, s).is_err());
        assert!(EventWindow::new(s, s).is_err());
    }

    #[test]
    fn wiki_selection_wire_forms() {
        let all = WikiSelection::parse(&["*all*".into()], |_| true).unwrap();
        assert_eq!(all, WikiSelection::All);
        assert!(WikiSelection::parse(&["*all*".into(), "enwiki".into()], |_| true).is_err());
        assert!(WikiSelection::parse(&[], |_| true).is_err());
        let some =
            WikiSelection::parse(&["ptwiki".into(), "enwiki".into(), "ptwiki".into()], |_| {
                true
            })
            .unwrap();
        assert_eq!(some.to_wire(), vec!["enwiki", "ptwiki"]);
        assert!(WikiSelection::parse(&["xxwiki".into()], |w| w.as_str() != "xxwiki").is_err());
    }
}

/// A validated event as an organizer submits it (create, or full replacement on update).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDraft {
    pub name: EventName,
    pub window: EventWindow,
    pub timezone: EventTimezone,
    pub wikis: WikiSelection,
    pub track_contributions: bool,
    pub status: EventStatus,
}

/// The facts of a stored event that the cache and the association checks need. The version
/// grows on every change, so of two copies the newer one is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFacts {
    pub id: super::EventId,
    pub name: EventName,
    pub window: EventWindow,
    pub timezone: EventTimezone,
    pub wikis: WikiSelection,
    pub track_contributions: bool,
    pub status: EventStatus,
    pub deleted: bool,
    pub version: i64,
}
