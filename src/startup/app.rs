//! Startup and shutdown: everything `serve` wires together, in the order it must happen.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;

use campaign_events_actors::{Cache, SharedClock, SystemClock};

use crate::association::wiki_api::RevisionApi;
use crate::association::workers::{WorkerDeps, WorkerPool};
use crate::cache::changes;
use crate::cache::store::PgStore;
use crate::cache::Readiness;
use crate::gateway;
use crate::gateway::auth::Verifier;
use crate::infra::config::ServeSettings;
use crate::infra::db;
use crate::infra::nats::{self, Names};
use crate::infra::wikis::Wikis;
use crate::registration::nats as registrations;
use crate::startup::state::State;

/// A built service, listening but not yet serving. Which parts run depends on
/// `--no-workers` / `--workers-only`.
pub struct Application {
    gateway: Option<Gateway>,
    workers: Option<Arc<WorkerDeps>>,
    settings: ServeSettings,
    pool: deadpool_postgres::Pool,
    nats: async_nats::Client,
}

/// The HTTP gateway and the cache behind it.
struct Gateway {
    listener: TcpListener,
    addr: SocketAddr,
    state: Arc<State>,
    store: PgStore,
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
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Like [`build`](Self::build) with an injected clock (tests move time by hand).
    pub async fn build_with_clock(
        settings: ServeSettings,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        let wikis = Wikis::load(settings.common.wikis_file.as_deref())?;
        let verifier = Verifier::from_settings(&settings.auth, Some(settings.listen_addr))?;

        let pg_config = db::prepare(&settings.common.database_url).await?;
        crate::infra::migrate(&pg_config).await?;
        let pool = db::pool(pg_config, settings.common.database_pool_size)?;

        let client = nats::connect(&settings.common.nats_url).await?;
        let jetstream = nats::jetstream(client.clone());
        let mut names = Names::new(&settings.common.stream_prefix).with_edits_ack_wait(
            std::time::Duration::from_secs(settings.workers.diff_ack_wait_secs),
        );
        if let Some(replicas) = settings.common.nats_stream_replicas {
            names = names.with_replicas(usize::from(replicas));
        }
        nats::ensure_streams(&jetstream, &names).await?;

        let metrics = Arc::new(crate::infra::metrics::Metrics::new());
        // One Action API client: the workers', the re-check's and the gateway's (an organizer's
        // re-check of one event).
        let revision_api = Arc::new(RevisionApi::new(
            wikis.clone(),
            std::time::Duration::from_secs(settings.workers.wiki_api_timeout_secs.max(1)),
        )?);
        let workers = if settings.no_workers {
            None
        } else {
            let w = &settings.workers;
            Some(Arc::new(WorkerDeps {
                pool: pool.clone(),
                jetstream: jetstream.clone(),
                names: names.clone(),
                api: revision_api.clone(),
                retry_base: std::time::Duration::from_millis(w.diff_retry_base_ms.max(1)),
                retry_max: std::time::Duration::from_millis(w.diff_retry_max_ms.max(1)),
                events: Default::default(),
                metrics: metrics.clone(),
            }))
        };
        let gateway = if settings.workers_only {
            None
        } else {
            let store = PgStore::new(pool.clone());
            let cache = Arc::new(
                Cache::start(
                    settings.cache.to_config(),
                    Arc::new(store.clone()),
                    clock.clone(),
                )
                .context("cannot start the actor system")?,
            );
            let listener = TcpListener::bind(settings.listen_addr)
                .await
                .with_context(|| format!("cannot listen on {}", settings.listen_addr))?;
            let addr = listener.local_addr()?;
            let openapi = gateway::openapi::document(super::routes::ROUTES);
            let changes = changes::Publisher::new(
                client.clone(),
                jetstream.clone(),
                names.clone(),
                cache.clone(),
            );
            let readiness = Readiness::default();
            let cache_part = Arc::new(crate::cache::Context {
                actors: cache.clone(),
                cache_mode: settings.cache_mode,
                readiness: readiness.clone(),
                clock: clock.clone(),
                pool: pool.clone(),
                rendered: Default::default(),
            });
            let state = Arc::new(State {
                edge: gateway::Edge {
                    wikis: wikis.clone(),
                    verifier,
                    sessions: gateway::sessions::WikiSessions::new(std::time::Duration::from_secs(
                        settings.session_cache_secs.max(1),
                    ))
                    .context("cannot build the wiki session client")?,
                    max_body_bytes: settings.max_body_bytes,
                    metrics: metrics.clone(),
                },
                events: Arc::new(crate::events::Context {
                    pool: pool.clone(),
                    wikis: wikis.clone(),
                    changes: changes.clone(),
                }),
                registration: Arc::new(crate::registration::Context {
                    pool: pool.clone(),
                    clock: clock.clone(),
                    jetstream: jetstream.clone(),
                    names: names.clone(),
                    changes,
                }),
                association: Arc::new(crate::association::Context {
                    pool: pool.clone(),
                    nats: client.clone(),
                    jetstream: jetstream.clone(),
                    names: names.clone(),
                    wikis,
                    metrics: metrics.clone(),
                    cache: cache_part.clone(),
                    associated: crate::association::bloom::AssociatedEdits::with_capacity(0),
                    summaries: Default::default(),
                    revision_api: revision_api.clone(),
                }),
                cache: cache_part,
                reports: Arc::new(crate::reports::Context {
                    pool: pool.clone(),
                    clock: clock.clone(),
                }),
                ops: Arc::new(crate::ops::Context {
                    pool: pool.clone(),
                    nats: client.clone(),
                    jetstream: jetstream.clone(),
                    names: names.clone(),
                    cache,
                    clock,
                    readiness,
                    metrics: metrics.clone(),
                    backlog: Default::default(),
                    openapi,
                }),
            });
            Some(Gateway {
                listener,
                addr,
                state,
                store,
            })
        };
        Ok(Self {
            gateway,
            workers,
            settings,
            pool,
            nats: client,
        })
    }

