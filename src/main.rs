use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = campaign_events::startup::cli::Cli::parse();
    // The service logs what it does; the one-shot commands print their answer on stdout and
    // log only what went wrong (RUST_LOG still decides when set).
    let default_level = match cli.command {
        campaign_events::startup::cli::Command::Serve(_) => "info",
        _ => "warn",
    };
    campaign_events::startup::telemetry::init_with_default(default_level);
    match campaign_events::startup::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
