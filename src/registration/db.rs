//! Registrations: register and unregister in one transaction each, bumping the participant's
//! version; and the participant's own registration. (The database reads of a user's events,
//! the cache's fallback, are the cache's: `cache::store`.)

use campaign_events_actors::domain::{EventId, EventStatus, UserId};
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use crate::infra::db::DbError;

/// Why a registration was refused, in the contract's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    EventNotFound,
    EventDeleted,
    EventEnded,
    EventClosed,
}

/// What a register or unregister did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Applied. `modified` is false when the row already said so (no new version).
    Applied {
        modified: bool,
        /// The row's version after the write.
        version: i64,
        /// Whether the participant is now active.
        active: bool,
        /// Whether the participant has hidden the post-edit prompt for this event.
        prompt_hidden: bool,
    },
    /// The command is older than the participant's last change: nothing was written.
    Stale,
    Refused(Refusal),
}

/// The participant row, locked for this transaction, or the version of the row this
/// transaction has just inserted. Two first commands for the same pair cannot both insert:
/// `ON CONFLICT DO NOTHING` waits for the other transaction, and the row it committed is then
/// locked and read like any existing one.
enum Locked {
    Inserted(i64),
    Existing(tokio_postgres::Row),
}

/// Locks the pair's row, or inserts it with `insert_sql` (`… ON CONFLICT DO NOTHING RETURNING
/// version`) when there is none; see [`Locked`].
async fn locked_row(
    tx: &deadpool_postgres::Transaction<'_>,
    event: EventId,
    user: UserId,
    insert_sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Locked, DbError> {
    for _ in 0..3 {
        if let Some(r) = tx
            .query_opt(
                "SELECT unregistered_at IS NULL, private, last_change_at, version, hide_prompt \
                 FROM ce_participants WHERE event_id = $1 AND user_id = $2 FOR UPDATE",
                &[&event.as_i64(), &user.as_i64()],
            )
            .await?
        {
            return Ok(Locked::Existing(r));
        }
        if let Some(r) = tx.query_opt(insert_sql, params).await? {
            return Ok(Locked::Inserted(r.get(0)));
        }
    }
    Err(DbError::corrupt(format!(
        "participant ({event}, {user}) neither readable nor insertable"
    )))
}

/// A command that changes nothing still moves the row's change time forward, so that an
/// older command handled after it is stale (the newest command wins, whatever the order of
/// handling). The version is not bumped: nothing the cache holds changed.
async fn note_change_time(
    tx: &deadpool_postgres::Transaction<'_>,
    event: EventId,
    user: UserId,
    at: DateTime<Utc>,
    last: DateTime<Utc>,
) -> Result<(), DbError> {
    if at > last {
        tx.execute(
            "UPDATE ce_participants SET last_change_at = $3 WHERE event_id = $1 AND user_id = $2",
            &[&event.as_i64(), &user.as_i64(), &at],
        )
        .await?;
    }
    Ok(())
}

/// What a registration sets. `None` keeps what the participant's row says (a new row: false),
/// so that a client changing one choice cannot reset the other by leaving it out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Choices {
    pub private: Option<bool>,
    pub hide_prompt: Option<bool>,
}

