//! Stored contributions (`ce_associate_edit_to_event`) and dead letters: the two ways an
//! accepted association ends (invariant 5).

use campaign_events_actors::domain::{EventId, RevisionId, UserId, WikiId};
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::Serialize;

use crate::association::stats::EditStats;
use crate::infra::db::DbError;

/// One measured edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contribution {
    pub event_id: u64,
    pub user_id: u64,
    pub user_name: String,
    pub wiki_id: String,
    pub revision_id: u64,
    pub parent_revision_id: Option<u64>,
    pub page_id: u64,
    pub page_title: String,
    pub namespace: i32,
    #[serde(flatten)]
    pub stats: EditStats,
    pub is_new_article: bool,
    pub rev_timestamp: DateTime<Utc>,
    pub associated_at: DateTime<Utc>,
}

/// A number for a `bigint` column, checked: ids and sizes come from the wiki, and a cast
/// would store a wrapped value without a word.
fn db_int(v: u64) -> Result<i64, DbError> {
    i64::try_from(v).map_err(|_| DbError::corrupt(format!("{v} does not fit a bigint")))
}

/// What storing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// The row exists for this event (inserted now, or by an earlier delivery).
    Done,
    /// The edit already belongs to another event: the unique index had the final word.
    OtherEvent(EventId),
}

/// Serialises, per edit, storing a row and writing a dead letter: each checks what the other
/// wrote, and neither may miss the other's uncommitted work.
async fn lock_edit(
    tx: &deadpool_postgres::Transaction<'_>,
    wiki: &str,
    revision: u64,
) -> Result<(), DbError> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('ce-edit:' || $1::text || ':' || ($2::bigint)::text, 0))",
        &[&wiki, &(revision as i64)],
    )
    .await?;
    Ok(())
}

