//! The change log on `CE_CHANGES`: every committed participant or event change is published
//! here, and every instance follows the stream to keep its cache coherent with the others.
//! Messages are MessagePack with named fields; each carries the version the database gave it,
//! so duplicates and reorderings are harmless (invariant 4).

use std::sync::Arc;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer};
use campaign_events_actors::domain::{
    EventFacts, EventId, EventName, EventStatus, EventTimezone, EventWindow, UserId, WikiSelection,
};
use campaign_events_actors::{Cache, Change, ParticipantChange};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::infra::nats::Names;

/// The wire form of a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeMessage {
    Participant {
        event_id: u64,
        user_id: u64,
        active: bool,
        version: i64,
        /// The participant hid the post-edit prompt for this event. Absent in messages of
        /// older instances: false.
        #[serde(default)]
        prompt_hidden: bool,
    },
    Event {
        event_id: u64,
        name: String,
        /// Unix microseconds (what Postgres stores).
        start: i64,
        end: i64,
        timezone: String,
        /// Wiki ids, or `["*all*"]`.
        wikis: Vec<String>,
        track_contributions: bool,
        status: EventStatus,
        deleted: bool,
        version: i64,
    },
    /// A contribution was stored for this event: its summary changed. Not a cache change;
    /// gateways drop their rendered summary.
    Contribution {
        event_id: u64,
        #[serde(default)]
        wiki_id: String,
        #[serde(default)]
        revision_id: u64,
    },
}

impl ChangeMessage {
    pub fn from_change(change: &Change) -> Self {
        match change {
            Change::Participant(p) => ChangeMessage::Participant {
                event_id: p.event_id.get(),
                user_id: p.user_id.get(),
                active: p.active,
                version: p.version,
                prompt_hidden: p.prompt_hidden,
            },
            Change::Event(f) => ChangeMessage::Event {
                event_id: f.id.get(),
                name: f.name.to_string(),
                start: f.window.start().timestamp_micros(),
                end: f.window.end().timestamp_micros(),
                timezone: f.timezone.as_str().to_owned(),
                wikis: f.wikis.to_wire(),
                track_contributions: f.track_contributions,
                status: f.status,
                deleted: f.deleted,
                version: f.version,
            },
        }
    }

    /// Back to a domain change, validating as any input is validated.
    pub fn into_change(self) -> Result<Change, String> {
        match self {
            ChangeMessage::Participant {
                event_id,
                user_id,
                active,
                version,
                prompt_hidden,
            } => Ok(Change::Participant(ParticipantChange {
                event_id: EventId::new(event_id).map_err(|e| format!("event_id {e}"))?,
                user_id: UserId::new(user_id).map_err(|e| format!("user_id {e}"))?,
                active,
                version,
                prompt_hidden,
            })),
            ChangeMessage::Contribution { event_id, .. } => Err(format!(
                "a contribution notice (event {event_id}) is not a cache change"
            )),
            ChangeMessage::Event {
                event_id,
                name,
                start,
                end,
                timezone,
                wikis,
                track_contributions,
                status,
                deleted,
                version,
            } => {
                let time = |us: i64| {
                    DateTime::<Utc>::from_timestamp_micros(us)
                        .ok_or_else(|| format!("bad time {us}"))
                };
                Ok(Change::Event(EventFacts {
                    id: EventId::new(event_id).map_err(|e| format!("event_id {e}"))?,
                    name: EventName::parse(&name)?,
                    window: EventWindow::new(time(start)?, time(end)?)?,
                    timezone: EventTimezone::parse(&timezone)?,
                    wikis: WikiSelection::parse(&wikis, |_| true)?,
                    track_contributions,
                    status,
                    deleted,
                    version,
                }))
            }
        }
    }

    fn subject(&self, names: &Names) -> String {
        match self {
            ChangeMessage::Participant { event_id, .. } => {
                names.change_subject(&format!("participant.{event_id}"))
            }
            ChangeMessage::Event { event_id, .. } => {
                names.change_subject(&format!("event.{event_id}"))
            }
            ChangeMessage::Contribution { event_id, .. } => {
                names.change_subject(&format!("contribution.{event_id}"))
            }
        }
    }

    fn message_id(&self) -> String {
        match self {
            ChangeMessage::Participant {
                event_id,
                user_id,
                version,
                ..
            } => format!("p:{event_id}:{user_id}:{version}"),
            ChangeMessage::Event {
                event_id, version, ..
            } => format!("e:{event_id}:{version}"),
            // Notices are not deduplicated: each stored row is news.
            ChangeMessage::Contribution { .. } => String::new(),
        }
    }
}

/// Hands a committed change to every instance's cache: the one way a writer (an event route,
/// a registration from REST or from a NATS command) tells the caches what it committed.
#[derive(Clone)]
pub struct Publisher {
    nats: async_nats::Client,
    jetstream: jetstream::Context,
    names: Names,
    cache: Arc<Cache>,
}

impl Publisher {
    pub fn new(
        nats: async_nats::Client,
        jetstream: jetstream::Context,
        names: Names,
        cache: Arc<Cache>,
    ) -> Self {
        Self {
            nats,
            jetstream,
            names,
            cache,
        }
    }

