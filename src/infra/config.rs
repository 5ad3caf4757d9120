//! Configuration: every setting is a command-line flag with an environment variable behind it
//! and a default that works on a machine where Postgres and NATS run locally (CONTRACT.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// The dev secret used when no key is configured. Tokens signed with it are worthless outside
/// a developer's machine, which is why the service warns loudly when it listens beyond loopback.
pub const DEV_JWT_SECRET: &str = "campaign-events-dev-secret-do-not-use-in-production";

/// Where reads of "ongoing events" are answered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CacheMode {
    /// From the per-user actors: no query.
    Actors,
    /// From Postgres on every request: the baseline the cache is measured against.
    Db,
}

/// Settings shared by every subcommand that talks to the database or NATS.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Postgres connection URL; the database is created if it does not exist.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/campaign_events"
    )]
    pub database_url: String,

    /// NATS server URL (JetStream must be enabled), with the service user's credentials when
    /// the server requires them: `nats://service:PASSWORD@host:4222` (percent-encoded). Its
    /// value is kept out of `--help`.
    #[arg(
        long,
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        hide_env_values = true
    )]
    pub nats_url: String,

    /// Prefix of every stream name, durable consumer name and subject, so tests and tenants
    /// sharing one NATS server never collide. Letters, digits, '_' and '-' only.
    #[arg(long, env = "STREAM_PREFIX", default_value = "", value_parser = parse_stream_prefix)]
    pub stream_prefix: String,

    /// The wikis this service knows, as a TOML table `[wikis]` of `wiki_id = "https://…/w/api.php"`.
    /// Defaults to `wikis.toml` when that file exists.
    #[arg(long, env = "WIKIS_FILE")]
    pub wikis_file: Option<PathBuf>,

    /// Copies JetStream keeps of each stream: 3 on a three-node cluster, 1 on a single server.
    /// When set, applied to existing streams at start too; when not, new streams get 1 and
    /// existing ones keep theirs.
    #[arg(long, env = "NATS_STREAM_REPLICAS", value_parser = clap::value_parser!(u16).range(1..=5))]
    pub nats_stream_replicas: Option<u16>,

    /// Largest number of pooled Postgres connections.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 16)]
    pub database_pool_size: usize,
}

/// Settings of the token verifier; `token` also uses the HS256 secret to sign.
#[derive(Debug, Clone, Args)]
pub struct AuthSettings {
    /// Shared secret for HS256 tokens. Without it (and without an RS256 key) a dev secret is used.
    #[arg(long, env = "JWT_HS256_SECRET", hide_env_values = true)]
    pub jwt_hs256_secret: Option<String>,

    /// PEM file with the RS256 public key that verifies tokens from an identity provider.
    #[arg(long, env = "JWT_RS256_PUBLIC_KEY_FILE")]
    pub jwt_rs256_public_key_file: Option<PathBuf>,
}

/// Settings of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeSettings {
    #[command(flatten)]
    pub common: Settings,

    #[command(flatten)]
    pub auth: AuthSettings,

    /// Address of the HTTP gateway.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen_addr: SocketAddr,

    /// `db` answers every read from Postgres (the benchmark baseline).
    #[arg(long, env = "CACHE_MODE", value_enum, default_value_t = CacheMode::Actors)]
    pub cache_mode: CacheMode,

    #[command(flatten)]
    pub cache: CacheSettings,

    #[command(flatten)]
    pub workers: WorkerSettings,

    #[command(flatten)]
    pub connections: ConnectionLimits,

    /// Run the gateway and the cache only, no diff workers.
    #[arg(long, conflicts_with = "workers_only")]
    pub no_workers: bool,

    /// Run the diff workers only: no gateway, no cache.
    #[arg(long)]
    pub workers_only: bool,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: u64,

    /// How long a wiki session's identity is kept once the wiki confirmed it, in seconds:
    /// only the first request of a session in that time asks the wiki.
    #[arg(long, env = "SESSION_CACHE_SECS", default_value_t = 300)]
    pub session_cache_secs: u64,

    /// How long in-flight requests may take to finish after SIGTERM, in seconds.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    pub shutdown_grace_secs: u64,
}

/// Tuning of the ongoing-events cache.
#[derive(Debug, Clone, Args)]
pub struct CacheSettings {
    /// Seconds between reconciling sweeps (a safety net: exact timers do the real work).
    #[arg(long, env = "CACHE_SWEEP_INTERVAL_SECS", default_value_t = 300)]
    pub cache_sweep_interval_secs: u64,

