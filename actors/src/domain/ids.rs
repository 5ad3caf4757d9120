//! Identifiers. Each is a distinct type so that an event id can never be passed where a user id
//! is expected, and each rejects the values MediaWiki never issues (zero, negatives).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a numeric id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must be a positive integer")]
    NotPositive,
    #[error("must be a positive integer, got {0:?}")]
    NotANumber(String),
    #[error("is too large for a database id")]
    TooLarge,
}

macro_rules! positive_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "u64", into = "u64")]
        pub struct $name(u64);

        impl $name {
            /// Accepts 1..=i64::MAX: ids are stored as Postgres `bigint`.
            pub fn new(raw: u64) -> Result<Self, IdError> {
                if raw == 0 {
                    Err(IdError::NotPositive)
                } else if raw > i64::MAX as u64 {
                    Err(IdError::TooLarge)
                } else {
                    Ok(Self(raw))
                }
            }

            /// From a `bigint` column; the schema's checks keep these positive.
            pub fn from_db(raw: i64) -> Result<Self, IdError> {
                u64::try_from(raw).map_err(|_| IdError::NotPositive).and_then(Self::new)
            }

            pub fn get(self) -> u64 {
                self.0
            }

            /// The value as Postgres `bigint`; cannot overflow because `new` caps it.
            pub fn as_i64(self) -> i64 {
                self.0 as i64
            }
        }

        impl TryFrom<u64> for $name {
            type Error = IdError;
            fn try_from(raw: u64) -> Result<Self, IdError> {
                Self::new(raw)
            }
        }

        impl From<$name> for u64 {
            fn from(id: $name) -> u64 {
                id.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            /// Decimal digits only: no sign, no spaces, no leading `+`.
            fn from_str(s: &str) -> Result<Self, IdError> {
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(IdError::NotANumber(s.chars().take(40).collect()));
                }
                let raw: u64 = s.parse().map_err(|_| IdError::TooLarge)?;
                Self::new(raw)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

positive_id!(
    /// An event registration, as numbered by the database.
    EventId
);
positive_id!(
    /// A central (global) user id, the JWT's `sub`.
    UserId
);
positive_id!(
    /// A revision id on one wiki; only unique together with its [`WikiId`].
    RevisionId
);

/// The longest wiki id accepted; Wikimedia's longest database names are about 30 characters.
pub const MAX_WIKI_ID_LEN: usize = 64;

/// Why a wiki id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WikiIdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_WIKI_ID_LEN} characters")]
    TooLong,
    #[error("may only contain a-z, 0-9, '_' and '-' (got {0:?})")]
    BadCharacter(String),
}

/// A wiki's database name (`enwiki`, `ptwiki`, `zh_min_nanwiki`), the key MediaWiki uses for a
/// wiki across a farm. It also ends up in NATS subjects and message ids, which is why the
/// alphabet is this narrow: no dots, wildcards or spaces can ever reach a subject.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WikiId(String);

impl WikiId {
    pub fn parse(s: &str) -> Result<Self, WikiIdError> {
        if s.is_empty() {
            return Err(WikiIdError::Empty);
        }
        if s.len() > MAX_WIKI_ID_LEN {
            return Err(WikiIdError::TooLong);
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(WikiIdError::BadCharacter(s.chars().take(40).collect()));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WikiId {
    type Error = WikiIdError;
    fn try_from(s: String) -> Result<Self, WikiIdError> {
        Self::parse(&s)
    }
}

impl From<WikiId> for String {
    fn from(w: WikiId) -> String {
        w.0
    }
}

impl fmt::Display for WikiId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_zero_negative_and_junk() {
        assert_eq!(EventId::new(0), Err(IdError::NotPositive));
        assert!(EventId::from_str("-3").is_err());
        assert!(EventId::from_str("+3").is_err());
        assert!(EventId::from_str(" 3").is_err());
        assert!(EventId::from_str("").is_err());
        assert_eq!(
            EventId::from_str("9223372036854775808"),
            Err(IdError::TooLarge)
        );
        assert_eq!(EventId::from_str("42").unwrap().get(), 42);
        assert_eq!(UserId::from_db(-1), Err(IdError::NotPositive));
    }

    #[test]
    fn ids_deserialize_through_validation() {
        assert!(serde_json::from_str::<RevisionId>("0").is_err());
        assert!(serde_json::from_str::<RevisionId>("-1").is_err());
        assert!(serde_json::from_str::<RevisionId>("\"5\"").is_err());
        assert_eq!(serde_json::from_str::<RevisionId>("5").unwrap().get(), 5);
    }

    #[test]
    fn wiki_ids_are_database_names() {
        for ok in ["enwiki", "zh_min_nanwiki", "be-taraskwiki", "wikidatawiki"] {
            assert!(WikiId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "En",
            "en.wiki",
            "en wiki",
            "a>",
            "*all*",
            &"x".repeat(65),
        ] {
            assert!(WikiId::parse(bad).is_err(), "{bad}");
        }
    }
}
