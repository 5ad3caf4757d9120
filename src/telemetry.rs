//! Logging: `tracing` with the filter from `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls (tests start many apps in one process) are
/// no-ops.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        // Logs go to stderr: stdout belongs to commands whose output is data (`token`).
        .with_writer(std::io::stderr)
        .try_init();
}
