use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    campaign_events::startup::telemetry::init();
    let cli = campaign_events::startup::cli::Cli::parse();
    match campaign_events::startup::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