/// Inserts the row (idempotent: a re-delivered job finds its row and changes nothing) and
/// clears the dead letter of the same job (a retried job that now succeeded), in one
/// transaction. `requester` is the job's user: the author, or the organizer who associated
/// the author's edit. The caller acks the job only after this commits.
pub async fn store(pool: &Pool, c: &Contribution, requester: UserId) -> Result<Stored, DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    lock_edit(&tx, &c.wiki_id, c.revision_id).await?;
    let inserted = tx
        .query_opt(
            "INSERT INTO ce_associate_edit_to_event (event_id, user_id, user_name, wiki_id, \
             revision_id, parent_revision_id, page_id, page_title, namespace, bytes_added, \
             bytes_removed, chars_added, chars_removed, links_added, links_removed, refs_added, \
             refs_removed, is_new_article, rev_timestamp, associated_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20) \
             ON CONFLICT (wiki_id, revision_id) DO NOTHING RETURNING id",
            &[
                &db_int(c.event_id)?,
                &db_int(c.user_id)?,
                &c.user_name,
                &c.wiki_id,
                &db_int(c.revision_id)?,
                &c.parent_revision_id.map(db_int).transpose()?,
                &db_int(c.page_id)?,
                &c.page_title,
                &c.namespace,
                &(c.stats.bytes_added as i64),
                &(c.stats.bytes_removed as i64),
                &(c.stats.chars_added as i64),
                &(c.stats.chars_removed as i64),
                &(c.stats.links_added as i32),
                &(c.stats.links_removed as i32),
                &(c.stats.refs_added as i32),
                &(c.stats.refs_removed as i32),
                &c.is_new_article,
                &c.rev_timestamp,
                &c.associated_at,
            ],
        )
        .await?;
    let outcome = if inserted.is_some() {
        Stored::Done
    } else {
        let existing: i64 = tx
            .query_one(
                "SELECT event_id FROM ce_associate_edit_to_event \
                 WHERE wiki_id = $1 AND revision_id = $2",
                &[&c.wiki_id, &(c.revision_id as i64)],
            )
            .await?
            .get(0);
        if existing as u64 == c.event_id {
            Stored::Done
        } else {
            Stored::OtherEvent(EventId::from_db(existing).map_err(DbError::corrupt)?)
        }
    };
    if outcome == Stored::Done {
        tx.execute(
            "DELETE FROM ce_dead_letters WHERE wiki_id = $1 AND revision_id = $2 \
             AND event_id = $3 AND user_id = $4",
            &[
                &c.wiki_id,
                &(c.revision_id as i64),
                &(c.event_id as i64),
                &requester.as_i64(),
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(outcome)
}

/// A job that cannot become a row: recorded with its reason, one record per job (edit, event,
/// user; a later failure of the same job, retried, replaces it). Not written when the job's
/// row exists — another delivery of it (a retry, twice) stored it: the job ended as that row.
/// Returns whether it was written.
#[allow(clippy::too_many_arguments)]
pub async fn dead_letter(
    pool: &Pool,
    wiki: &str,
    revision: u64,
    event: u64,
    user: u64,
    reason: &str,
    detail: &str,
    deliveries: i32,
    payload: &[u8],
) -> Result<bool, DbError> {
    // The detail may quote the wiki's error text.
    let detail = crate::infra::db::storable_text(detail, MAX_DETAIL);
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    lock_edit(&tx, wiki, revision).await?;
    let written = tx
        .execute(
            "INSERT INTO ce_dead_letters (wiki_id, revision_id, event_id, user_id, reason, detail, \
             deliveries, payload) \
             SELECT $1::text, $2::bigint, $3::bigint, $4::bigint, $5::text, $6::text, $7::int, \
             $8::bytea WHERE NOT EXISTS ( \
               SELECT 1 FROM ce_associate_edit_to_event WHERE wiki_id = $1 AND revision_id = $2 \
               AND event_id = $3 AND user_id = $4) \
             ON CONFLICT (wiki_id, revision_id, event_id, user_id) DO UPDATE SET \
             reason = EXCLUDED.reason, detail = EXCLUDED.detail, \
             deliveries = EXCLUDED.deliveries, payload = EXCLUDED.payload, created_at = now(), \
             retried_at = NULL",
            &[
                &wiki,
                &(revision as i64),
                &(event as i64),
                &(user as i64),
                &reason,
                &detail,
                &deliveries,
                &payload,
            ],
        )
        .await?;
    tx.commit().await?;
    Ok(written > 0)
}

/// Longest detail kept for a dead letter, in characters.
const MAX_DETAIL: usize = 4000;

/// A stored contribution as its removal needs it: whose it is and which edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEdit {
    pub event: EventId,
    pub author: UserId,
    pub wiki: String,
    pub revision: u64,
}

/// The contribution with this row id, if any.
pub async fn stored_edit(pool: &Pool, id: i64) -> Result<Option<StoredEdit>, DbError> {
    let client = pool.get().await?;
    client
        .query_opt(
            "SELECT event_id, user_id, wiki_id, revision_id FROM ce_associate_edit_to_event \
             WHERE id = $1",
            &[&id],
        )
        .await?
        .map(|r| {
            Ok(StoredEdit {
                event: EventId::from_db(r.get(0)).map_err(DbError::corrupt)?,
                author: UserId::from_db(r.get(1)).map_err(DbError::corrupt)?,
                wiki: r.get(2),
                revision: u64::try_from(r.get::<_, i64>(3)).map_err(DbError::corrupt)?,
            })
        })
        .transpose()
}

/// Removes a contribution; the edit may then be associated again (its key is free). Returns
/// whether a row was removed (false: another request removed it first).
pub async fn remove(pool: &Pool, id: i64) -> Result<bool, DbError> {
    let client = pool.get().await?;
    Ok(client
        .execute(
            "DELETE FROM ce_associate_edit_to_event WHERE id = $1",
            &[&id],
        )
        .await?
        > 0)
}

/// The event an edit is stored for, if any (the gateway's cheap pre-check).
pub async fn associated_event(
    pool: &Pool,
    wiki: &WikiId,
    revision: RevisionId,
) -> Result<Option<EventId>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT event_id FROM ce_associate_edit_to_event WHERE wiki_id = $1 AND revision_id = $2",
        )
        .await?;
    client
        .query_opt(&stmt, &[&wiki.as_str(), &revision.as_i64()])
        .await?
        .map(|r| EventId::from_db(r.get(0)).map_err(DbError::corrupt))
        .transpose()
}

