//! Registrations from NATS clients: the durable `registrations` consumer on `CE_REGISTRATIONS`,
//! shared by every instance. Each command gets the same validation and transaction as the REST
//! route, then its change is published and applied, then it is acked. A malformed or invalid
//! command is terminated (`Term`) and recorded with its reason in `ce_rejected_commands`, never
//! retried forever; a database outage naks it for a later retry.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::PullConsumer, AckKind};
use campaign_events_actors::domain::{EventId, UserId};
use campaign_events_actors::{Change, ParticipantChange};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::db::participants::{self, Outcome, Refusal};
use crate::db::DbError;
use crate::http::Shared;

/// How far in the future a command's `at` may be (clock skew between publishers). A command
/// stamped later would shadow every real change until then.
const MAX_FUTURE_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// A registration command as clients publish it (CONTRACT.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Command {
    pub kind: Kind,
    pub event_id: u64,
    pub user_id: u64,
    #[serde(default)]
    pub private: bool,
    /// Unix milliseconds: when it happened.
    pub at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Registered,
    Unregistered,
}

/// Decodes a command: JSON when the header says so, MessagePack otherwise.
pub fn decode(payload: &[u8], json: bool) -> Result<Command, String> {
    if json {
        serde_json::from_slice(payload).map_err(|e| format!("malformed JSON command: {e}"))
    } else {
        rmp_serde::from_slice(payload).map_err(|e| format!("malformed MessagePack command: {e}"))
    }
}

/// What became of one message.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Ack,
    /// Invalid: terminate and record the reason.
    Reject(String),
    /// Try again later.
    Retry(String),
}

