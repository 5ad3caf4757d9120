//! Registrations: register and unregister in one transaction each, bumping the participant's
//! version; and the database reads of a user's events (the baseline and the fallback).

use campaign_events_actors::domain::{EventFacts, EventId, EventStatus, UserId};
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use super::events::{facts_from_row, EVENT_COLUMNS};
use super::DbError;

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
    },
    /// The command is older than the participant's last change: nothing was written.
    Stale,
    Refused(Refusal),
}

/// Registers `user` for `event` as of `at` (now, for REST; the command's time, for NATS).
/// Re-registering after unregistering reuses the row.
pub async fn register(
    pool: &Pool,
    event: EventId,
    user: UserId,
    private: bool,
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
    if status != EventStatus::Open.as_str() {
        return Ok(Outcome::Refused(Refusal::EventClosed));
    }
    let row = tx
        .query_opt(
            "SELECT unregistered_at IS NULL, private, last_change_at, version FROM ce_participants \
             WHERE event_id = $1 AND user_id = $2 FOR UPDATE",
            &[&event.as_i64(), &user.as_i64()],
        )
        .await?;
    let outcome = match row {
        Some(r) => {
            let (active, was_private, last, version): (bool, bool, DateTime<Utc>, i64) =
                (r.get(0), r.get(1), r.get(2), r.get(3));
            if at < last {
                return Ok(Outcome::Stale);
            }
            if active && was_private == private {
                Outcome::Applied {
                    modified: false,
                    version,
                    active: true,
                }
            } else {
                let version: i64 = tx
                    .query_one(
                        "UPDATE ce_participants SET unregistered_at = NULL, private = $3, \
                         registered_at = CASE WHEN unregistered_at IS NULL THEN registered_at ELSE $4 END, \
                         last_change_at = $4, version = nextval('ce_change_version_seq') \
                         WHERE event_id = $1 AND user_id = $2 RETURNING version",
                        &[&event.as_i64(), &user.as_i64(), &private, &at],
                    )
                    .await?
                    .get(0);
                Outcome::Applied {
                    modified: true,
                    version,
                    active: true,
                }
            }
        }
        None => {
            let version: i64 = tx
                .query_one(
                    "INSERT INTO ce_participants (event_id, user_id, private, registered_at, \
                     last_change_at) VALUES ($1, $2, $3, $4, $4) RETURNING version",
                    &[&event.as_i64(), &user.as_i64(), &private, &at],
                )
                .await?
                .get(0);
            Outcome::Applied {
                modified: true,
                version,
                active: true,
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
    let row = tx
        .query_opt(
            "SELECT unregistered_at IS NULL, last_change_at, version FROM ce_participants \
             WHERE event_id = $1 AND user_id = $2 FOR UPDATE",
            &[&event.as_i64(), &user.as_i64()],
        )
        .await?;
    let outcome = match row {
        None => Outcome::Applied {
            modified: false,
            version: 0,
            active: false,
        },
        Some(r) => {
            let (active, last, version): (bool, DateTime<Utc>, i64) =
                (r.get(0), r.get(1), r.get(2));
            if at < last {
                return Ok(Outcome::Stale);
            }
            if !active {
                Outcome::Applied {
                    modified: false,
                    version,
                    active: false,
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
                }
            }
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// The user's events ongoing at `now`, sorted by id: what the cache answers, from the database.
pub async fn ongoing_events_of(
    pool: &Pool,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<Vec<EventFacts>, DbError> {
    let client = pool.get().await?;
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM ce_participants p JOIN ce_events e USING (event_id) \
         WHERE p.user_id = $1 AND p.unregistered_at IS NULL AND e.deleted_at IS NULL \
         AND e.start_utc <= $2 AND e.end_utc >= $2 ORDER BY e.event_id"
    );
    let stmt = client.prepare_cached(&sql).await?;
    client
        .query(&stmt, &[&user.as_i64(), &now])
        .await?
        .iter()
        .map(facts_from_row)
        .collect()
}

/// Every active registration of the user (events not deleted, whenever they run), by id.
pub async fn registered_events_of(pool: &Pool, user: UserId) -> Result<Vec<EventFacts>, DbError> {
    let client = pool.get().await?;
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM ce_participants p JOIN ce_events e USING (event_id) \
         WHERE p.user_id = $1 AND p.unregistered_at IS NULL AND e.deleted_at IS NULL \
         ORDER BY e.event_id"
    );
    let stmt = client.prepare_cached(&sql).await?;
    client
        .query(&stmt, &[&user.as_i64()])
        .await?
        .iter()
        .map(facts_from_row)
        .collect()
}