    /// Hours ahead that events are held and their starts scheduled.
    #[arg(long, env = "CACHE_HORIZON_HOURS", default_value_t = 24)]
    pub cache_horizon_hours: i64,

    /// Threads the user actors are spread over (default: one per core).
    #[arg(long, env = "CACHE_ARBITERS")]
    pub cache_arbiters: Option<usize>,

    /// How long a read waits for a user's actor before asking the database, in milliseconds.
    #[arg(long, env = "CACHE_ASK_TIMEOUT_MS", default_value_t = 250)]
    pub cache_ask_timeout_ms: u64,
}

/// Tuning of the diff workers.
#[derive(Debug, Clone, Args)]
pub struct WorkerSettings {
    /// Diff worker actors; each works on one job at a time, so this bounds the work in flight.
    #[arg(long, env = "DIFF_WORKERS", default_value_t = 16)]
    pub diff_workers: usize,

    /// Seconds a worker may hold a job before JetStream delivers it again.
    #[arg(long, env = "DIFF_ACK_WAIT_SECS", default_value_t = 60)]
    pub diff_ack_wait_secs: u64,

    /// First retry delay after a transient failure, in milliseconds; doubles per delivery.
    #[arg(long, env = "DIFF_RETRY_BASE_MS", default_value_t = 2000)]
    pub diff_retry_base_ms: u64,

    /// Longest retry delay, in milliseconds.
    #[arg(long, env = "DIFF_RETRY_MAX_MS", default_value_t = 60_000)]
    pub diff_retry_max_ms: u64,

    /// Timeout of one Revision API request, in seconds.
    #[arg(long, env = "WIKI_API_TIMEOUT_SECS", default_value_t = 10)]
    pub wiki_api_timeout_secs: u64,

    /// How often stored contributions of recent events are re-checked against their wiki, in
    /// seconds (a bounded run each time, on one instance at a time).
    #[arg(long, env = "RECHECK_INTERVAL_SECS", default_value_t = 3600)]
    pub recheck_interval_secs: u64,
}

impl CacheSettings {
    pub fn to_config(&self) -> campaign_events_actors::CacheConfig {
        let defaults = campaign_events_actors::CacheConfig::default();
        campaign_events_actors::CacheConfig {
            sweep_interval: Duration::from_secs(self.cache_sweep_interval_secs.max(1)),
            horizon: chrono::Duration::hours(self.cache_horizon_hours.clamp(1, 24 * 366)),
            arbiters: self
                .cache_arbiters
                .map_or(defaults.arbiters, |n| n.clamp(1, 64)),
            ask_timeout: Duration::from_millis(self.cache_ask_timeout_ms.max(1)),
            ..defaults
        }
    }
}

/// What one HTTP client may hold of the gateway. Without these, clients that open
/// connections and never finish their headers hold a file descriptor and buffers each until
/// the process runs out of descriptors, and then nothing — not even `/healthz` — is answered.
#[derive(Debug, Clone, Args)]
pub struct ConnectionLimits {
    /// A request's headers must arrive whole within this many seconds of its first byte being
    /// awaited (also the longest a kept-alive connection may wait for its next request).
    #[arg(long, env = "HTTP_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub http_header_read_timeout_secs: u64,

    /// A connection on which no byte moves either way for this many seconds is closed (a
    /// body sent a byte a minute, a response nobody reads).
    #[arg(long, env = "HTTP_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub http_idle_timeout_secs: u64,

    /// Most connections open at once; past it, a new connection is closed at once. Lowered at
    /// start to what the process's open-file limit leaves room for.
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub http_max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            http_header_read_timeout_secs: 10,
            http_idle_timeout_secs: 60,
            http_max_connections: 10_000,
        }
    }
}

impl ServeSettings {
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

fn parse_stream_prefix(s: &str) -> Result<String, String> {
    if s.len() > 32 {
        return Err("at most 32 characters".into());
    }
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(s.to_owned())
    } else {
        Err("letters, digits, '_' and '-' only (it becomes part of stream names)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_prefixes_cannot_break_names_or_subjects() {
        assert!(parse_stream_prefix("").is_ok());
        assert!(parse_stream_prefix("t_1a2b-").is_ok());
        for bad in ["a.b", "a b", "a*", "a>", &"x".repeat(33)] {
            assert!(parse_stream_prefix(bad).is_err(), "{bad}");
        }
    }
}