/// Registers `user` for `event` as of `at` (now, for REST; the command's time, for NATS),
/// with `choices`. Re-registering after unregistering reuses the row.
pub async fn register(
    pool: &Pool,
    event: EventId,
    user: UserId,
    choices: Choices,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Outcome, DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let Some(ev) = tx
        .query_opt(
            "SELECT deleted_at IS NOT NULL, end_utc, status FROM ce_events WHERE event_id = $1 \
             FOR SHARE",
            &[&event.as_i64()],
        )
        .await?
    else {
        return Ok(Outcome::Refused(Refusal::EventNotFound));
    };
    let (deleted, end, status): (bool, DateTime<Utc>, String) = (ev.get(0), ev.get(1), ev.get(2));
    if deleted {
        return Ok(Outcome::Refused(Refusal::EventDeleted));
    }
    if now > end {
        return Ok(Outcome::Refused(Refusal::EventEnded));
    }
    // A closed event takes no new participants; one already taking part may still change
    // their choices (hide the post-edit prompt of an event under way, say).
    if status != EventStatus::Open.as_str()
        && tx
            .query_opt(
                "SELECT 1 FROM ce_participants WHERE event_id = $1 AND user_id = $2 \
                 AND unregistered_at IS NULL FOR UPDATE",
                &[&event.as_i64(), &user.as_i64()],
            )
            .await?
            .is_none()
    {
        return Ok(Outcome::Refused(Refusal::EventClosed));
    }
    let new_private = choices.private.unwrap_or(false);
    let new_hide = choices.hide_prompt.unwrap_or(false);
    let row = match locked_row(
        &tx,
        event,
        user,
        "INSERT INTO ce_participants (event_id, user_id, private, hide_prompt, registered_at, \
         last_change_at) VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (event_id, user_id) DO NOTHING RETURNING version",
        &[
            &event.as_i64(),
            &user.as_i64(),
            &new_private,
            &new_hide,
            &at,
        ],
    )
    .await?
    {
        Locked::Inserted(version) => {
            tx.commit().await?;
            return Ok(Outcome::Applied {
                modified: true,
                version,
                active: true,
                prompt_hidden: new_hide,
            });
        }
        Locked::Existing(r) => r,
    };
    let outcome = {
        let (active, was_private, last, version, was_hidden): (
            bool,
            bool,
            DateTime<Utc>,
            i64,
            bool,
        ) = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        // A registration and an unregistration of the same instant: the unregistration wins,
        // whichever is handled first, on every instance.
        if at < last || (at == last && !active) {
            return Ok(Outcome::Stale);
        }
        let private = choices.private.unwrap_or(was_private);
        let hide = choices.hide_prompt.unwrap_or(was_hidden);
        if active && was_private == private && was_hidden == hide {
            note_change_time(&tx, event, user, at, last).await?;
            Outcome::Applied {
                modified: false,
                version,
                active: true,
                prompt_hidden: hide,
            }
        } else {
            let version: i64 = tx
                    .query_one(
                        "UPDATE ce_participants SET unregistered_at = NULL, private = $3, \
                         hide_prompt = $4, \
                         registered_at = CASE WHEN unregistered_at IS NULL THEN registered_at ELSE $5 END, \
                         last_change_at = $5, version = nextval('ce_change_version_seq') \
                         WHERE event_id = $1 AND user_id = $2 RETURNING version",
                        &[&event.as_i64(), &user.as_i64(), &private, &hide, &at],
                    )
                    .await?
                    .get(0);
            Outcome::Applied {
                modified: true,
                version,
                active: true,
                prompt_hidden: hide,
            }
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Unregisters `user` from `event` as of `at`. Not registered → not modified.
pub async fn unregister(
    pool: &Pool,
    event: EventId,
    user: UserId,
    at: DateTime<Utc>,
) -> Result<Outcome, DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    if tx
        .query_opt(
            "SELECT 1 FROM ce_events WHERE event_id = $1 FOR SHARE",
            &[&event.as_i64()],
        )
        .await?
        .is_none()
    {
        return Ok(Outcome::Refused(Refusal::EventNotFound));
    }
    // Never registered: the row is written anyway, inactive and stamped with `at`, so that a
    // registration older than this unregistration, handled after it (another instance, or
    // later in a batch), is recognised as stale instead of winning.
    let row = match locked_row(
        &tx,
        event,
        user,
        "INSERT INTO ce_participants (event_id, user_id, private, registered_at, \
         unregistered_at, last_change_at) VALUES ($1, $2, false, $3, $3, $3) \
         ON CONFLICT (event_id, user_id) DO NOTHING RETURNING version",
        &[&event.as_i64(), &user.as_i64(), &at],
    )
    .await?
    {
        Locked::Inserted(version) => {
            tx.commit().await?;
            return Ok(Outcome::Applied {
                modified: false,
                version,
                active: false,
                prompt_hidden: false,
            });
        }
        Locked::Existing(r) => r,
    };
    let outcome = {
        let (active, last, version, prompt_hidden): (bool, DateTime<Utc>, i64, bool) =
            (row.get(0), row.get(2), row.get(3), row.get(4));
        if at < last {
            return Ok(Outcome::Stale);
        }
        if !active {
            note_change_time(&tx, event, user, at, last).await?;
            Outcome::Applied {
                modified: false,
                version,
                active: false,
                prompt_hidden,
            }
        } else {
            let version: i64 = tx
                .query_one(
                    "UPDATE ce_participants SET unregistered_at = $3, last_change_at = $3, \
                         version = nextval('ce_change_version_seq') \
                         WHERE event_id = $1 AND user_id = $2 RETURNING version",
                    &[&event.as_i64(), &user.as_i64(), &at],
                )
                .await?
                .get(0);
            Outcome::Applied {
                modified: true,
                version,
                active: false,
                prompt_hidden,
            }
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// A participant's registration as `GET …/participants/self` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnRegistration {
    pub private: bool,
    pub registered_at: DateTime<Utc>,
    pub hide_prompt: bool,
}

/// The user's active registration for `event`, if any.
pub async fn own_registration(
    pool: &Pool,
    event: EventId,
    user: UserId,
) -> Result<Option<OwnRegistration>, DbError> {
    let client = pool.get().await?;
    Ok(client
        .query_opt(
            "SELECT private, registered_at, hide_prompt FROM ce_participants \
             WHERE event_id = $1 AND user_id = $2 AND unregistered_at IS NULL",
            &[&event.as_i64(), &user.as_i64()],
        )
        .await?
        .map(|r| OwnRegistration {
            private: r.get(0),
            registered_at: r.get(1),
            hide_prompt: r.get(2),
        }))
}

/// Whether `user` is an active participant of `event` (a diff worker's check of an edit an
/// organizer associated on a participant's behalf).
pub async fn is_participant(pool: &Pool, event: EventId, user: UserId) -> Result<bool, DbError> {
    let client = pool.get().await?;
    Ok(client
        .query_opt(
            "SELECT 1 FROM ce_participants \
             WHERE event_id = $1 AND user_id = $2 AND unregistered_at IS NULL",
            &[&event.as_i64(), &user.as_i64()],
        )
        .await?
        .is_some())
}