/// Who reads a listing, for invariant 8: a private participant's name and id reach only
/// themselves and the event's organizers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// An organizer of the event: sees every participant.
    Organizer,
    /// A signed-in user: sees their own rows as theirs.
    User(UserId),
    /// No token.
    Anonymous,
}

impl Reader {
    /// Whether this reader may see who made a row of `user`, who registered privately.
    pub fn sees_private(self, user: u64) -> bool {
        match self {
            Reader::Organizer => true,
            Reader::User(me) => me.get() == user,
            Reader::Anonymous => false,
        }
    }
}

/// What a private participant is called to readers who may not see them (as the extension).
pub const PRIVATE_PARTICIPANT: &str = "Private participant";

/// A listed row: the contribution, and whether its author is a private participant of the
/// event.
pub struct Listed {
    /// The row's id: what `DELETE /event_contributions/{id}` takes.
    pub id: i64,
    pub row: Contribution,
    pub private: bool,
}

impl Listed {
    /// Whether `reader` may see who made this row.
    pub fn author_visible_to(&self, reader: Reader) -> bool {
        !self.private || reader.sees_private(self.row.user_id)
    }
}

/// A page of an event's contributions, newest first.
pub struct Page {
    pub rows: Vec<Listed>,
    /// Where the next page starts: `(rev_timestamp, id)` of the last row, when there may be more.
    pub next: Option<(DateTime<Utc>, i64)>,
}

/// Filters and position of a listing.
pub struct Listing<'a> {
    pub event: EventId,
    pub limit: i64,
    pub after: Option<(DateTime<Utc>, i64)>,
    /// Only this user's rows; a private participant the reader may not see matches nothing,
    /// as a name never seen would.
    pub user_name: Option<&'a str>,
    pub wiki: Option<&'a WikiId>,
    pub reader: Reader,
}

const CONTRIBUTION_COLUMNS: &str = "c.id, c.event_id, c.user_id, c.user_name, c.wiki_id, \
    c.revision_id, c.parent_revision_id, c.page_id, c.page_title, c.namespace, c.bytes_added, \
    c.bytes_removed, c.chars_added, c.chars_removed, c.links_added, c.links_removed, \
    c.refs_added, c.refs_removed, c.is_new_article, c.rev_timestamp, c.associated_at";

