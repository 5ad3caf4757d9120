//! Registrations from NATS clients: the durable `registrations` consumer on `CE_REGISTRATIONS`,
//! shared by every instance. Each command gets the same validation and transaction as the REST
//! route, then its change is published and applied, then it is acked. A malformed or invalid
//! command is terminated (`Term`) and recorded with its reason in `ce_rejected_commands`, never
//! retried forever; a database outage naks it for a later retry.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::PullConsumer, AckKind};
use campaign_events_actors::domain::{EventId, UserId};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::infra::db::DbError;
use crate::registration::db::{self as participants, Outcome, Refusal};
use crate::registration::{Committed, Context, Unchanged};

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
    /// Failed in a way that may not pass (a statement the database refuses): try again later,
    /// and give up — reject and record — after `REGISTRATIONS_MAX_DELIVER` deliveries.
    Retry(String),
    /// A dependency is away (Postgres unreachable or its pool exhausted, the change not
    /// published): try again later, however long that takes. Giving up would terminate a valid
    /// command, or file one whose row is already committed as rejected.
    Wait(String),
}

/// Runs the consumer until the task is dropped, re-creating its message stream after errors.
pub async fn consume(state: std::sync::Arc<Context>) {
    crate::infra::retry::keep_running("the registration consumer", Duration::from_secs(1), || {
        consume_once(&state)
    })
    .await
}

async fn consume_once(state: &Context) -> anyhow::Result<()> {
    let consumer: PullConsumer = state
        .jetstream
        .get_consumer_from_stream(
            state.names.registrations_consumer(),
            state.names.registrations_stream(),
        )
        .await
        .context("cannot bind the registrations consumer")?;
    let max_deliver = crate::infra::nats::REGISTRATIONS_MAX_DELIVER;
    let limit = (state.pool.status().max_size / 2).clamp(1, MAX_IN_FLIGHT);
    // Pull no more than twice what is handled at once: a command that waits in this process's
    // buffer longer than ack_wait would be delivered again elsewhere meanwhile.
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(2 * limit)
        .messages()
        .await?;
    // Several commands at once: each waits mostly on its transaction's commit and the change's
    // publish ack. Order does not matter: the participant row (written even by an
    // unregistration that finds none) is locked by each command, and its change time decides
    // which command is newest (invariant 4) — as it must anyway with instances sharing the
    // consumer.
    // At most half the pool (`limit`, above), so that a burst of commands never starves REST
    // writes and the diff workers of connections.
    let mut in_flight = futures::stream::FuturesUnordered::new();
    let ended = loop {
        tokio::select! {
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            msg = messages.next(), if in_flight.len() < limit => match msg {
                Some(Ok(msg)) => {
                    in_flight.push(async move { handle(state, &msg, max_deliver).await });
                }
                Some(Err(e)) => break Err(anyhow::Error::new(e).context("registration stream")),
                None => break Ok(()),
            },
        }
    };
    // Commands already taken are finished (committed and acked) before the stream is re-made.
    while in_flight.next().await.is_some() {}
    ended
}

/// Most commands one instance handles at once.
const MAX_IN_FLIGHT: usize = 16;

/// Whether a command's headers say its payload is JSON. Header names are matched without
/// regard to case, as HTTP's are: NATS clients keep whatever case their caller wrote.
fn declares_json(headers: &async_nats::HeaderMap) -> bool {
    headers.iter().any(|(name, values)| {
        AsRef::<str>::as_ref(name).eq_ignore_ascii_case("content-type")
            && values.iter().any(|v| {
                v.as_str()
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            })
    })
}

async fn handle(state: &Context, msg: &jetstream::Message, max_deliver: i64) {
    let (delivered, seq) = msg
        .info()
        .map(|i| (i.delivered, i.stream_sequence))
        .unwrap_or((1, 0));
    let json = msg.headers.as_ref().is_some_and(declares_json);
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
        Verdict::Retry(reason) | Verdict::Wait(reason) => {
            tracing::warn!(%reason, delivered, "registration command will be retried");
            AckKind::Nak(Some(crate::infra::retry::backoff(
                Duration::from_secs(2),
                Duration::from_secs(32),
                delivered,
            )))
        }
        Verdict::Reject(reason) => {
            tracing::warn!(subject = %msg.subject, %reason, "registration command rejected");
            match crate::infra::db::record_rejected(
                &state.pool,
                &msg.subject,
                seq,
                reason,
                &msg.payload,
            )
            .await
            {
                Ok(()) => AckKind::Term,
                // Without the record the rejection would be silent: keep the command until
                // the database is back.
                Err(DbError::Unavailable(e)) => {
                    tracing::warn!(error = %e, "could not record a rejected command; retrying it");
                    AckKind::Nak(Some(Duration::from_secs(5)))
                }
                // The database refuses the record itself: retrying cannot help, and must not
                // go on forever. The log is the record of last resort.
                Err(e) => {
                    tracing::error!(
                        subject = %msg.subject,
                        seq,
                        %reason,
                        error = %e,
                        payload = %String::from_utf8_lossy(&msg.payload).escape_debug(),
                        "rejected command could not be recorded; terminated"
                    );
                    AckKind::Term
                }
            }
        }
    };
    if let Err(e) = msg.ack_with(ack).await {
        tracing::warn!(error = %e, "could not acknowledge a registration command");
    }
}

