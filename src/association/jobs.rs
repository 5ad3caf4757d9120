//! Association jobs on `CE_EDITS`: what the gateway publishes and the diff workers consume.
//! MessagePack with named fields; the JetStream message id is the edit's stable key
//! `"{wiki_id}:{revision_id}"` (invariant 6), so a re-publish inside the duplicate window is
//! dropped by the server.

use anyhow::Context as _;
use async_nats::jetstream;
use campaign_events_actors::domain::{EventId, RevisionId, UserId, WikiId};
use serde::{Deserialize, Serialize};

use crate::infra::nats::Names;

/// One association to measure (CONTRACT.md "Association job").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub revision_id: u64,
    pub wiki_id: String,
    pub event_id: u64,
    pub user_id: u64,
    pub user_name: String,
    /// Unix milliseconds.
    pub requested_at: i64,
    /// As the frontend sent it.
    pub client_timestamp: String,
}

/// A job whose fields passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidJob {
    pub revision: RevisionId,
    pub wiki: WikiId,
    pub event: EventId,
    pub user: UserId,
    pub user_name: String,
    pub job: Job,
}

impl Job {
    /// The edit's stable key, also the JetStream message id.
    pub fn key(&self) -> String {
        format!("{}:{}", self.wiki_id, self.revision_id)
    }

    pub fn validate(self) -> Result<ValidJob, String> {
        Ok(ValidJob {
            revision: RevisionId::new(self.revision_id).map_err(|e| format!("revision_id {e}"))?,
            wiki: WikiId::parse(&self.wiki_id).map_err(|e| format!("wiki_id {e}"))?,
            event: EventId::new(self.event_id).map_err(|e| format!("event_id {e}"))?,
            user: UserId::new(self.user_id).map_err(|e| format!("user_id {e}"))?,
            user_name: if self.user_name.trim().is_empty() {
                return Err("user_name is empty".into());
            } else {
                self.user_name.clone()
            },
            job: self,
        })
    }
}

/// What JetStream said about a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// Stored at this stream sequence.
    Queued(u64),
    /// A message with the same id is in the duplicate window; its sequence.
    Duplicate(u64),
}

/// Publishes a job under `message_id` and waits for JetStream's ack: only then is the job
/// durable and may the gateway answer 202.
pub async fn publish(
    js: &jetstream::Context,
    names: &Names,
    job: &Job,
    message_id: &str,
) -> anyhow::Result<Published> {
    let payload = rmp_serde::to_vec_named(job).context("encoding a job")?;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", message_id);
    let ack = js
        .publish_with_headers(names.edit_subject(&job.wiki_id), headers, payload.into())
        .await
        .context("publishing a job")?
        .await
        .context("JetStream did not acknowledge the job")?;
    Ok(if ack.duplicate {
        Published::Duplicate(ack.sequence)
    } else {
        Published::Queued(ack.sequence)
    })
}

/// Reads the job stored at `sequence` (to learn which event and user a duplicate was for);
/// `None` once it has been processed (a work-queue stream deletes acknowledged messages).
/// Any other failure is an error: taking it for "processed" would queue a second job for an
/// edit whose first is still pending.
pub async fn stored(
    js: &jetstream::Context,
    names: &Names,
    sequence: u64,
) -> anyhow::Result<Option<Job>> {
    use jetstream::stream::RawMessageErrorKind;
    // No stream info: that request makes the server compute the stream's state, and a
    // frontend retrying an association would pay for it each time.
    let stream = js.get_stream_no_info(names.edits_stream()).await?;
    match stream.get_raw_message(sequence).await {
        Ok(msg) => Ok(Some(
            rmp_serde::from_slice(&msg.payload).context("a queued job that does not decode")?,
        )),
        Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}
