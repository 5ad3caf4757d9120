//! NATS JetStream: the connection, and the three streams with their durable consumers
//! (CONTRACT.md "NATS"). Every name and subject carries `STREAM_PREFIX`.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer, stream};

/// Streams and consumer names, with the configured prefix applied once, here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    prefix: String,
    /// How long a diff worker may hold a job before JetStream delivers it again (a worker that
    /// died holding it is noticed after this long).
    edits_ack_wait: Duration,
    /// Copies of each stream a JetStream cluster keeps; `None`: 1 for a new stream, and an
    /// existing stream keeps what it has (an instance started without the setting must not
    /// scale a replicated stream down).
    replicas: Option<usize>,
}

/// What `ensure_streams` found for one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    Created,
    Unchanged,
    /// It existed with different limits or subjects and was brought in line.
    Updated,
}

/// How long JetStream remembers a `Nats-Msg-Id` to drop a re-publish of the same edit. The
/// contract asks for at least ten minutes; a frontend retrying after a network blip is covered
/// many times over.
pub const EDITS_DUPLICATE_WINDOW: Duration = Duration::from_secs(20 * 60);

/// The change log is replayed from a snapshot at warm-up; a week covers any restart.
pub const CHANGES_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Registration commands are deduplicated by their publisher's `Nats-Msg-Id` in this window.
pub const REGISTRATIONS_DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// After this many deliveries a job that still fails transiently is dead-lettered by the
/// worker. The consumer itself redelivers without limit: were the server to stop at a limit, a
/// job whose last delivery could not be recorded (Postgres down, worker killed) would be
/// stranded — neither a row nor a dead letter. The decision stays with the code that records.
pub const EDITS_MAX_DELIVER: i64 = 10;

/// The same for registration commands: after this many deliveries a command that still fails
/// is rejected and recorded.
pub const REGISTRATIONS_MAX_DELIVER: i64 = 20;

