//! Startup and shutdown: everything `serve` wires together, in the order it must happen.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::Verifier;
use crate::config::ServeSettings;
use crate::db;
use crate::http;
use crate::nats::{self, Names};
use crate::wikis::Wikis;

/// Whether the cache has finished warming up. `/readyz` reports not ready until it has.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    warm: Arc<AtomicBool>,
}

impl Readiness {
    pub fn is_warm(&self) -> bool {
        self.warm.load(Ordering::Acquire)
    }

    pub fn set_warm(&self) {
        self.warm.store(true, Ordering::Release);
    }
}

/// A built service, listening but not yet serving.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: http::Shared,
    settings: ServeSettings,
}

/// Tells a running [`Application`] to shut down gracefully.
#[derive(Clone)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    pub fn shutdown(&self) {
        let _ = self.0.send(true);
    }
}

impl Application {
    /// Database (created and migrated), NATS (streams and consumers), then the listener. Any
    /// failure here stops the start with a message naming the dependency.
    pub async fn build(settings: ServeSettings) -> anyhow::Result<Self> {
        let wikis = Wikis::load(settings.common.wikis_file.as_deref())?;
        let verifier = Verifier::from_settings(&settings.auth, Some(settings.listen_addr))?;

        let pg_config = db::prepare(&settings.common.database_url).await?;
        db::migrate(&pg_config).await?;
        let pool = db::pool(pg_config, settings.common.database_pool_size)?;

        let client = nats::connect(&settings.common.nats_url).await?;
        let jetstream = nats::jetstream(client.clone());
        let names = Names::new(&settings.common.stream_prefix);
        nats::ensure_streams(&jetstream, &names).await?;

        let readiness = Readiness::default();
        // Nothing to warm yet: the cache arrives with the actor system.
        readiness.set_warm();

        let listener = TcpListener::bind(settings.listen_addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen_addr))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(http::State {
            pool,
            nats: client,
            jetstream,
            names,
            wikis,
            verifier,
            readiness,
            max_body_bytes: settings.max_body_bytes,
            openapi: http::openapi::document(),
        });
        Ok(Self {
            listener,
            addr,
            state,
            settings,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` fires: then stops accepting, lets in-flight requests finish
    /// (up to the grace period), and closes the Postgres pool and the NATS connection.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let Application {
            listener,
            addr,
            state,
            settings,
        } = self;
        tracing::info!(%addr, "listening");
        let (drain_tx, mut drain_rx) = watch::channel(false);
        let server = warp::serve(http::routes(state.clone()))
            .incoming(listener)
            .graceful(async move { fired(&mut drain_rx).await })
            .run();
        let mut server = std::pin::pin!(server);
        tokio::select! {
            _ = &mut server => {}
            _ = fired(&mut shutdown) => {
                tracing::info!("shutting down: draining in-flight requests");
                let _ = drain_tx.send(true);
                if tokio::time::timeout(settings.shutdown_grace(), &mut server).await.is_err() {
                    tracing::warn!("grace period over; closing the remaining connections");
                }
            }
        }
        state.pool.close();
        if let Err(e) = state.nats.drain().await {
            tracing::debug!(error = %e, "NATS drain");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Resolves once the channel says stop (or its sender is gone).
async fn fired(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// A shutdown channel: the handle fires it, `run` watches it.
pub fn shutdown_channel() -> (ShutdownHandle, watch::Receiver<bool>) {
    let (tx, rx) = watch::channel(false);
    (ShutdownHandle(tx), rx)
}

/// Fires `handle` on SIGINT or SIGTERM.
pub fn shutdown_on_signals(handle: ShutdownHandle) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = ctrl_c => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = ctrl_c.await;
                }
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("signal received");
        handle.shutdown();
    });
}
