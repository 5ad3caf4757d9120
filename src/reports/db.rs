//! The report queries: totals per participant and per page (a page of them at a time), edits
//! per quarter hour (turned into local days by the caller), and the rows of the CSV export.

use campaign_events_actors::domain::EventId;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::Serialize;

use crate::association::db::Reader;
use crate::infra::db::DbError;

/// One participant's totals. `user_id` is `None` and the name "Private participant" for a
/// private participant the reader may not see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParticipantTotals {
    pub user_id: Option<u64>,
    pub user_name: String,
    pub edits: i64,
    pub articles_created: i64,
    pub bytes_added: i64,
    pub bytes_removed: i64,
    pub chars_added: i64,
    pub chars_removed: i64,
    pub links_added: i64,
    pub links_removed: i64,
    pub refs_added: i64,
    pub refs_removed: i64,
}

/// One page's totals: a page is its wiki and page id, shown under its latest title.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageTotals {
    pub wiki_id: String,
    pub page_id: u64,
    pub page_title: String,
    pub namespace: i32,
    pub edits: i64,
    pub contributors: i64,
    /// One of the event's edits created the page.
    pub created_in_event: bool,
    pub bytes_added: i64,
    pub bytes_removed: i64,
    pub links_added: i64,
    pub links_removed: i64,
    pub refs_added: i64,
    pub refs_removed: i64,
}

const SUMS: &str =
    "COALESCE(sum(c.bytes_added), 0)::bigint, COALESCE(sum(c.bytes_removed), 0)::bigint, \
    COALESCE(sum(c.chars_added), 0)::bigint, COALESCE(sum(c.chars_removed), 0)::bigint, \
    COALESCE(sum(c.links_added), 0)::bigint, COALESCE(sum(c.links_removed), 0)::bigint, \
    COALESCE(sum(c.refs_added), 0)::bigint, COALESCE(sum(c.refs_removed), 0)::bigint";

/// Participants by edits (most first), `limit` from `offset`.
pub async fn participants(
    pool: &Pool,
    event: EventId,
    reader: Reader,
    limit: i64,
    offset: i64,
) -> Result<Vec<ParticipantTotals>, DbError> {
    let client = pool.get().await?;
    let sql = format!(
        "SELECT c.user_id, (array_agg(c.user_name ORDER BY c.rev_timestamp DESC))[1], \
         COALESCE(bool_or(p.private), false), count(*), \
         count(*) FILTER (WHERE c.is_new_article), {SUMS} \
         FROM ce_associate_edit_to_event c \
         LEFT JOIN ce_participants p ON p.event_id = c.event_id AND p.user_id = c.user_id \
         WHERE c.event_id = $1 AND NOT c.deleted GROUP BY c.user_id \
         ORDER BY count(*) DESC, min(c.id) LIMIT $2 OFFSET $3"
    );
    let rows = client
        .query(sql.as_str(), &[&event.as_i64(), &limit, &offset])
        .await?;
    rows.iter()
        .map(|r| {
            let user = u64::try_from(r.get::<_, i64>(0)).map_err(DbError::corrupt)?;
            let private: bool = r.get(2);
            let visible = !private || reader.sees_private(user);
            Ok(ParticipantTotals {
                user_id: visible.then_some(user),
                user_name: if visible {
                    r.get(1)
                } else {
                    crate::association::db::PRIVATE_PARTICIPANT.to_owned()
                },
                edits: r.get(3),
                articles_created: r.get(4),
                bytes_added: r.get(5),
                bytes_removed: r.get(6),
                chars_added: r.get(7),
                chars_removed: r.get(8),
                links_added: r.get(9),
                links_removed: r.get(10),
                refs_added: r.get(11),
                refs_removed: r.get(12),
            })
        })
        .collect()
}

/// Pages by edits (most first), `limit` from `offset`.
pub async fn pages(
    pool: &Pool,
    event: EventId,
    limit: i64,
    offset: i64,
) -> Result<Vec<PageTotals>, DbError> {
    let client = pool.get().await?;
    let sql = format!(
        "SELECT c.wiki_id, c.page_id, (array_agg(c.page_title ORDER BY c.rev_timestamp DESC))[1], \
         (array_agg(c.namespace ORDER BY c.rev_timestamp DESC))[1], count(*), \
         count(DISTINCT c.user_id), bool_or(c.is_new_article), {SUMS} \
         FROM ce_associate_edit_to_event c WHERE c.event_id = $1 AND NOT c.deleted \
         GROUP BY c.wiki_id, c.page_id \
         ORDER BY count(*) DESC, c.wiki_id, c.page_id LIMIT $2 OFFSET $3"
    );
    let rows = client
        .query(sql.as_str(), &[&event.as_i64(), &limit, &offset])
        .await?;
    rows.iter()
        .map(|r| {
            Ok(PageTotals {
                wiki_id: r.get(0),
                page_id: u64::try_from(r.get::<_, i64>(1)).map_err(DbError::corrupt)?,
                page_title: r.get(2),
                namespace: r.get(3),
                edits: r.get(4),
                contributors: r.get(5),
                created_in_event: r.get(6),
                bytes_added: r.get(7),
                bytes_removed: r.get(8),
                // chars (9, 10) are not part of a page's totals
                links_added: r.get(11),
                links_removed: r.get(12),
                refs_added: r.get(13),
                refs_removed: r.get(14),
            })
        })
        .collect()
}

/// Edits per quarter hour (UTC), oldest first: every time zone's offset is a whole number of
/// quarter hours, so the caller can place each bucket on its local day exactly.
pub async fn edits_per_quarter_hour(
    pool: &Pool,
    event: EventId,
) -> Result<Vec<(DateTime<Utc>, i64)>, DbError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT to_timestamp(floor(extract(epoch FROM rev_timestamp) / 900) * 900) AS q, \
             count(*) FROM ce_associate_edit_to_event WHERE event_id = $1 AND NOT deleted \
             GROUP BY q ORDER BY q",
            &[&event.as_i64()],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