    /// After a database commit: publish the change for the other instances, then apply it to
    /// the local cache at once. A publish that fails (NATS down) is logged and the local cache
    /// is still updated; the other instances' sweeps reconcile.
    /// Returns whether the publish succeeded, for callers that can retry (a NATS command).
    pub async fn commit(&self, change: Change) -> bool {
        // Not connected: do not make the caller wait out a publish timeout.
        let connected = matches!(
            self.nats.connection_state(),
            async_nats::connection::State::Connected
        );
        let attempt = async {
            if connected {
                publish(&self.jetstream, &self.names, &change).await
            } else {
                Err(anyhow::anyhow!("NATS is not connected"))
            }
        };
        let published = match attempt.await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "could not publish a change; applied locally");
                false
            }
        };
        self.cache.apply(change).await;
        published
    }
}

/// Publishes a committed change and waits for JetStream's ack.
pub async fn publish(
    js: &jetstream::Context,
    names: &Names,
    change: &Change,
) -> anyhow::Result<()> {
    publish_message(js, names, &ChangeMessage::from_change(change)).await
}

/// Publishes any change-stream message and waits for the ack.
pub async fn publish_message(
    js: &jetstream::Context,
    names: &Names,
    msg: &ChangeMessage,
) -> anyhow::Result<()> {
    let payload = rmp_serde::to_vec_named(msg).context("encoding a change")?;
    let mut headers = async_nats::HeaderMap::new();
    let id = msg.message_id();
    if !id.is_empty() {
        headers.insert("Nats-Msg-Id", id.as_str());
    }
    js.publish_with_headers(msg.subject(names), headers, payload.into())
        .await
        .context("publishing a change")?
        .await
        .context("JetStream did not acknowledge a change")?;
    Ok(())
}

/// Tells every instance that `event`'s stored contributions changed — a row stored or removed
/// (`edit`: its wiki and revision, which gateways add to their filter of associated edits) or
/// rows re-checked (`None`) — so that they drop its summary. Acked, but best effort: summaries
/// also expire by themselves, so a failure is logged, not returned.
pub async fn announce_contributions(
    js: &jetstream::Context,
    names: &Names,
    event: EventId,
    edit: Option<(&str, u64)>,
) {
    let (wiki_id, revision_id) = edit.map_or((String::new(), 0), |(w, r)| (w.to_owned(), r));
    let notice = ChangeMessage::Contribution {
        event_id: event.get(),
        wiki_id,
        revision_id,
    };
    if let Err(e) = publish_message(js, names, &notice).await {
        tracing::warn!(event_id = %event, error = %format!("{e:#}"), "contribution notice not published");
    }
}

/// The last sequence of `CE_CHANGES`: warm-up reads the database after noting it, then
/// follows the stream from the next one, so no change falls between snapshot and log.
pub async fn last_sequence(js: &jetstream::Context, names: &Names) -> anyhow::Result<u64> {
    let mut stream = js.get_stream(names.changes_stream()).await?;
    Ok(stream.info().await?.state.last_sequence)
}

/// Called with `(event, wiki, revision)` when a contribution notice arrives.
pub type OnContribution = Arc<dyn Fn(EventId, &str, u64) + Send + Sync>;

/// Follows `CE_CHANGES` from `from_sequence` with an ordered consumer (it recreates itself on
/// gaps and reconnects), applying each change to the cache, until the task is dropped.
pub async fn follow(
    js: jetstream::Context,
    names: Names,
    cache: Arc<Cache>,
    on_contribution: OnContribution,
    position: &mut u64,
    shared_position: &std::sync::atomic::AtomicU64,
) -> anyhow::Result<()> {
    let from_sequence = *position;
    let stream = js.get_stream(names.changes_stream()).await?;
    let consumer = stream
        .create_consumer(consumer::push::OrderedConfig {
            deliver_subject: js.client().new_inbox(),
            filter_subject: names.change_subject(">"),
            deliver_policy: if from_sequence <= 1 {
                consumer::DeliverPolicy::All
            } else {
                consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: from_sequence,
                }
            },
            ..Default::default()
        })
        .await
        .context("cannot follow the change stream")?;
    let mut messages = consumer.messages().await?;
    while let Some(msg) = messages.next().await {
        // The ordered consumer recovers from gaps and reconnects by itself; an error here is
        // terminal for this stream (polling it again would panic inside async-nats), so the
        // caller starts a new one from where this one stopped.
        let msg = msg.context("change stream interrupted")?;
        let next = msg.info().map(|i| i.stream_sequence + 1).ok();
        let decoded = rmp_serde::from_slice::<ChangeMessage>(&msg.payload);
        if let Ok(ChangeMessage::Contribution {
            event_id,
            wiki_id,
            revision_id,
        }) = &decoded
        {
            if let Ok(e) = EventId::new(*event_id) {
                on_contribution(e, wiki_id, *revision_id);
            }
            if let Some(next) = next {
                *position = next;
                shared_position.store(next, std::sync::atomic::Ordering::Release);
            }
            continue;
        }
        match decoded
            .map_err(|e| e.to_string())
            .and_then(ChangeMessage::into_change)
        {
            Ok(change) => cache.apply(change).await,
            Err(e) => {
                tracing::error!(subject = %msg.subject, error = %e, "undecodable change skipped")
            }
        }
        if let Some(next) = next {
            *position = next;
            shared_position.store(next, std::sync::atomic::Ordering::Release);
        }
    }
    Ok(())
}
