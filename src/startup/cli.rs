//! The command line: `serve`, `migrate`, `token`, `publish-registration`, `report`,
//! `healthcheck`.

use std::time::Duration;

use anyhow::Context as _;
use campaign_events_actors::domain::UserId;
use clap::{Parser, Subcommand};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::gateway::auth;
use crate::infra::config::{AuthSettings, ServeSettings, Settings};
use crate::infra::{db, nats};
use crate::registration::nats as registrations;
use crate::startup::app::{self, Application};

#[derive(Debug, Parser)]
#[command(name = "campaign-events", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: HTTP gateway and the workers behind it.
    // Boxed: the serve settings are several times larger than any other command's arguments.
    Serve(Box<ServeSettings>),
    /// Apply the database migrations and exit.
    Migrate(Settings),
    /// Print a signed JWT for a user (development and load tests).
    Token(TokenArgs),
    /// Publish a registration command on NATS, as a client would.
    PublishRegistration(PublishArgs),
    /// The cache evaluation on live data: size, hit ratio, freshness, cached vs database reads.
    Report(crate::ops::report::ReportArgs),
    /// Exit 0 when the local service answers ready on /readyz (for container health checks).
    Healthcheck {
        /// Address of the service to check.
        #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
        listen_addr: std::net::SocketAddr,
    },
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The central user id (`sub`).
    #[arg(long)]
    pub user_id: u64,
    /// The user name (`name`).
    #[arg(long)]
    pub name: String,
    /// Grant the organizer role.
    #[arg(long)]
    pub organizer: bool,
    /// Grant the admin role.
    #[arg(long)]
    pub admin: bool,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: i64,
    #[command(flatten)]
    pub auth: AuthSettings,
}

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// The event id.
    #[arg(long)]
    pub event: u64,
    /// The central user id.
    #[arg(long)]
    pub user_id: u64,
    /// Publish an unregistration instead.
    #[arg(long)]
    pub unregister: bool,
    /// Register privately.
    #[arg(long)]
    pub private: bool,
    /// NATS server URL, with a user's credentials when the server requires them
    /// (`nats://client:PASSWORD@host:4222`). Its value is kept out of `--help`.
    #[arg(
        long,
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        hide_env_values = true
    )]
    pub nats_url: String,
    /// Prefix of stream names and subjects.
    #[arg(long, env = "STREAM_PREFIX", default_value = "")]
    pub stream_prefix: String,
    /// Wait until a running service has handled the command, and say what became of it
    /// (applied, changed nothing, or rejected with its reason). Without it the command is only
    /// queued: the answer says so.
    #[arg(long)]
    pub wait: bool,
    /// The service's database, read with `--wait` to tell the outcome.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/campaign_events"
    )]
    pub database_url: String,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(settings) => {
            let app = Application::build(*settings).await?;
            let (handle, rx) = app::shutdown_channel();
            app::shutdown_on_signals(handle);
            app.run(rx).await
        }
        Command::Migrate(settings) => {
            let config = db::prepare(&settings.database_url).await?;
            let report = crate::infra::migrate(&config).await?;
            println!("applied {} migration(s)", report.applied.len());
            for m in report.applied {
                println!("  {m}");
            }
            Ok(())
        }
        Command::Token(args) => {
            let user_id =
                UserId::new(args.user_id).map_err(|e| anyhow::anyhow!("--user-id {e}"))?;
            let mut roles = Vec::new();
            if args.organizer {
                roles.push("organizer".to_owned());
            }
            if args.admin {
                roles.push("admin".to_owned());
            }
            let secret = auth::signing_secret(&args.auth)?;
            println!(
                "{}",
                auth::mint(&secret, user_id, &args.name, roles, args.ttl)?
            );
            Ok(())
        }
        Command::PublishRegistration(args) => {
            let cmd = registrations::Command {
                kind: if args.unregister {
                    registrations::Kind::Unregistered
                } else {
                    registrations::Kind::Registered
                },
                event_id: args.event,
                user_id: args.user_id,
                private: args.private,
                at: chrono::Utc::now().timestamp_millis(),
            };
            let js = nats::jetstream(nats::connect(&args.nats_url).await?);
            let names = nats::Names::new(&args.stream_prefix);
            let seq = registrations::publish(&js, &names, &cmd).await?;
            if !args.wait {
                println!(
                    "queued at stream sequence {seq}; a running service applies it (--wait \
                     reports the outcome)"
                );
                return Ok(());
            }
            let outcome = tokio::time::timeout(
                Duration::from_secs(30),
                registrations::outcome(&js, &names, &args.database_url, &cmd, seq),
            )
            .await
            .context(
                "not handled within 30 s: is the service running on this NATS and STREAM_PREFIX?",
            )??;
            println!("{outcome}");
            Ok(())
        }
        Command::Report(args) => crate::ops::report::run(args).await,
        Command::Healthcheck { listen_addr } => healthcheck(listen_addr).await,
    }
}

/// A bare HTTP/1.1 GET of `/readyz`: the container image has no curl, and this is all a
/// health check needs.
async fn healthcheck(addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut head = vec![0u8; 64];
        let n = stream.read(&mut head).await?;
        let line = String::from_utf8_lossy(&head[..n]);
        if line.starts_with("HTTP/1.1 200") {
            Ok(())
        } else {
            anyhow::bail!("not ready: {}", line.lines().next().unwrap_or_default())
        }
    };
    tokio::time::timeout(Duration::from_secs(2), check)
        .await
        .context("no answer within 2 s")?
}
