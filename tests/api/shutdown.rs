//! Graceful shutdown: SIGTERM stops accepting, lets in-flight requests finish, exits 0.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;

#[tokio::test]
async fn the_in_process_app_stops_on_request_and_frees_its_port() {
    let mut app = spawn_app().await;
    let (s, _) = app.get_json(&app.url("/healthz")).await;
    assert_eq!(s, 200);
    app.stop().await;
    assert!(
        tokio::net::TcpStream::connect(app.addr).await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test]
async fn the_binary_exits_cleanly_on_sigterm() {
    let db = unique_name("ce_test");
    let prefix = unique_name("t");
    let port = free_port();
    let log_path = std::env::temp_dir().join(format!("{db}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_campaign-events"))
        .arg("serve")
        .env("DATABASE_URL", database_url(&db))
        .env("NATS_URL", NATS_URL)
        .env("STREAM_PREFIX", &prefix)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env_remove("WIKIS_FILE")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{port}/readyz");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(&ready).send().await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the service never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The healthcheck subcommand agrees.
    let hc = Command::new(env!("CARGO_BIN_EXE_campaign-events"))
        .args(["healthcheck", "--listen-addr", &format!("127.0.0.1:{port}")])
        .status()
        .unwrap();
    assert!(hc.success());
    // Clients that hang up mid-request or speak no HTTP are their own business: not an ERROR.
    {
        use tokio::io::AsyncWriteExt;
        let mut half = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        half.write_all(b"GET /healthz HTTP/1.1\r\nHo")
            .await
            .unwrap();
        drop(half);
        let mut garbage = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        garbage
            .write_all(b"\x16\x03\x01 not http\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut garbage, &mut buf).await;
    }
    let r = client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the service did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("stopped"), "{log}");
    assert!(
        !log.lines().any(|l| l.contains(" ERROR ")),
        "an ERROR was logged:\n{log}"
    );
    let _ = std::fs::remove_file(log_path);
    cleanup(db, prefix);
}
