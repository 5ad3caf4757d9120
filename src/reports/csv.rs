//! `GET …/contributions.csv`: every stored contribution of an event, oldest first, as CSV
//! (RFC 4180: a header row, fields quoted when they hold a comma, a quote or a line break,
//! quotes doubled, CRLF line ends; UTF-8 with a byte-order mark so that spreadsheets do not
//! guess a legacy encoding for non-Latin titles).
//!
//! Streamed: a task reads the rows from Postgres as they come and hands the response chunks of
//! about 64 KiB through a channel of a few chunks, so an event of any size is exported in flat
//! memory, at the pace the client reads.
//!
//! A page title or user name that a spreadsheet would run as a formula gets an apostrophe in
//! front ([`inert`]).
//!
//! Times: `timestamp_utc` (RFC 3339, `Z`) and `timestamp_local`, the same instant in the
//! event's own time zone with its offset (`2026-11-21T15:30:00+05:30`).

use bytes::Bytes;
use campaign_events_actors::domain::EventId;
use chrono::{DateTime, SecondsFormat, Utc};
use deadpool_postgres::Pool;
use futures::StreamExt;

use crate::association::db::{Reader, PRIVATE_PARTICIPANT};

pub const HEADER: &[&str] = &[
    "id",
    "wiki",
    "revision_id",
    "parent_revision_id",
    "page_id",
    "namespace",
    "page_title",
    "user_id",
    "user_name",
    "timestamp_utc",
    "timestamp_local",
    "is_new_article",
    "bytes_added",
    "bytes_removed",
    "chars_added",
    "chars_removed",
    "links_added",
    "links_removed",
    "refs_added",
    "refs_removed",
];

/// About this many bytes go out per chunk.
const CHUNK: usize = 64 * 1024;
/// Chunks waiting for the client at most: the memory an export holds.
const CHANNEL: usize = 4;

/// Appends one field, quoted when it must be (RFC 4180 §2.6–2.7).
pub fn push_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

/// A text cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a tab or carriage
/// return first) gets an apostrophe in front, as OWASP advises for CSV exports: a page title
/// or user name chosen by anyone must not run in an organizer's spreadsheet. Numbers and
/// times never start that way.
pub fn inert(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

fn push_record<'a>(out: &mut String, fields: impl IntoIterator<Item = &'a str>) {
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_field(out, f);
    }
    out.push_str("\r\n");
}

/// The export's body, as a stream of chunks. A database failure part-way ends the stream with
/// an error, so the client sees a broken download rather than a short file that looks whole.
pub fn stream(
    pool: Pool,
    event: EventId,
    tz: chrono_tz::Tz,
    reader: Reader,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL);
    tokio::spawn(async move {
        if let Err(e) = produce(&pool, event, tz, reader, &tx).await {
            tracing::warn!(event_id = %event, error = %e, "CSV export interrupted");
            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
}

async fn produce(
    pool: &Pool,
    event: EventId,
    tz: chrono_tz::Tz,
    reader: Reader,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), crate::infra::db::DbError> {
    let mut buf = String::with_capacity(CHUNK + 1024);
    buf.push('\u{feff}');
    push_record(&mut buf, HEADER.iter().copied());
    let client = pool.get().await?;
    let rows = client
        .query_raw(
            "SELECT c.id, c.wiki_id, c.revision_id, c.parent_revision_id, c.page_id, c.namespace, \
             c.page_title, c.user_id, c.user_name, c.rev_timestamp, c.is_new_article, \
             c.bytes_added, c.bytes_removed, c.chars_added, c.chars_removed, c.links_added, \
             c.links_removed, c.refs_added, c.refs_removed, COALESCE(p.private, false) \
             FROM ce_associate_edit_to_event c \
             LEFT JOIN ce_participants p ON p.event_id = c.event_id AND p.user_id = c.user_id \
             WHERE c.event_id = $1 AND NOT c.deleted ORDER BY c.rev_timestamp, c.id",
            &[&event.as_i64()],
        )
        .await?;
    let mut rows = std::pin::pin!(rows);
    while let Some(r) = rows.next().await {
        let r = r?;
        let user: i64 = r.get(7);
        let private: bool = r.get(19);
        let visible = !private || u64::try_from(user).is_ok_and(|u| reader.sees_private(u));
        let at: DateTime<Utc> = r.get(9);
        let n = |i: usize| r.get::<_, i64>(i).to_string();
        let n32 = |i: usize| r.get::<_, i32>(i).to_string();
        let fields: [String; 20] = [
            n(0),
            r.get(1),
            n(2),
            r.get::<_, Option<i64>>(3)
                .map(|p| p.to_string())
                .unwrap_or_default(),
            n(4),
            n32(5),
            inert(r.get(6)).into_owned(),
            if visible {
                user.to_string()
            } else {
                String::new()
            },
            if visible {
                inert(r.get(8)).into_owned()
            } else {
                PRIVATE_PARTICIPANT.to_owned()
            },
            at.to_rfc3339_opts(SecondsFormat::Secs, true),
            at.with_timezone(&tz)
                .to_rfc3339_opts(SecondsFormat::Secs, false),
            r.get::<_, bool>(10).to_string(),
            n(11),
            n(12),
            n(13),
            n(14),
            n32(15),
            n32(16),
            n32(17),
            n32(18),
        ];
        push_record(&mut buf, fields.iter().map(String::as_str));
        if buf.len() >= CHUNK {
            let chunk = std::mem::replace(&mut buf, String::with_capacity(CHUNK + 1024));
            if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                return Ok(()); // the client went away
            }
        }
    }
    if !buf.is_empty() {
        let _ = tx.send(Ok(Bytes::from(buf))).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_a_spreadsheet_would_run_is_made_inert() {
        assert_eq!(inert("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(inert("-30-"), "'-30-");
        assert_eq!(inert("@home"), "'@home");
        assert_eq!(inert("Lisboa = capital"), "Lisboa = capital");
    }

    #[test]
    fn fields_are_quoted_as_rfc_4180_says() {
        let mut out = String::new();
        push_record(
            &mut out,
            ["plain", "a,b", "say \"hi\"", "two\nlines", "Ελληνικά"],
        );
        assert_eq!(
            out,
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",Ελληνικά\r\n"
        );
    }
}
