//! Registrations: a participant joining or leaving an event, through REST (`http`) or a NATS
//! command (`nats`, the shared durable `registrations` consumer). Both call the one service
//! here ([`Context::register`], [`Context::unregister`]): the transaction (`db`: the
//! participant row locked, the newest change by time wins), then the change handed to the
//! caches (`cache::changes`) to publish and apply.
//!
//! Owns: who takes part in which event, and the validation both entry points share. Knows
//! nothing of HTTP state: the REST handlers and the NATS consumer each get this [`Context`].

pub mod db;
pub mod http;
pub mod nats;

use campaign_events_actors::domain::{EventId, UserId};
use campaign_events_actors::{Change, ParticipantChange, SharedClock};
use chrono::{DateTime, Utc};

use crate::cache::changes::Publisher;
use crate::infra::db::DbError;
use db::{Choices, Outcome};

/// What registering needs, from either entry point.
pub struct Context {
    pub pool: deadpool_postgres::Pool,
    pub clock: SharedClock,
    /// The consumer's stream and the command subjects.
    pub jetstream: async_nats::jetstream::Context,
    pub names: crate::infra::nats::Names,
    pub changes: Publisher,
}

/// What to do when the transaction finds the registration already as asked (no new version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unchanged {
    /// Nothing to tell: a REST request that changed nothing (its earlier twin published).
    Quiet,
    /// Publish the row's current change again: a NATS command delivered again may have been
    /// committed by an earlier delivery that then failed to publish (the process died, NATS
    /// was away), and the other instances must still hear of it. The message id deduplicates.
    Republish,
}

/// A registration's outcome, and whether its change reached the other instances.
#[derive(Debug)]
pub struct Committed {
    pub outcome: Outcome,
    /// False only when a change was to be published and could not be (it was applied to this
    /// instance's cache all the same; a NATS command waits and tries again).
    pub published: bool,
}

impl Context {
    /// Registers `user` for `event` as of `at` (the change's time) with `choices`, judged at
    /// `now` (whether the event has ended), then hands the change over.
    pub async fn register(
        &self,
        event: EventId,
        user: UserId,
        choices: Choices,
        (at, now): (DateTime<Utc>, DateTime<Utc>),
        unchanged: Unchanged,
    ) -> Result<Committed, DbError> {
        let outcome = db::register(&self.pool, event, user, choices, at, now).await?;
        Ok(self.hand_over(event, user, outcome, unchanged).await)
    }

    /// Unregisters `user` from `event` as of `at`, then hands the change over.
    pub async fn unregister(
        &self,
        event: EventId,
        user: UserId,
        at: DateTime<Utc>,
        unchanged: Unchanged,
    ) -> Result<Committed, DbError> {
        let outcome = db::unregister(&self.pool, event, user, at).await?;
        Ok(self.hand_over(event, user, outcome, unchanged).await)
    }

    /// After the commit: the change to the caches, when there is one to tell.
    async fn hand_over(
        &self,
        event: EventId,
        user: UserId,
        outcome: Outcome,
        unchanged: Unchanged,
    ) -> Committed {
        let Outcome::Applied {
            modified,
            version,
            active,
            prompt_hidden,
        } = outcome
        else {
            return Committed {
                outcome,
                published: true,
            };
        };
        // A version of 0: no row was ever written (unregistering someone never registered).
        let tell = modified || (unchanged == Unchanged::Republish && version > 0);
        let published = !tell
            || self
                .changes
                .commit(Change::Participant(ParticipantChange {
                    event_id: event,
                    user_id: user,
                    active,
                    version,
                    prompt_hidden,
                }))
                .await;
        if modified {
            tracing::info!(event_id = %event, user_id = %user, active, version, "registration changed");
        }
        Committed { outcome, published }
    }
}
