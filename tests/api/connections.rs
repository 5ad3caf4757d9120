//! Slow clients cost bounded resources: connections that never finish their headers, or
//! stop sending their body, are closed by the server, and past `HTTP_MAX_CONNECTIONS` a new
//! connection is closed at once — while `/healthz` and `/readyz` keep answering.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// Opens a connection and sends the start of a request whose headers never end.
async fn half_open(app: &TestApp) -> TcpStream {
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Slow: ")
        .await
        .unwrap();
    s
}

/// Waits until the server closes `s` (end of stream, or a reset), reading whatever it sends.
async fn closed_by_server(mut s: TcpStream) {
    let mut buf = [0u8; 1024];
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(waited.is_ok(), "the server never closed a slow connection");
}

/// A client that never reuses a connection: these tests make the server close idle ones, and
/// a request sent on a pooled connection just as the server closes it fails (the keep-alive
/// race every HTTP client meets), which would be this test's own doing.
fn unpooled() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn status(app: &TestApp, path: &str) -> u16 {
    unpooled()
        .get(app.url(path))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// One sample of `/metrics`, over a connection of its own.
async fn metric(app: &TestApp, series: &str) -> Option<f64> {
    let text = unpooled()
        .get(app.url("/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    crate::metrics::sample(&text, series)
}

#[tokio::test]
async fn thousands_of_half_open_connections_are_closed_and_the_service_keeps_answering() {
    // Long enough that all of them are open at once even on a busy machine (opening 3,000
    // takes a few seconds at most), short enough to watch them all closed.
    let app = spawn_app_with(|s| s.connections.http_header_read_timeout_secs = 15).await;
    let mut slow = Vec::new();
    for _ in 0..3000 {
        slow.push(half_open(&app).await);
    }
    // All of them are open at once, and the probes are still answered.
    assert_eq!(status(&app, "/healthz").await, 200);
    assert_eq!(status(&app, "/readyz").await, 200);
    eventually(
        "the server holds the slow connections",
        Duration::from_secs(30),
        async || metric(&app, "ce_http_connections").await.unwrap_or(0.0) >= 3000.0,
    )
    .await;
    // The header-read timeout closes every one of them.
    futures::future::join_all(slow.into_iter().map(closed_by_server)).await;
    eventually(
        "the connections are released",
        Duration::from_secs(30),
        async || {
            metric(&app, "ce_http_connections")
                .await
                .unwrap_or(f64::MAX)
                < 10.0
        },
    )
    .await;
    assert_eq!(status(&app, "/healthz").await, 200);
}

#[tokio::test]
async fn a_connection_past_the_limit_is_closed_unanswered() {
    // Timeouts far longer than the setup takes, so that no slot frees before the check.
    let app = spawn_app_with(|s| {
        s.connections.http_max_connections = 20;
        s.connections.http_header_read_timeout_secs = 10;
        s.connections.http_idle_timeout_secs = 10;
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..20 {
        slow.push(half_open(&app).await);
    }
    // A complete request on the 21st connection: closed without an answer.
    let mut extra = TcpStream::connect(app.addr).await.unwrap();
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), extra.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection past the limit was not closed");
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    // Once the slow ones time out, clients are served again.
    futures::future::join_all(slow.into_iter().map(closed_by_server)).await;
    eventually("served again", Duration::from_secs(30), async || {
        status(&app, "/healthz").await == 200
    })
    .await;
    assert!(
        metric(&app, "ce_http_connections_refused_total")
            .await
            .unwrap_or(0.0)
            >= 1.0
    );
}

#[tokio::test]
async fn a_body_that_stops_coming_is_closed_by_the_idle_timeout() {
    let app = spawn_app_with(|s| s.connections.http_idle_timeout_secs = 2).await;
    // Headers complete, body promised and never sent.
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(
        b"POST /rest.php/v1/campaignevents/associate-edit-to-event HTTP/1.1\r\nHost: x\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    closed_by_server(s).await;
    eventually(
        "the connection is released",
        Duration::from_secs(30),
        async || {
            metric(&app, "ce_http_connections")
                .await
                .unwrap_or(f64::MAX)
                < 2.0
        },
    )
    .await;
    assert_eq!(status(&app, "/healthz").await, 200);
}
