//! The cache's [`Store`] on Postgres. Queries run on the service's tokio runtime (where the
//! pool's connections live), whichever thread the cache asks from.

use std::future::Future;

use campaign_events_actors::domain::{EventFacts, EventId, UserId};
use campaign_events_actors::{
    MembershipRow, Registration, Snapshot, Store, StoreError, StoreFuture,
};
use chrono::{DateTime, Duration, Utc};
use deadpool_postgres::Pool;
use futures::TryStreamExt;

use crate::events::db::{facts_from_row, EVENT_COLUMNS};
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
