//! Postgres: creating the database, migrating it, and the connection pool every query uses.

use std::time::Duration;

use anyhow::Context as _;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

/// How long a request waits for a pooled connection before answering 503: longer means
/// requests pile up behind a database that is down.
const POOL_WAIT: Duration = Duration::from_secs(3);

/// Parses `DATABASE_URL` and makes sure the database it names exists, creating it if not.
pub async fn prepare(url: &str) -> anyhow::Result<tokio_postgres::Config> {
    let config: tokio_postgres::Config = url
        .parse()
        .with_context(|| format!("DATABASE_URL is not a valid Postgres URL: {url}"))?;
    let dbname = config
        .get_dbname()
        .context("DATABASE_URL must name a database")?
        .to_owned();
    create_database_if_missing(&config, &dbname).await?;
    Ok(config)
}

/// Connects to the server's `postgres` maintenance database to create `dbname`. Two instances
/// racing to create it is fine: the loser sees "duplicate database" and carries on.
async fn create_database_if_missing(
    config: &tokio_postgres::Config,
    dbname: &str,
) -> anyhow::Result<()> {
    // Try the database itself first: in production it exists and the role may not be allowed
    // to connect to `postgres` at all.
    if connect(config).await.is_ok() {
        return Ok(());
    }
    let mut admin = config.clone();
    admin.dbname("postgres");
    let client = connect(&admin)
        .await
        .context("cannot connect to Postgres (is it running? is DATABASE_URL right?)")?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&dbname])
        .await?
        .is_some();
    if !exists {
        let sql = format!("CREATE DATABASE {}", quote_ident(dbname));
        match client.batch_execute(&sql).await {
            Ok(()) => tracing::info!(database = dbname, "created database"),
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {}
            Err(e) => return Err(e).context(format!("cannot create database {dbname}")),
        }
    }
    Ok(())
}

/// A single connection outside the pool (migrations, admin work), its driver spawned.
pub async fn connect(config: &tokio_postgres::Config) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "postgres connection closed");
        }
    });
    Ok(client)
}

/// The pool. Connections are checked with a cheap query when recycled, so a Postgres restart
/// costs one failed request per stale connection at most, never a restart of the service.
pub fn pool(config: tokio_postgres::Config, max_size: usize) -> anyhow::Result<Pool> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Verified,
        },
    );
    Pool::builder(manager)
        .max_size(max_size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_WAIT))
        .create_timeout(Some(POOL_WAIT))
        .recycle_timeout(Some(POOL_WAIT))
        .build()
        .context("cannot build the Postgres pool")
}

/// Quotes an SQL identifier (database names come from configuration, not from users, but a
/// name with a dash or capital letter must still work).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Records a message taken off a stream as invalid (`ce_rejected_commands`): registration
/// commands, and jobs too malformed to be filed under an edit.
pub async fn record_rejected(
    pool: &Pool,
    subject: &str,
    seq: u64,
    reason: &str,
    payload: &[u8],
) -> Result<(), DbError> {
    // The reason may quote the payload (serde names an unknown field or variant as sent).
    let reason = storable_text(reason, MAX_REJECT_REASON);
    let client = pool.get().await?;
    client
        .execute(
            "INSERT INTO ce_rejected_commands (subject, stream_seq, reason, payload) \
             VALUES ($1, $2, $3, $4)",
            &[&subject, &(seq as i64), &reason, &payload],
        )
        .await?;
    Ok(())
}

/// Longest reason kept for a rejected command, in characters (the payload is kept whole).
const MAX_REJECT_REASON: usize = 1000;

/// Text from outside (a payload quoted by an error, a wiki's error message) as a `text` column
/// takes it: Postgres refuses NUL, which becomes U+FFFD, and at most `max_chars` characters.
/// A record that could never be written would leave its message retried for ever.
pub(crate) fn storable_text(text: &str, max_chars: usize) -> String {
    text.chars()
        .take(max_chars)
        .map(|c| if c == '\0' { '\u{FFFD}' } else { c })
        .collect()
}

/// A failed database call, split by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Postgres is unreachable or the pool is exhausted: answer 503 and let the client retry.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The server refused a statement: a bug or a constraint, not an outage. Shown with the
    /// server's own message and SQLSTATE: `tokio_postgres::Error` alone says only "db error".
    #[error("database error: {}", describe(.0))]
    Query(tokio_postgres::Error),
    /// A stored value no longer passes the domain's validation.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// A row written in this transaction could not be read back.
    #[error("a row written in this transaction could not be read back")]
    Vanished,
}

impl DbError {
    pub fn corrupt(e: impl std::fmt::Display) -> Self {
        DbError::Corrupt(e.to_string())
    }
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        // An error without an SQLSTATE came from the connection, not from the server's
        // judgement of the statement: the database went away.
        // Classes 08 (connection exception) and 57 (operator intervention: shutdown, restart)
        // mean the same.
        let outage = match e.code() {
            None => true,
            Some(code) => code.code().starts_with("08") || code.code().starts_with("57"),
        };
        if outage || e.is_closed() {
            DbError::Unavailable(describe(&e))
        } else {
            DbError::Query(e)
        }
    }
}

/// A Postgres error with its cause: the server's message, SQLSTATE, detail and hint for a
/// refused statement, the source chain (I/O, TLS, parsing) for anything else.
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut out = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
        if let Some(detail) = db.detail() {
            out.push_str(&format!(" (detail: {detail})"));
        }
        if let Some(hint) = db.hint() {
            out.push_str(&format!(" (hint: {hint})"));
        }
        return out;
    }
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        out.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    out
}

impl From<deadpool_postgres::PoolError> for DbError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        DbError::Unavailable(match &e {
            deadpool_postgres::PoolError::Backend(pg) => describe(pg),
            other => other.to_string(),
        })
    }
}
