//! The gateway's connection loop: warp's routes served by hyper, with the limits warp's own
//! loop does not set. Clients that open connections and never finish their headers would
//! otherwise each hold a descriptor and buffers until the process runs out of descriptors,
//! and then nothing — not even `/healthz` — is answered. Here every connection is bounded:
//! its headers must arrive within `HTTP_HEADER_READ_TIMEOUT_SECS` (hyper's timer, which also
//! bounds a kept-alive connection's wait for its next request), it is closed after
//! `HTTP_IDLE_TIMEOUT_SECS` with no byte moving either way, and at most
//! `HTTP_MAX_CONNECTIONS` are open at once (a connection past that is closed at once).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::infra::config::ConnectionLimits;
use crate::infra::metrics::Metrics;

/// Descriptors kept free of connections: the Postgres pool, NATS, the wikis' API clients, files.
const RESERVED_DESCRIPTORS: u64 = 256;

/// The limits in force, after fitting the connection limit to the open-file limit.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    /// Raises the process's soft open-file limit to its hard limit (a service expecting
    /// thousands of connections should not stop at a shell's 1,024), then keeps the connection
    /// limit below what that leaves after [`RESERVED_DESCRIPTORS`].
    pub fn fitted(settings: &ConnectionLimits) -> Self {
        let descriptors = raise_open_file_limit();
        let room = descriptors
            .map(|n| n.saturating_sub(RESERVED_DESCRIPTORS).max(16))
            .and_then(|n| usize::try_from(n).ok());
        let wanted = settings.http_max_connections.max(1);
        let max_connections = match room {
            Some(room) if room < wanted => {
                tracing::warn!(
                    wanted,
                    allowed = room,
                    "HTTP_MAX_CONNECTIONS lowered to fit the open-file limit"
                );
                room
            }
            _ => wanted,
        };
        Self {
            header_read_timeout: Duration::from_secs(settings.http_header_read_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(settings.http_idle_timeout_secs.max(1)),
            max_connections,
        }
    }
}

/// The soft `RLIMIT_NOFILE` after raising it to the hard one; `None` if it cannot be read.
fn raise_open_file_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    (lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
}

/// Serves the gateway's routes on `listener` until `shutdown` resolves; then stops accepting
/// and waits for the open connections to finish their requests (the caller bounds that wait).
pub async fn serve<Svc: super::Service>(
    listener: TcpListener,
    state: Arc<Svc>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let metrics: Arc<Metrics> = state.edge().metrics.clone();
    let routes = super::routes(state);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Closing at once costs nothing; waiting would leave the client in the backlog.
            metrics.http_connections_refused.inc();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(AtomicU64::new(now_millis()));
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: activity.clone(),
        });
        let service = TowerToHyperService::new(warp::service(routes.clone()));
        let connection = graceful.watch(
            builder
                .serve_connection_with_upgrades(io, service)
                .into_owned(),
        );
        let metrics = metrics.clone();
        let idle = limits.idle_timeout;
        metrics.http_connections.inc();
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    // A client that hangs up, times out or sends garbage is the client's
                    // business: worth a debug line, never an error.
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                () = idle_for(&activity, idle) => {
                    tracing::debug!(?idle, "idle connection closed");
                }
            }
            metrics.http_connections.dec();
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// An accept that failed: out of descriptors (`EMFILE`) passes once connections close, so
/// wait a little rather than spin; a connection reset before it was accepted is nothing.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "accept failed; pausing accepts for 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Milliseconds since the first call: a cheap, monotonic activity stamp.
fn now_millis() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    u64::try_from(START.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Resolves once nothing has moved on the connection for `idle`.
async fn idle_for(activity: &AtomicU64, idle: Duration) {
    let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
    loop {
        let last = activity.load(Ordering::Relaxed);
        let quiet = now_millis().saturating_sub(last);
        if quiet >= idle_ms {
            return;
        }
        tokio::time::sleep(Duration::from_millis(idle_ms - quiet)).await;
    }
}

/// A TCP stream that stamps the time of every read and write that moved bytes.
struct Tracked {
    inner: TcpStream,
    activity: Arc<AtomicU64>,
}

impl Tracked {
    fn touch(&self) {
        self.activity.store(now_millis(), Ordering::Relaxed);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        poll
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
