//! The cache's [`Store`] on Postgres. Queries run on the service's tokio runtime (where the
//! pool's connections live), whichever thread the cache asks from.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use campaign_events_actors::domain::{
    EventFacts, EventId, EventName, EventStatus, EventTimezone, EventWindow, UserId, WikiId,
    WikiSelection,
};
use campaign_events_actors::{
    Attending, MembershipRow, Registration, Snapshot, Store, StoreError, StoreFuture,
};
use chrono::{DateTime, Duration, Utc};
use deadpool_postgres::Pool;
use futures::TryStreamExt;

use crate::infra::db::DbError;

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    runtime: tokio::runtime::Handle,
}

impl PgStore {
    /// Must be called on the runtime the pool belongs to.
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    fn run<T, F>(&self, f: impl FnOnce(Pool) -> F) -> StoreFuture<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, DbError>> + Send + 'static,
    {
        let task = self.runtime.spawn(f(self.pool.clone()));
        Box::pin(async move {
            match task.await {
                Ok(result) => result.map_err(|e| StoreError(e.to_string())),
                Err(e) => Err(StoreError(format!("query task failed: {e}"))),
            }
        })
    }
}

fn uid(raw: i64) -> Result<UserId, DbError> {
    UserId::from_db(raw).map_err(DbError::corrupt)
}

fn eid(raw: i64) -> Result<EventId, DbError> {
    EventId::from_db(raw).map_err(DbError::corrupt)
}

impl Store for PgStore {
    fn events_around(&self, now: DateTime<Utc>, horizon: Duration) -> StoreFuture<Vec<EventFacts>> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM ce_events e WHERE e.deleted_at IS NULL \
                 AND e.end_utc >= $1 AND e.start_utc <= $2 ORDER BY e.event_id"
            );
            client
                .query(sql.as_str(), &[&now, &(now + horizon)])
                .await?
                .iter()
                .map(facts_from_row)
                .collect()
        })
    }

    fn participants_of(&self, event: EventId) -> StoreFuture<Vec<(UserId, Registration)>> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .query(
                    "SELECT user_id, version, hide_prompt FROM ce_participants \
                     WHERE event_id = $1 AND unregistered_at IS NULL",
                    &[&event.as_i64()],
                )
                .await?
                .iter()
                .map(|r| Ok((uid(r.get(0))?, registration(r.get(1), r.get(2)))))
                .collect()
        })
    }

    /// Streams the rows (a million participants must not be buffered twice).
    fn ongoing_memberships(&self, now: DateTime<Utc>) -> StoreFuture<Snapshot> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let stream = client
                .query_raw(
                    "SELECT p.user_id, p.event_id, p.version, p.unregistered_at IS NULL, p.hide_prompt \
                     FROM ce_participants p JOIN ce_events e USING (event_id) \
                     WHERE e.deleted_at IS NULL AND e.start_utc <= $1 AND e.end_utc >= $1 \
                     ORDER BY p.user_id, p.event_id",
                    &[&now],
                )
                .await?;
            let mut stream = std::pin::pin!(stream);
            let mut rows = Vec::new();
            while let Some(r) = stream.try_next().await? {
                rows.push(MembershipRow {
                    user: uid(r.get(0))?,
                    event: eid(r.get(1))?,
                    version: r.get(2),
                    active: r.get(3),
                    prompt_hidden: r.get(4),
                });
            }
            Ok(Snapshot { rows })
        })
    }

    fn users_rows(&self, users: Vec<UserId>, now: DateTime<Utc>) -> StoreFuture<Snapshot> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let ids: Vec<i64> = users.iter().map(|u| u.as_i64()).collect();
            let rows = client
                .query(
                    "SELECT p.user_id, p.event_id, p.version, p.unregistered_at IS NULL, p.hide_prompt \
                     FROM ce_participants p JOIN ce_events e USING (event_id) \
                     WHERE p.user_id = ANY($1) AND e.deleted_at IS NULL \
                     AND e.start_utc <= $2 AND e.end_utc >= $2 \
                     ORDER BY p.user_id, p.event_id",
                    &[&ids, &now],
                )
                .await?;
            let rows = rows
                .iter()
                .map(|r| {
                    Ok::<_, DbError>(MembershipRow {
                        user: uid(r.get(0))?,
                        event: eid(r.get(1))?,
                        version: r.get(2),
                        active: r.get(3),
                        prompt_hidden: r.get(4),
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(Snapshot { rows })
        })
    }

    fn user_memberships(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreFuture<Vec<(EventId, Registration)>> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .query(
                    "SELECT p.event_id, p.version, p.hide_prompt FROM ce_participants p \
                     JOIN ce_events e USING (event_id) \
                     WHERE p.user_id = $1 AND p.unregistered_at IS NULL AND e.deleted_at IS NULL \
                     AND e.start_utc <= $2 AND e.end_utc >= $2",
                    &[&user.as_i64(), &now],
                )
                .await?
                .iter()
                .map(|r| Ok((eid(r.get(0))?, registration(r.get(1), r.get(2)))))
                .collect()
        })
    }
}

