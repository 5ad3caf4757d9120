//! Schema migrations with refinery: SQL files in `migrations/`, embedded in the binary, applied
//! in order and recorded in refinery's version table.

use anyhow::Context as _;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Any constant works, as long as every instance uses the same one: it serialises migrations
/// when several instances start at once (refinery itself does not lock).
const MIGRATION_LOCK_KEY: i64 = 0x4345_4d49_4752; // "CEMIGR"

/// What a run of the migrations did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Names of the migrations applied by this run, oldest first (`V1__initial_schema`).
    pub applied: Vec<String>,
}

/// Applies the pending migrations, each in its own transaction, under an advisory lock.
pub async fn migrate(config: &tokio_postgres::Config) -> anyhow::Result<MigrationReport> {
    let mut client = crate::infra::db::connect(config)
        .await
        .context("cannot connect to Postgres to migrate")?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await?;
    let result = embedded::migrations::runner()
        .set_abort_divergent(true)
        .run_async(&mut client)
        .await;
    // Unlock even when the run failed; the connection closing would release it too.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
        .await;
    let report = result.context("migration failed")?;
    let applied: Vec<String> = report
        .applied_migrations()
        .iter()
        .map(|m| format!("V{}__{}", m.version(), m.name()))
        .collect();
    if applied.is_empty() {
        tracing::info!("schema is up to date");
    } else {
        tracing::info!(?applied, "applied migrations");
    }
    Ok(MigrationReport { applied })
}