impl Names {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            edits_ack_wait: Duration::from_secs(60),
            replicas: None,
        }
    }

    /// Stream replicas in a JetStream cluster (3 in production; a single server takes only 1).
    pub fn with_replicas(mut self, replicas: usize) -> Self {
        self.replicas = Some(replicas.clamp(1, 5));
        self
    }

    pub fn with_edits_ack_wait(mut self, wait: Duration) -> Self {
        self.edits_ack_wait = wait.max(Duration::from_secs(1));
        self
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn registrations_stream(&self) -> String {
        format!("{}CE_REGISTRATIONS", self.prefix)
    }
    pub fn changes_stream(&self) -> String {
        format!("{}CE_CHANGES", self.prefix)
    }
    pub fn edits_stream(&self) -> String {
        format!("{}CE_EDITS", self.prefix)
    }
    pub fn registrations_consumer(&self) -> String {
        format!("{}registrations", self.prefix)
    }
    pub fn diff_workers_consumer(&self) -> String {
        format!("{}diff-workers", self.prefix)
    }

    /// `{prefix}campaignevents.{kind}.>`: the subjects of one stream.
    fn subjects(&self, kind: &str) -> String {
        format!("{}campaignevents.{kind}.>", self.prefix)
    }

    /// Where clients publish a registration command for `event_id`.
    pub fn registration_subject(&self, event_id: u64) -> String {
        format!("{}campaignevents.registrations.{event_id}", self.prefix)
    }

    /// Where the service publishes a committed change (`participant.{event}` and the like).
    pub fn change_subject(&self, suffix: &str) -> String {
        format!("{}campaignevents.changes.{suffix}", self.prefix)
    }

    /// Where the gateway publishes the association job of an edit on `wiki_id`.
    pub fn edit_subject(&self, wiki_id: &str) -> String {
        format!("{}campaignevents.edits.{wiki_id}", self.prefix)
    }

    /// The desired configuration of each stream.
    pub fn stream_configs(&self) -> [stream::Config; 3] {
        let mut configs = [
            stream::Config {
                name: self.registrations_stream(),
                subjects: vec![self.subjects("registrations")],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                duplicate_window: REGISTRATIONS_DUPLICATE_WINDOW,
                // A command is small; this bounds what a misbehaving client can push.
                max_message_size: 4 * 1024,
                ..Default::default()
            },
            stream::Config {
                name: self.changes_stream(),
                subjects: vec![self.subjects("changes")],
                retention: stream::RetentionPolicy::Limits,
                storage: stream::StorageType::File,
                max_age: CHANGES_MAX_AGE,
                // Set explicitly so that "is it as configured?" compares like with like (the
                // server would otherwise fill in its own default).
                duplicate_window: Duration::from_secs(120),
                max_message_size: 64 * 1024,
                ..Default::default()
            },
            stream::Config {
                name: self.edits_stream(),
                subjects: vec![self.subjects("edits")],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                duplicate_window: EDITS_DUPLICATE_WINDOW,
                max_message_size: 8 * 1024,
                ..Default::default()
            },
        ];
        for config in &mut configs {
            config.num_replicas = self.replicas.unwrap_or(1);
        }
        configs
    }

    /// The durable pull consumers shared by every instance, with the stream each reads.
    pub fn consumer_configs(&self) -> [(String, consumer::pull::Config); 2] {
        [
            (
                self.registrations_stream(),
                consumer::pull::Config {
                    durable_name: Some(self.registrations_consumer()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(30),
                    max_deliver: -1,
                    ..Default::default()
                },
            ),
            (
                self.edits_stream(),
                consumer::pull::Config {
                    durable_name: Some(self.diff_workers_consumer()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: self.edits_ack_wait,
                    max_deliver: -1,
                    ..Default::default()
                },
            ),
        ]
    }
}

/// Connects to NATS. The client reconnects by itself, forever, once connected; the first
/// connection must succeed, so that a wrong `NATS_URL` fails the start loudly.
///
/// Credentials may ride in the URL (`nats://service:secret@host:4222`, percent-encoded as in
/// any URL), since the shipped server configuration requires a user: async-nats 0.51 parses
/// them but does not send them, so they are taken out here and given as user and password.
/// Neither they nor the URL carrying them reach an error message or a log line.
pub async fn connect(url: &str) -> anyhow::Result<async_nats::Client> {
    let (addr, credentials) = split_credentials(url)?;
    let shown = addr.as_url_str().to_owned();
    let mut options = async_nats::ConnectOptions::new();
    if let Some((user, password)) = credentials {
        options = options.user_and_password(user, password);
    }
    options
        .name("campaign-events")
        .connection_timeout(Duration::from_secs(5))
        .event_callback(|event| async move {
            match event {
                async_nats::Event::Disconnected => tracing::warn!("NATS disconnected"),
                async_nats::Event::Connected => tracing::info!("NATS connected"),
                other => tracing::debug!(event = %other, "NATS event"),
            }
        })
        .connect(addr)
        .await
        .with_context(|| format!("cannot connect to NATS at {shown}"))
}

/// The server's address without user information, and the user and password (decoded) if
/// the URL had them.
fn split_credentials(
    url: &str,
) -> anyhow::Result<(async_nats::ServerAddr, Option<(String, String)>)> {
    // The parse error would quote the URL, credentials and all.
    let addr: async_nats::ServerAddr = url.parse().map_err(|_| {
        anyhow::anyhow!("NATS_URL is not a NATS server URL (nats://[user:password@]host:port)")
    })?;
    if !addr.has_user_pass() {
        return Ok((addr, None));
    }
    let mut bare = addr.into_inner();
    let user = percent_decode(bare.username())?;
    let password = percent_decode(bare.password().unwrap_or_default())?;
    // Only fails for URLs that cannot have a user (no host), which parsed above.
    let _ = bare.set_username("");
    let _ = bare.set_password(None);
    let addr = async_nats::ServerAddr::from_url(bare)
        .map_err(|_| anyhow::anyhow!("NATS_URL is not a NATS server URL"))?;
    Ok((addr, Some((user, password))))
}

/// `%XX` escapes back to bytes (a URL's user and password are kept escaped).
fn percent_decode(s: &str) -> anyhow::Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    anyhow::anyhow!("NATS_URL: a bad %-escape in the user or password")
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).context("NATS_URL: the user or password is not UTF-8")
}

/// A JetStream context with a request timeout short enough for a request path to answer 503
/// quickly when NATS is away.
pub fn jetstream(client: async_nats::Client) -> jetstream::Context {
    let mut js = jetstream::new(client);
    js.set_timeout(Duration::from_secs(5));
    js
}