    /// The gateway's shared state (tests reach the cache through it); `None` with
    /// `--workers-only`.
    pub fn state(&self) -> Option<Arc<State>> {
        self.gateway.as_ref().map(|g| g.state.clone())
    }

    /// The bound address (useful with port 0); `None` with `--workers-only`.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.gateway.as_ref().map(|g| g.addr)
    }

    /// Serves until `shutdown` fires: then stops accepting, lets in-flight requests finish
    /// (up to the grace period), and closes the Postgres pool and the NATS connection.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let Application {
            gateway,
            workers,
            settings,
            pool,
            nats,
        } = self;
        // Rows follow their edits: the periodic re-check runs beside the workers (it asks the
        // wikis, as they do); a run's changes reach every gateway's summaries as notices.
        let recheck = workers.as_ref().map(|deps| {
            tokio::spawn(crate::association::recheck::periodic(
                deps.clone(),
                std::time::Duration::from_secs(settings.workers.recheck_interval_secs.max(1)),
            ))
        });
        let workers = match workers {
            Some(deps) => Some(
                WorkerPool::start(
                    settings.workers.diff_workers,
                    // Workers wait on the network far more than they compute; one arbiter
                    // thread per core is plenty, and the diffs run on the blocking pool.
                    std::thread::available_parallelism().map_or(2, |n| n.get()),
                    deps,
                )
                .context("cannot start the diff workers")?,
            ),
            None => None,
        };
        match gateway {
            Some(g) => serve(g, &settings, &mut shutdown).await,
            None => {
                tracing::info!("running the diff workers only");
                fired(&mut shutdown).await;
            }
        }
        // Each step is bounded by the grace: with a dependency gone (NATS away, so a drain
        // cannot finish) the process must still exit when told to.
        let grace = settings.shutdown_grace();
        if let Some(task) = recheck {
            task.abort();
        }
        if let Some(w) = workers {
            // Joining threads blocks; a job in flight is left unacked and will be redelivered.
            let stopping = tokio::task::spawn_blocking(move || w.stop());
            if tokio::time::timeout(grace, stopping).await.is_err() {
                tracing::warn!("diff workers did not stop within the grace; exiting anyway");
            }
        }
        pool.close();
        match tokio::time::timeout(grace, nats.drain()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "NATS drain"),
            Err(_) => tracing::warn!("NATS drain did not finish within the grace; exiting anyway"),
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Serves the gateway until `shutdown` fires: then stops accepting and lets in-flight requests
/// finish, up to the grace period.
async fn serve(g: Gateway, settings: &ServeSettings, shutdown: &mut watch::Receiver<bool>) {
    let Gateway {
        listener,
        addr,
        state,
        store,
    } = g;
    tracing::info!(%addr, "listening");
    let background = vec![
        tokio::spawn(warm_up_and_follow(state.clone(), store)),
        tokio::spawn(registrations::consume(state.registration.clone())),
    ];
    let (drain_tx, mut drain_rx) = watch::channel(false);
    let limits = gateway::server::Limits::fitted(&settings.connections);
    tracing::info!(
        header_read_timeout = ?limits.header_read_timeout,
        idle_timeout = ?limits.idle_timeout,
        max_connections = limits.max_connections,
        "connection limits"
    );
    let server = gateway::server::serve(listener, state.clone(), limits, async move {
        fired(&mut drain_rx).await
    });
    let mut server = std::pin::pin!(server);
    tokio::select! {
        _ = &mut server => {}
        _ = fired(shutdown) => {
            tracing::info!("shutting down: draining in-flight requests");
            let _ = drain_tx.send(true);
            if tokio::time::timeout(settings.shutdown_grace(), &mut server).await.is_err() {
                tracing::warn!("grace period over; closing the remaining connections");
            }
        }
    }
    for task in background {
        task.abort();
    }
}

/// Warms the cache up and follows the change stream (`cache::warm_up`); once warm, loads the
/// keys of the associated edits into the Bloom filter. Runs until aborted.
async fn warm_up_and_follow(state: Arc<State>, store: PgStore) {
    let association = state.association.clone();
    let follower = crate::cache::warm_up::warm_up(
        crate::cache::warm_up::Follower {
            jetstream: association.jetstream.clone(),
            names: association.names.clone(),
            cache: state.cache.actors.clone(),
            readiness: state.cache.readiness.clone(),
            on_contribution: Arc::new(move |event, wiki: &str, revision| {
                association.summaries.invalidate(event);
                association.associated.insert(wiki, revision);
            }),
        },
        store,
    )
    .await;
    let association = &state.association;
    match crate::association::db::load_keys(&association.pool, &association.associated).await {
        Ok(n) => {
            association.associated.set_loaded();
            tracing::info!(edits = n, "associated edits loaded");
        }
        Err(e) => {
            tracing::warn!(error = %e, "associated edits not loaded; every association checks Postgres")
        }
    }
    let _ = follower.await;
}

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