async fn apply(state: &Context, subject: &str, cmd: Command) -> Verdict {
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
    // Years 0001–9999, as everywhere in this service: Postgres would refuse some others (and
    // a refusal reads as a database error, retried for minutes), and none is a real change.
    let Some(at) = DateTime::<Utc>::from_timestamp_millis(cmd.at)
        .filter(|t| (1..=9999).contains(&chrono::Datelike::year(t)))
    else {
        return Verdict::Reject(format!(
            "at {} is not a time in the years 0001–9999 (unix milliseconds)",
            cmd.at
        ));
    };
    let now = state.clock.now();
    if at > now + MAX_FUTURE_SKEW {
        return Verdict::Reject(format!("at {at} is in the future"));
    }
    // A publisher's clock a little ahead must not make the participant's later REST changes
    // (stamped with this service's clock) look older than this command. The price: while a
    // publisher's clock runs ahead, its commands in that stretch are ordered by when they are
    // handled — with NTP, a matter of milliseconds.
    let at = at.min(now);
    // Published even when this delivery changed nothing (`Unchanged::Republish`): an earlier
    // delivery may have committed and then failed to publish.
    let result = match cmd.kind {
        Kind::Registered => {
            // The command says whether the registration is private (absent: public); the
            // post-edit prompt is the participant's own choice and stays as it is.
            let choices = participants::Choices {
                private: Some(cmd.private),
                hide_prompt: None,
            };
            state
                .register(event, user, choices, (at, now), Unchanged::Republish)
                .await
        }
        Kind::Unregistered => {
            state
                .unregister(event, user, at, Unchanged::Republish)
                .await
        }
    };
    match result {
        Err(DbError::Unavailable(e)) => Verdict::Wait(e),
        Err(e) => Verdict::Retry(e.to_string()),
        Ok(Committed {
            outcome: Outcome::Stale,
            ..
        }) => {
            tracing::debug!(%event, %user, "registration command older than the last change");
            Verdict::Ack
        }
        Ok(Committed {
            outcome: Outcome::Refused(r),
            ..
        }) => Verdict::Reject(
            match r {
                Refusal::EventNotFound => "event-not-found",
                Refusal::EventDeleted => "event-deleted",
                Refusal::EventEnded => "event-past",
                Refusal::EventClosed => "event-not-open",
            }
            .to_owned(),
        ),
        Ok(Committed {
            outcome: Outcome::Applied { .. },
            published: false,
        }) => Verdict::Wait("the change could not be published".into()),
        Ok(Committed {
            outcome: Outcome::Applied { .. },
            published: true,
        }) => Verdict::Ack,
    }
}

/// Publishes one command, as `campaign-events publish-registration` does; returns the stream
/// sequence JetStream stored it at.
pub async fn publish(
    js: &jetstream::Context,
    names: &crate::infra::nats::Names,
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

/// Waits until the service has handled the command published at `seq` (the work-queue stream
/// no longer holds it), then says what became of it, from the database: rejected (with the
/// recorded reason), applied, or changed nothing (the participant's last change is newer).
pub async fn outcome(
    js: &jetstream::Context,
    names: &crate::infra::nats::Names,
    database_url: &str,
    cmd: &Command,
    seq: u64,
) -> anyhow::Result<String> {
    let stream = js
        .get_stream(names.registrations_stream())
        .await
        .context("cannot read the registrations stream")?;
    while stream.get_raw_message(seq).await.is_ok() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let config: tokio_postgres::Config = database_url
        .parse()
        .context("DATABASE_URL is not a valid Postgres URL")?;
    let db = crate::infra::db::connect(&config).await?;
    let subject = names.registration_subject(cmd.event_id);
    if let Some(row) = db
        .query_opt(
            "SELECT reason FROM ce_rejected_commands WHERE subject = $1 AND stream_seq = $2",
            &[&subject, &(seq as i64)],
        )
        .await?
    {
        return Ok(format!("rejected: {}", row.get::<_, String>(0)));
    }
    let row = db
        .query_opt(
            "SELECT unregistered_at IS NULL, last_change_at FROM ce_participants \
             WHERE event_id = $1 AND user_id = $2",
            &[&(cmd.event_id as i64), &(cmd.user_id as i64)],
        )
        .await?;
    let at = DateTime::<Utc>::from_timestamp_millis(cmd.at);
    Ok(match row {
        Some(r) if Some(r.get::<_, DateTime<Utc>>(1)) == at => {
            let active: bool = r.get(0);
            format!(
                "applied: user {} is {} for event {}",
                cmd.user_id,
                if active {
                    "registered"
                } else {
                    "not registered"
                },
                cmd.event_id
            )
        }
        _ => "changed nothing: the participant's last change is newer".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::declares_json;

    #[test]
    fn content_type_is_found_in_any_case() {
        for (name, value, json) in [
            ("Content-Type", "application/json", true),
            ("content-type", "application/json", true),
            ("CONTENT-TYPE", "Application/JSON; charset=utf-8", true),
            ("Content-Type", "application/msgpack", false),
            ("X-Other", "application/json", false),
        ] {
            let mut h = async_nats::HeaderMap::new();
            h.insert(name, value);
            assert_eq!(declares_json(&h), json, "{name}: {value}");
        }
        assert!(!declares_json(&async_nats::HeaderMap::new()));
    }
}