/// Runs the consumer until the task is dropped, re-creating its message stream after errors.
pub async fn consume(state: Shared) {
    loop {
        if let Err(e) = consume_once(&state).await {
            tracing::warn!(error = %format!("{e:#}"), "registration consumer stopped; restarting");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn consume_once(state: &Shared) -> anyhow::Result<()> {
    let consumer: PullConsumer = state
        .jetstream
        .get_consumer_from_stream(
            state.names.registrations_consumer(),
            state.names.registrations_stream(),
        )
        .await
        .context("cannot bind the registrations consumer")?;
    let max_deliver = crate::nats::REGISTRATIONS_MAX_DELIVER;
    let mut messages = consumer.messages().await?;
    while let Some(msg) = messages.next().await {
        let msg = msg.context("registration stream")?;
        handle(state, &msg, max_deliver).await;
    }
    Ok(())
}

async fn handle(state: &Shared, msg: &jetstream::Message, max_deliver: i64) {
    let (delivered, seq) = msg
        .info()
        .map(|i| (i.delivered, i.stream_sequence))
        .unwrap_or((1, 0));
    let json = msg
        .headers
        .as_ref()
        .and_then(|h| h.get("Content-Type"))
        .is_some_and(|v| v.as_str().starts_with("application/json"));
    let verdict = match decode(&msg.payload, json) {
        Err(reason) => Verdict::Reject(reason),
        Ok(cmd) => apply(state, &msg.subject, cmd).await,
    };
    let verdict = match verdict {
        Verdict::Retry(reason) if max_deliver > 0 && delivered >= max_deliver => {
            Verdict::Reject(format!("gave up after {delivered} deliveries: {reason}"))
        }
        v => v,
    };
    let ack = match &verdict {
        Verdict::Ack => AckKind::Ack,
        Verdict::Retry(reason) => {
            tracing::warn!(%reason, delivered, "registration command will be retried");
            AckKind::Nak(Some(Duration::from_secs(
                2u64.pow(delivered.clamp(1, 5) as u32),
            )))
        }
        Verdict::Reject(reason) => {
            tracing::warn!(subject = %msg.subject, %reason, "registration command rejected");
            match crate::db::record_rejected(&state.pool, &msg.subject, seq, reason, &msg.payload)
                .await
            {
                Ok(()) => AckKind::Term,
                // Without the record the rejection would be silent: keep the command.
                Err(e) => {
                    tracing::warn!(error = %e, "could not record a rejected command; retrying it");
                    AckKind::Nak(Some(Duration::from_secs(5)))
                }
            }
        }
    };
    if let Err(e) = msg.ack_with(ack).await {
        tracing::warn!(error = %e, "could not acknowledge a registration command");
    }
}

async fn apply(state: &Shared, subject: &str, cmd: Command) -> Verdict {
    let event = match EventId::new(cmd.event_id) {
        Ok(e) => e,
        Err(e) => return Verdict::Reject(format!("event_id {e}")),
    };
    let user = match UserId::new(cmd.user_id) {
        Ok(u) => u,
        Err(e) => return Verdict::Reject(format!("user_id {e}")),
    };
    if subject != state.names.registration_subject(cmd.event_id) {
        return Verdict::Reject(format!(
            "subject {subject} does not match event_id {}",
            cmd.event_id
        ));
    }
    let Some(at) = DateTime::<Utc>::from_timestamp_millis(cmd.at) else {
        return Verdict::Reject(format!("at {} is not a time", cmd.at));
    };
    let now = state.clock.now();
    if at > now + MAX_FUTURE_SKEW {
        return Verdict::Reject(format!("at {at} is in the future"));
    }
    // A publisher's clock a little ahead must not make the participant's later REST changes
    // look older than this command.
    let at = at.min(now);
    let result = match cmd.kind {
        Kind::Registered => {
            participants::register(&state.pool, event, user, cmd.private, at, now).await
        }
        Kind::Unregistered => participants::unregister(&state.pool, event, user, at).await,
    };
    match result {
        Err(DbError::Unavailable(e)) => Verdict::Retry(e),
        Err(e) => Verdict::Retry(e.to_string()),
        Ok(Outcome::Stale) => {
            tracing::debug!(%event, %user, "registration command older than the last change");
            Verdict::Ack
        }
        Ok(Outcome::Refused(r)) => Verdict::Reject(
            match r {
                Refusal::EventNotFound => "event-not-found",
                Refusal::EventDeleted => "event-deleted",
                Refusal::EventEnded => "event-past",
                Refusal::EventClosed => "event-not-open",
            }
            .to_owned(),
        ),
        Ok(Outcome::Applied {
            modified: _,
            version,
            active,
        }) => {
            // Published even when this delivery changed nothing: an earlier delivery may have
            // committed and then failed to publish (the process died, NATS was away), and the
            // other instances must still hear of it. The message id deduplicates.
            let row_exists = version > 0;
            if row_exists
                && !state
                    .commit_change(Change::Participant(ParticipantChange {
                        event_id: event,
                        user_id: user,
                        active,
                        version,
                    }))
                    .await
            {
                return Verdict::Retry("the change could not be published".into());
            }
            Verdict::Ack
        }
    }
}

/// Publishes one command, as `campaign-events publish-registration` does; returns the stream
/// sequence JetStream stored it at.
pub async fn publish(
    js: &jetstream::Context,
    names: &crate::nats::Names,
    cmd: &Command,
) -> anyhow::Result<u64> {
    let payload = rmp_serde::to_vec_named(cmd)?;
    let mut headers = async_nats::HeaderMap::new();
    let kind = match cmd.kind {
        Kind::Registered => "r",
        Kind::Unregistered => "u",
    };
    let id = format!("{}:{}:{kind}:{}", cmd.event_id, cmd.user_id, cmd.at);
    headers.insert("Nats-Msg-Id", id.as_str());
    let ack = js
        .publish_with_headers(
            names.registration_subject(cmd.event_id),
            headers,
            payload.into(),
        )
        .await?
        .await
        .context("JetStream did not acknowledge the command")?;
    Ok(ack.sequence)
}