/// Newest first by `(rev_timestamp, id)`: a key no insert can reorder, so a continuation
/// never skips or repeats a row.
pub async fn list(pool: &Pool, l: &Listing<'_>) -> Result<Page, DbError> {
    let client = pool.get().await?;
    let (after_ts, after_id) = match l.after {
        Some((t, id)) => (Some(t), Some(id)),
        None => (None, None),
    };
    // The participant row says whether the author registered privately (an author without
    // one is public). The name filter must not confirm that a private participant took part:
    // their rows match it only for a reader who may see them ($7: every row; $8: their own).
    let sql = format!(
        "SELECT {CONTRIBUTION_COLUMNS}, COALESCE(p.private, false) AS private \
         FROM ce_associate_edit_to_event c \
         LEFT JOIN ce_participants p ON p.event_id = c.event_id AND p.user_id = c.user_id \
         WHERE c.event_id = $1 AND NOT c.deleted \
         AND ($2::timestamptz IS NULL OR (c.rev_timestamp, c.id) < ($2, $3)) \
         AND ($4::text IS NULL OR (c.user_name = $4 \
              AND (NOT COALESCE(p.private, false) OR $7 OR c.user_id = $8))) \
         AND ($5::text IS NULL OR c.wiki_id = $5) \
         ORDER BY c.rev_timestamp DESC, c.id DESC LIMIT $6"
    );
    let (all, own) = match l.reader {
        Reader::Organizer => (true, 0_i64),
        Reader::User(me) => (false, me.as_i64()),
        Reader::Anonymous => (false, 0),
    };
    let wiki = l.wiki.map(WikiId::as_str);
    let rows = client
        .query(
            sql.as_str(),
            &[
                &l.event.as_i64(),
                &after_ts,
                &after_id,
                &l.user_name,
                &wiki,
                &(l.limit + 1),
                &all,
                &own,
            ],
        )
        .await?;
    let more = rows.len() as i64 > l.limit;
    let mut out = Vec::with_capacity(rows.len());
    let mut next = None;
    for r in rows.iter().take(l.limit as usize) {
        next = Some((
            r.get::<_, DateTime<Utc>>("rev_timestamp"),
            r.get::<_, i64>("id"),
        ));
        let row = Contribution {
            event_id: r.get::<_, i64>("event_id") as u64,
            user_id: r.get::<_, i64>("user_id") as u64,
            user_name: r.get("user_name"),
            wiki_id: r.get("wiki_id"),
            revision_id: r.get::<_, i64>("revision_id") as u64,
            parent_revision_id: r
                .get::<_, Option<i64>>("parent_revision_id")
                .map(|p| p as u64),
            page_id: r.get::<_, i64>("page_id") as u64,
            page_title: r.get("page_title"),
            namespace: r.get("namespace"),
            stats: EditStats {
                bytes_added: r.get::<_, i64>("bytes_added") as u64,
                bytes_removed: r.get::<_, i64>("bytes_removed") as u64,
                chars_added: r.get::<_, i64>("chars_added") as u64,
                chars_removed: r.get::<_, i64>("chars_removed") as u64,
                links_added: r.get::<_, i32>("links_added") as u32,
                links_removed: r.get::<_, i32>("links_removed") as u32,
                refs_added: r.get::<_, i32>("refs_added") as u32,
                refs_removed: r.get::<_, i32>("refs_removed") as u32,
            },
            is_new_article: r.get("is_new_article"),
            rev_timestamp: r.get("rev_timestamp"),
            associated_at: r.get("associated_at"),
        };
        out.push(Listed {
            id: r.get("id"),
            row,
            private: r.get("private"),
        });
    }
    Ok(Page {
        rows: out,
        next: if more { next } else { None },
    })
}

/// An event's totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub event_id: u64,
    pub edits: i64,
    pub participants: i64,
    pub articles_created: i64,
    /// Distinct pages edited (a page is its wiki and page id: a move keeps it one page).
    pub articles_edited: i64,
    /// Distinct wikis edited.
    pub wikis: i64,
    pub bytes_added: i64,
    pub bytes_removed: i64,
    pub chars_added: i64,
    pub chars_removed: i64,
    pub links_added: i64,
    pub links_removed: i64,
    pub refs_added: i64,
    pub refs_removed: i64,
}

pub async fn summary(pool: &Pool, event: EventId) -> Result<Summary, DbError> {
    let client = pool.get().await?;
    let r = client
        .query_one(
            "SELECT count(*), count(DISTINCT user_id), count(*) FILTER (WHERE is_new_article), \
             count(DISTINCT (wiki_id, page_id)), count(DISTINCT wiki_id), \
             COALESCE(sum(bytes_added), 0)::bigint, COALESCE(sum(bytes_removed), 0)::bigint, \
             COALESCE(sum(chars_added), 0)::bigint, COALESCE(sum(chars_removed), 0)::bigint, \
             COALESCE(sum(links_added), 0)::bigint, COALESCE(sum(links_removed), 0)::bigint, \
             COALESCE(sum(refs_added), 0)::bigint, COALESCE(sum(refs_removed), 0)::bigint \
             FROM ce_associate_edit_to_event WHERE event_id = $1 AND NOT deleted",
            &[&event.as_i64()],
        )
        .await?;
    Ok(Summary {
        event_id: event.get(),
        edits: r.get(0),
        participants: r.get(1),
        articles_created: r.get(2),
        articles_edited: r.get(3),
        wikis: r.get(4),
        bytes_added: r.get(5),
        bytes_removed: r.get(6),
        chars_added: r.get(7),
        chars_removed: r.get(8),
        links_added: r.get(9),
        links_removed: r.get(10),
        refs_added: r.get(11),
        refs_removed: r.get(12),
    })
}