fn registration(version: i64, prompt_hidden: bool) -> Registration {
    Registration {
        version,
        prompt_hidden,
    }
}

/// The columns [`facts_from_row`] reads, on `ce_events e`: what the cache and the event routes
/// select of an event.
pub(crate) const EVENT_COLUMNS: &str =
    "e.event_id, e.name, e.start_utc, e.end_utc, e.timezone, e.status, \
     e.track_contributions, e.all_wikis, e.version, e.deleted_at, e.created_at, e.updated_at, \
     COALESCE((SELECT array_agg(w.wiki_id ORDER BY w.wiki_id) FROM ce_event_wikis w \
               WHERE w.event_id = e.event_id), '{}') AS wikis";

/// Builds [`EventFacts`] from a row selected with `EVENT_COLUMNS`. The values were validated
/// on the way in; a failure here means someone wrote the table by hand.
pub fn facts_from_row(row: &tokio_postgres::Row) -> Result<EventFacts, DbError> {
    let wikis = if row.get::<_, bool>("all_wikis") {
        WikiSelection::All
    } else {
        let ids: Vec<String> = row.get("wikis");
        let set = ids
            .iter()
            .map(|w| WikiId::parse(w).map_err(DbError::corrupt))
            .collect::<Result<BTreeSet<_>, _>>()?;
        WikiSelection::Only(set)
    };
    let status: String = row.get("status");
    Ok(EventFacts {
        id: EventId::from_db(row.get("event_id")).map_err(DbError::corrupt)?,
        name: EventName::parse(row.get("name")).map_err(DbError::corrupt)?,
        window: EventWindow::new(row.get("start_utc"), row.get("end_utc"))
            .map_err(DbError::corrupt)?,
        timezone: EventTimezone::parse(row.get("timezone")).map_err(DbError::corrupt)?,
        wikis,
        track_contributions: row.get("track_contributions"),
        status: status.parse::<EventStatus>().map_err(DbError::corrupt)?,
        deleted: row.get::<_, Option<DateTime<Utc>>>("deleted_at").is_some(),
        version: row.get("version"),
    })
}

/// The user's events ongoing at `now`, sorted by id: what the cache answers, from the database.
pub async fn ongoing_events_of(
    pool: &Pool,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<Vec<Attending>, DbError> {
    let client = pool.get().await?;
    let sql = format!(
        "SELECT {EVENT_COLUMNS}, p.hide_prompt FROM ce_participants p \
         JOIN ce_events e USING (event_id) \
         WHERE p.user_id = $1 AND p.unregistered_at IS NULL AND e.deleted_at IS NULL \
         AND e.start_utc <= $2 AND e.end_utc >= $2 ORDER BY e.event_id"
    );
    let stmt = client.prepare_cached(&sql).await?;
    client
        .query(&stmt, &[&user.as_i64(), &now])
        .await?
        .iter()
        .map(attending_from_row)
        .collect()
}

/// Every active registration of the user (events not deleted, whenever they run), by id.
pub async fn registered_events_of(pool: &Pool, user: UserId) -> Result<Vec<Attending>, DbError> {
    let client = pool.get().await?;
    let sql = format!(
        "SELECT {EVENT_COLUMNS}, p.hide_prompt FROM ce_participants p \
         JOIN ce_events e USING (event_id) \
         WHERE p.user_id = $1 AND p.unregistered_at IS NULL AND e.deleted_at IS NULL \
         ORDER BY e.event_id"
    );
    let stmt = client.prepare_cached(&sql).await?;
    client
        .query(&stmt, &[&user.as_i64()])
        .await?
        .iter()
        .map(attending_from_row)
        .collect()
}

fn attending_from_row(row: &tokio_postgres::Row) -> Result<Attending, DbError> {
    Ok(Attending {
        facts: Arc::new(facts_from_row(row)?),
        prompt_hidden: row.get("hide_prompt"),
    })
}