/// Creates each stream if missing and brings an existing one in line with the desired config.
/// A stream created with another retention policy cannot be converted: that is an error an
/// operator must resolve, reported with the stream's name.
pub async fn ensure_streams(
    js: &jetstream::Context,
    names: &Names,
) -> anyhow::Result<Vec<(String, StreamState)>> {
    let mut states = Vec::new();
    for mut desired in names.stream_configs() {
        let name = desired.name.clone();
        let state = match js.get_stream(&name).await {
            Ok(mut existing) => {
                let info = existing
                    .info()
                    .await
                    .with_context(|| format!("cannot read stream {name}"))?;
                let have = &info.config;
                if names.replicas.is_none() {
                    desired.num_replicas = have.num_replicas;
                }
                if have.retention != desired.retention {
                    anyhow::bail!(
                        "stream {name} exists with retention {:?}, expected {:?}; \
                         delete it or choose another STREAM_PREFIX",
                        have.retention,
                        desired.retention
                    );
                }
                if have.subjects == desired.subjects
                    && have.duplicate_window == desired.duplicate_window
                    && have.max_age == desired.max_age
                    && have.max_message_size == desired.max_message_size
                    && have.num_replicas == desired.num_replicas
                {
                    StreamState::Unchanged
                } else {
                    js.update_stream(&desired)
                        .await
                        .with_context(|| format!("cannot update stream {name}"))?;
                    StreamState::Updated
                }
            }
            Err(e) if is_stream_not_found(&e) => {
                js.create_stream(desired)
                    .await
                    .with_context(|| format!("cannot create stream {name}"))?;
                StreamState::Created
            }
            Err(e) => {
                return Err(anyhow::anyhow!(e))
                    .with_context(|| format!("cannot look up stream {name} (is JetStream on?)"))
            }
        };
        tracing::info!(stream = %name, ?state, "stream ready");
        states.push((name, state));
    }
    for (stream_name, config) in names.consumer_configs() {
        js.create_consumer_on_stream(config, &stream_name)
            .await
            .with_context(|| format!("cannot create the durable consumer on {stream_name}"))?;
    }
    Ok(states)
}

fn is_stream_not_found(e: &jetstream::context::GetStreamError) -> bool {
    matches!(
        e.kind(),
        jetstream::context::GetStreamErrorKind::JetStream(inner)
            if inner.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

/// The diff workers' backlog: jobs not yet delivered (`pending`) and delivered but not yet
/// acknowledged (`ack_pending`), as the `diff-workers` consumer reports them.
pub async fn edits_backlog(js: &jetstream::Context, names: &Names) -> anyhow::Result<(u64, u64)> {
    // Looking the consumer up returns its current info: one request, not two.
    let consumer: jetstream::consumer::PullConsumer = js
        .get_consumer_from_stream(names.diff_workers_consumer(), names.edits_stream())
        .await?;
    let info = consumer.cached_info();
    Ok((info.num_pending, info.num_ack_pending as u64))
}

#[cfg(test)]
mod tests {
    use super::{split_credentials, Names};

    #[test]
    fn credentials_in_the_url_are_taken_out_and_decoded() {
        let (addr, creds) = split_credentials("nats://service:p%40ss%3Aw%2Fd@nats:4222").unwrap();
        assert_eq!(creds, Some(("service".to_owned(), "p@ss:w/d".to_owned())));
        assert!(!addr.has_user_pass());
        assert!(
            !addr.as_url_str().contains("p%40ss"),
            "{}",
            addr.as_url_str()
        );
        assert_eq!((addr.host(), addr.port()), ("nats", 4222));

        let (addr, creds) = split_credentials("nats://127.0.0.1:4222").unwrap();
        assert_eq!(creds, None);
        assert_eq!(addr.port(), 4222);

        let err = split_credentials("nats://u:s3cret%zz@h:1")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
        let err = split_credentials("ftp://u:s3cret@h:1")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn every_stream_gets_the_configured_replicas() {
        for (asked, kept) in [(1, 1), (3, 3), (0, 1), (9, 5)] {
            let names = Names::new("p_").with_replicas(asked);
            for config in names.stream_configs() {
                assert_eq!(config.num_replicas, kept, "{}", config.name);
                assert!(config.name.starts_with("p_"));
            }
        }
    }
}