/// A dead letter as the admin listing shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub id: i64,
    pub wiki_id: String,
    pub revision_id: i64,
    pub event_id: i64,
    /// `None` when the job's user registered privately for the event.
    pub user_id: Option<i64>,
    pub reason: String,
    pub detail: String,
    pub deliveries: i32,
    pub created_at: DateTime<Utc>,
    pub retried_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub payload: Vec<u8>,
}

pub async fn dead_letters(pool: &Pool, limit: i64) -> Result<Vec<DeadLetter>, DbError> {
    let client = pool.get().await?;
    Ok(client
        .query(
            // A private participant's id is shown to no one but themselves and the event's
            // organizers, admins included (invariant 8); the job itself keeps it for a retry.
            "SELECT d.id, d.wiki_id, d.revision_id, d.event_id, \
             CASE WHEN COALESCE(p.private, false) THEN NULL ELSE d.user_id END, d.reason, \
             d.detail, d.deliveries, d.created_at, d.retried_at, d.payload \
             FROM ce_dead_letters d LEFT JOIN ce_participants p \
             ON p.event_id = d.event_id AND p.user_id = d.user_id \
             ORDER BY d.id DESC LIMIT $1",
            &[&limit],
        )
        .await?
        .iter()
        .map(|r| DeadLetter {
            id: r.get(0),
            wiki_id: r.get(1),
            revision_id: r.get(2),
            event_id: r.get(3),
            user_id: r.get(4),
            reason: r.get(5),
            detail: r.get(6),
            deliveries: r.get(7),
            created_at: r.get(8),
            retried_at: r.get(9),
            payload: r.get(10),
        })
        .collect())
}

/// Marks a dead letter as retried and returns its payload; `None` if there is no such id.
pub async fn mark_retried(pool: &Pool, id: i64) -> Result<Option<(Vec<u8>, i32)>, DbError> {
    let client = pool.get().await?;
    Ok(client
        .query_opt(
            "UPDATE ce_dead_letters SET retried_at = now() WHERE id = $1 \
             RETURNING payload, deliveries",
            &[&id],
        )
        .await?
        .map(|r| (r.get(0), r.get(1))))
}

/// Undoes [`mark_retried`] when the retry could not be queued, so the dead letter counts as
/// open again.
pub async fn unmark_retried(pool: &Pool, id: i64) -> Result<(), DbError> {
    let client = pool.get().await?;
    client
        .execute(
            "UPDATE ce_dead_letters SET retried_at = NULL WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok(())
}

/// Adds every stored edit's key to `filter` (streamed: there may be millions).
pub async fn load_keys(
    pool: &Pool,
    filter: &crate::association::bloom::AssociatedEdits,
) -> Result<u64, DbError> {
    use futures::TryStreamExt;
    let client = pool.get().await?;
    let rows = client
        .query_raw(
            "SELECT wiki_id, revision_id FROM ce_associate_edit_to_event",
            std::iter::empty::<i64>(),
        )
        .await?;
    let mut rows = std::pin::pin!(rows);
    let mut n = 0;
    while let Some(r) = rows.try_next().await? {
        filter.insert(r.get::<_, &str>(0), r.get::<_, i64>(1) as u64);
        n += 1;
    }
    Ok(n)
}

/// Dead letters nobody has retried yet: the jobs waiting for an operator.
pub async fn open_dead_letters(pool: &Pool) -> Result<i64, DbError> {
    let client = pool.get().await?;
    Ok(client
        .query_one(
            "SELECT count(*) FROM ce_dead_letters WHERE retried_at IS NULL",
            &[],
        )
        .await?
        .get(0))
}
