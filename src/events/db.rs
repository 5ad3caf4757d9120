//! Event registrations: create, read, replace and soft-delete, with their wikis and organizers.

use campaign_events_actors::domain::{
    EventDraft, EventFacts, EventId, UserId, WikiId, WikiSelection,
};
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool};

use crate::cache::store::{facts_from_row, EVENT_COLUMNS};
use crate::infra::db::DbError;

/// An organizer of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organizer {
    pub user_id: UserId,
    pub user_name: String,
}

/// An event with the bookkeeping the API shows.
#[derive(Debug, Clone)]
pub struct EventRecord {
    pub facts: EventFacts,
    pub organizers: Vec<Organizer>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Creates an event; its creator becomes its first organizer. One transaction.
pub async fn create(
    pool: &Pool,
    draft: &EventDraft,
    creator: &Organizer,
) -> Result<EventRecord, DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let row = tx
        .query_one(
            "INSERT INTO ce_events (name, start_utc, end_utc, timezone, status, \
             track_contributions, all_wikis) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             RETURNING event_id",
            &[
                &draft.name.as_str(),
                &draft.window.start(),
                &draft.window.end(),
                &draft.timezone.as_str(),
                &draft.status.as_str(),
                &draft.track_contributions,
                &matches!(draft.wikis, WikiSelection::All),
            ],
        )
        .await?;
    let id: i64 = row.get(0);
    write_wikis(&tx, id, &draft.wikis).await?;
    tx.execute(
        "INSERT INTO ce_event_organizers (event_id, user_id, user_name) VALUES ($1, $2, $3)",
        &[&id, &creator.user_id.as_i64(), &creator.user_name],
    )
    .await?;
    let record = load(&tx, id).await?.ok_or(DbError::Vanished)?;
    tx.commit().await?;
    Ok(record)
}

/// Reads an event, deleted or not.
pub async fn get(pool: &Pool, id: EventId) -> Result<Option<EventRecord>, DbError> {
    let client = pool.get().await?;
    load(&client, id.as_i64()).await
}

/// The outcome of a write to an existing event.
#[derive(Debug)]
pub enum WriteOutcome {
    Done(EventRecord),
    NotFound,
    Deleted,
}

/// Replaces an event's facts (not its organizers), bumping its version. Deleted events stay
/// as they were.
pub async fn replace(
    pool: &Pool,
    id: EventId,
    draft: &EventDraft,
) -> Result<WriteOutcome, DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    if let Some(outcome) = lock_live(&tx, id).await? {
        return Ok(outcome);
    }
    tx.execute(
        "UPDATE ce_events SET name = $2, start_utc = $3, end_utc = $4, timezone = $5, \
         status = $6, track_contributions = $7, all_wikis = $8, \
         version = nextval('ce_change_version_seq'), updated_at = now() WHERE event_id = $1",
        &[
            &id.as_i64(),
            &draft.name.as_str(),
            &draft.window.start(),
            &draft.window.end(),
            &draft.timezone.as_str(),
            &draft.status.as_str(),
            &draft.track_contributions,
            &matches!(draft.wikis, WikiSelection::All),
        ],
    )
    .await?;
    tx.execute(
        "DELETE FROM ce_event_wikis WHERE event_id = $1",
        &[&id.as_i64()],
    )
    .await?;
    write_wikis(&tx, id.as_i64(), &draft.wikis).await?;
    let record = load(&tx, id.as_i64()).await?.ok_or(DbError::Vanished)?;
    tx.commit().await?;
    Ok(WriteOutcome::Done(record))
}

/// Soft-deletes an event: it stays for reports but is no longer ongoing for anyone.
pub async fn soft_delete(pool: &Pool, id: EventId) -> Result<WriteOutcome, DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    if let Some(outcome) = lock_live(&tx, id).await? {
        return Ok(outcome);
    }
    tx.execute(
        "UPDATE ce_events SET deleted_at = now(), updated_at = now(), \
         version = nextval('ce_change_version_seq') WHERE event_id = $1",
        &[&id.as_i64()],
    )
    .await?;
    let record = load(&tx, id.as_i64()).await?.ok_or(DbError::Vanished)?;
    tx.commit().await?;
    Ok(WriteOutcome::Done(record))
}

/// Locks the event row; `Some` when there is nothing to write to.
async fn lock_live(
    tx: &deadpool_postgres::Transaction<'_>,
    id: EventId,
) -> Result<Option<WriteOutcome>, DbError> {
    let row = tx
        .query_opt(
            "SELECT deleted_at IS NOT NULL FROM ce_events WHERE event_id = $1 FOR UPDATE",
            &[&id.as_i64()],
        )
        .await?;
    Ok(match row {
        None => Some(WriteOutcome::NotFound),
        Some(r) if r.get::<_, bool>(0) => Some(WriteOutcome::Deleted),
        Some(_) => None,
    })
}

async fn write_wikis(
    client: &impl GenericClient,
    event_id: i64,
    wikis: &WikiSelection,
) -> Result<(), DbError> {
    if let WikiSelection::Only(set) = wikis {
        let ids: Vec<&str> = set.iter().map(WikiId::as_str).collect();
        client
            .execute(
                "INSERT INTO ce_event_wikis (event_id, wiki_id) SELECT $1, unnest($2::text[])",
                &[&event_id, &ids],
            )
            .await?;
    }
    Ok(())
}

async fn load(client: &impl GenericClient, id: i64) -> Result<Option<EventRecord>, DbError> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM ce_events e WHERE e.event_id = $1");
    let Some(row) = client.query_opt(sql.as_str(), &[&id]).await? else {
        return Ok(None);
    };
    let facts = facts_from_row(&row)?;
    let organizers = client
        .query(
            "SELECT user_id, user_name FROM ce_event_organizers WHERE event_id = $1 \
             ORDER BY created_at, user_id",
            &[&id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Organizer {
                user_id: UserId::from_db(r.get(0)).map_err(DbError::corrupt)?,
                user_name: r.get(1),
            })
        })
        .collect::<Result<_, DbError>>()?;
    Ok(Some(EventRecord {
        facts,
        organizers,
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }))
}

/// Whether `user` organizes event `id`.
pub async fn is_organizer(pool: &Pool, id: EventId, user: UserId) -> Result<bool, DbError> {
    let client = pool.get().await?;
    Ok(client
        .query_opt(
            "SELECT 1 FROM ce_event_organizers WHERE event_id = $1 AND user_id = $2",
            &[&id.as_i64(), &user.as_i64()],
        )
        .await?
        .is_some())
}
